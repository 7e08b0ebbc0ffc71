"""deploy.kubernetes: the manifests for N nodes, checked against Kubernetes' own schemas offline
(kubernetes-validate, strict), against what the schemas cannot see (names, references between
objects, the lock-down), and against docker-compose.yml's set of node variables; the 3-node files
checked in under deploy/kubernetes/ are the generator's output."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from deploy import kubernetes
from deploy.kubernetes import ManifestError, Options, render
from deploy.stackgen import cluster_environments
from node.config import DEFAULTS, load_config

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = Options(nodes=3, run_id="k8s-3", seed=42)  # deploy/kubernetes/'s files
FOLDER = ROOT / "deploy" / "kubernetes"
# The oldest and newest Kubernetes whose schemas kubernetes-validate 1.37.0 ships: every object
# used here is stable across them.
VERSIONS = ("1.25", "1.37")
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # Service names (RFC 1035 labels)
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def objects(files: dict[str, str]) -> list[dict[str, Any]]:
    return [doc for text in files.values() for doc in yaml.safe_load_all(text)]


def options(nodes: int, *settings: tuple[str, str]) -> Options:
    return Options(nodes=nodes, run_id=f"k8s-{nodes}", seed=7, settings=settings)


def pods(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec: the Jobs' templates and the bare Pods, by object name."""
    for doc in docs:
        if doc["kind"] == "Job":
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield doc["metadata"]["name"], doc["spec"]


def node_environment(docs: list[dict[str, Any]], node: str) -> dict[str, str]:
    """What node's container gets: the ConfigMaps it names, then its own env."""
    maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    container = dict(pods(docs))[node]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return env


def test_checked_in_manifests_are_the_generators_output() -> None:
    files = render(CHECKED_IN)
    assert sorted(p.name for p in FOLDER.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (FOLDER / name).read_text() == text, f"{name}: `{CHECKED_IN.command()} --out deploy/kubernetes`"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("nodes", [3, 5, 20])
def test_manifests_pass_the_kubernetes_schemas_strictly(nodes: int, version: str) -> None:
    docs = objects(render(options(nodes, ("MAX_EVENT_NUM", str(max(10, nodes))))))
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Job") == nodes + 1
    assert kinds.count("Service") == nodes
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def _job(docs: list[dict[str, Any]], name: str = "node1") -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == name)


def test_the_schemas_reject_a_broken_manifest() -> None:
    """The validation can fail: a misspelt field (strict), a wrong type, a missing required field."""
    docs = objects(render(CHECKED_IN))
    container = _job(docs)["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = True  # the real one is ...Filesystem
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(_job(docs), VERSIONS[-1], strict=True)
    kubernetes_validate.validate(_job(docs), VERSIONS[-1], strict=False)  # why the tests are strict

    docs = objects(render(CHECKED_IN))
    _job(docs)["spec"]["backoffLimit"] = "0"
    with pytest.raises(kubernetes_validate.ValidationError, match="not of type 'integer'"):
        kubernetes_validate.validate(_job(docs), VERSIONS[-1], strict=False)

    docs = objects(render(CHECKED_IN))
    del _job(docs)["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(kubernetes_validate.ValidationError, match="'name' is a required property"):
        kubernetes_validate.validate(_job(docs), VERSIONS[-1], strict=True)


def test_the_command_line_validator_passes_the_files_and_fails_a_broken_one(tmp_path: Path) -> None:
    files = sorted(str(p) for p in FOLDER.iterdir())
    validator = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", VERSIONS[-1]]
    result = subprocess.run([*validator, *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text((FOLDER / "lamport-3.yaml").read_text().replace("backoffLimit: 0", "backofLimit: 0", 1))
    result = subprocess.run([*validator, str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "'backofLimit' was unexpected" in result.stdout + result.stderr


def test_validation_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schemas ship inside the package: any attempt to open a connection would fail here."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use: {args}")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refused)
    monkeypatch.setattr(socket, "getaddrinfo", refused)
    for doc in objects(render(options(5))):
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)


def test_references_names_and_labels_are_what_the_api_server_would_accept() -> None:
    """What the schemas cannot see: names, label values, and objects naming each other."""
    docs = objects(render(options(5)))
    named = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert len(named) == len(docs)
    for doc in docs:
        assert DNS_LABEL.fullmatch(doc["metadata"]["name"])
        assert all(LABEL_VALUE.fullmatch(v) and len(v) <= 63 for v in doc["metadata"]["labels"].values())
    jobs = [d for d in docs if d["kind"] == "Job"]
    for service in (d for d in docs if d["kind"] == "Service"):
        selector = service["spec"]["selector"].items()
        chosen = [
            j["metadata"]["name"] for j in jobs if selector <= j["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert chosen == [service["metadata"]["name"]]  # the Service named nodeK reaches nodeK's pod only
        assert service["spec"]["clusterIP"] == "None"  # the pod's own address: the hello source check
    for name, spec in pods(docs):
        volumes = {v["name"]: v for v in spec["volumes"]}
        container = spec["containers"][0]
        assert {m["name"] for m in container["volumeMounts"]} == set(volumes)
        assert ("PersistentVolumeClaim", volumes["logs"]["persistentVolumeClaim"]["claimName"]) in named
        for source in container.get("envFrom", []):
            assert ("ConfigMap", source["configMapRef"]["name"]) in named
        names = [e["name"] for e in container.get("env", [])]
        assert len(names) == len(set(names)), name


def test_every_pod_is_locked_down_and_runs_once() -> None:
    docs = objects(render(options(3)))
    for name, spec in pods(docs):
        assert spec["restartPolicy"] == "Never", name
        assert spec["automountServiceAccountToken"] is False
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] != 0
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        container = spec["containers"][0]
        assert container["securityContext"] == {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},  # nothing added: it never starts as root
        }
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert tmp["emptyDir"]["medium"] == "Memory"
        assert {"/tmp", "/logs"} <= {m["mountPath"] for m in container["volumeMounts"]}
        assert set(container["resources"]) == {"requests", "limits"}
    assert all(d["spec"]["backoffLimit"] == 0 for d in docs if d["kind"] == "Job")
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies["lamport-analysis"]) == {"podSelector", "policyTypes"}  # no traffic either way


def test_a_node_gets_the_variables_compose_gives_it() -> None:
    """The same set of names as docker-compose.yml's node1 (less COMPOSE_PROJECT_NAME: the run is
    named by RUN_ID here), the same values as the cluster's one definition, each loadable."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    wanted = set(compose["services"]["node1"]["environment"]) - {"COMPOSE_PROJECT_NAME"}
    pinned = options(4, ("NODE1_CLOCK_RATE", "3"), ("NODE2_NET_DELAY_MS", "20"), ("DURATION", "30"))
    docs = objects(render(pinned))
    shared = kubernetes.shared_variables(pinned)
    for node, expected in cluster_environments(4, shared).items():
        env = node_environment(docs, node)
        assert env == expected
        # CLOCK_RATE is absent rather than empty when not pinned: the node reads both as unset.
        assert set(env) | {"CLOCK_RATE"} == wanted
        load_config(env)
    assert node_environment(docs, "node1")["CLOCK_RATE"] == "3"
    assert node_environment(docs, "node2")["NET_DELAY_MS"] == "20"
    assert node_environment(docs, "node3")["NET_DELAY_MS"] == DEFAULTS["NET_DELAY_MS"]
    assert node_environment(docs, "node3")["DURATION"] == "30"
    assert node_environment(docs, "node3")["PEERS"] == "node1:5000,node2:5000,node4:5000"


def test_the_yaml_reads_back_as_the_objects() -> None:
    """The emitter quotes what YAML would otherwise read as another type or another structure."""
    tricky = {"a": ["yes", "no", "on", "null", "5000", "1e3", "", "a: b", "#c", "- d", "x'y", 'q"', "tail "]}
    assert yaml.safe_load("\n".join(kubernetes._yaml(tricky))) == tricky
    opts = options(3, ("CLOCK_BUG", "none"), ("DELIVERY", "at-most-once"))
    docs = objects(render(opts))
    assert docs == [*kubernetes.logs_objects(opts), *kubernetes.run_objects(opts), *kubernetes.analysis_objects(opts)]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["20"], "MAX_EVENT_NUM='10': must be an integer from 20"),
        (["3", "--set", "MAX_EVENT_NUM=2"], "MAX_EVENT_NUM='2'"),
        (["3", "--set", "NODE4_CLOCK_RATE=2"], "--set NODE4_CLOCK_RATE: not a node variable"),
        (["3", "--set", "DURATION"], "expected NAME=VALUE"),
        (["3", "--run-id", "latest"], "RUN_ID='latest': is reserved"),
        (["3", "--seed", "-1"], "SEED='-1'"),
        (["1"], "1 nodes: choose 2 to 64"),
        (["3", "--user", "0:0"], "--user '0:0'"),
        (["3", "--log-size", "lots"], "--log-size 'lots'"),
    ],
)
def test_bad_options_fail_with_one_line(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kubernetes.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploy.kubernetes: ")
    assert fragment in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_the_command_line_writes_the_three_files(tmp_path: Path) -> None:
    assert kubernetes.main(["3", "--run-id", "k8s-3", "--seed", "42", "--out", str(tmp_path)]) == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == render(CHECKED_IN)


def test_without_run_id_and_seed_the_manifest_still_fixes_both(tmp_path: Path) -> None:
    """No init service: the generator names the run and draws the seed, so every node agrees."""
    assert kubernetes.main(["3", "--out", str(tmp_path)]) == 0
    docs = objects({p.name: p.read_text() for p in tmp_path.iterdir()})
    data = next(d["data"] for d in docs if d["kind"] == "ConfigMap")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", data["RUN_ID"])
    assert data["SEED"].isdigit()
    assert next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "analysis")["spec"]["template"][
        "spec"
    ]["containers"][0]["args"] == [data["RUN_ID"]]


def test_options_that_change_the_output_are_in_the_header() -> None:
    opts = Options(
        nodes=3,
        run_id="r",
        seed=1,
        settings=(("DURATION", "5"),),
        registry="registry.example:5000",
        user="1000:1000",
        storage_class="nfs",
        access_mode="ReadWriteMany",
        log_size="2Gi",
    )
    command = opts.command()
    assert command == (
        "python -m deploy.kubernetes 3 --run-id r --seed 1 --set DURATION=5 --registry registry.example:5000 "
        "--user 1000:1000 --storage-class nfs --access-mode ReadWriteMany --log-size 2Gi"
    )
    files = render(opts)
    assert all(text.startswith(f"# Generated by `{command}`") for text in files.values())
    docs = objects(files)
    assert {c["image"] for _, spec in pods(docs) for c in spec["containers"]} == {
        "registry.example:5000/lamport-node:latest",
        "registry.example:5000/lamport-analysis:latest",
    }
    claim = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")["spec"]
    assert claim == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "2Gi"}},
        "storageClassName": "nfs",
    }
    with pytest.raises(ManifestError, match="--access-mode"):
        render(Options(nodes=3, run_id="r", seed=1, access_mode="ReadWriteSometimes"))

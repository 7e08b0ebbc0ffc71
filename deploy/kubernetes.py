"""Kubernetes manifests for an N-node run, generated from the cluster's one definition (deploy.stackgen).

    python -m deploy.kubernetes 5 --run-id k8s-1 --seed 42 --out k8s/
    kubectl apply -f k8s/lamport-logs.yaml       # once: the log volume, and a pod to copy logs from
    kubectl apply -f k8s/lamport-5.yaml          # the run: node1..node5
    kubectl wait --for=condition=complete job -l app.kubernetes.io/component=node --timeout=...
    kubectl apply -f k8s/lamport-5-analysis.yaml # the analysis of the run, into its folder

Three files (`render` returns them by name; deploy/kubernetes/ holds the 3-node ones):
- lamport-logs.yaml: the PersistentVolumeClaim `lamport-logs` mounted at /logs by every pod, and
  a pod that only sleeps, to `kubectl cp` a run folder out. Apart from the run, so that deleting
  a run does not delete its logs.
- lamport-<N>.yaml: the ConfigMap `lamport-run` (the variables every node shares: node.config's
  defaults as the swarm stack sets them, `--set` overrides, RUN_ID and SEED), then per node a
  headless Service and a Job, and a NetworkPolicy letting the nodes reach only each other.
- lamport-<N>-analysis.yaml: the analysis as a Job, applied once the nodes have finished
  (Kubernetes has no depends_on), with no network at all.

Why so:
- One Job per node (backoffLimit 0, restartPolicy Never): the run is finite and a node that
  finished or failed is not started again. A StatefulSet restarts its pods, and names them
  node-0.. where the node ids, log files and PEERS say node1..nodeN.
- One headless Service per node, named after its id, is how PEERS ("node2:5000") reaches it:
  the name resolves to the pod's own address, which a node checks an incoming hello's source
  address against (node.network; the swarm stack's endpoint_mode dnsrr does the same), and it
  resolves as soon as the pod has an address (publishNotReadyAddresses: no readiness probe).
- No init service: RUN_ID and SEED are in the manifest (default: the generation time, as init
  names a run, and a drawn seed), and each node creates /logs/RUN_ID itself.
- Lock-down as in docker-compose.yml, tighter: the image starts as root only to take the log
  folder owner's identity (node.identity); here the pod runs as --user from the start and fsGroup
  makes the volume writable, so no capability at all is kept (not even SETUID/SETGID), with a
  read-only root, no privilege escalation, the runtime's seccomp profile and /tmp in memory.
- Every node's variables are checked with the node's own load_config before anything is written:
  a bad value fails here with the node's message, not in a pod.

Standard library only, with node.config and deploy.stackgen (themselves standard library only).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import secrets
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.stackgen import IMAGE_NAME, PORT, STACK_DEFAULTS, cluster_environments, node_ids
from node.config import DEFAULTS, MAX_SEED, PER_NODE, ConfigError, load_config
from node.runfolder import run_id_for

ANALYSIS_IMAGE_NAME = "lamport-analysis:latest"  # docker-compose.yml's analysis image
CONFIG_MAP = "lamport-run"
CLAIM = "lamport-logs"
LOG_DIR = "/logs"  # the images' LOG_DIR
NOBODY = "65534:65534"  # who node.identity drops to when the log folder belongs to root
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod")
NAME = {"app.kubernetes.io/name": "lamport"}
NODE_LABEL = "lamport/node"  # selects one node's pod for its Service
# BENCHMARKS.md: a node peaks at 22.6 MiB at 1,000 ticks/s (26 MiB resuming a 1,000,000-line log)
# and takes 6 % of a core at 1,000/s, 44 % at 10,000/s: one core as the limit keeps the rates
# measured there reachable (a lower CPU limit throttles, which shows as lateness). The memory
# limit includes the in-memory /tmp.
NODE_RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}
# The analysis of 1,000,000 lines peaks at 443 MB (BENCHMARKS.md).
ANALYSIS_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
READER_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}
# Pod start-up (scheduling, image pull) and the analysis, on top of the run's own time, for the
# `kubectl wait` the header suggests.
WAIT_MARGIN_S = 60
_QUANTITY = re.compile(r"[1-9][0-9]*(Ki|Mi|Gi|Ti)")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class Options:
    """Everything a set of manifests depends on; `command` is the command line that makes them."""

    nodes: int
    run_id: str
    seed: int
    settings: tuple[tuple[str, str], ...] = ()  # --set NAME=VALUE, as given
    registry: str = ""  # prefix of both image names; empty: the local names (kind load, minikube image load)
    user: str = NOBODY  # UID:GID every pod runs as (and the volume's group)
    storage_class: str = ""  # empty: the cluster's default
    access_mode: str = "ReadWriteOnce"
    log_size: str = "1Gi"

    def command(self) -> str:
        parts = [f"python -m deploy.kubernetes {self.nodes} --run-id {self.run_id} --seed {self.seed}"]
        parts += [f"--set {shlex.quote(f'{name}={value}')}" for name, value in self.settings]
        defaults = Options(self.nodes, self.run_id, self.seed)
        for option in ("registry", "user", "storage_class", "access_mode", "log_size"):
            value = getattr(self, option)
            if value != getattr(defaults, option):
                parts.append(f"--{option.replace('_', '-')} {value}")
        return " ".join(parts)


class ManifestError(ValueError):
    """The options cannot make a working run (one line, the user's to fix)."""


# -- the run's variables ---------------------------------------------------------------------------
def shared_variables(options: Options) -> dict[str, str]:
    """The variables every node gets (the ConfigMap), NODE<k>_... overrides included."""
    allowed = set(DEFAULTS) | {f"{node.upper()}_{name}" for node in node_ids(options.nodes) for name in PER_NODE}
    shared = dict(STACK_DEFAULTS)
    for name, value in options.settings:
        if name not in allowed:
            raise ManifestError(
                f"--set {name}: not a node variable (one of {', '.join(DEFAULTS)}, or NODE<k>_<NAME> "
                f"for NAME in {', '.join(PER_NODE)}, k from 1 to {options.nodes})"
            )
        shared[name] = value
    return {**shared, "RUN_ID": options.run_id, "SEED": str(options.seed)}


def node_variables(options: Options) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The ConfigMap's data and each node's own variables on top of it, every node's whole
    environment checked with the node's own load_config (ManifestError with its message)."""
    shared = shared_variables(options)
    common = {k: v for k, v in shared.items() if not re.fullmatch(r"NODE[0-9]+_.*", k)}
    own: dict[str, dict[str, str]] = {}
    for node, env in cluster_environments(options.nodes, shared).items():
        try:
            load_config({**env, "LOG_DIR": LOG_DIR})
        except ConfigError as error:
            raise ManifestError(f"{node}: {error}") from None
        own[node] = {k: v for k, v in env.items() if common.get(k) != v}
    return common, own


# -- the objects ---------------------------------------------------------------------------------------
def _labels(component: str, **more: str) -> dict[str, str]:
    return {**NAME, "app.kubernetes.io/component": component, **more}


def _image(options: Options, name: str) -> str:
    return f"{options.registry.rstrip('/')}/{name}" if options.registry else name


def _container(name: str, image: str, resources: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        # Not Always (what :latest implies): the images may exist only on the cluster's nodes.
        "imagePullPolicy": "IfNotPresent",
        **more,
        "resources": resources,
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _pod(
    options: Options, labels: Mapping[str, str], container: dict[str, Any], *, tmp: str, read_only: bool
) -> dict[str, Any]:
    uid, gid = (int(x) for x in options.user.split(":"))
    container["volumeMounts"] = [
        {"name": "logs", "mountPath": LOG_DIR, **({"readOnly": True} if read_only else {})},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    return {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,  # compose's stop_grace_period
            "automountServiceAccountToken": False,  # nothing here talks to the API
            # No NODE1_SERVICE_HOST and the like in the environment: the nodes find each other by name.
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": uid,
                "runAsGroup": gid,
                "fsGroup": gid,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [
                {
                    "name": "logs",
                    "persistentVolumeClaim": {"claimName": CLAIM, **({"readOnly": True} if read_only else {})},
                },
                {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": tmp}},
            ],
        },
    }


def _job(name: str, labels: Mapping[str, str], pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"backoffLimit": 0, "template": pod},
    }


def _env(variables: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in variables.items()]


def _no_traffic(name: str, component: str) -> dict[str, Any]:
    """A NetworkPolicy that lets the component's pods neither send nor receive (compose's network_mode: none)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": _labels(component)},
        "spec": {"podSelector": {"matchLabels": _labels(component)}, "policyTypes": ["Ingress", "Egress"]},
    }


def run_objects(options: Options) -> list[dict[str, Any]]:
    """lamport-<N>.yaml: the ConfigMap, a headless Service and a Job per node, the NetworkPolicy."""
    common, own = node_variables(options)
    nodes = _labels("node")
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIG_MAP, "labels": nodes},
            "data": common,
        }
    ]
    for node, env in own.items():
        labels = _labels("node", **{NODE_LABEL: node})
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": node, "labels": labels},
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": {NODE_LABEL: node},
                    "ports": [{"name": "wire", "port": int(PORT), "protocol": "TCP"}],
                },
            }
        )
        container = _container(
            "node",
            _image(options, IMAGE_NAME),
            NODE_RESOURCES,
            envFrom=[{"configMapRef": {"name": CONFIG_MAP}}],
            env=_env(env),
            ports=[{"name": "wire", "containerPort": int(PORT), "protocol": "TCP"}],
        )
        out.append(_job(node, labels, _pod(options, labels, container, tmp="16Mi", read_only=False)))
    peer = {"podSelector": {"matchLabels": nodes}}
    wire = [{"protocol": "TCP", "port": int(PORT)}]
    # Name lookups go to the cluster's DNS, wherever it runs (a node-local cache has no pod labels).
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    out.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "lamport-nodes", "labels": nodes},
            "spec": {
                "podSelector": {"matchLabels": nodes},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [peer], "ports": wire}],
                "egress": [{"to": [peer], "ports": wire}, {"ports": dns}],
            },
        }
    )
    return out


def analysis_objects(options: Options) -> list[dict[str, Any]]:
    """lamport-<N>-analysis.yaml: `python -m analysis RUN_ID` as a Job, without network."""
    labels = _labels("analysis")
    container = _container("analysis", _image(options, ANALYSIS_IMAGE_NAME), ANALYSIS_RESOURCES, args=[options.run_id])
    # /tmp holds matplotlib's cache (MPLCONFIGDIR in the image).
    return [
        _job("analysis", labels, _pod(options, labels, container, tmp="64Mi", read_only=False)),
        _no_traffic("lamport-analysis", "analysis"),
    ]


def logs_objects(options: Options) -> list[dict[str, Any]]:
    """lamport-logs.yaml: the claim every pod mounts, and a pod to copy run folders out of it."""
    labels = _labels("logs")
    claim: dict[str, Any] = {
        "accessModes": [options.access_mode],
        "resources": {"requests": {"storage": options.log_size}},
    }
    if options.storage_class:
        claim["storageClassName"] = options.storage_class
    reader = _container("logs", _image(options, IMAGE_NAME), READER_RESOURCES, command=["sleep", "infinity"])
    pod = _pod(options, labels, reader, tmp="1Mi", read_only=True)
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIM, "labels": labels},
            "spec": claim,
        },
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLAIM, "labels": labels}, "spec": pod["spec"]},
        _no_traffic("lamport-logs", "logs"),
    ]


# -- YAML ------------------------------------------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}  # read as booleans/null unquoted


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
            return value
        return json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    raise TypeError(f"no YAML for {value!r}")


def _yaml(value: object, indent: int = 0) -> list[str]:
    """Block-style YAML of a document made of dicts, lists and scalars (what the objects above use)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_scalar(key)}:")
                lines += _yaml(item, indent + 2)
            elif isinstance(item, dict | list):
                lines.append(f"{pad}{_scalar(key)}: {'{}' if isinstance(item, dict) else '[]'}")
            else:
                lines.append(f"{pad}{_scalar(key)}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                inner = _yaml(item, indent + 2)
                lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
            elif isinstance(item, dict | list):
                raise TypeError(f"no YAML for the empty or nested item {item!r}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        raise TypeError(f"no YAML for a top-level {value!r}")
    return lines


def _document_stream(header: str, objects: Sequence[dict[str, Any]]) -> str:
    docs = ["\n".join(_yaml(obj)) + "\n" for obj in objects]
    return header + "---\n".join(docs)


# -- the files -----------------------------------------------------------------------------------------
def _wait_seconds(common: Mapping[str, str]) -> int | None:
    """How long `kubectl wait` should allow for the nodes (None: DURATION=0 runs until stopped)."""
    duration = float(common["DURATION"])
    if duration <= 0:
        return None
    return math.ceil(float(common["START_TIMEOUT"]) + duration + float(common["DRAIN_TIMEOUT"])) + WAIT_MARGIN_S


def file_names(nodes: int) -> tuple[str, str, str]:
    """The logs, run and analysis files, in the order they are applied."""
    return "lamport-logs.yaml", f"lamport-{nodes}.yaml", f"lamport-{nodes}-analysis.yaml"


def render(options: Options) -> dict[str, str]:
    """The three files by name (ManifestError: options that cannot make a working run)."""
    check_options(options)
    logs_file, run_file, analysis_file = file_names(options.nodes)
    common, _ = node_variables(options)
    wait = _wait_seconds(common)
    waiting = (
        f"kubectl wait --for=condition=complete job -l app.kubernetes.io/component=node --timeout={wait}s"
        if wait is not None
        else "(DURATION=0: the nodes run until stopped: kubectl delete job -l app.kubernetes.io/component=node)"
    )
    generated = f"# Generated by `{options.command()}` (deploy/kubernetes.py): regenerate rather than edit.\n"
    steps = (
        f"#   kubectl apply -f {logs_file}        # once: the log volume\n"
        f"#   kubectl apply -f {run_file}\n"
        f"#   {waiting}\n"
        f"#   kubectl apply -f {analysis_file}\n"
        f"#   kubectl cp {CLAIM}:{LOG_DIR}/{options.run_id} logs/{options.run_id}   # the run folder, analysed\n"
    )
    run_header = (
        generated
        + f"# The run {options.run_id} of node1..node{options.nodes}, seed {options.seed}: the ConfigMap {CONFIG_MAP}\n"
        "# (the variables every node shares), per node a headless Service and a Job, a NetworkPolicy. Steps:\n"
        + steps
        + f"# A Job runs once: for another run, `kubectl delete -f {run_file}` and generate it with a new --run-id\n"
        "# (the same RUN_ID would make the nodes resume their logs, as after a restart).\n"
    )
    analysis_header = (
        generated
        + f"# The analysis of run {options.run_id}, once every node's Job has finished (whatever its result):\n"
        f"# summary.json, summary.md, plots and explorer.html in {LOG_DIR}/{options.run_id}; the headline table in\n"
        "# `kubectl logs job/analysis`. Steps:\n" + steps
    )
    logs_header = (
        generated
        + f"# The claim {CLAIM} that every pod mounts at {LOG_DIR} (run folders {LOG_DIR}/RUN_ID), and the pod\n"
        f"# {CLAIM} that only sleeps, to copy them out with kubectl cp. Apart from the runs: deleting a run keeps\n"
        f"# its logs. {options.access_mode}: "
        + (
            "the pods share one cluster node's volume (or use --access-mode ReadWriteMany with a\n"
            "# storage class that offers it, e.g. NFS, to spread the nodes over several hosts).\n"
            if options.access_mode != "ReadWriteMany"
            else "the storage class must offer it (e.g. NFS); the export must be writable by\n"
            f"# {options.user}, as fsGroup does not apply there.\n"
        )
        + "# Steps:\n"
        + steps
    )
    return {
        logs_file: _document_stream(logs_header, logs_objects(options)),
        run_file: _document_stream(run_header, run_objects(options)),
        analysis_file: _document_stream(analysis_header, analysis_objects(options)),
    }


def check_options(options: Options) -> None:
    """ManifestError for options Kubernetes would refuse (the variables are load_config's to check)."""
    try:
        node_ids(options.nodes)
    except ValueError as error:
        raise ManifestError(str(error)) from None
    if not re.fullmatch(r"[0-9]{1,10}:[0-9]{1,10}", options.user) or options.user.startswith("0:"):
        raise ManifestError(f"--user {options.user!r}: expected UID:GID with a UID other than 0 (root)")
    if options.access_mode not in ACCESS_MODES:
        raise ManifestError(f"--access-mode {options.access_mode!r}: one of {', '.join(ACCESS_MODES)}")
    if not _QUANTITY.fullmatch(options.log_size):
        raise ManifestError(f"--log-size {options.log_size!r}: a size such as 512Mi or 2Gi")
    if options.storage_class and not _DNS_NAME.fullmatch(options.storage_class):
        raise ManifestError(f"--storage-class {options.storage_class!r}: not a valid object name")


# -- command line --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.kubernetes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("nodes", type=int, help="number of nodes (2 to 64)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write the three files into (default: .)")
    parser.add_argument("--run-id", help="the run folder's name (default: the UTC time now, as init names runs)")
    parser.add_argument("--seed", type=int, help=f"the run's seed, 0 to {MAX_SEED} (default: drawn now)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any node variable of .env, NODE<k>_<NAME> for one node (repeatable), e.g. --set DURATION=300",
    )
    parser.add_argument(
        "--registry", default="", help="registry prefix of the images (default: none, images loaded into the cluster)"
    )
    parser.add_argument("--user", default=NOBODY, help=f"UID:GID every pod runs as (default {NOBODY})")
    parser.add_argument("--storage-class", default="", help="storage class of the log claim (default: the cluster's)")
    parser.add_argument("--access-mode", default="ReadWriteOnce", choices=ACCESS_MODES, help="of the log claim")
    parser.add_argument("--log-size", default="1Gi", help="size of the log claim (default 1Gi)")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    settings = []
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ManifestError(f"--set {item!r}: expected NAME=VALUE")
        settings.append((name.strip(), value.strip()))
    return Options(
        nodes=args.nodes,
        run_id=args.run_id if args.run_id is not None else run_id_for(datetime.now(UTC)),
        seed=args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1),
        settings=tuple(settings),
        registry=args.registry,
        user=args.user,
        storage_class=args.storage_class,
        access_mode=args.access_mode,
        log_size=args.log_size,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        files = render(options_from(args))
    except ManifestError as error:
        print(f"deploy.kubernetes: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
    print(f"wrote {', '.join(str(args.out / name) for name in files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

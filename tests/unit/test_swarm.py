"""scripts/swarm without Docker: the one cluster definition and the files generated from it
(deploy/stackgen.py), placement, option checks, watching the tasks, and clean-up on every way out
(deploy/swarm.py). tests/integration/test_swarm.py deploys for real."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from deploy import swarm
from deploy.compose import ROOT, ComposeError
from deploy.stackgen import (
    STACK_FILE,
    Deployment,
    cluster_environments,
    compose_file,
    node_ids,
    peers,
    stack_file,
)
from deploy.swarm import SwarmError, SwarmNode, Task

HOSTS = [SwarmNode("host-a", local=True), SwarmNode("host-b")]


def test_the_checked_in_stack_file_is_the_generators_output() -> None:
    """deploy/swarm-stack.yml is `scripts/swarm stack 3 --out deploy/swarm-stack.yml`: regenerate, never edit."""
    assert (ROOT / STACK_FILE).read_text() == stack_file(3)


def test_one_definition_gives_every_node_its_peers_and_own_variables() -> None:
    shared = {"NET_DELAY_MS": "3", "NODE3_NET_DELAY_MS": "9", "NODE2_CLOCK_RATE": "7", "MAX_EVENT_NUM": "4"}
    envs = cluster_environments(4, shared)
    assert list(envs) == ["node1", "node2", "node3", "node4"]
    assert envs["node2"]["PEERS"] == "node1:5000,node3:5000,node4:5000"
    assert [envs[n]["NET_DELAY_MS"] for n in envs] == ["3", "3", "9", "3"]
    assert envs["node2"]["CLOCK_RATE"] == "7"
    assert "CLOCK_RATE" not in envs["node1"]
    assert all(not k.startswith("NODE") or k == "NODE_ID" for env in envs.values() for k in env)
    with pytest.raises(ValueError, match="1 nodes: choose 2 to 64"):
        node_ids(1)


def test_compose_and_stack_files_name_the_same_nodes_and_peers() -> None:
    compose = yaml.safe_load(compose_file(5).replace("!override", ""))["services"]
    stack = yaml.safe_load(stack_file(5))["services"]
    for node in node_ids(5):
        assert compose[node]["environment"]["PEERS"] == stack[node]["environment"]["PEERS"] == peers(5, node)
    assert sorted(stack) == list(node_ids(5))


def test_the_checked_in_template_is_filled_in_by_the_shell_without_nesting() -> None:
    spec = yaml.safe_load((ROOT / STACK_FILE).read_text())
    node2 = spec["services"]["node2"]
    assert node2["image"] == "${REGISTRY:-localhost:5000}/lamport-node:latest"
    assert node2["deploy"]["placement"]["constraints"] == [
        "node.hostname == ${NODE2_HOST:?set NODE2_HOST: the swarm node to run node2 on}"
    ]
    assert node2["deploy"]["endpoint_mode"] == "dnsrr"
    assert node2["deploy"]["restart_policy"] == {"condition": "none"}
    assert node2["read_only"] is True
    assert node2["cap_drop"] == ["ALL"]
    assert {"type": "tmpfs", "target": "/tmp"} in node2["volumes"]
    # `docker stack` does not nest ${A:-${B}}: no value may need it.
    assert "${NODE" not in json.dumps(node2["environment"]).replace("${NODE2_CLOCK_RATE:-}", "")


def test_two_hosts_deployed_stack_places_round_robin_with_every_value_fixed() -> None:
    ids = node_ids(4)
    placement = swarm.place(ids, HOSTS)
    assert placement == {"node1": "host-a", "node2": "host-b", "node3": "host-a", "node4": "host-b"}
    envs = swarm.node_environments(4, {"NODE2_NET_DELAY_MS": "20"}, "run-1", 42)
    text = stack_file(4, "x.yml", Deployment("reg:5000/lamport-node:latest", "/srv/$logs", placement, envs))
    assert "${" not in text.replace("$$", "")  # nothing for `docker stack` to interpolate
    services = yaml.safe_load(text)["services"]
    for node, host in placement.items():
        assert services[node]["deploy"]["placement"]["constraints"] == [f"node.hostname == {host}"]
        assert services[node]["environment"] == envs[node]
        assert services[node]["image"] == "reg:5000/lamport-node:latest"
    assert services["node2"]["environment"]["NET_DELAY_MS"] == "20"
    assert services["node1"]["environment"]["NET_DELAY_MS"] == "0"
    assert services["node1"]["environment"]["SEED"] == "42"
    assert services["node1"]["volumes"][0]["source"] == "/srv/$$logs"  # `$$` is Docker's `$`


def test_placement_by_name_round_robin_and_one_line_errors() -> None:
    ids = node_ids(5)
    assert swarm.place(ids, HOSTS, hosts=["host-b"]) == dict.fromkeys(ids, "host-b")
    assert swarm.place(ids, HOSTS, placed={"node1": "host-b"}) == {
        "node1": "host-b",
        "node2": "host-b",
        "node3": "host-a",
        "node4": "host-b",
        "node5": "host-a",
    }
    with pytest.raises(ValueError, match=r"^no swarm node 'host-c' \(the swarm has: host-a, host-b\)$"):
        swarm.place(ids, HOSTS, placed={"node2": "host-c"})
    with pytest.raises(ValueError, match="no swarm node 'nope'"):
        swarm.place(ids, HOSTS, hosts=["host-a", "nope"])
    drained = [SwarmNode("host-a"), SwarmNode("host-b", availability="Drain")]
    assert swarm.place(ids, drained) == dict.fromkeys(ids, "host-a")
    with pytest.raises(ValueError, match="'host-b' is Ready/Drain: it cannot run a node"):
        swarm.place(ids, drained, hosts=["host-b"])
    with pytest.raises(ValueError, match="two swarm nodes are called 'host-a'"):
        swarm.place(ids, [SwarmNode("host-a"), SwarmNode("host-a")])
    with pytest.raises(ValueError, match="no swarm node is ready and active"):
        swarm.place(ids, [SwarmNode("host-a", status="Down")])


def test_place_option_is_parsed_and_checked() -> None:
    ids = node_ids(3)
    assert swarm.parse_place(["node1=host-a, node3=host-b", "node2=host-a"], ids) == {
        "node1": "host-a",
        "node3": "host-b",
        "node2": "host-a",
    }
    for text, message in (
        ("node1", "expected NODE=HOST"),
        ("node4=host-a", r"no node 'node4' \(nodes: node1 to node3\)"),
        ("node1=a,node1=b", "names node1 twice"),
    ):
        with pytest.raises(ValueError, match=message):
            swarm.parse_place([text], ids)


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad options are refused before anything runs."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (["--nodes", "5", "--max-event-num", "4"], "MAX_EVENT_NUM='4': must be an integer from 5 to 1000000"),
        (["--rates", "1,6"], "--rates 1,6: give 3 comma-separated rates, one per node"),
        (["--rates", "1,x,3"], "CLOCK_RATE='x': must be an integer from 1 to 1000000"),
        (["--set", "NODE4_CLOCK_RATE=2"], "--set NODE4_CLOCK_RATE: not a variable the stack passes to the nodes"),
        (["--set", "NOPE"], "--set 'NOPE': expected NAME=VALUE"),
        (["--duration", "0"], "--duration must be above 0: a swarm run ends by itself"),
        (["--nodes", "70"], "70 nodes: choose 2 to 64"),
        (["--place", "node1=host-a,node5=host-b"], "--place node5=host-b: no node 'node5' (nodes: node1 to node3)"),
        (["--run-id", "latest"], "RUN_ID='latest': is reserved"),
        (["--min-rate", "7", "--max-rate", "6"], "MIN_CLOCK_RATE='7': must not exceed MAX_CLOCK_RATE (6)"),
        (["--logs", "/nonexistent/logs"], "--logs /nonexistent/logs: no such folder"),
    ],
)
def test_bad_options_fail_in_one_line_before_docker_runs(
    no_docker: None, capsys: pytest.CaptureFixture[str], options: list[str], line: str
) -> None:
    assert swarm.main(["up", *options]) == swarm.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"swarm: {line}")
    assert err.count("\n") == 1


def test_a_bad_stack_name_is_a_usage_error(no_docker: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        swarm.main(["up", "--name", "a.b"])
    assert exit_.value.code == 2
    assert "--name 'a.b'" in capsys.readouterr().err


def test_options_become_the_stacks_variables() -> None:
    args = swarm.parse_args(
        ["up", "--nodes", "4", "--rates", "1,2,3,4", "--duration", "10", "--delivery", "at-most-once",
         "--max-event-num", "6", "--set", "NET_JITTER_MS=2"]
    )  # fmt: skip
    assert swarm.node_settings(args) == {
        "NET_JITTER_MS": "2",
        "MAX_EVENT_NUM": "6",
        "DURATION": "10",
        "DELIVERY": "at-most-once",
        "NODE1_CLOCK_RATE": "1",
        "NODE2_CLOCK_RATE": "2",
        "NODE3_CLOCK_RATE": "3",
        "NODE4_CLOCK_RATE": "4",
    }
    envs = swarm.node_environments(4, swarm.node_settings(args), "r", 1)
    # start timeout (the stack's 120 s), duration, drain
    assert swarm.check_settings(envs) == 120 + 10 + 5


def stack_ps(*rows: tuple[str, str, str, str]) -> str:
    """`docker stack ps --format '{{json .}}'` lines: (name, node, state, error), newest first."""
    return "\n".join(
        json.dumps({"ID": f"t{i}", "Name": f"st_{name}", "Node": node, "CurrentState": state, "Error": error})
        for i, (name, node, state, error) in enumerate(rows)
    )


def test_tasks_are_read_newest_first_per_node() -> None:
    text = stack_ps(
        ("node1.1", "vm", "Running 3 seconds ago", ""),
        ("node2.1", "", "Pending 8 seconds ago", '"no suitable node (scheduling constraints not satisfied)"'),
        ("node1.1", "vm", "Failed 9 seconds ago", '"task: non-zero exit (2)"'),
    )
    tasks = swarm.parse_tasks(text, "st")
    assert tasks == {
        "node1": Task("t0", "node1", "vm", "running", ""),
        "node2": Task("t1", "node2", "", "pending", "no suitable node (scheduling constraints not satisfied)"),
    }
    assert swarm.progress(tasks, node_ids(3)) == (
        "running: node1; pending: node2 (no suitable node (scheduling constraints not satisfied)); not scheduled: node3"
    )


def fake_tasks(monkeypatch: pytest.MonkeyPatch, polls: list[dict[str, Task]]) -> Callable[[], float]:
    """read_tasks returns `polls` in turn (the last for ever); sleeping only moves the clock."""
    feed: Iterator[dict[str, Task]] = iter(polls)
    last: list[dict[str, Task]] = [polls[-1]]
    now = [0.0]

    def read(stack: str) -> dict[str, Task]:
        last[0] = next(feed, last[0])
        return last[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(swarm, "read_tasks", read)
    monkeypatch.setattr(time, "sleep", sleep)
    return lambda: now[0]


def tasks_in(state: str, error: str = "", nodes: tuple[str, ...] = ("node1", "node2")) -> dict[str, Task]:
    return {n: Task(f"id-{n}", n, "vm", state, error) for n in nodes}


def test_waiting_ends_when_every_node_has_exited(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = fake_tasks(monkeypatch, [{}, tasks_in("running"), tasks_in("running"), tasks_in("complete")])
    done = swarm.wait_for_run("st", ("node1", "node2"), timeout=60, clock=clock)
    assert {t.state for t in done.values()} == {"complete"}
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "swarm: 0 s: not scheduled: node1 node2",
        "swarm: 2 s: running: node1 node2",
        "swarm: 6 s: complete: node1 node2",
    ]


def test_a_node_that_cannot_start_fails_the_wait_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rejected = {
        **tasks_in("running", nodes=("node1",)),
        "node2": Task("x", "node2", "vm", "rejected", "No such image: i"),
    }
    clock = fake_tasks(monkeypatch, [rejected])
    with pytest.raises(SwarmError, match=r"^node2 could not start on vm: rejected: No such image: i$"):
        swarm.wait_for_run("st", ("node1", "node2"), timeout=60, clock=clock)


def test_a_run_past_its_timeout_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_tasks(monkeypatch, [tasks_in("pending", "no suitable node")])
    with pytest.raises(SwarmError) as error:
        swarm.wait_for_run("st", ("node1", "node2"), timeout=10, clock=clock)
    assert str(error.value) == (
        "the run is not over after 10 s (--timeout): pending: node1 (no suitable node) node2 (no suitable node)"
    )


def test_logs_of_other_hosts_are_copied_with_scp_unless_shared(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    local = {"node1": "host-a", "node2": "host-a"}
    assert swarm.collect_commands(local, "host-a", tmp_path, folder, "auto") == []
    mixed = {"node1": "host-a", "node2": "host-b"}
    expected = [["scp", "-q", "-o", "BatchMode=yes", f"host-b:{tmp_path}/run-1/node2.jsonl", f"{folder}/"]]
    assert swarm.collect_commands(mixed, "host-a", tmp_path, folder, "auto") == expected
    assert swarm.collect_commands(mixed, "host-a", tmp_path, folder, "ssh") == expected
    assert swarm.collect_commands(mixed, "host-a", tmp_path, folder, "none") == []


def test_a_failed_docker_command_is_one_line() -> None:
    error = ComposeError(1, ["docker", "stack", "deploy", "-c", "f"], b"Creating network\n", b"x\nboom: no\n\n")
    assert swarm.one_line(error) == "`docker stack deploy ...` exited with 1: boom: no"


def up_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["up", "--duration", "5", "--seed", "3", "--logs", str(tmp_path), "--name", "st", *extra]


@pytest.fixture
def fake_swarm(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """deploy.swarm's Docker calls replaced by a record of what was done, in order."""
    calls: list[str] = []

    def record(name: str, result: Any = None) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return result

        return call

    monkeypatch.setattr(swarm, "image_id", lambda name: "sha256:1")
    monkeypatch.setattr(swarm, "network_exists", record("network_exists", False))
    monkeypatch.setattr(swarm, "use_or_create_swarm", record("init", True))
    monkeypatch.setattr(swarm, "leave_swarm", record("leave"))
    monkeypatch.setattr(swarm, "swarm_nodes", record("nodes", [SwarmNode("vm", local=True)]))
    monkeypatch.setattr(swarm, "stack_names", record("stacks", []))
    monkeypatch.setattr(swarm, "tag_image", record("tag", record("untag")))
    monkeypatch.setattr(swarm, "deploy_stack", record("deploy"))
    monkeypatch.setattr(swarm, "remove_stack", record("rm"))
    return calls


def test_ctrl_c_while_the_nodes_run_removes_the_stack_and_leaves_the_swarm_it_made(
    tmp_path: Path, fake_swarm: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        fake_swarm.append("wait")
        raise KeyboardInterrupt

    monkeypatch.setattr(swarm, "wait_for_run", interrupted)
    assert swarm.main(up_args(tmp_path)) == 130
    assert fake_swarm == ["network_exists", "init", "nodes", "stacks", "tag", "deploy", "wait", "rm", "untag", "leave"]
    assert capsys.readouterr().err == "swarm: interrupted (SIGINT); cleaned up\n"
    folder = tmp_path / "latest"
    assert json.loads((folder / "run.json").read_text())["swarm"] == {
        "stack": "st",
        "image": "localhost:5000/lamport-node:latest",
        "hosts": {"node1": "vm", "node2": "vm", "node3": "vm"},
    }
    assert (folder / swarm.STACK_FILE_NAME).is_file()


def test_a_failure_before_deploying_leaves_the_swarm_it_made(
    tmp_path: Path, fake_swarm: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert swarm.main(up_args(tmp_path, "--place", "node2=elsewhere")) == swarm.EXIT_USAGE
    assert fake_swarm == ["network_exists", "init", "nodes", "leave"]
    assert capsys.readouterr().err == "swarm: no swarm node 'elsewhere' (the swarm has: vm)\n"
    monkeypatch.setattr(swarm, "stack_names", lambda: ["st"])
    fake_swarm.clear()
    assert swarm.main(up_args(tmp_path)) == swarm.EXIT_FAILED
    assert fake_swarm == ["network_exists", "init", "nodes", "leave"]
    assert "a stack st is deployed already" in capsys.readouterr().err


def test_a_swarm_that_was_there_is_kept(
    tmp_path: Path, fake_swarm: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(swarm, "use_or_create_swarm", lambda addr: False)
    monkeypatch.setattr(swarm, "wait_for_run", lambda *a, **k: (_ for _ in ()).throw(SwarmError("late")))
    assert swarm.main(up_args(tmp_path)) == swarm.EXIT_FAILED
    assert "leave" not in fake_swarm
    assert fake_swarm[-2:] == ["rm", "untag"]
    assert capsys.readouterr().err == "swarm: late\n"


def test_missing_image_is_refused_before_the_swarm_is_touched(
    tmp_path: Path, fake_swarm: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(swarm, "image_id", lambda name: None)
    assert swarm.main(up_args(tmp_path)) == swarm.EXIT_FAILED
    assert fake_swarm == []
    assert capsys.readouterr().err.startswith("swarm: no image lamport-node:latest here: build it")


def test_the_stack_command_writes_the_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "five.yml"
    assert swarm.main(["stack", "5", "--out", str(out)]) == 0
    assert out.read_text() == stack_file(5, str(out))
    assert swarm.main(["stack", "2"]) == 0
    assert capsys.readouterr().out.endswith(stack_file(2, "swarm-stack.yml"))


def test_parse_args_defaults() -> None:
    args = swarm.parse_args(["up"])
    assert isinstance(args, argparse.Namespace)
    assert (args.nodes, args.name, args.collect, args.logs) == (3, "lamport", "auto", ROOT / "logs")

"""scripts/swarm as a user runs it, on a single-node swarm: a short run that passes every check of
the compose runs, Ctrl-C in the middle, and the machine as it was afterwards; and the generated
stack files checked by Docker's own `docker stack config` (several hosts cannot be run here).

What Docker itself leaves behind (checked with Docker 20.10.24, CLI 28.2.2, 2026-11-26):
`docker swarm init` creates the overlay network `ingress`, and the first overlay task the bridge
`docker_gwbridge`; `docker swarm leave --force` removes `ingress` but keeps `docker_gwbridge`
(scripts/swarm removes it when it created the swarm and the bridge was not there before). Two
empty files stay in /var/run/docker/netns (`ingress_sbox`, `1-<ingress id>`; no mounts), which
the next `swarm init` replaces. A stack's containers and network go a moment after `docker stack
rm` returns (it does not wait with this daemon), so scripts/swarm waits for them.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from deploy.compose import ROOT
from deploy.stackgen import STACK_FILE, Deployment, node_ids, stack_file
from deploy.swarm import GWBRIDGE, STACK_LABEL, node_environments, place
from deploy.swarm import SwarmNode as Host
from tests import logcheck

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SWARM = str(ROOT / "scripts" / "swarm")
TAG = "localhost:5000/lamport-node:latest"  # the name scripts/swarm gives the node image


def docker_out(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout.strip()


def machine(stack: str) -> dict[str, object]:
    """What a run may change: the swarm, its networks, the image's registry tag, and anything of the stack."""
    state = docker_out("info", "--format", "{{.Swarm.LocalNodeState}}")
    label = f"label={STACK_LABEL}={stack}"
    return {
        "swarm": state,
        "swarm networks": sorted(
            set(docker_out("network", "ls", "--format", "{{.Name}}").split()) & {"ingress", GWBRIDGE}
        ),
        "services": docker_out("service", "ls", "--quiet", "--filter", label) if state == "active" else "",
        "containers": docker_out("ps", "--all", "--quiet", "--filter", label),
        "networks": docker_out("network", "ls", "--quiet", "--filter", label),
        "tag": docker_out("image", "ls", "--quiet", TAG),
    }


def test_a_short_run_passes_every_check_and_leaves_the_machine_as_it_was(logs: Path, owner: int) -> None:
    stack = f"lamporttest{uuid.uuid4().hex[:8]}"
    before = machine(stack)
    options = ["--nodes", "3", "--duration", "10", "--rates", "3,5,8", "--max-event-num", "5", "--seed", "11"]
    result = subprocess.run(
        [SWARM, "up", *options, "--logs", str(logs), "--name", stack, "--run-id", "swarm-1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert machine(stack) == before, output
    assert "running: node1 node2 node3" in output
    assert "complete: node1 node2 node3" in output
    assert f"removed stack {stack}" in output
    if before["swarm"] == "inactive":
        assert "left the swarm this command created" in output
    folder = logs / "swarm-1"
    run = logcheck.load_run(folder)
    assert sorted(run) == ["node1", "node2", "node3"]
    assert logcheck.check_run(run, duration=10, max_event_num=5) == []
    assert [run[n][0]["rate"] for n in sorted(run)] == [3, 5, 8]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["problems"] == [], summary["problems"]
    info = json.loads((folder / "run.json").read_text())
    assert info["seed"] == 11
    assert set(info["swarm"]["hosts"]) == {"node1", "node2", "node3"}
    assert (logs / "latest").resolve() == folder
    # The nodes took the identity of the log folder's owner, as under compose.
    assert {(folder / f"{n}.jsonl").stat().st_uid for n in run} == {owner}


def read_until(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    """The process's output up to the first line containing `text` (AssertionError after `timeout`)."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=1):
                line = process.stdout.readline()
                assert line, f"output ended before {text!r}:\n{seen}"
                seen += line
                if text in line:
                    return seen
    raise AssertionError(f"no {text!r} after {timeout} s:\n{seen}")


def test_ctrl_c_while_the_nodes_run_removes_everything(logs: Path) -> None:
    stack = f"lamporttest{uuid.uuid4().hex[:8]}"
    before = machine(stack)
    with subprocess.Popen(
        [SWARM, "up", "--duration", "60", "--logs", str(logs), "--name", stack, "--no-analysis"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            shown = read_until(process, "running: node1 node2 node3", timeout=120)
            process.send_signal(signal.SIGINT)
            rest, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 128 + signal.SIGINT, shown + rest
    assert "swarm: interrupted (SIGINT); cleaned up" in rest
    assert f"removed stack {stack}" in rest
    assert machine(stack) == before, shown + rest


def stack_config(path: Path | str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "stack", "config", "-c", str(path)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_template_passes_dockers_own_check_with_every_value_resolved() -> None:
    hosts = {"NODE1_HOST": "host-a", "NODE2_HOST": "host-b", "NODE3_HOST": "host-b"}
    result = stack_config(STACK_FILE, {"RUN_ID": "multi-1", "SEED": "42", "NET_DELAY_MS": "7", **hosts})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("node.hostname == host-b") == 2
    assert result.stdout.count("endpoint_mode: dnsrr") == 3
    assert result.stdout.count('NET_DELAY_MS: "7"') == 4  # three nodes and the x-environment anchor
    assert "${" not in result.stdout  # `docker stack` does not nest interpolations: none is left
    missing = stack_config(STACK_FILE, {"RUN_ID": "multi-1", "SEED": "42", "NODE1_HOST": "a", "NODE2_HOST": "b"})
    assert missing.returncode != 0
    assert "required variable NODE3_HOST is missing a value" in missing.stderr


def test_a_deployed_stack_for_two_hosts_passes_dockers_own_check(tmp_path: Path) -> None:
    """What scripts/swarm up --nodes 4 would deploy on a swarm of host-a and host-b."""
    ids = node_ids(4)
    placement = place(ids, [Host("host-a"), Host("host-b")])
    environments = node_environments(4, {"NODE4_NET_DELAY_MS": "20", "MAX_EVENT_NUM": "4"}, "multi-2", 5)
    path = tmp_path / "stack.yml"
    path.write_text(
        stack_file(4, str(path), Deployment("reg:5000/lamport-node:latest", "/srv/logs", placement, environments))
    )
    result = stack_config(path, {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("node.hostname == host-a") == 2
    assert result.stdout.count("node.hostname == host-b") == 2
    assert result.stdout.count('NET_DELAY_MS: "20"') == 1
    assert result.stdout.count("PEERS: node1:5000,node2:5000,node3:5000") == 1

"""Faults on real containers: pause, kill and restart, network cut, intruders. Nothing lost silently."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import load_run as analysis_load_run
from analysis.metrics import analyse
from tests import faultcheck, logcheck
from tests.integration.helpers import cluster, docker, wait_until_ticking

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

NODES = ("node1", "node2", "node3")
RATES = {"node1": 10, "node2": 12, "node3": 15}
BASE_ENV = {
    "NODE1_CLOCK_RATE": "10",
    "NODE2_CLOCK_RATE": "12",
    "NODE3_CLOCK_RATE": "15",
    "MAX_EVENT_NUM": "5",
    "SEED": "3",
    "STATUS_INTERVAL": "0",
}


def summary(folder: Path) -> Any:
    return analyse(analysis_load_run(folder)).summary


def test_paused_node_drains_its_backlog(logs: Path) -> None:
    duration = 16
    with cluster(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as running:
        folder = wait_until_ticking(running)
        time.sleep(3)
        docker("pause", running.container("node1"))
        time.sleep(4)
        docker("unpause", running.container("node1"))
        codes = running.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    # The same checks as the simulated pause (tests/unit/test_sim_faults.py).
    assert (
        faultcheck.check_paused(logcheck.load_run(folder), summary(folder), "node1", RATES["node1"], 4, duration) == []
    )


def test_killed_node_restarts_and_rejoins(logs: Path) -> None:
    duration = 20
    with cluster(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as running:
        folder = wait_until_ticking(running)
        time.sleep(4)
        docker("kill", running.container("node1"))  # SIGKILL: no stop line, its queue is lost
        time.sleep(3)
        docker("start", running.container("node1"))
        codes = running.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    assert faultcheck.check_killed(logcheck.load_run(folder), summary(folder), "node1", duration) == []


def test_cut_off_node_reconnects_without_hanging(logs: Path) -> None:
    duration = 26
    with cluster(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as running:
        folder = wait_until_ticking(running)
        time.sleep(4)
        docker("network", "disconnect", running.network(), running.container("node1"))
        time.sleep(9)  # much longer than the 2 s after which unacknowledged data aborts a link
        docker("network", "connect", "--alias", "node1", running.network(), running.container("node1"))
        codes = running.wait_until_exited(("init", *NODES), timeout=90)
    assert set(codes.values()) == {0}
    assert faultcheck.check_cut_off(logcheck.load_run(folder), summary(folder), "node1", duration) == []


def test_intruders_are_refused_and_the_node_keeps_its_rate(logs: Path) -> None:
    """From a container on the cluster network: garbage, an unknown hello, a spoofed hello + flood."""
    duration = 14
    intruder = """
import socket, struct, time
def attempt(payload, flood=0):
    s = socket.create_connection(("node1", 5000))
    s.sendall(payload)
    try:
        for i in range(flood):
            s.sendall(b"".join(struct.pack("!I", i * 1000 + k + 1) for k in range(1000)))
    except OSError:
        pass  # refused: the node closed the connection
    time.sleep(0.3)
    s.close()
attempt(bytes(range(256)) * 4)
attempt(b"LAMP\\x01\\x07mallory" + struct.pack("!I", 5))
attempt(b"LAMP\\x01\\x05node2", flood=200)
attempt(b"LAMP\\x01\\x05node2\\x00\\x00")
print("done")
"""
    with cluster(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as running:
        folder = wait_until_ticking(running)
        output = docker(
            "run",
            "--rm",
            "--network",
            running.network(),
            "--entrypoint",
            "python",
            "lamport-node:latest",
            "-c",
            intruder,
        )
        assert output == "done"
        codes = running.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    run = logcheck.load_run(folder)
    assert logcheck.check_run(run, duration) == []  # exact rates, clean accounting: nothing got in
    reasons = [r["reason"] for r in faultcheck.events(run["node1"], "reject")]
    assert len(reasons) == 4, reasons
    assert any("bad hello" in r for r in reasons)
    assert any("unknown node 'mallory'" in r for r in reasons)
    assert sum("hello from node2 but the connection comes from" in r for r in reasons) == 2


def test_containers_are_locked_down(logs: Path) -> None:
    with cluster(logs, {**BASE_ENV, "DURATION": "6"}, services=NODES) as running:
        wait_until_ticking(running)
        for node in NODES:
            info = json.loads(docker("inspect", running.container(node)))[0]
            host = info["HostConfig"]
            assert host["ReadonlyRootfs"] is True
            assert host["CapDrop"] == ["ALL"]
            assert sorted(host["CapAdd"]) == ["CAP_SETGID", "CAP_SETUID"] or sorted(host["CapAdd"]) == [
                "SETGID",
                "SETUID",
            ]
            assert "no-new-privileges:true" in host["SecurityOpt"]
            assert not host["PortBindings"]
            assert list(info["NetworkSettings"]["Networks"]) == [running.network()]
            pid = info["State"]["Pid"]
            status = Path(f"/proc/{pid}/status").read_text()
            uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
            cap_eff = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
            assert uid != "0", node  # the node process runs as the log owner (or nobody), not root
            assert int(cap_eff, 16) == 0, node  # and holds no capability at all
        network = json.loads(docker("network", "inspect", running.network()))[0]
        assert network["Internal"] is True
        running.wait_until_exited(("init", *NODES))

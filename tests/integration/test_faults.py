"""Faults on real containers: pause, kill and restart, network cut, intruders. Nothing lost silently."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import load_run as analysis_load_run
from analysis.metrics import analyse
from experiments.container_faults import begin, end
from node.identity import NOBODY
from tests import faultcheck, logcheck
from tests.integration.helpers import cluster, docker, owned_by_root, process_status, wait_until_ticking

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
# Capabilities (linux/capability.h): the only two compose grants (cap_add), for node.identity.
CAP_SETGID, CAP_SETUID = 6, 7
GRANTED = (1 << CAP_SETGID) | (1 << CAP_SETUID)


def summary(folder: Path) -> Any:
    return analyse(analysis_load_run(folder)).summary


def test_paused_node_drains_its_backlog(logs: Path) -> None:
    duration = 16
    with cluster(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as running:
        folder = wait_until_ticking(running)
        time.sleep(3)
        docker(*begin("pause", running.container("node1"), running.network()))
        time.sleep(4)
        docker(*end("pause", "node1", running.container("node1"), running.network()))
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
        before = time.time()  # the logs' `ts` is the host's clock: what was in flight from here on may be lost
        docker(
            *begin("kill", running.container("node1"), running.network())
        )  # SIGKILL: no stop line; its queue is sent again
        killed = faultcheck.LossyFault("kill", "node1", before)
        time.sleep(3)
        docker(*end("kill", "node1", running.container("node1"), running.network()))
        codes = running.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    assert faultcheck.check_killed(logcheck.load_run(folder), summary(folder), killed, duration) == []


def test_cut_off_node_reconnects_without_hanging(logs: Path) -> None:
    duration = 26
    with cluster(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as running:
        folder = wait_until_ticking(running)
        time.sleep(4)
        before = time.time()
        docker(*begin("isolate", running.container("node1"), running.network()))
        cut = faultcheck.LossyFault("cut", "node1", before)
        time.sleep(9)  # much longer than the 2 s after which unacknowledged data aborts a link
        docker(*end("isolate", "node1", running.container("node1"), running.network()))
        codes = running.wait_until_exited(("init", *NODES), timeout=90)
    assert set(codes.values()) == {0}
    assert faultcheck.check_cut_off(logcheck.load_run(folder), summary(folder), cut, duration) == []


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


@pytest.mark.parametrize("folder_owner", ["log owner", "root"])
def test_containers_are_locked_down(logs: Path, owner: int, folder_owner: str) -> None:
    """README, Locked down and Who owns the logs: a node runs as the owner of `logs/` (or as nobody
    when root owns it, after opening its file as root), with no supplementary group, holding no
    capability at all, no new privileges, a read-only root, no published port, one internal network."""
    with ExitStack() as stack:
        if folder_owner == "root":
            stack.enter_context(owned_by_root(logs))
            seen, runs_as, files = (0, 0), (NOBODY, NOBODY), 0
        else:
            seen = runs_as = (owner, logs.stat().st_gid)
            files = owner
        running = stack.enter_context(cluster(logs, {**BASE_ENV, "DURATION": "6"}, services=NODES))
        folder = wait_until_ticking(running)  # ticking: every node has taken its identity for good
        for node in NODES:
            info = json.loads(docker("inspect", running.container(node)))[0]
            host = info["HostConfig"]
            assert host["ReadonlyRootfs"] is True
            assert host["CapDrop"] == ["ALL"]
            assert sorted(host["CapAdd"]) in (["CAP_SETGID", "CAP_SETUID"], ["SETGID", "SETUID"])
            assert "no-new-privileges:true" in host["SecurityOpt"]
            assert not host["PortBindings"]
            assert list(info["NetworkSettings"]["Networks"]) == [running.network()]
            uid, gid = runs_as
            for thread in process_status(info["State"]["Pid"]):  # the node process, every thread of it
                assert thread["Uid"].split() == [str(uid)] * 4, (node, thread["Uid"])  # real, effective, saved, fs
                assert thread["Gid"].split() == [str(gid)] * 4, (node, thread["Gid"])
                assert set(thread["Groups"].split()) <= {str(gid)}, (node, thread["Groups"])
                held = {name: int(thread[name], 16) for name in ("CapInh", "CapPrm", "CapEff", "CapAmb")}
                assert held == dict.fromkeys(held, 0), (node, held)  # "holds no capability at all"
                # The bounding set keeps what compose granted: it cannot shrink without CAP_SETPCAP,
                # and with NoNewPrivs and a non-root uid nothing can raise it again.
                assert int(thread["CapBnd"], 16) & ~GRANTED == 0, (node, thread["CapBnd"])
                assert thread["NoNewPrivs"] == "1", node
            # The log folder as the node sees it, and its log file.
            stat = "import os; s = os.stat('/logs'); print(s.st_uid, s.st_gid)"
            assert docker("exec", running.container(node), "python", "-c", stat) == f"{seen[0]} {seen[1]}", node
            assert (folder / f"{node}.jsonl").stat().st_uid == files, node
        network = json.loads(docker("network", "inspect", running.network()))[0]
        assert network["Internal"] is True
        codes = running.wait_until_exited(("init", *NODES))
        assert set(codes.values()) == {0}, codes  # as nobody, a node still writes the log it opened as root

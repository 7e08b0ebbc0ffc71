"""Faults on real containers: pause, kill and restart, network cut, intruders. Nothing lost silently."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import load_run as analysis_load_run
from analysis.metrics import analyse
from tests import logcheck
from tests.integration.cluster import ClusterRun, docker

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


def events(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


def summary(folder: Path) -> dict[str, Any]:
    return analyse(analysis_load_run(folder)).summary


def assert_others_unaffected(run: dict[str, list[dict[str, Any]]], victim: str, duration: float) -> None:
    """The nodes that were not touched kept their exact tick count: no stall, no hang."""
    healthy = {n: r for n, r in run.items() if n != victim}
    assert logcheck.check_tick_counts(healthy, duration) == []
    for node, records in healthy.items():
        assert events(records, "stall") == [], node
        assert records[-1]["reason"] == "duration"


def recomputed_unaccounted(run: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], int]:
    return {
        link: len(v["sent"]) - len(v["dropped"]) - len(v["received"]) - sum(v["left"])
        for link, v in logcheck.links(run).items()
    }


def test_paused_node_drains_its_backlog(logs: Path) -> None:
    duration = 16
    with ClusterRun(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as cluster:
        folder = cluster.wait_until_ticking()
        time.sleep(3)
        docker("pause", cluster.container("node1"))
        time.sleep(4)
        docker("unpause", cluster.container("node1"))
        codes = cluster.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    run = logcheck.load_run(folder)
    assert_others_unaffected(run, "node1", duration)
    node1 = run["node1"]
    stalls = events(node1, "stall")
    assert len(stalls) == 1
    assert stalls[0]["skipped"] == pytest.approx(RATES["node1"] * 4, abs=4)
    ticks = len(logcheck.tick_records(node1))
    assert ticks + stalls[0]["skipped"] == pytest.approx(RATES["node1"] * duration, abs=1)
    # Messages waited (in TCP buffers, then the queue) and none was lost.
    assert logcheck.check_clock_rules(run) == []
    assert logcheck.check_links(run) == []
    s = summary(folder)
    assert s["messages"]["unaccounted"] == 0
    assert s["nodes"]["node1"]["queue"]["max"] >= 10  # the backlog built up during the pause
    assert s["nodes"]["node1"]["events"]["stall"] == 1


def test_killed_node_restarts_and_rejoins(logs: Path) -> None:
    duration = 20
    with ClusterRun(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as cluster:
        folder = cluster.wait_until_ticking()
        time.sleep(4)
        docker("kill", cluster.container("node1"))  # SIGKILL: no stop line, its queue is lost
        time.sleep(3)
        docker("start", cluster.container("node1"))
        codes = cluster.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    run = logcheck.load_run(folder)
    assert_others_unaffected(run, "node1", duration)
    # The others saw node1 go, dropped (and logged) what they sent meanwhile, and saw it return.
    for node in ("node2", "node3"):
        records = run[node]
        gone = [r for r in events(records, "disconnected") if r["peer"] == "node1"]
        assert gone, node
        drops = [r for r in events(records, "drop") if r["to"] == "node1"]
        back = [r for r in events(records, "connected") if r["peer"] == "node1" and r["ts"] > gone[0]["ts"]]
        assert drops, node
        assert all(isinstance(r["value"], int) and r["reason"] for r in drops)
        assert back, node
    # node1 started twice in the same run, its clock resumed where its log left off.
    node1 = run["node1"]
    starts = [i for i, r in enumerate(node1) if r["event"] == "start"]
    assert len(starts) == 2
    second = node1[starts[1]]
    assert second["resumed_clock"] == node1[starts[1] - 1]["clock"] == second["clock"]
    assert logcheck.check_clock_rules(run) == []
    # ... and it ended with the run, not a full DURATION after its restart.
    last_ticks = {n: logcheck.tick_records(r)[-1]["ts"] for n, r in run.items()}
    assert abs(last_ticks["node1"] - last_ticks["node2"]) < 1.0
    # Accounting: only links touching the killed node may miss messages, and the analysis says so.
    s = summary(folder)
    raw = recomputed_unaccounted(run)
    for link in s["links"]:
        key = (link["from"], link["to"])
        assert link["unaccounted"] == raw[key], key
        if "node1" not in key:
            assert link["unaccounted"] == 0, key
        assert link["lost"] == link["unaccounted"], key  # every missing message is flagged lost
    assert s["nodes"]["node1"]["incarnations"] == 2


def test_cut_off_node_reconnects_without_hanging(logs: Path) -> None:
    duration = 26
    with ClusterRun(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as cluster:
        folder = cluster.wait_until_ticking()
        time.sleep(4)
        docker("network", "disconnect", cluster.network(), cluster.container("node1"))
        time.sleep(9)  # much longer than the 2 s after which unacknowledged data aborts a link
        docker("network", "connect", "--alias", "node1", cluster.network(), cluster.container("node1"))
        codes = cluster.wait_until_exited(("init", *NODES), timeout=90)
    assert set(codes.values()) == {0}
    run = logcheck.load_run(folder)
    # Every node, the cut one included, kept ticking at its rate: the tick loop never hung.
    assert logcheck.check_tick_counts(run, duration) == []
    assert logcheck.check_clock_rules(run) == []
    for node, records in run.items():
        assert records[-1]["event"] == "stop", node
        assert events(records, "drop"), f"{node} dropped nothing while the link was cut"
    cut_at = min(r["ts"] for r in events(run["node2"], "disconnected") if r["peer"] == "node1")
    assert any(r["peer"] == "node1" and r["ts"] > cut_at for r in events(run["node2"], "connected"))
    s = summary(folder)
    for link in s["links"]:
        if "node1" not in (link["from"], link["to"]):
            assert link["unaccounted"] == 0, link
        assert link["lost"] == link["unaccounted"], link  # in flight when the link broke: flagged


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
    with ClusterRun(logs, {**BASE_ENV, "DURATION": str(duration)}, services=NODES) as cluster:
        folder = cluster.wait_until_ticking()
        output = docker(
            "run",
            "--rm",
            "--network",
            cluster.network(),
            "--entrypoint",
            "python",
            "lamport-node:latest",
            "-c",
            intruder,
        )
        assert output == "done"
        codes = cluster.wait_until_exited(("init", *NODES))
    assert set(codes.values()) == {0}
    run = logcheck.load_run(folder)
    assert logcheck.check_run(run, duration) == []  # exact rates, clean accounting: nothing got in
    reasons = [r["reason"] for r in events(run["node1"], "reject")]
    assert len(reasons) == 4, reasons
    assert any("bad hello" in r for r in reasons)
    assert any("unknown node 'mallory'" in r for r in reasons)
    assert sum("hello from node2 but the connection comes from" in r for r in reasons) == 2


def test_containers_are_locked_down(logs: Path) -> None:
    with ClusterRun(logs, {**BASE_ENV, "DURATION": "6"}, services=NODES) as cluster:
        cluster.wait_until_ticking()
        for node in NODES:
            info = json.loads(docker("inspect", cluster.container(node)))[0]
            host = info["HostConfig"]
            assert host["ReadonlyRootfs"] is True
            assert host["CapDrop"] == ["ALL"]
            assert sorted(host["CapAdd"]) == ["CAP_SETGID", "CAP_SETUID"] or sorted(host["CapAdd"]) == [
                "SETGID",
                "SETUID",
            ]
            assert "no-new-privileges:true" in host["SecurityOpt"]
            assert not host["PortBindings"]
            assert list(info["NetworkSettings"]["Networks"]) == [cluster.network()]
            pid = info["State"]["Pid"]
            status = Path(f"/proc/{pid}/status").read_text()
            uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
            cap_eff = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
            assert uid != "0", node  # the node process runs as the log owner (or nobody), not root
            assert int(cap_eff, 16) == 0, node  # and holds no capability at all
        network = json.loads(docker("network", "inspect", cluster.network()))[0]
        assert network["Internal"] is True
        cluster.wait_until_exited(("init", *NODES))

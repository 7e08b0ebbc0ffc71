"""The container fault tests, in virtual time: the same faults on the same configuration leave
the same trace in the logs and pass the same checks (tests/faultcheck.py), in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import load_run as analysis_load_run
from analysis.metrics import analyse
from node.simulation import Fault, Outcome, cluster, write_simulation
from tests import faultcheck, logcheck

# As tests/integration/test_faults.py runs the containers.
RATES = {"node1": 10, "node2": 12, "node3": 15}
ENV = {"MAX_EVENT_NUM": "5", "STATUS_INTERVAL": "0"}


def faulty_run(folder: Path, duration: float, *faults: Fault, seed: int = 3) -> tuple[Outcome, Any, Any]:
    sim = cluster(seed=seed, env=ENV, rates=RATES, duration=duration, faults=faults, jitter=0.0003)
    outcome = write_simulation(sim, folder)
    return outcome, logcheck.load_run(folder), analyse(analysis_load_run(folder)).summary


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_paused_node_drains_its_backlog(tmp_path: Path, seed: int) -> None:
    outcome, run, summary = faulty_run(tmp_path, 16, Fault("pause", ("node1",), 3.0, 4.0), seed=seed)
    assert outcome.ok, outcome.errors
    assert faultcheck.check_paused(run, summary, "node1", RATES["node1"], 4.0, 16) == []


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_killed_node_restarts_and_rejoins(tmp_path: Path, seed: int) -> None:
    outcome, run, summary = faulty_run(tmp_path, 20, Fault("kill", ("node1",), 4.0, 3.0), seed=seed)
    assert outcome.ok, outcome.errors
    assert outcome.exit_codes["node1"] == [None, 0]  # killed, then ended with the run
    assert faultcheck.check_killed(run, summary, faultcheck.LossyFault("kill", "node1", 4.0), 20) == []


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_cut_off_node_reconnects_without_hanging(tmp_path: Path, seed: int) -> None:
    outcome, run, summary = faulty_run(tmp_path, 26, Fault("isolate", ("node1",), 4.0, 9.0), seed=seed)
    assert outcome.ok, outcome.errors
    assert faultcheck.check_cut_off(run, summary, faultcheck.LossyFault("cut", "node1", 4.0), 26) == []
    reasons = {r["reason"] for r in faultcheck.events(run["node2"], "disconnected") if r["peer"] == "node1"}
    assert any("timed out" in reason for reason in reasons), reasons  # unacknowledged data aborted the link


def test_a_cut_link_breaks_only_that_link(tmp_path: Path) -> None:
    """Simulator only: node1-node2 cut; node3 talks to both throughout."""
    outcome, run, summary = faulty_run(tmp_path, 20, Fault("cut", ("node1", "node2"), 4.0, 6.0))
    assert outcome.ok, outcome.errors
    assert logcheck.check_tick_counts(run, 20) == []
    assert logcheck.check_clock_rules(run) == []
    for node, peer in (("node1", "node2"), ("node2", "node1")):
        assert [r for r in faultcheck.events(run[node], "disconnected") if r["peer"] == peer and r["ts"] < 19], node
        if faultcheck.at_most_once(run):  # else what could not be sent waits to be sent again
            assert [r for r in faultcheck.events(run[node], "drop") if r["to"] == peer], node
    for node in ("node1", "node2"):  # before the end of the run, nobody lost node3 or was lost by it
        assert not [r for r in faultcheck.events(run[node], "disconnected") if r["peer"] == "node3" and r["ts"] < 19]
        assert not [r for r in faultcheck.events(run["node3"], "disconnected") if r["peer"] == node and r["ts"] < 19]
    for link in summary["links"]:
        if "node3" in (link["from"], link["to"]):
            assert link["unaccounted"] == 0, link


def test_faults_are_deterministic(tmp_path: Path) -> None:
    faults = (
        Fault("kill", ("node2",), 3.0, 2.0),
        Fault("pause", ("node3",), 6.0, 2.5),
        Fault("isolate", ("node1",), 9.0, 3.0),
    )
    for name in ("a", "b"):
        faulty_run(tmp_path / name, 15, *faults)
    for node in ("node1.jsonl", "node2.jsonl", "node3.jsonl"):
        assert (tmp_path / "a" / node).read_bytes() == (tmp_path / "b" / node).read_bytes()


def test_loss_is_bounded_by_what_a_fault_had_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """faultcheck.check_loss on a clean run with one message taken out (node1 never takes it): a
    kill of node1 just before it would have taken it explains the loss; a fault long before does
    not (the old check let any loss on a faulted node's links pass); LOSS_BOUND 0 allows none."""
    sim = cluster(seed=3, env=ENV, rates=RATES, duration=10, jitter=0.0003)
    assert write_simulation(sim, tmp_path).ok
    path = tmp_path / "node1.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    n = next(
        i
        for i, r in enumerate(records)
        if r["event"] == "receive"
        and r["from"] == "node2"
        and r["ts"] > 5
        and r["clock"] == records[i - 1]["clock"] + 1
    )
    taken = records[n]
    records[n] = {k: v for k, v in taken.items() if k not in ("from", "value", "enq_ts")} | {"event": "internal"}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    run, summary = logcheck.load_run(tmp_path), analyse(analysis_load_run(tmp_path)).summary
    assert logcheck.check_clock_rules(run) == []  # only the message is gone
    assert summary["messages"]["lost"] == 1

    monkeypatch.setattr(faultcheck, "LOSS_BOUND", 1.0)  # at most once: all in flight may be lost
    just_before = faultcheck.LossyFault("kill", "node1", taken["ts"] - 0.001)
    assert faultcheck.check_loss(run, summary, [just_before]) == []
    long_before = faultcheck.LossyFault("kill", "node1", 1.0)
    problems = faultcheck.check_loss(run, summary, [long_before])
    assert any("node2->node1: lost 1 message(s) not in flight" in p for p in problems), problems
    monkeypatch.setattr(faultcheck, "LOSS_BOUND", 0.0)  # reliable delivery (the default)
    assert faultcheck.check_loss(run, summary, [just_before]) != []

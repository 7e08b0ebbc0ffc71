"""The simulator's outputs: JSON lines identical to the node format, deterministic, any N."""

import gc
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import load_run
from analysis.metrics import analyse
from node import simnet, simulation, virtual
from node.simlog import JsonLinesOutput
from node.simulate import main
from node.simulation import cluster, run_simulation, simulate, write_simulation
from tests import logcheck


def test_written_lines_are_exactly_what_json_dumps_gives(tmp_path: Path) -> None:
    sim = cluster(duration=20, seed=5, jitter=0.003, max_event_num=4, epoch=1.7e9)
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    run_simulation(sim, lambda node, record: records[node].append(record))
    write_simulation(sim, tmp_path)
    for node, expected in records.items():
        lines = (tmp_path / f"{node}.jsonl").read_text().splitlines()
        assert lines == [json.dumps(r) for r in expected]


def test_same_configuration_same_bytes(tmp_path: Path) -> None:
    sim = cluster(duration=30, seed=11, jitter=0.002)
    write_simulation(sim, tmp_path / "a")
    write_simulation(sim, tmp_path / "b")
    for name in ("node1.jsonl", "node2.jsonl", "node3.jsonl", "run.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_five_nodes_generalised_rule_and_analysis(tmp_path: Path) -> None:
    sim = cluster(5, duration=60, seed=2, max_event_num=8)
    write_simulation(sim, tmp_path)
    run = logcheck.load_run(tmp_path)
    assert logcheck.check_run(run, duration=60, max_event_num=8) == []
    # Draw k in 1..4 sends to one peer, 5 to all four: "send to all" carries four targets.
    sends = [r for records in run.values() for r in records if r["event"] == "send"]
    assert {len(r["to"]) for r in sends} == {1, 4}
    summary = analyse(load_run(tmp_path)).summary
    assert summary["messages"]["unaccounted"] == 0
    assert len(summary["links"]) == 20


def test_ties_go_deliveries_first_then_node_order() -> None:
    """Rates 1 and 1 with zero delay: both tick at t=0, node1 first; a message sent at t
    arrives at t and is seen by a tick at the same instant of a later node."""
    sim = cluster(2, rates={"node1": 1, "node2": 1}, duration=3, seed=1, delay=0.0, max_event_num=2)
    order: list[tuple[float, str, str]] = []
    run_simulation(sim, lambda node, r: order.append((r["ts"], node, r["event"])))
    ticks = [(ts, node) for ts, node, event in order if event in ("send", "receive", "internal")]
    assert ticks[:2] == [(0.0, "node1"), (0.0, "node2")]
    first_node2 = next(e for ts, node, e in order if node == "node2" and e in ("send", "receive", "internal"))
    assert first_node2 == "receive"  # node1's send at t=0 arrived at t=0, before node2's tick


def test_cli_writes_a_run_and_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    assert main(["--rates", "1,3,6", "--duration", "30", "--seed", "4", "--out", str(out)]) == 0
    assert "events/s" in capsys.readouterr().out
    run = logcheck.load_run(out)
    assert [run[n][0]["rate"] for n in ("node1", "node2", "node3")] == [1, 3, 6]
    assert main(["--rates", "1,2", "--out", str(tmp_path / "x")]) == 2
    assert main(["--nodes", "4", "--max-event-num", "3"]) == 2
    assert "MAX_EVENT_NUM='3': must be an integer from 4" in capsys.readouterr().err


def test_batches_of_any_size_write_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = cluster(4, duration=10, seed=3, max_event_num=6)
    write_simulation(sim, tmp_path / "big")
    monkeypatch.setattr(JsonLinesOutput, "BATCH", 1)
    monkeypatch.setattr(JsonLinesOutput, "MIN_BATCH", 1)  # a write per line
    write_simulation(sim, tmp_path / "small")
    for node in sim.node_ids:
        assert (tmp_path / "big" / f"{node}.jsonl").read_bytes() == (tmp_path / "small" / f"{node}.jsonl").read_bytes()


def test_a_big_cluster_connecting_at_once_is_no_livelock(monkeypatch: pytest.MonkeyPatch) -> None:
    """1,000 nodes dial 999,000 links at one instant, more than the heap's livelock bound of
    2**18 callbacks at one instant: the run failed ("livelock"). The bound grows with the links;
    here 20 nodes (380 links) stand in for 1,000, against a bound of 64."""
    monkeypatch.setattr(virtual, "LIVELOCK_CHECK", 64)
    monkeypatch.setattr(simulation, "LIVELOCK_CHECK", 64)
    outcome = simulate(cluster(20, duration=0.5, max_event_num=20, rates=dict.fromkeys(NODES20, 10)))
    assert outcome.ok, outcome.errors
    heap = virtual.EventHeap(same_instant=64)

    def again() -> None:
        heap.at(heap.now, again)

    heap.at(1.0, again)
    with pytest.raises(virtual.SimulationError, match="livelock: 64 callbacks"):
        heap.run(10.0)


NODES20 = [f"node{i}" for i in range(1, 21)]


def test_per_link_state_is_shared_while_idle() -> None:
    """Two deques per wire and one per outbound link were 2.3 kB of 4.9 kB per link (2.3 GB at
    1,000 nodes); an idle wire now holds none, and without NET_DELAY_MS all links share one."""
    wire = simnet.Wire("node1", "node2")
    assert wire.held is simnet.NOTHING
    assert wire.stuck is simnet.NOTHING
    with pytest.raises(TypeError):
        simnet.NOTHING.append(1)
    wire.hold(5)
    wire.stick(0, 6)
    assert (list(wire.held), list(wire.stuck), len(simnet.NOTHING)) == ([5], [6], 0)
    wire.empty()
    assert wire.held is simnet.NOTHING
    for env, shared in (({}, True), ({"NET_DELAY_MS": "5"}, False)):
        outcome = simulate(cluster(4, duration=1, seed=1, env=env))
        for core in outcome.cores.values():
            delayed = {id(out.delayed) for out in core.transport.out.values()}  # type: ignore[attr-defined]
            assert len(delayed) == (1 if shared else 3)


def test_the_cyclic_collector_is_back_on_after_a_run_even_a_failed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gc.isenabled()
    simulate(cluster(3, duration=1, seed=1))
    assert gc.isenabled()

    def broken(heap: virtual.EventHeap, until: float) -> None:
        assert not gc.isenabled()  # off while it runs
        raise virtual.SimulationError("broken")

    monkeypatch.setattr(virtual.EventHeap, "run", broken)
    with pytest.raises(virtual.SimulationError, match="broken"):
        simulate(cluster(3, duration=1, seed=1))
    assert gc.isenabled()

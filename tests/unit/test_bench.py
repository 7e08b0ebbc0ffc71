"""The benchmark suite's arithmetic: figures from logs (through the analysis), the ceiling search."""

import math
from typing import Any

import pytest

from bench.ceiling import next_probe
from bench.metrics import Latency, analyse_records


def node_records(node: str, rate: int, ticks: int, t0: float, late_s: float = 0.0) -> list[dict[str, Any]]:
    # Start and stop lines carry every field of the log format (node.schema), as a node writes them.
    start = {"rate": rate, "drawn_rate": rate, "seed": 1, "node_seed": 1, "resumed_clock": 0, "run_id": "test"}
    start.update(version="test", pid=0, config={}, format=2, time="real")
    records: list[dict[str, Any]] = [{"ts": t0 - 1, "node": node, "event": "start", "clock": 0, "queue": 0, **start}]
    for k in range(ticks):
        records.append(
            {
                "ts": t0 + k / rate + late_s,
                "node": node,
                "event": "internal",
                "clock": k + 1,
                "queue": 0,
                "tick": k,
                "late_ms": late_s * 1000,
            }
        )
    records.append(
        {
            "ts": t0 + ticks / rate,
            "node": node,
            "event": "stop",
            "clock": ticks,
            "queue": 0,
            "reason": "duration",
            "queue_by_peer": {},
            "ticks": ticks,
            "received": 0,
            "sent": 0,
            "internal": ticks,
            "dropped": 0,
            "skipped": 0,
            "unfinished": [],
        }
    )
    return records


def test_percentiles_are_the_analysis_definition() -> None:
    """Linear interpolation between ranks (analysis.stats.quantile), as in summary.json."""
    run = {"a": node_records("a", 100, 100, 1000.0)}
    for k, record in enumerate(r for r in run["a"] if r["event"] == "internal"):
        record["late_ms"] = float(k + 1)  # 1 .. 100 ms
    timing = analyse_records(run, duration=1)
    assert timing.nodes["a"].late_p50_ms == pytest.approx(50.5)
    assert timing.nodes["a"].late_p99_ms == pytest.approx(99.01)
    assert timing.nodes["a"].late_max_ms == 100
    assert math.isnan(timing.latency.p50_ms)  # no messages: nothing to measure
    assert Latency().count == 0


def test_a_node_on_its_deadlines_scores_one_and_a_slow_one_less() -> None:
    run = {
        "a": node_records("a", 100, 1000, 1000.0),
        "b": node_records("b", 100, 1000, 1000.0),
    }
    # b's ticks run 0.2 % slow: the same count of ticks over a longer span.
    for record in run["b"]:
        if record["event"] == "internal":
            record["ts"] = 1000.0 + record["tick"] / 100 * 1.002
    timing = analyse_records(run, duration=10)
    assert timing.nodes["a"].ratio == pytest.approx(1.0)
    assert timing.nodes["b"].ratio == pytest.approx(1 / 1.002)
    assert timing.passes(0.999) is False
    assert timing.nodes["a"].passes(0.999)


def test_missing_ticks_fail_even_at_the_right_pace() -> None:
    run = {"a": node_records("a", 100, 900, 1000.0)}  # 9 s of a 10 s run
    timing = analyse_records(run, duration=10)
    assert timing.nodes["a"].ratio == pytest.approx(1.0)
    assert not timing.passes(0.999)
    assert "900 of 1000 ticks" in timing.problems[0]


def test_message_latency_matches_sends_and_receives_by_value_per_link() -> None:
    a = node_records("a", 10, 3, 100.0)
    b = node_records("b", 10, 3, 100.0)
    a[1].update(event="send", to=["b"], value=1)  # ts 100.0
    a[2].update(event="send", to=["b"], value=2)  # ts 100.1
    b[2].update(event="receive", **{"from": "a"}, value=1, enq_ts=100.0005)
    b[3].update(event="receive", **{"from": "a"}, value=2, enq_ts=100.1015)
    timing = analyse_records({"a": a, "b": b}, duration=0.3)
    assert timing.latency.count == 2
    assert timing.latency.unmatched == 0
    assert timing.latency.p50_ms == pytest.approx(1.0)  # midway between 0.5 and 1.5 (linear interpolation)
    assert timing.latency.max_ms == pytest.approx(1.5)
    b[3]["value"] = 7  # never sent on a->b
    timing = analyse_records({"a": a, "b": b}, duration=0.3)
    assert timing.latency.unmatched == 1
    assert timing.problems


@pytest.mark.parametrize(
    ("passed", "failed", "capacity", "probe"),
    [
        ([10000], [], None, 15000),  # nothing known above: half as much again
        ([10000], [], 40000, 28000),  # 70 % of what the nodes run flat out
        ([10000, 28000], [], 40000, 34000),  # then between that and the capacity
        ([10000, 28000], [34000], 40000, 31000),
        ([10000, 30000], [31000], 40000, None),  # close enough
        ([10000], [28000], 40000, 17000),  # 70 % failed: bisect below it (geometric mean)
        ([10000, 17000], [28000], 40000, 22000),  # (arithmetic when close)
        ([1000], [10000], 30000, 3200),  # a listed rate failed: search below it
        ([10000, 12000], [], 17750, 15000),  # 70 % of the capacity rounds to a rate already passed
    ],
)
def test_ceiling_search(passed: list[int], failed: list[int], capacity: float | None, probe: int | None) -> None:
    assert next_probe(passed, failed, capacity) == probe

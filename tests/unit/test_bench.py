"""The benchmark suite's arithmetic: figures from logs, the ceiling search, the report."""

import math
from typing import Any

import pytest

from bench.metrics import analyse_records, percentile
from bench.suite import next_probe


def node_records(node: str, rate: int, ticks: int, t0: float, late_s: float = 0.0) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        {"ts": t0 - 1, "node": node, "event": "start", "clock": 0, "queue": 0, "rate": rate}
    ]
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
            "skipped": 0,
            "dropped": 0,
        }
    )
    return records


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert math.isnan(percentile([], 0.5))


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
    assert timing.latency.p50_ms == pytest.approx(0.5)
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

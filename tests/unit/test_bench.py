"""The benchmark suite's arithmetic: figures from logs (through the analysis), the ceiling search."""

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import ceiling
from bench.ceiling import next_probe, on_time
from bench.lateness import attribute
from bench.metrics import Latency, analyse_records
from bench.options import CAPACITY_RATE, parse_args, plan
from bench.profile import ROOT
from bench.progress import Progress


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
        ([], [], None, 10000),  # start near the expected value
        ([10000], [], None, 20000),  # then the aim
        ([10000, 20000], [], None, 30000),  # both held: half as much again
        ([10000, 20000], [], 25000.0, 25000),  # ... never past what the nodes run flat out
        ([10000, 20000, 25000], [], 25000.0, None),
        ([10000], [20000], None, 15000),  # bisect
        ([10000, 15000], [20000], None, 18000),
        ([10000, 15000, 18000], [20000], None, None),  # close enough (2 steps, or 10 %)
        ([], [10000], None, 5000),  # 10000 failed: 20000 is not tried, half as much is
        ([], [10000, 5000], None, 2500),
        ([5000], [10000], None, 8000),
        ([], [1500], None, None),  # below LOWEST_PROBE: give up
    ],
)
def test_ceiling_search(passed: list[int], failed: list[int], capacity: float | None, probe: int | None) -> None:
    assert next_probe(passed, failed, capacity) == probe


def _summary(rate: int, ratio: float, p99_ms: float, others: float = 3.0) -> dict[str, Any]:
    """What bench.runs.run_nodes returns, with only what the ceiling reads."""
    nodes = {n: {"rate": rate, "ratio": ratio, "cpu_percent": 40.0} for n in ("node1", "node2", "node3")}
    ok = ratio >= 0.999
    return {"rate": rate, "pass": ok, "min_ratio": ratio, "late_p50_ms": 0.05, "late_p99_ms": p99_ms} | {
        "other_cpu_percent": others,
        "problems": [],
        "nodes": nodes,
        "startup_s": 1.0,
        "latency": {},
    }


def test_a_run_is_on_time_only_with_its_rate_held_and_p99_within_the_bound() -> None:
    assert on_time(_summary(10000, 1.0, 0.9), 1.0)
    assert not on_time(_summary(10000, 1.0, 1.1), 1.0)
    assert not on_time(_summary(10000, 0.998, 0.2), 1.0)  # late by its rate, not by its ticks


def test_the_ceiling_needs_every_run_on_time_and_keeps_the_rate_only_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs at 10000/s are on time; at 20000/s the second run's p99 is 3 ms (the probe stops
    there: no third run); 15000/s holds, after its first run failed while other work took 80 % of
    a core (run again, once). Flat out 40000/s; the rate-only run at 32000/s holds on average with
    p99 200 ms: the ceiling is 15000, the rate-only figure 32000."""
    calls: list[tuple[int, str]] = []

    def fake_run(rate: int, duration: float, tag: str, options: Any) -> dict[str, Any]:
        calls.append((rate, tag))
        if rate == CAPACITY_RATE:
            return _summary(rate, 40000 / CAPACITY_RATE, 900.0)
        if tag == "ceiling-15000-1":
            return _summary(rate, 1.0, 5.0, others=80.0)
        p99 = {20000: 3.0 if tag.endswith("-2") else 0.8, 32000: 200.0}.get(rate, 0.4)
        return _summary(rate, 1.0, p99)

    monkeypatch.setattr(ceiling, "run_nodes", fake_run)
    options = parse_args(["--ceiling-probes", "3"], "test")
    progress = Progress(plan(options))
    result = ceiling.search([], options, progress)
    assert [c[1] for c in calls] == [
        "capacity",
        "rate-only-32000",
        "ceiling-10000-1",
        "ceiling-10000-2",
        "ceiling-10000-3",
        "ceiling-20000-1",
        "ceiling-20000-2",
        "ceiling-15000-1",
        "ceiling-15000-1-again",
        "ceiling-15000-2",
        "ceiling-15000-3",
    ]
    assert (result["on_time_highest_pass"], result["on_time_lowest_fail"]) == (15000, 20000)
    assert [(p["rate"], p["pass"], len(p["runs"]), p["late_p99_ms"]) for p in result["probes"]] == [
        (10000, True, 3, 0.4),
        (20000, False, 2, 3.0),
        (15000, True, 3, 0.4),
    ]
    assert (result["highest_pass"], result["capacity"]) == (32000, 40000)
    assert result["rate_only_probe"]["late_p99_ms"] == 200.0
    assert [[r["late_p99_ms"] for r in p["repeated"]] for p in result["probes"]] == [[], [], [5.0]]


def test_a_late_ticks_lateness_is_split_along_the_nodes_timeline() -> None:
    """A tick due at 1.0 s starts at 3.0 s. The loop's wait should have ended at 1.0 s but ended at
    1.5 s, 0.3 s of it in the run queue; then 1.5 s of callbacks, 0.5 s of it a collection and
    0.5 s of it in the run queue. (Seconds: the arithmetic is the point, not the scale.)"""
    timeline = {
        # enter, timeout, exit, cpu at enter, run-queue time at enter, cpu at exit, run-queue time at exit
        "waits": [0.0, 1.0, 1.5, 0.0, 0.0, 0.0, 0.3, 3.0, 0.0, 3.0, 0.0, 0.8, 0.0, 0.8],
        "gcs": [2.0, 2.5, 0.0],
        "writes": [],
        "ticks": [3.0, 2.0, 3.0, 0.00005],  # the second tick is on time: not attributed
    }
    result = attribute(timeline, threshold_s=0.001)
    assert result["late_ticks"] == 1
    assert result["share"] == pytest.approx(
        {
            "woke late: waiting for a CPU": 0.3 / 2,
            "woke late: timer / VM": 0.2 / 2,
            "asleep past the deadline": 0.0,
            "busy: garbage collection": 0.5 / 2,
            "busy: slow log write": 0.0,
            "busy: preempted": 1.0 / 3 / 2,  # the rest of the callbacks' 1.0 s, a third of it queued
            "busy: work": 2.0 / 3 / 2,
        },
        abs=1e-4,
    )
    assert result["dominant"]["busy: work"] == 1


def test_a_profiled_node_still_writes_its_profile_when_it_ends_with_os_exit(tmp_path: Path) -> None:
    """The node ends its process with os._exit (node.__main__), which skips `finally` blocks:
    bench.profile's child dumped its profile in one, so the profile never reached the disk and the
    suite's profile step failed. node_child runs the hook just before the exit."""
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "__init__.py").write_text("")
    (tmp_path / "node" / "__main__.py").write_text("import os\n\n\ndef main():\n    os._exit(3)\n")
    marker = tmp_path / "dumped"
    script = (
        "import pathlib, sys\n"
        "from bench.profile import node_child\n"
        f"node_child(pathlib.Path({str(tmp_path)!r}), lambda: pathlib.Path({str(marker)!r}).write_text('x'))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert result.returncode == 3
    assert marker.read_text() == "x"

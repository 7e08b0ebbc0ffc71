"""The throughput ceiling: the highest rate per node at which every node holds its rate *and*
starts its ticks on time, run after run; beside it, the rate-only figures it replaced.

A probe rate passes when, in each of `ceiling_runs` runs of `ceiling_duration` s (three of 60 s
by default), every node's achieved/configured is at least the threshold (0.999) and the worst
node's tick lateness p99 is at most `ceiling_p99_ms` (1 ms). A probe stops at its first failing
run; a failed run during which other work took more than a quarter of a core is run again, once
per probe (DISTURBED_PERCENT). The search starts near the expected value (FIRST_PROBES: 10,000/s, then 20,000/s), then
goes up by half or bisects between the highest pass and the lowest failure. The ceiling is the
highest passing rate.

The former definition, by average rate alone, is kept as separate figures: the capacity (the
nodes asked for far more than they can run: flat out) and the highest rate every node held on
average in any run of the suite, with one run at RATE_ONLY_PROBE of the capacity for it.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from bench.cluster import NODES
from bench.options import CAPACITY_RATE, Options
from bench.progress import Progress, say
from bench.runs import run_line, run_nodes

FIRST_PROBES = (10_000, 20_000)  # where the search starts: the 10,000/s, and its aim
# A failed run during which the rest of the machine (not the nodes: Docker, the suite, anything
# else) used more than this share of a core measured the machine, not the nodes: it is run again,
# once per probe. (Quiet runs show 0-5 %; on this host the three containers together weigh as much
# as any one other session's process: bench/findings.md section 9.)
DISTURBED_PERCENT = 25.0
# Of the capacity: one run for the rate-only figure (at 90 % a quiet suite run held only 0.9953).
RATE_ONLY_PROBE = 0.8
LOWEST_PROBE = 1000  # below this the search gives up (something else is wrong)


def next_probe(passed: list[int], failed: list[int], capacity: float | None) -> int | None:
    """The next rate to probe for the ceiling, None when the search is narrow enough.

    FIRST_PROBES in order while they lie between the highest pass and the lowest failure above
    it; then half as much again above a pass with no failure above it (never past the capacity,
    the rate the nodes ran flat out), half as much below a failure with no pass, or the middle.
    """
    lo = max(passed, default=0)
    hi = min((f for f in failed if f > lo), default=None)
    for rate in FIRST_PROBES:
        if rate not in passed and rate not in failed and lo < rate and (hi is None or rate < hi):
            return rate
    if hi is None:
        top = capacity if capacity is not None else math.inf
        probe = _round_rate(min(1.5 * lo, top))
        return probe if lo < probe else None
    if lo == 0:
        probe = _round_rate(hi / 2)
        return probe if LOWEST_PROBE <= probe < hi else None
    middle = (lo + hi) / 2
    probe = _round_rate(middle)
    if hi - lo <= max(2 * _step(middle), 0.1 * lo) or not lo < probe < hi:
        return None
    return probe


def _step(rate: float) -> int:
    return 1000 if rate >= 5000 else 100


def _round_rate(rate: float) -> int:
    return int(round(rate / _step(rate)) * _step(rate))


def on_time(summary: dict[str, Any], max_p99_ms: float) -> bool:
    """One run's verdict: every node held its rate (bench.runs' pass) and the worst node's tick
    lateness p99 is within `max_p99_ms`."""
    return bool(summary["pass"]) and summary["late_p99_ms"] <= max_p99_ms


def disturbed(summary: dict[str, Any]) -> bool:
    """Whether other work on the machine used more than DISTURBED_PERCENT of a core during a run."""
    return (summary["other_cpu_percent"] or 0.0) > DISTURBED_PERCENT


def capacity_of(summary: dict[str, Any]) -> float | None:
    """Ticks/s the slowest node ran at when asked for far more than it can do."""
    rates = [n["ratio"] * n["rate"] for n in summary["nodes"].values()]
    return min(rates) if len(rates) == len(NODES) else None


def search(runs: list[dict[str, Any]], options: Options, progress: Progress) -> dict[str, Any]:
    """The `ceiling` entry of bench/results.json: capacity, the rate-only run, the probes.

    `runs`: the suite's rate points (they count for the rate-only figure; a single run is not
    enough for the ceiling)."""
    capacity = None
    rate_only: dict[str, Any] | None = None
    probes: list[dict[str, Any]] = []
    if "ceiling" not in options.skip:
        flat_out = progress.run(
            f"capacity: nodes asked for {CAPACITY_RATE}/s for {options.capacity_duration:g} s (they run flat out)",
            partial(run_nodes, CAPACITY_RATE, options.capacity_duration, "capacity", options),
        )
        capacity = capacity_of(flat_out)
        say(f"capacity: {capacity and round(capacity)} ticks/s per node (slowest node); {run_line(flat_out)}")
        if capacity is not None:
            rate = _round_rate(RATE_ONLY_PROBE * capacity)
            rate_only = progress.run(
                f"rate only: nodes at {rate}/s ({RATE_ONLY_PROBE:.0%} of flat out) for {options.ceiling_duration:g} s",
                partial(run_nodes, rate, options.ceiling_duration, f"rate-only-{rate}", options),
            )
            say(run_line(rate_only))
        else:
            progress.skip()
        probes = _probe(capacity, options, progress)
    held = [*runs, *(r for p in probes for r in p["runs"]), *([rate_only] if rate_only else [])]
    passed = [p["rate"] for p in probes if p["pass"]]
    highest = max(passed, default=None)
    rate_only_high = max((r["rate"] for r in held if r["pass"]), default=None)
    return {
        "criteria": {
            "threshold": options.threshold,
            "p99_ms": options.ceiling_p99_ms,
            "runs": options.ceiling_runs,
            "duration_s": options.ceiling_duration,
        },
        "on_time_highest_pass": highest,
        "on_time_lowest_fail": min(
            (p["rate"] for p in probes if not p["pass"] and (highest is None or p["rate"] > highest)), default=None
        ),
        # The former, rate-only figures (bench/compare.py compares these with older baselines).
        "highest_pass": rate_only_high,
        "lowest_fail": min(
            (r["rate"] for r in held if not r["pass"] and (rate_only_high is None or r["rate"] > rate_only_high)),
            default=None,
        ),
        "capacity": None if capacity is None else round(capacity),
        "capacity_run_s": options.capacity_duration,
        "rate_only_probe": None if rate_only is None else run_row(rate_only),
        "probes": [{**p, "runs": [run_row(r) for r in p["runs"]]} for p in probes],
    }


def _probe(capacity: float | None, options: Options, progress: Progress) -> list[dict[str, Any]]:
    """Up to `ceiling_probes` rates, each run up to `ceiling_runs` times (stopping at a failure)."""
    passed: list[int] = []
    failed: list[int] = []
    probes: list[dict[str, Any]] = []
    n_runs, seconds = options.ceiling_runs, options.ceiling_duration
    for n in range(options.ceiling_probes):
        rate = next_probe(passed, failed, capacity)
        if rate is None:
            for _ in range(options.ceiling_probes - n):
                progress.skip()
            break
        progress.step(f"ceiling probe {n + 1}: nodes at {rate}/s, {n_runs} runs of {seconds:g} s")
        per_run = progress.estimates[progress.index - 1][1] / n_runs
        runs: list[dict[str, Any]] = []
        repeated: list[dict[str, Any]] = []  # failed runs the machine disturbed, run again
        for i in range(n_runs):
            progress.part(f"{rate}/s run {i + 1}/{n_runs}", per_run * (n_runs - i))
            summary = run_nodes(rate, seconds, f"ceiling-{rate}-{i + 1}", options)
            held = on_time(summary, options.ceiling_p99_ms)
            say(f"{'on time' if held else 'NOT on time'}: {run_line(summary)}")
            if not held and disturbed(summary) and not repeated:
                repeated.append(run_row(summary))
                say(f"the rest of the machine used {summary['other_cpu_percent']:.0f} % of a core: run {i + 1} again")
                summary = run_nodes(rate, seconds, f"ceiling-{rate}-{i + 1}-again", options)
                held = on_time(summary, options.ceiling_p99_ms)
                say(f"{'on time' if held else 'NOT on time'}: {run_line(summary)}")
            runs.append(summary)
            if not held:
                break
        progress.finished()
        ok = len(runs) == n_runs and all(on_time(r, options.ceiling_p99_ms) for r in runs)
        (passed if ok else failed).append(rate)
        probes.append({**probe_row(rate, ok, runs), "repeated": repeated})
        say(f"ceiling probe {rate}/s: {'passed' if ok else 'failed'} ({len(runs)} of {n_runs} runs)")
    return probes


def probe_row(rate: int, ok: bool, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One probe rate over its runs: the worst figures of any run and node; `runs` kept whole."""
    cpu: dict[str, list[float]] = {}
    for r in runs:
        for node, v in r["nodes"].items():
            if v["cpu_percent"] is not None:
                cpu.setdefault(node, []).append(v["cpu_percent"])
    others = [r["other_cpu_percent"] for r in runs if r["other_cpu_percent"] is not None]
    return {
        "rate": rate,
        "pass": ok,
        "min_ratio": min(r["min_ratio"] for r in runs),
        "late_p50_ms": max(r["late_p50_ms"] for r in runs),
        "late_p99_ms": max(r["late_p99_ms"] for r in runs),
        "cpu_percent": {node: round(sum(v) / len(v), 1) for node, v in cpu.items()},  # mean over runs
        "other_cpu_percent": max(others, default=None),
        "problems": [p for r in runs for p in r["problems"]],
        "runs": runs,
    }


def run_row(summary: dict[str, Any]) -> dict[str, Any]:
    """One run of a probe, as bench/results.json keeps it."""
    return {
        "rate": summary["rate"],
        "pass": summary["pass"],
        "min_ratio": summary["min_ratio"],
        "late_p50_ms": summary["late_p50_ms"],
        "late_p99_ms": summary["late_p99_ms"],
        "cpu_percent": {n: v["cpu_percent"] for n, v in summary["nodes"].items()},
        "other_cpu_percent": summary["other_cpu_percent"],
        "problems": summary["problems"],
    }

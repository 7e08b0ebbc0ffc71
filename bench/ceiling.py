"""The throughput ceiling: the nodes' flat-out capacity, then probes below it, bisecting between the
best rate all three held and the lowest one they did not."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from bench.cluster import NODES
from bench.options import CAPACITY_RATE, Options
from bench.progress import Progress, say
from bench.runs import run_line, run_nodes

FIRST_PROBE = 0.7  # of the capacity


def next_probe(passed: list[int], failed: list[int], capacity: float | None) -> int | None:
    """The next rate to try for the ceiling, None when the search is narrow enough.

    `capacity`: ticks/s per node when running flat out. No node holds that for a minute: below
    saturation a node sleeps between ticks, and every wake-up costs CPU (bench/findings.md), so
    the first probe is at 70 % of it; then bisect between the best pass and the lowest failure.
    Without a capacity, step up by half until something fails.
    """
    lo = max(passed, default=0)
    bounds = [float(f) for f in failed if f > lo]
    if capacity is not None and capacity > lo:
        bounds.append(capacity * 1.02)
    hi = min(bounds, default=None)
    if hi is None:
        return _round_rate(1.5 * lo) if lo > 0 else None
    first = _round_rate(FIRST_PROBE * capacity) if capacity is not None else 0
    if not any(f > lo for f in failed) and lo < first < hi:
        return first
    middle = (lo + hi) / 2 if hi < 2 * lo else math.sqrt(max(lo, 1) * hi)
    probe = _round_rate(middle)
    if hi - lo <= max(2 * _step(middle), 0.03 * lo) or not lo < probe < hi:
        return None
    return probe


def _step(rate: float) -> int:
    return 1000 if rate >= 5000 else 100


def _round_rate(rate: float) -> int:
    return int(round(rate / _step(rate)) * _step(rate))


def capacity_of(summary: dict[str, Any]) -> float | None:
    """Ticks/s the slowest node ran at when asked for far more than it can do."""
    rates = [n["ratio"] * n["rate"] for n in summary["nodes"].values()]
    return min(rates) if len(rates) == len(NODES) else None


def search(runs: list[dict[str, Any]], options: Options, progress: Progress) -> dict[str, Any]:
    """Measure the capacity, then probe (unless skipped); the `ceiling` entry of bench/results.json."""
    passed = [r["rate"] for r in runs if r["pass"]]
    failed = [r["rate"] for r in runs if not r["pass"]]
    capacity = None
    probes: list[dict[str, Any]] = []
    if "ceiling" not in options.skip:
        flat_out = progress.run(
            f"capacity: nodes asked for {CAPACITY_RATE}/s for {options.capacity_duration:g} s (they run flat out)",
            partial(run_nodes, CAPACITY_RATE, options.capacity_duration, "capacity", options),
        )
        capacity = capacity_of(flat_out)
        say(f"capacity: {capacity and round(capacity)} ticks/s per node (slowest node); {run_line(flat_out)}")
        probes = _probe(passed, failed, capacity, options, progress)
    highest = max(passed, default=None)
    return {
        "highest_pass": highest,
        "lowest_fail": min((f for f in failed if highest is None or f > highest), default=None),
        "capacity": None if capacity is None else round(capacity),
        "capacity_run_s": options.capacity_duration,
        "probes": [probe_row(p) for p in probes],
    }


def _probe(
    passed: list[int], failed: list[int], capacity: float | None, options: Options, progress: Progress
) -> list[dict[str, Any]]:
    """Up to `ceiling_probes` runs at the rates next_probe picks; `passed` and `failed` grow."""
    probes: list[dict[str, Any]] = []
    for n in range(options.ceiling_probes):
        probe = next_probe(passed, failed, capacity)
        if probe is None:
            for _ in range(options.ceiling_probes - n):
                progress.skip()
            break
        summary = progress.run(
            f"ceiling probe {n + 1}: nodes at {probe}/s for {options.ceiling_duration:g} s",
            partial(run_nodes, probe, options.ceiling_duration, f"ceiling-{probe}", options),
        )
        probes.append(summary)
        say(run_line(summary))
        (passed if summary["pass"] else failed).append(probe)
    return probes


def probe_row(summary: dict[str, Any]) -> dict[str, Any]:
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

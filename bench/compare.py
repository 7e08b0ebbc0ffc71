"""BENCHMARKS.md's before/after table: today's figures beside those of an earlier code version
(bench/baseline.json, written by bench.baseline), row by row, with the same definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).with_name("baseline.json")


def load_baseline(path: Path = BASELINE) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _rows(results: dict[str, Any], base: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    before = {r["rate"]: r for r in base["rates"]}
    for run in results["rates"]:
        old = before.get(run["rate"])
        if old is None:
            continue
        rate = run["rate"]
        nodes = run["nodes"].values()
        rows.append(
            (f"achieved/configured at {rate}/s (worst node)", f"{old['min_ratio']:.5f}", f"{run['min_ratio']:.5f}")
        )
        rows.append(
            (
                f"tick lateness at {rate}/s, p50 / p99 ms (worst node)",
                f"{_num(old['late_p50_ms'])} / {_num(old['late_p99_ms'])}",
                f"{_num(run['late_p50_ms'])} / {_num(run['late_p99_ms'])}",
            )
        )
        if rate >= 100:
            lat = run["latency"]
            rows.append(
                (
                    f"message latency at {rate}/s, p50 / p99 ms",
                    f"{_num(old['latency_p50_ms'])} / {_num(old['latency_p99_ms'])}",
                    f"{_num(lat['p50_ms'])} / {_num(lat['p99_ms'])}",
                )
            )
        if rate in (6, 1000, 10000):
            cpu_old = ", ".join(f"{c:.1f}" for c in old["cpu_percent"] if c is not None)
            cpu_new = ", ".join(f"{n['cpu_percent']:.1f}" for n in nodes if n["cpu_percent"] is not None)
            rows.append((f"CPU per node at {rate}/s, % of one core", cpu_old, cpu_new))
    ceiling, old_ceiling = results.get("ceiling", {}), base.get("ceiling", {})
    rows.append(
        (
            "throughput ceiling (all three >= 0.999) / flat out, ticks/s per node",
            f"{old_ceiling.get('highest_pass')} / {old_ceiling.get('capacity')}",
            f"{ceiling.get('highest_pass')} / {ceiling.get('capacity')}",
        )
    )
    start, old_start = results.get("startup", {}), base.get("startup", {})
    rows.append(
        (
            "start-up to the first tick of all nodes, median s",
            _num(old_start.get("median_s"), 2),
            _num(start.get("median_s"), 2),
        )
    )
    analysis, old_analysis = results.get("analysis") or {}, base.get("analysis") or {}
    rows.append(
        (
            "analysis of 1M lines with plots, s",
            _num(old_analysis.get("analysis_s"), 2),
            _num(analysis.get("analysis_s"), 2),
        )
    )
    sim, old_sim = results.get("simulator"), base.get("simulator")
    if sim and old_sim:
        for key, what in (("no_output", "without output"), ("json_lines", "as JSON lines")):
            rows.append(
                (
                    f"simulator, events/s {what} (median of 3)",
                    f"{old_sim[key]['events_per_s_median']:,}",
                    f"{sim[key]['events_per_s_median']:,}",
                )
            )
    return rows


def before_after(results: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    """The section's lines; none without a baseline."""
    if base is None:
        return []
    code = results["machine"]["git"]
    lines = [
        "## Before and after",
        "",
        f"The same suite: before = code `{base['code']}` ({base['date']}, `{base['command']}`), "
        f"after = code `{code}` ({results['date']}). {base.get('note', '')}".rstrip(),
        "",
        "| figure | before | after |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {old} | {new} |" for name, old, new in _rows(results, base)]
    return [*lines, ""]

"""The nodes at one rate: their environment, the run (bench.cluster), its row of bench/results.json."""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from bench.cluster import NODES, ClusterRun, compose_files, run_cluster
from bench.metrics import RunTiming, analyse_run
from bench.options import RAW, Options
from node.config import DEFAULTS

SEED = "1"


def node_env(rate: int, duration: float, run_id: str) -> dict[str, str]:
    """Every node pinned to `rate`; the rest of the configuration is .env's defaults."""
    return {
        **{f"{node.upper()}_CLOCK_RATE": str(rate) for node in NODES},
        "MIN_CLOCK_RATE": DEFAULTS["MIN_CLOCK_RATE"],
        "MAX_CLOCK_RATE": str(max(int(DEFAULTS["MAX_CLOCK_RATE"]), rate)),
        "DURATION": f"{duration:g}",
        "SEED": SEED,
        "RUN_ID": run_id,
        "MAX_EVENT_NUM": DEFAULTS["MAX_EVENT_NUM"],
        "STATUS_INTERVAL": DEFAULTS["STATUS_INTERVAL"],
    }


def run_nodes(
    rate: int, duration: float, tag: str, options: Options, extra: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The three nodes at `rate` for `duration` s (more variables in `extra`); their figures and verdict."""
    logs = RAW / tag
    shutil.rmtree(logs, ignore_errors=True)
    output = RAW / f"{tag}.out"
    env = {**node_env(rate, duration, tag), **(extra or {})}
    run = run_cluster(logs, env, duration + 120, output, compose_files(options.node_image, RAW))
    timing = analyse_run(logs / tag, duration, run.launched_at)
    summary = {"rate": rate, "duration": duration, **dict(extra or {}), **node_summary(timing, run, options.threshold)}
    if any(code != 0 for code in run.exit_codes.values()) or len(run.exit_codes) < 4:
        summary["pass"] = False
        summary["problems"].append(f"exit codes {run.exit_codes} (output: {output})")
    if not options.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return summary


def node_summary(timing: RunTiming, run: ClusterRun, threshold: float) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for name, t in timing.nodes.items():
        cpu = rss = None
        if run.sampler is not None:
            cpu = run.sampler.cpu_percent(name, t.first_tick_ts + 1.0, t.last_tick_ts - 0.5)
            rss = run.sampler.rss_mb(name, t.first_tick_ts, t.last_tick_ts)
        nodes[name] = {
            "rate": t.rate,
            "ticks": t.ticks,
            "expected": t.expected,
            "ratio": round(t.ratio, 7),
            "late_p50_ms": t.late_p50_ms,
            "late_p99_ms": t.late_p99_ms,
            "late_p999_ms": t.late_p999_ms,
            "late_max_ms": t.late_max_ms,
            "cpu_percent": None if cpu is None else round(cpu, 2),
            "rss_mb": None if rss is None else round(rss, 1),
            "dropped": t.dropped,
        }
    machine_cpu = others = None
    if run.sampler is not None and timing.nodes:
        start = max(t.first_tick_ts for t in timing.nodes.values()) + 1.0
        end = min(t.last_tick_ts for t in timing.nodes.values()) - 0.5
        machine_cpu = run.sampler.system_percent(start, end)
        cpus = [n["cpu_percent"] for n in nodes.values()]
        if machine_cpu is not None and None not in cpus:
            others = machine_cpu - sum(c for c in cpus if c is not None)
    return {
        "pass": timing.passes(threshold),
        "min_ratio": round(timing.min_ratio(), 7),
        "late_p50_ms": max((n["late_p50_ms"] for n in nodes.values()), default=math.nan),
        "late_p99_ms": max((n["late_p99_ms"] for n in nodes.values()), default=math.nan),
        "late_max_ms": max((n["late_max_ms"] for n in nodes.values()), default=math.nan),
        "latency": asdict(timing.latency),
        "startup_s": None if timing.startup_s is None else round(timing.startup_s, 3),
        "first_tick_spread_ms": round(timing.first_tick_spread_ms, 2),
        "lines": timing.lines,
        "lines_per_s": round(timing.lines / run_seconds(timing), 1),
        "machine_cpu_percent": None if machine_cpu is None else round(machine_cpu, 1),
        "other_cpu_percent": None if others is None else round(others, 1),
        "other_containers": run.other_containers,
        "exit_codes": run.exit_codes,
        "problems": timing.problems,
        "nodes": nodes,
    }


def run_seconds(timing: RunTiming) -> float:
    spans = [n.last_tick_ts - n.first_tick_ts for n in timing.nodes.values()]
    return max(max(spans, default=1.0), 1e-3)


def run_line(summary: dict[str, Any]) -> str:
    """A run's figures in one line, for the terminal."""
    ratios = " ".join(f"{n['ratio']:.5f}" for n in summary["nodes"].values())
    cpu = " ".join(f"{n['cpu_percent'] or 0:.0f}%" for n in summary["nodes"].values())
    verdict = "pass" if summary["pass"] else "FAIL " + "; ".join(summary["problems"])
    others = summary["other_cpu_percent"]
    return (
        f"achieved/configured {ratios}; late p50 {summary['late_p50_ms']:.3f} p99 {summary['late_p99_ms']:.3f} "
        f"ms; CPU {cpu} (rest of the machine {others if others is None else round(others)}%); "
        f"start-up {summary['startup_s']} s; {verdict}"
    )

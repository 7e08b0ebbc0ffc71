"""BENCHMARKS.md from the suite's results (bench/results.json), plus the hand-written findings
(bench/findings.md: what limited the ceiling, what was changed, before/after)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.compare import before_after, load_baseline
from bench.report_tables import (
    ceiling_headline,
    ceiling_table,
    detail,
    many_nodes_limits,
    many_nodes_table,
    micro_table,
    profile_table,
    reference_table,
)
from bench.simspeed import many_row
from bench.textformat import by_rate, cpu, mb, num, rss, verdict

FINDINGS = Path(__file__).with_name("findings.md")
# Tick lateness targets (worst node): (text, p50 ms, p99 ms); issue 15 aims at 0.5 ms at 10,000/s.
LATENESS_TARGETS = {1000: ("p50 <= 0.2 ms, p99 <= 1 ms", 0.2, 1.0), 10000: ("p99 <= 0.5 ms", math.inf, 0.5)}


def headline(results: dict[str, Any]) -> list[str]:
    runs = by_rate(results)
    threshold = results["config"]["threshold"]
    lines = ["| figure | target | measured | verdict |", "| --- | --- | --- | --- |"]
    for rate, run in runs.items():
        ratios = ", ".join(f"{n['ratio']:.5f}" for n in run["nodes"].values())
        lines.append(
            f"| rate fidelity at {rate}/s: achieved/configured of node1, node2, node3 "
            f"| >= {threshold} each | {ratios} | {verdict(run['pass'])} |"
        )
    for rate, run in runs.items():
        target = LATENESS_TARGETS.get(rate, ("(reported)", 0.0, 0.0))
        ok = run["late_p50_ms"] <= target[1] and run["late_p99_ms"] <= target[2]
        lines.append(
            f"| tick lateness at {rate}/s (worst node) | {target[0]} | p50 {num(run['late_p50_ms'])}, "
            f"p99 {num(run['late_p99_ms'])}, max {num(run['late_max_ms'], 2)} ms "
            f"| {verdict(ok) if rate in LATENESS_TARGETS else ''} |"
        )
    lines += ceiling_headline(results)
    for rate in (100, 1000):
        if rate in runs:
            lat = runs[rate]["latency"]
            lines.append(
                f"| message latency send -> enqueue at {rate}/s ({lat['count']:,} messages) | (reported) "
                f"| p50 {num(lat['p50_ms'])}, p99 {num(lat['p99_ms'])}, max {num(lat['max_ms'], 2)} ms | |"
            )
    delayed = results.get("net_delay")
    if delayed:
        lat = delayed["latency"]
        lines.append(
            f"| message latency with `NET_DELAY_MS={delayed['NET_DELAY_MS']}` at {delayed['rate']}/s "
            f"({lat['count']:,} messages) | >= {delayed['NET_DELAY_MS']} ms "
            f"| p50 {num(lat['p50_ms'])}, p99 {num(lat['p99_ms'])}, min {num(lat.get('min_ms'))}, "
            f"max {num(lat['max_ms'], 2)} ms; "
            f"achieved/configured {delayed['min_ratio']:.5f} (worst) "
            f"| {verdict(lat.get('min_ms') is not None and lat['min_ms'] >= float(delayed['NET_DELAY_MS']))} |"
        )
    startup = results.get("startup", {})
    if startup.get("median_s") is not None:
        lines.append(
            f"| start-up: `docker compose up` (built images) -> first tick of all nodes | (reported) "
            f"| median {startup['median_s']:.2f} s (min {startup['min_s']:.2f}, max {startup['max_s']:.2f}; "
            f"{len(startup['samples_s'])} runs) | |"
        )
    analysis = results.get("analysis")
    if analysis:
        ratio, peak = analysis.get("ratio"), analysis.get("analysis_peak_rss_mb")
        if analysis["status"] == "ok":
            measured = (
                f"{analysis['lines']:,} lines in {analysis['analysis_s']:.1f} s = "
                f"{analysis['analysis_lines_per_s']:,} lines/s (peak RSS {peak} MB)"
            )
            if ratio is not None:  # results from before the json.loads loop was measured have none
                measured += (
                    f"; a json.loads loop over them {analysis['json_loads_s']:.1f} s: ratio **{ratio:.2f}** "
                    f"(median of {len(analysis['json_loads_runs_s'])} alternating rounds)"
                )
            met = verdict(ratio is not None and ratio < 1 and peak is not None and peak < 300)
        else:
            measured, met = f"{analysis['status']}: {' '.join(analysis.get('error', []))}", analysis["status"]
        lines.append(
            f"| analysis: {analysis['lines']:,} simulated lines -> every output (summary, plots, spacetime, shiviz, "
            f"explorer), against a json.loads loop over the same lines | ratio < 1, peak RSS < 300 MB (1M lines) "
            f"| {measured} | {met} |"
        )
        lines.append(
            f"| simulated run generation (node.simulate -> JSON lines) | (reported) "
            f"| {analysis['lines']:,} lines in {analysis['generate_s']:.1f} s = "
            f"{analysis['generate_lines_per_s']:,} lines/s | |"
        )
    many = results.get("analysis_many_nodes")
    if many:
        measured = (
            f"{many['events']:,} events ({many['lines']:,} lines, {many['messages']:,} messages) in "
            f"{many['analysis_s']:.1f} s, peak RSS {many['analysis_peak_rss_mb']} MB"
            if many["status"] == "ok"
            else f"{many['status']}: {' '.join(many.get('error', []))}"
        )
        lines.append(
            f"| analysis of {many['nodes']} simulated nodes (rates 1..6, {many['duration_s']:g} s), causality "
            f"included -> every output | (reported) | {measured} | |"
        )
    sim = results.get("simulator")
    if sim:
        for key, what in (("no_output", "without output"), ("json_lines", "written as JSON lines")):
            row = sim[key]
            lines.append(
                f"| simulator speed, {what} ({sim['events']:,} events, {len(sim['rates'])} nodes at "
                f"{', '.join(map(str, sim['rates']))}/s for {sim['duration_s']:g} s) "
                "| >= 500,000 events/s "
                f"| median {row['events_per_s_median']:,} events/s (min {row['events_per_s_min']:,}, "
                f"max {row['events_per_s_max']:,}; 3 runs) "
                f"| {verdict(row['events_per_s_median'] >= 500_000)} |"
            )
        lines += [many_row(run) for run in sim.get("many", [])]
    for rate in (6, 1000):
        at_rate = runs.get(rate)
        lines.append(f"| CPU per node at {rate}/s (% of one core, while ticking) | (reported) | {cpu(at_rate)} | |")
        lines.append(f"| memory per node at {rate}/s (peak RSS) | (reported) | {rss(at_rate)} | |")
    images = results.get("images", {})
    lines.append(
        "| image sizes (`docker image inspect`) | (reported) | "
        + ", ".join(f"{name} {mb(size)}" for name, size in images.items())
        + " | |"
    )
    for ref in results.get("reference", []):
        if ref["mode"] == "naive" and ref["rate"] in runs:
            node = runs[ref["rate"]]
            lines.append(
                f"| naive `sleep(1/rate)` loop vs node at {ref['rate']}/s: achieved/configured | (reference) "
                f"| naive {ref['min_ratio']:.4f}..{ref['max_ratio']:.4f}; node {node['min_ratio']:.5f} (worst) | |"
            )
    return lines


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    cfg = results["config"]
    quick = " (QUICK SMOKE RUN: short durations, not the reference figures)" if results.get("quick") else ""
    load_b, load_a = results["load_before"], results["load_after"]
    lines = [
        f"# Benchmarks{quick}",
        "",
        "Timing of the model machines, measured by the benchmark suite (`bench/`), not by timed tests.",
        "Regenerate with the command below; the tables are written by `bench/report.py` from",
        "`bench/results.json`, the findings section is `bench/findings.md`.",
        "",
        f"- **Command**: `{results['command']}` (wall time {results['wall_s'] // 60} min {results['wall_s'] % 60} s)",
        f"- **Date**: {results['date']} (UTC); code `{m['git']}`",
        f"- **Machine**: {m['cpu']}, {m['nproc']} cores (`nproc`), {m['memory_gib']} GiB, kernel {m['kernel']}, "
        f"{m['os']}; Docker {m['docker']} ({m['storage_driver']}, cgroup v{m['cgroup']}), Compose {m['compose']}",
        "- **Quiet?** "
        + (
            f"machine busy {results['busy_before_percent']:.0f} % (of 100 % per core) in the 3 s before the suite; "
            if results.get("busy_before_percent") is not None
            else ""
        )
        + "what else ran during each container run is in the column 'rest of the machine' below; "
        f"load average (1, 5, 15 min) before: {load_b[0]}, {load_b[1]}, {load_b[2]}; "
        f"after: {load_a[0]}, {load_a[1]}, {load_a[2]}",
        f"- **Configuration**: three nodes in containers through `docker-compose.yml` (project "
        f"`{cfg['compose_project']}`, `docker compose up --detach node1 node2 node3`, then `docker wait` until they "
        f"exit), every node pinned to the same rate, {cfg['duration_s']:g} s per rate point, `SEED={cfg['seed']}`, "
        f"`MAX_EVENT_NUM={cfg['max_event_num']}`, `STATUS_INTERVAL={cfg['status_interval_s']:g}`, logging on "
        "(every event one JSON line, flushed per line). Reference loops: "
        f"{cfg['naive_duration_s']:g} s per rate in containers of the node image. Ceiling probes: "
        f"at most {cfg['ceiling_probes']} rates, {cfg.get('ceiling_runs', 1)} runs of {cfg['ceiling_duration_s']:g} s "
        "each (bench/ceiling.py).",
        "- **Definitions**: achieved/configured = (tick events - 1) / (last tick's `ts` - first tick's `ts`) / rate, "
        "so a node that falls behind (or skips ticks) scores below 1; lateness = `late_ms` of every tick event; "
        "message latency = receiver's `enq_ts` - sender's `ts` of the matching send, matched per directed link "
        "by the analysis (`analysis.messages`); percentiles (p50, p99, p99.9) = linear interpolation between "
        "ranks (numpy's default, `analysis.stats.quantile`, as in the analysis's summaries); "
        "start-up = from launching `docker compose up` to the last node's first tick; CPU % = "
        "% of one core (user + system time of the node's process); rest of the machine = the whole machine's "
        "busy time (cpuidle residency) minus the three nodes', i.e. Docker, Compose, the suite itself and "
        "anything else running (it can read a few % below zero: the two are counted differently).",
        "",
        "## Results",
        "",
        *headline(results),
        "",
        *before_after(results, load_baseline()),
        "## Per rate and node",
        "",
        *detail(results),
        "",
        "## The node against the loops one would otherwise write",
        "",
        "Same machine, same suite, same image, same per-tick work and JSON logging (the reference loops have no",
        "network, so they do less per tick). Cells: worst node's achieved/configured; lateness p50 / p99 in ms",
        "(for the naive loop lateness is against the ideal deadline, so it grows with its drift).",
        "",
        *reference_table(results),
        "",
        "## Throughput ceiling probes",
        "",
        *ceiling_table(results),
        "",
        "## Many nodes on this machine",
        "",
        *many_nodes_table(results),
        "",
        *many_nodes_limits(results),
        "## Profile",
        "",
        *profile_table(results),
        "",
        "## Micro-benchmarks",
        "",
        *micro_table(results),
        "",
    ]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().rstrip(), ""]
    return "\n".join(lines)

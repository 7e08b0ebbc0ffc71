"""BENCHMARKS.md's tables below the results: per rate and node, reference loops, ceiling probes,
profile and micro-benchmarks (bench.report puts the page together)."""

from __future__ import annotations

from typing import Any

from bench.textformat import by_rate, num


def detail(results: dict[str, Any]) -> list[str]:
    out = [
        "| rate/s | node | ticks | achieved/configured | late p50 | p99 | p99.9 | max (ms) | CPU % | peak RSS MiB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    all_runs = [*results.get("rates", [])]
    for run in all_runs:
        for name, n in run["nodes"].items():
            out.append(
                f"| {run['rate']} | {name} | {n['ticks']:,} | {n['ratio']:.6f} | {num(n['late_p50_ms'])} "
                f"| {num(n['late_p99_ms'])} | {num(n['late_p999_ms'])} | {num(n['late_max_ms'], 2)} "
                f"| {num(n['cpu_percent'], 1)} | {num(n['rss_mb'], 1)} |"
            )
    out += [
        "",
        "| rate/s | messages | latency p50 | p99 | max (ms) | first ticks within | start-up (s) "
        "| log lines/s (3 nodes) | machine CPU % (of 100 x cores) | rest of the machine % |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in all_runs:
        lat = run["latency"]
        out.append(
            f"| {run['rate']} | {lat['count']:,} | {num(lat['p50_ms'])} | {num(lat['p99_ms'])} "
            f"| {num(lat['max_ms'], 2)} "
            f"| {num(run['first_tick_spread_ms'], 1)} ms | {num(run['startup_s'], 2)} | {run['lines_per_s']:,.0f} "
            f"| {num(run.get('machine_cpu_percent'), 0)} | {num(run.get('other_cpu_percent'), 0)} |"
        )
    return out


def reference_table(results: dict[str, Any]) -> list[str]:
    runs = by_rate(results)
    refs: dict[int, dict[str, dict[str, Any]]] = {}
    for ref in results.get("reference", []):
        refs.setdefault(int(ref["rate"]), {})[ref["mode"]] = ref
    out = [
        "| rate/s | node (asyncio deadlines, network on): achieved/configured, late p50/p99 ms "
        "| naive `sleep(1/rate)` after the work | thread sleeping to each deadline |",
        "| ---: | --- | --- | --- |",
    ]

    def cell(r: dict[str, Any] | None) -> str:
        if r is None:
            return "not run"
        return f"{r['min_ratio']:.5f}; {num(r['late_p50_ms'])} / {num(r['late_p99_ms'])}"

    for rate, modes in sorted(refs.items()):
        out.append(f"| {rate} | {cell(runs.get(rate))} | {cell(modes.get('naive'))} | {cell(modes.get('thread'))} |")
    return out


def ceiling_table(results: dict[str, Any]) -> list[str]:
    ceiling = results.get("ceiling", {})
    out = [
        f"Capacity: asked for far more than they can run, for {num(ceiling.get('capacity_run_s'), 0)} s, "
        f"the three nodes ran flat out at {ceiling.get('capacity')} ticks/s each (the slowest; no node can hold "
        "its capacity for a minute, and ticks it falls over a second behind are skipped). The probes start at "
        "70 % of it, then bisect:",
        "",
        "| rate/s | all >= threshold | worst achieved/configured | late p50 | p99 (ms) | CPU per node % "
        "| rest of the machine % | problems |",
        "| ---: | --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for p in ceiling.get("probes", []):
        cpu = ", ".join(num(v, 0) for v in p["cpu_percent"].values())
        out.append(
            f"| {p['rate']} | {'yes' if p['pass'] else 'no'} | {p['min_ratio']:.5f} | {num(p['late_p50_ms'])} "
            f"| {num(p['late_p99_ms'])} | {cpu} | {num(p.get('other_cpu_percent'), 0)} | {'; '.join(p['problems'])} |"
        )
    return out


def _part(row: dict[str, Any]) -> str:
    """A row's label, its leading spaces (nesting) kept in Markdown."""
    return str(row["part"]).replace("  ", "&nbsp;&nbsp;")


def micro_table(results: dict[str, Any]) -> list[str]:
    rows = results.get("micro")
    if not rows:
        return ["(not run)"]
    intro = "In one process on the host (`python -m bench.micro`), mean per call:"
    return [intro, "", "| what | microseconds |", "| --- | ---: |", *(f"| {_part(r)} | {r['us']:.2f} |" for r in rows)]


def profile_table(results: dict[str, Any]) -> list[str]:
    profile = results.get("profile")
    if not profile:
        return ["(not run)"]
    out = [
        f"node1 under cProfile at {profile['rate']}/s for {profile['duration']:g} s, node2 and node3 as its real "
        f"peers, three processes on loopback (achieved/configured under the profiler: {profile['ratios']}). "
        "Shares of node1's profiled wall time (cumulative, so nested rows are part of the row above them):",
        "",
        "| part | share | calls |",
        "| --- | ---: | ---: |",
    ]
    for row in profile["parts"]:
        out.append(f"| {_part(row)} | {row['share']:.1%} | {row['calls']:,} |")
    return out

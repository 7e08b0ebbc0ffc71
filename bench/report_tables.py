"""BENCHMARKS.md's tables below the results: per rate and node, reference loops, ceiling probes,
profile and micro-benchmarks (bench.report puts the page together)."""

from __future__ import annotations

from typing import Any

from bench.textformat import by_rate, num, verdict


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


def ceiling_headline(results: dict[str, Any]) -> list[str]:
    """The results table's ceiling rows: the ceiling (rate held and ticks on time, run after run),
    then the former rate-only figures."""
    ceiling = results.get("ceiling", {})
    threshold = results["config"]["threshold"]
    lines = []
    criteria = ceiling.get("criteria")
    if criteria is not None:
        high, low = ceiling["on_time_highest_pass"], ceiling["on_time_lowest_fail"]
        at = next((p for p in ceiling["probes"] if p["rate"] == high), None)
        measured = f"**{high}/s**" if high else "**none of the probes passed**"
        if at is not None:
            measured += (
                f" (worst of its runs: achieved/configured {at['min_ratio']:.5f}, "
                f"late p50 {num(at['late_p50_ms'])}, p99 {num(at['late_p99_ms'])} ms)"
            )
        measured += f"; {low}/s failed" if low else "; no failing rate within the probes"
        lines.append(
            f"| throughput ceiling: highest rate per node at which every node holds >= {threshold} and tick "
            f"lateness p99 <= {criteria['p99_ms']:g} ms (worst node), in each of {criteria['runs']} runs of "
            f"{criteria['duration_s']:g} s; logging on, reliable delivery | 20000 (issue 15's aim) "
            f"| {measured} | {verdict(bool(high and high >= 20000))} |"
        )
    high, probe = ceiling.get("highest_pass"), ceiling.get("rate_only_probe")
    measured = f"held {high}/s on average" if high else "no run held its rate"
    if probe is not None:
        measured += (
            f"; one run at {probe['rate']}/s: achieved/configured {probe['min_ratio']:.5f}, "
            f"late p50 {num(probe['late_p50_ms'])}, p99 {num(probe['late_p99_ms'], 1)} ms"
        )
    if ceiling.get("capacity"):
        measured += f"; flat out {ceiling['capacity']}/s"
    lines.append(
        f"| rate only (the former ceiling): highest rate at which all three held >= {threshold} on average in "
        f"any run of the suite, lateness not counted; flat out | (reported) | {measured} | |"
    )
    return lines


def ceiling_table(results: dict[str, Any]) -> list[str]:
    ceiling = results.get("ceiling", {})
    criteria = ceiling.get("criteria") or {}
    out = [
        f"Capacity: asked for far more than they can run, for {num(ceiling.get('capacity_run_s'), 0)} s, "
        f"the three nodes ran flat out at {ceiling.get('capacity')} ticks/s each (the slowest; ticks a node "
        "falls over a second behind are skipped). That, and the highest rate held on average, are the former "
        "rate-only figures; near them the nodes hold the rate only by catching up, hundreds of milliseconds late.",
        "",
        f"The ceiling's probes: a rate passes when, in each of {criteria.get('runs', 1)} runs of "
        f"{num(criteria.get('duration_s'), 0)} s, every node holds achieved/configured >= "
        f"{results['config']['threshold']} and the worst node's tick lateness p99 is <= "
        f"{num(criteria.get('p99_ms'), 1)} ms; a probe stops at its first failing run. The search starts at "
        "10000/s, then 20000/s, then goes up by half or bisects (bench/ceiling.py). Worst figures over the "
        "runs; CPU is the mean over the runs:",
        "",
        "| rate/s | passed (runs) | worst achieved/configured | late p50 | p99 of each run (ms) | CPU per node % "
        "| rest of the machine % | problems |",
        "| ---: | --- | ---: | ---: | --- | --- | ---: | --- |",
    ]
    probes = list(ceiling.get("probes", []))
    if ceiling.get("rate_only_probe"):
        probes.append({**ceiling["rate_only_probe"], "rate_only": True})
    for p in probes:
        cpu = ", ".join(num(v, 0) for v in p["cpu_percent"].values())
        runs = p.get("runs") or [p]
        p99s = ", ".join(num(r["late_p99_ms"]) for r in runs)
        passed = (
            "rate only: " + ("held" if p["pass"] else "not held")
            if p.get("rate_only")
            else "yes"
            if p["pass"]
            else "no"
        )
        notes = [
            f"a run failed (p99 {num(r['late_p99_ms'])} ms) while other work used {num(r['other_cpu_percent'], 0)} % "
            "of a core: run again"
            for r in p.get("repeated", [])
        ]
        out.append(
            f"| {p['rate']} | {passed} ({len(runs)}) | {p['min_ratio']:.5f} | {num(p['late_p50_ms'])} "
            f"| {p99s} | {cpu} | {num(p.get('other_cpu_percent'), 0)} | {'; '.join([*notes, *p['problems']])} |"
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


def _rates(run: dict[str, Any], drawn: str) -> str:
    return f"drawn {drawn}" if run["rate"] is None else f"{run['rate']} each"


def many_nodes_table(results: dict[str, Any]) -> list[str]:
    """The many-nodes step (bench.nodes): one row per run, then what failed."""
    many = results.get("many_nodes")
    if not many:
        return ["(not run)"]
    out = [
        f"N nodes in containers on this machine from the generated N-node compose file (`deploy/stackgen.py`), "
        f"{many['duration_s']:g} s per run, `SEED={results['config']['seed']}`, `MAX_EVENT_NUM` = ceil(10N/3) "
        "(internal draws 0.70-0.71 of all, as with three nodes and 10), each N twice: at the assignment's rates "
        f"(each node's drawn from {many['drawn_rates']}/s) and every node pinned to {many['pinned_rate']}/s. "
        "Start-up: launching `docker compose up` to the last node's first tick (in brackets: from the first "
        "node process's `start` line to the last one's, which must all connect within `START_TIMEOUT` = "
        f"{num(many['start_timeout_s'], 0)} s); lateness and achieved/configured: the worst node; CPU and peak RSS: "
        "median / max over the nodes; log volume: mean per node and second of ticking; TCP: established "
        "connections per node (most seen at once, read every 2 s from /proc/<pid>/net/tcp of its network "
        "namespace: N-1 dialed, N-1 accepted), and in all (a full mesh has N(N-1)/2 pairs, each with one "
        "connection per direction); analysis: `python -m analysis` on the run (summary, plots, explorer).",
        "",
        "| nodes | rates/s | `MAX_EVENT_NUM` | start-up s (processes within) | first ticks within ms "
        "| worst achieved/configured | late p50 / p99 ms | CPU % per node | peak RSS MiB per node "
        "| log per node: lines/s, kB/s | TCP per node (of) | TCP in all (of) | machine busy % / rest of it "
        "| analysis s | verdict |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    problems = []
    for run in many["runs"]:
        conn, log, cpu, rss = run["connections"], run["log"], run["cpu_percent"], run["rss_mb"]
        tcp = (
            f"{conn['min_per_node']}"
            if conn["min_per_node"] == conn["max_per_node"]
            else (f"{conn['min_per_node']}-{conn['max_per_node']}")
        )
        label = f"{run['nodes']} nodes, {_rates(run, many['drawn_rates'])}"
        if run["problems"]:
            problems.append(f"- {label}: " + "; ".join(_shorten(run["problems"])))
        analysis = num(run["analysis_s"], 1) if run.get("analysis_ok", True) else "failed (below)"
        out.append(
            f"| {run['nodes']} | {_rates(run, many['drawn_rates'])} | {run['max_event_num']} "
            f"| {num(run['startup_s'], 1)} ({num(run['start_spread_s'], 1)}) | {num(run['first_tick_spread_ms'], 0)} "
            f"| {num(run['min_ratio'], 5)} | {num(run['late_p50_ms'])} / {num(run['late_p99_ms'])} "
            f"| {num(cpu['median'], 1)} / {num(cpu['max'], 1)} | {num(rss['median'], 1)} / {num(rss['max'], 1)} "
            f"| {num(log['lines_per_node_s'], 1)}, {kb(log['bytes_per_node_s'])} "
            f"| {tcp} ({conn['expected_per_node']}) | {conn['total']} ({conn['expected_total']}) "
            f"| {num(run['machine_cpu_percent'], 0)} / {num(run['other_cpu_percent'], 0)} "
            f"| {analysis} | {'pass' if run['pass'] else '**FAIL** (below)'} |"
        )
    if problems:
        out += ["", "Problems:", "", *problems]
    return out


def _start_up_limit(many: dict[str, Any]) -> list[str]:
    """Docker starts the containers one after another, and each node waits for all its peers for
    START_TIMEOUT from its own start: the largest run's pace, or the run that did not fit."""
    timeout = many["start_timeout_s"]
    timed = [r for r in many["runs"] if r["start_spread_s"] is not None]
    if not timed:
        return []
    over = [r for r in timed if r["start_spread_s"] >= timeout]
    if over:
        run = min(over, key=lambda r: r["nodes"])
        return [
            f"- Start-up: the processes of {run['nodes']} nodes started over {num(run['start_spread_s'], 1)} s, "
            f"longer than `START_TIMEOUT` = {num(timeout, 0)} s, within which each node must have all its peers "
            "connected from its own start."
        ]
    big = max(timed, key=lambda r: (r["nodes"], r["start_spread_s"]))
    pace = big["start_spread_s"] / max(big["nodes"] - 1, 1)
    reach = f"about {int(timeout / pace) + 1}" if pace > 0 else "any number of"
    return [
        f"- Start-up: {num(big['startup_s'], 1)} s with {big['nodes']} nodes, whose processes started over "
        f"{num(big['start_spread_s'], 1)} s (Docker starts the containers about {num(pace, 2)} s apart); every "
        f"node must have all its peers connected within `START_TIMEOUT` = {num(timeout, 0)} s of its own start, "
        f"which at that pace is {reach} nodes."
    ]


def kb(size: float | None) -> str:
    return num(None if size is None else size / 1000, 1)


def _shorten(problems: list[str], keep: int = 3) -> list[str]:
    """The first few problems of a run (twenty nodes can each have one), each on one line."""
    return [" ".join(p.split()) for p in problems[:keep]] + (
        [f"and {len(problems) - keep} more"] if len(problems) > keep else []
    )


def many_nodes_limits(results: dict[str, Any]) -> list[str]:
    """What the many-nodes runs say about the limit of N here, from the figures alone."""
    many = results.get("many_nodes")
    if not many or not many["runs"]:
        return []
    out = ["What limits N here, from these figures:", ""]
    for pinned in (False, True):
        runs = [r for r in many["runs"] if (r["rate"] is not None) == pinned]
        if not runs:
            continue
        rates = f"pinned to {many['pinned_rate']}/s" if pinned else f"at the drawn rates ({many['drawn_rates']}/s)"
        passed = [r["nodes"] for r in runs if r["pass"]]
        failed = [r for r in runs if not r["pass"]]
        text = f"- Nodes {rates}: " + (f"every N up to {max(passed)} passed" if passed else "no N passed")
        if failed:
            first = failed[0]
            # A run can fail on its figures alone (achieved/configured below the threshold).
            why = _shorten(first["problems"], 1) or [f"worst achieved/configured {first['min_ratio']:.5f}"]
            text += f"; {first['nodes']} nodes failed ({why[0]})"
        out.append(text + ".")
    out += _start_up_limit(many)
    loaded = [r for r in many["runs"] if r["rate"] is not None and r["cpu_percent"]["median"] is not None]
    cores = results.get("machine", {}).get("nproc")
    if loaded and cores:
        big = max(loaded, key=lambda r: r["nodes"])
        out.append(
            f"- CPU: pinned to {big['rate']}/s, {big['nodes']} nodes used about {big['nodes']} x "
            f"{num(big['cpu_percent']['median'], 1)} = {num(big['nodes'] * big['cpu_percent']['median'], 0)} % "
            f"of the {100 * cores} % the machine's {cores} cores have (machine busy "
            f"{num(big['machine_cpu_percent'], 0)} %), with lateness p50 {num(big['late_p50_ms'])} / p99 "
            f"{num(big['late_p99_ms'])} ms on the worst node."
        )
    rss = [r["rss_mb"]["max"] for r in many["runs"] if r["rss_mb"]["max"] is not None]
    memory = results.get("machine", {}).get("memory_gib")
    if rss and memory:
        out.append(
            f"- Memory: at most {max(rss):.1f} MiB per node, so {memory} GiB hold about "
            f"{int(memory * 1024 / max(rss)):,} nodes' worth (Docker's own share per container not counted)."
        )
    return [*out, ""]

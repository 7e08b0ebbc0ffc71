"""`python -m bench`: every timing figure of issue 7, measured through the real compose file.

Steps, in order (one progress line each, with an ETA):
  1. build the images (`docker compose build`), record the machine and the image sizes;
  2. micro-benchmarks of a tick's parts (bench.micro) and a profile of node1 at a high rate
     (bench.profile: cProfile, three processes on loopback);
  3. per rate: the three nodes in containers for DURATION s (rate fidelity, lateness, message
     latency, start-up, CPU and memory), then the reference loops (bench.naive) in containers
     of the node image at the same rate;
  4. the throughput ceiling (bench.ceiling): the nodes' flat-out capacity and one run at 80 % of
     it (rate-only figures), then probes from 10,000/s: a rate passes when all three hold it and
     start their ticks on time (p99 <= 1 ms) in each of three runs;
  5. the nodes with NET_DELAY_MS set (message latency with the configured network delay);
  6. many nodes (bench.nodes): N = 3, 5, 10, 20 containers, at the drawn rates and pinned to
     1000/s, a progress line per run;
  7. a 1M-line simulated run through `python -m analysis`, against a json.loads loop over its
     lines (bench.analysis_row), then a 100-node simulated run through it;
  8. the simulator's speed (bench.simspeed), in this process;
  9. BENCHMARKS.md and bench/results.json.
Raw logs go to bench/raw/ (gitignored) and are deleted after each step unless --keep-logs.
While it runs, everything else the machine does is measured too ("rest of the machine"): other
work running at the same time shows there instead of silently lowering the figures.

This module runs the steps in order and writes the results; each step's work is in its own
module: bench.options (command line, plan), bench.progress, bench.runs and bench.cluster (the
nodes), bench.reference, bench.ceiling, bench.nodes, bench.analysis_row, bench.report (BENCHMARKS.md).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from analysis.summaryfile import finite_json
from bench import cluster, machine, report
from bench.analysis_row import measure_analysis, measure_many_nodes
from bench.ceiling import search
from bench.micro import run_micro
from bench.nodes import measure_nodes
from bench.options import NET_DELAY_MS, NET_DELAY_RATE, RAW, Options, parse_args, plan, reference_modes
from bench.profile import profile_cluster
from bench.progress import Progress, clock, say
from bench.reference import measure_reference
from bench.runs import SEED, node_env, run_line, run_nodes
from bench.simspeed import measure_simulator


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv, (__doc__ or "").split("\n\n")[0])
    if options.render_only:
        options.report.write_text(report.render(json.loads(options.results.read_text())))
        print(f"{options.report} rewritten from {options.results}")
        return 0
    RAW.mkdir(parents=True, exist_ok=True)
    progress = Progress(plan(options))
    results = header(options, progress)
    progress.run("build images, machine, image sizes", partial(build, options, results))
    if "micro" not in options.skip:
        results["micro"] = progress.run("micro-benchmarks of a tick's parts (in-process)", run_micro)
    if "profile" not in options.skip:
        results["profile"] = progress.run(
            f"profile node1 at {options.profile_rate}/s (cProfile, loopback)", partial(profile, options)
        )
    results["rates"], results["reference"] = rate_points(options, progress)
    results["ceiling"] = search(results["rates"], options, progress)
    if "netdelay" not in options.skip:
        results["net_delay"] = progress.run(
            f"nodes at {NET_DELAY_RATE}/s with NET_DELAY_MS={NET_DELAY_MS} for {options.duration:g} s",
            partial(net_delay, options),
        )
    if "nodes" not in options.skip:
        results["many_nodes"] = progress.run(
            f"many nodes: {options.node_counts} containers, {options.nodes_duration:g} s per run",
            partial(measure_nodes, options, progress),
        )
    if "analysis" not in options.skip:
        results["analysis"] = progress.run(
            f"analysis: {options.analysis_lines:,} simulated lines -> summary + plots",
            partial(measure_analysis, options),
        )
    if "analysis100" not in options.skip:
        results["analysis_many_nodes"] = progress.run(
            "analysis: a 100-node simulated run -> every output", partial(measure_many_nodes, options)
        )
    if "simulator" not in options.skip:
        results["simulator"] = progress.run("simulator speed (in this process)", simulator)
    startups = [r["startup_s"] for r in results["rates"] if r["startup_s"] is not None]
    results["startup"] = {
        "samples_s": startups,
        "median_s": round(statistics.median(startups), 3) if startups else None,
        "min_s": min(startups, default=None),
        "max_s": max(startups, default=None),
    }
    results["load_after"] = [round(x, 2) for x in machine.load()]
    results["wall_s"] = round(time.monotonic() - progress.started)
    options.results.parent.mkdir(parents=True, exist_ok=True)
    options.results.write_text(json.dumps(finite_json(results), indent=1, allow_nan=False) + "\n")
    options.report.write_text(report.render(json.loads(options.results.read_text())))
    print(f"done in {clock(results['wall_s'])}: {options.report} and {options.results}", flush=True)
    return 0 if all(r["pass"] for r in results["rates"]) else 1


def header(options: Options, progress: Progress) -> dict[str, Any]:
    """The suite's first line on the terminal; the results' date, command, configuration, load."""
    load_before = machine.load()
    busy_before = machine.busy_percent(3.0)
    print(
        f"python -m bench: {len(progress.estimates)} steps, rates {options.rates} x {options.duration:g} s; "
        f"machine busy {busy_before if busy_before is None else round(busy_before)} % over the last 3 s "
        f"(load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f})",
        flush=True,
    )
    if busy_before is not None and busy_before > 15:
        print("        note: the machine is not idle; figures will be noisier (see 'rest of the machine')", flush=True)
    env = node_env(1, options.duration, "")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": options.command,
        "quick": options.quick,
        "config": {
            "duration_s": options.duration,
            "rates": options.rates,
            "naive_duration_s": options.naive_duration,
            "thread_rates": options.thread_rates,
            "ceiling_probes": options.ceiling_probes,
            "ceiling_duration_s": options.ceiling_duration,
            "ceiling_runs": options.ceiling_runs,
            "ceiling_p99_ms": options.ceiling_p99_ms,
            "threshold": options.threshold,
            "seed": int(SEED),
            "max_event_num": int(env["MAX_EVENT_NUM"]),
            "status_interval_s": _number(env["STATUS_INTERVAL"]),
            "compose_project": cluster.PROJECT,
            "node_image": options.node_image or cluster.NODE_IMAGE,
        },
        "load_before": [round(x, 2) for x in load_before],
        "busy_before_percent": None if busy_before is None else round(busy_before, 1),
    }


def build(options: Options, results: dict[str, Any]) -> None:
    if options.build:
        cluster.build_images()
    results["machine"] = machine.describe()
    images = (options.node_image or cluster.NODE_IMAGE, cluster.ANALYSIS_IMAGE)
    results["images"] = {name: cluster.image_size(name) for name in images}


def profile(options: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="profile-", dir=RAW) as tmp:
        result = profile_cluster(options.profile_rate, options.profile_duration, Path(tmp))
    share = {row["part"].strip(): row["share"] for row in result["parts"]}
    say(f"log line {share.get('log one line (EventLog.write)', 0):.0%} of node1's time; ratios {result['ratios']}")
    return result


def net_delay(options: Options) -> dict[str, Any]:
    summary = run_nodes(NET_DELAY_RATE, options.duration, "net-delay", options, {"NET_DELAY_MS": str(NET_DELAY_MS)})
    lat = summary["latency"]
    say(f"NET_DELAY_MS={NET_DELAY_MS}: latency p50 {lat['p50_ms']:.3f} p99 {lat['p99_ms']:.3f} ms; {run_line(summary)}")
    return summary


def simulator() -> dict[str, Any]:
    row = measure_simulator()
    say(
        f"simulator: {row['no_output']['events_per_s_median']:,} events/s without output, "
        f"{row['json_lines']['events_per_s_median']:,} as JSON lines"
    )
    return row


def rate_points(options: Options, progress: Progress) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per rate: the nodes, then the reference loops at the same rate."""
    runs: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    image = options.node_image or cluster.NODE_IMAGE
    for rate in options.rates:
        summary = progress.run(
            f"nodes at {rate}/s for {options.duration:g} s",
            partial(run_nodes, rate, options.duration, f"rate-{rate}", options),
        )
        runs.append(summary)
        say(run_line(summary))
        for mode in reference_modes(rate, options):
            ref = progress.run(
                f"{mode} loop at {rate}/s for {options.naive_duration:g} s",
                partial(measure_reference, mode, rate, options.naive_duration, image, RAW, options.keep_logs),
            )
            reference.append(ref)
            say(
                f"{mode}: achieved/configured {ref['min_ratio']:.5f}..{ref['max_ratio']:.5f}, "
                f"late p50 {ref['late_p50_ms']:.3f} p99 {ref['late_p99_ms']:.3f} ms"
            )
    return runs, reference


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value

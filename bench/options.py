"""The suite's command line and its plan: which steps run, for how long each should take (for the ETA)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.compose import ROOT
from deploy.stackgen import MAX_NODES, MIN_NODES

RAW = ROOT / "bench" / "raw"  # raw logs and quick-run reports (gitignored)
PARSE_SECONDS_PER_LINE = 6e-6  # reading the logs back, for the ETA
SKIPPABLE = ("micro", "profile", "reference", "netdelay", "ceiling", "nodes", "analysis", "analysis100", "simulator")
NET_DELAY_MS = 20  # the network delay step: every node's frames held this long (NET_DELAY_MS)
NET_DELAY_RATE = 100  # ticks/s per node in that step
CAPACITY_RATE = 200_000  # ticks/s no node can run: it ticks flat out (skipping what it misses)
CAPACITY_SECONDS = 15.0  # quick: 6
NODE_COUNTS = [3, 5, 10, 20]  # the many-nodes step (bench.nodes); quick: 3, 10
NODES_RATE = 1000  # ticks/s of every node in its pinned runs


@dataclass
class Options:
    quick: bool
    duration: float
    rates: list[int]
    naive_duration: float
    thread_rates: list[int]
    ceiling_probes: int
    ceiling_duration: float
    ceiling_runs: int
    ceiling_p99_ms: float
    capacity_duration: float
    analysis_lines: int
    node_counts: list[int]
    nodes_duration: float
    nodes_rate: int
    profile_rate: int
    profile_duration: float
    threshold: float
    build: bool
    node_image: str | None
    skip: set[str]
    keep_logs: bool
    report: Path
    results: Path
    command: str
    render_only: bool


def parse_rates(text: str) -> list[int]:
    rates = sorted({int(part) for part in text.split(",") if part.strip()})
    if not rates or rates[0] < 1:
        raise argparse.ArgumentTypeError(f"rates must be positive integers: {text!r}")
    return rates


def parse_node_counts(text: str) -> list[int]:
    counts = sorted({int(part) for part in text.split(",") if part.strip()})
    if not counts or counts[0] < MIN_NODES or counts[-1] > MAX_NODES:
        raise argparse.ArgumentTypeError(f"node counts must be {MIN_NODES} to {MAX_NODES}: {text!r}")
    return counts


def parse_args(argv: list[str] | None, description: str) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=description)
    parser.add_argument("--quick", action="store_true", help="short smoke version (about 3 minutes)")
    parser.add_argument("--duration", type=float, help="seconds per rate point (default 60; quick 8)")
    parser.add_argument("--rates", type=parse_rates, help="ticks/s per node (default 1,6,100,1000,10000)")
    parser.add_argument("--naive-duration", type=float, help="seconds per reference loop run (default 20; quick 4)")
    parser.add_argument("--thread-rates", type=parse_rates, help="rates for the thread loop (default 1000,10000)")
    parser.add_argument("--ceiling-probes", type=int, help="rates probed for the ceiling (default 4; quick 1)")
    parser.add_argument("--ceiling-duration", type=float, help="seconds per ceiling run (default: --duration)")
    parser.add_argument("--ceiling-runs", type=int, help="runs per ceiling probe, all must pass (default 3; quick 1)")
    parser.add_argument(
        "--ceiling-p99-ms", type=float, default=1.0, help="worst node's tick lateness p99 to pass a ceiling run (1)"
    )
    parser.add_argument("--analysis-lines", type=int, help="lines of the simulated run (default 1000000)")
    parser.add_argument("--node-counts", type=parse_node_counts, help="many-nodes step: nodes per run (3,5,10,20)")
    parser.add_argument("--nodes-duration", type=float, help="seconds per many-nodes run (default 30; quick 8)")
    parser.add_argument(
        "--nodes-rate", type=int, help=f"ticks/s of the many-nodes step's pinned runs ({NODES_RATE}; 0: none)"
    )
    parser.add_argument("--threshold", type=float, default=0.999, help="achieved/configured to pass (0.999)")
    parser.add_argument("--no-build", action="store_true", help="use the images as they are")
    parser.add_argument("--node-image", help="run the nodes from this image instead (implies --no-build)")
    parser.add_argument(
        "--skip", action="append", choices=SKIPPABLE, default=[], help="leave out a part (repeatable; for exploring)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep raw logs in bench/raw/")
    parser.add_argument("--report", type=Path, help="default BENCHMARKS.md (quick: bench/raw/BENCHMARKS-quick.md)")
    parser.add_argument("--results", type=Path, help="default bench/results.json (quick: bench/raw/...)")
    parser.add_argument("--render-only", action="store_true", help="only rewrite the report from the results file")
    args = parser.parse_args(argv)
    if args.nodes_rate is not None and args.nodes_rate < 0:
        parser.error(f"--nodes-rate must be 0 (none) or a rate: {args.nodes_rate}")
    quick = bool(args.quick)
    duration = args.duration or (8.0 if quick else 60.0)
    return Options(
        quick=quick,
        duration=duration,
        rates=args.rates or ([6, 1000] if quick else [1, 6, 100, 1000, 10000]),
        naive_duration=args.naive_duration or (4.0 if quick else 20.0),
        thread_rates=args.thread_rates or ([1000] if quick else [1000, 10000]),
        ceiling_probes=args.ceiling_probes if args.ceiling_probes is not None else (1 if quick else 4),
        ceiling_duration=args.ceiling_duration or duration,
        ceiling_runs=args.ceiling_runs or (1 if quick else 3),
        ceiling_p99_ms=args.ceiling_p99_ms,
        capacity_duration=6.0 if quick else CAPACITY_SECONDS,
        analysis_lines=args.analysis_lines or (100_000 if quick else 1_000_000),
        node_counts=args.node_counts or ([3, 10] if quick else NODE_COUNTS),
        nodes_duration=args.nodes_duration or (8.0 if quick else 30.0),
        nodes_rate=NODES_RATE if args.nodes_rate is None else args.nodes_rate,
        profile_rate=10000,
        profile_duration=3.0 if quick else 10.0,
        threshold=args.threshold,
        build=not (args.no_build or args.node_image),
        node_image=args.node_image,
        skip=set(args.skip),
        keep_logs=bool(args.keep_logs),
        report=args.report or (RAW / "BENCHMARKS-quick.md" if quick else ROOT / "BENCHMARKS.md"),
        results=args.results or (RAW / "results-quick.json" if quick else ROOT / "bench" / "results.json"),
        command=shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        render_only=bool(args.render_only),
    )


def node_run_estimate(rate: int, duration: float) -> float:
    return duration + 14 + 3 * rate * duration * PARSE_SECONDS_PER_LINE


def many_nodes_estimate(nodes: int, rate: int | None, duration: float) -> float:
    """Seconds of one many-nodes run, as measured here for 3 to 60 nodes: the run, about 5 s and
    0.8 s per node to start and stop the containers, the suite reading the logs back, then
    `python -m analysis` (about 0.3 s per node and 15 us per line); drawn rates average 3.5/s."""
    lines = nodes * (rate or 3.5) * duration
    return duration + 5 + 1.1 * nodes + lines * (PARSE_SECONDS_PER_LINE + 15e-6)


def many_nodes_runs(options: Options) -> list[tuple[int, int | None]]:
    """(N, rate) of every many-nodes run, in order: for each N, the drawn rates (None), then the pinned."""
    rates: list[int | None] = [None] + ([options.nodes_rate] if options.nodes_rate else [])
    return [(n, rate) for n in options.node_counts for rate in rates]


def reference_modes(rate: int, options: Options) -> tuple[str, ...]:
    if "reference" in options.skip:
        return ()
    return ("naive", "thread") if rate in options.thread_rates else ("naive",)


def plan(options: Options) -> list[tuple[str, float]]:
    """Every step the options ask for, with its expected seconds."""
    steps = [("build images, machine, image sizes", 10.0)]
    if "micro" not in options.skip:
        steps.append(("micro-benchmarks", 10.0))
    if "profile" not in options.skip:
        steps.append((f"profile node1 at {options.profile_rate}/s", options.profile_duration + 8))
    for rate in options.rates:
        steps.append((f"nodes at {rate}/s", node_run_estimate(rate, options.duration)))
        for _mode in reference_modes(rate, options):
            steps.append((f"reference loop at {rate}/s", options.naive_duration + 8))
    if "ceiling" not in options.skip:
        flat_out, probe = 50_000, 15_000  # ticks/s, for the time reading the logs back takes
        steps.append(("capacity", node_run_estimate(flat_out, options.capacity_duration)))
        steps.append(("rate-only run", node_run_estimate(flat_out, options.ceiling_duration)))
        runs = options.ceiling_runs * node_run_estimate(probe, options.ceiling_duration)
        steps += [("ceiling probe", runs)] * options.ceiling_probes
    if "netdelay" not in options.skip:
        steps.append(("nodes with NET_DELAY_MS", node_run_estimate(NET_DELAY_RATE, options.duration)))
    if "nodes" not in options.skip:
        estimate = sum(many_nodes_estimate(n, r, options.nodes_duration) for n, r in many_nodes_runs(options))
        steps.append(("many nodes", estimate))
    if "analysis" not in options.skip:
        steps.append((f"analysis of {options.analysis_lines:,} lines", 15 + options.analysis_lines * 3e-5))
    if "analysis100" not in options.skip:
        steps.append(("analysis of 100 nodes", 20.0))
    if "simulator" not in options.skip:
        steps.append(("simulator speed", 360.0))  # bench.simspeed: 1,000 nodes take most of it
    return steps

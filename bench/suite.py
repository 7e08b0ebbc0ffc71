"""`python -m bench`: every timing figure of issue 7, measured through the real compose file.

Steps, in order (one progress line each, with an ETA):
  1. build the images (`docker compose build`), record the machine and the image sizes;
  2. micro-benchmarks of a tick's parts (bench.micro) and a profile of node1 at a high rate
     (bench.profile: cProfile, three processes on loopback);
  3. per rate: the three nodes in containers for DURATION s (rate fidelity, lateness, message
     latency, start-up, CPU and memory), then the reference loops (bench.naive) in containers
     of the node image at the same rate;
  4. the throughput ceiling: the nodes' flat-out capacity, then runs of DURATION s below it,
     bisecting between the best rate all three held and the lowest one they did not;
  5. a 1M-line simulated run through `python -m analysis`;
  6. BENCHMARKS.md and bench/results.json.
Raw logs go to bench/raw/ (gitignored) and are deleted after each step unless --keep-logs.
While it runs, everything else the machine does is measured too ("rest of the machine"): other
work running at the same time shows there instead of silently lowering the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench import docker, machine, report
from bench.metrics import RunTiming, analyse_run
from bench.micro import run_micro
from bench.profile import profile_cluster
from node.simulate import Simulation, run_simulation

RAW = docker.ROOT / "bench" / "raw"
PARSE_SECONDS_PER_LINE = 6e-6  # reading the logs back, for the ETA
SKIPPABLE = ("micro", "profile", "reference", "ceiling", "analysis")
CAPACITY_RATE = 200_000  # ticks/s no node can run: it ticks flat out (skipping what it misses)
CAPACITY_SECONDS = 15.0  # quick: 6
FIRST_PROBE = 0.7  # of the capacity


@dataclass
class Options:
    quick: bool
    duration: float
    rates: list[int]
    naive_duration: float
    thread_rates: list[int]
    ceiling_probes: int
    ceiling_duration: float
    capacity_duration: float
    analysis_lines: int
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


@dataclass
class Progress:
    """One line per step: which, how long it should take, how long the suite has left."""

    estimates: list[tuple[str, float]]
    started: float = field(default_factory=time.monotonic)
    done_estimate: float = 0.0
    index: int = 0

    def step(self, name: str) -> None:
        self.index += 1
        elapsed = time.monotonic() - self.started
        remaining = sum(e for _, e in self.estimates[self.index - 1 :])
        # How the finished steps compared with their estimates, once there is enough to judge by.
        pace = min(max(elapsed / self.done_estimate, 0.8), 1.5) if self.done_estimate > 120 else 1.0
        eta = remaining * pace
        finish = (dt.datetime.now() + dt.timedelta(seconds=eta)).strftime("%H:%M")
        print(
            f"[{self.index:2d}/{len(self.estimates)}] {_clock(elapsed)} {name}  "
            f"(about {_clock(self.estimates[self.index - 1][1])}; ETA {_clock(eta)} left, done ~{finish})",
            flush=True,
        )

    def finished(self) -> None:
        self.done_estimate += self.estimates[self.index - 1][1]

    def skip(self) -> None:
        """A planned step that will not run (the ceiling search ended early)."""
        self.estimates.pop(self.index)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


def say(text: str) -> None:
    print(f"        {text}", flush=True)


def parse_rates(text: str) -> list[int]:
    rates = sorted({int(part) for part in text.split(",") if part.strip()})
    if not rates or rates[0] < 1:
        raise argparse.ArgumentTypeError(f"rates must be positive integers: {text!r}")
    return rates


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version (about 3 minutes)")
    parser.add_argument("--duration", type=float, help="seconds per rate point (default 60; quick 8)")
    parser.add_argument("--rates", type=parse_rates, help="ticks/s per node (default 1,6,100,1000,10000)")
    parser.add_argument("--naive-duration", type=float, help="seconds per reference loop run (default 20; quick 4)")
    parser.add_argument("--thread-rates", type=parse_rates, help="rates for the thread loop (default 1000,10000)")
    parser.add_argument("--ceiling-probes", type=int, help="runs below the capacity (default 3; quick 1)")
    parser.add_argument("--ceiling-duration", type=float, help="seconds per ceiling probe (default: --duration)")
    parser.add_argument("--analysis-lines", type=int, help="lines of the simulated run (default 1000000)")
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
    quick = bool(args.quick)
    duration = args.duration or (8.0 if quick else 60.0)
    return Options(
        quick=quick,
        duration=duration,
        rates=args.rates or ([6, 1000] if quick else [1, 6, 100, 1000, 10000]),
        naive_duration=args.naive_duration or (4.0 if quick else 20.0),
        thread_rates=args.thread_rates or ([1000] if quick else [1000, 10000]),
        ceiling_probes=args.ceiling_probes if args.ceiling_probes is not None else (1 if quick else 3),
        ceiling_duration=args.ceiling_duration or duration,
        capacity_duration=6.0 if quick else CAPACITY_SECONDS,
        analysis_lines=args.analysis_lines or (100_000 if quick else 1_000_000),
        profile_rate=10000,
        profile_duration=3.0 if quick else 10.0,
        threshold=args.threshold,
        build=not (args.no_build or args.node_image),
        node_image=args.node_image,
        skip=set(args.skip),
        keep_logs=bool(args.keep_logs),
        report=args.report or (RAW / "BENCHMARKS-quick.md" if quick else docker.ROOT / "BENCHMARKS.md"),
        results=args.results or (RAW / "results-quick.json" if quick else docker.ROOT / "bench" / "results.json"),
        command=shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        render_only=bool(args.render_only),
    )


def node_run_estimate(rate: int, duration: float) -> float:
    return duration + 14 + 3 * rate * duration * PARSE_SECONDS_PER_LINE


def plan(options: Options) -> list[tuple[str, float]]:
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
        guess = max(options.rates) * 2
        steps.append(("capacity", node_run_estimate(guess, options.capacity_duration)))
        steps += [("ceiling probe", node_run_estimate(guess, options.ceiling_duration))] * options.ceiling_probes
    if "analysis" not in options.skip:
        steps.append((f"analysis of {options.analysis_lines:,} lines", 15 + options.analysis_lines * 3e-5))
    return steps


def reference_modes(rate: int, options: Options) -> tuple[str, ...]:
    if "reference" in options.skip:
        return ()
    return ("naive", "thread") if rate in options.thread_rates else ("naive",)


# -- the runs -------------------------------------------------------------------------------
def node_summary(timing: RunTiming, run: docker.ComposeRun, threshold: float) -> dict[str, Any]:
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
    lat = timing.latency
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
        "latency": asdict(lat),
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


def run_nodes(rate: int, duration: float, tag: str, options: Options) -> dict[str, Any]:
    logs = RAW / tag
    shutil.rmtree(logs, ignore_errors=True)
    env = {
        "NODE1_CLOCK_RATE": str(rate),
        "NODE2_CLOCK_RATE": str(rate),
        "NODE3_CLOCK_RATE": str(rate),
        "MIN_CLOCK_RATE": "1",
        "MAX_CLOCK_RATE": str(max(6, rate)),
        "DURATION": f"{duration:g}",
        "SEED": "1",
        "RUN_ID": tag,
        "MAX_EVENT_NUM": "10",
        "STATUS_INTERVAL": "5",
    }
    run = docker.ComposeRun(logs, env, timeout=duration + 120, output=RAW / f"{tag}.out")
    run.run()
    timing = analyse_run(logs / tag, duration, run.launched_at)
    summary = {"rate": rate, "duration": duration, **node_summary(timing, run, options.threshold)}
    if any(code != 0 for code in run.exit_codes.values()) or len(run.exit_codes) < 4:
        summary["pass"] = False
        summary["problems"].append(f"exit codes {run.exit_codes} (output: {RAW / f'{tag}.out'})")
    if not options.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return summary


def run_reference(mode: str, rate: int, options: Options) -> dict[str, Any]:
    tag = f"{mode}-{rate}"
    out = RAW / tag
    shutil.rmtree(out, ignore_errors=True)
    image = options.node_image or docker.NODE_IMAGE
    docker.run_reference(mode, rate, options.naive_duration, out, RAW / f"{tag}.out", image)
    timing = analyse_run(out, options.naive_duration)
    nodes = {
        name: {"ratio": round(t.ratio, 7), "late_p50_ms": t.late_p50_ms, "late_p99_ms": t.late_p99_ms}
        for name, t in timing.nodes.items()
    }
    if not options.keep_logs:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "mode": mode,
        "rate": rate,
        "duration": options.naive_duration,
        "min_ratio": round(timing.min_ratio(), 7),
        "max_ratio": round(max((t.ratio for t in timing.nodes.values()), default=math.nan), 7),
        "late_p50_ms": max((n["late_p50_ms"] for n in nodes.values()), default=math.nan),
        "late_p99_ms": max((n["late_p99_ms"] for n in nodes.values()), default=math.nan),
        "problems": timing.problems,
        "nodes": nodes,
    }


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
    return min(rates) if len(rates) == len(docker.NODES) else None


def analysis_row(lines: int, folder: Path) -> dict[str, Any]:
    """Generate a simulated run of `lines` JSON lines, then time `python -m analysis` on it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rates = {"node1": 500, "node2": 1000, "node3": 1500}
    sim = Simulation(
        rates=rates, duration=math.ceil(lines / sum(rates.values())), seed=1, epoch=time.time(), run_id=folder.name
    )
    files = {node: (folder / f"{node}.jsonl").open("w", encoding="utf-8") for node in rates}
    count = 0

    # json.dumps per record, as when BENCHMARKS.md was measured (its generation row); the
    # simulator's own writer (node.simulate.write_simulation) is faster, see README.
    def sink(node: str, record: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        files[node].write(json.dumps(record, ensure_ascii=False) + "\n")

    started = time.perf_counter()
    run_simulation(sim, sink)
    for f in files.values():
        f.close()
    generate_s = time.perf_counter() - started
    row: dict[str, Any] = {
        "lines": count,
        "bytes": sum((folder / f"{n}.jsonl").stat().st_size for n in rates),
        "generate_s": round(generate_s, 2),
        "generate_lines_per_s": round(count / generate_s),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "analysis", str(folder)],
        cwd=docker.ROOT,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    outputs = sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".md", ".png"))
    row["outputs"] = outputs
    if result.returncode != 0:
        row["status"] = "failed"
        row["error"] = (result.stderr or result.stdout).strip().splitlines()[-3:]
    elif "summary.json" not in outputs:
        row["status"] = "pending"
        row["error"] = [f"`python -m analysis` wrote no summary.json (output: {result.stdout.strip()[:200]!r})"]
    else:
        row["status"] = "ok"
    row["analysis_s"] = round(elapsed, 2)
    row["analysis_lines_per_s"] = round(count / elapsed) if row["status"] == "ok" else None
    row["analysis_peak_rss_mb"] = round(peak / 1024) if peak > before and row["status"] == "ok" else None
    return row


# -- the suite --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.render_only:
        options.report.write_text(report.render(json.loads(options.results.read_text())))
        print(f"{options.report} rewritten from {options.results}")
        return 0
    RAW.mkdir(parents=True, exist_ok=True)
    if options.node_image:
        docker.use_node_image(options.node_image)
    progress = Progress(plan(options))
    started = dt.datetime.now(dt.UTC)
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
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "command": options.command,
        "quick": options.quick,
        "config": {
            "duration_s": options.duration,
            "rates": options.rates,
            "naive_duration_s": options.naive_duration,
            "thread_rates": options.thread_rates,
            "ceiling_probes": options.ceiling_probes,
            "ceiling_duration_s": options.ceiling_duration,
            "threshold": options.threshold,
            "seed": 1,
            "max_event_num": 10,
            "status_interval_s": 5,
            "compose_project": docker.PROJECT,
            "node_image": options.node_image or docker.NODE_IMAGE,
        },
        "load_before": [round(x, 2) for x in load_before],
        "busy_before_percent": None if busy_before is None else round(busy_before, 1),
    }

    def step(name: str, action: Callable[[], Any]) -> Any:
        progress.step(name)
        value = action()
        progress.finished()
        return value

    def build() -> None:
        if options.build:
            docker.build_images()
        results["machine"] = machine.describe()
        images = (options.node_image or docker.NODE_IMAGE, "lamport-analysis:latest")
        results["images"] = {name: docker.image_size(name) for name in images}

    step("build images, machine, image sizes", build)

    def profile() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="profile-", dir=RAW) as tmp:
            result = profile_cluster(options.profile_rate, options.profile_duration, Path(tmp))
        share = {row["part"].strip(): row["share"] for row in result["parts"]}
        say(f"log line {share.get('log one line (EventLog.emit)', 0):.0%} of node1's time; ratios {result['ratios']}")
        return result

    if "micro" not in options.skip:
        results["micro"] = step("micro-benchmarks of a tick's parts (in-process)", run_micro)
    if "profile" not in options.skip:
        results["profile"] = step(f"profile node1 at {options.profile_rate}/s (cProfile, loopback)", profile)

    runs: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    for rate in options.rates:
        summary = step(
            f"nodes at {rate}/s for {options.duration:g} s",
            partial(run_nodes, rate, options.duration, f"rate-{rate}", options),
        )
        runs.append(summary)
        say(_run_line(summary))
        for mode in reference_modes(rate, options):
            ref = step(
                f"{mode} loop at {rate}/s for {options.naive_duration:g} s", partial(run_reference, mode, rate, options)
            )
            reference.append(ref)
            say(
                f"{mode}: achieved/configured {ref['min_ratio']:.5f}..{ref['max_ratio']:.5f}, "
                f"late p50 {ref['late_p50_ms']:.3f} p99 {ref['late_p99_ms']:.3f} ms"
            )
    results["rates"] = runs
    results["reference"] = reference

    passed = [r["rate"] for r in runs if r["pass"]]
    failed = [r["rate"] for r in runs if not r["pass"]]
    probes: list[dict[str, Any]] = []
    capacity = None
    if "ceiling" not in options.skip:
        flat_out = step(
            f"capacity: nodes asked for {CAPACITY_RATE}/s for {options.capacity_duration:g} s (they run flat out)",
            partial(run_nodes, CAPACITY_RATE, options.capacity_duration, "capacity", options),
        )
        capacity = capacity_of(flat_out)
        say(f"capacity: {capacity and round(capacity)} ticks/s per node (slowest node); {_run_line(flat_out)}")
    for n in range(0 if "ceiling" in options.skip else options.ceiling_probes):
        probe = next_probe(passed, failed, capacity)
        if probe is None:
            for _ in range(options.ceiling_probes - n):
                progress.skip()
            break
        summary = step(
            f"ceiling probe {n + 1}: nodes at {probe}/s for {options.ceiling_duration:g} s",
            partial(run_nodes, probe, options.ceiling_duration, f"ceiling-{probe}", options),
        )
        probes.append(summary)
        say(_run_line(summary))
        (passed if summary["pass"] else failed).append(probe)
    highest = max(passed, default=None)
    lowest_fail = min((f for f in failed if highest is None or f > highest), default=None)
    results["ceiling"] = {
        "highest_pass": highest,
        "lowest_fail": lowest_fail,
        "capacity": None if capacity is None else round(capacity),
        "capacity_run_s": options.capacity_duration,
        "probes": [_probe_row(p) for p in probes],
    }

    def analysis() -> dict[str, Any]:
        row = analysis_row(options.analysis_lines, RAW / "analysis-run")
        say(
            f"analysis: {row['status']}, {row['lines']:,} lines generated at {row['generate_lines_per_s']:,}/s"
            + (f", analysed in {row['analysis_s']} s" if row["status"] == "ok" else "")
        )
        if not options.keep_logs:
            shutil.rmtree(RAW / "analysis-run", ignore_errors=True)
        return row

    if "analysis" not in options.skip:
        results["analysis"] = step(f"analysis: {options.analysis_lines:,} simulated lines -> summary + plots", analysis)
    startups = [r["startup_s"] for r in runs if r["startup_s"] is not None]
    results["startup"] = {
        "samples_s": startups,
        "median_s": round(statistics.median(startups), 3) if startups else None,
        "min_s": min(startups, default=None),
        "max_s": max(startups, default=None),
    }
    results["load_after"] = [round(x, 2) for x in machine.load()]
    results["wall_s"] = round(time.monotonic() - progress.started)
    options.results.parent.mkdir(parents=True, exist_ok=True)
    options.results.write_text(json.dumps(_finite(results), indent=1, allow_nan=False) + "\n")
    options.report.write_text(report.render(json.loads(options.results.read_text())))
    print(f"done in {_clock(results['wall_s'])}: {options.report} and {options.results}", flush=True)
    return 0 if all(r["pass"] for r in runs) else 1


def _finite(value: Any) -> Any:
    """The results with NaN and infinities as null (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _probe_row(summary: dict[str, Any]) -> dict[str, Any]:
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


def _run_line(summary: dict[str, Any]) -> str:
    ratios = " ".join(f"{n['ratio']:.5f}" for n in summary["nodes"].values())
    cpu = " ".join(f"{n['cpu_percent'] or 0:.0f}%" for n in summary["nodes"].values())
    verdict = "pass" if summary["pass"] else "FAIL " + "; ".join(summary["problems"])
    others = summary["other_cpu_percent"]
    return (
        f"achieved/configured {ratios}; late p50 {summary['late_p50_ms']:.3f} p99 {summary['late_p99_ms']:.3f} "
        f"ms; CPU {cpu} (rest of the machine {others if others is None else round(others)}%); "
        f"start-up {summary['startup_s']} s; {verdict}"
    )

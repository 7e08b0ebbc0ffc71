"""The analysis rows: a simulated run of a million JSON lines through `python -m analysis` (every
output: summary, plots, spacetime.png, shiviz.log, explorer.html), timed against a plain loop of
the standard library's `json.loads` over the same lines, alternating in one run (the target: the
whole analysis in less time than that loop needs only to parse); and a run of 100 nodes."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.options import RAW, Options
from bench.progress import say
from deploy.compose import ROOT
from node.simulation import cluster, run_simulation, write_simulation

RATES = {"node1": 500, "node2": 1000, "node3": 1500}
ROUNDS = 3  # the json.loads loop and the analysis, alternating: medians of these
MANY_NODES = 100  # the run of many nodes: rates drawn from 1..6 (the defaults) for MANY_SECONDS
MANY_SECONDS = 60.0


def generate(lines: int, folder: Path) -> tuple[int, float]:
    """A simulated run of about `lines` JSON lines into `folder`: (lines written, seconds taken)."""
    sim = cluster(
        len(RATES),
        seed=1,
        rates=RATES,
        duration=math.ceil(lines / sum(RATES.values())),
        epoch=time.time(),
        run_id=folder.name,
    )
    files = {node: (folder / f"{node}.jsonl").open("w", encoding="utf-8") for node in RATES}
    count = 0

    # json.dumps per record, as when BENCHMARKS.md was measured (its generation row); the
    # simulator's own writer (node.simulation.write_simulation) is faster, see README.
    def sink(node: str, record: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        files[node].write(json.dumps(record, ensure_ascii=False) + "\n")

    started = time.perf_counter()
    run_simulation(sim, sink)
    for f in files.values():
        f.close()
    return count, time.perf_counter() - started


def analysis_row(lines: int, folder: Path, rounds: int = ROUNDS) -> dict[str, Any]:
    """Generate a simulated run of `lines` JSON lines, then time `python -m analysis` on it and
    the json.loads loop on the same files, alternating `rounds` times."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count, generate_s = generate(lines, folder)
    row: dict[str, Any] = {
        "lines": count,
        "bytes": sum((folder / f"{n}.jsonl").stat().st_size for n in RATES),
        "generate_s": round(generate_s, 2),
        "generate_lines_per_s": round(count / generate_s),
    }
    loops: list[float] = []
    runs: list[tuple[float, int, str, int | None]] = []
    for _ in range(rounds):
        loops.append(_run_json_loop(folder))
        runs.append(_run_analysis(folder))
    elapsed = statistics.median(run[0] for run in runs)
    failed = next((run for run in runs if run[1] != 0), None)
    outputs = sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".md", ".png", ".html", ".log"))
    row["outputs"] = outputs
    if failed is not None:
        row["status"] = "failed"
        row["error"] = failed[2].strip().splitlines()[-3:]
    elif "summary.json" not in outputs:
        row["status"] = "pending"
        row["error"] = [f"`python -m analysis` wrote no summary.json (output: {runs[-1][2].strip()[:200]!r})"]
    else:
        row["status"] = "ok"
    ok = row["status"] == "ok"
    peaks = [run[3] for run in runs if run[3] is not None]
    row["analysis_s"] = round(elapsed, 2)
    row["analysis_runs_s"] = [round(run[0], 2) for run in runs]
    row["analysis_lines_per_s"] = round(count / elapsed) if ok else None
    row["analysis_peak_rss_mb"] = round(max(peaks) / 1024) if ok and peaks else None
    row["json_loads_s"] = round(statistics.median(loops), 2)
    row["json_loads_runs_s"] = [round(loop, 2) for loop in loops]
    # Each round's analysis against the loop just before it, then the median: both saw the same load.
    row["ratio"] = round(statistics.median(run[0] / loop for run, loop in zip(runs, loops, strict=True)), 2)
    return row


def many_nodes_row(folder: Path, nodes: int = MANY_NODES, duration: float = MANY_SECONDS) -> dict[str, Any]:
    """A simulated run of `nodes` nodes (MAX_EVENT_NUM = nodes, the least the rule allows), then
    `python -m analysis` on it, every output and the causality included: time and peak RSS."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sim = cluster(nodes, seed=1, duration=duration, max_event_num=nodes, run_id=folder.name)
    write_simulation(sim, folder)
    lines = sum(path.read_bytes().count(b"\n") for path in folder.glob("*.jsonl"))
    elapsed, returncode, output, peak_kb = _run_analysis(folder)
    row: dict[str, Any] = {"nodes": nodes, "duration_s": duration, "lines": lines}
    if returncode != 0 or not (folder / "summary.json").exists():
        return {**row, "status": "failed", "error": output.strip().splitlines()[-3:]}
    summary = json.loads((folder / "summary.json").read_text())
    return {
        **row,
        "status": "ok",
        "events": summary["causality"]["events"],
        "messages": summary["causality"]["messages"],
        "analysis_s": round(elapsed, 2),
        "analysis_peak_rss_mb": round(peak_kb / 1024) if peak_kb is not None else None,
    }


# The json.loads loop the analysis is measured against: the files line by line, nothing kept.
_JSON_LOOP = """
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    with path.open("rb") as file:
        for line in file:
            json.loads(line)
"""


def _run_json_loop(folder: Path) -> float:
    """Seconds for a new interpreter to json.loads every line of the files (a whole process, as the analysis)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _JSON_LOOP, str(folder)], cwd=ROOT, check=True, timeout=1800)
    return time.perf_counter() - started


# `python -m analysis FOLDER`, then its own high-water mark from /proc (VmHWM: this process's
# memory only). The rusage of a child is no good here: its maximum includes the suite's own
# memory, shared with the child between fork and exec.
_ANALYSE_AND_REPORT = """
import atexit, runpy, sys
def report():
    with open("/proc/self/status") as f:
        peak = next((line.split()[1] for line in f if line.startswith("VmHWM:")), "")
    print(f"bench-peak-kb {peak}", file=sys.stderr)
atexit.register(report)
sys.argv = ["analysis", sys.argv[1]]
runpy.run_module("analysis", run_name="__main__", alter_sys=True)
"""


def _run_analysis(folder: Path) -> tuple[float, int, str, int | None]:
    """`python -m analysis FOLDER`: (seconds, exit code, its output, its peak RSS in kB or None)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _ANALYSE_AND_REPORT, str(folder)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    peak = next((line.split()[1:] for line in result.stderr.splitlines() if line.startswith("bench-peak-kb")), [])
    kb = int(peak[0]) if peak and peak[0].isdigit() else None
    return elapsed, result.returncode, result.stdout + result.stderr, kb


def measure_analysis(options: Options) -> dict[str, Any]:
    """The suite's step: the row, one line on the terminal, the raw run removed unless kept."""
    folder = RAW / "analysis-run"
    row = analysis_row(options.analysis_lines, folder)
    say(
        f"analysis: {row['status']}, {row['lines']:,} lines generated at {row['generate_lines_per_s']:,}/s"
        + (
            f", analysed in {row['analysis_s']} s (json.loads loop {row['json_loads_s']} s: "
            f"ratio {row['ratio']}), peak RSS {row['analysis_peak_rss_mb']} MB"
            if row["status"] == "ok"
            else ""
        )
    )
    if not options.keep_logs:
        shutil.rmtree(folder, ignore_errors=True)
    return row


def measure_many_nodes(options: Options) -> dict[str, Any]:
    """The suite's step for the run of MANY_NODES nodes, like measure_analysis."""
    folder = RAW / "many-nodes-run"
    row = many_nodes_row(folder)
    say(
        f"{row['nodes']} nodes: {row['status']}"
        + (
            f", {row['events']:,} events analysed in {row['analysis_s']} s, peak RSS {row['analysis_peak_rss_mb']} MB"
            if row["status"] == "ok"
            else ""
        )
    )
    if not options.keep_logs:
        shutil.rmtree(folder, ignore_errors=True)
    return row

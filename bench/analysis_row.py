"""The analysis row: generate a simulated run of a million JSON lines, then time `python -m analysis` on it."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.options import RAW, Options
from bench.progress import say
from deploy.compose import ROOT
from node.simulation import cluster, run_simulation

RATES = {"node1": 500, "node2": 1000, "node3": 1500}


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


def analysis_row(lines: int, folder: Path) -> dict[str, Any]:
    """Generate a simulated run of `lines` JSON lines, then time `python -m analysis` on it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count, generate_s = generate(lines, folder)
    row: dict[str, Any] = {
        "lines": count,
        "bytes": sum((folder / f"{n}.jsonl").stat().st_size for n in RATES),
        "generate_s": round(generate_s, 2),
        "generate_lines_per_s": round(count / generate_s),
    }
    elapsed, returncode, output, peak_kb = _run_analysis(folder)
    outputs = sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".md", ".png"))
    row["outputs"] = outputs
    if returncode != 0:
        row["status"] = "failed"
        row["error"] = output.strip().splitlines()[-3:]
    elif "summary.json" not in outputs:
        row["status"] = "pending"
        row["error"] = [f"`python -m analysis` wrote no summary.json (output: {output.strip()[:200]!r})"]
    else:
        row["status"] = "ok"
    row["analysis_s"] = round(elapsed, 2)
    row["analysis_lines_per_s"] = round(count / elapsed) if row["status"] == "ok" else None
    row["analysis_peak_rss_mb"] = round(peak_kb / 1024) if row["status"] == "ok" and peak_kb is not None else None
    return row


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
        + (f", analysed in {row['analysis_s']} s" if row["status"] == "ok" else "")
    )
    if not options.keep_logs:
        shutil.rmtree(folder, ignore_errors=True)
    return row

"""The reference loops (bench.naive) the node is compared with: three of them side by side in
containers of the node image, locked down like the compose services, then their figures."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.cluster import NODES, PROJECT
from bench.metrics import analyse_run
from deploy.compose import ROOT


def run_loops(mode: str, rate: int, duration: float, out: Path, output: Path, image: str) -> float:
    """Three reference loops in containers of `image`, logging into `out`; returns the launch time."""
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{PROJECT}-{mode}-{node}" for node in NODES]
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    launched = time.time()
    for name, node in zip(names, NODES, strict=True):
        # Locked down like the compose services; bench/ is mounted next to the image's node/.
        command = ["docker", "run", "-d", "--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL"]
        command += [
            "--security-opt",
            "no-new-privileges:true",
            "--tmpfs",
            "/tmp",
            "--user",
            f"{os.getuid()}:{os.getgid()}",
        ]
        command += ["-v", f"{ROOT / 'bench'}:/app/bench:ro", "-v", f"{out}:/out", "--entrypoint", "python", image]
        command += ["-m", "bench.naive", "--mode", mode, "--rate", str(rate), "--duration", str(duration)]
        command += ["--node", node, "--out", "/out"]
        subprocess.run(command, check=True, capture_output=True)
    with output.open("w") as log:
        for name in names:
            wait = subprocess.run(
                ["docker", "wait", name], text=True, capture_output=True, check=False, timeout=duration * 3 + 120
            )
            logs = subprocess.run(["docker", "logs", name], text=True, capture_output=True, check=False)
            log.write(f"== {name}: exit {wait.stdout.strip()}\n{logs.stdout}{logs.stderr}")
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return launched


def measure_reference(mode: str, rate: int, duration: float, image: str, raw: Path, keep_logs: bool) -> dict[str, Any]:
    """Run the loops of `mode` at `rate` for `duration` s; their row of bench/results.json."""
    tag = f"{mode}-{rate}"
    out = raw / tag
    shutil.rmtree(out, ignore_errors=True)
    run_loops(mode, rate, duration, out, raw / f"{tag}.out", image)
    timing = analyse_run(out, duration)
    nodes = {
        name: {"ratio": round(t.ratio, 7), "late_p50_ms": t.late_p50_ms, "late_p99_ms": t.late_p99_ms}
        for name, t in timing.nodes.items()
    }
    if not keep_logs:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "mode": mode,
        "rate": rate,
        "duration": duration,
        "min_ratio": round(timing.min_ratio(), 7),
        "max_ratio": round(max((t.ratio for t in timing.nodes.values()), default=math.nan), 7),
        "late_p50_ms": max((n["late_p50_ms"] for n in nodes.values()), default=math.nan),
        "late_p99_ms": max((n["late_p99_ms"] for n in nodes.values()), default=math.nan),
        "problems": timing.problems,
        "nodes": nodes,
    }

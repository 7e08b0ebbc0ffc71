"""The simulator's speed: the same 60 s, three-node run (4,300, 5,200 and 7,200 ticks/s, about a
million events) simulated in this process, without output and written as JSON lines.

Events are log lines. "Without output": every line handed to no one (node.simulation.simulate
with no output). "JSON lines": node.simulation.write_simulation into bench/raw (the formatting
and the writes included). Three runs each; the median, min and max are reported.
"""

from __future__ import annotations

import shutil
import statistics
import time
from typing import Any

from bench.options import RAW
from node.simulation import cluster, simulate, write_simulation

RATES = {"node1": 4300, "node2": 5200, "node3": 7200}
DURATION = 60.0
RUNS = 3


def measure_simulator(runs: int = RUNS) -> dict[str, Any]:
    sim = cluster(len(RATES), seed=1, rates=RATES, duration=DURATION)
    folder = RAW / "simulator"
    rows: dict[str, Any] = {"rates": list(RATES.values()), "duration_s": DURATION}
    for name in ("no_output", "json_lines"):
        speeds = []
        for _ in range(runs):
            shutil.rmtree(folder, ignore_errors=True)
            started = time.perf_counter()
            outcome = simulate(sim) if name == "no_output" else write_simulation(sim, folder)
            elapsed = time.perf_counter() - started
            if not outcome.ok:
                raise RuntimeError(f"the simulated run failed: {outcome.errors}")
            speeds.append(outcome.lines / elapsed)
            rows["events"] = outcome.lines
        rows[name] = {
            "events_per_s_median": round(statistics.median(speeds)),
            "events_per_s_min": round(min(speeds)),
            "events_per_s_max": round(max(speeds)),
        }
    shutil.rmtree(folder, ignore_errors=True)
    return rows

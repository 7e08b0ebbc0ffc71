"""The figures of an earlier code version, for BENCHMARKS.md's before/after table.

    python -m bench.baseline --checkout ../before --out bench/baseline.json

`--checkout` is a worktree of the earlier commit on which `python -m bench --keep-logs` has run
(so its bench/results.json and bench/raw/ exist). Its nodes' figures are recomputed from its raw
logs with today's definitions (bench.metrics: the analysis's matcher and percentile), so both
columns of the table mean the same thing; the ceiling, start-up, CPU and analysis rows are
carried over as that suite measured them. Its simulator (the specialised loop before the node
core ran in virtual time) is timed here, in a subprocess running that checkout's code, the way
bench.simspeed times today's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.metrics import analyse_run
from bench.simspeed import DURATION, RATES, RUNS

# The earlier simulator's API (node.simulate.Simulation / simulate with an output object).
_OLD_SIMULATOR = """
import json, shutil, statistics, sys, tempfile, time
from pathlib import Path
from node.simulate import Simulation, simulate, write_simulation
rates, duration, runs = json.loads(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
class Discard:
    lines = 0
    def _count(self, *args): self.lines += 1
    start = connected = receive = send = internal = stop = _count
sim = Simulation(rates=rates, duration=duration, seed=1)
speeds = {"no_output": [], "json_lines": []}
for _ in range(runs):
    out = Discard(); t = time.perf_counter(); simulate(sim, out)
    speeds["no_output"].append(out.lines / (time.perf_counter() - t))
    folder = Path(tempfile.mkdtemp()); t = time.perf_counter(); lines = write_simulation(sim, folder)
    speeds["json_lines"].append(lines / (time.perf_counter() - t)); shutil.rmtree(folder)
print(json.dumps({"events": out.lines, **{k: {
    "events_per_s_median": round(statistics.median(v)), "events_per_s_min": round(min(v)),
    "events_per_s_max": round(max(v))} for k, v in speeds.items()}}))
"""


def old_simulator(checkout: Path) -> dict[str, Any]:
    command = [sys.executable, "-c", _OLD_SIMULATOR, json.dumps(RATES), str(DURATION), str(RUNS)]
    result = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True)
    return {"rates": list(RATES.values()), "duration_s": DURATION, **json.loads(result.stdout)}


def baseline(checkout: Path) -> dict[str, Any]:
    results = json.loads((checkout / "bench" / "results.json").read_text())
    raw = checkout / "bench" / "raw"
    rates = []
    for run in results["rates"]:
        tag = f"rate-{run['rate']}"
        timing = analyse_run(raw / tag / tag, run["duration"])
        worst = max(timing.nodes.values(), key=lambda n: n.late_p99_ms)
        rates.append(
            {
                "rate": run["rate"],
                "min_ratio": round(timing.min_ratio(), 7),
                "late_p50_ms": round(max(n.late_p50_ms for n in timing.nodes.values()), 3),
                "late_p99_ms": round(worst.late_p99_ms, 3),
                "latency_p50_ms": round(timing.latency.p50_ms, 3),
                "latency_p99_ms": round(timing.latency.p99_ms, 3),
                "cpu_percent": [n["cpu_percent"] for n in run["nodes"].values()],
            }
        )
    return {
        "date": results["date"],
        "code": results["machine"]["git"],
        "command": results["command"],
        "rates": rates,
        "ceiling": results["ceiling"],
        "startup": results["startup"],
        "analysis": results.get("analysis"),
        "simulator": old_simulator(checkout),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, required=True, help="worktree of the earlier commit, after its bench")
    parser.add_argument("--out", type=Path, default=Path("bench/baseline.json"))
    args = parser.parse_args(argv)
    if not (args.checkout / "bench" / "results.json").exists() or not (args.checkout / "bench" / "raw").is_dir():
        print(f"bench.baseline: {args.checkout} has no bench/results.json and bench/raw (run its bench --keep-logs)")
        return 2
    args.out.write_text(json.dumps(baseline(args.checkout), indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

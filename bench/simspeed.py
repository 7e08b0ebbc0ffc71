"""The simulator's speed (BENCHMARKS.md: simulator rows).

Three nodes: the same 60 s run (4,300, 5,200 and 7,200 ticks/s, about a million events)
simulated in this process, without output and written as JSON lines. Events are log lines.
"Without output": every line handed to no one (node.simulation.simulate with no output). "JSON
lines": node.simulation.write_simulation into bench/raw (the formatting and the writes
included). Three runs each; the median, min and max are reported.

Many nodes: 100 and 1,000 nodes (every node dials every other: 9,900 and 999,000 links), each
run once per output in a process of its own, so that its peak memory (VmHWM) is its own. Rates
are pinned, MAX_EVENT_NUM is 10/3 of N (three nodes' share of sending draws: 3 in 10). Besides
events/s over the whole run, the wall time of its phases: connecting (to 0.01 s of virtual
time: every link up, a few ticks), ticking (to DURATION) and closing (drain, stop lines).

    python -m bench.simspeed                      # everything, as JSON on stdout
    python -m bench.simspeed --nodes 1000         # one many-nodes configuration, both outputs
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.options import RAW
from deploy.compose import ROOT
from node.simulation import cluster, simulate, write_simulation

RATES = {"node1": 4300, "node2": 5200, "node3": 7200}
DURATION = 60.0
RUNS = 3
OUTPUTS = ("no_output", "json_lines")
CONNECTED_BY = 0.01  # virtual seconds: every link is up long before (a few wire delays)


@dataclass(frozen=True)
class Many:
    nodes: int
    rate: int  # ticks/s, every node
    duration: float  # virtual seconds

    @property
    def max_event_num(self) -> int:
        return 10 * self.nodes // 3


# 100 nodes: a million ticks, as the three-node run. 1,000 nodes: connecting 999,000 links takes
# most of a run whatever its length (about a minute and a half on this machine), so few ticks.
MANY = (Many(100, 1000, 10.0), Many(1000, 10, 10.0))


def measure_simulator(runs: int = RUNS, many: tuple[Many, ...] = MANY) -> dict[str, Any]:
    sim = cluster(len(RATES), seed=1, rates=RATES, duration=DURATION)
    folder = RAW / "simulator"
    rows: dict[str, Any] = {"rates": list(RATES.values()), "duration_s": DURATION}
    for name in OUTPUTS:
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
    rows["many"] = [measure_many(config, output) for config in many for output in OUTPUTS]
    return rows


def measure_many(config: Many, output: str) -> dict[str, Any]:
    """One run of `config` in a child process (`python -m bench.simspeed --child`): its figures."""
    command = [sys.executable, "-m", "bench.simspeed", "--child", output, *map(str, (config.nodes, config.rate))]
    command.append(f"{config.duration:g}")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=3600)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"simulator run with {config.nodes} nodes ({output}) failed: {tail}")
    row: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return row


def child(output: str, config: Many, folder: Path | None = None) -> dict[str, Any]:
    """One many-nodes run in this process, JSON lines into `folder` (removed after; default in
    bench/raw): its figures (the suite's child)."""
    sim = cluster(
        config.nodes,
        seed=1,
        duration=config.duration,
        max_event_num=config.max_event_num,
        env={"MIN_CLOCK_RATE": str(config.rate), "MAX_CLOCK_RATE": str(config.rate)},
    )
    folder = folder or RAW / f"simulator-{config.nodes}"
    shutil.rmtree(folder, ignore_errors=True)
    times: list[float] = []
    marks = [(at, lambda: times.append(time.perf_counter())) for at in (CONNECTED_BY, config.duration)]
    started, cpu = time.perf_counter(), time.process_time()
    outcome = simulate(sim, marks=marks) if output == "no_output" else write_simulation(sim, folder, marks=marks)
    ended, cpu = time.perf_counter(), time.process_time() - cpu
    shutil.rmtree(folder, ignore_errors=True)
    if not outcome.ok:
        raise RuntimeError(f"the simulated run failed: {outcome.errors[:3]}")
    ticks = sum(c.counts["receive"] + c.counts["send"] + c.counts["internal"] for c in outcome.cores.values())
    with open("/proc/self/status") as status:  # this process's own high-water mark
        peak_kb = int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    wall = ended - started
    return {
        **asdict(config),
        "max_event_num": config.max_event_num,
        "output": output,
        "events": outcome.lines,
        "ticks": ticks,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "events_per_s": round(outcome.lines / wall),
        "connecting_s": round(times[0] - started, 2),
        "ticking_s": round(times[1] - times[0], 2),
        "closing_s": round(ended - times[1], 2),
        "ticks_per_s_ticking": round(ticks / (times[1] - times[0])),
        "peak_rss_mb": round(peak_kb / 1024),
    }


def many_row(run: dict[str, Any]) -> str:
    """BENCHMARKS.md's row for one many-nodes run."""
    what = "without output" if run["output"] == "no_output" else "written as JSON lines"
    links = run["nodes"] * (run["nodes"] - 1)
    return (
        f"| simulator, {run['nodes']:,} nodes ({links:,} links) at {run['rate']}/s for {run['duration']:g} s, "
        f"MAX_EVENT_NUM={run['max_event_num']}, {what} | (reported) "
        f"| {run['events']:,} events in {run['wall_s']:.1f} s = {run['events_per_s']:,} events/s "
        f"(connecting {run['connecting_s']:.1f} s, ticking {run['ticking_s']:.1f} s = "
        f"{run['ticks_per_s_ticking']:,} ticks/s, closing {run['closing_s']:.1f} s); "
        f"peak RSS {run['peak_rss_mb']:,} MiB | |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simspeed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, help="only the many-nodes configuration with this N")
    parser.add_argument("--child", nargs=4, metavar=("OUTPUT", "N", "RATE", "DURATION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        output, nodes, rate, duration = args.child
        if output not in OUTPUTS:
            parser.error(f"--child: OUTPUT must be one of {', '.join(OUTPUTS)}")
        print(json.dumps(child(output, Many(int(nodes), int(rate), float(duration)))))
        return 0
    if args.nodes is not None:
        configs = [m for m in MANY if m.nodes == args.nodes]
        if not configs:
            parser.error(f"--nodes: one of {', '.join(str(m.nodes) for m in MANY)}")
        print(json.dumps([measure_many(config, output) for config in configs for output in OUTPUTS], indent=2))
        return 0
    print(json.dumps(measure_simulator(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

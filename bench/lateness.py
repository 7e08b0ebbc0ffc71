"""Where late ticks come from: three `python -m node` processes on loopback, each instrumented,
every late tick's lateness split into its causes along the node's own timeline.

    python -m bench.lateness --rate 10000 --duration 15 [--code DIR] [--threshold-ms 0.2]

Each node records (in memory, written at exit): every wait of its event loop (when it began,
the timeout asked for, when it returned) with its thread's CPU time and run-queue time from
/proc/thread-self/schedstat at both ends; garbage collections (gc.callbacks); log writes slower
than 50 us; and every tick later than 0.1 ms (when it started, how late). A late tick's
lateness is the stretch from its deadline to its start, cut by that timeline into:

- `woke late: waiting for a CPU`: the loop's wait had ended (its timeout passed) but the
  thread sat in the run queue (the other nodes, Docker, anything else on the two cores);
- `woke late: timer / VM`: the rest of a wait's overshoot (timer slack, the guest's wake-up);
- `asleep past the deadline`: the loop chose to sleep past this tick's deadline: by design for
  the earlier ticks of a group (node.ticker.WAKE_INTERVAL), never otherwise;
- `busy: garbage collection`, `busy: slow log write` (a line over 50 us), `busy: preempted`
  (run-queue time while running callbacks), `busy: work` (the rest: earlier ticks, frames read,
  acknowledgements, status lines: the CPU the loop spent before it came to this tick).

The instrumentation costs a few microseconds per loop iteration (two reads of schedstat), so
the run is slower than an uninstrumented one: read the shares, not the absolute lateness.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from array import array
from functools import partial
from pathlib import Path
from typing import Any

# Only the standard library at the top: the child imports `node` from the checkout measured.
ROOT = Path(__file__).resolve().parents[1]
IDS = ("node1", "node2", "node3")

FIFO = -100  # --nice value that asks for real-time priority instead
RECORD_LATE_S = 0.0001  # ticks later than this are recorded by the instrumented node
SLOW_WRITE_S = 0.00005  # log writes slower than this are recorded
CAUSES = (
    "woke late: waiting for a CPU",
    "woke late: timer / VM",
    "asleep past the deadline",
    "busy: garbage collection",
    "busy: slow log write",
    "busy: preempted",
    "busy: work",
)


class Recorder:
    """The instrumented node's timeline, kept in flat arrays (no object per event on the hot path)."""

    def __init__(self) -> None:
        self.waits = array("d")  # enter, timeout, exit, cpu_enter, rq_enter, cpu_exit, rq_exit (s)
        self.gcs = array("d")  # start, end, generation
        self.writes = array("d")  # start, end
        self.ticks = array("d")  # start, late
        self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        self._gc_start = 0.0

    def schedstat(self) -> tuple[float, float]:
        """This thread's CPU time and time waiting in a run queue, in seconds."""
        cpu, rq, _ = os.pread(self._fd, 128, 0).split()
        return int(cpu) / 1e9, int(rq) / 1e9

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.monotonic()
        else:
            self.gcs.extend((self._gc_start, time.monotonic(), float(info["generation"])))

    def dump(self, path: Path) -> None:
        data = {name: list(getattr(self, name)) for name in ("waits", "gcs", "writes", "ticks")}
        path.write_text(json.dumps(data))


def instrument(recorder: Recorder) -> None:
    """Patch the node package (the measured checkout's, first on sys.path) to record its timeline."""
    from node import core, eventlog, realtime  # noqa: PLC0415 (the node package being measured)

    monotonic = time.monotonic
    waits, writes, ticks = recorder.waits, recorder.writes, recorder.ticks
    schedstat = recorder.schedstat
    select = realtime.PreciseSelector.select

    def timed_select(self: Any, timeout: float | None = None) -> Any:
        cpu0, rq0 = schedstat()
        t0 = monotonic()
        result = select(self, timeout)
        t1 = monotonic()
        cpu1, rq1 = schedstat()
        waits.extend((t0, -1.0 if timeout is None else timeout, t1, cpu0, rq0, cpu1, rq1))
        return result

    realtime.PreciseSelector.select = timed_select  # type: ignore[method-assign]
    emit = eventlog.LineHandler.emit

    def timed_emit(self: Any, record: Any) -> None:
        t0 = monotonic()
        emit(self, record)
        t1 = monotonic()
        if t1 - t0 > SLOW_WRITE_S:
            writes.extend((t0, t1))

    eventlog.LineHandler.emit = timed_emit  # type: ignore[method-assign]
    tick = core.NodeCore.tick

    def timed_tick(self: Any, index: int, late: float) -> None:
        if late > RECORD_LATE_S:
            ticks.extend((monotonic(), late))
        tick(self, index, late)

    core.NodeCore.tick = timed_tick  # type: ignore[method-assign]
    gc.callbacks.append(recorder.on_gc)


def _child(out: str, code: Path) -> int:
    """One node of `code` under the recorder; its timeline is written to `out` when it exits."""
    from bench.profile import node_child  # noqa: PLC0415 (standard library only at its top)

    sys.path.insert(0, str(code))  # instrument() patches the node package of `code`
    recorder = Recorder()
    instrument(recorder)
    return node_child(code, partial(recorder.dump, Path(out)))


# -- attribution ---------------------------------------------------------------------------------
def _integral(starts: Any, ends: Any, fractions: Any, t: Any) -> Any:
    """For sorted, non-overlapping segments each with a constant fraction of its time counted:
    the time counted from the first segment's start up to each time in `t` (numpy arrays)."""
    import numpy as np  # noqa: PLC0415 (not in the child: only for the analysis)

    if len(starts) == 0:
        return np.zeros(len(t))
    counted = (ends - starts) * fractions
    before = np.concatenate(([0.0], np.cumsum(counted)))
    k = np.searchsorted(starts, t, side="right") - 1  # the segment starting at or before t
    inside = np.clip(t - starts[np.maximum(k, 0)], 0.0, (ends - starts)[np.maximum(k, 0)])
    return np.where(k >= 0, before[np.maximum(k, 0)] + inside * fractions[np.maximum(k, 0)], 0.0)


def attribute(timeline: dict[str, list[float]], threshold_s: float) -> dict[str, Any]:
    """Every tick later than `threshold_s`: its lateness split into CAUSES (seconds summed over
    ticks), and how many ticks each cause dominated."""
    import numpy as np  # noqa: PLC0415

    w = np.array(timeline["waits"], dtype=float).reshape(-1, 7)
    gcs = np.array(timeline["gcs"], dtype=float).reshape(-1, 3)
    slow = np.array(timeline["writes"], dtype=float).reshape(-1, 2)
    t = np.array(timeline["ticks"], dtype=float).reshape(-1, 2)
    t = t[t[:, 1] > threshold_s]
    start, late = t[:, 0], t[:, 1]
    deadline = start - late
    enter, timeout, leave, rq0, rq1 = w[:, 0], w[:, 1], w[:, 2], w[:, 4], w[:, 6]
    target = np.minimum(np.where(timeout >= 0, enter + np.maximum(timeout, 0.0), leave), leave)
    overshoot = np.maximum(leave - target, 1e-12)
    queued = np.clip(rq1 - rq0, 0.0, overshoot) / overshoot  # of the overshoot, waiting for a CPU
    busy_end = np.append(enter[1:], np.inf if len(start) == 0 else max(start.max(), leave[-1]))
    busy = np.maximum(busy_end - leave, 1e-12)
    preempted = np.clip(np.append(w[1:, 4] - rq1[:-1], 0.0) / busy, 0.0, 1.0)  # rq time while busy
    ones = np.ones(len(w))
    parts = {
        "asleep past the deadline": (enter, target, ones),
        "woke late: waiting for a CPU": (target, leave, queued),
        "woke late: timer / VM": (target, leave, 1 - queued),
        "busy: preempted": (leave, busy_end, preempted),
        "busy: work": (leave, busy_end, 1 - preempted),
        "busy: garbage collection": (gcs[:, 0], gcs[:, 1], np.ones(len(gcs))),
        "busy: slow log write": (slow[:, 0], slow[:, 1], np.ones(len(slow))),
    }
    seconds = {c: _integral(*parts[c], start) - _integral(*parts[c], deadline) for c in CAUSES}
    # Collections and slow writes happen while busy: take them out of the busy stretches' share.
    stalls = seconds["busy: garbage collection"] + seconds["busy: slow log write"]
    busy_parts = seconds["busy: preempted"] + seconds["busy: work"]
    scale = np.where(busy_parts > 0, np.maximum(busy_parts - stalls, 0.0) / np.maximum(busy_parts, 1e-12), 0.0)
    seconds["busy: preempted"] = seconds["busy: preempted"] * scale
    seconds["busy: work"] = seconds["busy: work"] * scale
    table = np.array([seconds[c] for c in CAUSES]).reshape(len(CAUSES), -1)
    totals = table.sum(axis=1)
    winners = np.argmax(table, axis=0) if table.shape[1] else np.array([], dtype=int)
    all_late = float(totals.sum()) or 1e-12
    durations = gcs[:, 1] - gcs[:, 0]
    return {
        "late_ticks": len(start),
        "lateness_s": round(float(late.sum()), 4),
        "share": {c: round(float(totals[i]) / all_late, 4) for i, c in enumerate(CAUSES)},
        "dominant": {c: int((winners == i).sum()) for i, c in enumerate(CAUSES)},
        "gc": {
            "collections": [int((gcs[:, 2] == n).sum()) for n in (0, 1, 2)],
            "max_ms": round(1000 * float(durations.max(initial=0.0)), 3),
        },
        "slow_writes": len(slow),
        "slow_write_max_ms": round(1000 * float((slow[:, 1] - slow[:, 0]).max(initial=0.0)), 3),
        "waits": len(w),
        # Waits that ended well before their timeout: a socket (a frame, an acknowledgement) woke the loop.
        "woken_by_io": int(((timeout > 0) & (leave < enter + timeout - 20e-6)).sum()),
    }


def _renice(nice: int) -> None:
    """In the child: `nice` for the node, also against other sessions' work. Linux shares the CPU
    between sessions (autogroups) first and applies nice only within one, so a session of its own
    with that nice (/proc/self/autogroup) is what gives the node its priority on a shared machine.
    `nice` -100: real-time priority instead (SCHED_FIFO 10): the node runs whenever it is ready,
    ahead of any other work; only the other nodes compete for the two cores (a quiet machine)."""
    if nice == FIFO:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return
    os.setsid()
    Path("/proc/self/autogroup").write_text(str(nice))
    os.nice(nice)


# -- the run --------------------------------------------------------------------------------------
def run(
    rate: int, duration: float, folder: Path, code: Path, extra: dict[str, str], instrumented: bool, nice: int = 0
) -> dict[str, Any]:
    """The three nodes of `code` at `rate` (instrumented, or plain `python -m node`), at `nice`."""
    from bench.metrics import analyse_run  # noqa: PLC0415 (not in the child: see the imports)
    from bench.profile import free_ports  # noqa: PLC0415
    from bench.sampler import idle_seconds  # noqa: PLC0415

    idle0, started = idle_seconds(), time.monotonic()
    ports = dict(zip(IDS, free_ports(3), strict=True))
    processes = []
    for node in IDS:
        env = {
            **os.environ,
            **extra,
            "NODE_ID": node,
            "PEERS": ",".join(f"{p}@127.0.0.1:{ports[p]}" for p in IDS if p != node),
            "PORT": str(ports[node]),
            "LOG_DIR": str(folder),
            "RUN_ID": "lateness",
            "CLOCK_RATE": str(rate),
            "DURATION": str(duration),
            "SEED": "1",
            "PYTHONPATH": str(ROOT if instrumented else code),
        }
        out = str(folder / f"{node}.timeline.json")
        command = [sys.executable, "-m", "bench.lateness", "--child", out, "--code", str(code)]
        if not instrumented:
            command = [sys.executable, "-m", "node"]
        processes.append(
            subprocess.Popen(
                command,
                env=env,
                cwd=ROOT if instrumented else code,
                stdout=subprocess.DEVNULL,
                preexec_fn=partial(_renice, nice) if nice else None,  # noqa: PLW1509 - no threads here
            )
        )
    cpu: dict[str, float] = {}
    for node, process in zip(IDS, processes, strict=True):
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        cpu[node] = usage.ru_utime + usage.ru_stime
    idle1, elapsed = idle_seconds(), time.monotonic() - started
    others = None
    if idle0 is not None and idle1 is not None:  # the machine's busy time beyond the three nodes'
        busy = idle0[1] * elapsed - (idle1[0] - idle0[0])
        others = round(100 * (busy - sum(cpu.values())) / elapsed, 1)
    timing = analyse_run(folder / "lateness", duration)
    return {"timing": timing, "cpu_s": cpu, "codes": [p.returncode for p in processes], "others_percent": others}


def report(
    rate: int, duration: float, code: Path, threshold_s: float, extra: dict[str, str], instrumented: bool, nice: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lamport-lateness-") as tmp:
        folder = Path(tmp)
        result = run(rate, duration, folder, code, extra, instrumented, nice)
        nodes = {}
        for node in IDS:
            t = result["timing"].nodes.get(node)
            nodes[node] = {
                "ratio": None if t is None else round(t.ratio, 5),
                "late_p50_ms": None if t is None else round(t.late_p50_ms, 3),
                "late_p99_ms": None if t is None else round(t.late_p99_ms, 3),
                "late_p999_ms": None if t is None else round(t.late_p999_ms, 3),
                "late_max_ms": None if t is None else round(t.late_max_ms, 2),
                "cpu_percent": round(100 * result["cpu_s"][node] / duration, 1),
            }
            if instrumented:
                timeline = json.loads((folder / f"{node}.timeline.json").read_text())
                nodes[node].update(attribute(timeline, threshold_s))
    return {
        "code": str(code),
        "instrumented": instrumented,
        "rate": rate,
        "nice": nice,
        "duration": duration,
        "threshold_ms": threshold_s * 1000,
        "codes": result["codes"],
        "rest_of_machine_percent": result["others_percent"],
        "nodes": nodes,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The report in a few lines: per node its figures, then each cause's share of the lateness."""
    nodes = result["nodes"].values()
    worst = max(n["late_p99_ms"] or math.inf for n in nodes)
    lines = [
        f"{result['code']} at {result['rate']}/s for {result['duration']:g} s (nice {result['nice']}): "
        f"worst p99 {worst} ms, "
        f"worst ratio {min(n['ratio'] or 0 for n in nodes)}, CPU {' '.join(str(n['cpu_percent']) for n in nodes)}%; "
        f"rest of the machine {result['rest_of_machine_percent']}% (of one core)"
    ]
    if not result["instrumented"]:
        return [
            lines[0]
            + "; p50/p99/p99.9/max "
            + ", ".join(f"{n['late_p50_ms']}/{n['late_p99_ms']}/{n['late_p999_ms']}/{n['late_max_ms']}" for n in nodes)
        ]
    lines[0] += f"; ticks later than {result['threshold_ms']:g} ms attributed"
    seconds = result["duration"]
    for node, n in result["nodes"].items():
        lines.append(
            f"{node}: ratio {n['ratio']}, late p50 {n['late_p50_ms']} p99 {n['late_p99_ms']} ms, "
            f"CPU {n['cpu_percent']}%, {n['late_ticks']} late ticks ({n['lateness_s']} s), "
            f"gc {n['gc']['collections']} max {n['gc']['max_ms']} ms, "
            f"slow writes {n['slow_writes']} max {n['slow_write_max_ms']} ms, "
            f"{n['waits'] / seconds:.0f} waits/s ({n['woken_by_io'] / seconds:.0f}/s woken by I/O)"
        )
    for cause in CAUSES:
        shares = " ".join(f"{n['share'][cause]:6.1%} ({n['dominant'][cause]:5d})" for n in result["nodes"].values())
        lines.append(f"  {cause:30s} {shares}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lateness", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--threshold-ms", type=float, default=0.2, help="ticks later than this are attributed")
    parser.add_argument(
        "--code", type=Path, action="append", help="checkout whose node package to run (repeat: runs alternate)"
    )
    parser.add_argument("--pairs", type=int, default=1, help="rounds over the --code checkouts")
    parser.add_argument("--plain", action="store_true", help="no instrumentation: figures only (for A/B)")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help=f"nice value of the nodes (negative: ahead of other work on the machine; {FIFO}: SCHED_FIFO)",
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for every node (repeatable)")
    parser.add_argument("--json", action="store_true", help="also print the whole result as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    codes = [c.resolve() for c in args.code or [ROOT]]
    if args.child:
        return _child(args.child, codes[0])
    extra = dict(item.split("=", 1) for item in args.env)
    failed = False
    for _ in range(args.pairs):
        for code in codes:
            result = report(args.rate, args.duration, code, args.threshold_ms / 1000, extra, not args.plain, args.nice)
            print("\n".join(summary_lines(result)), flush=True)
            if args.json:
                print(json.dumps(result), flush=True)
            failed = failed or any(c != 0 for c in result["codes"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

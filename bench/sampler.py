"""CPU time and memory of the nodes and of the whole machine, sampled from /proc while a run goes on.

Each node is PID 1 of its container; its host PID (deploy.compose's `pid`) is read once a
second in a background thread: user + system CPU time and resident memory of the process, and
the machine's idle time, from which the rest of the machine's load follows.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float  # time.time()
    cpu_s: float  # user + system CPU seconds of the process so far
    rss_kb: int


@dataclass
class ProcessSampler:
    """Samples /proc/<pid> of each node once a second in a background thread."""

    pids: dict[str, int]
    interval: float = 1.0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    peak_rss_kb: dict[str, int] = field(default_factory=dict)
    system: list[tuple[float, float, int]] = field(default_factory=list)  # (time, idle seconds, CPUs)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        alive = dict(self.pids)
        while alive and not self._stop.is_set():
            idle = idle_seconds()
            if idle is not None:
                self.system.append((time.time(), *idle))
            for node, pid in list(alive.items()):
                sample = read_proc(pid)
                if sample is None:
                    del alive[node]
                    continue
                self.samples.setdefault(node, []).append(sample[0])
                self.peak_rss_kb[node] = max(self.peak_rss_kb.get(node, 0), sample[1])
            self._stop.wait(self.interval)

    def cpu_percent(self, node: str, start: float, end: float) -> float | None:
        """Mean CPU use (% of one core) over the samples within [start, end]."""
        inside = [s for s in self.samples.get(node, []) if start <= s.t <= end]
        if len(inside) < 2:
            inside = self.samples.get(node, [])
        if len(inside) < 2 or inside[-1].t <= inside[0].t:
            return None
        return 100 * (inside[-1].cpu_s - inside[0].cpu_s) / (inside[-1].t - inside[0].t)

    def system_percent(self, start: float, end: float) -> float | None:
        """Mean CPU use of the whole machine over [start, end], in % of one core (2 cores: 200 %)."""
        inside = [s for s in self.system if start <= s[0] <= end]
        if len(inside) < 2:
            inside = self.system
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        (t0, idle0, cpus), (t1, idle1, _) = inside[0], inside[-1]
        return 100 * (cpus * (t1 - t0) - (idle1 - idle0)) / (t1 - t0)

    def rss_mb(self, node: str, start: float, end: float) -> float | None:
        """Largest resident set seen while ticking, in MiB."""
        inside = [s.rss_kb for s in self.samples.get(node, []) if start <= s.t <= end]
        return max(inside) / 1024 if inside else None


def idle_seconds() -> tuple[float, int] | None:
    """(seconds all CPUs have been idle, number of CPUs).

    From cpuidle's per-state residency (microseconds, exact) when the kernel has it; else from
    /proc/stat, whose idle time is sampled at each timer tick and can alias with tick rates that
    are multiples of HZ (measured here: a 1000 ticks/s run looked idler than the nodes alone).
    """
    cpus = sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpuidle"))
    if cpus:
        try:
            total = sum(int((state / "time").read_text()) for cpu in cpus for state in cpu.glob("state*"))
            return total / 1e6, len(cpus)
        except (OSError, ValueError):
            pass
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
        fields = [int(x) for x in lines[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    count = sum(1 for line in lines[1:] if line.startswith("cpu"))
    return (fields[3] + fields[4]) / CLOCK_TICKS, count


def read_proc(pid: int) -> tuple[Sample, int] | None:
    """(sample, peak RSS kB) of a process, None once it is gone."""
    try:
        now = time.time()
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            status = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return Sample(now, cpu, values.get("VmRSS", 0)), values.get("VmHWM", 0)

"""Timing figures of one run, from its raw JSON-lines logs as the analysis reads them (files in, numbers out).

Per node: achieved/configured tick rate, tick lateness percentiles. Per run: message latency
send -> enqueue at the receiver, from the analysis's matching of every receive to its send per
directed link (analysis.messages), and how long after launch every node had ticked once.
Parsing is analysis.loader's, and every percentile is the project's one definition
(analysis.stats.quantile: linear interpolation between ranks, numpy's default).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analysis.loader import NodeLog, RunData, load_run
from analysis.messages import analyse_links
from analysis.stats import quantile


@dataclass
class NodeTiming:
    node: str
    rate: int
    ticks: int  # tick events logged
    expected: int  # rate x duration
    skipped: int  # ticks skipped after stalls (stop line)
    first_tick_ts: float
    last_tick_ts: float
    ratio: float  # achieved / configured: (ticks - 1) / (last - first) / rate
    late_p50_ms: float
    late_p99_ms: float
    late_p999_ms: float
    late_max_ms: float
    stop_reason: str
    dropped: int

    def passes(self, threshold: float) -> bool:
        return self.ratio >= threshold and self.ticks >= self.expected and self.stop_reason == "duration"


@dataclass
class Latency:
    """Send (sender's `ts`) to enqueue at the receiver (`enq_ts`), in milliseconds."""

    count: int = 0
    unmatched: int = 0  # receives whose value was never logged as sent on that link (must be 0)
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    min_ms: float = math.nan


@dataclass
class RunTiming:
    nodes: dict[str, NodeTiming]
    latency: Latency
    first_tick_spread_ms: float  # last node's first tick minus first node's first tick
    lines: int
    launched_at: float | None = None
    startup_s: float | None = None  # launch -> every node has ticked once
    problems: list[str] = field(default_factory=list)

    def min_ratio(self) -> float:
        return min((n.ratio for n in self.nodes.values()), default=math.nan)

    def passes(self, threshold: float) -> bool:
        return len(self.nodes) > 0 and not self.problems and all(n.passes(threshold) for n in self.nodes.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyse_run(folder: Path, duration: float, launched_at: float | None = None) -> RunTiming:
    """Every figure of one run folder (node*.jsonl) of `duration` seconds of ticking."""
    return timing_of(load_run(folder), duration, launched_at, count_lines(folder))


def count_lines(folder: Path) -> int:
    """Lines in the run's log files, read as bytes."""
    total = 0
    for path in folder.glob("*.jsonl"):
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                total += chunk.count(b"\n")
    return total


def analyse_records(run: dict[str, list[dict[str, Any]]], duration: float) -> RunTiming:
    """The same figures from records in memory (tests), written out as a run folder first."""
    with tempfile.TemporaryDirectory(prefix="bench-records-") as tmp:
        folder = Path(tmp)
        for node, records in run.items():
            (folder / f"{node}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return analyse_run(folder, duration)


def node_timing(log: NodeLog, duration: float) -> tuple[NodeTiming | None, list[str]]:
    """One node's figures (None when it ticked less than twice or has no start line), its problems."""
    ticks = len(log.tick_ts)
    if ticks < 2:
        return None, [f"{log.node}: {ticks} tick events"]
    rate = int(log.starts[-1]["rate"]) if log.starts else 0
    if not rate:
        return None, [f"{log.node}: no start line with its rate"]
    stop = log.stops[-1] if log.stops else {}
    skipped, dropped = int(stop.get("skipped", 0)), int(stop.get("dropped", 0))
    reason = str(stop.get("reason", "no stop line"))
    first, last = log.tick_ts[0], log.tick_ts[-1]
    span = last - first
    achieved = (ticks - 1) / span if span > 0 else math.inf
    expected = max(1, math.ceil(rate * duration - 1e-9))
    p50, p99, p999, top = (quantile(log.tick_late_ms, q) for q in (0.50, 0.99, 0.999, 1.0))  # 1.0: the max
    timing = NodeTiming(
        log.node, rate, ticks, expected, skipped, first, last, achieved / rate, p50, p99, p999, top, reason, dropped
    )
    problems = []
    if ticks < expected:
        problems.append(f"{log.node}: {ticks} of {expected} ticks (skipped {skipped})")
    if reason != "duration":
        problems.append(f"{log.node}: stopped with reason {reason!r}")
    return timing, problems


def message_latency(run: RunData) -> tuple[Latency, list[str]]:
    """Latency = enq_ts - ts of every receive the analysis matched to its send; its problems."""
    links = analyse_links(run.nodes)
    delays = [d for link in links for d in link.delays_ms]
    unmatched = sum(link.unmatched for link in links)
    duplicated = sum(link.duplicated for link in links)
    problems = []
    if unmatched:
        problems.append(f"{unmatched} receives match no send on their link")
    if duplicated:
        problems.append(f"{duplicated} receives repeat a value already received on their link")
    if not delays:
        return Latency(unmatched=unmatched), problems
    latency = Latency(
        count=len(delays),
        unmatched=unmatched,
        p50_ms=quantile(delays, 0.50),
        p99_ms=quantile(delays, 0.99),
        max_ms=max(delays),
        min_ms=min(delays),
    )
    return latency, problems


def timing_of(run: RunData, duration: float, launched_at: float | None, lines: int) -> RunTiming:
    problems: list[str] = []
    nodes: dict[str, NodeTiming] = {}
    for name, log in run.nodes.items():
        timing, found = node_timing(log, duration)
        problems += found
        if timing is not None:
            nodes[name] = timing
    latency, found = message_latency(run)
    problems += found
    problems += [str(p) for p in run.problems]  # lines the analysis could not read
    firsts = [n.first_tick_ts for n in nodes.values()]
    spread = (max(firsts) - min(firsts)) * 1000 if firsts else math.nan
    startup = max(firsts) - launched_at if firsts and launched_at is not None else None
    return RunTiming(nodes, latency, spread, lines, launched_at, startup, problems)

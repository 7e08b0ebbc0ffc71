"""Timing figures of one run, read from its raw JSON-lines logs (pure: files in, numbers out).

Per node: achieved/configured tick rate, tick lateness percentiles. Per run: message latency
send -> enqueue at the receiver, matched per directed link by value (values on a link strictly
increase, so a value names one message), and how long after launch every node had ticked once.
The logs are streamed line by line: a 10,000 ticks/s minute is millions of lines.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TICK_EVENTS = frozenset(("receive", "send", "internal"))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank q-quantile of an already sorted sequence (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


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


@dataclass
class _NodeScan:
    rate: int = 0
    ticks: int = 0
    first: float = math.nan
    last: float = math.nan
    late: array[float] = field(default_factory=lambda: array("d"))
    sent: dict[str, dict[int, float]] = field(default_factory=dict)  # peer -> value -> send ts
    received: list[tuple[str, int, float]] = field(default_factory=list)  # (from, value, enq_ts)
    skipped: int = 0
    stop_reason: str = "no stop line"
    dropped: int = 0
    lines: int = 0


def _scan(lines: Iterable[str]) -> _NodeScan:
    scan = _NodeScan()
    late_append = scan.late.append
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        scan.lines += 1
        event = record["event"]
        if event in TICK_EVENTS:
            ts = record["ts"]
            if scan.ticks == 0:
                scan.first = ts
            scan.last = ts
            scan.ticks += 1
            late_append(record["late_ms"])
            if event == "send":
                for peer in record["to"]:
                    scan.sent.setdefault(peer, {})[record["value"]] = ts
            elif event == "receive":
                scan.received.append((record["from"], record["value"], record["enq_ts"]))
        elif event == "start":
            scan.rate = int(record["rate"])
        elif event == "stop":
            scan.skipped = int(record["skipped"])
            scan.stop_reason = str(record["reason"])
            scan.dropped = int(record["dropped"])
    return scan


def analyse_run(folder: Path, duration: float, launched_at: float | None = None) -> RunTiming:
    """Every figure of one run folder (node*.jsonl) of `duration` seconds of ticking."""
    scans: dict[str, _NodeScan] = {}
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            scans[path.stem] = _scan(f)
    return timing_from_scans(scans, duration, launched_at)


def analyse_records(run: dict[str, list[dict[str, Any]]], duration: float) -> RunTiming:
    """The same figures from records already in memory (tests)."""
    scans = {node: _scan(json.dumps(r) for r in records) for node, records in run.items()}
    return timing_from_scans(scans, duration, None)


def timing_from_scans(scans: dict[str, _NodeScan], duration: float, launched_at: float | None) -> RunTiming:
    problems: list[str] = []
    nodes: dict[str, NodeTiming] = {}
    for node, scan in scans.items():
        if scan.ticks < 2:
            problems.append(f"{node}: {scan.ticks} tick events")
            continue
        late = sorted(scan.late)
        span = scan.last - scan.first
        achieved = (scan.ticks - 1) / span if span > 0 else math.inf
        expected = max(1, math.ceil(scan.rate * duration - 1e-9))
        nodes[node] = NodeTiming(
            node=node,
            rate=scan.rate,
            ticks=scan.ticks,
            expected=expected,
            skipped=scan.skipped,
            first_tick_ts=scan.first,
            last_tick_ts=scan.last,
            ratio=achieved / scan.rate,
            late_p50_ms=percentile(late, 0.50),
            late_p99_ms=percentile(late, 0.99),
            late_p999_ms=percentile(late, 0.999),
            late_max_ms=late[-1],
            stop_reason=scan.stop_reason,
            dropped=scan.dropped,
        )
        if scan.ticks < expected:
            problems.append(f"{node}: {scan.ticks} of {expected} ticks (skipped {scan.skipped})")
        if scan.stop_reason != "duration":
            problems.append(f"{node}: stopped with reason {scan.stop_reason!r}")
    latency = message_latency(scans)
    if latency.unmatched:
        problems.append(f"{latency.unmatched} receives match no send on their link")
    firsts = [n.first_tick_ts for n in nodes.values()]
    spread = (max(firsts) - min(firsts)) * 1000 if firsts else math.nan
    startup = max(firsts) - launched_at if firsts and launched_at is not None else None
    return RunTiming(
        nodes=nodes,
        latency=latency,
        first_tick_spread_ms=spread,
        lines=sum(s.lines for s in scans.values()),
        launched_at=launched_at,
        startup_s=startup,
        problems=problems,
    )


def message_latency(scans: dict[str, _NodeScan]) -> Latency:
    """Match every receive to its send on the same directed link by value; latency = enq_ts - ts."""
    delays: list[float] = []
    unmatched = 0
    for receiver, scan in scans.items():
        for sender, value, enq_ts in scan.received:
            sent = scans.get(sender)
            send_ts = sent.sent.get(receiver, {}).get(value) if sent is not None else None
            if send_ts is None:
                unmatched += 1
                continue
            delays.append((enq_ts - send_ts) * 1000)
    delays.sort()
    if not delays:
        return Latency(unmatched=unmatched)
    return Latency(
        count=len(delays),
        unmatched=unmatched,
        p50_ms=percentile(delays, 0.50),
        p99_ms=percentile(delays, 0.99),
        max_ms=delays[-1],
    )

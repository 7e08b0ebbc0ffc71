"""The figures of a run: per node (rate, jumps, drift, queue, lateness) and across nodes (gaps).

Input is `loader.RunData`; output is an `Analysis`: the summary as node.schema's `Summary` (the
keys of summary.json, checked by mypy) and the time series the plots draw. Definitions:

- jump: a tick event's clock minus the clock before it (1 for send/internal, >= 1 for receive);
- achieved rate: (tick events - 1) / (last tick time - first tick time), per incarnation, pooled;
- logical clock rate: least-squares slope of clock against system time, clock units per second;
- gap: on a common time grid, the largest clock of any node minus this node's clock;
- queue seen at a tick: the queue length just before the tick (the logged length + 1 when the
  tick took a message); `nonempty_share` is the share of ticks that found a message;
- causality (vector clocks, concurrent and ordered pairs, Lamport check): analysis.causality.
- clock offsets between nodes, from the one-way delays: analysis.hostclocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.causality import Causality, analyse_causality
from analysis.columns import Columns, FloatArray, IntArray, columns
from analysis.hostclocks import clock_offsets, hosts_of
from analysis.loader import INTERNAL, RECEIVE, NodeLog, RunData
from analysis.matching import Matching, match_messages
from analysis.messages import link_reports, totals
from analysis.stats import percentiles
from analysis.violations import Violations, checks_summary, find_violations
from node.config import RUN_ID_PATTERN
from node.schema import SUMMARY_SCHEMA, Gap, NodeSummary, RunInfo, Summary

GRID_POINTS = 4000


@dataclass
class NodeSeries:
    """What the plots draw for one node, times in seconds since the run's first tick. A series
    per tick event is computed when read, not kept: 24 MB a million events, for one figure each."""

    node: str
    label: str
    columns: Columns
    origin: float  # the run's first tick
    gap: FloatArray  # on Analysis.grid

    @property
    def t(self) -> FloatArray:
        return self.columns.ts - self.origin

    @property
    def clock(self) -> IntArray:
        return self.columns.clock

    @property
    def queue_seen(self) -> IntArray:
        seen: IntArray = self.columns.queue + (self.columns.kind == RECEIVE)
        return seen

    @property
    def jumps(self) -> IntArray:
        return self.columns.clock - self.columns.prev


@dataclass
class Analysis:
    summary: Summary
    series: dict[str, NodeSeries]
    grid: FloatArray  # seconds since the first tick
    causality: Causality | None = None  # vector clocks and messages, for shiviz.log and spacetime.png
    # What the figures were computed from, for the explorer: each node's log and columns, the matching.
    logs: dict[str, NodeLog] = field(default_factory=dict)
    columns: dict[str, Columns] = field(default_factory=dict)
    matching: Matching | None = None
    violations: Violations | None = None  # every check's findings, located (analysis.violations)


def _label(log: NodeLog) -> str:
    return f"{log.node} ({log.rate}/s)" if log.rate is not None else log.node


def _achieved_rate(ts: FloatArray, incarnation: IntArray) -> float | None:
    intervals, span = 0, 0.0
    for times in np.split(ts, np.flatnonzero(np.diff(incarnation)) + 1):  # incarnations follow one another
        if times.size > 1:
            intervals += times.size - 1
            span += float(times[-1] - times[0])
    return intervals / span if span > 0 else None


def _slope(ts: FloatArray, clock: IntArray) -> float | None:
    """Least-squares clock units per second; None when time does not advance or data is absurd."""
    if ts.size < 3 or not ts[-1] > ts[0]:
        return None
    # The least-squares line in closed form, centred: np.polyfit gives the same to the last bits
    # (rounded to 4 digits, the same figures), but builds a Vandermonde matrix for its SVD and
    # imports numpy.ma: a tenth of a second and 30 MB more on a million events.
    with np.errstate(all="ignore"):
        x = ts - ts.mean()
        y = clock - clock.mean()
        slope = float(np.dot(x, y) / np.dot(x, x))
    return slope if np.isfinite(slope) else None


def jump_counts(jumps: IntArray) -> tuple[IntArray, IntArray]:
    """The jump sizes that occur (>= 0) and how often. Sparse, not np.bincount: a corrupt log's one
    huge jump would make that an array of its size (measured: 0.9 ms against 0.5 ms on 432,000)."""
    return np.unique(jumps[jumps >= 0], return_counts=True)


def node_summary(log: NodeLog, c: Columns) -> NodeSummary:
    """Every figure of one node; a node without tick events gets None or 0 where nothing was measured."""
    jumps = c.clock - c.prev
    receive = c.kind == RECEIVE
    seen = c.queue + receive
    start = log.starts[0] if log.starts else {}
    rate = log.rate
    achieved = _achieved_rate(c.ts, c.incarnation)
    drawn = int((c.kind != RECEIVE).sum())
    sizes, counts = jump_counts(jumps)
    slope = _slope(c.ts, c.clock)
    waits = (c.ts[c.receives] - c.receive_enq_ts) * 1000
    stop = log.stops[-1] if log.stops else {}
    peers = np.array([len(peers) for peers in log.peer_sets], dtype=np.int64)
    return {
        "rate": rate,
        "drawn_rate": start.get("drawn_rate"),
        "node_seed": start.get("node_seed"),
        "incarnations": len(log.starts),
        "ticks": int(c.ts.size),
        "skipped_ticks": sum(int(r["skipped"]) for r in log.stalls),
        "first_tick_ts": float(c.ts[0]) if c.ts.size else None,
        "achieved_rate": None if achieved is None else round(achieved, 6),
        "rate_ratio": None if achieved is None or not rate else round(achieved / rate, 6),
        "events": dict(sorted(log.events.items())),
        "messages_sent": int(peers[c.send_peers].sum()) if c.send_peers.size else 0,
        "internal_share": round(float((c.kind == INTERNAL).sum()) / drawn, 4) if drawn else None,
        "lateness_ms": percentiles(c.late_ms),
        "jumps": {
            **percentiles(jumps.astype(np.float64)),
            "histogram": {str(size): n for size, n in zip(sizes.tolist(), counts.tolist(), strict=True)},
            "over_one": int((jumps > 1).sum()),
            "over_one_from_receives": int(((jumps > 1) & receive).sum()),
            "receive_mean": round(float(jumps[receive].mean()), 3) if receive.any() else None,
        },
        "clock": {
            "start": int(log.starts[0]["clock"]) if log.starts else None,
            "end": int(c.clock[-1]) if c.clock.size else None,
            "logical_rate": None if slope is None else round(slope, 4),
            "per_tick": None if slope is None or not rate else round(slope / rate, 4),
        },
        "gap": None,  # set by `analyse`: it needs every node's clock
        "queue": {
            "mean": round(float(seen.mean()), 3) if seen.size else None,
            "max": int(seen.max()) if seen.size else None,
            "end": stop.get("queue"),
            "nonempty_share": round(float(receive.mean()), 4) if receive.size else None,
            "wait_ms": percentiles(waits),
        },
        "stop_reason": stop.get("reason"),
    }


def clock_at(log: NodeLog, grid: FloatArray, c: Columns) -> FloatArray:
    """The node's clock at each time of `grid` (absolute seconds): its last event's, or its start clock before."""
    ts, clock = c.ts, c.clock
    if ts.size and np.any(np.diff(ts) < 0):  # system time stepped back: order by time
        order = np.argsort(ts, kind="stable")
        ts, clock = ts[order], clock[order]
    before = float(log.starts[0]["clock"]) if log.starts else 0.0
    index = np.searchsorted(ts, grid, side="right") - 1
    values = np.where(index >= 0, clock[np.clip(index, 0, None)] if clock.size else before, before)
    return values.astype(np.float64)


def _typed(value: Any, kind: type) -> Any:
    """A configuration value if it has the type the summary needs (ints are numbers too), else None."""
    if kind is float and type(value) is int:
        return value
    return value if type(value) is kind else None


def simulated(run: RunData) -> bool:
    """Virtual time: a start line says so (format 2), or its configuration (format 1), or run.json."""
    for log in run.nodes.values():
        for start in log.starts:
            if start.get("time") == "virtual" or ("format" not in start and log.config.get("simulator") is True):
                return True
    return run.info.get("simulated") is True


def run_info(run: RunData, origin: float | None, end: float) -> RunInfo:
    first_start = next((log.starts[0] for log in run.nodes.values() if log.starts), {})
    config = next((log.config for log in run.nodes.values() if log.starts), {})
    # A name as init and the nodes give it; not any text a crafted run.json or start line holds.
    named = (name for name in (run.info.get("run_id"), first_start.get("run_id")) if type(name) is str)
    run_id = next((name for name in named if RUN_ID_PATTERN.fullmatch(name)), run.folder.name)
    span = end - origin if origin is not None else 0.0
    return {
        "run_id": str(run_id),
        "folder": str(run.folder),
        "seed": _typed(first_start.get("seed", run.info.get("seed")), int),
        "nodes": sorted(run.nodes),
        "rates": {n: log.rate for n, log in sorted(run.nodes.items())},
        "max_event_num": _typed(config.get("max_event_num"), int),
        "duration": _typed(config.get("duration"), float),
        "min_clock_rate": _typed(config.get("min_clock_rate"), int),
        "max_clock_rate": _typed(config.get("max_clock_rate"), int),
        "simulated": simulated(run),
        "clock_bug": next((log.clock_bug for log in run.nodes.values() if log.clock_bug), None),
        "delivery": _typed(config.get("delivery"), str),
        "first_tick_ts": origin,
        "span_s": round(span, 3) if math.isfinite(span) else 0.0,  # not finite: only from absurd times
    }


def analyse(run: RunData) -> Analysis:
    cols = {n: columns(log) for n, log in sorted(run.nodes.items())}  # converted once: 1M-line runs
    ticking = {n: c for n, c in cols.items() if c.ts.size}
    origin = min((float(c.ts[0]) for c in ticking.values()), default=None)
    end = max((float(c.ts.max()) for c in ticking.values()), default=origin or 0.0)
    start = origin if origin is not None else 0.0
    grid_abs = np.linspace(start, end, GRID_POINTS if end > start else 1)
    clocks = {n: clock_at(run.nodes[n], grid_abs, c) for n, c in ticking.items()}
    fastest = np.max(np.vstack(list(clocks.values())), axis=0) if clocks else np.zeros(0)
    nodes: dict[str, NodeSummary] = {}
    series: dict[str, NodeSeries] = {}
    for node, log in sorted(run.nodes.items()):
        c = cols[node]
        nodes[node] = node_summary(log, c)
        if node in clocks:
            gap = fastest - clocks[node]
            nodes[node]["gap"] = Gap(
                mean=round(float(gap.mean()), 3), max=round(float(gap.max()), 3), end=round(float(gap[-1]), 3)
            )
            series[node] = NodeSeries(node, _label(log), c, start, gap)
    matching = match_messages(run.nodes, cols)
    links = link_reports(matching, run.nodes)
    causality = analyse_causality(run.nodes, start, cols, matching)
    found = find_violations(run.nodes, cols, matching)
    checks = checks_summary(found, causality.summary["violations"], causality.summary["examples"])
    summary: Summary = {
        "schema": SUMMARY_SCHEMA,
        "run": run_info(run, origin, end),
        "nodes": nodes,
        "links": [link.as_dict() for link in links],
        "messages": totals(links),
        "clock_offsets": clock_offsets(matching, run.nodes, hosts_of(run.info, run.nodes)),
        "causality": causality.summary,
        "checks": checks,
        "problems": [str(p) for p in run.problems],
    }
    return Analysis(summary, series, grid_abs - start, causality, run.nodes, cols, matching, found)

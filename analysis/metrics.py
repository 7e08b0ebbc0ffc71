"""The figures of a run: per node (rate, jumps, drift, queue, lateness) and across nodes (gaps).

Input is `loader.RunData`; output is an `Analysis`: the summary as plain JSON-ready dicts (the
documented keys of summary.json) and the time series the plots draw. Definitions:

- jump: a tick event's clock minus the clock before it (1 for send/internal, >= 1 for receive);
- achieved rate: (tick events - 1) / (last tick time - first tick time), per incarnation, pooled;
- logical clock rate: least-squares slope of clock against system time, clock units per second;
- gap: on a common time grid, the largest clock of any node minus this node's clock;
- queue seen at a tick: the queue length just before the tick (the logged length + 1 when the
  tick took a message); `nonempty_share` is the share of ticks that found a message;
- causality (vector clocks, concurrent and ordered pairs, Lamport check): analysis.causality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.causality import Causality, analyse_causality
from analysis.loader import NodeLog, RunData
from analysis.messages import analyse_links, totals
from analysis.stats import percentiles

SCHEMA_VERSION = 1
GRID_POINTS = 4000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class NodeSeries:
    """What the plots draw for one node, times in seconds since the run's first tick."""

    node: str
    label: str
    t: FloatArray
    clock: IntArray
    queue_seen: IntArray
    jumps: IntArray
    gap: FloatArray  # on Analysis.grid


@dataclass
class Analysis:
    summary: dict[str, Any]
    series: dict[str, NodeSeries]
    grid: FloatArray  # seconds since the first tick
    causality: Causality | None = None  # vector clocks and messages, for shiviz.log and spacetime.png


def _label(log: NodeLog) -> str:
    return f"{log.node} ({log.rate}/s)" if log.rate is not None else log.node


TickArrays = tuple[FloatArray, IntArray, IntArray, IntArray, IntArray, IntArray]


def _tick_arrays(log: NodeLog) -> TickArrays:
    ts = np.asarray(log.tick_ts, dtype=np.float64)
    clock = np.asarray(log.tick_clock, dtype=np.int64)
    prev = np.asarray(log.prev_clock, dtype=np.int64)
    kind = np.asarray(log.tick_kind, dtype=np.int64)
    queue = np.asarray(log.tick_queue, dtype=np.int64)
    incarnation = np.asarray(log.tick_incarnation, dtype=np.int64)
    return ts, clock, prev, kind, queue, incarnation


def _achieved_rate(ts: FloatArray, incarnation: IntArray) -> float | None:
    intervals, span = 0, 0.0
    for value in np.unique(incarnation):
        times = ts[incarnation == value]
        if times.size > 1:
            intervals += times.size - 1
            span += float(times[-1] - times[0])
    return intervals / span if span > 0 else None


def _slope(ts: FloatArray, clock: IntArray) -> float | None:
    """Least-squares clock units per second; None when time does not advance or data is absurd."""
    if ts.size < 3 or not ts[-1] > ts[0]:
        return None
    with np.errstate(all="ignore"):
        try:
            slope = float(np.polyfit(ts - ts[0], clock.astype(np.float64), 1)[0])
        except (ValueError, np.linalg.LinAlgError):
            return None
    return slope if np.isfinite(slope) else None


def node_summary(log: NodeLog, arrays: TickArrays | None = None) -> dict[str, Any]:
    ts, clock, prev, kind, queue, incarnation = arrays if arrays is not None else _tick_arrays(log)
    jumps = clock - prev
    receive = kind == 0
    seen = queue + receive
    start = log.starts[0] if log.starts else {}
    rate = log.rate
    achieved = _achieved_rate(ts, incarnation)
    events = dict(sorted(log.events.items()))
    drawn = int((kind == 1).sum() + (kind == 2).sum())
    histogram = np.bincount(jumps[jumps >= 0]) if jumps.size else np.zeros(0, dtype=np.int64)
    slope = _slope(ts, clock)
    waits = [(r.ts - r.enq_ts) * 1000 for r in log.receives]
    stop = log.stops[-1] if log.stops else {}
    return {
        "rate": rate,
        "drawn_rate": start.get("drawn_rate"),
        "node_seed": start.get("node_seed"),
        "incarnations": len(log.starts),
        "ticks": int(ts.size),
        "skipped_ticks": sum(int(r.get("skipped", 0)) for r in log.stalls if isinstance(r.get("skipped"), int)),
        "first_tick_ts": float(ts[0]) if ts.size else None,
        "achieved_rate": None if achieved is None else round(achieved, 6),
        "rate_ratio": None if achieved is None or not rate else round(achieved / rate, 6),
        "events": events,
        "messages_sent": sum(len(s.to) for s in log.sends),
        "internal_share": round(float((kind == 2).sum()) / drawn, 4) if drawn else None,
        "lateness_ms": percentiles(np.asarray(log.tick_late_ms, dtype=np.float64)),
        "jumps": {
            **percentiles(jumps.astype(np.float64)),
            "histogram": {str(size): int(n) for size, n in enumerate(histogram) if n},
            "over_one": int((jumps > 1).sum()),
            "over_one_from_receives": int(((jumps > 1) & receive).sum()),
            "receive_mean": round(float(jumps[receive].mean()), 3) if receive.any() else None,
        },
        "clock": {
            "start": int(log.starts[0]["clock"]) if log.starts else None,
            "end": int(clock[-1]) if clock.size else None,
            "logical_rate": None if slope is None else round(slope, 4),
            "per_tick": None if slope is None or not rate else round(slope / rate, 4),
        },
        "queue": {
            "mean": round(float(seen.mean()), 3) if seen.size else None,
            "max": int(seen.max()) if seen.size else None,
            "end": stop.get("queue"),
            "nonempty_share": round(float(receive.mean()), 4) if receive.size else None,
            "wait_ms": percentiles(waits),
        },
        "stop_reason": stop.get("reason"),
    }


def _clock_on_grid(log: NodeLog, grid: FloatArray, arrays: TickArrays) -> FloatArray:
    ts, clock, *_ = arrays
    if ts.size and np.any(np.diff(ts) < 0):  # system time stepped back: order by time
        order = np.argsort(ts, kind="stable")
        ts, clock = ts[order], clock[order]
    before = float(log.starts[0]["clock"]) if log.starts else 0.0
    index = np.searchsorted(ts, grid, side="right") - 1
    values = np.where(index >= 0, clock[np.clip(index, 0, None)] if clock.size else before, before)
    return values.astype(np.float64)


def analyse(run: RunData) -> Analysis:
    logs = {n: log for n, log in sorted(run.nodes.items()) if log.tick_ts}
    firsts = [log.tick_ts[0] for log in logs.values()]
    lasts = [max(log.tick_ts) for log in logs.values()]
    origin = min(firsts) if firsts else 0.0
    end = max(lasts) if lasts else origin
    grid_abs = np.linspace(origin, end, GRID_POINTS if end > origin else 1)
    arrays = {n: _tick_arrays(log) for n, log in logs.items()}  # converted once: 1M-line runs
    clocks = {n: _clock_on_grid(log, grid_abs, arrays[n]) for n, log in logs.items()}
    fastest = np.max(np.vstack(list(clocks.values())), axis=0) if clocks else np.zeros(0)
    nodes: dict[str, Any] = {}
    series: dict[str, NodeSeries] = {}
    for node, log in sorted(run.nodes.items()):
        summary: dict[str, Any] = (
            node_summary(log, arrays[node])
            if log.tick_ts
            else {"rate": log.rate, "ticks": 0, "events": dict(log.events)}
        )
        if node in clocks:
            gap = fastest - clocks[node]
            summary["gap"] = {
                "mean": round(float(gap.mean()), 3),
                "max": round(float(gap.max()), 3),
                "end": round(float(gap[-1]), 3),
            }
            ts, clock, prev, kind, queue, _ = arrays[node]
            series[node] = NodeSeries(node, _label(log), ts - origin, clock, queue + (kind == 0), clock - prev, gap)
        nodes[node] = summary
    links = analyse_links(run.nodes)
    columns = {n: (a[0], a[1], a[3]) for n, a in arrays.items()}
    causality = analyse_causality(run.nodes, origin, columns)
    first_start = next((log.starts[0] for log in run.nodes.values() if log.starts), {})
    config = first_start.get("config") if isinstance(first_start.get("config"), dict) else {}
    assert isinstance(config, dict)
    run_summary = {
        "run_id": run.info.get("run_id") or first_start.get("run_id") or run.folder.name,
        "folder": str(run.folder),
        "seed": first_start.get("seed", run.info.get("seed")),
        "nodes": sorted(run.nodes),
        "rates": {n: log.rate for n, log in sorted(run.nodes.items())},
        "max_event_num": config.get("max_event_num"),
        "duration": config.get("duration"),
        "min_clock_rate": config.get("min_clock_rate"),
        "max_clock_rate": config.get("max_clock_rate"),
        "simulated": bool(config.get("simulator", False)),
        "first_tick_ts": origin if firsts else None,
        "span_s": round(end - origin, 3),
    }
    summary = {
        "schema": SCHEMA_VERSION,
        "run": run_summary,
        "nodes": nodes,
        "links": [link.as_dict() for link in links],
        "messages": totals(links),
        "causality": causality.summary,
        "problems": [str(p) for p in run.problems],
    }
    return Analysis(summary, series, grid_abs - origin, causality)

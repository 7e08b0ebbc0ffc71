"""A node's tick events as the arrays every figure is computed from: made once, shared by all.

The loader gives arrays already (clocks, values and queue lengths within 0..2^32-1, as the log
format bounds them); a list (a drop's values, a test's) is converted here. Integers beyond int64
exist only in such lists (orjson reads nothing beyond 2^64): clocks are clipped to int64, message
values become `NO_VALUE`, which matches nothing. Times are clipped to +-MAX_SECONDS, so that the
difference of any two (a span, a delay in ms) stays finite: a valid log may hold any finite float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.bulk import BoolArray, FloatArray, IntArray
from analysis.loader import RECEIVE, SEND, NodeLog

__all__ = ["BoolArray", "FloatArray", "IntArray"]  # the analysis's array types, given to it from here
INT64 = np.iinfo(np.int64)
NO_VALUE = INT64.min  # a message value beyond int64: matches nothing
MAX_SECONDS = 2.0**62  # a time beyond this (about 1.5e11 years from 1970) is only in corrupt logs


def seconds(values: list[float] | FloatArray) -> FloatArray:
    """Times as float64, clipped into +-MAX_SECONDS (the array itself when none is beyond)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size and not (array.min() >= -MAX_SECONDS and array.max() <= MAX_SECONDS):
        return np.clip(array, -MAX_SECONDS, MAX_SECONDS)
    return array


def int64(values: list[int] | IntArray) -> IntArray:
    """`values` as int64, clipped into its range."""
    if isinstance(values, np.ndarray) and values.dtype == np.int64:
        return values
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array([min(max(v, INT64.min), INT64.max) for v in values], dtype=np.int64)


def message_values(values: list[int] | IntArray) -> IntArray:
    """Message values as int64; NO_VALUE for those beyond its range (and for NO_VALUE itself)."""
    if isinstance(values, np.ndarray) and values.dtype == np.int64:
        return values  # the loader's: within 0..2^32-1
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array([v if INT64.min < v <= INT64.max else NO_VALUE for v in values], dtype=np.int64)


@dataclass(frozen=True)
class Columns:
    """One node's tick events as arrays (file order), with its receives' and sends' own fields."""

    ts: FloatArray
    clock: IntArray
    prev: IntArray  # the clock before each tick event (the previous record's)
    kind: IntArray  # loader.RECEIVE / SEND / INTERNAL
    queue: IntArray
    late_ms: FloatArray
    incarnation: IntArray  # 0 until the second start line, then 1, ...
    receives: IntArray  # positions of the receives among the tick events
    sends: IntArray  # positions of the sends
    receive_value: IntArray
    receive_enq_ts: FloatArray
    send_value: IntArray
    send_peers: IntArray  # index into NodeLog.peer_sets


def columns(log: NodeLog) -> Columns:
    ts = seconds(log.tick_ts)
    clock = int64(log.tick_clock)
    kind = int64(log.tick_kind)
    prev = np.empty_like(clock)
    if clock.size:
        prev[0] = clock[0] - 1  # nothing before it: as if it raised the clock by one
        prev[1:] = clock[:-1]
    if log.marks:  # a record between two tick events sets the clock the next one starts from
        where = np.array([at for at, _ in log.marks], dtype=np.int64)
        value = int64([clock for _, clock in log.marks])
        last = where.size - 1 - np.unique(where[::-1], return_index=True)[1]  # the last record before each tick
        inside = where[last] < clock.size
        prev[where[last][inside]] = value[last][inside]
    # Without a restart all zeros: np.zeros's pages stay unwritten, so they cost no memory.
    incarnation = np.zeros(ts.size, dtype=np.int64)
    if log.restarts:
        incarnation = np.searchsorted(np.asarray(log.restarts, dtype=np.int64), np.arange(ts.size), side="right")
    return Columns(
        ts=ts,
        clock=clock,
        prev=prev,
        kind=kind,
        queue=int64(log.tick_queue),
        late_ms=np.asarray(log.tick_late_ms, dtype=np.float64),  # finite, as the loader takes them
        incarnation=incarnation.astype(np.int64, copy=False),
        receives=np.flatnonzero(kind == RECEIVE),
        sends=np.flatnonzero(kind == SEND),
        receive_value=message_values(log.receive_value),
        receive_enq_ts=seconds(log.receive_enq_ts),
        send_value=message_values(log.send_value),
        send_peers=int64(log.send_peers),
    )

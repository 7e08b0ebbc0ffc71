"""The log format: every event a node writes, with its fields in order and their JSON types.

Writers build lines only from an `Event` (`Event.record` for a dict, node.eventlog.LineBatch for
the simulator's batches), so no writer can emit a field defined nowhere. Readers check a
record with `record_problem`, which names the missing, mistyped or out-of-range field. `FORMAT` is the log
format's version, written in every `start` line; logs without it are format 1 (the same fields,
less `format` and `time`), which readers still accept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from node.clock import MAX_CLOCK  # clocks travel as 4-byte unsigned frames
from node.config import NODE_ID_PATTERN  # node ids: a safe alphabet, verbatim in JSON

FORMAT = 3

# Field types as JSON sees them. "node" is a node id (validated at start to a safe alphabet, so
# it needs no escaping in JSON), "nodes" a list of them, "text" any string.
FieldType = str
TYPES: dict[FieldType, str] = {
    "int": "integer",
    "number": "number (integer or float, finite)",
    "node": "node id (string)",
    "nodes": "list of node ids",
    "text": "string",
    "object": "object",
    "counts": "object of node id -> integer",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    doc: str
    since: int = 1  # the log format that added it: older logs may lack it


@dataclass(frozen=True)
class Event:
    name: str
    when: str
    fields: tuple[Field, ...]
    keys: tuple[str, ...] = field(init=False)  # every key of a line, in order

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", (*(f.name for f in COMMON), *(f.name for f in self.fields)))

    def record(self, ts: float, node: str, clock: int, queue: int, values: tuple[Any, ...]) -> dict[str, Any]:
        """The line as a dict: the common fields, then `values` for this event's fields, in order."""
        if len(values) != len(self.fields):
            raise TypeError(f"{self.name}: {len(values)} values for {len(self.fields)} fields")
        line = {"ts": ts, "node": node, "event": self.name, "clock": clock, "queue": queue}  # COMMON, in order
        line.update(zip(self.keys[5:], values, strict=True))  # lengths checked above
        return line


COMMON = (
    Field("ts", "number", "system time of the event, float Unix seconds (virtual time + epoch in the simulator)"),
    Field("node", "node", "the node's id"),
    Field("event", "text", "what happened (below)"),
    Field("clock", "int", "the logical clock *after* the event"),
    Field("queue", "int", "the network queue's length after the event"),
)
_TICK = Field("tick", "int", "0-based index of the tick; its deadline is t0 + tick/rate")
_LATE = Field("late_ms", "number", "how long after its deadline the tick started (ms)")

START = Event(
    "start",
    "first line of every node, and of every restart",
    (
        Field("rate", "int", "ticks per second"),
        Field("drawn_rate", "int", "the rate drawn from the seed (differs from `rate` when pinned)"),
        Field("seed", "int", "the run's seed"),
        Field("node_seed", "int", "this node's seed, derived from the run's"),
        Field("resumed_clock", "int", "clock it resumed from its own log (0 on a first start)"),
        Field("run_id", "text", "the run folder's name"),
        Field("version", "text", "the node's software version"),
        Field("pid", "int", "process id (0 in the simulator)"),
        Field("config", "object", "every validated setting"),
        Field("format", "int", "this log format's version", since=2),
        Field("time", "text", "`real` (a container or process) or `virtual` (the simulator)", since=2),
    ),
)
CONNECTED = Event("connected", "both directions to that peer are up", (Field("peer", "node", "the peer"),))
RECEIVE = Event(
    "receive",
    "a tick took a message; `queue` is the length after taking it",
    (
        _TICK,
        _LATE,
        Field("from", "node", "the sender"),
        Field("value", "int", "the clock value received"),
        Field("enq_ts", "number", "when it entered the queue"),
    ),
)
SEND = Event(
    "send",
    "a tick drew a send (1, 2 or 3 with three nodes)",
    (
        _TICK,
        _LATE,
        Field("to", "nodes", "the peers it went to"),
        Field("value", "int", "the value sent (= `clock`)"),
    ),
)
INTERNAL = Event("internal", "a tick drew anything else", (_TICK, _LATE))
DROP = Event(
    "drop",
    "a message could not be sent (peer down, or not reading)",
    (
        Field("to", "node", "the peer"),
        Field("value", "int", "the value not sent"),
        Field("reason", "text", "why"),
    ),
)
DISCONNECTED = Event(
    "disconnected",
    "a link to that peer ended",
    (
        Field("peer", "node", "the peer"),
        Field("link", "text", "`inbound` or `outbound`"),
        Field("reason", "text", "why"),
    ),
)
REJECT = Event(
    "reject",
    "an inbound connection was refused (bad hello, unknown node, wrong address)",
    (Field("address", "text", "where it came from"), Field("reason", "text", "why")),
)
STALL = Event(
    "stall",
    "the node was frozen over a second (paused); missed ticks were skipped",
    (
        Field("tick", "int", "the first tick skipped"),
        Field("skipped", "int", "how many ticks were skipped"),
        _LATE,
    ),
)
QUEUE_FULL = Event(
    "queue_full",
    "the queue reached `MAX_QUEUE` (in the end-of-run drain: all that peers can have unacknowledged)",
    (Field("limit", "int", "the bound reached"),),
)
STATS = Event(
    "stats",
    "every `STATUS_INTERVAL` seconds",
    (
        Field("ticks", "int", "ticks so far"),
        Field("elapsed", "number", "seconds since the first tick"),
        Field("window_rate", "number", "ticks per second over the last interval"),
        Field("late_p50_ms", "number", "lateness median over the interval (streaming histogram: bucket upper edge)"),
        Field("late_p99_ms", "number", "lateness 99th percentile, likewise"),
        Field("late_max_ms", "number", "largest lateness over the interval"),
        Field("received", "int", "receive events so far"),
        Field("sent", "int", "send events so far"),
        Field("internal", "int", "internal events so far"),
        Field("dropped", "int", "drop events so far"),
        Field("peers", "int", "peers connected both ways"),
    ),
)
STOP = Event(
    "stop",
    "last line",
    (
        Field("reason", "text", "`duration`, `signal SIGTERM`, `start-timeout`, `clock-overflow`, `error`"),
        Field("queue_by_peer", "counts", "messages left in the queue, by sender"),
        Field("ticks", "int", "tick events of this incarnation"),
        Field("received", "int", "receive events"),
        Field("sent", "int", "send events"),
        Field("internal", "int", "internal events"),
        Field("dropped", "int", "drop events"),
        Field("skipped", "int", "ticks skipped after stalls"),
        Field("unfinished", "nodes", "peers still sending when the drain ended"),
        Field("unacked", "counts", "values sent and not acknowledged, by peer: the newest ones sent", since=3),
        Field("acked", "counts", "the highest value each peer acknowledged (it took every value up to it)", since=3),
    ),
)
EVENTS: dict[str, Event] = {
    e.name: e
    for e in (START, CONNECTED, RECEIVE, SEND, INTERNAL, DROP, DISCONNECTED, REJECT, STALL, QUEUE_FULL, STATS, STOP)
}
TICK_EVENTS = (RECEIVE, SEND, INTERNAL)


# Integers a node can only log within 0..MAX_CLOCK: clocks and clock values (4-byte frames on the
# wire) and the queue length. Outside it a line is corrupt, and would overflow the readers' arrays.
CLOCK_FIELDS = frozenset({"clock", "value", "resumed_clock", "queue"})
SHOWN = 40  # characters of a bad value quoted in a problem (a crafted one may be megabytes)


def _valid(kind: FieldType, value: Any) -> bool:
    t = type(value)
    if kind == "int":
        return t is int
    if kind == "number":
        return (t is int) or (t is float and math.isfinite(value))
    if kind in ("node", "text"):
        return t is str and (kind == "text" or NODE_ID_PATTERN.fullmatch(value) is not None)
    if kind == "nodes":
        return t is list and all(type(v) is str and NODE_ID_PATTERN.fullmatch(v) for v in value)
    if kind == "object":
        return t is dict
    return t is dict and all(type(v) is int for v in value.values())  # counts


def _value_problem(f: Field, value: Any) -> str | None:
    """Why `value` cannot be `f` (None if it can): "expected <type>", or out of its range."""
    if not _valid(f.type, value):
        return f"expected {TYPES[f.type]}"
    if f.name in CLOCK_FIELDS and not 0 <= value <= MAX_CLOCK:
        return f"{value} outside 0..{MAX_CLOCK}"
    return None


def _shown(text: str) -> str:
    """`text` quoted for a problem line, cut to SHOWN characters."""
    return repr(text) if len(text) <= SHOWN else repr(text[:SHOWN]) + f"... ({len(text):,} characters)"


def record_problem(record: Any, version: int = FORMAT) -> str | None:
    """Why `record` is not a valid line of a format-`version` log (None if it is)."""
    if type(record) is not dict:
        return "not a JSON object"
    for f in COMMON:
        why = _value_problem(f, record.get(f.name))
        if why is not None:  # the type is named by the field; a range is said
            return f"missing or invalid field {f.name!r}" + ("" if why.startswith("expected") else f" ({why})")
    event = EVENTS.get(record["event"])
    if event is None:
        return f"unknown event {_shown(record['event'])}"
    for f in event.fields:
        if f.name not in record:
            if f.since <= version:
                return f"{event.name} without {f.name!r}"
            continue
        why = _value_problem(f, record[f.name])
        if why is not None:
            return f"{event.name} with an invalid {f.name!r} ({why})"
    return None

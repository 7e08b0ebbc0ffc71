"""Read a run folder's JSON-lines logs into per-node columns, reporting every bad line.

Nothing here computes figures: it parses, checks each record against the one definition of the
log format (`node.schema`) and keeps what is usable, as columns. A problem (truncated last line,
non-JSON, unknown event, a field missing or of the wrong type, missing node file) becomes a
`Problem` with file and line; the rest of the run is still loaded. A node's records are checked
against the format of its current incarnation: the `format` of its latest start line (1 without).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from node.schema import FORMAT, TICK_EVENTS, record_problem

TICK_KINDS = {event.name: kind for kind, event in enumerate(TICK_EVENTS)}
RECEIVE, SEND, INTERNAL = TICK_KINDS["receive"], TICK_KINDS["send"], TICK_KINDS["internal"]

# The fast path in `load_node` checks these fields of the tick events inline (they are nearly every
# line); anything it does not accept goes to `record_problem`. If the schema's tick events change,
# the analysis refuses to start rather than check them by an outdated list
# (tests/unit/test_analysis_loader.py checks every field's type both ways).
_FAST_PATH = {
    "receive": (("tick", "int"), ("late_ms", "number"), ("from", "node"), ("value", "int"), ("enq_ts", "number")),
    "send": (("tick", "int"), ("late_ms", "number"), ("to", "nodes"), ("value", "int")),
    "internal": (("tick", "int"), ("late_ms", "number")),
}
if {e.name: tuple((f.name, f.type) for f in e.fields) for e in TICK_EVENTS} != _FAST_PATH:
    raise ImportError("node.schema's tick events changed: update analysis.loader's fast path and _FAST_PATH")


@dataclass(frozen=True)
class Problem:
    """Something wrong in the input, located as precisely as possible."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class Receive:
    sender: str
    value: int
    enq_ts: float
    ts: float
    clock: int


@dataclass(slots=True)
class Send:
    ts: float
    value: int
    to: tuple[str, ...]
    clock: int


@dataclass
class NodeLog:
    """One node's usable records: tick events and messages as columns (one entry a line)."""

    node: str
    file: str
    starts: list[dict[str, Any]] = field(default_factory=list)
    stops: list[dict[str, Any]] = field(default_factory=list)
    stalls: list[dict[str, Any]] = field(default_factory=list)
    drops: list[tuple[str, int, str]] = field(default_factory=list)  # (to, value, reason)
    events: Counter[str] = field(default_factory=Counter)  # usable lines by event
    # Tick events (receive/send/internal), in file order.
    tick_ts: list[float] = field(default_factory=list)
    tick_clock: list[int] = field(default_factory=list)
    tick_queue: list[int] = field(default_factory=list)
    tick_kind: list[int] = field(default_factory=list)
    tick_late_ms: list[float] = field(default_factory=list)
    # The receives' and the sends' own fields, in file order (their ts and clock are the tick's).
    receive_from: list[str] = field(default_factory=list)
    receive_value: list[int] = field(default_factory=list)
    receive_enq_ts: list[float] = field(default_factory=list)
    send_value: list[int] = field(default_factory=list)
    send_peers: list[int] = field(default_factory=list)  # index into peer_sets
    peer_sets: list[tuple[str, ...]] = field(default_factory=list)  # each distinct `to`, once
    # Every other record as (tick events before it, its clock): the clock before each tick event.
    marks: list[tuple[int, int]] = field(default_factory=list)
    restarts: list[int] = field(default_factory=list)  # tick events before each start but the first

    @property
    def rate(self) -> int | None:
        return int(self.starts[-1]["rate"]) if self.starts else None

    @property
    def config(self) -> dict[str, Any]:
        config = self.starts[0].get("config") if self.starts else None
        return config if isinstance(config, dict) else {}

    @property
    def format(self) -> int:
        """The log format of the current incarnation (1 for logs written before `format` existed)."""
        version = self.starts[-1].get("format", 1) if self.starts else 1
        return version if type(version) is int else 1

    @cached_property
    def receives(self) -> list[Receive]:
        """The receives as objects (the columns are what the analysis itself reads)."""
        at = [i for i, kind in enumerate(self.tick_kind) if kind == RECEIVE]
        columns = zip(self.receive_from, self.receive_value, self.receive_enq_ts, at, strict=True)
        return [Receive(s, v, e, self.tick_ts[i], self.tick_clock[i]) for s, v, e, i in columns]

    @cached_property
    def sends(self) -> list[Send]:
        at = [i for i, kind in enumerate(self.tick_kind) if kind == SEND]
        columns = zip(self.send_value, self.send_peers, at, strict=True)
        return [Send(self.tick_ts[i], v, self.peer_sets[p], self.tick_clock[i]) for v, p, i in columns]


@dataclass
class RunData:
    folder: Path
    nodes: dict[str, NodeLog]
    problems: list[Problem]
    info: dict[str, Any]  # run.json, if any


def _full_check(record: Any, version: int, node: str, name: str) -> str | None:
    """Why a record is not usable: the schema's answer, then whether it is this file's node."""
    why = record_problem(record, version)
    if why is None and record["node"] != node:
        why = f"record of node {record['node']!r} in {name}"
    return why


def _peer_set(to: Any, codes: dict[tuple[str, ...], int], log: NodeLog) -> int | None:
    """The index of a send's `to` in log.peer_sets (added when new); None if it is not a list of ids."""
    if type(to) is not list:
        return None
    key = tuple(to)
    code = codes.get(key)  # TypeError for an unhashable entry: the caller's full check says why
    if code is None and all(type(peer) is str for peer in key):
        code = codes[key] = len(log.peer_sets)
        log.peer_sets.append(key)
    return code


def load_node(path: Path, problems: list[Problem]) -> NodeLog | None:
    """Parse one node's file; None if it holds no usable record at all.

    Columns of numbers and shared strings, no object per line: with an object per receive and send
    the cyclic garbage collector kept rescanning them (1.3 s a million lines, against 2.6 s with
    objects and a check function per line; measured 2026-11-26).
    """
    name = path.name
    log = NodeLog(node=path.stem, file=name)
    try:
        data = path.read_bytes()
    except OSError as error:
        problems.append(Problem(name, None, f"cannot read: {error.strerror or error}"))
        return None
    lines = data.split(b"\n")
    unterminated = len(lines) if not data.endswith(b"\n") else -1  # the last line, if it lacks its \n
    decode = orjson.loads  # 0.7 us a line against 2.2 us for json's fastest path (measured)
    kinds = TICK_KINDS
    node = log.node
    version = 1  # the format of the current incarnation: its start line's `format`
    codes: dict[tuple[str, ...], int] = {}
    tick_ts, tick_clock, tick_queue = log.tick_ts.append, log.tick_clock.append, log.tick_queue.append
    tick_kind, tick_late = log.tick_kind.append, log.tick_late_ms.append
    receive_from, receive_value = log.receive_from.append, log.receive_value.append
    receive_enq, send_value, send_peers = log.receive_enq_ts.append, log.send_value.append, log.send_peers.append
    for number, line in enumerate(lines, 1):
        try:
            record = decode(line)
        except orjson.JSONDecodeError:
            if line.strip():  # blank lines are not records
                bad = "truncated last line (node killed while writing?)" if number == unterminated else "not JSON"
                problems.append(Problem(name, number, bad))
            continue
        try:
            kind = kinds[record["event"]]
        except (KeyError, TypeError):  # another event, or not an object with a usable event
            kind = -1
        if kind >= 0:
            # The fast path: every field of the three tick events, as record_problem checks it
            # (numbers finite: x - x is 0.0 only for a finite float). Anything else: the full check.
            peers = None
            try:
                ts, late, clock = record["ts"], record["late_ms"], record["clock"]
                ok = (
                    type(clock) is int
                    and type(record["queue"]) is int
                    and type(record["tick"]) is int
                    and ((type(ts) is float and ts - ts == 0.0) or type(ts) is int)
                    and ((type(late) is float and late - late == 0.0) or type(late) is int)
                    and record["node"] == node
                )
                if ok and kind == RECEIVE:
                    enq = record["enq_ts"]
                    ok = (
                        type(record["value"]) is int
                        and type(record["from"]) is str
                        and ((type(enq) is float and enq - enq == 0.0) or type(enq) is int)
                    )
                elif ok and kind == SEND:
                    peers = _peer_set(record["to"], codes, log)
                    ok = peers is not None and type(record["value"]) is int
            except (KeyError, TypeError):
                ok = False
            if not ok:
                why = _full_check(record, version, node, name)
                if why is not None:
                    problems.append(Problem(name, number, why))
                    continue
                # Valid after all: the fast path may be stricter than the schema, never more lenient.
                ts, late, clock = record["ts"], record["late_ms"], record["clock"]
                if kind == SEND:
                    peers = _peer_set(record["to"], codes, log)
            tick_ts(ts)
            tick_clock(clock)
            tick_queue(record["queue"])
            tick_kind(kind)
            tick_late(late)
            if kind == RECEIVE:
                receive_from(record["from"])
                receive_value(record["value"])
                receive_enq(record["enq_ts"])
            elif kind == SEND:
                assert peers is not None  # a valid send's `to` is a list of ids: it has its peer set
                send_value(record["value"])
                send_peers(peers)
            continue
        own = version
        if type(record) is dict and record.get("event") == "start":  # a start line is read by its own format
            stated = record.get("format", 1)
            own = stated if type(stated) is int else 1
        why = _full_check(record, own, node, name)
        if why is not None:
            problems.append(Problem(name, number, why))
            continue
        event = record["event"]
        log.events[event] += 1
        log.marks.append((len(log.tick_ts), record["clock"]))
        if event == "start":
            if own > FORMAT:
                problems.append(Problem(name, number, f"log format {own}: newer than this analysis ({FORMAT})"))
            if log.starts:
                log.restarts.append(len(log.tick_ts))
            log.starts.append(record)
            version = own
        elif event == "drop":
            log.drops.append((record["to"], record["value"], record["reason"]))
        elif event == "stop":
            log.stops.append(record)
        elif event == "stall":
            log.stalls.append(record)
    for event in TICK_EVENTS:  # counted here, not per line
        count = log.tick_kind.count(kinds[event.name])
        if count:
            log.events[event.name] = count
    if not log.events:
        problems.append(Problem(name, None, "no usable records"))
        return None
    if not log.starts:
        problems.append(Problem(name, None, "no start line: rate and configuration unknown"))
    if not log.stops:
        problems.append(Problem(name, None, "no stop line: the node did not finish (killed, or still running?)"))
    return log


def load_run(folder: Path) -> RunData:
    problems: list[Problem] = []
    nodes: dict[str, NodeLog] = {}
    # One file after another: parsing in worker processes was slower (measured 5.3 s against
    # 4.0 s for 960k lines), because sending the parsed records back costs more than it saves.
    for path in sorted(folder.glob("*.jsonl")):
        log = load_node(path, problems)
        if log is not None:
            nodes[log.node] = log
    info: dict[str, Any] = {}
    run_file = folder / "run.json"
    if run_file.exists():
        try:
            loaded = json.loads(run_file.read_text())
            info = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            problems.append(Problem("run.json", None, "not readable JSON"))
    # Every peer a node was configured with should have a log of its own.
    for log in list(nodes.values()):
        peers = log.config.get("peers") or log.config.get("nodes") or []
        for peer in peers if isinstance(peers, list) else []:
            peer_id = str(peer).split("@", 1)[0].split(":", 1)[0]
            if peer_id != log.node and peer_id not in nodes:
                problems.append(Problem(f"{peer_id}.jsonl", None, "missing: a node lists it as a peer"))
    return RunData(folder=folder, nodes=nodes, problems=list(dict.fromkeys(problems)), info=info)

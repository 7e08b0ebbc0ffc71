"""Read a run folder's JSON-lines logs into per-node columns, reporting every bad line.

Nothing here computes figures: it parses, checks each record against the one definition of the
log format (`node.schema`) and keeps what is usable, as columns. A problem (truncated last line,
non-JSON, unknown event, a field missing or of the wrong type, missing node file) becomes a
`Problem` with file and line; the rest of the run is still loaded. A node's records are checked
against the format of its current incarnation: the `format` of its latest start line (1 without).

Two paths, one definition: a line at a time (orjson and the checks below) is what is valid;
blocks of tick lines are read as columns by pyarrow (analysis.bulk) where that gives the same
rows and values, and every other line goes through the per-line path, in order.

Whatever a run folder holds, what it can make the analysis read, keep and compute is bounded:
only regular files are read (analysis.files: no FIFO, device or link), a line at a time within
MAX_LINE and a file a CHUNK at a time; a run names at most MAX_NODES node ids (a line naming one
more is a problem: per-pair matching and per-node figures stay small), a file at most
MAX_PEER_SETS destination lists; a file's first MAX_PROBLEMS problems are listed, the rest counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from analysis.bulk import KINDS, Block, FloatArray, IntArray, read_block
from analysis.files import open_regular
from node.clock import MAX_CLOCK
from node.config import NODE_ID_PATTERN
from node.schema import FORMAT, TICK_EVENTS, record_problem

TICK_KINDS = {name: kind for kind, name in enumerate(KINDS)}
KIND_NAMES = KINDS  # a tick event's kind code -> its name
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

# Bounds on what a crafted run folder can make the analysis hold or compute (each beyond: a problem).
MAX_NODES = 100  # node ids in a run, files and names in records together (matching is per pair)
MAX_PEER_SETS = 1000  # distinct `to` lists in one file (a run of N nodes has N)
MAX_LINE = 1 << 20  # bytes in a line (the longest a node writes, its start line, is a few hundred)
MAX_PROBLEMS = 10_000  # problems listed per file; more are counted
MAX_RUN_JSON = 1 << 20  # bytes of run.json
CHUNK = 1 << 22  # bytes read at a time: memory stays at a chunk (4 MiB: 8 MiB cost 30 MB at the peak)
TOO_LONG = b"\xff too long"  # stands for a line over MAX_LINE (found by identity; orjson rejects it)


def _empty(dtype: type[np.generic]) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


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
    drop_at: list[int] = field(default_factory=list)  # per drop: tick events before it (its send is the last)
    events: Counter[str] = field(default_factory=Counter)  # usable lines by event
    # Tick events (receive/send/internal), in file order.
    tick_ts: FloatArray = field(default_factory=lambda: _empty(np.float64))
    tick_clock: IntArray = field(default_factory=lambda: _empty(np.int64))
    tick_queue: IntArray = field(default_factory=lambda: _empty(np.int64))
    tick_kind: IntArray = field(default_factory=lambda: _empty(np.int64))
    tick_late_ms: FloatArray = field(default_factory=lambda: _empty(np.float64))
    # The receives' and the sends' own fields, in file order (their ts and clock are the tick's).
    receive_source: IntArray = field(default_factory=lambda: _empty(np.int64))  # index into sources
    sources: list[str] = field(default_factory=list)  # each distinct `from`, once
    receive_value: IntArray = field(default_factory=lambda: _empty(np.int64))
    receive_enq_ts: FloatArray = field(default_factory=lambda: _empty(np.float64))
    send_value: IntArray = field(default_factory=lambda: _empty(np.int64))
    send_peers: IntArray = field(default_factory=lambda: _empty(np.int64))  # index into peer_sets
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
    def clock_bug(self) -> str | None:
        """The planted clock bug its start line names (CLOCK_BUG), or None (also for "none")."""
        bug = self.config.get("clock_bug")
        return bug if isinstance(bug, str) and bug != "none" else None

    @property
    def format(self) -> int:
        """The log format of the current incarnation (1 for logs written before `format` existed)."""
        version = self.starts[-1].get("format", 1) if self.starts else 1
        return version if type(version) is int else 1

    @cached_property
    def receive_from(self) -> list[str]:
        """Each receive's sender, by name."""
        return [self.sources[code] for code in self.receive_source.tolist()]

    @cached_property
    def receives(self) -> list[Receive]:
        """The receives as objects (the columns are what the analysis itself reads)."""
        at = np.flatnonzero(self.tick_kind == RECEIVE).tolist()
        ts, clock = self.tick_ts.tolist(), self.tick_clock.tolist()
        columns = zip(self.receive_from, self.receive_value.tolist(), self.receive_enq_ts.tolist(), at, strict=True)
        return [Receive(s, v, e, ts[i], clock[i]) for s, v, e, i in columns]

    @cached_property
    def sends(self) -> list[Send]:
        at = np.flatnonzero(self.tick_kind == SEND).tolist()
        ts, clock = self.tick_ts.tolist(), self.tick_clock.tolist()
        columns = zip(self.send_value.tolist(), self.send_peers.tolist(), at, strict=True)
        return [Send(ts[i], v, self.peer_sets[p], clock[i]) for v, p, i in columns]


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


def _admit(names: list[str], ids: set[str]) -> str | None:
    """Add valid node ids to the run's `ids`; why not, when that would pass MAX_NODES (none added)."""
    new = [name for name in dict.fromkeys(names) if name not in ids]
    if len(ids) + len(new) > MAX_NODES:
        return f"names node {new[0]!r}: more than {MAX_NODES} node ids in the run, not analysed"
    ids.update(new)
    return None


def _add_peer_set(to: list[str], codes: dict[tuple[str, ...], int], log: NodeLog, ids: set[str]) -> str | None:
    """Give a valid send's `to` its index in log.peer_sets (kept in `codes`); why not, past a bound."""
    key = tuple(to)
    if key in codes:
        return None
    if len(codes) >= MAX_PEER_SETS:
        return f"more than {MAX_PEER_SETS} distinct destination lists in one file, not analysed"
    why = _admit(to, ids)
    if why is None:
        codes[key] = len(log.peer_sets)
        log.peer_sets.append(key)
    return why


def _blocks(file: BinaryIO) -> Iterator[tuple[memoryview | list[bytes], bool]]:
    """The file a chunk at a time: whole lines as one block (joined by newlines, a view: not
    copied), or as a list of lines, and whether its last line is unterminated (the file's end). A
    line longer than MAX_LINE is never held whole: it is given as TOO_LONG, the bytes past the
    bound thrown away as read."""
    carry, skipping = b"", False  # carry: the line begun in the last chunk
    while chunk := file.read(CHUNK):
        if skipping:  # inside an overlong line: drop its bytes up to its newline
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            yield [TOO_LONG], False
            chunk, skipping = chunk[cut + 1 :], False
        text = carry + chunk if carry else chunk
        end = text.rfind(b"\n")
        whole, carry = (memoryview(text)[:end], text[end + 1 :]) if end >= 0 else (None, text)
        if len(carry) > MAX_LINE:
            carry, skipping = b"", True
        if whole is not None:
            yield whole, False
    if skipping:
        yield [TOO_LONG], True
    elif carry:
        yield [carry], True


def load_node(path: Path, problems: list[Problem], ids: set[str] | None = None) -> NodeLog | None:
    """Parse one node's file; None if it holds no usable record at all. `ids`: the node ids of the
    run so far (at most MAX_NODES), updated; a line naming one more is a problem.

    Columns of numbers and shared strings, no object per line: with an object per receive and send
    the cyclic garbage collector kept rescanning them (1.3 s a million lines, against 2.6 s with
    objects and a check function per line; measured 2026-11-26).
    """
    try:
        file = open_regular(path)
    except OSError as error:
        problems.append(Problem(path.name, None, f"cannot read: {error.strerror or error}"))
        return None
    with file:
        return read_node(file, path.name, problems, ids)


def read_node(file: BinaryIO, name: str, problems: list[Problem], ids: set[str] | None = None) -> NodeLog | None:
    """load_node on an open file (or a simulation's lines in memory) named `name` (<node>.jsonl)."""
    log = NodeLog(node=name.removesuffix(".jsonl"), file=name)
    listed, counted = len(problems), [0]  # problems before this file's; this file's beyond MAX_PROBLEMS

    def problem(line: int | None, message: str) -> None:
        if len(problems) - listed < MAX_PROBLEMS:
            problems.append(Problem(name, line, message))
        else:
            counted[0] += 1

    if ids is None:
        ids = {log.node}
    reader = _Reader(log, ids, problem)
    try:
        reader.read(file)
    except OSError as error:
        problem(None, f"cannot read: {error.strerror or error}")
    finally:
        reader.finish()
    if counted[0]:
        problems.append(Problem(name, None, f"{counted[0]:,} more problems, not listed"))
    counts = np.bincount(log.tick_kind, minlength=len(KINDS)).tolist()
    for name_, count in zip(KINDS, counts, strict=True):  # counted here, not per line
        if count:
            log.events[name_] = count
    if not log.events:
        problems.append(Problem(name, None, "no usable records"))
        return None
    if not log.starts:
        problems.append(Problem(name, None, "no start line: rate and configuration unknown"))
    if not log.stops:
        problems.append(Problem(name, None, "no stop line: the node did not finish (killed, or still running?)"))
    return log


class _Column:
    """One column being read: values from the per-line path gathered in a list, blocks' as arrays."""

    def __init__(self, dtype: type[np.generic]) -> None:
        self.dtype = dtype
        self.items: list[Any] = []  # kept as the same list: the per-line path binds its append
        self.pieces: list[np.ndarray] = []

    def flush(self) -> None:
        if self.items:
            self.pieces.append(np.array(self.items, dtype=self.dtype))
            self.items.clear()

    def extend(self, values: np.ndarray) -> None:
        self.flush()
        self.pieces.append(values)

    def array(self) -> np.ndarray:
        """The column, once: its pieces are let go (a column at a time, not the file's all at once)."""
        self.flush()
        pieces, self.pieces = self.pieces, []
        if len(pieces) == 1:
            return pieces[0].astype(self.dtype, copy=False)
        return np.concatenate(pieces).astype(self.dtype, copy=False) if pieces else _empty(self.dtype)


class _Reader:
    """One node file's lines into its NodeLog: the per-line path, and blocks read by analysis.bulk."""

    def __init__(self, log: NodeLog, ids: set[str], problem: Callable[[int | None, str], None]) -> None:
        self.log, self.ids, self.problem = log, ids, problem
        self.version = 1  # the format of the current incarnation: its start line's `format`
        self.codes: dict[tuple[str, ...], int] = {}  # each `to` list's index in log.peer_sets
        self.sources: dict[str, int] = {}  # each `from`'s index in log.sources
        self.ticks = 0  # tick events so far
        self.ts, self.late = _Column(np.float64), _Column(np.float64)
        self.clock, self.queue, self.kind = _Column(np.int64), _Column(np.int64), _Column(np.int64)
        self.source, self.received, self.enq = _Column(np.int64), _Column(np.int64), _Column(np.float64)
        self.sent, self.peers = _Column(np.int64), _Column(np.int64)

    def read(self, file: BinaryIO) -> None:
        number = 1
        for part, unterminated in _blocks(file):
            if isinstance(part, memoryview):
                read = self.block(part, number)
                if read:
                    number += read
                    continue
                lines = part.tobytes().split(b"\n")
                if max(map(len, lines)) > MAX_LINE:  # rare: replace the long ones
                    lines = [TOO_LONG if len(line) > MAX_LINE else line for line in lines]
            else:
                lines = part
            self.lines(lines, number, unterminated)
            number += len(lines)

    def block(self, block: memoryview, first: int) -> int:
        """Read `block` (whole lines) through analysis.bulk: how many lines, 0 if it must be read line by line."""
        found = read_block(block, self.log.node, self.ids, self.codes)
        if found is None:
            return 0
        sources = np.array([self.sources.setdefault(name, len(self.sources)) for name in found.names] + [-1])
        taken, peers = found.taken(self.codes)
        rows, lo = taken.size, 0
        while lo < rows:
            left = np.flatnonzero(~taken[lo:])
            k = lo + int(left[0]) if left.size else rows
            if k > lo:
                self.extend(found, lo, k, sources, peers)
            if k < rows:
                known = len(self.codes)
                self.lines([block[found.starts[k] : found.ends[k]].tobytes()], first + k, False)
                if len(self.codes) > known:  # a `to` list admitted: later sends to it are taken too
                    taken, peers = found.taken(self.codes)
            lo = k + 1
        return rows

    def extend(self, found: Block, lo: int, hi: int, sources: IntArray, peers: IntArray) -> None:
        """Rows lo..hi of `found`, all taken, as tick events."""
        kind = found.kind[lo:hi].copy()  # copies: the block's own arrays are freed with it
        receive, send = kind == RECEIVE, kind == SEND
        self.ts.extend(found.ts[lo:hi].copy())
        self.clock.extend(found.clock[lo:hi].copy())
        self.queue.extend(found.queue[lo:hi].copy())
        self.kind.extend(kind)
        self.late.extend(found.late_ms[lo:hi].copy())
        self.source.extend(sources[found.source[lo:hi][receive]])
        self.received.extend(found.value[lo:hi][receive])
        self.enq.extend(found.enq_ts[lo:hi][receive])
        self.sent.extend(found.value[lo:hi][send])
        self.peers.extend(peers[lo:hi][send])
        self.ticks += hi - lo

    def finish(self) -> None:
        """The columns into the log; and the names its codes stand for."""
        log = self.log
        log.tick_ts, log.tick_clock, log.tick_queue = self.ts.array(), self.clock.array(), self.queue.array()
        log.tick_kind, log.tick_late_ms = self.kind.array(), self.late.array()
        log.receive_source, log.receive_value, log.receive_enq_ts = (
            self.source.array(),
            self.received.array(),
            self.enq.array(),
        )
        log.send_value, log.send_peers = self.sent.array(), self.peers.array()
        log.sources = list(self.sources)

    def lines(self, lines: list[bytes], first: int, unterminated: bool) -> None:
        """Every line into the log's columns, or as a problem: the per-line path."""
        log, ids, problem, codes, sources = self.log, self.ids, self.problem, self.codes, self.sources
        name, node = log.file, log.node
        decode = orjson.loads  # 0.7 us a line against 2.2 us for json's fastest path (measured)
        kinds = TICK_KINDS
        top = MAX_CLOCK  # a local: read on every line
        version, ticks = self.version, self.ticks
        tick_ts, tick_clock, tick_queue = self.ts.items.append, self.clock.items.append, self.queue.items.append
        tick_kind, tick_late = self.kind.items.append, self.late.items.append
        receive_from, receive_value = self.source.items.append, self.received.items.append
        receive_enq, send_value, send_peers = self.enq.items.append, self.sent.items.append, self.peers.items.append
        for number, line in enumerate(lines, first):
            try:
                record = decode(line)
            except orjson.JSONDecodeError:
                if line is TOO_LONG:
                    problem(number, f"longer than {MAX_LINE:,} bytes: not read")
                elif line.strip():  # blank lines are not records
                    problem(number, "truncated last line (node killed while writing?)" if unterminated else "not JSON")
                continue
            try:
                kind = kinds[record["event"]]
            except (KeyError, TypeError):  # another event, or not an object with a usable event
                kind = -1
            if kind >= 0:
                # The fast path: every field of the three tick events, as record_problem checks it
                # (numbers finite: x - x is 0.0 only for a finite float; clocks, values and queue
                # within 0..MAX_CLOCK), from a node id already in `ids`, to a `to` list already
                # seen. Anything else: the full check, then the bounds on ids and lists.
                peers = -1
                try:
                    ts, late, clock, queue = record["ts"], record["late_ms"], record["clock"], record["queue"]
                    ok = (
                        type(clock) is int
                        and 0 <= clock <= top
                        and type(queue) is int
                        and 0 <= queue <= top
                        and type(record["tick"]) is int
                        and ((type(ts) is float and ts - ts == 0.0) or type(ts) is int)
                        and ((type(late) is float and late - late == 0.0) or type(late) is int)
                        and record["node"] == node
                    )
                    if ok and kind == RECEIVE:
                        enq, value = record["enq_ts"], record["value"]
                        ok = (
                            type(value) is int
                            and 0 <= value <= top
                            and record["from"] in ids
                            and ((type(enq) is float and enq - enq == 0.0) or type(enq) is int)
                        )
                    elif ok and kind == SEND:
                        value, to = record["value"], record["to"]
                        peers = codes.get(tuple(to), -1) if type(to) is list else -1
                        ok = peers >= 0 and type(value) is int and 0 <= value <= top
                except (KeyError, TypeError):  # a field missing, or unhashable (`from`, `to`)
                    ok = False
                if not ok:
                    why = _full_check(record, version, node, name)
                    if why is None and kind == RECEIVE:
                        why = _admit([record["from"]], ids)
                    elif why is None and kind == SEND:
                        why = _add_peer_set(record["to"], codes, log, ids)
                    if why is not None:
                        problem(number, why)
                        continue
                    # Valid after all: the fast path may be stricter than the schema, never more lenient.
                    ts, late, clock, queue = record["ts"], record["late_ms"], record["clock"], record["queue"]
                    if kind == SEND:
                        peers = codes[tuple(record["to"])]
                tick_ts(ts)
                tick_clock(clock)
                tick_queue(queue)
                tick_kind(kind)
                tick_late(late)
                ticks += 1
                if kind == RECEIVE:
                    sender = record["from"]
                    code = sources.get(sender)
                    receive_from(sources.setdefault(sender, len(sources)) if code is None else code)
                    receive_value(record["value"])
                    receive_enq(record["enq_ts"])
                elif kind == SEND:
                    send_value(record["value"])
                    send_peers(peers)
                continue
            own = version
            if type(record) is dict and record.get("event") == "start":  # a start line is read by its own format
                stated = record.get("format", 1)
                own = stated if type(stated) is int else 1
            why = _full_check(record, own, node, name)
            if why is None and record["event"] == "drop":
                why = _admit([record["to"]], ids)
            if why is not None:
                problem(number, why)
                continue
            event = record["event"]
            log.events[event] += 1
            log.marks.append((ticks, record["clock"]))
            if event == "start":
                if own > FORMAT:
                    problem(number, f"log format {own}: newer than this analysis ({FORMAT})")
                if log.starts:
                    log.restarts.append(ticks)
                log.starts.append(record)
                version = own
            elif event == "drop":
                log.drops.append((record["to"], record["value"], record["reason"]))
                log.drop_at.append(ticks)
            elif event == "stop":
                log.stops.append(record)
            elif event == "stall":
                log.stalls.append(record)
        self.version, self.ticks = version, ticks


def _read_info(folder: Path, problems: list[Problem]) -> dict[str, Any]:
    """run.json as an object ({} if absent); anything else in its place is a problem."""
    path = folder / "run.json"
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        with open_regular(path) as file:
            data = file.read(MAX_RUN_JSON + 1)
    except OSError as error:
        problems.append(Problem(path.name, None, f"cannot read: {error.strerror or error}"))
        return {}
    if len(data) > MAX_RUN_JSON:
        problems.append(Problem(path.name, None, f"longer than {MAX_RUN_JSON:,} bytes: not read"))
        return {}
    try:
        info = orjson.loads(data)  # its depth limit (1024) raises, where json's recursion would not be caught
    except orjson.JSONDecodeError:
        problems.append(Problem(path.name, None, "not readable JSON"))
        return {}
    return info if type(info) is dict else {}


def _node_files(folder: Path, problems: list[Problem]) -> list[Path]:
    """The folder's *.jsonl files named by a node id, at most MAX_NODES of them (sorted)."""
    paths: list[Path] = []
    for path in sorted(folder.glob("*.jsonl")):
        if not NODE_ID_PATTERN.fullmatch(path.stem):
            problems.append(Problem(path.name, None, "not read: its name is not a node id"))
        elif len(paths) == MAX_NODES:
            problems.append(Problem(path.name, None, f"not read: more than {MAX_NODES} node files"))
        else:
            paths.append(path)
    return paths


def _listed_peers(log: NodeLog) -> list[str]:
    """The node ids a node's configuration lists as its peers (entries "id", "id@host:port" or "id:port")."""
    peers = log.config.get("peers") or log.config.get("nodes")
    entries = [peer for peer in peers[:MAX_NODES] if type(peer) is str] if type(peers) is list else []
    names = (entry.split("@", 1)[0].split(":", 1)[0] for entry in entries)
    return [name for name in names if NODE_ID_PATTERN.fullmatch(name)]


def load_run(folder: Path) -> RunData:
    problems: list[Problem] = []
    nodes: dict[str, NodeLog] = {}
    paths = _node_files(folder, problems)
    ids = {path.stem for path in paths}  # the run's node ids: its files', then those its records name
    # One file after another: parsing in worker processes was slower (measured 5.3 s against
    # 4.0 s for 960k lines), because sending the parsed records back costs more than it saves.
    for path in paths:
        log = load_node(path, problems, ids)
        if log is not None:
            nodes[log.node] = log
    info = _read_info(folder, problems)
    # Every peer a node was configured with should have a log of its own.
    for log in list(nodes.values()):
        for peer_id in dict.fromkeys(_listed_peers(log)):
            if peer_id != log.node and peer_id not in nodes:
                problems.append(Problem(f"{peer_id}.jsonl", None, "missing: a node lists it as a peer"))
    return RunData(folder=folder, nodes=nodes, problems=list(dict.fromkeys(problems)), info=info)

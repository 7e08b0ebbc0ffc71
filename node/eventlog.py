"""A node's event log in real time: one JSON object per line, written through python-json-logger,
and read back whole when the node restarts.

The line's fields and their order come from node.schema (README: log format). Each line reaches
the file with one write(2) of its own, with no buffer in between, so a crash loses at most the
line being written. A line that cannot be written whole (disk full, read-only, I/O error) raises
LogWriteError: write-ahead logging means nothing may happen that the log does not hold. If the
failed write left part of a line, the next line starts on a fresh line, so no two are ever glued.

At a restart the same file is read back first, whole, in one streaming pass (`read_resume`):
the last clock, when the run started ticking, the highest value taken from each peer and the
values sent to each peer and not dropped (node.interfaces.Resume). A line cut short is forgiven
only where a kill or a failed write leaves one (at the end of an incarnation); anything else
raises LogCorruptError: a node does not resume from a log it cannot trust.

Writing is the node's hot path (one line per tick: 30,000 lines/s for three nodes at 10,000
ticks/s), so it skips what a general-purpose logger does per record and a node never uses
(bench/findings.md has the measurements): no Logger (level checks, caller lookup, a new
LogRecord per line), python-json-logger's JsonFormatter without its search for LogRecord extras
(our dict is the whole line), one reused JSON encoder instead of a new one per line, and a
handler that writes the encoded line with os.write instead of a text stream plus flush.
The bytes of a line are exactly what the stock JsonFormatter writes (tests/unit/test_eventlog.py).

The simulator writes the same lines, a million in seconds, through `LineBatch`: the same bytes
(tests/unit/test_eventlog.py compares them for every event), formatted a batch at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from node.config import DEFAULTS, NODE_ID_PATTERN
from node.interfaces import LogCorruptError, LogWriteError, Resume
from node.linkrules import unacked_limit
from node.schema import COMMON, DROP, EVENTS, INTERNAL, RECEIVE, SEND, START, TICK_EVENTS, Event, record_problem

_bulk_dumps: Callable[[Any], bytes] | None
try:  # LineBatch's numbers, all at once; the node image has no orjson and never batches lines
    from orjson import dumps as _bulk_dumps
except ModuleNotFoundError:  # pragma: no cover - the exact per-number path below is used instead
    _bulk_dumps = None

# One encoder for every line: json.dumps(obj, cls=...) builds a new encoder object per call.
# python-json-logger's own encoder class, so unusual values are encoded the way it would.
# A line is a flat dict of numbers and strings: no reference cycle to check for.
_ENCODER = JsonEncoder(ensure_ascii=False, check_circular=False)

# Sent values kept per peer when the caller does not say (node.linkrules: MAX_QUEUE's default).
DEFAULT_KEEP = unacked_limit(int(DEFAULTS["MAX_QUEUE"]))


def _serialize(log_data: dict[str, Any], **_options: Any) -> str:
    """python-json-logger's `json_serializer`: the options it passes are fixed at _ENCODER's."""
    return _ENCODER.encode(log_data)


class EventFormatter(JsonFormatter):
    """JsonFormatter for records whose message is the whole line as a dict (fmt=[]).

    The stock `add_fields` also walks every LogRecord attribute looking for `extra` fields and
    renames each key; a node's records have neither, so the message dict is the line.
    """

    def __init__(self) -> None:
        super().__init__([], json_ensure_ascii=False, json_serializer=_serialize)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data.update(message_dict)


class LineHandler(logging.Handler):
    """Appends each formatted record as one line with a single os.write: nothing is buffered.

    A failed write raises LogWriteError (never logging's handleError, which prints and carries
    on). If it left part of a line in the file, the next write starts with a newline."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self.torn = False  # the file ends in part of a line (a write failed half-way)

    def emit(self, record: logging.LogRecord) -> None:
        data = (self.format(record) + "\n").encode("utf-8")
        if self.torn:
            data = b"\n" + data
        assert self.fd is not None
        written = 0
        try:
            written = os.write(self.fd, data)
            while written < len(data):  # a regular file takes it whole unless the disk is full
                written += os.write(self.fd, data[written:])
        except OSError as error:
            if written:  # a line holds no newline but its last byte: did this one end a line?
                self.torn = data[written - 1] != 0x0A
            raise LogWriteError(f"cannot write to {self.path}: {error}") from None
        self.torn = False

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        super().close()


class EventLog:
    """Appends one node's events to its JSON-lines file (node.interfaces.LogSink).

    Construction reads back what an earlier incarnation left (LogCorruptError if it cannot be
    trusted); `keep` is how many sent values per peer it remembers (node.linkrules.unacked_limit).
    """

    def __init__(self, path: Path, node_id: str, keep: int = DEFAULT_KEEP) -> None:
        self.path = path
        self.node_id = node_id
        self._resume = read_resume(path, node_id, keep)
        end_torn_line(path)
        self._handler = LineHandler(path)
        self._handler.setFormatter(EventFormatter())
        # One LogRecord carries every line: only its message (the line's dict) is ever written.
        self._record = logging.LogRecord(f"lamport.events.{node_id}", logging.INFO, __file__, 0, None, None, None)
        self._handle = self._handler.handle

    def resume(self) -> Resume:
        return self._resume

    def write(self, event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
        """One line, whole in the file when this returns; LogWriteError if it could not be."""
        self._record.msg = event.record(ts, self.node_id, clock, queue, values)
        self._handle(self._record)

    def close(self) -> None:
        self._handler.close()


# -- the simulator's writer: the same lines, formatted a batch at a time ---------------------------
# Formatting a line at a time (a dict and the encoder, or even one f-string) costs the simulator
# more than simulating the event, and most of it is the shortest repr of each float (a microsecond
# for a 17-digit one). A LineBatch keeps per line only a %-template (the line without its numbers:
# the node ids in it are fixed per event and peer set, so each template is made once) and appends
# the numbers to one flat list; `take` converts them all at once and fills every template with one
# `%`. Numbers are orjson's text where it is the same as json's (shortest round-trip digits, as
# float.__repr__): not exponents (json writes 1e-05 where orjson writes 0.00001), not null, true or
# false; those few are encoded one by one.


def _number_text(number: Any) -> bytes:
    """`number` as the log's encoder writes it, one at a time (exact for anything)."""
    kind = type(number)
    if kind is int or (kind is float and -math.inf < number < math.inf):
        return repr(number).encode()  # what json writes for them, at a fraction of its cost
    return _ENCODER.encode(number).encode()


def number_texts(numbers: list[Any]) -> list[bytes]:
    """Each of `numbers` as the log's encoder writes it (json.dumps' text for ints and floats)."""
    if _bulk_dumps is None or not numbers:
        return [_number_text(n) for n in numbers]
    try:
        raw = _bulk_dumps(numbers)
    except TypeError:  # an integer beyond 64 bits, or something else than a number
        return [_number_text(n) for n in numbers]
    texts = raw[1:-1].split(b",")
    if len(texts) != len(numbers):  # a string with a comma in it
        return [_number_text(n) for n in numbers]
    if b"e" in raw or b"n" in raw or b'"' in raw or b"0.0000" in raw:  # rare: look closer
        for i, text in enumerate(texts):
            if b"e" in text or b"n" in text or text[:1] == b'"' or text.lstrip(b"-").startswith(b"0.0000"):
                texts[i] = _number_text(numbers[i])
    return texts


def _encoded(value: Any) -> bytes:
    """`value` as the log's encoder writes it, ready to stand in a %-template."""
    return _ENCODER.encode(value).encode().replace(b"%", b"%%")


def _add_source(events: tuple[Event, ...]) -> str:
    """The source of LineBatch's `add`: one branch per event whose fields are numbers and node ids
    (the rest go whole to `other`), generated from node.schema as dataclasses generates __init__."""
    lines = ["def make(heads, pieces, miss, other, t_append, t_extend, n_extend, t_list, limit, full):"]
    for i, event in enumerate(events):
        lines.append(f"    H{i} = heads[{i}]")
        lines += [f"    P{i}_{j} = pieces[{i}][{j}]" for j in range(len(_id_fields(event)))]
    lines += ["    def add(event, ts, clock, queue, v):"]
    for i, event in enumerate(events):
        numbers = [f"v[{k}]" for k, f in enumerate(event.fields) if f.type in _NUMBER_TYPES]
        ids = _id_fields(event)
        lines.append(f"        {'if' if i == 0 else 'elif'} event is E{i}:")
        if ids:
            parts = "".join(f", P{i}_{j}[v[{k}]]" for j, k in enumerate(ids))
            lines += [
                "            try:",
                f"                t_extend((H{i}{parts}))",
                "            except (KeyError, TypeError):  # node ids not seen yet (or peers in a list)",
                f"                t_extend(miss({i}, v))",
            ]
        else:
            lines.append(f"            t_append(H{i})")
        lines.append(f"            n_extend((ts, clock, queue{''.join(', ' + n for n in numbers)}))")
    lines += [
        "        else:",
        "            t_append(other(event, ts, clock, queue, v))",
        "        if len(t_list) >= limit:",
        "            full()",
        "    return add",
    ]
    return "\n".join(lines) + "\n"


_NUMBER_TYPES = ("int", "number")
_ID_TYPES = ("node", "nodes")


def _id_fields(event: Event) -> list[int]:
    """Where `event`'s line names nodes besides its own: the indexes of those fields."""
    return [k for k, f in enumerate(event.fields) if f.type in _ID_TYPES]


def _line_parts(event: Event, node: str) -> list[bytes]:
    """`event`'s line of `node`, %b for each number, cut at each field naming nodes: the head (up
    to the first such value), then for each of those fields the text after its value."""
    parts, text = (
        [],
        b"{" + b", ".join([b'"ts": %b', b'"node": ' + _encoded(node), b'"event": ' + _encoded(event.name)]),
    )
    text += b', "clock": %b, "queue": %b'
    for f in event.fields:
        text += b", " + _encoded(f.name) + b": "
        if f.type in _ID_TYPES:
            parts.append(text)
            text = b""
        else:
            text += b"%b"
    return [*parts, text + b"}\n"]


def _id_text(kind: str, value: Any) -> bytes:
    """A node id ("node") or a list of them ("nodes") as the log's encoder writes it."""
    return b"[" + b", ".join(_encoded(p) for p in value) + b"]" if kind == "nodes" else _encoded(value)


# Events LineBatch templates, the most frequent first (one identity test each on the way).
_TEMPLATED = tuple(
    sorted(
        (e for e in EVENTS.values() if all(f.type in _NUMBER_TYPES + _ID_TYPES for f in e.fields)),
        key=lambda e: (INTERNAL, RECEIVE, SEND, e).index(e),
    )
)
_MAKE_ADD = compile(_add_source(_TEMPLATED), "<node.eventlog.LineBatch.add>", "exec")


class LineBatch:
    """One node's lines, collected and formatted a batch at a time, byte for byte those EventLog
    writes. `add(event, ts, clock, queue, values)` is a LogSink's write (a "nodes" value a tuple);
    once `limit` pieces wait (a line is one, or two if it names nodes) it calls `full()`;
    `take()` gives the lines and empties the batch.

    A line is its template's pieces: the head, fixed per node and event, then for each field naming
    nodes its value's text and what follows, the same for every node: so they are made once per
    process, not once per node and peer (a million of them for 1,000 nodes)."""

    # per event, per field naming nodes: value -> its text and the rest of the template after it
    _PIECES: ClassVar[list[list[dict[Any, bytes]]]] = [[{} for _ in _id_fields(e)] for e in _TEMPLATED]

    def __init__(self, node: str, limit: int, full: Callable[[], None]) -> None:
        self.node = node
        self._templates: list[bytes] = []
        self._numbers: list[Any] = []
        self._heads = [_line_parts(e, node)[0] for e in _TEMPLATED]
        namespace: dict[str, Any] = {f"E{i}": e for i, e in enumerate(_TEMPLATED)}
        exec(_MAKE_ADD, namespace)
        self.add: Callable[[Event, float, int, int, tuple[Any, ...]], None] = namespace["make"](
            self._heads,
            self._PIECES,
            self._miss,
            self._other,
            self._templates.append,
            self._templates.extend,
            self._numbers.extend,
            self._templates,
            limit,
            full,
        )

    def _miss(self, index: int, values: tuple[Any, ...]) -> tuple[bytes, ...]:
        """The pieces of a line naming nodes not seen yet, made (and kept, unless a list)."""
        event = _TEMPLATED[index]
        if len(values) != len(event.fields):
            raise TypeError(f"{event.name}: {len(values)} values for {len(event.fields)} fields")
        tails = _line_parts(event, self.node)[1:]
        pieces = [self._heads[index]]
        for j, k in enumerate(_id_fields(event)):
            piece = _id_text(event.fields[k].type, values[k]) + tails[j]
            with contextlib.suppress(TypeError):  # peers in a list are not kept
                piece = self._PIECES[index][j].setdefault(values[k], piece)
            pieces.append(piece)
        return tuple(pieces)

    def _other(self, event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> bytes:
        """A line with text or objects in it (rare: start, stop, drop, ...), encoded whole now."""
        return _encoded(event.record(ts, self.node, clock, queue, values)) + b"\n"

    def take(self) -> bytes:
        """Every line added since the last take, as the file holds them."""
        templates, numbers = self._templates, self._numbers
        if not templates:
            return b""
        text = b"".join(templates) % tuple(number_texts(numbers))
        templates.clear()  # the same lists: `add` holds them
        numbers.clear()
        return text


class Progress:
    """What a log has said so far that a restart needs (node.interfaces.Resume), in bounded memory.

    Fed line by line, by the file reader below and by the simulator's log (node.simlog), so both
    give the same Resume. `sent` keeps, per peer, the last `keep` values sent, as a sender keeps
    its unacknowledged values: a drop removes its value if it is still held."""

    __slots__ = ("clock", "first_tick_ts", "sent", "taken")

    def __init__(self, keep: int) -> None:
        self.clock = 0
        self.first_tick_ts: float | None = None
        self.taken: dict[str, int] = {}
        self.sent: defaultdict[str, deque[int]] = defaultdict(partial(deque, maxlen=keep))

    def received(self, peer: str, value: int) -> None:
        if value > self.taken.get(peer, -1):
            self.taken[peer] = value

    def sent_to(self, peers: Iterable[str], value: int) -> None:
        sent = self.sent
        for peer in peers:
            sent[peer].append(value)

    def dropped(self, peer: str, value: int) -> None:
        values = self.sent.get(peer)
        if not values or not values[0] <= value <= values[-1]:
            return  # never sent to it, or no longer held
        if values[-1] == value:  # nearly always: the drop of the send just logged
            values.pop()
            return
        at = bisect_left(values, value)  # a peer's values grow with every send
        if values[at] == value:
            del values[at]

    def resume(self) -> Resume:
        sent = {peer: list(values) for peer, values in self.sent.items() if values}
        return Resume(self.clock, self.first_tick_ts, dict(self.taken), sent)


# The fast path of the reader: each event's line exactly as both writers produce it from node.schema
# (json.dumps' separators and escapes, the fields in order), as a regular expression generated from
# the event's fields, as Event.formatter generates the simulator's f-strings. A line it matches is
# valid (it is stricter than the schema, never more lenient: integers below 10^9, so within
# 0..MAX_CLOCK; finite numbers; ASCII text); anything else gets the full check (JSON, the schema).
_INT = rb"0|[1-9][0-9]{0,8}"
_NUMBER = rb"-?(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,20})?(?:[eE][-+]?[0-9]{1,2})?"
_ID = NODE_ID_PATTERN.pattern.encode()
_TYPES = {
    "int": _INT,
    "number": _NUMBER,
    "node": b'"' + _ID + b'"',
    "nodes": rb'\[(?:"' + _ID + rb'"(?:, "' + _ID + rb'")*)?\]',
    "text": rb'"(?:[ !#-\[\]-~]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"',
}
_CAPTURED = {"ts": "ts", "clock": "clock", "from": "peer", "to": "peer", "value": "value"}  # what a restart reads
_EVENT_KEY = f'"{COMMON[2].name}": "'.encode()
# What each event's line means to a restart: nothing (a tick or not), or a value taken, sent, dropped.
_TICK, _TAKEN, _SENT, _DROPPED, _OTHER = range(5)  # the first three are tick events
_KINDS = {RECEIVE.name: _TAKEN, SEND.name: _SENT, DROP.name: _DROPPED, INTERNAL.name: _TICK}
_TICK_NAMES = frozenset(e.name for e in TICK_EVENTS)


def _line_pattern(event: Event, node: str) -> re.Pattern[bytes] | None:
    """`event`'s line of `node` as its writers produce it; None for events with an object field
    (start and stop: rare, and parsed in full)."""
    parts = []
    for f in (*COMMON, *event.fields):
        if f.name == COMMON[1].name:
            value = re.escape(json.dumps(node).encode())
        elif f.name == COMMON[2].name:
            value = re.escape(json.dumps(event.name).encode())
        elif f.type in _TYPES:
            value = _TYPES[f.type]
            name = _CAPTURED.get(f.name)
            value = b"(?P<%s>%s)" % (name.encode(), value) if name else b"(?:%s)" % value
        else:
            return None
        parts.append(re.escape(json.dumps(f.name).encode()) + b": " + value)
    return re.compile(rb"\{" + b", ".join(parts) + rb"\}\n")


class _Reader:
    """The full check of one line, in the context of its file (its node, its incarnation's format)."""

    def __init__(self, path: Path, node_id: str) -> None:
        self.path = path
        self.node_id = node_id
        self.version = 1  # the current incarnation's log format: its start line's `format`

    def corrupt(self, number: int, reason: str) -> LogCorruptError:
        return LogCorruptError(f"{self.path}:{number}: {reason}")

    def check(self, number: int, line: bytes) -> dict[str, Any] | None:
        """The line's record if it is a valid one; None if it is a line cut short (only the
        beginning of one: a kill or a failed write); LogCorruptError for anything else."""
        try:
            record = json.loads(line)
        except ValueError:
            text = line.rstrip(b"\n")
            start = b'{"%s": ' % COMMON[0].name.encode()
            head = text[: len(start)]
            if not text or head != start[: len(head)]:
                raise self.corrupt(number, "not a line of this log (nor the beginning of one)") from None
            if text.find(start, 1) >= 0:  # what a failed write left, with no newline after it
                raise self.corrupt(number, "two lines run together") from None
            return None
        version = self.version
        if type(record) is dict and record.get("event") == START.name:  # read by its own format
            stated = record.get("format", 1)
            version = stated if type(stated) is int else 1
        why = record_problem(record, version)
        if why is not None:
            raise self.corrupt(number, why)
        if record["node"] != self.node_id:
            raise self.corrupt(number, f"a line of node {record['node']!r} in {self.node_id}'s log")
        if record["event"] == START.name:
            self.version = version
        valid: dict[str, Any] = record
        return valid


def read_resume(path: Path, node_id: str, keep: int = DEFAULT_KEEP) -> Resume:
    """Where `node_id`'s log at `path` leaves a restarting node (node.interfaces.Resume), read
    whole, forward, in one pass and bounded memory. A missing or empty file: a first start.

    Every line is checked: by its event's line pattern (the fast path), else in full (JSON,
    node.schema.record_problem, this node's, clock and value within 0..MAX_CLOCK). A line cut
    short (the beginning of a line only) is forgiven only where a kill or a failed write leaves
    one, at the end of an incarnation: no tick event follows it before the next start line (a
    killed node writes nothing more; one whose write failed only stops: drops, disconnections,
    its stop line, perhaps cut short too). Anything else raises LogCorruptError, naming the line.
    """
    progress = Progress(keep)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return progress.resume()
    reader = _Reader(path, node_id)
    patterns = {
        name.encode(): (pattern, _KINDS.get(name, _OTHER))
        for name, event in EVENTS.items()
        if (pattern := _line_pattern(event, node_id)) is not None
    }
    peer_sets: dict[bytes, list[str]] = {}  # a send's `to`, as text -> its peers (a handful of sets)
    cut = 0  # the first line cut short since the last start line (0: none)
    last: re.Match[bytes] | dict[str, Any] | None = None  # the last valid line
    first_tick = False
    received, sent_to, dropped = progress.received, progress.sent_to, progress.dropped
    key_len = len(_EVENT_KEY)
    with f:
        for number, line in enumerate(f, 1):
            match, kind = None, _OTHER
            at = line.find(_EVENT_KEY) + key_len
            entry = patterns.get(line[at : line.find(b'"', at)]) if at >= key_len else None
            if entry is not None:
                pattern, kind = entry
                match = pattern.fullmatch(line)
            if match is not None:
                if kind == _TAKEN:
                    received(match["peer"][1:-1].decode(), int(match["value"]))
                elif kind == _SENT:
                    to = match["peer"]
                    peers = peer_sets.get(to)
                    if peers is None:
                        peers = peer_sets[to] = json.loads(to)
                    sent_to(peers, int(match["value"]))
                elif kind == _DROPPED:
                    dropped(match["peer"][1:-1].decode(), int(match["value"]))
                last = match
                tick = kind <= _SENT
            else:
                record = reader.check(number, line)
                if record is None:
                    cut = cut or number
                    continue
                event = record["event"]
                if event == RECEIVE.name:
                    received(record["from"], record["value"])
                elif event == SEND.name:
                    sent_to(record["to"], record["value"])
                elif event == DROP.name:
                    dropped(record["to"], record["value"])
                elif event == START.name:
                    cut = 0
                last = record
                tick = event in _TICK_NAMES
            if tick:
                if cut:
                    raise reader.corrupt(cut, f"a line cut short in the middle of a run (line {number} is a tick)")
                if not first_tick:
                    first_tick = True
                    progress.first_tick_ts = float(last["ts"])
    if last is not None:
        progress.clock = int(last["clock"])
    return progress.resume()


def end_torn_line(path: Path) -> bool:
    """If a kill left the file's last line half-written, end it, so the next line stands alone."""
    try:
        with path.open("rb+") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return False
            f.seek(-1, 2)
            if f.read(1) == b"\n":
                return False
            f.write(b"\n")
            return True
    except FileNotFoundError:
        return False

"""A node's event log in real time: one JSON object per line, written through python-json-logger.

The line's fields and their order come from node.schema (README: log format). Each line reaches
the file with one write(2) of its own, with no buffer in between, so a crash loses at most the
line being written. At a restart, the same file is read back first (`resume`): the last clock
logged and when the run started ticking.

This is the node's hot path (one line per tick: 30,000 lines/s for three nodes at 10,000
ticks/s), so it skips what a general-purpose logger does per record and a node never uses
(bench/findings.md has the measurements): no Logger (level checks, caller lookup, a new
LogRecord per line), python-json-logger's JsonFormatter without its search for LogRecord extras
(our dict is the whole line), one reused JSON encoder instead of a new one per line, and a
handler that writes the encoded line with os.write instead of a text stream plus flush.
The bytes of a line are exactly what the stock JsonFormatter writes (tests/unit/test_eventlog.py).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from node.interfaces import Resume
from node.schema import TICK_EVENTS, Event

# One encoder for every line: json.dumps(obj, cls=...) builds a new encoder object per call.
# python-json-logger's own encoder class, so unusual values are encoded the way it would.
# A line is a flat dict of numbers and strings: no reference cycle to check for.
_ENCODER = JsonEncoder(ensure_ascii=False, check_circular=False)


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
    """Appends each formatted record as one line with a single os.write: nothing is buffered."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8")
            assert self.fd is not None
            written = os.write(self.fd, data)
            while written < len(data):  # a regular file takes it whole unless the disk is full
                data = data[written:]
                written = os.write(self.fd, data)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        super().close()


class EventLog:
    """Appends one node's events to its JSON-lines file (node.interfaces.LogSink)."""

    def __init__(self, path: Path, node_id: str) -> None:
        self.path = path
        self.node_id = node_id
        # Read what an earlier incarnation left before appending to it.
        previous = read_last_record(path)
        first_tick = read_first_tick(path) if previous else None
        self._resume = Resume(
            clock=int(previous["clock"]) if previous else 0,
            first_tick_ts=float(first_tick["ts"]) if first_tick else None,
        )
        end_torn_line(path)
        self._handler = LineHandler(path)
        self._handler.setFormatter(EventFormatter())
        # One LogRecord carries every line: only its message (the line's dict) is ever written.
        self._record = logging.LogRecord(f"lamport.events.{node_id}", logging.INFO, __file__, 0, None, None, None)
        self._handle = self._handler.handle

    def resume(self) -> Resume:
        return self._resume

    def write(self, event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
        self._record.msg = event.record(ts, self.node_id, clock, queue, values)
        self._handle(self._record)

    def close(self) -> None:
        self._handler.close()


def _records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects among `lines`, skipping torn or cut ones (a kill, the edge of a window)."""
    for raw in lines:
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def read_last_record(path: Path, window: int = 65536) -> dict[str, Any] | None:
    """The last complete JSON line of a log file (a node restarting reads where it left off)."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - window))
            tail = f.read()
    except FileNotFoundError:
        return None
    return next((r for r in _records(reversed(tail.splitlines())) if isinstance(r.get("clock"), int)), None)


def read_first_tick(path: Path, window: int = 65536) -> dict[str, Any] | None:
    """The first tick event of a log file: when the run this node belongs to started ticking."""
    try:
        with path.open("rb") as f:
            head = f.read(window)
    except FileNotFoundError:
        return None
    ticks = {e.name for e in TICK_EVENTS}
    return next((r for r in _records(head.splitlines()) if r.get("event") in ticks), None)


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

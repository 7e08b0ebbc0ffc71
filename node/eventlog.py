"""A node's event log: one JSON object per line, written through python-json-logger.

Every line carries `ts` (system time, float Unix seconds), `node`, `event`, `clock` and `queue`,
then the event's own fields (README: log format). Each line is written and flushed on its own
(logging.StreamHandler flushes per record), so a crash loses at most the line being written.
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_instances = itertools.count()


def _skip_caller_lookup() -> None:
    # Documented logging optimisations ("Optimization" in the logging HOWTO): we never print
    # source lines, threads or process names, and finding the caller walks the stack per record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class EventLog:
    """Appends one node's events to its JSON-lines file."""

    def __init__(self, path: Path, node_id: str) -> None:
        _skip_caller_lookup()
        self.path = path
        self.node_id = node_id
        # A private logger per instance: several nodes may share one process (tests, simulator).
        self._logger = logging.getLogger(f"lamport.events.{node_id}.{next(_instances)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        # No format fields (fmt=[]): a dict message becomes the whole JSON object, with no
        # "message" key and no LogRecord attributes.
        self._handler.setFormatter(JsonFormatter([], json_ensure_ascii=False))
        self._logger.addHandler(self._handler)
        self._info = self._logger.info

    def emit(self, event: str, ts: float, clock: int, queue: int, fields: dict[str, Any] | None = None) -> None:
        record: dict[str, Any] = {"ts": ts, "node": self.node_id, "event": event, "clock": clock, "queue": queue}
        if fields:
            record.update(fields)
        self._info(record)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()


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
    for line in reversed(tail.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line (killed mid-write) or the cut first line of the window
        if isinstance(record, dict) and isinstance(record.get("clock"), int):
            return record
    return None

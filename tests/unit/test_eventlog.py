"""The event log's fast path writes exactly what the stock python-json-logger path writes, line by line."""

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from node.eventlog import EventLog, read_last_record

EVENTS: list[tuple[str, float, int, int, dict[str, Any] | None]] = [
    ("start", 1795621148.735677, 0, 0, {"rate": 4, "config": {"peers": ["node2@node2:5000"], "seed": None}}),
    ("connected", 1795621148.7649205, 0, 0, {"peer": "node2"}),
    ("send", 1795621149.0, 1, 0, {"tick": 0, "late_ms": 0.052, "to": ["node2", "node3"], "value": 1}),
    ("receive", 1795621149.25, 7, 2, {"tick": 1, "late_ms": 0.1, "from": "node3", "value": 6, "enq_ts": 1.5}),
    ("internal", 1795621149.5, 8, 2, None),
    ("reject", 1795621149.6, 8, 2, {"address": "10.0.0.9", "reason": "bad hello: 'GET / HT' — not LAMP"}),
    ("stop", 1795621150.0, 8, 0, {"reason": "duration", "unfinished": [], "ok": True, "when": dt.date(2026, 11, 25)}),
]


def stock_lines(path: Path, node_id: str) -> bytes:
    """The same events through a stock Logger + FileHandler + JsonFormatter (the node before issue 7)."""
    logger = logging.getLogger(f"test.stock.{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter([], json_ensure_ascii=False))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for event, ts, clock, queue, fields in EVENTS:
        record: dict[str, Any] = {"ts": ts, "node": node_id, "event": event, "clock": clock, "queue": queue}
        record.update(fields or {})
        logger.info(record)
    logger.removeHandler(handler)
    handler.close()
    return path.read_bytes()


def test_lines_are_byte_for_byte_those_of_the_stock_formatter(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "node1.jsonl", "node1")
    for event in EVENTS:
        log.emit(*event)
    log.close()
    assert (tmp_path / "node1.jsonl").read_bytes() == stock_lines(tmp_path / "stock.jsonl", "node1")


def test_every_line_is_in_the_file_as_soon_as_it_is_emitted(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    log = EventLog(path, "node1")
    for n, event in enumerate(EVENTS, 1):
        log.emit(*event)
        lines = path.read_bytes().split(b"\n")  # read by another file handle, the log still open
        assert lines[-1] == b""  # complete lines only
        assert len(lines) - 1 == n
        assert json.loads(lines[-2])["event"] == event[0]
    log.close()


def test_a_restarted_node_appends_and_reads_its_last_clock(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    first = EventLog(path, "node1")
    first.emit("internal", 1.0, 41, 0, {"tick": 0, "late_ms": 0.0})
    first.close()
    second = EventLog(path, "node1")
    second.emit("start", 2.0, 41, 0, {"resumed_clock": 41})
    second.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["internal", "start"]
    last = read_last_record(path)
    assert last is not None
    assert last["clock"] == 41

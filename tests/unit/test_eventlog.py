"""The event log's fast path writes exactly what the stock python-json-logger path writes, line by line."""

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from node.eventlog import EventLog, read_last_record
from node.schema import CONNECTED, INTERNAL, RECEIVE, REJECT, SEND, START, STOP, Event

CONFIG = {"peers": ["node2@node2:5000"], "seed": None, "ok": True, "when": dt.date(2026, 11, 25)}
EVENTS: list[tuple[Event, float, int, int, tuple[Any, ...]]] = [
    (START, 1795621148.735677, 0, 0, (4, 4, 1, 2, 0, "r", "0.1.0", 7, CONFIG, 2, "real")),
    (CONNECTED, 1795621148.7649205, 0, 0, ("node2",)),
    (SEND, 1795621149.0, 1, 0, (0, 0.052, ("node2", "node3"), 1)),
    (RECEIVE, 1795621149.25, 7, 2, (1, 0.1, "node3", 6, 1.5)),
    (INTERNAL, 1795621149.5, 8, 2, (2, 0.0)),
    (REJECT, 1795621149.6, 8, 2, ("10.0.0.9", "bad hello: 'GET / HT' — not LAMP")),
    (STOP, 1795621150.0, 8, 0, ("duration", {"node2": 0}, 3, 1, 1, 1, 0, 0, [])),
]


def stock_lines(path: Path, node_id: str) -> bytes:
    """The same events through a stock Logger + FileHandler + JsonFormatter (the node before issue 7)."""
    logger = logging.getLogger(f"test.stock.{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter([], json_ensure_ascii=False))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for event, ts, clock, queue, values in EVENTS:
        logger.info(event.record(ts, node_id, clock, queue, values))
    logger.removeHandler(handler)
    handler.close()
    return path.read_bytes()


def test_lines_are_byte_for_byte_those_of_the_stock_formatter(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "node1.jsonl", "node1")
    for event in EVENTS:
        log.write(*event)
    log.close()
    assert (tmp_path / "node1.jsonl").read_bytes() == stock_lines(tmp_path / "stock.jsonl", "node1")


def test_every_line_is_in_the_file_as_soon_as_it_is_emitted(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    log = EventLog(path, "node1")
    for n, event in enumerate(EVENTS, 1):
        log.write(*event)
        lines = path.read_bytes().split(b"\n")  # read by another file handle, the log still open
        assert lines[-1] == b""  # complete lines only
        assert len(lines) - 1 == n
        assert json.loads(lines[-2])["event"] == event[0].name
    log.close()


def test_a_restarted_node_appends_and_reads_its_last_clock(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    first = EventLog(path, "node1")
    assert first.resume().clock == 0
    first.write(INTERNAL, 1.0, 41, 0, (0, 0.0))
    first.close()
    second = EventLog(path, "node1")
    assert second.resume().clock == 41
    assert second.resume().first_tick_ts == 1.0
    second.write(START, 2.0, 41, 0, (4, 4, 1, 2, 41, "r", "0.1.0", 7, {}, 2, "real"))
    second.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["internal", "start"]
    last = read_last_record(path)
    assert last is not None
    assert last["clock"] == 41

"""The event log's fast path writes exactly what the stock python-json-logger path writes, line by
line; a line it cannot write whole raises LogWriteError, and never glues two lines together. The
simulator's batches (LineBatch) write exactly what the event log writes."""

import datetime as dt
import errno
import json
import logging
import math
import os
import random
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from node import eventlog
from node.eventlog import EventLog, LineBatch, number_texts, read_resume
from node.interfaces import LogWriteError
from node.schema import CONNECTED, INTERNAL, RECEIVE, REJECT, SEND, START, STOP, Event, record_problem
from node.schema import EVENTS as ALL_EVENTS

CONFIG = {"peers": ["node2@node2:5000"], "seed": None, "ok": True, "when": dt.date(2026, 11, 25)}
EVENTS: list[tuple[Event, float, int, int, tuple[Any, ...]]] = [
    (START, 1795621148.735677, 0, 0, (4, 4, 1, 2, 0, "r", "0.1.0", 7, CONFIG, 2, "real")),
    (CONNECTED, 1795621148.7649205, 0, 0, ("node2",)),
    (SEND, 1795621149.0, 1, 0, (0, 0.052, ("node2", "node3"), 1)),
    (RECEIVE, 1795621149.25, 7, 2, (1, 0.1, "node3", 6, 1.5)),
    (INTERNAL, 1795621149.5, 8, 2, (2, 0.0)),
    (REJECT, 1795621149.6, 8, 2, ("10.0.0.9", "bad hello: 'GET / HT' — not LAMP")),
    (STOP, 1795621150.0, 8, 0, ("duration", {"node2": 0}, 3, 1, 1, 1, 0, 0, [], {"node2": 0}, {"node2": 1})),
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
    assert read_resume(path, "node1").clock == 41


# -- a write that fails (issue 12) ------------------------------------------------------------------
Write = Callable[[int, bytes], int]


def failing_writes(monkeypatch: pytest.MonkeyPatch, fd: int, plan: list[str]) -> None:
    """os.write as node.eventlog sees it: for `fd`, each call takes the next step of `plan` ("ok":
    write it all; "half": write half and return the short count; "eio"/"enospc": write nothing and
    fail), then "ok" when the plan is used up. Other descriptors are written as usual."""
    real: Write = os.write
    steps = iter(plan)

    def write(target: int, data: bytes) -> int:
        if target != fd:
            return real(target, data)
        step = next(steps, "ok")
        if step == "half":
            return real(target, data[: len(data) // 2])
        if step in ("eio", "enospc"):
            code = errno.EIO if step == "eio" else errno.ENOSPC
            raise OSError(code, os.strerror(code))
        return real(target, data)

    monkeypatch.setattr(os, "write", write)  # the module node.eventlog calls os.write through


@pytest.fixture
def no_handle_error(monkeypatch: pytest.MonkeyPatch) -> list[logging.LogRecord]:
    """Records logging's handleError was called with: it prints a traceback and carries on."""
    calls: list[logging.LogRecord] = []
    monkeypatch.setattr(logging.Handler, "handleError", lambda _self, record: calls.append(record))
    return calls


def line_text(event: tuple[Event, float, int, int, tuple[Any, ...]]) -> bytes:
    return (
        json.dumps(event[0].record(event[1], "node1", *event[2:]), cls=JsonEncoder, ensure_ascii=False) + "\n"
    ).encode()


def check_lines(path: Path, written: list[int], failed: list[int]) -> None:
    """The file holds the lines of EVENTS[i] for i in `written`, whole, in order; between them at
    most the beginnings of those in `failed` (each alone on its line); nothing else, no blank line."""
    expected = [line_text(EVENTS[i]) for i in written]
    beginnings = [line_text(EVENTS[i]).rstrip(b"\n") for i in failed]
    whole = []
    for raw in path.read_bytes().splitlines(keepends=True):
        try:
            record = json.loads(raw)
        except ValueError:
            assert any(b.startswith(raw.rstrip(b"\n")) and raw.strip() for b in beginnings), raw
            continue
        assert record_problem(record) is None, raw
        whole.append(raw)
    assert whole == expected


def test_a_full_disk_mid_line_raises_and_the_next_line_starts_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_handle_error: list[logging.LogRecord]
) -> None:
    """ENOSPC after half a line (a short write, then the error): LogWriteError naming the file and
    the error; the next line written (the stop line) starts on a fresh line, never glued on."""
    path = tmp_path / "node1.jsonl"
    log = EventLog(path, "node1")
    log.write(*EVENTS[0])
    assert log._handler.fd is not None
    failing_writes(monkeypatch, log._handler.fd, ["half", "enospc"])
    with pytest.raises(LogWriteError) as raised:
        log.write(*EVENTS[2])  # a send: its frame must not leave (node.core)
    assert str(raised.value) == f"cannot write to {path}: [Errno {errno.ENOSPC}] No space left on device"
    log.write(*EVENTS[6])
    log.close()
    check_lines(path, [0, 6], [2])
    assert len(path.read_bytes().splitlines()) == 3  # start, half a send, stop
    assert read_resume(path, "node1").clock == 8  # the file reads back: the stop line's clock
    assert no_handle_error == []


def test_an_io_error_before_any_byte_raises_and_leaves_no_blank_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_handle_error: list[logging.LogRecord]
) -> None:
    path = tmp_path / "node1.jsonl"
    log = EventLog(path, "node1")
    assert log._handler.fd is not None
    failing_writes(monkeypatch, log._handler.fd, ["ok", "eio", "ok"])
    log.write(*EVENTS[0])
    with pytest.raises(LogWriteError, match=r"Input/output error"):
        log.write(*EVENTS[1])
    log.write(*EVENTS[2])
    log.close()
    check_lines(path, [0, 2], [])
    assert no_handle_error == []


def test_failures_in_a_row_never_glue_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_handle_error: list[logging.LogRecord]
) -> None:
    """Half a line, then half of the next (its fresh-line newline included), then nothing, then
    whole lines again: every line in the file is a whole one or the beginning of a failed one."""
    path = tmp_path / "node1.jsonl"
    log = EventLog(path, "node1")
    assert log._handler.fd is not None
    failing_writes(monkeypatch, log._handler.fd, ["ok", "half", "eio", "half", "enospc", "eio", "ok", "ok"])
    outcomes = []
    for index in range(6):
        try:
            log.write(*EVENTS[index])
            outcomes.append(True)
        except LogWriteError:
            outcomes.append(False)
    log.close()
    assert outcomes == [True, False, False, False, True, True]
    check_lines(path, [0, 4, 5], [1, 2])
    assert no_handle_error == []


def test_a_read_only_descriptor_raises(tmp_path: Path, no_handle_error: list[logging.LogRecord]) -> None:
    """The file turned unwritable under the node (a real OS error, no stand-in): EBADF, loudly."""
    path = tmp_path / "node1.jsonl"
    log = EventLog(path, "node1")
    log.write(*EVENTS[0])
    assert log._handler.fd is not None
    read_only = os.open(path, os.O_RDONLY)
    os.dup2(read_only, log._handler.fd)
    os.close(read_only)
    with pytest.raises(LogWriteError, match=r"Bad file descriptor"):
        log.write(*EVENTS[1])
    log.close()
    check_lines(path, [0], [])
    assert no_handle_error == []


# -- the simulator's batches (node.eventlog.LineBatch): the same bytes as EventLog ------------------
ODD_INTS = [0, 1, -1, 2**32 - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**70]  # past 64 bits too
ODD_FLOATS = [
    0.0, -0.0, 1.0, -2.5, 0.1 + 0.2, 1e-05, -1e-05, 0.0001, 0.00012, 1.5e-07, 10.00001, 1e15, 1e16, 1.2345e17,
    1e22, 5e-324, 1.7976931348623157e308, 1795621149.2512345, 0.0010777777777777778, math.inf, -math.inf, math.nan,
]  # fmt: skip
NODE_IDS = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,12}", fullmatch=True), st.text(min_size=1))
NUMBERS = st.one_of(
    st.integers(0, 2**32 - 1),
    st.sampled_from(ODD_INTS + ODD_FLOATS),
    st.floats(),  # every float, NaN and infinities included
    st.integers(-(2**80), 2**80),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text())
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int": st.one_of(st.integers(0, 2**32 - 1), st.sampled_from(ODD_INTS)),
    "number": NUMBERS,
    "node": NODE_IDS,
    "nodes": st.one_of(st.lists(NODE_IDS, max_size=4).map(tuple), st.lists(NODE_IDS, max_size=3)),
    "text": st.text(),  # quotes, backslashes, %, newlines, non-ASCII
    "object": st.dictionaries(st.text(), st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=4),
    "counts": st.dictionaries(NODE_IDS, st.integers(0, 2**40), max_size=4),
}


def line_values(event: Event) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(*(FIELD_VALUES[f.type] for f in event.fields))


WRITES = st.lists(
    st.sampled_from(list(ALL_EVENTS.values())).flatmap(
        lambda e: st.tuples(st.just(e), NUMBERS, FIELD_VALUES["int"], FIELD_VALUES["int"], line_values(e))
    ),
    max_size=40,
)


def batched(node: str, writes: list[tuple[Event, float, int, int, tuple[Any, ...]]], limit: int) -> bytes:
    out = bytearray()
    batch = LineBatch(node, limit, lambda: out.extend(batch.take()))
    for write in writes:
        batch.add(*write)
    return bytes(out + batch.take())


def logged(node: str, writes: list[tuple[Event, float, int, int, tuple[Any, ...]]]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        log = EventLog(Path(folder) / "node.jsonl", node)
        for write in writes:
            log.write(*write)
        log.close()
        return (Path(folder) / "node.jsonl").read_bytes()


@settings(max_examples=300, deadline=None)
@given(NODE_IDS, WRITES, st.integers(1, 8))
def test_batched_lines_are_byte_for_byte_those_of_the_event_log(
    node: str, writes: list[tuple[Event, float, int, int, tuple[Any, ...]]], limit: int
) -> None:
    """Every event kind, any values (negative, zero, beyond 64 bits, tiny and huge floats, NaN,
    odd node ids, text with % and quotes), in batches of any size: the bytes a real node writes."""
    assert batched(node, writes, limit) == logged(node, writes)


ODD_VALUES: dict[str, Any] = {
    "node": "node-2.x_y",
    "nodes": ("node2", "node-3", "n.4"),
    "text": 'a "quoted" 100% \\ reason \u2014 \n',
    "object": {"peers": ["node2@node2:5000"], "seed": None, "rate%": 1.5e-05},
    "counts": {"node2": 0, "node3": 2**40},
}


def test_odd_values_in_every_field_of_every_event_are_written_as_the_event_log_writes_them() -> None:
    writes = []
    for event in ALL_EVENTS.values():
        for i, number in enumerate(ODD_INTS + ODD_FLOATS):
            integer = number if isinstance(number, int) else i
            values = tuple(
                number if f.type == "number" else integer if f.type == "int" else ODD_VALUES[f.type]
                for f in event.fields
            )
            writes.append((event, number, integer, i, values))
    assert batched("node-1.a_b", writes, 1000) == logged("node-1.a_b", writes)
    assert batched("node1", EVENTS, 3) == logged("node1", EVENTS)


def test_numbers_are_converted_in_bulk_exactly_as_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson's text where it equals json's, json's where it may not (exponents, NaN, bools),
    and the same without orjson at all."""
    rng = random.Random(3)
    numbers: list[Any] = ODD_INTS + ODD_FLOATS + [True, False]
    numbers += [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20_000)]
    numbers += [rng.random() * 10 ** rng.randrange(-8, 20) for _ in range(20_000)]
    numbers += [rng.randrange(0, 10**7) / rng.randrange(1, 20_000) for _ in range(20_000)]
    expected = [json.dumps(n).encode() for n in numbers]
    assert number_texts(numbers) == expected
    assert number_texts([*numbers[:50], "a, b"]) == [*expected[:50], b'"a, b"']  # not a number: one by one
    monkeypatch.setattr(eventlog, "_bulk_dumps", None)
    assert number_texts(numbers) == expected

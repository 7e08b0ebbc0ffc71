"""The one definition of the log format and summary.json (node.schema) and what rests on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.summaryfile import read_summary
from node.schema import EVENTS, FORMAT, INTERNAL, RECEIVE, SEND, START, TICK_EVENTS, record_problem, summary_problems
from node.schema.tables import BEGIN, END, markdown_tables

ROOT = Path(__file__).resolve().parents[2]
NODE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}", fullmatch=True)
NUMBER = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False))
VALUES = {"int": st.integers(0, 2**32 - 1), "number": NUMBER, "node": NODE, "nodes": st.lists(NODE, max_size=4)}


@given(st.sampled_from(TICK_EVENTS), st.data())
def test_a_record_of_valid_values_reads_back_valid(event: Any, data: st.DataObject) -> None:
    """(That the simulator's batches write exactly these records: tests/unit/test_eventlog.py.)"""
    node = data.draw(NODE)
    values = tuple(data.draw(VALUES[f.type]) for f in event.fields)
    ts, clock, queue = data.draw(NUMBER), data.draw(st.integers(0, 2**32 - 1)), data.draw(st.integers(0, 10**6))
    record = event.record(ts, node, clock, queue, values)
    assert record_problem(json.loads(json.dumps(record))) is None


def test_a_line_has_exactly_the_fields_of_its_event_in_order() -> None:
    record = RECEIVE.record(1.5, "node1", 7, 0, (3, 0.1, "node2", 6, 1.2))
    assert list(record) == ["ts", "node", "event", "clock", "queue", "tick", "late_ms", "from", "value", "enq_ts"]
    with pytest.raises(TypeError, match="3 values for 4 fields"):
        SEND.record(1.0, "node1", 1, 0, (0, 0.0, ("node2",)))  # one value short


def test_readers_name_the_missing_or_mistyped_field_and_accept_format_1() -> None:
    good = INTERNAL.record(1.0, "node1", 2, 0, (1, 0.0))
    assert record_problem(good) is None
    assert record_problem({**good, "tick": "1"}) == "internal with an invalid 'tick' (expected integer)"
    assert record_problem({**good, "clock": True}) == "missing or invalid field 'clock'"
    assert record_problem({**good, "ts": float("nan")}) == "missing or invalid field 'ts'"
    assert record_problem({**good, "event": "teleport"}) == "unknown event 'teleport'"
    start = START.record(0.0, "node1", 0, 0, (1, 1, 1, 1, 0, "r", "0.1.0", 1, {}, FORMAT, "real"))
    old = {k: v for k, v in start.items() if k not in ("format", "time")}
    assert record_problem(start) is None
    assert record_problem(old, version=1) is None  # the 25 kept runs
    assert record_problem(old) == "start without 'format'"
    assert {e.name for e in EVENTS.values()} >= {"start", "stop", "receive", "send", "internal", "drop", "stall"}


def test_kept_summaries_match_the_schema_but_for_its_version() -> None:
    for path in sorted((ROOT / "experiments" / "results" / "runs").glob("*/summary.json")):
        summary = read_summary(path)  # older schemas are upgraded on reading
        assert summary_problems(summary) == [], path
    assert summary_problems({"schema": 2}) != []


def test_the_readme_tables_are_the_generated_ones() -> None:
    """README: Log format and summary.json keys come from node.schema (`python -m node.schema --readme README.md`)."""
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme, "README lost its generated tables' first marker"
    assert END in readme, "README lost its generated tables' last marker"
    assert readme.split(BEGIN, 1)[1].split(END, 1)[0] == markdown_tables()

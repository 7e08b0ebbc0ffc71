"""The loader reads logs by node.schema's one definition, and its fast path for tick events agrees with it.

Every field of every tick event (and every common field), missing or of a wrong type, must be a
problem with file:line, in the schema's own words, never a traceback and never silently accepted;
every valid line must be accepted. Random mutations check both directions at once.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import TICK_KINDS, load_run
from node.schema import COMMON, EVENTS, FORMAT, TICK_EVENTS, Field, record_problem
from tests.unit.test_analysis import rec, receive, start, stop_line, write

# Values of the wrong type for each field type of the schema (JSON can hold no NaN or infinity).
WRONG: dict[str, list[Any]] = {
    "int": ["1", 1.5, True, None, [1], {"a": 1}],
    "number": ["1.5", True, None, [1.5], {"a": 1}],
    "node": [1, 1.5, None, True, ["b"], {"a": "b"}],
    "text": [1, None, False, ["x"], {}],
    "nodes": ["b", [1], [None], [["b"]], [{"a": 1}], {"b": 1}, None, 1],
    "object": ["x", 1, None, [1]],
    "counts": [{"a": "1"}, {"a": 1.5}, {"a": True}, [1], None],
}


def tick_lines() -> dict[str, dict[str, Any]]:
    """A valid line of each tick event of node a, two peers b and c."""
    return {
        "receive": receive(101.0, "a", 5, "b", 4, 100.9, tick=1),
        "send": rec(101.0, "a", "send", 5, tick=1, late_ms=0.2, to=["b", "c"], value=5),
        "internal": rec(101.0, "a", "internal", 5, tick=1, late_ms=0),
    }


def loaded(tmp_path: Path, line: Any) -> tuple[list[str], int]:
    """Load a node file with `line` as its second line: the problems and the tick events kept."""
    text = json.dumps(start("a", 1, ["b", "c"])) + "\n" + json.dumps(line) + "\n"
    text += json.dumps(stop_line(102.0, "a", 5, {"b": 0, "c": 0})) + "\n"
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "a.jsonl").write_text(text)
    run = load_run(folder)
    ticks = len(run.nodes["a"].tick_ts) if "a" in run.nodes else 0
    return [str(p) for p in run.problems if not p.message.startswith("missing: a node lists")], ticks


def test_the_loader_knows_the_schemas_tick_events() -> None:
    assert set(TICK_KINDS) == {event.name for event in TICK_EVENTS}
    assert set(TICK_KINDS) <= set(EVENTS)


def test_valid_tick_lines_are_accepted(tmp_path: Path) -> None:
    for event, line in tick_lines().items():
        assert record_problem(line, FORMAT) is None, event
        assert loaded(tmp_path, line) == ([], 1), event


def cases() -> list[tuple[str, Field, Any]]:
    """(event, field, wrong value or ... for missing) for every tick event and every one of its fields."""
    out = []
    for event in TICK_EVENTS:
        for f in (*COMMON, *event.fields):
            out.append((event.name, f, ...))
            out += [(event.name, f, value) for value in WRONG[f.type]]
    return out


@pytest.mark.parametrize(("event", "field", "value"), cases(), ids=lambda x: getattr(x, "name", repr(x)))
def test_a_missing_or_mistyped_tick_field_is_a_problem_with_file_and_line(
    tmp_path: Path, event: str, field: Field, value: Any
) -> None:
    line = dict(tick_lines()[event])
    if value is ...:
        del line[field.name]
    else:
        line[field.name] = value
    problems, ticks = loaded(tmp_path, line)
    why = record_problem(line, FORMAT)
    assert why is not None, (event, field.name, value)
    assert problems == [f"a.jsonl:2: {why}"]  # located, in the schema's own words
    assert ticks == 0  # never counted


def test_random_mutations_agree_with_the_schema(tmp_path: Path) -> None:
    """Both directions: the loader keeps a tick line exactly when record_problem finds nothing wrong."""
    rng = random.Random(11)
    values: list[Any] = [0, 7, -3, 2.5, "b", "a", "", None, True, [], ["b"], ["b", 1], {}, {"b": 1}, 1e300]
    folder = tmp_path / "run"
    folder.mkdir()
    lines = [start("a", 1, ["b", "c"])]
    for _ in range(1500):
        line = dict(rng.choice(list(tick_lines().values())))
        for _ in range(rng.randint(0, 2)):
            key = rng.choice([*line, "extra"])
            if rng.random() < 0.25:
                line.pop(key, None)
            else:
                line[key] = rng.choice(values)
        lines.append(line)
    lines.append(stop_line(200.0, "a", 5, {"b": 0, "c": 0}))
    write(folder, {"a": lines})
    run = load_run(folder)
    bad = {p.line for p in run.problems if p.line is not None}
    for number, line in enumerate(lines[1:-1], 2):
        expected = record_problem(line, FORMAT) is None and line.get("node") == "a"
        assert (number not in bad) == expected, (number, line)
    accepted = [line for number, line in enumerate(lines[1:-1], 2) if number not in bad]
    assert 100 < len(accepted) < 1400  # both kinds were tried
    node = run.nodes["a"]
    assert node.tick_clock.tolist() == [line["clock"] for line in accepted if line["event"] in TICK_KINDS]
    assert [s.to for s in node.sends] == [tuple(line["to"]) for line in accepted if line["event"] == "send"]


def test_format_2_start_lines_need_their_format_fields_and_format_1_ones_do_not(tmp_path: Path) -> None:
    old = start("a", 1, [])  # format 1: no `format`, no `time`
    folder = write(tmp_path / "f1", {"a": [old, *tick_lines().values(), stop_line(102.0, "a", 5, {"b": 0})]})
    run = load_run(folder)
    assert ([str(p) for p in run.problems], run.nodes["a"].format) == ([], 1)
    two = old | {"format": 2, "time": "virtual"}
    folder = write(tmp_path / "f2", {"a": [two, *tick_lines().values(), stop_line(102.0, "a", 5, {"b": 0})]})
    run = load_run(folder)
    assert [str(p) for p in run.problems] == []
    assert run.nodes["a"].format == 2
    without_time = {k: v for k, v in two.items() if k != "time"}
    folder = write(tmp_path / "f2bad", {"a": [old, without_time, stop_line(102.0, "a", 5, {"b": 0})]})
    problems = [str(p) for p in load_run(folder).problems]
    assert "a.jsonl:2: start without 'time'" in problems
    newer = old | {"format": FORMAT + 1, "time": "real"}
    folder = write(tmp_path / "f3", {"a": [newer, stop_line(102.0, "a", 5, {"b": 0})]})
    assert f"a.jsonl:1: log format {FORMAT + 1}: newer than this analysis ({FORMAT})" in [
        str(p) for p in load_run(folder).problems
    ]


def test_every_other_event_is_checked_by_the_schema(tmp_path: Path) -> None:
    """Wrong types in non-tick lines (start, stop, drop, stall, stats ...) are problems, never tracebacks."""
    base = {
        "drop": rec(101.0, "a", "drop", 5, to="b", value=5, reason="peer not connected"),
        "stall": rec(101.0, "a", "stall", 5, tick=3, skipped=2, late_ms=1200.0),
        "stop": stop_line(101.0, "a", 5, {"b": 0}),
    }
    for event, line in base.items():
        assert record_problem(line, 1) is None, event
        for f in EVENTS[event].fields:
            for value in WRONG[f.type][:2]:
                problems, _ = loaded(tmp_path, line | {f.name: value})
                assert f"a.jsonl:2: {record_problem(line | {f.name: value}, 1)}" in problems, (event, f.name)

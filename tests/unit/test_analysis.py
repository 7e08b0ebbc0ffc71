"""The analysis on small hand-made logs whose right answers are worked out by hand (see comments)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from analysis.__main__ import main
from analysis.loader import load_run
from analysis.metrics import analyse
from node.schema import SUMMARY_SCHEMA, Summary


def rec(ts: float, node: str, event: str, clock: int, queue: int = 0, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": node, "event": event, "clock": clock, "queue": queue, **fields}


def receive(
    ts: float, node: str, clock: int, sender: str, value: int, enq_ts: float, tick: int, queue: int = 0
) -> dict[str, Any]:
    return rec(ts, node, "receive", clock, queue, tick=tick, late_ms=0.1, value=value, enq_ts=enq_ts) | {"from": sender}


def start(node: str, rate: int, peers: list[str]) -> dict[str, Any]:
    config = {"node_id": node, "peers": [f"{p}@{p}:5000" for p in peers], "max_event_num": 10, "duration": 4}
    fields: dict[str, Any] = {"seed": 7, "node_seed": 1, "resumed_clock": 0, "run_id": "test", "version": "0", "pid": 1}
    return rec(100.0, node, "start", 0, rate=rate, drawn_rate=rate, **fields, config=config)


def stop_line(ts: float, node: str, clock: int, queue_by_peer: dict[str, int], queue: int = 0) -> dict[str, Any]:
    """A stop line (its counts are the node's own; the analysis counts the log itself)."""
    counts = {"ticks": 0, "received": 0, "sent": 0, "internal": 0, "dropped": 0, "skipped": 0}
    return rec(ts, node, "stop", clock, queue, reason="duration", queue_by_peer=queue_by_peer, **counts, unfinished=[])


def two_node_run() -> dict[str, list[dict[str, Any]]]:
    """a ticks at 1/s, b at 2/s; a sends 1 to b, b sends 4 and 5 to a (each arrives 1 ms later).

    a: send(1) internal(2) receive 4 -> max(2,4)+1 = 5, receive 5 -> 6     jumps 1,1,3,1
    b: internal(1) receive 1 -> 2, internal 3, send 4, send 5, internal 6, 7, 8   jumps all 1
    """
    a = [
        start("a", 1, ["b"]),
        rec(100.0, "a", "send", 1, tick=0, late_ms=0.1, to=["b"], value=1),
        rec(101.0, "a", "internal", 2, tick=1, late_ms=0.2),
        receive(102.0, "a", 5, "b", 4, 101.501, tick=2),
        receive(103.0, "a", 6, "b", 5, 102.001, tick=3),
        stop_line(103.6, "a", 6, {"b": 0}),
    ]
    b = [
        start("b", 2, ["a"]),
        rec(100.0, "b", "internal", 1, tick=0, late_ms=0.1),
        receive(100.5, "b", 2, "a", 1, 100.001, tick=1),
        rec(101.0, "b", "internal", 3, tick=2, late_ms=0.1),
        rec(101.5, "b", "send", 4, tick=3, late_ms=0.1, to=["a"], value=4),
        rec(102.0, "b", "send", 5, tick=4, late_ms=0.1, to=["a"], value=5),
        rec(102.5, "b", "internal", 6, tick=5, late_ms=0.1),
        rec(103.0, "b", "internal", 7, tick=6, late_ms=0.1),
        rec(103.5, "b", "internal", 8, tick=7, late_ms=0.1),
        stop_line(103.6, "b", 8, {"a": 0}),
    ]
    return {"a": a, "b": b}


def write(folder: Path, run: dict[str, list[dict[str, Any]]]) -> Path:
    """The run's files in `folder`; start lines name it as their run, as a node's do."""
    folder.mkdir(parents=True, exist_ok=True)
    for node, records in run.items():
        named = [r | {"run_id": folder.name} if r.get("event") == "start" else r for r in records]
        (folder / f"{node}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in named))
    return folder


def summary_of(folder: Path) -> Summary:
    return analyse(load_run(folder)).summary


def test_jumps_rates_drift_and_queue(tmp_path: Path) -> None:
    s = summary_of(write(tmp_path, two_node_run()))
    a, b = s["nodes"]["a"], s["nodes"]["b"]
    assert a["jumps"]["histogram"] == {"1": 3, "3": 1}
    assert a["jumps"]["mean"] == 1.5
    assert a["jumps"]["max"] == 3
    assert a["jumps"]["over_one"] == a["jumps"]["over_one_from_receives"] == 1
    assert a["jumps"]["receive_mean"] == 2.0  # receives jumped 3 and 1
    assert b["jumps"]["histogram"] == {"1": 8}
    # 4 ticks in 3 s at 1/s; 8 ticks in 3.5 s at 2/s: both exactly on rate.
    assert a["achieved_rate"] == 1.0
    assert a["rate_ratio"] == 1.0
    assert b["achieved_rate"] == 2.0
    # a's clock 1, 2, 5, 6 at t = 0, 1, 2, 3: least-squares slope 9/5 = 1.8 clock units per second.
    assert a["clock"]["logical_rate"] == pytest.approx(1.8)
    assert a["clock"]["per_tick"] == pytest.approx(1.8)
    # Queue seen by a's ticks: 0, 0, 1, 1 (each receive found one message).
    assert a["queue"]["mean"] == 0.5
    assert a["queue"]["max"] == 1
    assert a["queue"]["nonempty_share"] == 0.5
    assert a["queue"]["end"] == 0
    # Waits in a's queue: 102.0 - 101.501 and 103.0 - 102.001 s.
    assert a["queue"]["wait_ms"]["max"] == pytest.approx(999.0)
    assert a["lateness_ms"]["max"] == 0.2
    assert a["internal_share"] == 0.5


def test_gap_to_the_fastest(tmp_path: Path) -> None:
    """b is never behind a. a is behind by 0, 1, 1, 2, 0, 1, 1 over seven half seconds, 2 at the end.

    Time-weighted mean over 3.5 s: (0 + 1 + 1 + 2 + 0 + 1 + 1) x 0.5 / 3.5 = 0.857.
    """
    s = summary_of(write(tmp_path, two_node_run()))
    assert s["nodes"]["b"]["gap"] == {"mean": 0.0, "max": 0.0, "end": 0.0}
    gap = s["nodes"]["a"]["gap"]
    assert gap is not None  # a ticked
    assert gap["max"] == 2
    assert gap["end"] == 2
    assert gap["mean"] == pytest.approx(3 / 3.5, abs=0.01)


def test_fifo_matching_delays_and_clock_condition(tmp_path: Path) -> None:
    s = summary_of(write(tmp_path, two_node_run()))
    links = {(lk["from"], lk["to"]): lk for lk in s["links"]}
    assert links[("a", "b")]["sent"] == links[("a", "b")]["received"] == 1
    assert links[("b", "a")]["sent"] == links[("b", "a")]["received"] == 2
    assert links[("b", "a")]["delay_ms"]["p50"] == pytest.approx(1.0, abs=1e-3)
    m = s["messages"]
    assert (m["sent"], m["received"], m["left"], m["lost"], m["duplicated"], m["unaccounted"]) == (3, 3, 0, 0, 0, 0)
    assert m["clock_condition"] == {"checked": 3, "violations": 0, "holds": True}
    assert s["problems"] == []


def test_lost_message_and_backlog_are_told_apart(tmp_path: Path) -> None:
    """b also sends 6 and 7; a never receives 5 (lost in the middle) and still holds 7 at stop."""
    run = two_node_run()
    b_stop = run["b"].pop()
    run["b"] += [rec(103.6, "b", "send", 9, tick=8, late_ms=0.1, to=["a"], value=9), b_stop]
    run["a"][4] = receive(103.0, "a", 6, "b", 5, 102.001, tick=3)
    run["a"].insert(4, rec(102.5, "a", "internal", 6, tick=3, late_ms=0.1))  # keep a's own sequence plausible
    del run["a"][5]  # a never receives 5
    run["a"][-1] = stop_line(103.7, "a", 6, {"b": 1}, queue=1)
    s = summary_of(write(tmp_path, run))
    link = next(lk for lk in s["links"] if lk["from"] == "b")
    assert (link["sent"], link["received"], link["left"], link["lost"], link["unaccounted"]) == (3, 1, 1, 1, 1)


def test_drops_are_accounted_not_lost(tmp_path: Path) -> None:
    run = two_node_run()
    b_stop = run["b"].pop()
    run["b"] += [
        rec(103.6, "b", "send", 9, tick=8, late_ms=0.1, to=["a"], value=9),
        rec(103.6, "b", "drop", 9, to="a", value=9, reason="peer not connected"),
        b_stop,
    ]
    s = summary_of(write(tmp_path, run))
    link = next(lk for lk in s["links"] if lk["from"] == "b")
    assert (link["sent"], link["dropped"], link["received"], link["lost"], link["unaccounted"]) == (3, 1, 2, 0, 0)


def test_clock_condition_violation_and_duplicate_are_reported(tmp_path: Path) -> None:
    run = two_node_run()
    # a logs the receive of 5 with clock 5: not greater than the send's clock 5.
    run["a"][4] = receive(103.0, "a", 5, "b", 5, 102.001, tick=3)
    run["a"].insert(5, receive(103.2, "a", 6, "b", 5, 102.001, tick=4))
    s = summary_of(write(tmp_path, run))
    link = next(lk for lk in s["links"] if lk["from"] == "b")
    assert link["clock_condition_violations"] == 1
    assert link["duplicated"] == 1
    assert s["messages"]["clock_condition"]["holds"] is False
    assert any("not above the send's 5" in e for e in link["examples"])


def test_bad_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    folder = write(tmp_path, two_node_run())
    lines = (folder / "b.jsonl").read_text().splitlines(keepends=True)
    lines.insert(3, "this is not json\n")
    lines.insert(5, json.dumps(rec(100.9, "b", "teleport", 2)) + "\n")
    lines.insert(6, json.dumps({"ts": 1.0, "node": "b", "event": "internal"}) + "\n")
    lines[-1] = lines[-1][: len(lines[-1]) // 2]  # killed mid-write: half a stop line, no newline
    (folder / "b.jsonl").write_text("".join(lines))
    s = summary_of(folder)
    assert "b.jsonl:4: not JSON" in s["problems"]
    assert "b.jsonl:6: unknown event 'teleport'" in s["problems"]
    assert "b.jsonl:7: missing or invalid field 'clock'" in s["problems"]
    assert f"b.jsonl:{len(lines)}: truncated last line (node killed while writing?)" in s["problems"]
    assert any("b.jsonl: no stop line" in p for p in s["problems"])
    assert s["nodes"]["b"]["ticks"] == 8  # everything else still analysed


def test_missing_node_file_is_reported(tmp_path: Path) -> None:
    run = two_node_run()
    run["a"][0] = start("a", 1, ["b", "c"])
    s = summary_of(write(tmp_path, run))
    assert "c.jsonl: missing: a node lists it as a peer" in s["problems"]


def test_cli_writes_outputs_and_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path / "run1", two_node_run())
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert "node" in out
    assert "jump mean/max" in out
    assert "1.50 / 3" in out
    assert "clock condition: holds for all 3" in out
    for name in ("summary.json", "summary.md", "clock.png", "gap.png", "queue.png", "jumps.png"):
        assert (folder / name).stat().st_size > 0, name
    assert json.loads((folder / "summary.json").read_text())["schema"] == SUMMARY_SCHEMA  # node.schema's: now 3
    assert "![clock](clock.png)" in (folder / "summary.md").read_text()


def test_cli_finds_newest_run_and_compares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "r1", two_node_run())
    write(tmp_path / "r2", two_node_run())
    (tmp_path / "latest").symlink_to("r2")
    assert main(["--log-dir", str(tmp_path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "run r2" in out
    assert "run r1" not in out
    assert (tmp_path / "r2" / "summary.json").exists()
    assert not (tmp_path / "r1" / "summary.json").exists()
    assert main(["--log-dir", str(tmp_path), "--no-plots", "--compare-out", str(tmp_path / "cmp"), "r1", "r2"]) == 0
    out = capsys.readouterr().out
    assert "queue max" in out
    assert (tmp_path / "cmp" / "comparison.md").exists()


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["--log-dir", str(tmp_path)]) == 2  # no runs yet: no latest
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 1
    assert "nothing to analyse" in capsys.readouterr().err
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "x.jsonl").write_text("{{{\n[1,2]\n")
    assert main([str(garbage)]) == 1


def test_never_a_traceback_on_mangled_logs(tmp_path: Path) -> None:
    """Random corruption of a valid run: the analysis reports, it does not crash."""
    rng = random.Random(5)
    base = "".join(json.dumps(r) + "\n" for r in two_node_run()["a"])
    for i in range(150):
        text = list(base)
        for _ in range(rng.randint(1, 12)):
            position = rng.randrange(len(text))
            text[position] = rng.choice(['"', "}", "{", "1", "x", "\n", ",", ":", "-", "9e999", "null", "[]"])
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        (folder / "a.jsonl").write_text("".join(text))
        assert main([str(folder), "--quiet", "--no-plots"]) in (0, 1)

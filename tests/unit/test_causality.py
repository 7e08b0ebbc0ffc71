"""Vector clocks, happens-before pairs, the Lamport check, the ShiViz export and spacetime.png.

The small runs' vector clocks and pair counts are worked out by hand in the comments; vectors are
written in node order, e.g. (a, b) or (a, b, c). A pair is ordered when one event's vector is <=
the other's; each event has sum(VC) - 1 predecessors, and ordered pairs are their sum.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.__main__ import main
from analysis.causality import Causality, _prefix_below, analyse_causality, relation
from analysis.loader import load_run
from analysis.metrics import analyse
from analysis.report import causality_lines
from analysis.shiviz import FILE, REGEX, cut, python_regex, shiviz_lines, write_shiviz
from analysis.spacetime import DEFAULT_SECONDS, resolve_window
from analysis.summaryfile import read_summary
from analysis.window import parse_window
from node.simulation import Simulation, cluster, parse_fault, run_simulation
from tests.unit.test_analysis import rec, receive, start, stop_line, two_node_run, write

ROOT = Path(__file__).resolve().parents[2]

Run = dict[str, list[dict[str, Any]]]


def send(ts: float, node: str, clock: int, to: list[str], tick: int) -> dict[str, Any]:
    return rec(ts, node, "send", clock, tick=tick, late_ms=0.1, to=to, value=clock)


def internal(ts: float, node: str, clock: int, tick: int) -> dict[str, Any]:
    return rec(ts, node, "internal", clock, tick=tick, late_ms=0.1)


def stop(ts: float, node: str, clock: int, peers: list[str]) -> dict[str, Any]:
    return stop_line(ts, node, clock, dict.fromkeys(peers, 0))


def causality_of(folder: Path) -> Causality:
    return analyse_causality(load_run(folder).nodes)


def vectors(c: Causality) -> dict[str, list[tuple[int, ...]]]:
    return {line.node: [tuple(int(v) for v in row) for row in line.vc] for line in c.lines}


def message_each_way() -> Run:
    """a: a1 send 1 to b, a2 internal, a3 receive 3 from b.  b: b1 internal, b2 receive 1, b3 send 3, b4 internal.

    a1 (1,0)  a2 (2,0)  a3 = max((2,0), b3 (1,3)) with own 3 = (3,3)
    b1 (0,1)  b2 = max((0,1), a1 (1,0)) with own 2 = (1,2)  b3 (1,3)  b4 (1,4)
    Predecessors (sum - 1): a 0, 1, 5; b 0, 2, 3, 4 -> 15 ordered of 7*6/2 = 21 pairs, 6 concurrent:
    a1||b1, a2||b1, a2||b2, a2||b3, a2||b4, a3||b4. Cross-node pairs 3*4 = 12: half concurrent.
    """
    a = [
        start("a", 1, ["b"]),
        send(100.0, "a", 1, ["b"], 0),
        internal(101.0, "a", 2, 1),
        receive(102.0, "a", 4, "b", 3, 101.6, tick=2),
        stop(102.5, "a", 4, ["b"]),
    ]
    b = [
        start("b", 1, ["a"]),
        internal(100.0, "b", 1, 0),
        receive(100.5, "b", 2, "a", 1, 100.001, tick=1),
        send(101.5, "b", 3, ["a"], 2),
        internal(102.0, "b", 4, 3),
        stop(102.5, "b", 4, ["a"]),
    ]
    return {"a": a, "b": b}


def test_two_nodes_a_message_each_way(tmp_path: Path) -> None:
    c = causality_of(write(tmp_path, message_each_way()))
    assert vectors(c) == {"a": [(1, 0), (2, 0), (3, 3)], "b": [(0, 1), (1, 2), (1, 3), (1, 4)]}
    s = c.summary
    assert s["method"] == "exact"
    assert (s["events"], s["messages"], s["unmatched_receives"]) == (7, 2, 0)
    assert (s["pairs"], s["ordered_pairs"], s["concurrent_pairs"]) == (21, 15, 6)
    assert s["concurrent_share"] == pytest.approx(6 / 21, abs=1e-6)
    assert s["concurrent_per_event"] == pytest.approx(2 * 6 / 7, abs=1e-3)  # each pair counts for both events
    assert (s["cross_node_pairs"], s["cross_node_concurrent_share"]) == (12, 0.5)
    # Edges: 2 + 3 steps on the lines, 2 messages; every one raises the Lamport clock.
    assert (s["lamport_consistent"], s["checked"], s["violations"], s["examples"]) == (True, 7, 0, [])


def relay() -> Run:
    """a sends to b, b relays to c; c had an internal event first.

    a: a1 send 1 to b, a2 internal          a1 (1,0,0)  a2 (2,0,0)
    b: b1 receive 1, b2 send 3 to c         b1 (1,1,0)  b2 (1,2,0)
    c: c1 internal, c2 receive 3, c3 int.   c1 (0,0,1)  c2 (1,2,2)  c3 (1,2,3)
    c2 knows a1 only through b (the relay). Predecessors: 0,1 | 1,2 | 0,4,5 -> 13 ordered of 21,
    8 concurrent: a2 with b1, b2, c1, c2, c3, and c1 with a1, b1, b2.
    """
    a = [start("a", 1, ["b", "c"]), send(100.0, "a", 1, ["b"], 0), internal(101.0, "a", 2, 1)]
    b = [
        start("b", 1, ["a", "c"]),
        receive(100.5, "b", 2, "a", 1, 100.001, tick=0),
        send(101.5, "b", 3, ["c"], 1),
    ]
    c = [
        start("c", 1, ["a", "b"]),
        internal(100.0, "c", 1, 0),
        receive(102.0, "c", 4, "b", 3, 101.501, tick=1),
        internal(103.0, "c", 5, 2),
    ]
    return {"a": [*a, stop(103.5, "a", 2, ["b", "c"])], "b": [*b, stop(103.5, "b", 3, ["a", "c"])], "c": c}


def test_three_nodes_with_a_relay(tmp_path: Path) -> None:
    c = causality_of(write(tmp_path, relay()))
    assert vectors(c) == {
        "a": [(1, 0, 0), (2, 0, 0)],
        "b": [(1, 1, 0), (1, 2, 0)],
        "c": [(0, 0, 1), (1, 2, 2), (1, 2, 3)],
    }
    s = c.summary
    assert (s["pairs"], s["ordered_pairs"], s["concurrent_pairs"], s["messages"]) == (21, 13, 8, 2)
    assert s["cross_node_pairs"] == 21 - (1 + 1 + 3)  # minus the pairs on one line: 2*1/2 + 2*1/2 + 3*2/2
    assert s["lamport_consistent"]
    # The matched messages, as (sender, send event, receiver, receive event) on the lines.
    got = sorted(zip(c.sender.tolist(), c.send.tolist(), c.receiver.tolist(), c.receive.tolist(), strict=True))
    assert got == [(0, 0, 1, 0), (1, 1, 2, 1)]


def test_a_dropped_message_never_arrives(tmp_path: Path) -> None:
    """a sends 1 to b, logged as dropped, then 2. b logs a receive of 1 anyway (impossible): unmatched.

    a1 (1,0)  a2 (2,0)  b1 (0,1) (a local event: the value was dropped)  b2 = max((0,1), a2) -> (2,2)
    Predecessors 0, 1, 0, 3 -> 4 ordered of 6; a1||b1 and a2||b1 concurrent.
    """
    a = [
        start("a", 1, ["b"]),
        send(100.0, "a", 1, ["b"], 0),
        rec(100.0, "a", "drop", 1, to="b", value=1, reason="peer not connected"),
        send(101.0, "a", 2, ["b"], 1),
        stop(101.5, "a", 2, ["b"]),
    ]
    b = [
        start("b", 1, ["a"]),
        receive(100.5, "b", 2, "a", 1, 100.001, tick=0),
        receive(101.5, "b", 3, "a", 2, 101.001, tick=1),
        stop(102.0, "b", 3, ["a"]),
    ]
    c = causality_of(write(tmp_path, {"a": a, "b": b}))
    assert vectors(c) == {"a": [(1, 0), (2, 0)], "b": [(0, 1), (2, 2)]}
    s = c.summary
    assert (s["messages"], s["unmatched_receives"], s["ordered_pairs"], s["concurrent_pairs"]) == (1, 1, 4, 2)
    assert s["false_orders"] == 1  # a1 (clock 1) before b1 (clock 2); a2 and b1 share clock 2
    assert "value 1 from a: never sent (or dropped)" in s["unmatched_examples"][0]
    assert s["unmatched_examples"][0].startswith("b receive #1")


def test_unmatched_receives_are_reported_not_fatal(tmp_path: Path) -> None:
    """Two-node run plus: a receive from a node with no log, one of a value never sent, one twice."""
    run = two_node_run()
    stop_a = run["a"].pop()
    run["a"] += [
        receive(103.1, "a", 8, "ghost", 7, 103.0, tick=4),
        receive(103.2, "a", 9, "b", 42, 103.0, tick=5),
        receive(103.3, "a", 10, "b", 5, 103.0, tick=6),  # 5 was already received
        stop_a,
    ]
    s = causality_of(write(tmp_path, run)).summary
    assert (s["messages"], s["unmatched_receives"]) == (3, 3)
    reasons = " | ".join(s["unmatched_examples"])
    assert "from ghost, which has no log" in reasons
    assert "value 42 from b: never sent (or dropped)" in reasons
    assert "value 5 from b: received again" in reasons
    assert s["lamport_consistent"]  # unmatched receives are local events: their line steps still rise


def test_a_causal_cycle_in_corrupt_logs_is_broken_and_reported(tmp_path: Path) -> None:
    """a receives b's 2 and then sends 4; b receives that 4 and only then sends 2: a cycle.

    Both receives close the cycle, so both are set aside; every event is then a local one:
    a1 (1,0) a2 (2,0) b1 (0,1) b2 (0,2): the two line steps are the only ordered pairs.
    """
    a = [
        start("a", 1, ["b"]),
        receive(100.0, "a", 3, "b", 2, 99.0, tick=0),
        send(101.0, "a", 4, ["b"], 1),
        stop(102.0, "a", 4, ["b"]),
    ]
    b = [
        start("b", 1, ["a"]),
        receive(101.5, "b", 5, "a", 4, 101.001, tick=0),
        rec(102.0, "b", "send", 6, tick=1, late_ms=0.1, to=["a"], value=2),
        stop(102.5, "b", 6, ["a"]),
    ]
    c = causality_of(write(tmp_path, {"a": a, "b": b}))
    assert vectors(c) == {"a": [(1, 0), (2, 0)], "b": [(0, 1), (0, 2)]}
    s = c.summary
    assert (s["messages"], s["unmatched_receives"]) == (0, 2)
    assert all("causal cycle" in e for e in s["unmatched_examples"])
    assert s["ordered_pairs"] == 2  # only the two line steps
    assert s["false_orders"] == 4  # clocks a 3, 4 and b 5, 6: the four cross pairs, all concurrent, all ordered


def test_a_restart_continues_the_same_line(tmp_path: Path) -> None:
    """a restarts (a second start line, clock resumed): its events stay one line, own entry 1, 2, 3."""
    run = message_each_way()
    run["a"].insert(3, start("a", 1, ["b"]) | {"clock": 2, "resumed_clock": 2})
    c = causality_of(write(tmp_path, run))
    assert vectors(c)["a"] == [(1, 0), (2, 0), (3, 3)]
    assert c.summary["lamport_consistent"]


def test_a_line_step_that_does_not_raise_the_clock_is_a_violation(tmp_path: Path) -> None:
    run = message_each_way()
    run["b"][4] = internal(102.0, "b", 3, 3)  # b4 logged with clock 3, the same as b3
    s = causality_of(write(tmp_path, run)).summary
    assert (s["lamport_consistent"], s["violations"]) == (False, 1)
    assert s["examples"] == [
        "b send #3 (clock 3, t 1.500 s) -> next event b internal #4 (clock 3, t 2.000 s) on its line"
    ]


def simulated(folder: Path, sim: Simulation) -> Path:
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    run_simulation(sim, lambda node, record: records[node].append(record))
    return write(folder, dict(records))


SIM = cluster(3, seed=5, duration=4, rates={"node1": 20, "node2": 35, "node3": 60}, epoch=1.7e9, jitter=0.004)


def test_simulated_run_agrees_with_brute_force(tmp_path: Path) -> None:
    """About 460 events: vectors, pair counts and the Lamport check against a pairwise computation."""
    folder = simulated(tmp_path, SIM)
    run = load_run(folder)
    c = analyse_causality(run.nodes)
    s = c.summary
    assert (s["lamport_consistent"], s["violations"], s["unmatched_receives"]) == (True, 0, 0)
    assert s["messages"] == analyse(run).summary["messages"]["received"]
    # Happens-before by reachability over the edges (no vector clocks), as a boolean matrix.
    offsets = np.cumsum([0] + [line.ts.size for line in c.lines])
    events = int(offsets[-1])
    before = np.zeros((events, events), dtype=bool)  # before[x, y]: x -> y by one edge
    for i in range(len(c.lines)):
        idx = np.arange(offsets[i], offsets[i + 1])
        before[idx[:-1], idx[1:]] = True
    before[offsets[c.sender] + c.send, offsets[c.receiver] + c.receive] = True
    reach = before.copy()
    while True:  # transitive closure by squaring
        grown = reach | (reach.astype(np.float32) @ reach.astype(np.float32) > 0)
        if (grown == reach).all():
            break
        reach = grown
    assert int(reach.sum()) == s["ordered_pairs"]
    assert s["concurrent_pairs"] == events * (events - 1) // 2 - int(reach.sum())
    # Vector clocks: VC[e][j] counts j's events that reach e, plus e itself.
    for i, line in enumerate(c.lines):
        for j in range(len(c.lines)):
            known = reach[offsets[j] : offsets[j + 1], offsets[i] : offsets[i + 1]].sum(axis=0)
            assert (line.vc[:, j] == known + (i == j)).all()  # + the event itself on its own line
    # Lamport: C(x) < C(y) for every ordered pair, not only the edges.
    clocks = np.concatenate([line.clock for line in c.lines])
    xs, ys = np.nonzero(reach)
    assert (clocks[xs] < clocks[ys]).all()


def shiviz_events(path: Path) -> list[tuple[str, dict[str, int], str]]:
    """Parse shiviz.log with REGEX turned into Python syntax by hand ((?<name> -> (?P<name>)."""
    lines = path.read_text().splitlines()
    assert lines[0] == REGEX
    assert lines[1] == ""  # one execution: no delimiter
    pattern = re.compile(r"^(?P<host>\S+) (?P<clock>\{[^}]*\}) (?P<event>.*)$")
    assert pattern.pattern == REGEX.replace("(?<", "(?P<") == python_regex().pattern
    parsed = []
    for line in lines[2:]:
        match = pattern.fullmatch(line)
        assert match, line
        parsed.append((match["host"], json.loads(match["clock"]), match["event"]))
    return parsed


def assert_shiviz_clocks_consistent(events: list[tuple[str, dict[str, int], str]]) -> None:
    """Each host's own entry is 1, 2, 3, ... in file order, and no clock knows of an event not in the file."""
    seen: dict[str, int] = defaultdict(int)
    for host, clock, _ in events:
        seen[host] += 1
        assert clock[host] == seen[host]
    for host, clock, _ in events:
        assert all(0 < value <= seen[other] for other, value in clock.items()), (host, clock)


def test_shiviz_export_parses_and_its_clocks_are_consistent(tmp_path: Path) -> None:
    folder = simulated(tmp_path, SIM)
    assert main([str(folder), "--no-plots"]) == 0
    events = shiviz_events(folder / FILE)
    c = causality_of(folder)
    assert len(events) == c.summary["events"]
    assert_shiviz_clocks_consistent(events)
    # The clocks are the analysis's vector clocks, zero entries left out; texts say what happened.
    lines = {line.node: line for line in c.lines}
    for host, clock, text in events:
        assert tuple(clock.get(n, 0) for n in c.nodes) == tuple(lines[host].vc[clock[host] - 1].tolist())
        assert re.fullmatch(r"(send \d+ to \S+|receive \d+ from \S+|internal) \(Lamport \d+, t \d+\.\d{3} s\)", text)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["causality"]["shiviz"] == {"file": FILE, "events": len(events), "complete": True}


def test_shiviz_export_of_a_long_run_is_a_consistent_cut(tmp_path: Path) -> None:
    folder = simulated(tmp_path, SIM)
    run = load_run(folder)
    c = analyse_causality(run.nodes)
    counts = cut(c, 100)
    assert 100 <= sum(counts) < 130  # about the first 100 events in time, plus what they depend on
    lines, total = shiviz_lines(c, run.nodes, 1.7e9, max_events=100)
    assert (len(lines), total) == (sum(counts), c.summary["events"])
    path, written, _ = write_shiviz(c, run.nodes, 1.7e9, tmp_path, max_events=100)
    events = shiviz_events(path)
    assert len(events) == written == sum(counts)
    assert_shiviz_clocks_consistent(events)  # every send a receive depends on is in the file


def test_spacetime_png_default_and_custom_window(tmp_path: Path) -> None:
    folder = simulated(tmp_path, SIM)
    assert main([str(folder)]) == 0
    default = (folder / "spacetime.png").read_bytes()
    assert default.startswith(b"\x89PNG")
    assert len(default) > 10_000
    assert "![spacetime](spacetime.png)" in (folder / "summary.md").read_text()
    assert main([str(folder), "--spacetime", "1.5:2"]) == 0
    custom = (folder / "spacetime.png").read_bytes()
    assert custom.startswith(b"\x89PNG")
    assert len(custom) > 10_000
    assert custom != default
    assert main([str(folder), "--spacetime", "100:110"]) == 0  # past the end: an empty diagram, still written
    assert (folder / "spacetime.png").stat().st_size > 0


def test_spacetime_windows() -> None:
    assert parse_window("20:30") == (20.0, 30.0)
    assert parse_window("2.5:") == (2.5, None)
    assert parse_window(":4") == (None, 4.0)
    assert resolve_window(None, 4.0) == (0.0, 4.0, False)  # the whole run when it is shorter
    assert resolve_window(None, 60.0) == (0.0, DEFAULT_SECONDS, False)
    assert resolve_window((2.5, None), 60.0) == (2.5, 60.0, False)
    # A fast run: the default window ends at the 500th event.
    start_, end, shortened = resolve_window(None, 60.0, np.arange(2000) / 1000)
    assert (start_, end, shortened) == (0.0, 0.499, True)


@pytest.mark.parametrize("value", ["abc", "5:2", "3:3", "1:2:3", "1;2", "x:4", "=-1:3", "nan:4", ":"])
def test_invalid_spacetime_window_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    folder = write(tmp_path / "run", message_each_way())
    argument = "--spacetime" + value if value.startswith("=") else None
    args = [str(folder), argument] if argument else [str(folder), "--spacetime", value]
    if value == ":":  # both sides open: the whole run, which is valid
        assert main(args) == 0
        return
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("analysis: --spacetime ")
    assert not (folder / "summary.json").exists()


def test_cli_reports_causality_and_honours_no_shiviz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path / "run", message_each_way())
    assert main([str(folder), "--no-shiviz", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert (
        "causality: 7 events, 21 pairs: 15 ordered, 6 concurrent (28.6%; 50% of cross-node pairs; 1.7 per event)" in out
    )
    assert (
        "false orders: Lamport clocks order 3 concurrent pairs (25% of cross-node pairs, 50% of concurrent ones; "
        "0.4 per event)" in out
    )
    assert "Lamport clocks agree with happens-before: C(a) < C(b) on all 7 edges" in out
    assert not (folder / FILE).exists()
    assert not (folder / "spacetime.png").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["causality"]["concurrent_pairs"] == 6
    assert "shiviz" not in summary["causality"]
    assert "## Causality" in (folder / "summary.md").read_text()


# -- false orders: C(a) < C(b) for a concurrent cross-node pair ------------------------------------


def false_orders_by_definition(c: Causality) -> tuple[int, int]:
    """False orders and concurrent pairs, every pair compared: x -> y or x == y iff VC(x) <= VC(y)."""
    vc = np.concatenate([line.vc for line in c.lines])
    clock = np.concatenate([line.clock for line in c.lines])
    node = np.concatenate([np.full(line.ts.size, i) for i, line in enumerate(c.lines)])
    reaches = (vc[:, None, :] <= vc[None, :, :]).all(axis=2)
    concurrent = ~reaches & ~reaches.T
    assert not (concurrent & (node[:, None] == node[None, :])).any()  # one line is totally ordered
    false = concurrent & (node[:, None] != node[None, :]) & (clock[:, None] < clock[None, :])
    return int(false.sum()), int(concurrent.sum()) // 2


def relation_sums(c: Causality) -> tuple[int, int]:
    """The explorer's per-event counts summed over every event: false_before, false_after."""
    rel = [relation(c, i, k) for i, line in enumerate(c.lines) for k in range(line.ts.size)]
    return sum(r.false_before for r in rel), sum(r.false_after for r in rel)


def assert_false_orders(c: Causality) -> int:
    """The summary's false orders against the definition and against `relation`; returns the count."""
    s = c.summary
    false, concurrent = false_orders_by_definition(c)
    assert concurrent == s["concurrent_pairs"]
    assert s["false_orders"] == false
    assert relation_sums(c) == (false, false)  # each false order: before one event, after the other
    assert s["false_order_share"] == (round(false / s["cross_node_pairs"], 6) if s["cross_node_pairs"] else None)
    assert s["false_order_share_of_concurrent"] == (round(false / concurrent, 6) if concurrent else None)
    assert s["false_orders_per_event"] == (round(false / s["events"], 3) if s["events"] else None)
    return false


def test_false_orders_worked_out_by_hand(tmp_path: Path) -> None:
    """message_each_way, clocks a 1, 2, 4 and b 1, 2, 3, 4: of its 6 concurrent pairs a1||b1 (1, 1),
    a2||b2 (2, 2) and a3||b4 (4, 4) have equal clocks; b1 (1) < a2 (2), a2 < b3 (3), a2 < b4 (4) are
    false orders: 3, a quarter of the 12 cross-node pairs, half the concurrent ones.
    relay, clocks a 1, 2; b 2, 3; c 1, 4, 5: concurrent a2 with b1 (2, 2: equal), b2, c1, c2, c3,
    and c1 with a1 (1, 1: equal), b1, b2: 6 false orders of 8 concurrent pairs."""
    c = causality_of(write(tmp_path / "each-way", message_each_way()))
    s = c.summary
    assert (s["false_orders"], s["false_order_share"], s["false_order_share_of_concurrent"]) == (3, 0.25, 0.5)
    assert s["false_orders_per_event"] == round(3 / 7, 3)
    assert assert_false_orders(c) == 3
    c = causality_of(write(tmp_path / "relay", relay()))
    assert (c.summary["false_orders"], c.summary["false_order_share_of_concurrent"]) == (6, 0.75)
    assert assert_false_orders(c) == 6


def test_false_orders_with_a_clock_that_falls_back(tmp_path: Path) -> None:
    """message_each_way with b4 logged at clock 1 (after b3's 3): the vectors stay, the clocks lie.

    Concurrent pairs as before; b4 (1) now below a2 (2) and a3 (4): a2||b4 and a3||b4 are false
    orders the other way round, a2||b3 and b1 < a2 still are: 4. The pairs b1..b3 -> b4 and a1 -> b4
    have C(a) >= C(b): ordered pairs, so no false orders, whatever their clocks."""
    run = message_each_way()
    run["b"][4] = internal(102.0, "b", 1, 3)
    c = causality_of(write(tmp_path, run))
    assert (c.summary["violations"], c.summary["false_orders"]) == (1, 4)
    assert assert_false_orders(c) == 4
    assert relation(c, 1, 3).false_after == 2  # b4 before a2 and a3, by its clock


def broken_clocks(records: dict[str, list[dict[str, Any]]], seed: int) -> dict[str, list[dict[str, Any]]]:
    """The same run with a fifth of the tick events' clocks redrawn at random (up and down)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for node, lines in records.items():
        top = max(r["clock"] for r in lines)
        out[node] = [
            r | {"clock": int(rng.integers(0, top + 1))}
            if r["event"] in ("receive", "send", "internal") and rng.random() < 0.2
            else r
            for r in lines
        ]
    return out


@pytest.mark.parametrize(
    ("seed", "kill", "broken"),
    [(1, False, False), (2, False, False), (3, True, False), (4, False, True), (5, True, True)],
)
def test_false_orders_of_simulated_runs_agree_with_every_pair_compared(
    tmp_path: Path, seed: int, kill: bool, broken: bool
) -> None:
    """Random runs of a few hundred events (a kill and restart; clocks redrawn, so lines fall back)."""
    sim = cluster(3, seed=seed, rates={"node1": 9, "node2": 25, "node3": 14}, max_event_num=5, duration=8.0)
    if kill:
        sim = replace(sim, faults=(parse_fault("kill", "node2@3:1.5", sim.node_ids),))
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    run_simulation(sim, lambda node, record: records[node].append(record))
    c = causality_of(write(tmp_path, broken_clocks(dict(records), seed) if broken else dict(records)))
    assert c.summary["events"] > 200
    assert (c.summary["violations"] > 0) == broken
    assert any((np.diff(line.clock) < 0).any() for line in c.lines) == broken  # the slow path of the count
    assert assert_false_orders(c) > 0


def test_prefix_counts_in_any_order_against_a_loop() -> None:
    """How many of values[:end] are below a bound, for sorted and shuffled values, ties and edges."""
    rng = np.random.default_rng(0)
    for size in (0, 1, 2, 7, 64, 100):
        for ordered in (True, False):
            values = rng.integers(-5, 20, size)
            values = np.sort(values) if ordered else values
            ends = rng.integers(0, size + 1, 300)
            bounds = rng.integers(-7, 23, 300)
            expected = [int((values[:end] < bound).sum()) for end, bound in zip(ends, bounds, strict=True)]
            assert _prefix_below(values, ends, bounds).tolist() == expected, (size, ordered)


def test_an_old_summary_has_no_false_order_line() -> None:
    """Summaries before false orders were counted lack the keys: the report leaves the line out."""
    old = read_summary(ROOT / "experiments" / "results" / "runs" / "baseline-1" / "summary.json")
    assert old["causality"].get("false_orders") is None
    lines = causality_lines(old)
    assert lines[0].startswith("causality: ")
    assert not any("false orders" in line for line in lines)

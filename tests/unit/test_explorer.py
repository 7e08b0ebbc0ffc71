"""The explorer's data: causal past, future and concurrent sets, violations located on events,
the part of a big run it holds, where two runs part, and a page no log text can inject into.

The small runs are test_causality's, whose vector clocks are worked out by hand there; the
relations below are worked out by hand from those vectors (written in node order).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.__main__ import main
from analysis.causality import Relation, relation
from analysis.compare import parting
from analysis.explorer import COMPARISON_FILE, FILE, _json, choose_part, explorer_data, page
from analysis.loader import load_run
from analysis.metrics import Analysis, analyse
from node.simulation import cluster, parse_fault, write_simulation
from tests.unit.test_analysis import rec, receive, start, stop_line, write
from tests.unit.test_causality import internal, message_each_way, relay, send

Run = dict[str, list[dict[str, Any]]]


def analysis_of(folder: Path) -> Analysis:
    return analyse(load_run(folder))


def test_relations_with_a_message_each_way(tmp_path: Path) -> None:
    """a1 (1,0) c1, a2 (2,0) c2, a3 (3,3) c4; b1 (0,1) c1, b2 (1,2) c2, b3 (1,3) c3, b4 (1,4) c4.

    a2: past a1; future a3 (no b event has VC[a] >= 2); b1..b4 concurrent, of which b1 (clock 1)
        is put before it by Lamport, b3 and b4 (3, 4) after it, b2 has its clock (2).
    b2: past b1, a1; future b3, b4 and a3 (VC[b] 3 >= 2); concurrent a2, same clock.
    a3: past a1, a2, b1, b2, b3; concurrent b4, same clock 4.
    """
    c = analysis_of(write(tmp_path, message_each_way())).causality
    assert c is not None
    assert relation(c, 0, 1) == Relation(past=1, future=1, concurrent=4, false_before=1, false_after=2)
    assert relation(c, 1, 1) == Relation(past=2, future=3, concurrent=1, false_before=0, false_after=0)
    assert relation(c, 0, 2) == Relation(past=5, future=0, concurrent=1, false_before=0, false_after=0)


def test_relations_with_a_relay(tmp_path: Path) -> None:
    """a1 (1,0,0) c1, a2 (2,0,0) c2; b1 (1,1,0) c2, b2 (1,2,0) c3; c1 (0,0,1) c1, c2 (1,2,2) c4, c3 (1,2,3) c5.

    c1: future c2, c3 only; concurrent a1, a2, b1, b2 with clocks 1, 2, 2, 3: three after it.
    a2: past a1; concurrent with b1, b2, c1, c2, c3 (clocks 2, 3, 1, 4, 5): one before, three after.
    c2: past a1, b1, b2 (through the relay) and c1; future c3; concurrent a2 (clock 2 < 4).
    """
    c = analysis_of(write(tmp_path, relay())).causality
    assert c is not None
    assert relation(c, 2, 0) == Relation(past=0, future=2, concurrent=4, false_before=0, false_after=3)
    assert relation(c, 0, 1) == Relation(past=1, future=0, concurrent=5, false_before=1, false_after=3)
    assert relation(c, 2, 1) == Relation(past=4, future=1, concurrent=1, false_before=1, false_after=0)


def test_relations_agree_with_every_pair_compared(tmp_path: Path) -> None:
    """On a simulated run, against the definition: b is in a's past iff VC(b) <= VC(a), b != a."""
    folder = tmp_path / "sim"
    rates = {"node1": 3, "node2": 5, "node3": 2}
    write_simulation(cluster(3, seed=11, rates=rates, max_event_num=4, duration=6.0), folder)
    a = analysis_of(folder)
    c = a.causality
    assert c is not None
    events = [(i, k) for i, line in enumerate(c.lines) for k in range(line.ts.size)]
    vc = {(i, k): c.lines[i].vc[k] for i, k in events}
    clock = {(i, k): int(c.lines[i].clock[k]) for i, k in events}
    concurrent_total = 0
    for e in events:
        past = future = concurrent = before = after = 0
        for f in events:
            if f == e:
                continue
            if np.all(vc[f] <= vc[e]):
                past += 1
            elif np.all(vc[e] <= vc[f]):
                future += 1
            else:
                concurrent += 1
                before += clock[f] < clock[e]
                after += clock[f] > clock[e]
        assert relation(c, *e) == Relation(past, future, concurrent, before, after), e
        concurrent_total += concurrent
    assert concurrent_total == 2 * a.summary["causality"]["concurrent_pairs"]


def broken_run() -> Run:
    """a: send 1 to b, send 2 to b, send 3 to b, internal with clock 9 (rule: 4).
    b: receive 1 (clock 2), receive 1 again, receive 3 with clock 3 (rule: max(3, 3) + 1 = 4, and
    not above the send's 3). Value 2 never arrives and b's queue is empty: lost."""
    a = [
        start("a", 1, ["b"]),
        send(100.0, "a", 1, ["b"], 0),
        send(101.0, "a", 2, ["b"], 1),
        send(102.0, "a", 3, ["b"], 2),
        internal(103.0, "a", 9, 3),
        stop_line(103.5, "a", 9, {"b": 0}),
    ]
    b = [
        start("b", 1, ["a"]),
        receive(100.5, "b", 2, "a", 1, 100.001, tick=0),
        receive(101.5, "b", 3, "a", 1, 101.001, tick=1),
        receive(102.5, "b", 3, "a", 3, 102.001, tick=2),
        stop_line(103.5, "b", 3, {"a": 0}),
    ]
    return {"a": a, "b": b}


def test_every_violation_is_located_on_its_event(tmp_path: Path) -> None:
    data = explorer_data(analysis_of(write(tmp_path, broken_run())))
    v = data["violations"]
    found = {(x["kind"], x["node"], x["pos"]) for x in v["listed"]}
    assert found == {
        ("clock condition", 1, 2),  # b's third event took 3 with clock 3
        ("clock order", 1, 2),  # b's clocks 2, 3, 3
        ("clock rule", 0, 3),  # a's internal: 9, not 4
        ("clock rule", 1, 2),  # b's third: 3, not max(3, 3) + 1
        ("lost", 0, 1),  # value 2
        ("duplicated", 1, 1),
    }
    assert v["counts"]["lost"] == 1
    assert v["counts"]["duplicated"] == 1
    text = next(x["text"] for x in v["listed"] if x["kind"] == "clock rule" and x["node"] == 0)
    assert text == "a internal #4 (clock 9): the rule gives 4 from clock 3"


def test_a_clean_run_has_no_violations(tmp_path: Path) -> None:
    folder = tmp_path / "sim"
    write_simulation(cluster(3, seed=5, rates={"node1": 4, "node2": 2, "node3": 6}, duration=8.0), folder)
    data = explorer_data(analysis_of(folder))
    assert data["violations"]["listed"] == []
    assert set(data["violations"]["counts"].values()) == {0}
    assert data["part"]["complete"]


def test_messages_and_nodes_as_the_page_reads_them(tmp_path: Path) -> None:
    data = explorer_data(analysis_of(write(tmp_path, message_each_way())))
    m = {k: [float(x) for x in v] for k, v in data["messages"].items()}
    # a1 -> b2 (value 1, enqueued at 100.001), b3 -> a3 (value 3, enqueued 101.6); times since 100.0.
    assert sorted(zip(m["from"], m["send"], m["to"], m["take"], m["value"], m["enq"], strict=True)) == [
        (0, 0, 1, 1, 1, 0.001),
        (1, 2, 0, 2, 3, 1.6),
    ]
    a, b = data["nodes"]
    assert [list(col) for col in a["vc"]] == [[1, 2, 3], [0, 0, 3]]
    assert a["names"] == ["b"]
    assert list(a["who"]) == [0, -1, 0]
    assert list(b["gap"]) == [0, 0, 0, 0]  # b's clock is the largest at each of its events (a: 1, 2, 2, 4)


def test_a_big_run_is_held_in_part(tmp_path: Path) -> None:
    folder = tmp_path / "sim"
    write_simulation(cluster(3, seed=2, rates={"node1": 6, "node2": 6, "node3": 6}, duration=10.0), folder)
    a = analysis_of(folder)
    total = a.summary["causality"]["events"]
    part = choose_part(a, None, max_events=50)
    assert not part.complete
    assert 50 <= part.events < total  # the first 50 by time, closed under happens-before
    assert "of" in part.note
    assert "--explorer START:END" in part.note
    window = choose_part(a, (2.0, 4.0), max_events=10_000)
    assert a.causality is not None
    since = [line.ts - (a.summary["run"]["first_tick_ts"] or 0.0) for line in a.causality.lines]
    assert window.events == sum(int(((t >= 2.0) & (t <= 4.0)).sum()) for t in since)
    data = explorer_data(a, (2.0, 4.0), max_events=10_000)
    for node, lo in zip(data["nodes"], window.lo, strict=True):
        assert node["offset"] == lo
        assert len(node["t"]) == len(node["clock"]) == len(node["vc"][0])
    # Messages with both ends inside, positions relative to the part.
    m = data["messages"]
    for f, s, t, k in zip(m["from"], m["send"], m["to"], m["take"], strict=True):
        assert 0 <= s < len(data["nodes"][f]["t"])
        assert 0 <= k < len(data["nodes"][t]["t"])


def test_where_two_runs_part(tmp_path: Path) -> None:
    first = message_each_way()
    second = message_each_way()
    second["b"][3] = internal(101.5, "b", 3, 2)  # b3 internal instead of a send: b and then a part
    second["a"][3] = internal(102.0, "a", 3, 2)
    one, two = analysis_of(write(tmp_path / "one", first)), analysis_of(write(tmp_path / "two", second))
    found = parting(one, two)
    assert found is not None
    assert (found.node, found.pos, found.t) == ("b", 2, 1.5)
    assert found.text == "b #3: send at clock 3 in the first run, internal at clock 3 in the second"
    assert parting(one, one) is None
    shorter = message_each_way()
    del shorter["b"][4]  # b's last tick event (b4, internal at 102.0 s) never happened
    found = parting(one, analysis_of(write(tmp_path / "shorter", shorter)))
    assert found is not None
    assert (found.node, found.pos, found.t, found.first, found.second) == ("b", 3, 2.0, "4 ticks", "3 ticks")


def test_no_log_text_can_end_the_data_element() -> None:
    crafted = "</script><script>alert(1)</script><!-- & -->"
    text = _json({"problems": [crafted]})
    assert b"<" not in text
    assert b">" not in text
    assert b"&" not in text
    html = page("a <b> title", "explorer", {"problems": [crafted]})
    assert html.count("</script>") == 2  # the data's and the code's own
    assert "<title>a &lt;b&gt; title</title>" in html


def test_crafted_logs_reach_the_page_as_text(tmp_path: Path) -> None:
    run = message_each_way()
    run["a"].insert(2, rec(100.5, "a", "<img src=x onerror=alert(1)>", 1))
    folder = write(tmp_path / "r", run)
    assert main([str(folder), "--no-plots", "--quiet"]) == 0
    html = (folder / FILE).read_text()
    assert "<img" not in html
    assert "onerror=alert" in html  # as text inside the escaped JSON
    assert re.search(r"<script[^>]*>", html.split('id="explorer-data">')[1]).group(0) == "<script>"  # type: ignore[union-attr]


def test_command_line_writes_the_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    for name, seed in (("one", 1), ("two", 2)):
        write_simulation(cluster(3, seed=seed, rates={"node1": 3, "node2": 2, "node3": 1}, duration=4.0), logs / name)
    assert main(["one", "two", "--log-dir", str(logs), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert f"explore the run: open {Path('logs') / 'one' / FILE} in a browser" in out
    assert f"compare the runs: open {Path('logs') / COMPARISON_FILE} in a browser" in out
    assert (logs / "one" / FILE).is_file()
    assert (logs / COMPARISON_FILE).is_file()
    assert main(["one", "--log-dir", str(logs), "--explorer", "5:2"]) == 2
    assert "--explorer '5:2': END (2) must be after START (5)" in capsys.readouterr().err
    (logs / "one" / FILE).unlink()
    assert main(["one", "--log-dir", str(logs), "--no-explorer", "--no-plots"]) == 0
    assert not (logs / "one" / FILE).exists()


@pytest.mark.parametrize(("i", "k"), list(itertools.product(range(3), (0, 5, 17))))
def test_relation_counts_cover_every_other_event(tmp_path: Path, i: int, k: int) -> None:
    folder = tmp_path / "sim"
    write_simulation(cluster(3, seed=3, rates={"node1": 5, "node2": 3, "node3": 4}, duration=6.0), folder)
    c = analysis_of(folder).causality
    assert c is not None
    r = relation(c, i, k)
    assert r.past + r.future + r.concurrent == sum(line.ts.size for line in c.lines) - 1
    assert r.false_before + r.false_after <= r.concurrent


@pytest.mark.parametrize("seed", [1, 2])
def test_every_lost_message_is_located(tmp_path: Path, seed: int) -> None:
    """At most once, a slow receiver killed for 3 s loses what its queue held: each one listed at its send."""
    env = {"DELIVERY": "at-most-once"}
    sim = cluster(3, seed=seed, env=env, rates={"node1": 6, "node2": 1, "node3": 6}, max_event_num=4, duration=15.0)
    folder = tmp_path / "amo"
    write_simulation(replace(sim, faults=(parse_fault("kill", "node2@5:3", sim.node_ids),)), folder)
    a = analysis_of(folder)
    data = explorer_data(a)
    lost = [v for v in data["violations"]["listed"] if v["kind"] == "lost"]
    assert a.summary["messages"]["lost"] > 0
    assert len(lost) == data["violations"]["counts"]["lost"] == a.summary["messages"]["lost"]
    for v in lost:
        node = data["nodes"][v["node"]]
        assert node["kind"][v["pos"]] == 1  # a send
        assert "node2" in v["text"]

"""The many-nodes step's pure parts (bench.nodes): the MAX_EVENT_NUM rule, the environment, the TCP
table parser, the figures from a run folder, the options, the progress lines and the report table."""

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from bench.nodes import (
    connections,
    count_links,
    log_volume,
    max_event_num,
    node_env,
    row_line,
    spread,
    start_spread,
    stop_reasons,
)
from bench.options import many_nodes_runs, parse_args, plan
from bench.progress import Progress
from bench.report_tables import many_nodes_limits, many_nodes_table
from deploy.stackgen import cluster_environments
from node.config import load_config


def test_max_event_num_keeps_the_internal_share_of_three_nodes() -> None:
    assert max_event_num(3) == 10  # .env's default
    assert [max_event_num(n) for n in (5, 10, 20)] == [17, 34, 67]
    for nodes in range(2, 65):
        m = max_event_num(nodes)
        assert m > nodes  # some draws stay internal
        assert 0.7 <= (m - nodes) / m <= 0.715
        assert m == -(-10 * nodes // 3)


@pytest.mark.parametrize(("nodes", "rate"), [(3, None), (20, None), (20, 1000), (64, 1000)])
def test_every_node_accepts_the_environment(nodes: int, rate: int | None, tmp_path: Path) -> None:
    env = node_env(nodes, rate, 30, "nodes-x")
    assert sum(1 for name in env if name.endswith("_CLOCK_RATE") and name.startswith("NODE")) == nodes
    configs = [load_config({**node, "LOG_DIR": str(tmp_path)}) for node in cluster_environments(nodes, env).values()]
    assert {c.max_event_num for c in configs} == {max_event_num(nodes)}
    assert {c.clock_rate for c in configs} == {rate}  # None: each draws its own
    assert {(c.min_clock_rate, c.max_clock_rate) for c in configs} == {(1, 6 if rate is None else rate)}
    assert all(len(c.peers) == nodes - 1 for c in configs)


# /proc/net/tcp of a node of three listening on 5000 (0x1388): its listening socket, two
# connections it accepted, two it dialed, one closing, one to another port.
TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0
   1: 0300120A:1388 0400120A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0 20 4 30 10 -1
   2: 0300120A:1388 0500120A:9C41 01 00000000:00000000 00:00000000 00000000     0        0 103 1 0 20 4 30 10 -1
   3: 0300120A:A000 0400120A:1388 01 00000000:00000000 00:00000000 00000000     0        0 104 1 0 20 4 30 10 -1
   4: 0300120A:A001 0500120A:1388 01 00000000:00000000 00:00000000 00000000     0        0 105 1 0 20 4 30 10 -1
   5: 0300120A:A002 0500120A:1388 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   6: 0300120A:A003 0600120A:0050 01 00000000:00000000 00:00000000 00000000     0        0 106 1 0 20 4 30 10 -1
"""


def test_count_links_reads_established_connections_by_direction() -> None:
    assert count_links(TABLE, 5000) == (2, 2)
    assert count_links(TABLE, 80) == (0, 1)
    assert count_links(TABLE.splitlines()[0]) == (0, 0)  # the header alone


def test_count_links_on_this_kernels_own_table() -> None:
    """A connection to a listener of this process: one end dialed to the port, one accepted on it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                table = Path("/proc/self/net/tcp").read_text(encoding="ascii")
                assert client.getsockname()[1] != port
                assert count_links(table, port) == (1, 1)


def test_connections_of_a_full_mesh_and_of_a_node_short_of_it() -> None:
    full = connections(4, {f"node{k}": (3, 3) for k in range(1, 5)})
    assert full == {
        "expected_per_node": 6,
        "min_per_node": 6,
        "max_per_node": 6,
        "expected_total": 12,
        "total": 12,
        "inbound_min": 3,
        "outbound_min": 3,
    }
    short = connections(3, {"node1": (2, 2), "node2": (2, 1)})  # node3 never read
    assert (short["min_per_node"], short["max_per_node"], short["outbound_min"]) == (0, 4, 0)


def test_start_spread_and_log_volume_from_a_run_folder(tmp_path: Path) -> None:
    for k, ts in enumerate((100.0, 100.25, 101.5), 1):
        lines = [{"ts": ts, "node": f"node{k}", "event": "start"}, {"ts": ts + 2, "event": "internal"}]
        (tmp_path / f"node{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (tmp_path / "run.json").write_text("{}")  # not a log
    assert start_spread(tmp_path) == 1.5
    size = sum((tmp_path / f"node{k}.jsonl").stat().st_size for k in (1, 2, 3))
    volume = log_volume(tmp_path, 3, 2.0, 6)
    assert volume == {"bytes": size, "lines": 6, "bytes_per_node_s": round(size / 6, 1), "lines_per_node_s": 1.0}
    (tmp_path / "node2.jsonl").unlink()
    (tmp_path / "node3.jsonl").unlink()
    assert start_spread(tmp_path) is None  # one node: nothing to spread


def test_nodes_that_stopped_early_are_counted_by_reason(tmp_path: Path) -> None:
    ends = {"node1": "duration", "node2": "start-timeout", "node3": "start-timeout", "node4": None}
    for node, reason in ends.items():
        lines = [{"event": "start"}, {"event": "internal"}]
        if reason is not None:
            lines.append({"event": "stop", "reason": reason})
        (tmp_path / f"{node}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (tmp_path / "node5.jsonl").write_text("")
    assert stop_reasons(tmp_path) == {"start-timeout": 2, "no stop line": 2}
    assert log_volume(tmp_path, 5, None, 9)["lines_per_node_s"] is None  # no node ticked


def test_spread_is_median_and_max_or_nothing() -> None:
    assert spread([1.0, 3.0, 2.0, 10.0], 1) == {"median": 2.5, "max": 10.0}
    assert spread([1.0, None], 1) == {"median": None, "max": None}
    assert spread([], 1) == {"median": None, "max": None}


def test_options_of_the_step() -> None:
    options = parse_args(["--node-counts", "10,3", "--nodes-duration", "5"], "")
    assert options.node_counts == [3, 10]
    assert many_nodes_runs(options) == [(3, None), (3, 1000), (10, None), (10, 1000)]
    assert any(name == "many nodes" for name, _ in plan(options))
    assert many_nodes_runs(parse_args(["--nodes-rate", "0"], "")) == [(n, None) for n in (3, 5, 10, 20)]
    skipped = parse_args(["--skip", "nodes"], "")
    assert all(name != "many nodes" for name, _ in plan(skipped))


@pytest.mark.parametrize("bad", [["--node-counts", "1,3"], ["--node-counts", "65"], ["--nodes-rate", "-1"]])
def test_bad_options_of_the_step_are_refused(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(bad, "")
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_part_of_a_step_shows_the_suites_eta_from_there(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress([("build", 10.0), ("many nodes", 100.0), ("simulator", 30.0)])
    progress.run("build", lambda: None)
    progress.step("many nodes")
    progress.part("run 2/4: 5 nodes", 60.0)
    lines = capsys.readouterr().out.splitlines()
    assert "ETA 2:10 left" in lines[1]  # 100 + 30 s
    assert lines[2].startswith("        run 2/4: 5 nodes  (ETA 1:30 left, done ~")  # 60 + 30 s


def run_row(nodes: int, rate: int | None, ok: bool = True, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "nodes": nodes,
        "rate": rate,
        "max_event_num": max_event_num(nodes),
        "pass": ok,
        "problems": [] if ok else [f"node{k}: 90 of 100 ticks (skipped 10)" for k in range(1, nodes + 1)],
        "startup_s": 1.5 + 0.5 * nodes,
        "start_spread_s": 0.5 * (nodes - 1),
        "first_tick_spread_ms": 12.0,
        "min_ratio": 0.99999 if ok else 0.9,
        "late_p50_ms": 0.1,
        "late_p99_ms": 0.25,
        "cpu_percent": {"median": 0.5, "max": 0.75},
        "rss_mb": {"median": 22.5, "max": 23.0},
        "log": {"bytes": 1, "lines": 1, "bytes_per_node_s": 2500.0, "lines_per_node_s": 4.5},
        "connections": connections(nodes, {f"node{k}": (nodes - 1, nodes - 1) for k in range(1, nodes + 1)}),
        "machine_cpu_percent": 12.0,
        "other_cpu_percent": 3.0,
        "analysis_s": 2.0,
    }
    row.update(changes)
    return row


def results_with(runs: list[dict[str, Any]]) -> dict[str, Any]:
    many = {"duration_s": 30, "pinned_rate": 1000, "drawn_rates": "1..6", "start_timeout_s": 30.0, "runs": runs}
    return {"config": {"seed": 1}, "machine": {"memory_gib": 23.0, "nproc": 2}, "many_nodes": many}


def test_the_table_of_the_many_nodes_step() -> None:
    results = results_with([run_row(3, None), run_row(20, 1000, ok=False)])
    table = many_nodes_table(results)
    rows = [line for line in table if line.startswith("| 3 ") or line.startswith("| 20 ")]
    assert rows[0] == (
        "| 3 | drawn 1..6 | 10 | 3.0 (1.0) | 12 | 0.99999 | 0.100 / 0.250 | 0.5 / 0.8 | 22.5 / 23.0 "
        "| 4.5, 2.5 | 4 (4) | 6 (6) | 12 / 3 | 2.0 | pass |"
    )
    assert rows[1].startswith("| 20 | 1000 each | 67 | 11.5 (9.5) |")
    assert "| 38 (38) | 380 (380) |" in rows[1]
    assert rows[1].endswith("| **FAIL** (below) |")
    assert table[-1] == (
        "- 20 nodes, 1000 each: node1: 90 of 100 ticks (skipped 10); node2: 90 of 100 ticks (skipped 10); "
        "node3: 90 of 100 ticks (skipped 10); and 17 more"
    )
    assert many_nodes_table({"config": {"seed": 1}}) == ["(not run)"]


def test_a_failed_analysis_is_shown_and_said_why() -> None:
    row = run_row(3, None, analysis_ok=False, problems=["python -m analysis exited 1:\n  SyntaxError"])
    table = many_nodes_table(results_with([row]))
    line = next(x for x in table if x.startswith("| 3 "))
    assert line.endswith("| failed (below) | pass |")
    assert table[-1] == "- 3 nodes, drawn 1..6: python -m analysis exited 1: SyntaxError"


def test_a_node_short_of_its_connections_shows_the_range() -> None:
    row = run_row(3, None, connections=connections(3, {"node1": (2, 2), "node2": (2, 2), "node3": (1, 2)}))
    line = next(x for x in many_nodes_table(results_with([row])) if x.startswith("| 3 "))
    assert "| 3-4 (4) | 5 (6) |" in line


def test_what_limits_n_from_the_figures() -> None:
    runs = [run_row(3, None), run_row(20, None), run_row(3, 1000), run_row(20, 1000, ok=False)]
    lines = many_nodes_limits(results_with(runs))
    assert lines[0] == "What limits N here, from these figures:"
    assert "- Nodes at the drawn rates (1..6/s): every N up to 20 passed." in lines
    assert (
        "- Nodes pinned to 1000/s: every N up to 3 passed; 20 nodes failed (node1: 90 of 100 ticks (skipped 10))."
    ) in lines
    # 20 nodes started over 9.5 s: 0.5 s apart, so 30 s reach 61 nodes.
    start = next(x for x in lines if x.startswith("- Start-up"))
    assert "about 0.50 s apart" in start
    assert "about 61 nodes" in start
    assert "- Memory: at most 23.0 MiB per node, so 23.0 GiB hold about 1,024 nodes' worth" in lines[-2]
    assert (
        "- CPU: pinned to 1000/s, 20 nodes used about 20 x 0.5 = 10 % of the 200 % the machine's 2 cores" in (lines[-3])
    )
    assert many_nodes_limits({"config": {}}) == []


def test_a_start_longer_than_start_timeout_is_named_as_the_limit() -> None:
    runs = [run_row(20, None), run_row(60, None, ok=False, start_spread_s=31.9, startup_s=None)]
    start = next(x for x in many_nodes_limits(results_with(runs)) if x.startswith("- Start-up"))
    assert start == (
        "- Start-up: the processes of 60 nodes started over 31.9 s, longer than `START_TIMEOUT` = 30 s, "
        "within which each node must have all its peers connected from its own start."
    )


def test_the_terminal_line_of_a_run() -> None:
    line = row_line(run_row(5, None))
    assert line.startswith("5 nodes: start-up 4.0 s (processes 2.0 s apart); worst achieved/configured 0.99999;")
    assert "TCP 8..8/node (of 8)" in line
    assert line.endswith("; pass")


def test_the_eta_inside_a_step_counts_its_finished_parts_in_the_pace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half of a 400 s step's estimate done in 300 s: the rest will take 1.5 times its estimate too."""
    now = [0.0]
    monkeypatch.setattr("bench.progress.time.monotonic", lambda: now[0])
    progress = Progress([("many nodes", 400.0), ("simulator", 100.0)], started=0.0)
    progress.step("many nodes")
    now[0] = 300.0
    progress.part("run 5/8", 200.0)
    assert "(ETA 7:30 left, done ~" in capsys.readouterr().out.splitlines()[1]  # (200 + 100) x 1.5


def test_a_run_failed_on_its_figures_alone_names_its_ratio() -> None:
    """The suite's 20 nodes at 1000/s fell to 0.99798 with no problem line: the report crashed."""
    failed = {**run_row(20, 1000, ok=False), "problems": [], "min_ratio": 0.99798}
    lines = many_nodes_limits(results_with([run_row(3, 1000), failed]))
    assert (
        "- Nodes pinned to 1000/s: every N up to 3 passed; 20 nodes failed (worst achieved/configured 0.99798)."
    ) in lines

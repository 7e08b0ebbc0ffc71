"""Chaos runs (node.chaos): seeded random configurations and fault schedules against every
invariant (analysis.invariants). The schedules are the same for a seed everywhere, planted bugs
are caught and named with their seed, the command line says one line and exits by the result;
and the simulator's own parts that chaos relies on (SIGTERM, overlapping kills, livelock
detection, the invariants' columns) do what they say."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.invariants import check_clock_rules, check_fields, check_links, node_log
from analysis.loader import NodeLog, load_node
from node import chaos, simnet
from node.clock import LamportClock
from node.simulate import main
from node.simulation import SIGTERM, Fault, cluster, parse_fault, simulate
from node.virtual import EventHeap, SimulationError
from tests import logcheck

Run = dict[str, list[dict[str, Any]]]
SEEDS = 200  # in the fast suite (about 2 s on two cores); CI runs 1,000 (scripts/test)


def records(run: Run) -> str:
    """A run as JSON text: what a log file would hold (tuples become lists)."""
    return json.dumps(run, sort_keys=True)


def fault_free_seed() -> int:
    """The first seed whose schedule has no fault: every link must then account for every message."""
    return next(s for s in range(1000) if not chaos.generate(s).faults)


# -- the generator ---------------------------------------------------------------------------------
def test_a_seed_gives_the_same_schedule_in_another_interpreter() -> None:
    """The seed is all there is: another Python process (another hash seed) draws the same."""
    mine = [repr(chaos.generate(seed)) for seed in range(40)]
    code = "from node.chaos import generate; print([repr(generate(s)) for s in range(40)])"
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    theirs = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=Path.cwd()
    )
    assert theirs.stdout.strip() == repr(mine)
    assert len(set(mine)) == 40


def test_schedules_cover_every_fault_kind_and_overlap() -> None:
    schedules = [chaos.generate(seed) for seed in range(300)]
    kinds = {fault.kind for s in schedules for fault in s.faults}
    assert kinds == {"pause", "kill", "isolate", "cut", "term"}
    assert {s.nodes for s in schedules} == {2, 3, 4, 5}
    assert any("MAX_QUEUE" in s.env for s in schedules)
    assert {s.env["DELIVERY"] for s in schedules} == {"reliable", "at-most-once"}
    overlapping = [
        s
        for s in schedules
        if any(a.at < b.at < a.at + a.seconds for a in s.faults for b in s.faults if a is not b and a.kind != "term")
    ]
    assert len(overlapping) > 30


def test_schedules_keep_out_only_the_start_barriers_limit() -> None:
    """A fault begun before every node ticked ends RESTART_MARGIN before the end of the run (the
    held-up node must find its peers running: README, Limits); a SIGTERM comes after every node
    ticked and after a node killed before that has had time to connect again. Everything else
    goes: restarts after the end of the run, SIGTERMs during other faults."""
    late_restarts = overlapping_terms = 0
    for seed in range(500):
        schedule = chaos.generate(seed)
        others = [f for f in schedule.faults if f.kind != "term"]
        ticked = chaos.everyone_ticked(others)
        for fault in others:
            if fault.at < ticked:
                assert fault.at + fault.seconds <= schedule.duration - chaos.RESTART_MARGIN + 1e-9, seed
        for term in (f for f in schedule.faults if f.kind == "term"):
            assert term.at >= ticked, seed
            early_kills = [f for f in others if f.kind == "kill" and f.at < ticked]
            assert all(term.at >= f.at + f.seconds + chaos.RESTART_MARGIN - 1e-9 for f in early_kills), seed
            overlapping_terms += any(f.at <= term.at < f.at + f.seconds for f in others)
        late_restarts += any(f.kind == "kill" and f.at + f.seconds > schedule.duration for f in others)
    assert late_restarts > 10
    assert overlapping_terms > 10


def test_a_chaos_run_repeats_exactly_and_its_command_writes_the_same_run(tmp_path: Path) -> None:
    seed = next(s for s in range(100) if len(chaos.generate(s).faults) >= 3)
    schedule = chaos.generate(seed)
    first, _ = chaos.run_chaos(schedule)
    again, _ = chaos.run_chaos(chaos.generate(seed))
    assert records(first) == records(again)
    # The plain simulator command printed for the seed writes the same records into files.
    command = schedule.command().split()
    assert command[:3] == ["python", "-m", "node.simulate"]
    out = tmp_path / f"chaos-{seed}"
    argv = [*command[3 : command.index("--out")], "--out", str(out)]
    assert main(argv) == 0
    assert records(logcheck.load_run(out)) == records(first)


# -- the run, on the real code -----------------------------------------------------------------------
def test_seeds_keep_every_invariant() -> None:
    report = chaos.run_seeds(0, SEEDS, progress=False)
    assert [(r.seed, r.violations[:2]) for r in report.failed] == []
    assert (report.done, report.interrupted) == (SEEDS, False)


# -- planted bugs are caught --------------------------------------------------------------------------
def test_a_clock_that_forgets_to_increment_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def receive(self: LamportClock, timestamp: int) -> int:
        self.value = max(self.value, timestamp)  # the bug: max(clock, t), without + 1
        return self.value

    monkeypatch.setattr(LamportClock, "receive", receive)
    result = chaos.check_seed(0)
    assert any("rule gives" in v for v in result.violations), result.violations
    assert any("clock condition" in v for v in result.violations), result.violations


def test_a_frame_the_network_drops_silently_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """One value in 50 vanishes from a wire without a trace: lost in the middle of its link."""
    transmit = simnet.VirtualNetwork.transmit
    count = [0]

    def lossy(self: simnet.VirtualNetwork, wire: simnet.Wire, value: int) -> None:
        count[0] += 1
        if value != simnet.EOF and count[0] % 50 == 0:
            return
        transmit(self, wire, value)

    monkeypatch.setattr(simnet.VirtualNetwork, "transmit", lossy)
    seed = fault_free_seed()
    result = chaos.check_seed(seed)
    assert count[0] >= 50
    assert any(re.match(r"node\d->node\d: \d+ lost", v) for v in result.violations), result.violations


def test_a_crash_inside_the_simulator_is_one_line_of_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: simnet.VirtualNetwork, wire: simnet.Wire, value: int) -> None:
        raise KeyError("planted")

    monkeypatch.setattr(simnet.VirtualNetwork, "transmit", broken)
    result = chaos.check_seed(fault_free_seed())
    assert len(result.violations) == 1
    assert re.fullmatch(r"crash: KeyError: 'planted' at tests/unit/test_chaos\.py:\d+ \(broken\)", result.violations[0])


def test_a_hang_is_a_violation_of_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(self: EventHeap, until: float) -> None:
        raise SimulationError("still running at 99.000 s of virtual time (limit 98.000 s)")

    monkeypatch.setattr(EventHeap, "run", hang)
    assert chaos.check_seed(3).violations == ["hang: still running at 99.000 s of virtual time (limit 98.000 s)"]


# -- the command line ---------------------------------------------------------------------------------
def test_cli_prints_one_line_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--chaos", "--seeds", "20", "--seed", "100"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"20 schedules, 0 violations, \d+\.\d s\n", out), out


def test_cli_names_the_first_failing_seed_and_its_replay(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(LamportClock, "receive", lambda self, t: max(self.value, t))  # the planted bug
    assert main(["--chaos", "--seeds", "10", "--seed", "5"]) == 1
    captured = capsys.readouterr()
    assert re.fullmatch(r"10 schedules, \d+ violations, \d+\.\d s\n", captured.out), captured.out
    last = captured.err.strip().splitlines()[-1]
    match = re.fullmatch(
        r"chaos: first failing seed (\d+): .+; replay: python -m node.simulate --chaos --seed (\d+)", last
    )
    assert match is not None, last
    assert match[1] == match[2]
    assert 5 <= int(match[1]) < 15
    # The replay: the configuration, the schedule, every violation; exit 1.
    assert main(["--chaos", "--seed", match[1]]) == 1
    replay = capsys.readouterr()
    for part in (f"seed {match[1]}: ", "as files: ", "violation: "):
        assert part in replay.out


def test_cli_replays_a_good_seed_and_refuses_seeds_without_chaos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--chaos", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed 7: ")
    assert out.endswith("seed 7: no violations\n")
    with pytest.raises(SystemExit) as exited:
        main(["--seeds", "5"])
    assert exited.value.code == 2
    assert "--seeds N needs --chaos" in capsys.readouterr().err


# -- the simulator's parts chaos relies on -------------------------------------------------------------
def test_term_stops_one_node_early_as_sigterm_does() -> None:
    """`--term node2@3`: node2 stops at 3 s with the reason a real SIGTERM gives (node.realtime),
    drains and exits 0; the others run their whole duration and only lose a peer."""
    fault = parse_fault("term", "node2@3", ("node1", "node2", "node3"))
    assert (fault, str(fault)) == (Fault("term", ("node2",), 3.0, 0.0), "--term node2@3")
    with pytest.raises(ValueError, match="expected NODE@T"):
        parse_fault("term", "node2@3:1", ("node1", "node2", "node3"))
    sim = cluster(seed=2, duration=8, env={"STATUS_INTERVAL": "0"}, faults=(fault,))
    run = logcheck.simulated_run(sim)
    stop = run["node2"][-1]
    assert (stop["event"], stop["reason"]) == ("stop", SIGTERM) == ("stop", "signal SIGTERM")
    assert 3.0 <= stop["ts"] <= 3.0 + 0.5 + 0.01  # at most the signal's drain (node.core)
    assert [r["reason"] for n in ("node1", "node3") for r in run[n] if r["event"] == "stop"] == ["duration"] * 2
    assert logcheck.check_tick_counts({n: run[n] for n in ("node1", "node3")}, 8) == []
    assert check_fields(run) == check_clock_rules(run) == []


def test_term_of_a_paused_node_waits_for_it_to_resume() -> None:
    """A signal to a frozen process is handled when it runs again; to a killed one, never."""
    faults = (Fault("pause", ("node1",), 2.0, 3.0), Fault("term", ("node1",), 3.0, 0.0))
    run = logcheck.simulated_run(cluster(seed=2, duration=8, env={"STATUS_INTERVAL": "0"}, faults=faults))
    stop = run["node1"][-1]
    assert stop["reason"] == SIGTERM
    assert 5.0 <= stop["ts"] <= 5.6
    faults = (Fault("kill", ("node1",), 2.0, 3.0), Fault("term", ("node1",), 3.0, 0.0))
    run = logcheck.simulated_run(cluster(seed=2, duration=8, env={"STATUS_INTERVAL": "0"}, faults=faults))
    assert [r["reason"] for r in run["node1"] if r["event"] == "stop"] == ["duration"]


def test_overlapping_kills_restart_the_node_once() -> None:
    """Killed at 2 s for 3 s, and again at 3 s (already down) for 1 s: it is started at 4 s; the
    start at 5 s finds it running and does nothing (docker start), rather than booting a second
    incarnation beside the first on the same log (which then wrote two stop lines)."""
    faults = (Fault("kill", ("node1",), 2.0, 3.0), Fault("kill", ("node1",), 3.0, 1.0))
    outcome = simulate(cluster(seed=1, duration=10, env={"STATUS_INTERVAL": "0"}, faults=faults))
    assert outcome.ok, outcome.errors
    assert outcome.exit_codes["node1"] == [None, 0]


def test_a_livelock_is_reported_not_run_forever() -> None:
    """Callbacks that schedule each other at one instant never reach the time limit: the heap
    says so after 2**18 of them rather than spinning (it had no bound: `--delay 0` hung)."""
    heap = EventHeap()
    calls = [0]

    def again() -> None:
        calls[0] += 1
        if calls[0] < 2_000_000:  # bounded, so that a heap without the check ends (and the test fails)
            heap.at(heap.now, again)

    heap.at(1.0, again)
    with pytest.raises(SimulationError, match=r"livelock: 262,144 callbacks at 1\.000000 s"):
        heap.run(100.0)
    assert calls[0] < 2_000_000


def test_node_log_from_records_is_what_the_loader_reads_from_the_file(tmp_path: Path) -> None:
    """The invariants match records in memory on the same columns the analysis reads from files."""
    schedule = chaos.generate(next(s for s in range(100) if len(chaos.generate(s).faults) >= 3))
    run, _ = chaos.run_chaos(schedule)
    for node, lines in run.items():
        path = tmp_path / f"{node}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in lines))
        loaded = load_node(path, [])
        assert loaded is not None
        ours = node_log(node, json.loads(json.dumps(lines)))
        assert plain(ours) == plain(loaded), node


def plain(log: NodeLog) -> dict[str, Any]:
    """A node log's fields, its columns as lists (arrays compare element by element)."""
    return {key: value.tolist() if hasattr(value, "tolist") else value for key, value in vars(log).items()}


def test_a_restart_below_its_clock_and_a_line_after_stop_are_caught() -> None:
    run = logcheck.simulated_run(cluster(seed=1, duration=6, faults=(Fault("kill", ("node1",), 2.0, 1.0),)))
    lossy = {(a, b) for a in run for b in run if a != b and "node1" in (a, b)}
    assert check_clock_rules(run) == check_fields(run) == check_links(run, lossy) == []
    lines = run["node1"]
    second = max(i for i, r in enumerate(lines) if r["event"] == "start")
    backwards = {**run, "node1": [*lines[:second], {**lines[second], "clock": 0}, *lines[second + 1 :]]}
    assert any("backwards" in p for p in check_clock_rules(backwards))
    after = {**run, "node2": [*run["node2"], {**run["node2"][-2]}]}
    assert any("after the stop line" in p for p in check_fields(after))

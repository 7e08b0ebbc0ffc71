"""experiments.evidence: its statistics and classifications on hand-made inputs worked out by hand,
the largest-jump context from a tiny hand-written log, and the whole report on the kept 25 runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from analysis.columns import columns
from analysis.loader import load_run
from experiments.configs import RESULTS
from experiments.evidence import backlogged, largest_jump, main, read_run_logs, write_evidence
from experiments.stats import paired_difference, share_se, t_interval, t_quantile, welch_difference
from tests.unit.test_analysis import rec, receive, start, stop_line, write


def test_t_quantile_matches_the_tables() -> None:
    # Student's t, two-sided 95 %: df 1, 2, 4, 30 (printed tables).
    for df, expected in ((1, 12.706), (2, 4.303), (4, 2.776), (30, 2.042)):
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)
    with pytest.raises(ValueError, match="t_quantile: need"):
        t_quantile(0.4, 3)


def test_t_interval_and_differences() -> None:
    # 1..5: mean 3, SD sqrt(2.5), half width 2.776 * sqrt(2.5) / sqrt(5) = 1.963.
    i = t_interval([1, 2, 3, 4, 5])
    assert i.mean == 3
    assert i.low == pytest.approx(1.037, abs=1e-3)
    assert i.high == pytest.approx(4.963, abs=1e-3)
    assert i.n == "5"
    assert i.excludes_zero
    assert i.text() == "3.00 [1.04, 4.96] (n=5)"
    assert t_interval([2.0, math.nan]).text() == "2.00 (n=1, no interval)"  # NaN ignored; one value, no interval
    # Welch: variances 1/3 and 1/3 of the mean, df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4; half 2.776 * sqrt(2/3).
    d = welch_difference([1, 2, 3], [4, 5, 6])
    assert d.mean == 3
    assert d.high == pytest.approx(3 + 2.776 * math.sqrt(2 / 3), abs=1e-3)
    assert d.n == "3+3"
    # Paired: differences 1, 2, 3: mean 2, half width 4.303 / sqrt(3) = 2.484, so the interval holds 0.
    p = paired_difference([1, 2, 3], [2, 4, 6])
    assert p.mean == 2
    assert p.low == pytest.approx(2 - 2.484, abs=1e-3)
    assert not p.excludes_zero


def test_share_standard_error_is_never_zero() -> None:
    # Agresti-Coull: 59 of 60 ticks -> p = 61/64 over 64.
    assert share_se(59, 60) == pytest.approx(math.sqrt(61 / 64 * 3 / 64 / 64))
    assert share_se(0, 60) > 0


def test_backlog_classification() -> None:
    # (1, 6, 6), MAX_EVENT_NUM 10: the slow node receives 2 messages a second and takes 1 (notebook section 5).
    assert backlogged([1, 6, 6], 10) == [True, False, False]
    assert backlogged([5, 6, 6], 10) == [False, False, False]
    assert backlogged([6, 6, 6], 5) == [False, False, False]
    # fewer-internal-1 of the kept runs: both nodes at 2/s fall behind the one at 6/s.
    assert backlogged([2, 2, 6], 5) == [True, True, False]


def tiny_run() -> dict[str, list[dict[str, Any]]]:
    """a at 1/s: internal 1, internal 2, receive 3 (clock 4, one left), receive 9 (clock 10), internal 11.
    Its largest jump: 10 - 4 = 6 at tick 3, right after a receive, the message 103.0 - 101.6 = 1.4 s in the
    queue, which it found holding 1 message. b at 1/s: internal 1, 2, 3, then receive 7 -> 8: jump 5
    after three ticks without a message (no earlier receive), waited 0.1 s."""
    a = [
        start("a", 1, ["b"]),
        rec(100.0, "a", "internal", 1, tick=0, late_ms=0.1),
        rec(101.0, "a", "internal", 2, tick=1, late_ms=0.1),
        receive(102.0, "a", 4, "b", 3, 101.5, tick=2, queue=1),
        receive(103.0, "a", 10, "b", 9, 101.6, tick=3),
        rec(104.0, "a", "internal", 11, tick=4, late_ms=0.1),
        stop_line(104.5, "a", 11, {"b": 0}),
    ]
    b = [
        start("b", 1, ["a"]),
        rec(100.0, "b", "internal", 1, tick=0, late_ms=0.1),
        rec(101.0, "b", "internal", 2, tick=1, late_ms=0.1),
        rec(102.0, "b", "internal", 3, tick=2, late_ms=0.1),
        receive(103.0, "b", 8, "a", 7, 102.9, tick=3),
        stop_line(103.5, "b", 8, {"a": 0}),
    ]
    return {"a": a, "b": b}


def test_largest_jump_context_from_a_tiny_log(tmp_path: Path) -> None:
    run = load_run(write(tmp_path / "tiny", tiny_run()))
    a = largest_jump("a", columns(run.nodes["a"]), 100.0)
    assert a is not None
    assert (a.tick, a.t, a.jump, a.kind, a.ties) == (3, 3.0, 6, "receive", 0)
    assert a.after_receive
    assert a.wait_s == pytest.approx(1.4)
    assert a.ticks_since_receive == 1
    assert a.queue_seen == 1
    b = largest_jump("b", columns(run.nodes["b"]), 100.0)
    assert b is not None
    assert (b.tick, b.jump, b.after_receive, b.ticks_since_receive) == (3, 5, False, None)
    assert b.wait_s == pytest.approx(0.1)
    logs = read_run_logs(tmp_path / "tiny")
    assert logs.largest["a"] == a
    assert logs.last_draw_t == {"a": 4.0, "b": 2.0}  # the last tick that found no message


def test_write_evidence_on_the_kept_runs(tmp_path: Path) -> None:
    """Every section from the kept 25 runs, with a few simulated runs; the review's figures come out."""
    written = write_evidence([RESULTS], tmp_path, sim_seeds=4, noise_seeds=2)
    names = {p.name for p in written}
    assert names == {"evidence.md", "evidence.json", "e2_largest_jump_vs_wait.png", "e3_jump_vs_ratio.png",
                     "e4_receive_share.png"}  # fmt: skip
    assert all(p.stat().st_size > 0 for p in written)
    text = (tmp_path / "evidence.md").read_text()
    for section in ("E1", "E2", "E3", "E4", "E5", "E6", "E7"):
        assert f"## {section}." in text
    data = json.loads((tmp_path / "evidence.json").read_text())
    # E2: extreme-1's slow node jumped 14 for a message 10.6 s in the queue, right after another receive.
    slow = {r["run"]: r for r in data["e2"]["nodes"] if r["slowest"]}
    assert len(slow) == 25
    assert slow["extreme-1"]["jump"] == 14
    assert slow["extreme-1"]["wait_s"] == pytest.approx(10.6, abs=0.05)
    assert slow["extreme-1"]["after_receive"]
    assert slow["baseline-2"]["jump"] == 17
    # E3: every node of every run; E4: every run; E6: the slow node of extreme sends 0 to 2 a minute.
    assert len(data["e3"]) == 75
    assert len(data["e4"]) == 25
    extreme = [r for r in data["e6"] if r["run"].startswith("extreme")]
    assert all(r["messages_per_min"] <= 2 for r in extreme)
    # E7: the mean of the extreme runs' gap maxima against the largest.
    e7 = next(r for r in data["e7"] if r["config"] == "extreme")
    assert e7["gap max"]["mean"] == pytest.approx(188.4)
    assert e7["gap max"]["largest"] == 214
    # E1: both configurations simulated with the seeds asked for.
    assert len(data["e1_simulated"]["narrow-rates"]) == 4


def test_main_refuses_a_folder_without_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no index.json" in capsys.readouterr().err

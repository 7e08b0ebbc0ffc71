"""The experiment tooling's pure parts: seeds, configurations, the mean-field theory, the report."""

import json
import shutil
from pathlib import Path

import pytest

from experiments.configs import CONFIGS, run_seed
from experiments.tables import write_report
from experiments.theory import predict

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"


def test_run_seeds_are_stable_and_distinct() -> None:
    seeds = {run_seed(2026, c, i) for c in CONFIGS for i in range(1, 6)}
    assert len(seeds) == 25
    assert run_seed(2026, "baseline", 1) == run_seed(2026, "baseline", 1)
    assert all(0 <= s < 2**63 for s in seeds)


def test_configurations_match_the_assignment() -> None:
    assert CONFIGS["baseline"].env == {"MIN_CLOCK_RATE": "1", "MAX_CLOCK_RATE": "6", "MAX_EVENT_NUM": "10"}
    assert CONFIGS["fewer-internal"].max_event_num < CONFIGS["baseline"].max_event_num
    assert CONFIGS["extreme"].env["NODE1_CLOCK_RATE"] == "1"


def test_theory_one_slow_node() -> None:
    """Rates 1, 6, 6 and MAX_EVENT_NUM=10 (p = 0.2 per draw and peer), worked by hand:
    the slow node never draws (backlogged), each fast node draws D = 6 - 0.2 D, so D = 5;
    the slow node gets 0.2 x (5 + 5) = 2 messages/s and can take 1: its backlog grows 1/s."""
    slow, fast, _ = predict([1, 6, 6], 10)
    assert slow.arrivals == pytest.approx(2.0)
    assert slow.queue_growth == pytest.approx(1.0)
    assert slow.receive_share == 1.0
    assert slow.mean_jump is None
    assert fast.draws == pytest.approx(5.0)
    assert fast.receive_share == pytest.approx(1 / 6)
    assert fast.mean_jump == 1.0


def test_theory_equal_rates_keep_up() -> None:
    """Three nodes at 5/s, p = 0.2: D = 5 - 0.4 D, so D = 25/7 and each receives 10/7 per second."""
    for p in predict([5, 5, 5], 10):
        assert p.arrivals == pytest.approx(10 / 7)
        assert p.queue_growth == 0
        assert p.mean_jump == 1.0


def test_theory_rejects_impossible_input() -> None:
    with pytest.raises(ValueError, match="two nodes"):
        predict([3], 10)
    with pytest.raises(ValueError, match="MAX_EVENT_NUM"):
        predict([1, 2, 3], 2)


def test_report_is_rebuilt_from_kept_results(tmp_path: Path) -> None:
    """`python -m experiments report` on the kept results gives the tables the notebook quotes."""
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("*.png", "logs"))
    written = write_report(copy)
    assert (copy / "tables.md").read_text() == (RESULTS / "tables.md").read_text()
    assert json.loads((copy / "aggregate.json").read_text()) == json.loads((RESULTS / "aggregate.json").read_text())
    assert all(p.stat().st_size > 0 for p in written)

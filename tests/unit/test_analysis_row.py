"""The suite's analysis rows (bench.analysis_row) on small runs: every output, the json.loads loop, the ratio."""

from __future__ import annotations

from pathlib import Path

from bench.analysis_row import analysis_row, many_nodes_row


def test_the_analysis_row_times_the_analysis_against_the_json_loads_loop(tmp_path: Path) -> None:
    row = analysis_row(5_000, tmp_path / "run", rounds=2)
    assert row["status"] == "ok", row
    assert {"summary.json", "clock.png", "spacetime.png", "shiviz.log", "explorer.html"} <= set(row["outputs"])
    assert len(row["analysis_runs_s"]) == len(row["json_loads_runs_s"]) == 2
    assert row["ratio"] > 0
    assert row["json_loads_s"] > 0
    assert 50 < row["analysis_peak_rss_mb"] < 2000  # the analysis's own high-water mark, in MB


def test_the_many_nodes_row_analyses_a_run_of_that_many_nodes(tmp_path: Path) -> None:
    row = many_nodes_row(tmp_path / "many", nodes=12, duration=3.0)
    assert row["status"] == "ok", row
    assert row["nodes"] == 12
    assert row["events"] > 12
    assert row["messages"] > 0
    assert row["analysis_s"] > 0
    assert row["analysis_peak_rss_mb"] is not None

"""summary.json follows node.schema's `Summary`; the API (analysis.api) and the kept old summaries.

A realistic run (the simulator, faults included) gives a summary with no `summary_problems`; a
node without tick events still gets a complete `NodeSummary`; every summary kept under
experiments/results (schema 1) is still read by analysis.compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from analysis.api import analyse_folder, load_and_analyse
from analysis.compare import comparison_rows, comparison_text, write_comparison
from analysis.summaryfile import read_summary, write_summary
from node.schema import SUMMARY_SCHEMA, NodeSummary, Summary, summary_problems
from node.simulation import Fault, cluster, write_simulation
from tests.unit.test_analysis import rec, start, stop_line, two_node_run, write

KEPT = Path(__file__).resolve().parents[2] / "experiments" / "results" / "runs"


def simulated_run(folder: Path, **options: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sim = cluster(3, seed=1, duration=20, rates={"node1": 1, "node2": 6, "node3": 6}, max_event_num=4, **options)
    outcome = write_simulation(sim, folder)
    assert outcome.ok, outcome.errors
    return folder


def test_a_simulated_runs_summary_matches_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = simulated_run(tmp_path / "sim")
    analysis = load_and_analyse(folder)
    assert summary_problems(analysis.summary) == []
    assert analysis.summary["schema"] == SUMMARY_SCHEMA
    assert analysis.summary["run"]["simulated"] is True  # format 2: the start lines say time "virtual"
    assert not (folder / "summary.json").exists()  # load_and_analyse writes nothing
    summary = analyse_folder(folder, plots=False)
    assert summary is not None
    written = json.loads((folder / "summary.json").read_text())
    assert summary_problems(written) == []
    assert written == json.loads(json.dumps(summary))
    assert written["causality"]["shiviz"]["complete"] is True
    out = capsys.readouterr().out
    # The clock condition is checked once and said once, in the line about happens-before.
    assert out.count("clock condition") == 1
    received = written["messages"]["received"]
    assert f"(clock condition: holds for all {received:,} messages;" in out


def test_a_run_with_faults_matches_the_schema(tmp_path: Path) -> None:
    faults = (Fault("kill", ("node2",), 5.0, 2.0), Fault("cut", ("node1", "node3"), 9.0, 2.0))
    folder = simulated_run(tmp_path / "faults", faults=faults, jitter=0.002)
    summary = analyse_folder(folder, plots=False, shiviz=False, quiet=True)
    assert summary is not None
    assert summary_problems(summary) == []
    assert summary["nodes"]["node2"]["incarnations"] == 2
    assert "shiviz" not in summary["causality"]


def test_a_node_without_ticks_gets_a_complete_summary(tmp_path: Path) -> None:
    run = two_node_run()
    run["c"] = [start("c", 3, ["a", "b"]), stop_line(101.0, "c", 0, {"a": 0, "b": 0})]
    summary = load_and_analyse(write(tmp_path, run)).summary
    assert summary_problems(summary) == []
    c = summary["nodes"]["c"]
    assert set(c) == set(NodeSummary.__annotations__)
    assert (c["rate"], c["ticks"], c["gap"], c["first_tick_ts"], c["achieved_rate"]) == (3, 0, None, None, None)
    assert (c["jumps"]["count"], c["jumps"]["mean"], c["lateness_ms"]["p99"]) == (0, None, None)
    assert c["queue"] == {"mean": None, "max": None, "end": 0, "nonempty_share": None, "wait_ms": c["queue"]["wait_ms"]}
    assert c["events"] == {"start": 1, "stop": 1}


def test_simulated_is_read_from_format_1_configuration_and_run_json(tmp_path: Path) -> None:
    real = load_and_analyse(write(tmp_path / "real", two_node_run())).summary
    assert real["run"]["simulated"] is False
    run = two_node_run()
    run["a"][0]["config"] = run["a"][0]["config"] | {"simulator": True}  # how format 1 said it
    assert load_and_analyse(write(tmp_path / "old", run)).summary["run"]["simulated"] is True
    folder = write(tmp_path / "info", two_node_run())
    (folder / "run.json").write_text(json.dumps({"run_id": "info", "seed": 3, "simulated": True}))
    assert load_and_analyse(folder).summary["run"]["simulated"] is True


def test_a_summary_that_does_not_match_the_schema_is_never_written(tmp_path: Path) -> None:
    summary = load_and_analyse(write(tmp_path, two_node_run())).summary
    broken = cast(dict[str, Any], json.loads(json.dumps(summary)))
    broken["nodes"]["a"]["jumpz"] = broken["nodes"]["a"].pop("jumps")
    with pytest.raises(ValueError, match=r"summary\.nodes\.a\.jumps: missing"):
        write_summary(cast(Summary, broken), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    path = write_summary(summary, tmp_path)
    assert read_summary(path) == json.loads(json.dumps(summary))


def test_nothing_to_analyse_gives_none(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(rec(1.0, "a", "teleport", 0)) + "\n")
    assert analyse_folder(tmp_path, plots=False) is None


def test_every_kept_summary_is_still_read_by_compare(tmp_path: Path) -> None:
    paths = sorted(KEPT.glob("*/summary.json"))
    assert len(paths) >= 25
    summaries = [read_summary(path) for path in paths]
    assert all(s["schema"] in (1, 2, SUMMARY_SCHEMA) for s in summaries)
    rows = comparison_rows(summaries)
    assert len(rows) == sum(len(s["nodes"]) for s in summaries)
    assert all("-" not in row[3:5] for row in rows)  # rates and achieved ratios were all there
    assert "baseline-1" in comparison_text(summaries)
    md, js = write_comparison(summaries, tmp_path)
    assert md.read_text().startswith("# Runs compared")
    assert len(json.loads(js.read_text())) == len(summaries)


def test_compare_shows_what_an_old_partial_summary_lacks(tmp_path: Path) -> None:
    """Schema 1 wrote a node without ticks as {rate, ticks, events} only: shown with '-'."""
    old = {"schema": 1, "run": {"run_id": "old"}, "nodes": {"n1": {"rate": 2, "ticks": 0, "events": {}}}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(old))
    row = comparison_rows([read_summary(path)])[0]
    assert row[:4] == ["old", "-", "n1", "2"]
    assert set(row[4:]) == {"-"}

"""Run folders: one per run, never reused, `latest` points to the newest, the seed is kept."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.config import RunOptions
from node.runfolder import RunFolderError, create_run, find_run, read_run_seed, run_id_for

MOMENT = datetime(2026, 11, 25, 15, 6, 41, tzinfo=UTC)


def test_folder_is_named_by_time_and_latest_follows(tmp_path: Path) -> None:
    folder, seed = create_run(RunOptions(tmp_path, None, 7), MOMENT)
    assert folder.name == "2026-11-25_15-06-41" == run_id_for(MOMENT)
    assert seed == 7
    assert json.loads((folder / "run.json").read_text())["seed"] == 7
    assert (tmp_path / "latest").resolve() == folder.resolve()
    assert find_run(RunOptions(tmp_path, None, None)) == folder.resolve()
    assert read_run_seed(folder) == 7


def test_second_run_in_the_same_second_gets_its_own_folder(tmp_path: Path) -> None:
    first, _ = create_run(RunOptions(tmp_path, None, 1), MOMENT)
    second, _ = create_run(RunOptions(tmp_path, None, 2), MOMENT)
    assert first != second
    assert second.name == "2026-11-25_15-06-41-2"
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert read_run_seed(first) == 1


def test_unseeded_runs_draw_and_record_a_seed(tmp_path: Path) -> None:
    folder, seed = create_run(RunOptions(tmp_path, None, None), MOMENT)
    assert read_run_seed(folder) == seed


def test_named_run_is_never_overwritten(tmp_path: Path) -> None:
    folder, _ = create_run(RunOptions(tmp_path, "exp", 1), MOMENT)
    (folder / "node1.jsonl").write_text("{}\n")
    with pytest.raises(RunFolderError, match="already holds a run"):
        create_run(RunOptions(tmp_path, "exp", 1), MOMENT)


def test_node_without_run_or_latest_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="latest"):
        find_run(RunOptions(tmp_path, None, None))
    with pytest.raises(RunFolderError, match="no such folder"):
        find_run(RunOptions(tmp_path / "missing", None, None))


def test_unreadable_seed_is_none(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("not json")
    assert read_run_seed(tmp_path) is None

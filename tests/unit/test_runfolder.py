"""Run folders: one per run, never reused, `latest` and each project's link lead to the newest,
a node accepts only a run folder of its own project directly in LOG_DIR, with room for the run."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from node import simulate
from node.config import RunOptions, load_config
from node.runfolder import (
    RunFolderError,
    analysis_bytes_bound,
    check_free_space,
    create_run,
    find_run,
    node_run_folder,
    project_link,
    read_run_seed,
    run_bytes_bound,
    run_id_for,
    space_error,
)

MOMENT = datetime(2026, 11, 25, 15, 6, 41, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
NODE = {"NODE_ID": "node1", "PEERS": "node2:5000,node3:5000"}


def test_folder_is_named_by_time_and_latest_follows(tmp_path: Path) -> None:
    run = create_run(RunOptions(tmp_path, None, 7), MOMENT)
    assert run.folder.name == "2026-11-25_15-06-41" == run_id_for(MOMENT)
    assert run.seed == 7
    assert json.loads((run.folder / "run.json").read_text())["seed"] == 7
    assert (tmp_path / "latest").resolve() == run.folder.resolve()
    assert find_run(RunOptions(tmp_path, None, None)) == run.folder.resolve()
    assert read_run_seed(run.folder) == 7
    assert run.notes == ()


def test_second_run_in_the_same_second_gets_its_own_folder(tmp_path: Path) -> None:
    first = create_run(RunOptions(tmp_path, None, 1), MOMENT).folder
    second = create_run(RunOptions(tmp_path, None, 2), MOMENT).folder
    assert first != second
    assert second.name == "2026-11-25_15-06-41-2"
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert read_run_seed(first) == 1


def test_unseeded_runs_draw_and_record_a_seed(tmp_path: Path) -> None:
    run = create_run(RunOptions(tmp_path, None, None), MOMENT)
    assert read_run_seed(run.folder) == run.seed


def test_named_run_is_never_overwritten(tmp_path: Path) -> None:
    folder = create_run(RunOptions(tmp_path, "exp", 1), MOMENT).folder
    (folder / "node1.jsonl").write_text("{}\n")
    with pytest.raises(RunFolderError, match="already holds a run"):
        create_run(RunOptions(tmp_path, "exp", 1), MOMENT)


def test_named_run_is_claimed_once_even_while_still_empty(tmp_path: Path) -> None:
    """Two inits given one RUN_ID: the second finds run.json (written exclusively) and refuses."""
    create_run(RunOptions(tmp_path, "exp", 1, "a"), MOMENT)
    with pytest.raises(RunFolderError, match="already holds a run"):
        create_run(RunOptions(tmp_path, "exp", 2, "b"), MOMENT)
    assert read_run_seed(tmp_path / "exp") == 1


def test_node_without_run_or_latest_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="latest"):
        find_run(RunOptions(tmp_path, None, None))
    with pytest.raises(RunFolderError, match="no such folder"):
        find_run(RunOptions(tmp_path / "missing", None, None))


def test_unreadable_seed_is_none(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("not json")
    assert read_run_seed(tmp_path) is None


# -- issue 12: RUN_ID and a `latest` that is not a link ---------------------------------------------
def init(log_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m node.runfolder` (the compose init service) as compose runs it."""
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LOG_DIR": str(log_dir), **env}
    return subprocess.run(
        [sys.executable, "-m", "node.runfolder"], env=environment, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "run_id",
    ["latest", "LATEST", "a/b", "..", "../escape", ".hidden", "x" * 101, "tab\there", "bell\x07", "-dash"],
)
def test_unsafe_or_reserved_run_id_is_one_line_and_exit_2(tmp_path: Path, run_id: str) -> None:
    """RUN_ID=latest used to make a folder `latest`, after which every init failed with a
    traceback (os.replace cannot put the link over a folder) until logs/ was cleaned by hand."""
    result = init(tmp_path, RUN_ID=run_id)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("init: RUN_ID=")
    assert list(tmp_path.iterdir()) == []
    assert init(tmp_path).returncode == 0  # and the next run works


def test_a_latest_that_is_a_folder_is_moved_aside_not_lost(tmp_path: Path) -> None:
    """A run folder called `latest` (made by an earlier version that allowed RUN_ID=latest)."""
    old = tmp_path / "latest"
    old.mkdir()
    (old / "node1.jsonl").write_text("{}\n")
    result = init(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "was a folder, not the link to the newest run: moved it to" in result.stdout
    assert (tmp_path / "latest").is_symlink()
    (moved,) = tmp_path.glob("latest-moved-*")
    assert (moved / "node1.jsonl").read_text() == "{}\n"
    assert init(tmp_path).returncode == 0  # every later run works too
    assert len(list(tmp_path.glob("latest-moved-*"))) == 1


def test_a_latest_that_is_a_file_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "latest").write_text("notes\n")
    run = create_run(RunOptions(tmp_path, None, 1), MOMENT)
    aside = tmp_path / "latest-moved-2026-11-25_15-06-41"
    assert run.notes == (f"{tmp_path / 'latest'} was a file, not the link to the newest run: moved it to {aside}",)
    assert aside.read_text() == "notes\n"
    assert (tmp_path / "latest").resolve() == run.folder


def test_run_id_naming_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "exp").write_text("not a folder")
    with pytest.raises(RunFolderError, match="exists and is not a run folder"):
        create_run(RunOptions(tmp_path, "exp", 1), MOMENT)
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        find_run(RunOptions(tmp_path, "exp", 1))


def test_unwritable_log_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = init(tmp_path / "missing")
    assert (result.returncode, result.stderr.count("\n")) == (2, 1), result.stderr
    assert "no such folder" in result.stderr


# -- issue 12: links, projects and where a node may log ---------------------------------------------
def test_temporary_link_name_is_never_another_inits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every init container is pid 1: a temporary link named by pid was another project's init's
    link in flight (removed under it, or moved into place as ours)."""
    monkeypatch.setattr(os, "getpid", lambda: 1)
    in_flight = tmp_path / ".latest.1"
    in_flight.symlink_to("other-projects-run")
    create_run(RunOptions(tmp_path, None, 1), MOMENT)
    assert os.readlink(in_flight) == "other-projects-run"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_each_project_follows_its_own_run(tmp_path: Path) -> None:
    """Project a's init, then project b's, before a's nodes start: `latest` is b's run, yet a's
    nodes (and its summary) follow a's own link."""
    a = create_run(RunOptions(tmp_path, None, 1, "a"), MOMENT).folder
    b = create_run(RunOptions(tmp_path, None, 2, "b"), MOMENT).folder
    assert (tmp_path / "latest").resolve() == b
    assert (tmp_path / project_link("a")).resolve() == a
    assert find_run(RunOptions(tmp_path, None, None, "a")) == a
    assert find_run(RunOptions(tmp_path, None, None, "b")) == b
    assert json.loads((a / "run.json").read_text())["project"] == "a"
    # What `python -m node` calls: the project comes from the environment, as compose passes it.
    config = load_config({**NODE, "LOG_DIR": str(tmp_path), "COMPOSE_PROJECT_NAME": "a"})
    assert node_run_folder(config) == a


def test_node_refuses_another_projects_run(tmp_path: Path) -> None:
    b = create_run(RunOptions(tmp_path, None, 2, "b"), MOMENT).folder
    (tmp_path / project_link("a")).symlink_to(b.name)
    with pytest.raises(RunFolderError, match="compose project 'b''s run, not 'a''s"):
        find_run(RunOptions(tmp_path, None, None, "a"))
    with pytest.raises(RunFolderError, match="not 'a''s"):
        find_run(RunOptions(tmp_path, b.name, None, "a"))


@pytest.mark.parametrize("target", ["outside", ".", "nested/deeper", "dangling"])
def test_node_accepts_only_a_folder_directly_in_log_dir(tmp_path: Path, target: str) -> None:
    logs = tmp_path / "logs"
    (logs / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (logs / "latest").symlink_to(tmp_path / "outside" if target == "outside" else target)
    with pytest.raises(RunFolderError, match="which is not a run folder directly in") as caught:
        find_run(RunOptions(logs, None, None))
    assert "\n" not in str(caught.value)


def test_run_id_that_is_a_link_out_of_log_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "exp").symlink_to(tmp_path / "outside")
    with pytest.raises(RunFolderError, match="not a run folder directly in"):
        find_run(RunOptions(tmp_path / "logs", "exp", None))


def test_node_refuses_a_latest_that_is_not_a_link(tmp_path: Path) -> None:
    (tmp_path / "latest").mkdir()
    with pytest.raises(RunFolderError, match="latest is not a link"):
        find_run(RunOptions(tmp_path, None, None))


# -- issue 12: room for what the run will write ------------------------------------------------------
def test_space_error_is_pure_and_says_both_sizes() -> None:
    assert space_error(1000, 1000) is None
    assert space_error(1000, 5000) is None
    assert space_error(48_000_000, 12_300_000) == (
        "12.3 MB free, but the run may write up to 48.0 MB: free some space or shorten DURATION"
    )


def test_run_bytes_bound_by_hand() -> None:
    """Defaults: 3 nodes, up to 6 ticks/s for 60 s, status every 5 s."""
    config = load_config(NODE)
    line = 224 + 3 * (5 + 4)  # every id, with its quotes and separator
    per_node = 360 * line + 13 * 400 + 8192 + 2 * 1024
    analysis = 2 * 2**20 + 6 * 2048 + 10_000 * (128 + 3 * (5 + 16))
    assert analysis_bytes_bound(["node1", "node2", "node3"]) == analysis == 4_019_440
    assert run_bytes_bound(config) == 3 * per_node + analysis == 4_336_840
    assert run_bytes_bound(load_config({**NODE, "DURATION": "0"})) is None  # until stopped: no bound
    pinned = load_config({**NODE, "CLOCK_RATE": "100", "STATUS_INTERVAL": "0"})
    assert run_bytes_bound(pinned) == 3 * (6000 * line + 8192 + 2 * 1024) + analysis


def test_run_bytes_bound_holds_for_a_simulated_run(tmp_path: Path) -> None:
    """The node's own code in virtual time writes no more than the bound, and not far below it."""
    out = tmp_path / "sim"
    argv = ["--rates", "200,300,400", "--duration", "10", "--seed", "3", "--out", str(out)]
    assert simulate.main([*argv, "--set", "STATUS_INTERVAL=1"]) == 0
    written = sum(p.stat().st_size for p in out.glob("*.jsonl"))
    config = load_config({**NODE, "MAX_CLOCK_RATE": "400", "DURATION": "10", "STATUS_INTERVAL": "1"})
    bound = run_bytes_bound(config)
    assert bound is not None
    logs_bound = bound - analysis_bytes_bound(["node1", "node2", "node3"])
    assert 0.3 * logs_bound < written <= logs_bound


def fake_statvfs(free: int) -> Any:
    return lambda _path: SimpleNamespace(f_bavail=free // 4096, f_frsize=4096)


def test_node_refuses_to_start_without_room(tmp_path: Path) -> None:
    config = load_config({**NODE, "LOG_DIR": str(tmp_path), "RUN_ID": "exp"})
    needed = run_bytes_bound(config)
    assert needed is not None
    folder = node_run_folder(config)  # this machine has room for a default run
    check_free_space(config, folder, fake_statvfs(needed + 4096))
    with pytest.raises(RunFolderError, match=r"MB free, but the run may write up to 4\.3 MB") as caught:
        check_free_space(config, folder, fake_statvfs(needed - 4096))
    assert str(caught.value).startswith(f"{folder}: ")
    endless = load_config({**NODE, "LOG_DIR": str(tmp_path), "RUN_ID": "exp", "DURATION": "0"})
    check_free_space(endless, folder, fake_statvfs(0))

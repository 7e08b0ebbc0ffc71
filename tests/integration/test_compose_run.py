"""The real images and docker-compose.yml: runs whose logs keep every invariant."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from bench.browser import chromium, errors, open_page
from tests import logcheck
from tests.integration.helpers import cluster, compose_command

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_short_fast_run_keeps_every_invariant(logs: Path, owner: int) -> None:
    env = {"DURATION": "8", "MIN_CLOCK_RATE": "40", "MAX_CLOCK_RATE": "120", "SEED": "11", "STATUS_INTERVAL": "2"}
    with cluster(logs, env) as running:
        codes = running.wait_until_exited()
        output = running.logs_text()
    assert codes == {"init": 0, "node1": 0, "node2": 0, "node3": 0, "summary": 0, "result": 0}, output
    folder = running.run_folder()
    assert sorted(p.name for p in folder.glob("*.jsonl")) == ["node1.jsonl", "node2.jsonl", "node3.jsonl"]
    run = logcheck.load_run(folder)
    assert logcheck.check_run(run, duration=8) == []
    # Configuration and seed are in the first line of every node.
    for node, records in run.items():
        start = records[0]
        assert start["seed"] == 11
        assert start["config"]["node_id"] == node
        assert 40 <= start["rate"] <= 120
    assert json.loads((folder / "run.json").read_text())["seed"] == 11
    # Files belong to the owner of the log folder, not root.
    for path in [folder, *folder.iterdir()]:
        assert path.stat().st_uid == owner, path
    # The live status: one line per node every STATUS_INTERVAL seconds.
    for node in ("node1", "node2", "node3"):
        status = [line for line in output.splitlines() if line.startswith(f"{node}-1") and " clock " in line]
        assert len(status) >= 3, output
        assert " queue " in status[0]
        assert " recv " in status[0]
    check_summary_against_raw_logs(folder, run)
    assert "clock condition: holds" in output  # the summary service printed its table
    assert any(line.startswith("summary-1") and "jump mean/max" in line for line in output.splitlines())
    # The explorer, named as the host sees it, opens from disk in a browser without errors.
    assert f"explore the run: open logs/{folder.name}/explorer.html in a browser" in output
    check_explorer(folder / "explorer.html")
    # On demand, on a named earlier run: the same outputs again.
    (folder / "summary.json").unlink()
    result = compose_command("run", "--rm", "analysis", folder.name, logs=logs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (folder / "summary.json").stat().st_uid == owner
    assert "jump mean/max" in result.stdout
    missing = compose_command("run", "--rm", "analysis", "no-such-run", logs=logs)
    assert missing.returncode == 2
    assert "no-such-run: no such run folder" in missing.stdout + missing.stderr


def check_explorer(page: Path) -> None:
    with chromium() as driver:
        open_page(driver, page)
        assert errors(driver) == []
        assert driver.find_element(By.ID, "title").text == f"Run {page.parent.name}"


def check_summary_against_raw_logs(folder: Path, run: dict[str, list[dict[str, Any]]]) -> None:
    """The analysis outputs exist, are non-empty, and agree with figures recomputed here."""
    for name in ("summary.json", "summary.md", "clock.png", "gap.png", "queue.png", "jumps.png", "explorer.html"):
        assert (folder / name).stat().st_size > 0, name
    summary = json.loads((folder / "summary.json").read_text())
    for node, records in run.items():
        ticks = logcheck.tick_records(records)
        figures = summary["nodes"][node]
        assert figures["ticks"] == len(ticks)
        for kind in ("receive", "send", "internal"):
            assert figures["events"][kind] == sum(1 for r in ticks if r["event"] == kind)
        previous = [records[0]["clock"], *[r["clock"] for r in ticks[:-1]]]
        jumps = [r["clock"] - p for r, p in zip(ticks, previous, strict=True)]
        assert figures["jumps"]["max"] == max(jumps)
        assert figures["jumps"]["mean"] == pytest.approx(sum(jumps) / len(jumps), abs=1e-3)
        assert figures["queue"]["end"] == records[-1]["queue"]
        assert figures["clock"]["end"] == ticks[-1]["clock"]
        assert figures["rate_ratio"] >= 0.99
    messages = summary["messages"]
    assert messages["sent"] == sum(len(r["to"]) for recs in run.values() for r in recs if r["event"] == "send")
    assert messages["received"] == sum(1 for recs in run.values() for r in recs if r["event"] == "receive")
    assert messages["unaccounted"] == 0
    assert messages["clock_condition"]["holds"]


def test_fewer_internal_events(logs: Path) -> None:
    """MAX_EVENT_NUM=5: internal events are (5-3)/5 of the draws."""
    env = {"DURATION": "8", "MIN_CLOCK_RATE": "150", "MAX_CLOCK_RATE": "200", "MAX_EVENT_NUM": "5"}
    with cluster(logs, env) as running:
        codes = running.wait_until_exited()
    assert set(codes.values()) == {0}
    run = logcheck.load_run(running.run_folder())
    assert logcheck.check_run(run, duration=8, max_event_num=5) == []
    _internal, drawn = logcheck.internal_share(run)
    assert drawn > 1000  # enough draws for the share check to mean something
    assert all(r[0]["config"]["max_event_num"] == 5 for r in run.values())


def test_runs_until_stopped_and_stops_cleanly(logs: Path) -> None:
    """DURATION=0 runs until `docker compose down`; every node then logs its stop line."""
    env = {"DURATION": "0", "MIN_CLOCK_RATE": "20", "MAX_CLOCK_RATE": "30"}
    with cluster(logs, env, services=("node1", "node2", "node3")) as running:
        deadline = time.monotonic() + 60
        folder = None
        while time.monotonic() < deadline:
            if (logs / "latest").exists():
                folder = running.run_folder()
                if (
                    all(any(r["event"] == "receive" for r in recs) for recs in logcheck.load_run(folder).values())
                    and len(list(folder.glob("*.jsonl"))) == 3
                ):
                    break
            time.sleep(0.5)
        assert folder is not None
        time.sleep(2)
        states = running.states()
        assert all(states[n].State == "running" for n in ("node1", "node2", "node3"))
        stop_sent = time.time()
    run = logcheck.load_run(folder)
    for node, records in run.items():
        stop = records[-1]
        assert stop["event"] == "stop", node
        assert stop["reason"] == "signal SIGTERM"
        assert stop["ts"] - stop_sent < 1.0  # within a second of `docker compose down`
    assert logcheck.check_fields(run) == []
    assert logcheck.check_clock_rules(run) == []
    assert logcheck.check_links(run) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_EVENT_NUM": "2"}, "configuration error: MAX_EVENT_NUM='2': must be an integer from 3"),
        ({"MIN_CLOCK_RATE": "5", "MAX_CLOCK_RATE": "2"}, "MIN_CLOCK_RATE='5': must not exceed MAX_CLOCK_RATE"),
        ({"MAX_CLOCK_RATE": "0"}, "MAX_CLOCK_RATE='0': must be an integer from 1"),
    ],
)
def test_bad_configuration_fails_fast_with_one_line(logs: Path, env: dict[str, str], message: str) -> None:
    result = compose_command("up", logs=logs, env=env, timeout=90)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for node in ("node1", "node2", "node3"):
        lines = [line for line in output.splitlines() if line.startswith(f"{node}-1") and "configuration error" in line]
        assert len(lines) == 1, output
        assert message in lines[0]
        assert f"{node}-1 exited with code 2" in output
    assert os.listdir(logs)  # init made the run folder; nothing else was written
    folder = (logs / "latest").resolve()
    assert sorted(p.name for p in folder.iterdir()) == ["run.json"]

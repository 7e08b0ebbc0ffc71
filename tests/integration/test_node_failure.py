"""A node that fails: `docker compose up` still ends with the analysis of what was logged, and its
exit status still reports the failure (issue 12). Through deploy.compose, as a user runs `up`."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest

from tests.integration.helpers import docker, project, wait_until_ticking

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAILED = re.compile(r'service "(node[123]|summary)" didn\'t complete successfully: exit (\d+)')


def summary_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("summary-1")]


def test_a_node_failing_at_start_still_gets_a_summary_and_up_fails(logs: Path) -> None:
    """node1's configuration is bad (exit 2); node2 and node3 then give up at their start barrier
    (exit 1). The summary still reads what they logged, and `up` exits 1 naming a failed service."""
    env = {"NODE1_CLOCK_RATE": "abc", "START_TIMEOUT": "2", "DURATION": "2"}
    with project(logs, env) as once:
        result = once.run("up", timeout=120)
        codes = once.exit_codes()
        folder = once.run_folder()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert codes["node1"] == 2
    assert codes["node2"] == codes["node3"] == 1
    assert "node1: configuration error: CLOCK_RATE='abc'" in output
    failed = FAILED.search(output)
    assert failed is not None, output
    assert int(failed[2]) == codes[failed[1]] != 0
    # The summary ran after every node had exited, on this project's run: what was logged is
    # reported, node by node (no tick happened, so there is no table to print).
    assert "result" not in codes  # the service that reports success never ran
    assert codes["summary"] == 1
    said = "\n".join(summary_lines(output))
    assert f"{folder.name}: node1.jsonl: missing: a node lists it as a peer" in said, output
    assert "nothing to analyse (no tick events" in said
    assert sorted(p.name for p in folder.glob("*.jsonl")) == ["node2.jsonl", "node3.jsonl"]


def test_a_node_killed_mid_run_is_in_the_summary_and_up_fails(logs: Path) -> None:
    """node1 is killed while ticking (exit 137); node2 and node3 are then stopped cleanly (exit 0;
    DURATION=0, so no clock decides whether the kill came before the end). The summary's table
    covers all three and lists node1's missing stop line, and `up` exits 1 naming node1."""
    env = {"DURATION": "0", "MIN_CLOCK_RATE": "20", "MAX_CLOCK_RATE": "30", "STATUS_INTERVAL": "0"}
    with project(logs, env) as once:
        done: list[subprocess.CompletedProcess[str]] = []
        up = threading.Thread(target=lambda: done.append(once.run("up", timeout=120)))
        up.start()
        folder = wait_until_ticking(once)
        docker("kill", once.container("node1"))
        # A generous grace: a node stopped while it resolves the killed peer's name can take seconds.
        docker("stop", "--time", "30", once.container("node2"), once.container("node3"))
        up.join(timeout=150)
        codes = once.exit_codes()
    assert done, "docker compose up did not return"
    output = done[0].stdout + done[0].stderr
    assert done[0].returncode == 1, output
    assert codes == {"init": 0, "node1": 137, "node2": 0, "node3": 0, "summary": 0}, output
    assert 'service "node1" didn\'t complete successfully: exit 137' in output
    said = "\n".join(summary_lines(output))
    assert "jump mean/max" in said, output  # the table, with every node that ticked
    assert all(re.search(rf"summary-1\s+\|\s+{node}\s", said) for node in ("node1", "node2", "node3")), said
    assert "node1.jsonl: no stop line" in said
    assert (folder / "summary.json").exists()

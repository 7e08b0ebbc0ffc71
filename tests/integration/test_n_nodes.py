"""N nodes from the generated compose file (the swarm stack files: tests/integration/test_swarm.py)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from deploy.compose import ROOT
from tests import logcheck
from tests.integration.helpers import compose_command

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_five_nodes_run_with_the_generated_compose_file(logs: Path) -> None:
    name = f"docker-compose.test{uuid.uuid4().hex[:8]}.yml"
    subprocess.run(
        ["python3", "scripts/compose_nodes.py", "5", "--out", name], cwd=ROOT, check=True, capture_output=True
    )
    try:
        env = {"DURATION": "6", "MIN_CLOCK_RATE": "30", "MAX_CLOCK_RATE": "60", "MAX_EVENT_NUM": "8", "SEED": "5"}
        result = compose_command("up", logs=logs, env=env, timeout=120, files=(name,))
    finally:
        (ROOT / name).unlink()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    folder = (logs / "latest").resolve()
    run = logcheck.load_run(folder)
    assert sorted(run) == [f"node{i}" for i in range(1, 6)]
    assert logcheck.check_run(run, duration=6, max_event_num=8) == []
    assert {len(r["to"]) for recs in run.values() for r in recs if r["event"] == "send"} == {1, 4}
    assert (folder / "summary.json").exists()
    assert "node5" in output

"""A set with a fault, run in containers by `python -m experiments run`: node1 is killed at 5 s and
started again 3 s later (experiments.container_faults); the kept summary shows its two
incarnations and nothing lost, and the run's index entry when each docker command ran."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

import experiments.__main__ as cli

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

SET = """
name = "{name}"
engine = "containers"
runs = 1
duration = 15
seed = 7
results = "results"

[[configs]]
name = "kill"
rates = [2, 4, 6]
delivery = "reliable"
faults = ["kill node1@5:3"]
"""


def test_a_container_set_with_a_kill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "WORK", tmp_path / "work")
    path = tmp_path / "set.toml"
    path.write_text(SET.format(name=f"faults-{uuid.uuid4().hex[:8]}"))  # a compose project no other run uses
    assert cli.main(["run", str(path)]) == 0
    results = tmp_path / "results"
    summary = json.loads((results / "runs" / "kill-1" / "summary.json").read_text())
    assert summary["messages"]["lost"] == 0
    assert summary["nodes"]["node1"]["incarnations"] == 2
    (entry,) = json.loads((results / "index.json").read_text())["runs"]
    assert (entry["engine"], entry["failed"], entry["faults"]) == ("containers", False, ["kill node1@5:3"])
    kill, start = entry["faults_applied"]["actions"]
    assert (kill["fault"], kill["command"].split()[:2], kill["due"], kill["outcome"]) == (
        "kill node1@5:3",
        ["docker", "kill"],
        5,
        "done",
    )
    assert (start["command"].split()[:2], start["due"], start["outcome"]) == (["docker", "start"], 8, "done")
    assert kill["at"] >= 5  # never early; how late is up to the machine
    assert start["at"] >= 8

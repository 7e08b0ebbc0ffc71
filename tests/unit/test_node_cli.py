"""`python -m node` as a user runs it: every variable's bad value gives one line and exit code 2."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_node(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m node` with exactly `env` (PYTHONPATH: this checkout), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "node"],
        env={"PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


GOOD = {"NODE_ID": "node1", "PEERS": "node2:5000,node3:5000", "RUN_ID": "r", "DURATION": "1", "START_TIMEOUT": "0.2"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NODE_ID", "bad id"),
        ("PEERS", "node2"),
        ("PEERS", "node1:5000,node2:5000"),
        ("PORT", "70000"),
        ("MIN_CLOCK_RATE", "0"),
        ("MAX_CLOCK_RATE", "x"),
        ("CLOCK_RATE", "-2"),
        ("MAX_EVENT_NUM", "2"),
        ("DURATION", "soon"),
        ("SEED", "1.5"),
        ("RUN_ID", "a/b"),
        ("START_TIMEOUT", "0"),
        ("DRAIN_TIMEOUT", "-1"),
        ("STATUS_INTERVAL", "often"),
        ("MAX_QUEUE", "0"),
        ("LOG_DIR", "/no/such/folder"),
    ],
)
def test_bad_value_one_line_exit_2(tmp_path: Path, variable: str, value: str) -> None:
    env = {**GOOD, "LOG_DIR": str(tmp_path), variable: value, "PYTHONPATH": str(ROOT)}
    result = run_node(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{GOOD['NODE_ID'] if variable != 'NODE_ID' else 'bad id'}: configuration error: ")
    assert f"{variable}=" in lines[0]
    assert not list(tmp_path.glob("**/*.jsonl"))  # nothing written before the configuration is valid


def test_unreachable_peers_exit_1_naming_them(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **GOOD,
        "LOG_DIR": str(tmp_path),
        "PEERS": "node2@127.0.0.1:1,node3@127.0.0.1:2",
        "PORT": str(port),
        "PYTHONPATH": str(ROOT),
    }
    result = run_node(env)
    assert result.returncode == 1
    assert "not all peers connected within 0.2 s" in result.stderr
    assert "node2: cannot dial 127.0.0.1:1" in result.stderr

"""What the integration tests share: an isolated compose project per run (deploy.compose), a docker
CLI call as a user would make it for a fault, and waiting until the nodes tick."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from deploy.compose import COMPOSE_FILE, ComposeProject, unique_name

NODES = ("node1", "node2", "node3")


def project(
    logs: Path, env: Mapping[str, str], services: tuple[str, ...] = (), files: tuple[str, ...] = ()
) -> ComposeProject:
    """A compose project of the tests' own (name, environment, log folder)."""
    return ComposeProject(logs, env, files=files or (COMPOSE_FILE,), services=services, name=unique_name("lamporttest"))


@contextmanager
def cluster(logs: Path, env: Mapping[str, str], services: tuple[str, ...] = ()) -> Iterator[ComposeProject]:
    """`docker compose up --detach [SERVICES]` in a project of its own; down (with volumes) on leaving."""
    with project(logs, env, services) as running:
        running.start()
        yield running


def compose_command(
    *args: str, logs: Path, env: Mapping[str, str] | None = None, timeout: float = 120, files: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`docker compose [-f FILE ...] ARGS` in the foreground, as a user would run it, in a project of
    its own that is taken down afterwards; its output captured."""
    with project(logs, env or {}, files=files) as once:
        return once.run(*args, timeout=timeout)


def docker(*args: str) -> str:
    """Run a docker CLI command (as a user would for a fault), fail loudly, return its output."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def wait_until_ticking(running: ComposeProject, nodes: tuple[str, ...] = NODES, timeout: float = 60) -> Path:
    """Wait until every node has logged a tick event; return the run folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            folder = running.run_folder()
        except FileNotFoundError:
            folder = None
        if folder is not None:
            logs = [folder / f"{n}.jsonl" for n in nodes]
            if all(p.exists() and '"tick": 0' in p.read_text() for p in logs):
                return folder
        time.sleep(0.2)
    raise TimeoutError("nodes did not start ticking")

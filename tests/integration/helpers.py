"""What the integration tests share: an isolated compose project per run (deploy.compose), a docker
CLI call as a user would make it for a fault, waiting until the nodes tick, a process's identity
and capabilities as the kernel reports them, and a log folder owned by root."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from deploy.compose import COMPOSE_FILE, ComposeProject, unique_name

NODES = ("node1", "node2", "node3")
NODE_IMAGE = "lamport-node:latest"  # docker-compose.yml's node image


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


def process_status(pid: int) -> list[dict[str, str]]:
    """/proc/PID/task/*/status of a host process, one dict per thread (field -> value: `Uid`,
    `Gid`, `Groups`, `CapEff`, `NoNewPrivs` ...): identity and capabilities are per thread."""
    threads = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        fields = (line.partition(":") for line in (task / "status").read_text().splitlines())
        threads.append({name: value.strip() for name, _, value in fields})
    return threads


def _chown(folder: Path, uid: int, gid: int, recursive: bool) -> None:
    """chown as root: directly when this process is root, else in a throwaway container (which
    runs as root with Docker's default capabilities, CHOWN among them)."""
    if os.geteuid() == 0:
        paths = [folder, *(folder.rglob("*") if recursive else ())]
        for path in paths:
            os.chown(path, uid, gid, follow_symlinks=False)
        return
    flags = ["-R"] if recursive else []
    mount = f"{folder}:/folder"
    docker("run", "--rm", "--network", "none", "--user", "0", "-v", mount, "--entrypoint", "chown", NODE_IMAGE,
           "-h", *flags, f"{uid}:{gid}", "/folder")  # fmt: skip


@contextmanager
def owned_by_root(folder: Path) -> Iterator[Path]:
    """`folder` owned by root:root inside the block (as `logs/` is when root cloned the project);
    afterwards it and everything written into it belong to its owner again (so the test's
    temporary folder can be removed)."""
    stat = folder.stat()
    _chown(folder, 0, 0, recursive=False)
    try:
        yield folder
    finally:
        _chown(folder, stat.st_uid, stat.st_gid, recursive=True)

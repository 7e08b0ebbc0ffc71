"""Drive the real docker-compose.yml with testcontainers: one isolated project and log folder per run."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testcontainers.compose import DockerCompose

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


SERVICES = ("init", "node1", "node2", "node3", "summary")


@dataclass
class ClusterRun:
    """A compose project of its own (name, env, log folder) around the repository's compose file."""

    logs: Path
    env: dict[str, str]
    services: tuple[str, ...] = ()  # () = all; `up --detach` waits for dependencies of those it starts
    project: str = field(default_factory=lambda: f"lamporttest{uuid.uuid4().hex[:10]}")
    compose: DockerCompose = field(init=False)

    def __post_init__(self) -> None:
        self.compose = DockerCompose(
            ROOT, compose_file_name="docker-compose.yml", wait=False, pull=False, services=list(self.services) or None
        )

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "COMPOSE_PROJECT_NAME": self.project,
            "HOST_LOG_DIR": str(self.logs),
            "TESTCONTAINERS_RYUK_DISABLED": "true",
            "COMPOSE_ANSI": "never",
            **self.env,
        }

    def __enter__(self) -> ClusterRun:
        self._saved = dict(os.environ)
        os.environ.update(self.environment())  # DockerCompose passes our environment to `docker compose`
        self.compose.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # The whole project, whichever services were started (DockerCompose.stop would name them).
            subprocess.run(
                ["docker", "compose", "down", "--volumes", "--remove-orphans"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
        finally:
            os.environ.clear()
            os.environ.update(self._saved)

    def states(self) -> dict[str, Any]:
        return {str(c.Service): c for c in self.compose.get_containers(include_all=True)}

    def wait_until_exited(self, services: tuple[str, ...] = SERVICES, timeout: float = 120) -> dict[str, int]:
        """Poll until every service's container has exited; return their exit codes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states()
            if all(s in states and states[s].State == "exited" for s in services):
                return {s: int(states[s].ExitCode) for s in services}
            time.sleep(0.5)
        raise TimeoutError(f"services still running after {timeout} s: {self.states()}")

    def logs_text(self, *services: str) -> str:
        out, err = self.compose.get_logs(*services)
        return strip_ansi(out + err)

    def run_folder(self) -> Path:
        latest = self.logs / "latest"
        assert latest.is_symlink(), f"no {latest}"
        return latest.resolve()

    def container(self, service: str) -> str:
        return f"{self.project}-{service}-1"

    def network(self) -> str:
        return f"{self.project}_cluster"

    def wait_until_ticking(self, timeout: float = 60) -> Path:
        """Wait until every node has logged a tick event; return the run folder."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.logs / "latest").exists():
                folder = self.run_folder()
                logs = [folder / f"{n}.jsonl" for n in ("node1", "node2", "node3")]
                if all(p.exists() and '"tick": 0' in p.read_text() for p in logs):
                    return folder
            time.sleep(0.2)
        raise TimeoutError("nodes did not start ticking")


def docker(*args: str) -> str:
    """Run a docker CLI command (as a user would for a fault), fail loudly, return its output."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def compose_command(
    args: list[str], env: dict[str, str], logs: Path, timeout: float = 120, files: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose [-f FILE ...] ARGS` as a user would, in an isolated project; capture its output.

    Afterwards the whole project is taken down, with the same compose files (else services only
    a generated file knows of would be left behind).
    """
    chosen = [arg for f in files for arg in ("-f", f)]
    project = f"lamporttest{uuid.uuid4().hex[:10]}"
    full_env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "HOST_LOG_DIR": str(logs),
        "COMPOSE_ANSI": "never",
        **env,
    }
    try:
        result = subprocess.run(
            ["docker", "compose", *chosen, *args],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result.stdout, result.stderr = strip_ansi(result.stdout), strip_ansi(result.stderr)
        return result
    finally:
        subprocess.run(
            ["docker", "compose", *chosen, "down", "--volumes", "--remove-orphans"],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            check=False,
        )

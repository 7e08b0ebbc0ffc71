"""The one driver of `docker compose`: an isolated compose project around the repository's compose file(s).

A `ComposeProject` has a project name of its own (so runs never share containers or networks),
its environment overrides passed explicitly (as a user would set them in the shell, on top of
this process's environment, which is never changed), a log folder (HOST_LOG_DIR), the compose
file(s) and the services it starts. Everything goes through testcontainers' `DockerCompose`,
whose one way out is `_run_command`: the subclass below gives that command its environment.

    with ComposeProject(logs, {"DURATION": "8"}, services=("node1", "node2", "node3")) as project:
        project.start()                       # docker compose up --detach node1 node2 node3
        codes = project.wait_until_exited()   # {"init": 0, "node1": 0, ...}
    # leaving the block: docker compose down --volumes --remove-orphans, with the same files

Ryuk (testcontainers' reaper) is an image to pull and there may be no registry: it is disabled,
and each project takes itself down instead.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testcontainers.compose import ComposeContainer, DockerCompose
from testcontainers.core.config import testcontainers_config

from node.runfolder import project_link

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = "docker-compose.yml"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

testcontainers_config.ryuk_disabled = True  # no reaper container: each project takes itself down


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def unique_name(prefix: str = "lamport") -> str:
    """A compose project name no other run uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class ComposeError(subprocess.CalledProcessError):
    """A compose (or docker) command failed; the message carries the end of its output."""

    def __str__(self) -> str:
        output = b"".join(x for x in (self.stdout, self.stderr) if isinstance(x, bytes))
        tail = strip_ansi(output.decode(errors="replace")).strip()[-3000:]
        command = shlex.join(self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        return f"`{command}` exited with {self.returncode}:\n{tail}"


@dataclass
class _Compose(DockerCompose):
    """testcontainers' DockerCompose, running its commands with an explicit environment."""

    env: dict[str, str] = field(default_factory=dict)

    def _run_command(
        self,
        cmd: str | list[str],
        context: str | None = None,
        *,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            cmd, capture_output=True, check=False, cwd=context or str(self.context), env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise ComposeError(result.returncode, cmd, result.stdout, result.stderr)
        return result


@dataclass
class ComposeProject:
    """One isolated compose project; also a context manager that takes it down on leaving."""

    logs: Path | None = None  # HOST_LOG_DIR: where the run folders go (None: compose's default, ./logs)
    env: Mapping[str, str] = field(default_factory=dict)  # overrides of .env, as from the shell
    files: tuple[str, ...] = (COMPOSE_FILE,)  # relative to `root`, or absolute
    services: tuple[str, ...] = ()  # what `start` starts (with their dependencies); () = all
    name: str = field(default_factory=unique_name)  # COMPOSE_PROJECT_NAME
    root: Path = ROOT
    compose: _Compose = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.compose = _Compose(
            str(self.root),
            compose_file_name=list(self.files),
            wait=False,
            pull=False,
            services=list(self.services) or None,
            env=self.environment(),
        )

    def environment(self) -> dict[str, str]:
        """What every command of this project runs with (this process's environment is not changed)."""
        env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": self.name,
            "COMPOSE_ANSI": "never",
            "COMPOSE_STATUS_STDOUT": "1",
            "TESTCONTAINERS_RYUK_DISABLED": "true",
        }
        if self.logs is not None:
            env["HOST_LOG_DIR"] = str(self.logs)
        env.update(self.env)
        return env

    def command(self, *args: str) -> list[str]:
        """`docker compose -f FILE ... ARGS` for this project."""
        return [*self.compose.docker_compose_command(), *args]

    # -- running --------------------------------------------------------------------------------
    def build(self, *options: str) -> None:
        """`docker compose build --quiet`: the images, from the local Dockerfile."""
        self.compose._run_command(self.command("build", "--quiet", *options))

    def start(self, *options: str) -> None:
        """`docker compose up --detach [OPTIONS] [SERVICES]`; raises ComposeError if it fails.

        Compose still waits for dependency conditions: with the summary among the services,
        this returns only once the nodes have finished."""
        self.compose._run_command(self.command("up", "--detach", *options, *self.services))

    def run(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """A compose command in the foreground (`up`, `run --rm analysis RUN`), its output captured,
        ANSI stripped; never raises for its exit code (subprocess.TimeoutExpired after `timeout`)."""
        result = self.compose._run_command(self.command(*args), check=False, timeout=timeout)
        return subprocess.CompletedProcess(
            result.args,
            result.returncode,
            strip_ansi(result.stdout.decode(errors="replace")),
            strip_ansi(result.stderr.decode(errors="replace")),
        )

    def down(self) -> None:
        """`docker compose down --volumes --remove-orphans` with the same files (else services only
        a generated file knows of would be left behind), whichever services were started."""
        self.compose._run_command(self.command("down", "--volumes", "--remove-orphans"))

    def __enter__(self) -> ComposeProject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- watching -------------------------------------------------------------------------------
    def states(self) -> dict[str, ComposeContainer]:
        """Every container of the project, running or not, by service."""
        return {str(c.Service): c for c in self.compose.get_containers(include_all=True)}

    def exit_codes(self) -> dict[str, int]:
        """The exit code of every service whose container has exited."""
        return {s: int(c.ExitCode or 0) for s, c in self.states().items() if c.State == "exited"}

    def wait_until_exited(
        self, services: Iterable[str] | None = None, timeout: float = 120, interval: float = 0.5
    ) -> dict[str, int]:
        """Wait until every one of `services` (default: every container of the project) has exited;
        return their exit codes. TimeoutError, with the containers' states, after `timeout` s.

        Once the containers exist, one `docker wait` blocks until they stop: no `compose ps` every
        `interval` while the nodes run (that would cost the machine a tenth of a core beside them,
        measured in the benchmarks' 'rest of the machine')."""
        wanted = None if services is None else tuple(services)
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            names = wanted if wanted is not None else tuple(states)
            if names and all(s in states for s in names):
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: {names or 'no services'} not all created after {timeout} s")
            time.sleep(interval)
        containers = [str(states[s].Name) for s in names]
        try:
            left = max(0.1, deadline - time.monotonic())
            subprocess.run(["docker", "wait", *containers], capture_output=True, timeout=left, check=False)
        except subprocess.TimeoutExpired:
            now = {s: (c.State, c.ExitCode) for s, c in self.states().items()}
            raise TimeoutError(f"{self.name}: {names} not all exited after {timeout} s: {now}") from None
        final = self.states()
        return {s: int(final[s].ExitCode or 0) for s in names}

    def logs_text(self, *services: str) -> str:
        """`docker compose logs [SERVICES]`, ANSI stripped."""
        out, err = self.compose.get_logs(*services)
        return strip_ansi(out + err)

    def container(self, service: str) -> str:
        """The name of the service's container (for `docker pause`, `docker network disconnect` ...)."""
        return str(self.compose.get_container(service, include_all=True).Name)

    def network(self, name: str = "cluster") -> str:
        """The Docker network compose made for the file's network `name`."""
        return f"{self.name}_{name}"

    def run_folder(self) -> Path:
        """This project's run folder, behind the link its init made (logs/.latest-<project>: not
        logs/latest, which another project sharing the folder may have moved); FileNotFoundError
        while there is none."""
        if self.logs is None:
            raise FileNotFoundError(f"{self.name}: no log folder given")
        link = self.logs / project_link(self.name)
        if not link.is_symlink():
            raise FileNotFoundError(f"no {link}")
        return link.resolve()

    def pid(self, service: str) -> int | None:
        """The host PID of the service's main process (`docker inspect`), None unless it runs."""
        container = self.states().get(service)
        if container is None or container.ID is None or container.State != "running":
            return None
        result = self.compose._run_command(["docker", "inspect", "-f", "{{.State.Pid}}", container.ID], check=False)
        text = result.stdout.decode().strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

"""One run of the nodes (three, or N from a generated file) through the real compose file, sampled.

A run is `docker compose up --detach --no-build node1 node2 node3` through deploy.compose (init
runs first as their dependency; the `summary` analysis service is not started), with the rates,
duration and log folder pinned through the environment exactly as a user would override `.env`,
then a wait until they have exited. While the nodes run, bench.sampler reads each one's CPU
time and memory from /proc of its container's main process once a second.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.sampler import ProcessSampler
from deploy.compose import COMPOSE_FILE, ComposeError, ComposeProject

PROJECT = "lamportbench"
NODES = ("node1", "node2", "node3")
NODE_IMAGE = "lamport-node:latest"  # what docker-compose.yml runs
ANALYSIS_IMAGE = "lamport-analysis:latest"


def compose_files(
    node_image: str | None, raw: Path, base: str = COMPOSE_FILE, nodes: tuple[str, ...] = NODES
) -> tuple[str, ...]:
    """`base` (docker-compose.yml, or a generated N-node file with services `nodes`); to run the
    nodes from another image (e.g. an older build, for before/after), plus an override file in
    `raw` that replaces the image of init and the nodes."""
    if node_image is None:
        return (base,)
    override = raw / f"compose.node-image.{len(nodes)}.yml"
    override.parent.mkdir(parents=True, exist_ok=True)
    services = "".join(f"  {name}:\n    image: {node_image}\n" for name in ("init", *nodes))
    override.write_text(f"# written by python -m bench --node-image\nservices:\n{services}")
    return (base, str(override))


def build_images() -> None:
    ComposeProject(name=PROJECT).build()


def image_size(image: str) -> int | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", image], text=True, capture_output=True, check=False
    )
    return int(result.stdout.strip()) if result.returncode == 0 else None


def other_containers() -> list[str]:
    """Running containers that are not the suite's own."""
    result = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], text=True, capture_output=True, check=False)
    return sorted(name for name in result.stdout.split() if not name.startswith(PROJECT))


@dataclass
class ClusterRun:
    """What a run of the three nodes left besides their logs."""

    launched_at: float  # time.time() just before `docker compose up`
    exit_codes: dict[str, int] = field(default_factory=dict)  # of the services that exited
    sampler: ProcessSampler | None = None
    other_containers: list[str] = field(default_factory=list)  # running beside ours: disturbs timing


class Watcher(Protocol):
    """Something else to sample while the nodes run (bench.nodes: their TCP connections)."""

    def start(self, pids: dict[str, int]) -> None: ...

    def stop(self) -> None: ...


def run_cluster(
    logs: Path,
    env: dict[str, str],
    timeout: float,
    output: Path,
    files: tuple[str, ...],
    nodes: tuple[str, ...] = NODES,
    watcher: Watcher | None = None,
) -> ClusterRun:
    """Run the nodes (services `nodes` of `files`) until they exit (at most `timeout` s); their
    compose output goes to `output`."""
    notes: list[str] = []
    with ComposeProject(logs, env, files=files, services=nodes, name=PROJECT) as project:
        project.down()  # leftovers of an interrupted suite
        logs.mkdir(parents=True, exist_ok=True)
        run = ClusterRun(launched_at=time.time())
        try:
            project.start("--no-build")
            pids = _wait_for_pids(project, nodes)
            if pids:
                run.sampler = ProcessSampler(pids)
                run.sampler.start()
                if watcher is not None:
                    watcher.start(pids)
            run.other_containers = other_containers()
            project.wait_until_exited(("init", *nodes), timeout=timeout, interval=1.0)
        except (ComposeError, TimeoutError) as error:
            notes.append(f"bench: {error}\n")
        finally:
            if run.sampler is not None:
                run.sampler.stop()
            if watcher is not None:
                watcher.stop()
            run.exit_codes = project.exit_codes()
            output.write_text("".join(notes) + project.logs_text())
    return run


def _wait_for_pids(project: ComposeProject, nodes: tuple[str, ...], timeout: float = 60) -> dict[str, int]:
    """The host PID of every node's main process, {} if one has exited already (a configuration
    error?: nothing to sample). One `compose ps` and one `docker inspect` per try whatever the
    number of nodes: one of each per node would keep the CPU busy while twenty nodes connect."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = project.states()
        if any(states[n].State == "exited" for n in nodes if n in states):
            return {}
        ids = {n: states[n].ID for n in nodes if n in states and states[n].State == "running"}
        if len(ids) == len(nodes):
            result = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Pid}}", *(str(i) for i in ids.values())],
                text=True,
                capture_output=True,
                check=False,
            )
            found = result.stdout.split()
            if result.returncode == 0 and len(found) == len(ids) and all(p.isdigit() and int(p) > 0 for p in found):
                return {n: int(p) for n, p in zip(ids, found, strict=True)}
        time.sleep(0.1)
    return {}

"""One run of the three nodes through the real compose file, in the suite's compose project, sampled.

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

from bench.sampler import ProcessSampler
from deploy.compose import COMPOSE_FILE, ComposeError, ComposeProject

PROJECT = "lamportbench"
NODES = ("node1", "node2", "node3")
NODE_IMAGE = "lamport-node:latest"  # what docker-compose.yml runs
ANALYSIS_IMAGE = "lamport-analysis:latest"


def compose_files(node_image: str | None, raw: Path) -> tuple[str, ...]:
    """docker-compose.yml; to run the nodes from another image (e.g. an older build, for
    before/after), plus an override file in `raw` that replaces the image of init and the nodes."""
    if node_image is None:
        return (COMPOSE_FILE,)
    override = raw / "compose.node-image.yml"
    override.parent.mkdir(parents=True, exist_ok=True)
    services = "".join(f"  {name}:\n    image: {node_image}\n" for name in ("init", *NODES))
    override.write_text(f"# written by python -m bench --node-image\nservices:\n{services}")
    return (COMPOSE_FILE, str(override))


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


def run_cluster(logs: Path, env: dict[str, str], timeout: float, output: Path, files: tuple[str, ...]) -> ClusterRun:
    """Run the nodes until they exit (at most `timeout` s); their compose output goes to `output`."""
    notes: list[str] = []
    with ComposeProject(logs, env, files=files, services=NODES, name=PROJECT) as project:
        project.down()  # leftovers of an interrupted suite
        logs.mkdir(parents=True, exist_ok=True)
        run = ClusterRun(launched_at=time.time())
        try:
            project.start("--no-build")
            pids = _wait_for_pids(project)
            if pids:
                run.sampler = ProcessSampler(pids)
                run.sampler.start()
            run.other_containers = other_containers()
            project.wait_until_exited(("init", *NODES), timeout=timeout, interval=1.0)
        except (ComposeError, TimeoutError) as error:
            notes.append(f"bench: {error}\n")
        finally:
            if run.sampler is not None:
                run.sampler.stop()
            run.exit_codes = project.exit_codes()
            output.write_text("".join(notes) + project.logs_text())
    return run


def _wait_for_pids(project: ComposeProject, timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids: dict[str, int] = {}
        for node in NODES:
            pid = project.pid(node)
            if pid is None:
                container = project.states().get(node)
                if container is not None and container.State == "exited":
                    return {}  # gone already (a configuration error?): nothing to sample
                break
            pids[node] = pid
        if len(pids) == len(NODES):
            return pids
        time.sleep(0.1)
    return {}

"""Faults on real containers: a configuration's faults (node.simulate's syntax) as timed docker commands.

Each fault is one docker command at its T and, but for a term, another at T+D, as the container
fault tests make them (tests/integration/test_faults.py, test_nemesis.py):

    pause NODE@T:D    docker pause, then docker unpause
    kill NODE@T:D     docker kill (SIGKILL), then docker start (the node restarts from its log)
    isolate NODE@T:D  docker network disconnect, then docker network connect --alias NODE
    term NODE@T       docker kill --signal TERM (the node stops for good)

Faults may overlap, and then mean what they mean in the simulator (node.simulation): pauses of
one node, or isolations of one node, nest into one longer fault (one command at the first start,
one at the last end); at one instant, beginnings come before ends. A kill, term or pause that
finds its container not running, or an unpause that finds it no longer paused (killed meanwhile),
has nothing to do: it is recorded as skipped, not failed. `cut` (one link) stays in the simulator:
under the lock-down, containers on one compose network cannot lose a single link (README: More
nodes, more hosts, virtual time).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy.compose import ComposeProject
from node.simulation import Fault

Docker = Callable[..., tuple[int, str]]  # docker ARGS -> (exit code, output)
NESTED = ("pause", "isolate")  # overlapping ones of one node make one longer fault
MARGIN = 120.0  # seconds past the run and its last fault before a run that has not ended fails
CUT_REFUSED = (
    "cut runs in the simulator only (--engine simulator): under the lock-down, containers on one "
    "compose network cannot lose a single link (README: More nodes, more hosts, virtual time)"
)


class FaultError(RuntimeError):
    """A fault's docker command failed for another reason than a container with nothing to do."""


def begin(kind: str, container: str, network: str) -> list[str]:
    """The docker command (after `docker`) that begins a fault of `kind` on a container."""
    commands = {
        "pause": ["pause", container],
        "kill": ["kill", container],  # SIGKILL: no stop line
        "isolate": ["network", "disconnect", network, container],
        "term": ["kill", "--signal", "TERM", container],
    }
    if kind not in commands:
        raise ValueError(CUT_REFUSED if kind == "cut" else f"no container fault {kind!r}")
    return commands[kind]


def end(kind: str, node: str, container: str, network: str) -> list[str]:
    """The docker command (after `docker`) that ends a fault of `kind` on the container of `node`."""
    commands = {
        "pause": ["unpause", container],
        "kill": ["start", container],  # the same container: same name, same log folder
        "isolate": ["network", "connect", "--alias", node, network, container],  # peers dial it by name
    }
    if kind not in commands:
        raise ValueError(f"a {kind} fault has no end")
    return commands[kind]


@dataclass(frozen=True)
class Action:
    """One docker command of the schedule."""

    at: float  # seconds since the nodes booted
    node: str
    kind: str  # pause, kill, isolate or term
    ends: bool  # False: begins the fault, True: ends it
    fault: str  # the fault it belongs to, as a configuration writes it ("kill node1@5:3")

    def command(self, container: str, network: str) -> list[str]:
        if self.ends:
            return end(self.kind, self.node, container, network)
        return begin(self.kind, container, network)

    def moot(self, state: str) -> bool:
        """Whether a failure of the command means only that the container, in `state`, had nothing
        to do: a kill, term or pause of one not running, an unpause of one no longer paused."""
        if self.ends:
            return self.kind == "pause" and state != "paused"
        return self.kind in ("pause", "kill", "term") and state != "running"


def schedule(faults: Iterable[Fault]) -> list[Action]:
    """The faults' docker commands in time order; ValueError for a cut."""
    marks: list[tuple[float, bool, int, Fault]] = []
    for n, fault in enumerate(faults):
        begin(fault.kind, "", "")  # refuses a cut
        marks.append((fault.at, False, n, fault))
        if fault.kind != "term":
            marks.append((fault.at + fault.seconds, True, n, fault))
    marks.sort(key=lambda mark: mark[:3])  # by time; beginnings first, as the simulator's heap has them
    held: Counter[tuple[str, str]] = Counter()
    actions = []
    for at, ends, _, fault in marks:
        node = fault.nodes[0]
        if fault.kind in NESTED:
            key = (node, fault.kind)
            held[key] += -1 if ends else 1
            if held[key] != (0 if ends else 1):
                continue  # inside another one of its kind: nothing changes
        actions.append(Action(at, node, fault.kind, ends, str(fault).removeprefix("--")))
    return actions


def docker(*args: str) -> tuple[int, str]:
    """`docker ARGS`: its exit code and output (a hung command fails after 60 s)."""
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        return 124, "timed out after 60 s"
    return result.returncode, (result.stdout + result.stderr).strip()


@dataclass
class Driver:
    """Applies a schedule to a project's containers at its times, and records what it did."""

    faults: tuple[Fault, ...]
    docker: Docker = docker
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    actions: list[Action] = field(init=False)
    applied: list[dict[str, Any]] = field(init=False, default_factory=list)
    started: float | None = field(init=False, default=None)  # host time (the logs' `ts`) of T = 0

    def __post_init__(self) -> None:
        self.actions = schedule(self.faults)

    def apply(self, containers: Mapping[str, str], network: str, origin: float) -> None:
        """Each action at origin + its T (by `clock`), one after another; FaultError if one fails."""
        for action in self.actions:
            wait = origin + action.at - self.clock()
            if wait > 0:
                self.sleep(wait)
            at = self.clock() - origin
            container = containers[action.node]
            command = action.command(container, network)
            code, output = self.docker(*command)
            outcome = "done"
            if code != 0:
                state = self.state(container)
                if not action.moot(state):
                    raise FaultError(f"`docker {shlex.join(command)}` at {at:.1f} s failed ({state}): {output}")
                outcome = f"skipped: {action.node} was {state}"
            record = {"fault": action.fault, "command": f"docker {shlex.join(command)}", "due": action.at}
            self.applied.append({**record, "at": round(at, 3), "outcome": outcome})

    def state(self, container: str) -> str:
        code, output = self.docker("inspect", "--format", "{{.State.Status}}", container)
        return output if code == 0 else "unknown"

    def run(self, project: ComposeProject, nodes: tuple[str, ...], duration: float) -> dict[str, int]:
        """Start the nodes detached, apply the faults, wait until every node has exited; their exit
        codes. FaultError, or TimeoutError once the run, its last fault and MARGIN are over."""
        project.start("--no-build")  # returns once init is done and the nodes are up: T = 0
        origin, self.started = self.clock(), time.time()
        containers = {node: project.container(node) for node in nodes}  # `docker start` keeps the names
        self.apply(containers, project.network(), origin)
        last = max((f.at + f.seconds for f in self.faults), default=0.0)
        left = origin + duration + last + MARGIN - self.clock()
        return project.wait_until_exited(nodes, timeout=max(left, 1.0))

    def record(self) -> dict[str, Any]:
        """For the run's index entry: when T = 0 was (host time) and each command as it went."""
        return {"started": self.started, "actions": self.applied}

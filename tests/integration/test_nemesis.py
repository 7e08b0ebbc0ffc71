"""Nemesis: a seeded random schedule of faults over a two-minute run of the three real containers,
then every invariant of the run, and a bound on what the faults lost.

Pauses (docker pause/unpause), kills and restarts (docker kill, then docker start of the same
container), network cuts (docker network disconnect, then connect with the node's alias) and one
SIGTERM (docker kill -s TERM: that node ends early, for good) fall at seeded random times; faults
on different nodes overlap. As Jepsen's nemesis and checker, in real containers: the simulator
runs far more schedules (node.chaos), this holds the real sockets, kernel and Docker to the same
rules. A failure names the seed; NEMESIS_SEED=<seed> replays its schedule (container timing
still varies).

The schedule waits for what it needs to see, never for a guessed time: no new fault begins until
each restarted node ticks again (a node killed before it logs its start line would leave no trace
of that incarnation, and a restart must find its peers), none on a node still under one, the
SIGTERM only once every other fault is undone (a restart after it would find that peer gone), and
none in the run's last 25 s (a node restarted after its peers ended would find nobody).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from analysis.loader import load_run as analysis_load_run
from analysis.metrics import analyse
from deploy.compose import ComposeProject
from experiments import container_faults
from node.simulation import SIGTERM
from tests import faultcheck, logcheck
from tests.integration.helpers import NODES, cluster, docker, wait_until_ticking

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

SEED_VARIABLE = "NEMESIS_SEED"
DURATION = 120  # seconds of ticking
ENV = {
    "NODE1_CLOCK_RATE": "10",
    "NODE2_CLOCK_RATE": "12",
    "NODE3_CLOCK_RATE": "15",
    "MAX_EVENT_NUM": "5",
    "STATUS_INTERVAL": "0",
    "DURATION": str(DURATION),
}
# Seconds since the first tick. Each node gets faults one after another (FIRST, then SPAN, GAP,
# SPAN ...), none beginning after LAST_START; then one node gets a SIGTERM in TERM.
FIRST = (3.0, 8.0)
SPANS = {"pause": (1.0, 5.0), "kill": (1.0, 5.0), "cut": (1.0, 8.0)}  # cuts: some above TCP's 2 s timeout
GAP = (2.0, 8.0)
LAST_START = 88.0
TERM = (95.0, 103.0)
# A fault that had to wait (Nemesis._may_begin: lower bounds, no timing guess) is not begun after these.
LATEST_START = 95.0  # a restart must be ticking again long before its peers end at DURATION
LATEST_TERM = DURATION - 5.0  # a SIGTERM must reach a node that still runs
REJOIN_TIMEOUT = 30.0 + 15.0  # START_TIMEOUT, and then some: a restarted node that never rejoins fails
POLL = 0.05  # seconds between looks at the clock and the restarted nodes' logs
_KIND = {"cut": "isolate"}  # the nemesis' cut takes a whole node off the network: the simulator's isolate


@dataclass(frozen=True)
class Fault:
    kind: str  # pause, kill, cut or term
    node: str
    at: float  # seconds since the first tick
    seconds: float  # until it is undone (term: never)

    def __str__(self) -> str:
        return f"{self.kind} {self.node}@{self.at:g}" + ("" if self.kind == "term" else f":{self.seconds:g}")


def schedule(seed: int) -> list[Fault]:
    """The seed's faults, in time order: the same for one seed on every machine."""
    rng = random.Random(f"nemesis/{seed}")  # a str seed is hashed with SHA-512: stable everywhere
    kinds = list(SPANS)
    rng.shuffle(kinds)  # every kind at least once: each node begins with another
    faults = []
    for node, first in zip(NODES, kinds, strict=True):
        at, kind = rng.uniform(*FIRST), first
        while at <= LAST_START:
            seconds = round(rng.uniform(*SPANS[kind]), 1)
            faults.append(Fault(kind, node, round(at, 1), seconds))
            at += seconds + rng.uniform(*GAP)
            kind = rng.choice(kinds)
    faults.append(Fault("term", rng.choice(NODES), round(rng.uniform(*TERM), 1), 0.0))
    return sorted(faults, key=lambda f: f.at)


@dataclass
class Applied:
    """A fault as it happened, in host time (the logs' `ts`)."""

    fault: Fault
    start: float  # just before its command
    effective: float  # its command returned
    undone: float | None = None  # just before its undoing command
    end: float | None = None  # its undoing command returned


class Nemesis:
    """Applies a schedule to a running cluster, in time order, one docker command at a time."""

    def __init__(self, running: ComposeProject, folder: Path, origin: float) -> None:
        self.running, self.folder, self.origin = running, folder, origin
        # Looked up once: `docker start` keeps a container's name, and each lookup is a `compose ps`.
        self.containers = {node: running.container(node) for node in NODES}
        self.network = running.network()
        self.applied: list[Applied] = []
        self.skipped: list[Fault] = []
        self.restarted: dict[str, int] = {}  # started again, not yet seen ticking: its log's size then

    def run(self, faults: list[Fault]) -> None:
        pending = list(faults)
        undo: list[Applied] = []  # begun, to be undone, by time
        waiting_since = None  # a fault is due but has to wait (see `_may_begin`)
        while pending or undo:
            now = time.time()
            if undo and self._undo_at(undo[0]) <= now:  # undoing never waits: a restart may need that peer
                self._undo(undo.pop(0))
                continue
            if pending and self.origin + pending[0].at <= now:
                fault = pending[0]
                if self._may_begin(fault, undo):
                    waiting_since = None
                    pending.pop(0)
                    if now - self.origin > (LATEST_TERM if fault.kind == "term" else LATEST_START):
                        self.skipped.append(fault)
                        continue
                    applied = self._do(fault)
                    if fault.kind != "term":
                        undo.append(applied)
                        undo.sort(key=self._undo_at)
                    continue
                waiting_since = waiting_since or now
                if not undo and now - waiting_since > REJOIN_TIMEOUT:
                    raise TimeoutError(f"{sorted(self.restarted)} restarted but not ticking after {REJOIN_TIMEOUT:g} s")
            time.sleep(POLL)

    def _may_begin(self, fault: Fault, undo: list[Applied]) -> bool:
        """Not while its node is still under a fault (a late start pushes its undoing back); not
        while a restarted node has yet to tick again (a restart waits for every peer, and a new
        fault could keep one away until START_TIMEOUT); a SIGTERM only once every fault is undone
        (the stopped node never comes back, so no restart may come after it)."""
        busy = {a.fault.node for a in undo}
        if fault.node in busy or (fault.kind == "term" and busy):
            return False
        return self._rejoined()

    @staticmethod
    def _undo_at(applied: Applied) -> float:
        return applied.effective + applied.fault.seconds

    def _do(self, fault: Fault) -> Applied:
        command = container_faults.begin(_KIND.get(fault.kind, fault.kind), self.containers[fault.node], self.network)
        start = time.time()
        docker(*command)
        applied = Applied(fault, start, time.time())
        self.applied.append(applied)
        return applied

    def _undo(self, applied: Applied) -> None:
        fault = applied.fault
        kind = _KIND.get(fault.kind, fault.kind)
        command = container_faults.end(kind, fault.node, self.containers[fault.node], self.network)
        applied.undone = time.time()
        if fault.kind == "kill":
            self.restarted[fault.node] = (self.folder / f"{fault.node}.jsonl").stat().st_size
        docker(*command)
        applied.end = time.time()

    def _rejoined(self) -> bool:
        """Every restarted node has ticked since it started again (it got past its connect barrier)."""
        for node, offset in list(self.restarted.items()):
            if _ticking_again(self.folder / f"{node}.jsonl", offset):
                del self.restarted[node]
        return not self.restarted

    def save(self, path: Path) -> None:
        """What happened, in host time (the logs' `ts`), for a closer look at a failure."""
        faults = [{**asdict(a), "fault": str(a.fault)} for a in self.applied]
        path.write_text(json.dumps({"origin": self.origin, "applied": faults, "skipped": list(map(str, self.skipped))}))

    def describe(self) -> str:
        done = ", ".join(
            f"{a.fault.kind} {a.fault.node}@{a.start - self.origin:.1f}"
            + ("" if a.end is None else f":{a.end - a.start:.1f}")
            for a in self.applied
        )
        skipped = f"; skipped as too late: {', '.join(map(str, self.skipped))}" if self.skipped else ""
        return f"applied (s since the first tick): {done}{skipped}"


def _ticking_again(log: Path, offset: int) -> bool:
    """A start line and then a tick event in this node log after `offset` (its size when the node was
    started again; torn lines are ignored)."""
    with log.open("rb") as f:
        f.seek(offset)
        new = f.read()
    started = False
    for line in new.splitlines():
        try:
            event = json.loads(line).get("event")
        except ValueError:
            continue
        started = started or event == "start"
        if started and event in logcheck.TICK_EVENTS:
            return True
    return False


def check(run: faultcheck.Run, summary: Any, nemesis: Nemesis) -> list[str]:
    """Every invariant of a run under the nemesis, as one-line problems (none: it held)."""
    problems = logcheck.check_fields(run)  # a start first, a stop last; stop ends its incarnation
    if problems:
        return problems  # the other checks read these fields
    problems += logcheck.check_clock_rules(run)  # per node, across restarts: never backwards
    kills = {node: sum(1 for a in nemesis.applied if a.fault.kind == "kill" and a.fault.node == node) for node in run}
    termed = {a.fault.node for a in nemesis.applied if a.fault.kind == "term"}
    ends = []
    for node, records in run.items():
        starts = [i for i, r in enumerate(records) if r["event"] == "start"]
        stops = [r for r in records if r["event"] == "stop"]
        if (len(starts), len(stops)) != (1 + kills[node], 1):
            problems.append(f"{node}: {len(starts)} starts and {len(stops)} stops after {kills[node]} kills")
        for i in starts[1:]:  # a restart resumes exactly where its log left off
            if not records[i]["resumed_clock"] == records[i]["clock"] == records[i - 1]["clock"]:
                said = records[i - 1]["clock"]
                problems.append(f"{node}:{i + 1}: resumed at {records[i]['resumed_clock']}, its log said {said}")
        problems += _tick_indices(node, records)
        reason = SIGTERM if node in termed else "duration"
        if stops and stops[-1]["reason"] != reason:
            problems.append(f"{node}: stopped with {stops[-1]['reason']!r}, expected {reason!r}")
        if node not in termed:
            ends.append(logcheck.tick_records(records)[-1]["ts"])
    if ends and max(ends) - min(ends) >= 1.0:  # restarted nodes end with the run, not later
        problems.append(f"the running nodes' last ticks are {max(ends) - min(ends):.3f} s apart")
    lossy = [
        faultcheck.LossyFault(a.fault.kind, a.fault.node, a.start) for a in nemesis.applied if a.fault.kind != "pause"
    ]
    problems += faultcheck.check_loss(run, summary, lossy)  # FIFO, clock condition, the loss bound
    if not summary["messages"]["clock_condition"]["holds"] or not summary["causality"]["lamport_consistent"]:
        problems.append("the analysis finds the clock condition broken")
    problems += [f"analysis: {problem}" for problem in summary["problems"]]
    return problems


def _tick_indices(node: str, records: list[logcheck.Record]) -> list[str]:
    """Each incarnation's ticks are 0, 1, 2 ..., skipping exactly what its stall lines say."""
    expected = 0
    for n, record in enumerate(records, 1):
        event = record["event"]
        if event == "start":
            expected = 0
        elif event == "stall":
            expected += record["skipped"]
        elif event in logcheck.TICK_EVENTS:
            if record["tick"] != expected:
                return [f"{node}:{n}: tick {record['tick']}, expected {expected}"]
            expected += 1
    return []


def test_nemesis(logs: Path) -> None:
    seed = int(os.environ.get(SEED_VARIABLE) or secrets.randbelow(2**32))
    faults = schedule(seed)
    replay = f"nemesis seed {seed} (replay: {SEED_VARIABLE}={seed})"
    print(f"{replay}: {', '.join(map(str, faults))}")
    nemesis: Nemesis | None = None
    try:
        with cluster(logs, {**ENV, "SEED": str(seed)}, services=NODES) as running:
            folder = wait_until_ticking(running)
            nemesis = Nemesis(running, folder, time.time())
            try:
                nemesis.run(faults)
            finally:
                nemesis.save(logs.parent / "nemesis.json")
            codes = running.wait_until_exited(("init", *NODES), timeout=DURATION + 60)
        run = logcheck.load_run(folder)
        problems = [f"exit codes {codes}"] if set(codes.values()) != {0} else []
        problems += check(run, analyse(analysis_load_run(folder)).summary, nemesis)
    except Exception as error:  # a docker command, a timeout: still one line, with the seed
        what = nemesis.describe() if nemesis else "before the first fault"
        pytest.fail(f"{replay}: {type(error).__name__}: {error}; {what}", pytrace=False)
    if problems:
        shown = "; ".join(problems[:6]) + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else "")
        pytest.fail(
            f"{replay}: {len(problems)} problems: {shown}; {nemesis.describe()}; logs in {folder}", pytrace=False
        )

"""Deterministic fault testing at scale: `python -m node.simulate --chaos --seeds N`.

A seed gives a random configuration (2 to 5 nodes, rates, MAX_EVENT_NUM, a few seconds of model
time, delays and jitter, sometimes a tiny MAX_QUEUE, either delivery mode) and a random schedule
of faults that may overlap: pauses, kills with restart, isolations, cut links and SIGTERMs (a
graceful early stop). The cluster runs in memory in virtual time (node.simulation), and the
records are checked against every invariant (analysis.invariants): each node's clock rules
across restarts, per-link FIFO, the clock condition, sent = received + dropped + left + in flight
+ lost with none lost where no fault could lose it and none duplicated, `stop` last, a start and
a stop line for every incarnation; and the simulation itself must end (no hang, no livelock)
without a node failing or the simulator raising. As with FoundationDB's simulator and
TigerBeetle's VOPR, a seed replays exactly: `python -m node.simulate --chaos --seed S` prints the
configuration, the schedule, what broke, and the plain simulator command that writes the same
run as files for the analysis.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from types import FrameType
from typing import Any

from node.clock import NO_BUG
from node.linkrules import BACKOFF_MAX, CONNECT_TIMEOUT
from node.simulation import SIGTERM, Fault, Outcome, Simulation, cluster, run_simulation
from node.virtual import SimulationError

Record = dict[str, Any]
Run = dict[str, list[Record]]
Link = tuple[str, str]

REPLAY = "python -m node.simulate --chaos --seed {seed}"  # + --clock-bug B when one is planted
FAULT_KINDS = ("pause", "kill", "kill", "isolate", "cut", "term")  # kills twice as often: they do most
# How long after a fault ends every node is connected again: peers redial a lost peer at most
# BACKOFF_MAX apart, and a dial begun during a cut fails only after CONNECT_TIMEOUT.
RESTART_MARGIN = CONNECT_TIMEOUT + BACKOFF_MAX + 0.5
WALL_LIMIT = 120.0  # seconds of real time for one seed: far above any (about 20 ms), a hang below it
PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr


@dataclass(frozen=True)
class Chaos:
    """One seed's configuration and fault schedule: the arguments of node.simulation.cluster."""

    seed: int
    nodes: int
    duration: float
    rates: dict[str, int]
    env: dict[str, str]  # node variables, as --set gives them
    delay: float
    jitter: float
    start_skew: float
    faults: tuple[Fault, ...]

    def simulation(self) -> Simulation:
        return cluster(
            self.nodes,
            seed=self.seed,
            env=self.env,
            rates=self.rates,
            duration=self.duration,
            run_id=f"chaos-{self.seed}",
            delay=self.delay,
            jitter=self.jitter,
            start_skew=self.start_skew,
            faults=self.faults,
        )

    def command(self) -> str:
        """The plain simulator command that runs this simulation into a run folder (for the analysis)."""
        parts = ["python -m node.simulate", f"--nodes {self.nodes}", f"--seed {self.seed}"]
        parts.append("--rates " + ",".join(str(self.rates[f"node{i}"]) for i in range(1, self.nodes + 1)))
        parts.append(f"--duration {self.duration!r}")
        parts += [f"--set {name}={value}" for name, value in self.env.items()]
        parts += [f"--delay {self.delay!r}", f"--jitter {self.jitter!r}", f"--start-skew {self.start_skew!r}"]
        parts += [str(fault) for fault in self.faults]
        return " ".join([*parts, f"--out logs/chaos-{self.seed} --analyse"])

    def describe(self) -> list[str]:
        rates = ", ".join(f"{node} {rate}/s" for node, rate in self.rates.items())
        settings = " ".join(f"{name}={value}" for name, value in self.env.items())
        network = f"wire delay {self.delay * 1000:g} ms, jitter {self.jitter * 1000:g} ms"
        lines = [
            f"seed {self.seed}: {self.nodes} nodes for {self.duration:g} s ({rates})",
            f"  {settings}; {network}, start skew {self.start_skew * 1000:g} ms",
            f"  {len(self.faults)} faults{':' if self.faults else ''}",
        ]
        lines += [f"    {fault}" for fault in self.faults]
        return lines


def _ms(rng: random.Random, lo: float, hi: float) -> float:
    """A uniform draw in seconds, to the millisecond (printed as it is used)."""
    return round(rng.uniform(lo, hi), 3)


def generate(seed: int, clock_bug: str = NO_BUG) -> Chaos:
    """The configuration and schedule of `seed`: the same on every machine and Python run; with
    `clock_bug`, every node runs that planted bug (the checks must then find it)."""
    rng = random.Random(f"chaos/{seed}")  # a str seed is hashed with SHA-512: stable everywhere
    nodes = rng.randint(2, 5)
    ids = [f"node{i}" for i in range(1, nodes + 1)]
    duration = round(rng.uniform(3.0, 9.0), 1)
    band = rng.choice([(1, 5), (1, 20), (5, 40), (20, 100)])
    rates = {node: rng.randint(*band) for node in ids}
    env = {
        "MAX_EVENT_NUM": str(nodes + rng.choice([0, 0, 1, 2, 5, 10])),
        "DELIVERY": rng.choice(["reliable", "reliable", "reliable", "at-most-once"]),
        "STATUS_INTERVAL": rng.choice(["0", "1", "5"]),
    }
    if clock_bug != NO_BUG:
        env["CLOCK_BUG"] = clock_bug
    if rng.random() < 0.2:
        env["MAX_QUEUE"] = str(rng.randint(1, 20))
    if rng.random() < 0.4:
        env["NET_DELAY_MS"] = f"{rng.uniform(0, 30):.1f}"
    if rng.random() < 0.3:
        env["NET_JITTER_MS"] = f"{rng.uniform(0, 20):.1f}"
    if rng.random() < 0.2:
        env[f"{rng.choice(ids).upper()}_NET_DELAY_MS"] = f"{rng.uniform(0, 100):.1f}"
    delay = rng.choice([0.0002, 0.0002, _ms(rng, 0, 0.005), round(rng.uniform(0, 0.05), 4)])
    jitter = rng.choice([0.0, 0.0, round(rng.uniform(0, 0.01), 4)])
    start_skew = rng.choice([0.0, 0.0, round(rng.uniform(0, 0.2), 3)])
    kinds = [rng.choice(FAULT_KINDS) for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4, 6]))]
    faults = _schedule(rng, kinds, ids, duration)
    return Chaos(seed, nodes, duration, rates, env, delay, jitter, start_skew, tuple(faults))


def _schedule(rng: random.Random, kinds: list[str], ids: list[str], duration: float) -> list[Fault]:
    """Faults of these kinds at random times, overlapping as they fall, restarts and SIGTERMs
    after the end of the run included. Only the start barrier's documented limit (README: Limits)
    is kept out: a node held up before it ticked (paused, cut off, killed) must still find its
    peers running when it comes back, and a node gone for good (SIGTERM) must not leave others
    waiting at the barrier."""
    faults = []
    for kind in kinds:
        if kind != "term":
            at, seconds = _ms(rng, 0, duration), _ms(rng, 0.05, 3.0 if kind == "kill" else 4.0)
            nodes = tuple(sorted(rng.sample(ids, 2))) if kind == "cut" else (rng.choice(ids),)
            faults.append(Fault(kind, nodes, at, seconds))
    latest = duration - RESTART_MARGIN  # a fault begun before everyone ticked ends by then
    ticked = everyone_ticked(faults)
    early = [f for f in faults if f.at < ticked and f.at + f.seconds > latest]
    faults = [f for f in faults if f not in early]
    faults += [replace(f, seconds=round(latest - f.at, 3)) for f in early if latest - f.at >= 0.05]
    ticked = everyone_ticked(faults)
    settled = max([ticked, *(f.at + f.seconds + RESTART_MARGIN for f in faults if f.kind == "kill" and f.at < ticked)])
    for kind in kinds:
        if kind == "term":
            faults.append(Fault(kind, (rng.choice(ids),), _ms(rng, settled, max(settled, duration + 0.5)), 0.0))
    return sorted(faults, key=lambda f: f.at)


def everyone_ticked(faults: list[Fault]) -> float:
    """A time by which every node has ticked: the barrier completes within a second unless a fault
    begun before it holds it up, and then RESTART_MARGIN after that fault ends."""
    ticked = 1.0
    while True:
        later = max([ticked, *(f.at + f.seconds + RESTART_MARGIN for f in faults if f.at < ticked)])
        if later == ticked:
            return ticked
        ticked = later


def lossy_links(chaos: Chaos) -> set[Link]:
    """The links on which messages may be lost: at-most-once delivery across a kill, an
    isolation, a cut or a stop (what the broken connection held). A pause loses nothing."""
    if chaos.env.get("DELIVERY") != "at-most-once":  # reliable (the default): no link may lose
        return set()
    ids = [f"node{i}" for i in range(1, chaos.nodes + 1)]
    lossy: set[Link] = set()
    for fault in chaos.faults:
        if fault.kind == "cut":
            a, b = fault.nodes
            lossy |= {(a, b), (b, a)}
        elif fault.kind != "pause":
            lossy |= {(n, p) for n in ids for p in ids if n != p and fault.nodes[0] in (n, p)}
    return lossy


@dataclass
class Result:
    seed: int
    violations: list[str] = field(default_factory=list)
    lines: int = 0


class WallClockError(Exception):
    """One seed ran longer than WALL_LIMIT of real time: a hang that virtual time cannot see."""


@contextmanager
def _wall_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise WallClockError(f"still running after {seconds:g} s of real time")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _where(error: BaseException) -> str:
    """The innermost frame of an exception, as file:line (function)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{os.path.relpath(frame.filename)}:{frame.lineno} ({frame.name})"


def run_chaos(chaos: Chaos) -> tuple[Run, Outcome]:
    run: Run = {f"node{i}": [] for i in range(1, chaos.nodes + 1)}
    outcome = run_simulation(chaos.simulation(), lambda node, record: run[node].append(record))
    return run, outcome


def check(chaos: Chaos, run: Run, outcome: Outcome) -> list[str]:
    """Every invariant of a chaos run, as human-readable violations (none: it held)."""
    # The analysis is imported here, not at module level: the node image ships node/ alone,
    # and a node never needs the checks (only `python -m node.simulate --chaos` does).
    from analysis import invariants  # noqa: PLC0415

    violations = [*outcome.errors]
    for node, codes in outcome.exit_codes.items():
        if any(code not in (0, None) for code in codes):
            violations.append(f"{node}: exit codes {codes} (None: killed)")
    problems = invariants.check_fields(run)
    if problems:  # the other checks read these fields
        return violations + problems
    violations += invariants.check_clock_rules(run)
    violations += invariants.check_links(run, lossy_links(chaos))
    touched = {node for fault in chaos.faults for node in fault.nodes}
    untouched = {node: records for node, records in run.items() if node not in touched}
    violations += invariants.check_tick_counts(untouched, chaos.duration)
    termed = {f.nodes[0] for f in chaos.faults if f.kind == "term"}
    for node, records in run.items():
        codes = outcome.exit_codes[node]
        starts = sum(1 for r in records if r["event"] == "start")
        stops = [r for r in records if r["event"] == "stop"]
        if (starts, len(stops)) != (len(codes), sum(1 for c in codes if c is not None)):
            violations.append(
                f"{node}: {starts} start and {len(stops)} stop lines for exit codes {codes} (lines lost or extra)"
            )
        reasons = {"duration", SIGTERM} if node in termed else {"duration"}
        if stops and stops[-1]["reason"] not in reasons:
            violations.append(f"{node}: stopped with reason {stops[-1]['reason']!r}, expected {sorted(reasons)}")
    return violations


def check_seed(seed: int, clock_bug: str = NO_BUG) -> Result:
    """Generate, run and check one seed; anything that goes wrong is a violation of that seed,
    in one line (a crash inside the simulator included)."""
    result = Result(seed)
    try:
        with _wall_limit(WALL_LIMIT):
            chaos = generate(seed, clock_bug)
            run, outcome = run_chaos(chaos)
            result.lines = outcome.lines
            result.violations = check(chaos, run, outcome)
    except (SimulationError, WallClockError) as error:
        result.violations = [f"hang: {error}"]
    except Exception as error:  # a crash is a finding of this seed, not the end of the run
        result.violations = [f"crash: {type(error).__name__}: {error} at {_where(error)}"]
    return result


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Report:
    """What a run of many seeds found: the failing seeds in order, how many ran, in what time."""

    failed: list[Result]
    done: int
    seconds: float
    interrupted: bool = False


def run_seeds(first: int, count: int, progress: bool = True, clock_bug: str = NO_BUG) -> Report:
    """Check seeds first .. first+count-1 on every core (Ctrl-C stops early: `interrupted`)."""
    started = time.perf_counter()
    report = Report([], 0, 0.0)
    shown = started
    try:
        for result in _results(range(first, first + count), clock_bug):
            report.done += 1
            if result.violations:
                report.failed.append(result)
            now = time.perf_counter()
            if progress and now - shown >= PROGRESS_EVERY:
                shown = now
                line = f"{report.done:,}/{count:,} schedules, {len(report.failed)} violations, {now - started:.0f} s"
                print(f"chaos: {line}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        report.interrupted = True
    report.failed.sort(key=lambda r: r.seed)
    report.seconds = time.perf_counter() - started
    return report


def _results(seeds: range, clock_bug: str) -> Iterator[Result]:
    """check_seed of every seed, in any order: in worker processes, or here for a handful."""
    workers = min(_workers(), max(1, len(seeds) // 50))
    one = partial(check_seed, clock_bug=clock_bug)
    if workers == 1:
        yield from map(one, seeds)
        return
    with multiprocessing.Pool(workers, initializer=_ignore_interrupt) as pool:
        yield from pool.imap_unordered(one, seeds, chunksize=8)


def _ignore_interrupt() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (no traceback from each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def replay(seed: int, clock_bug: str = NO_BUG) -> str:
    """The command that replays one seed."""
    return REPLAY.format(seed=seed) + (f" --clock-bug {clock_bug}" if clock_bug != NO_BUG else "")


def main(seed: int, seeds: int | None, clock_bug: str = NO_BUG) -> int:
    """The CLI (node.simulate): one seed in detail, or `seeds` seeds from `seed` on."""
    if seeds is None:
        return _one(seed, clock_bug)
    report = run_seeds(seed, seeds, clock_bug=clock_bug)
    print(f"{report.done} schedules, {len(report.failed)} violations, {report.seconds:.1f} s", flush=True)
    if report.failed:
        first = report.failed[0]
        more = f" (+{len(first.violations) - 1} more)" if len(first.violations) > 1 else ""
        again = replay(first.seed, clock_bug)
        print(f"chaos: first failing seed {first.seed}: {first.violations[0]}{more}; replay: {again}", file=sys.stderr)
        return 1
    if report.interrupted:
        print(f"chaos: interrupted after {report.done} of {seeds} schedules", file=sys.stderr)
        return 130
    return 0


def _one(seed: int, clock_bug: str) -> int:
    chaos = generate(seed, clock_bug)
    print("\n".join(chaos.describe()))
    print(f"  as files: {chaos.command()}")
    result = check_seed(seed, clock_bug)
    print(f"  {result.lines:,} lines")
    if not result.violations:
        print(f"seed {seed}: no violations")
        return 0
    for violation in result.violations:
        print(f"  violation: {violation}")
    print(f"chaos: seed {seed}: {len(result.violations)} violations", file=sys.stderr)
    return 1

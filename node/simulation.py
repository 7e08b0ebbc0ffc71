"""The simulated cluster: the real node core (node.core) run in virtual time, faults included.

Every node is a `NodeCore`, configured by the same `load_config` from the same variables and
defaults as a container, seeded the same way (a SEED gives the same rates and event draws as a
real run), on the simulator's event heap (node.virtual), network (node.simnet) and logs
(node.simlog). Ties are broken deterministically: at one instant deliveries come before node
timers, and nodes go in id order. Same simulation, same output, byte for byte. The command line
is node.simulate; faults are described there and in node.simnet.
"""

from __future__ import annotations

import gc
import json
import math
import random
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from node.channel import Channels
from node.config import DEFAULTS, NodeConfig, load_config, node_environment
from node.core import NodeCore
from node.interfaces import TransportEvents
from node.linkrules import unacked_limit
from node.model import node_seed
from node.simlog import JsonLinesOutput, Output, SimLog, record_output
from node.simnet import VirtualNetwork
from node.simtransport import VirtualTransport
from node.virtual import LIVELOCK_CHECK, EventHeap, Machine, NodeTime

Sink = Callable[[str, dict[str, Any]], None]
KINDS = ("pause", "kill", "isolate", "cut", "term")
SIGTERM = f"signal {signal.SIGTERM.name}"  # the stop reason node.realtime's SIGTERM handler gives
# Callbacks one directed link may legitimately have at one instant (dial, answer, welcome, ...),
# with room to spare: all links connect at the same instants (node.virtual: the livelock check).
CALLBACKS_PER_LINK = 16


@dataclass(frozen=True)
class Fault:
    kind: str  # one of KINDS
    nodes: tuple[str, ...]  # the node, or the two ends of a cut link
    at: float  # seconds of virtual time
    seconds: float  # 0 for a term: a stop has no end

    def __str__(self) -> str:
        span = "" if self.kind == "term" else f":{self.seconds:g}"
        return f"--{self.kind} {'-'.join(self.nodes)}@{self.at:g}{span}"


def parse_fault(kind: str, text: str, node_ids: tuple[str, ...]) -> Fault:
    """`NODE@T:D` (`A-B@T:D` for a cut, `NODE@T` for a term) -> Fault; ValueError with a one-line reason."""
    usage = {"cut": "A-B@T:D, e.g. node1-node2@10:3", "term": "NODE@T, e.g. node1@10"}.get(
        kind, "NODE@T:D, e.g. node1@10:3"
    )
    where, _, when = text.rpartition("@")
    at_text, colon, seconds_text = when.partition(":")
    try:
        at, seconds = float(at_text), 0.0 if kind == "term" else float(seconds_text)
        if kind == "term" and colon:
            raise ValueError
    except ValueError:
        raise ValueError(f"--{kind} {text!r}: expected {usage} (in seconds)") from None
    if not (math.isfinite(at) and math.isfinite(seconds)) or at < 0 or (seconds <= 0 and kind != "term"):
        raise ValueError(f"--{kind} {text!r}: T must be 0 or more and D above 0 (seconds)")
    if kind == "cut":
        splits = [(where[:i], where[i + 1 :]) for i, c in enumerate(where) if c == "-"]
        ends = [pair for pair in splits if pair[0] in node_ids and pair[1] in node_ids and pair[0] != pair[1]]
        if not ends:
            raise ValueError(f"--cut {text!r}: expected two different nodes of {', '.join(node_ids)}: {usage}")
        return Fault(kind, ends[0], at, seconds)
    if where not in node_ids:
        raise ValueError(f"--{kind} {text!r}: no node {where!r} (nodes: {', '.join(node_ids)}); expected {usage}")
    return Fault(kind, (where,), at, seconds)


@dataclass(frozen=True)
class Simulation:
    """What to simulate: each node's configuration, the network, the faults."""

    configs: tuple[NodeConfig, ...]
    seed: int
    run_id: str = "simulated"
    delay: float = 0.0002  # seconds, one way, on every link (the wire; NET_DELAY_MS comes on top)
    jitter: float = 0.0  # extra uniform delay in [0, jitter), never reordering a link
    start_skew: float = 0.0  # each node completes its connect barrier at a seeded offset in [0, start_skew)
    offsets: dict[str, float] = field(default_factory=dict)  # or at these offsets (s), e.g. measured ones
    faults: tuple[Fault, ...] = ()
    epoch: float = 0.0  # the `ts` of virtual time 0

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(c.node_id for c in self.configs)

    def describe(self) -> dict[str, Any]:
        """run.json's account of the simulation."""
        network = {"delay": self.delay, "jitter": self.jitter, "start_skew": self.start_skew, "offsets": self.offsets}
        return {"network": network, "faults": [asdict(f) for f in self.faults]}


def cluster(
    nodes: int = 3,
    *,
    seed: int = 0,
    env: Mapping[str, str] | None = None,
    rates: Mapping[str, int] | None = None,
    duration: float | None = None,
    max_event_num: int | None = None,
    run_id: str = "simulated",
    **network: Any,
) -> Simulation:
    """A simulation of node1..nodeN configured as docker-compose.yml configures containers:
    DEFAULTS, then `env` (cluster-wide variables, NODE<k>_... for one node), then the shortcuts.
    Raises ConfigError for a bad value, with the node's own message."""
    shared: dict[str, str] = {**DEFAULTS, **(env or {}), "SEED": str(seed), "RUN_ID": run_id}
    if duration is not None:
        shared["DURATION"] = f"{duration:g}"
    if max_event_num is not None:
        shared["MAX_EVENT_NUM"] = str(max_event_num)
    for node, rate in (rates or {}).items():
        shared[f"{node.upper()}_CLOCK_RATE"] = str(rate)
    ids = tuple(f"node{i}" for i in range(1, nodes + 1))
    configs = []
    for node_id in ids:
        own = node_environment(shared, node_id)
        own.update(NODE_ID=node_id, PEERS=",".join(f"{p}:{DEFAULTS['PORT']}" for p in ids if p != node_id))
        own.setdefault("LOG_DIR", "virtual")
        configs.append(load_config(own))
    return Simulation(tuple(configs), seed, run_id, **network)


class _Console:
    """A node's console in virtual time: status lines go nowhere, errors are kept with their time."""

    def __init__(self, heap: EventHeap, errors: list[str], echo: bool) -> None:
        self.heap, self.errors, self.echo = heap, errors, echo

    def say(self, text: str) -> None:
        if self.echo:
            print(f"[{self.heap.now:9.3f}] {text}")

    def error(self, text: str) -> None:
        self.errors.append(f"t={self.heap.now:.3f} s: {text}")


@dataclass
class Outcome:
    lines: int
    exit_codes: dict[str, list[int | None]]  # per node, each incarnation's (None: killed)
    errors: list[str]  # what nodes said on stderr, with the virtual time
    cores: dict[str, NodeCore]  # each node's last incarnation

    @property
    def ok(self) -> bool:
        return not self.errors and all(code in (0, None) for codes in self.exit_codes.values() for code in codes)


def simulate(
    sim: Simulation,
    output: Output | None = None,
    *,
    echo: bool = False,
    marks: Sequence[tuple[float, Callable[[], None]]] = (),
) -> Outcome:
    """Run `sim`, handing every log line to `output` (None: nowhere) in virtual time order.
    `marks`: (virtual time, callback) to call then, before anything else due at that instant;
    they change nothing in the run (bench.simspeed times its phases with them)."""
    if any(c.duration <= 0 for c in sim.configs):
        raise ValueError("a simulation needs DURATION > 0")
    ids = sim.node_ids
    heap = EventHeap(sim.epoch, LIVELOCK_CHECK + CALLBACKS_PER_LINK * len(ids) * (len(ids) - 1))
    for when, callback in marks:
        heap.at(when, callback)
    network_rng = random.Random(node_seed(sim.seed, "network"))
    ready = dict(sim.offsets)
    if sim.start_skew > 0 and not ready:  # drawn before any jitter, in node-id order
        ready = {node: network_rng.random() * sim.start_skew for node in ids}
    base = 4 * sim.delay  # every first connection is up by then (node.simnet): offsets count from it
    net = VirtualNetwork(heap, sim.delay, sim.jitter, network_rng, {n: base + t for n, t in ready.items()})
    logs = {c.node_id: SimLog(c.node_id, output, unacked_limit(c.max_queue)) for c in sim.configs}
    errors: list[str] = []
    codes: dict[str, list[int | None]] = {node: [] for node in ids}
    cores: dict[str, NodeCore] = {}
    machines: dict[str, Machine] = {}

    def boot(index: int) -> None:
        config = sim.configs[index]
        node = config.node_id
        machine = machines[node] = Machine()
        clock = NodeTime(heap, machine, 1 + index)
        incarnation = len(codes[node])
        codes[node].append(None)

        def transport(events: TransportEvents, channels: Channels) -> VirtualTransport:
            rng = random.Random(node_seed(sim.seed, f"{node}/net"))  # as node.realtime seeds NET_JITTER_MS
            delay, jitter = config.net_delay_ms / 1000, config.net_jitter_ms / 1000
            return VirtualTransport(
                net, node, config.peer_ids, events, channels, clock, delay, jitter, rng, config.port
            )

        def exited(code: int) -> None:
            codes[node][incarnation] = code
            machine.alive = False  # the process ended: nothing of it runs any more

        core = cores[node] = NodeCore(
            config,
            sim.run_id,
            sim.seed,
            scheduler=clock,
            transport=transport,
            log=logs[node],
            console=_Console(heap, errors, echo),
            on_exit=exited,
            time_kind="virtual",
        )
        # Boots come first at their instant (rank 0): nodes booting together are all listening
        # before the first of them dials (node.simnet dials one wire delay after booting).
        heap.at(heap.now, core.start, rank=0, machine=machine)

    for index in range(len(ids)):
        boot(index)

    def restart(node: str) -> None:
        if not machines[node].alive:  # `docker start` of a running container does nothing (kills overlap)
            boot(ids.index(node))

    for fault in sim.faults:
        _schedule(fault, heap, net, machines, cores, restart)
    config = sim.configs[0]
    ends = [f.at + f.seconds for f in sim.faults]
    limit = max([0.0, *ends]) + config.duration + config.start_timeout + config.drain_timeout + 60
    # The run makes no cyclic garbage (after a million events gc.collect() finds none), but the
    # cyclic collector would walk every live object again and again as they grow in number: a
    # third of the time of 300 nodes connecting. Off while it runs; what a kill leaves is collected after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        heap.run(limit)
    finally:
        if collecting:
            gc.enable()
    for node, machine in machines.items():
        if machine.alive and codes[node][-1] is None:  # nothing left to run, and it never ended
            errors.append(f"t={heap.now:.3f} s: {node}: did not end (its life still waits; a bug)")
    return Outcome(sum(log.lines for log in logs.values()), codes, errors, cores)


def _schedule(
    fault: Fault,
    heap: EventHeap,
    net: VirtualNetwork,
    machines: dict[str, Machine],
    cores: dict[str, NodeCore],
    restart: Callable[[str], None],
) -> None:
    node = fault.nodes[0]
    end = fault.at + fault.seconds
    if fault.kind == "pause":

        def pause() -> None:
            machine = machines[node]
            machine.frozen_until = max(machine.frozen_until, end)
            heap.at(end, lambda: net.resume(node))

        heap.at(fault.at, pause)
    elif fault.kind == "kill":

        def kill() -> None:
            machines[node].alive = False
            net.kill(node)
            heap.at(end, lambda: restart(node))

        heap.at(fault.at, kill)
    elif fault.kind == "term":
        # `docker stop`: SIGTERM, handled as node.realtime handles it (a callback of the node's
        # own process: it waits while the node is paused and is lost with a killed one).
        def term() -> None:
            core = cores[node]  # the incarnation running at `at`
            core.scheduler.call_soon(lambda: core.request_stop(SIGTERM))

        heap.at(fault.at, term)
    else:
        heap.at(fault.at, lambda: net.cut(frozenset(fault.nodes), fault.seconds))


def run_simulation(sim: Simulation, sink: Sink) -> Outcome:
    """Run `sim`, handing every record to `sink(node_id, record)` in virtual time order."""
    return simulate(sim, record_output(sink))


def write_simulation(
    sim: Simulation, folder: Path, *, marks: Sequence[tuple[float, Callable[[], None]]] = ()
) -> Outcome:
    """Run `sim` and write its logs into `folder`, plus run.json (`marks`: as for simulate)."""
    out = JsonLinesOutput(folder, sim.node_ids)
    try:
        outcome = simulate(sim, out, marks=marks)
    finally:
        out.close()
    info = {"run_id": sim.run_id, "seed": sim.seed, "simulated": True, **sim.describe()}
    (folder / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return outcome

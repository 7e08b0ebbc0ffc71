"""A deterministic simulator: the nodes' real model code run in virtual time, with no sockets.

Each node is the same `NodeModel` the containers run, seeded the same way (so a SEED gives the
same rates and the same event draws as a real run); ticks happen exactly at k/rate and a
message sent at t arrives at t + delay (+ a seeded jitter, never overtaking on its link).
Ties are broken deterministically: at one instant deliveries come before ticks, and ticks go in
node-id order. Output has the node log format (node.records), so the analysis reads simulated
runs unchanged. Same configuration, same output, byte for byte.

    python -m node.simulate --rates 1,3,6 --duration 3600 --out logs/sim-hour
    python -m node.simulate --nodes 5 --max-event-num 6 --seed 42 --analyse

Two outputs share one event loop: `run_simulation` hands each record to a callback as a dict
(tests, benchmarks), `write_simulation` writes JSON lines directly, formatting each line the way
json.dumps would (checked byte for byte in tests/unit/test_simulate.py), which is what makes an
hour of model time take seconds.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from node import __version__
from node.model import Message, NodeModel, Receive, Send, draw_rate, node_seed
from node.records import internal_fields, log_line, receive_fields, send_fields, start_fields, stop_fields
from node.ticker import tick_count

Record = dict[str, Any]
Sink = Callable[[str, Record], None]

_DELIVER, _TICK = 0, 1  # at equal times, deliveries first


@dataclass(frozen=True)
class Simulation:
    """What to simulate. Rates not pinned in `rates` are drawn from the seed like real nodes."""

    node_ids: tuple[str, ...] = ("node1", "node2", "node3")
    min_rate: int = 1
    max_rate: int = 6
    rates: dict[str, int] = field(default_factory=dict)
    max_event_num: int = 10
    duration: float = 60.0
    seed: int = 0
    delay: float = 0.0002  # seconds, one way
    jitter: float = 0.0  # extra uniform delay in [0, jitter)
    start_skew: float = 0.0  # each node starts ticking at a seeded offset in [0, start_skew)
    offsets: dict[str, float] = field(default_factory=dict)  # or at these offsets (s), e.g. measured ones
    epoch: float = 0.0  # the `ts` of virtual time 0
    run_id: str = "simulated"

    def as_log_fields(self) -> dict[str, Any]:
        return {
            "simulator": True,
            "nodes": list(self.node_ids),
            "min_clock_rate": self.min_rate,
            "max_clock_rate": self.max_rate,
            "pinned_rates": dict(self.rates),
            "max_event_num": self.max_event_num,
            "duration": self.duration,
            "seed": self.seed,
            "delay": self.delay,
            "jitter": self.jitter,
            "start_skew": self.start_skew,
            "offsets": dict(self.offsets),
        }


class Output(Protocol):
    """Where the simulation's events go; `ts` is virtual time plus the epoch."""

    def start(self, node: str, ts: float, fields: Record) -> None: ...

    def connected(self, node: str, ts: float, peer: str) -> None: ...

    def receive(self, node: str, ts: float, clock: int, queue: int, tick: int, message: Message) -> None: ...

    def send(self, node: str, ts: float, clock: int, queue: int, tick: int, to: tuple[str, ...]) -> None: ...

    def internal(self, node: str, ts: float, clock: int, queue: int, tick: int) -> None: ...

    def stop(self, node: str, ts: float, clock: int, queue: int, fields: Record) -> None: ...


@dataclass
class _SimNode:
    node_id: str
    rate: int
    drawn_rate: int
    seed: int
    model: NodeModel
    count: int
    offset: float = 0.0  # virtual time of this node's first tick
    counts: dict[str, int] = field(
        default_factory=lambda: {"receive": 0, "send": 0, "internal": 0, "drop": 0, "skipped": 0}
    )


def _nodes(sim: Simulation) -> dict[str, _SimNode]:
    if sim.duration <= 0:
        raise ValueError("a simulation needs a duration > 0")
    ids = tuple(sorted(sim.node_ids))
    nodes = {}
    for node_id in ids:
        seed = node_seed(sim.seed, node_id)
        rng = random.Random(seed)
        drawn = draw_rate(rng, sim.min_rate, sim.max_rate)
        rate = sim.rates.get(node_id, drawn)
        model = NodeModel(tuple(p for p in ids if p != node_id), sim.max_event_num, rng)
        count = tick_count(rate, sim.duration)
        assert count is not None
        nodes[node_id] = _SimNode(node_id, rate, drawn, seed, model, count)
    return nodes


def simulate(sim: Simulation, out: Output) -> dict[str, NodeModel]:
    """Run `sim`, reporting every event to `out` in global time order. Returns the final models."""
    nodes = _nodes(sim)
    ids = tuple(nodes)
    epoch = sim.epoch
    network_rng = random.Random(node_seed(sim.seed, "network"))
    if sim.start_skew > 0:  # drawn before any jitter, in node-id order: part of the seed's story
        for node in nodes.values():
            node.offset = network_rng.random() * sim.start_skew
    for node_id, offset in sim.offsets.items():
        nodes[node_id].offset = offset
    last_arrival: dict[tuple[str, str], float] = {}
    # (time, kind, tie-break, node, tick index or clock value, sender). Ties at one time and kind:
    # ticks in node-id order (the node's index), deliveries in the order they were sent (seq).
    heap: list[tuple[float, int, int, str, int, str]] = []
    seq = 0
    order = {node_id: i for i, node_id in enumerate(ids)}
    for node in nodes.values():
        out.start(
            node.node_id,
            epoch,
            start_fields(
                rate=node.rate,
                drawn_rate=node.drawn_rate,
                seed=sim.seed,
                node_seed=node.seed,
                resumed_clock=0,
                run_id=sim.run_id,
                version=__version__,
                pid=0,
                config=sim.as_log_fields(),
            ),
        )
        for peer in node.model.peers:
            out.connected(node.node_id, epoch, peer)
        heap.append((node.offset, _TICK, order[node.node_id], node.node_id, 0, ""))
    heapq.heapify(heap)
    pop, push, replace = heapq.heappop, heapq.heappush, heapq.heapreplace
    delay, jitter, jitter_draw = sim.delay, sim.jitter, network_rng.random
    end = max(n.offset + n.count / n.rate for n in nodes.values())
    receive_out, send_out, internal_out = out.receive, out.send, out.internal
    while heap:
        t, kind, _, node_id, number, sender = heap[0]
        node = nodes[node_id]
        model = node.model
        if kind == _DELIVER:
            pop(heap)
            model.deliver(Message(sender, number, epoch + t))
            end = max(end, t)
            continue
        # Reschedule this node's next tick in place of the current one (one heap operation).
        if number + 1 < node.count:
            replace(heap, (node.offset + (number + 1) / node.rate, _TICK, order[node_id], node_id, number + 1, ""))
        else:
            pop(heap)
        outcome = model.tick()
        if type(outcome) is Receive:
            node.counts["receive"] += 1
            receive_out(node_id, epoch + t, outcome.clock, outcome.queue, number, outcome.message)
        elif type(outcome) is Send:
            node.counts["send"] += 1
            send_out(node_id, epoch + t, outcome.clock, len(model.queue), number, outcome.to)
            for peer in outcome.to:
                arrival = t + delay + (jitter_draw() * jitter if jitter else 0.0)
                link = (node_id, peer)
                arrival = max(arrival, last_arrival.get(link, 0.0))  # TCP keeps a link FIFO: no overtaking
                last_arrival[link] = arrival
                push(heap, (arrival, _DELIVER, seq, peer, outcome.clock, node_id))
                seq += 1
        else:
            node.counts["internal"] += 1
            internal_out(node_id, epoch + t, outcome.clock, len(model.queue), number)
    for node_id in ids:
        node = nodes[node_id]
        fields = stop_fields(
            reason="duration", queue_by_peer=node.model.queued_by_sender(), counts=node.counts, unfinished=[]
        )
        out.stop(node_id, epoch + end, node.model.clock.value, len(node.model.queue), fields)
    return {node_id: node.model for node_id, node in nodes.items()}


class RecordOutput:
    """Hands each event to `sink(node, record)` as the dict a node would log."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def _emit(self, node: str, ts: float, event: str, clock: int, queue: int, fields: Record) -> None:
        self.sink(node, log_line(ts, node, event, clock, queue, fields))

    def start(self, node: str, ts: float, fields: Record) -> None:
        self._emit(node, ts, "start", 0, 0, fields)

    def connected(self, node: str, ts: float, peer: str) -> None:
        self._emit(node, ts, "connected", 0, 0, {"peer": peer})

    def receive(self, node: str, ts: float, clock: int, queue: int, tick: int, message: Message) -> None:
        self._emit(node, ts, "receive", clock, queue, receive_fields(tick, 0.0, message))

    def send(self, node: str, ts: float, clock: int, queue: int, tick: int, to: tuple[str, ...]) -> None:
        self._emit(node, ts, "send", clock, queue, send_fields(tick, 0.0, to, clock))

    def internal(self, node: str, ts: float, clock: int, queue: int, tick: int) -> None:
        self._emit(node, ts, "internal", clock, queue, internal_fields(tick, 0.0))

    def stop(self, node: str, ts: float, clock: int, queue: int, fields: Record) -> None:
        self._emit(node, ts, "stop", clock, queue, fields)


class JsonLinesOutput:
    """Writes one `<node>.jsonl` per node, formatting tick lines directly (node ids need no escaping).

    Each line is what json.dumps of RecordOutput's dict gives: same keys, order, separators and
    number formats (float repr), which tests/unit/test_simulate.py checks byte for byte. Lines
    are collected per node and written in batches.
    """

    BATCH = 8192  # lines per node between writes

    def __init__(self, folder: Path, node_ids: tuple[str, ...]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IO[str]] = {n: (folder / f"{n}.jsonl").open("w", encoding="utf-8") for n in node_ids}
        self.pending: dict[str, list[str]] = {n: [] for n in node_ids}
        self.lines = 0

    def _add(self, node: str, line: str) -> None:
        pending = self.pending[node]
        pending.append(line)
        if len(pending) >= self.BATCH:
            self._flush(node)

    def _flush(self, node: str) -> None:
        self.files[node].writelines(self.pending[node])
        self.lines += len(self.pending[node])
        self.pending[node] = []

    def start(self, node: str, ts: float, fields: Record) -> None:
        self._add(node, json.dumps(log_line(ts, node, "start", 0, 0, fields)) + "\n")

    def connected(self, node: str, ts: float, peer: str) -> None:
        self._add(node, json.dumps(log_line(ts, node, "connected", 0, 0, {"peer": peer})) + "\n")

    def receive(self, node: str, ts: float, clock: int, queue: int, tick: int, message: Message) -> None:
        self._add(
            node,
            f'{{"ts": {ts!r}, "node": "{node}", "event": "receive", "clock": {clock}, "queue": {queue}, '
            f'"tick": {tick}, "late_ms": 0.0, "from": "{message.sender}", "value": {message.value}, '
            f'"enq_ts": {message.enqueued_at!r}}}\n',
        )

    def send(self, node: str, ts: float, clock: int, queue: int, tick: int, to: tuple[str, ...]) -> None:
        targets = ", ".join(f'"{p}"' for p in to)
        self._add(
            node,
            f'{{"ts": {ts!r}, "node": "{node}", "event": "send", "clock": {clock}, "queue": {queue}, '
            f'"tick": {tick}, "late_ms": 0.0, "to": [{targets}], "value": {clock}}}\n',
        )

    def internal(self, node: str, ts: float, clock: int, queue: int, tick: int) -> None:
        self._add(
            node,
            f'{{"ts": {ts!r}, "node": "{node}", "event": "internal", "clock": {clock}, "queue": {queue}, '
            f'"tick": {tick}, "late_ms": 0.0}}\n',
        )

    def stop(self, node: str, ts: float, clock: int, queue: int, fields: Record) -> None:
        self._add(node, json.dumps(log_line(ts, node, "stop", clock, queue, fields)) + "\n")

    def close(self) -> None:
        for node, f in self.files.items():
            self._flush(node)
            f.close()


def run_simulation(sim: Simulation, sink: Sink) -> dict[str, NodeModel]:
    """Run `sim`, handing every record to `sink(node_id, record)` in global time order."""
    return simulate(sim, RecordOutput(sink))


def write_simulation(sim: Simulation, folder: Path) -> int:
    """Run `sim` and write its logs into `folder` (plus run.json); returns the number of lines."""
    out = JsonLinesOutput(folder, tuple(sorted(sim.node_ids)))
    try:
        simulate(sim, out)
    finally:
        out.close()
    info = {"run_id": sim.run_id, "seed": sim.seed, "simulated": True, "config": sim.as_log_fields()}
    (folder / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return out.lines


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m node.simulate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes node1..nodeN (default 3)")
    parser.add_argument("--rates", help="comma-separated rates for node1, node2, ... (default: drawn)")
    parser.add_argument("--min-rate", type=int, default=1)
    parser.add_argument("--max-rate", type=int, default=6)
    parser.add_argument("--max-event-num", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of model time (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0002, help="one-way network delay, s (default 0.0002)")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra uniform delay up to this, s")
    parser.add_argument(
        "--start-skew",
        type=float,
        default=0.0,
        help="nodes start ticking at seeded offsets up to this, s (real runs: 0 to 0.13)",
    )
    parser.add_argument("--out", type=Path, help="run folder to write (default logs/sim-<seed>-<time>)")
    parser.add_argument("--analyse", action="store_true", help="run the analysis on the result")
    args = parser.parse_args(argv)
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    if args.max_event_num < args.nodes:
        parser.error(f"--max-event-num must be at least the number of nodes ({args.nodes})")
    if (
        args.duration <= 0
        or min(args.delay, args.jitter, args.start_skew) < 0
        or not 1 <= args.min_rate <= args.max_rate
    ):
        parser.error("need --duration > 0, --delay/--jitter/--start-skew >= 0 and 1 <= --min-rate <= --max-rate")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    ids = tuple(f"node{i}" for i in range(1, args.nodes + 1))
    rates: dict[str, int] = {}
    if args.rates:
        try:
            values = [int(r) for r in args.rates.split(",")]
        except ValueError:
            values = []
        if len(values) != args.nodes or min(values) < 1:
            print(f"simulate: --rates needs {args.nodes} positive integers, got {args.rates!r}", file=sys.stderr)
            return 2
        rates = dict(zip(ids, values, strict=True))
    run_id = args.out.name if args.out else f"sim-{args.seed}-{time.strftime('%Y-%m-%d_%H-%M-%S', time.gmtime())}"
    folder = args.out or Path("logs") / run_id
    sim = Simulation(
        node_ids=ids,
        min_rate=args.min_rate,
        max_rate=args.max_rate,
        rates=rates,
        max_event_num=args.max_event_num,
        duration=args.duration,
        seed=args.seed,
        delay=args.delay,
        jitter=args.jitter,
        start_skew=args.start_skew,
        epoch=0.0,
        run_id=run_id,
    )
    started = time.perf_counter()
    lines = write_simulation(sim, folder)
    elapsed = time.perf_counter() - started
    print(
        f"simulated {args.duration:g} s of {args.nodes} nodes: {lines:,} events in {elapsed:.2f} s "
        f"({lines / elapsed:,.0f} events/s) -> {folder}"
    )
    if args.analyse:
        from analysis.__main__ import main as analyse  # noqa: PLC0415 - optional, needs the analysis deps

        return analyse([str(folder)])
    return 0


if __name__ == "__main__":
    sys.exit(main())

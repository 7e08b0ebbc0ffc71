"""A deterministic simulator: the nodes' real model code run in virtual time, with no sockets.

Each node is the same `NodeModel` the containers run, seeded the same way (so a SEED gives the
same rates and the same event draws as a real run); ticks happen exactly at k/rate and a
message sent at t arrives at t + delay (+ a seeded jitter, never overtaking on its link).
Ties are broken deterministically: at one instant deliveries come before ticks, and ticks go in
node-id order. Output records have the node log format (node.records), so the analysis reads
simulated runs unchanged. Same configuration, same records, byte for byte.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node import __version__
from node.model import Message, NodeModel, Receive, Send, draw_rate, node_seed
from node.records import internal_fields, receive_fields, send_fields, start_fields, stop_fields
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
        }


@dataclass
class _SimNode:
    node_id: str
    rate: int
    drawn_rate: int
    seed: int
    model: NodeModel
    count: int
    counts: dict[str, int] = field(
        default_factory=lambda: {"receive": 0, "send": 0, "internal": 0, "drop": 0, "skipped": 0}
    )


def run_simulation(sim: Simulation, sink: Sink) -> dict[str, NodeModel]:
    """Run `sim`, handing every record to `sink(node_id, record)` in global time order."""
    if sim.duration <= 0:
        raise ValueError("a simulation needs a duration > 0")
    ids = tuple(sorted(sim.node_ids))
    nodes: dict[str, _SimNode] = {}
    for node_id in ids:
        seed = node_seed(sim.seed, node_id)
        rng = random.Random(seed)
        drawn = draw_rate(rng, sim.min_rate, sim.max_rate)
        rate = sim.rates.get(node_id, drawn)
        peers = tuple(p for p in ids if p != node_id)
        model = NodeModel(peers, sim.max_event_num, rng)
        count = tick_count(rate, sim.duration)
        assert count is not None
        nodes[node_id] = _SimNode(node_id, rate, drawn, seed, model, count)
    network_rng = random.Random(node_seed(sim.seed, "network"))
    last_arrival: dict[tuple[str, str], float] = {}
    heap: list[tuple[float, int, int, str, int, int]] = []  # (time, kind, seq, node, tick/value, sender idx)
    seq = 0

    def emit(node: _SimNode, t: float, event: str, clock: int, queue: int, fields: Record) -> None:
        record: Record = {"ts": sim.epoch + t, "node": node.node_id, "event": event, "clock": clock, "queue": queue}
        record.update(fields)
        sink(node.node_id, record)

    for node in nodes.values():
        emit(
            node,
            0.0,
            "start",
            0,
            0,
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
            emit(node, 0.0, "connected", 0, 0, {"peer": peer})
        heap.append((0.0, _TICK, seq, node.node_id, 0, -1))
        seq += 1
    heapq.heapify(heap)

    end = 0.0
    while heap:
        t, kind, _, node_id, number, sender_index = heapq.heappop(heap)
        node = nodes[node_id]
        model = node.model
        if kind == _DELIVER:
            model.deliver(Message(ids[sender_index], number, sim.epoch + t))
            end = max(end, t)
            continue
        outcome = model.tick()
        if isinstance(outcome, Receive):
            node.counts["receive"] += 1
            emit(node, t, "receive", outcome.clock, outcome.queue, receive_fields(number, 0.0, outcome.message))
        elif isinstance(outcome, Send):
            node.counts["send"] += 1
            emit(node, t, "send", outcome.clock, len(model.queue), send_fields(number, 0.0, outcome.to, outcome.clock))
            for peer in outcome.to:
                arrival = t + sim.delay + (network_rng.random() * sim.jitter if sim.jitter else 0.0)
                arrival = max(arrival, last_arrival.get((node_id, peer), 0.0))  # TCP keeps a link FIFO
                last_arrival[(node_id, peer)] = arrival
                heapq.heappush(heap, (arrival, _DELIVER, seq, peer, outcome.clock, ids.index(node_id)))
                seq += 1
        else:
            node.counts["internal"] += 1
            emit(node, t, "internal", outcome.clock, len(model.queue), internal_fields(number, 0.0))
        if number + 1 < node.count:
            heapq.heappush(heap, ((number + 1) / node.rate, _TICK, seq, node_id, number + 1, -1))
            seq += 1
        end = max(end, node.count / node.rate)

    for node in nodes.values():
        fields = stop_fields(
            reason="duration", queue_by_peer=node.model.queued_by_sender(), counts=node.counts, unfinished=[]
        )
        emit(node, end, "stop", node.model.clock.value, len(node.model.queue), fields)
    return {node_id: node.model for node_id, node in nodes.items()}

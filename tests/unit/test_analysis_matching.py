"""The one matcher (analysis.matching, vectorised) gives exactly the answers of the FIFO loop it replaced.

`reference_link` is the per-receive Python loop that analysis/messages.py used to run; random runs
with every kind of damage (losses, drops, duplicates, reordering, values never sent, senders
without a log, clock-condition violations, impossible queue counts) must give the same counts,
delays and examples on every link, and causality must see the same matched messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from analysis.causality import analyse_causality
from analysis.loader import NodeLog, load_run
from analysis.matching import match_messages
from analysis.messages import analyse_links
from tests.unit.test_analysis import rec, receive, start, stop_line, write


@dataclass
class Reference:
    sent: int = 0
    dropped: int = 0
    received: int = 0
    left: int = 0
    lost: int = 0
    duplicated: int = 0
    unmatched: int = 0
    order_violations: int = 0
    clock_violations: int = 0
    delays_ms: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def example(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


def reference_link(sender: NodeLog | None, receiver: NodeLog | None, sender_id: str, receiver_id: str) -> Reference:
    """The FIFO loop of analysis/messages.py before the matcher (2026-11-25), unchanged but for
    names and one rule (2026-11-26): a value sent k times (corrupt, or a planted clock bug) has
    its k-th receive matched to its k-th send, not every receive to its last send."""
    report = Reference()
    sends = [] if sender is None else [s for s in sender.sends if receiver_id in s.to]
    dropped = set() if sender is None else {value for to, value, _ in sender.drops if to == receiver_id}
    report.sent = len(sends)
    report.dropped = len(dropped & {s.value for s in sends})
    departed = [s for s in sends if s.value not in dropped]
    index: dict[int, list[int]] = {}
    for i, s in enumerate(departed):
        index.setdefault(s.value, []).append(i)
    receives = [] if receiver is None else [r for r in receiver.receives if r.sender == sender_id]
    taken: dict[int, int] = {}
    last_matched = -1
    for r in receives:
        positions = index.get(r.value)
        k = taken.get(r.value, 0)
        if positions is not None and k >= len(positions):
            report.duplicated += 1
            report.example(f"value {r.value} received again")
            continue
        if positions is None:
            report.unmatched += 1
            report.example(f"value {r.value} received but never sent by {sender_id}")
            continue
        taken[r.value] = k + 1
        position = positions[k]
        if position < last_matched:
            report.order_violations += 1
            report.example(f"value {r.value} received after a later value")
        else:
            report.lost += position - last_matched - 1
            last_matched = position
        report.received += 1
        send = departed[position]
        report.delays_ms.append((r.enq_ts - send.ts) * 1000)
        if r.clock <= send.clock:
            report.clock_violations += 1
            report.example(f"receive of {r.value} has clock {r.clock}, not above the send's {send.clock}")
    tail = len(departed) - 1 - last_matched
    if receiver is not None and receiver.stops:
        by_peer = receiver.stops[-1].get("queue_by_peer")
        if isinstance(by_peer, dict) and isinstance(by_peer.get(sender_id), int):
            report.left = by_peer[sender_id]
    if report.left > tail:
        report.example(f"{receiver_id} reports {report.left} left in queue but only {tail} are unreceived")
    report.lost += max(0, tail - report.left)
    return report


NODES = ("a", "b", "c")


def damaged_run(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Three nodes that send, drop and receive with every kind of damage, plus a sender without a log."""
    sent: dict[tuple[str, str], list[tuple[int, float]]] = {}
    lines: dict[str, list[dict[str, Any]]] = {n: [start(n, 5, [p for p in NODES if p != n])] for n in NODES}
    for n in NODES:
        for tick in range(rng.randint(0, 40)):
            clock, t = tick + 1, 100.0 + 0.2 * (tick + 1)
            peers = [p for p in NODES if p != n and rng.random() < 0.6] or ["b" if n == "a" else "a"]
            if rng.random() < 0.1:
                peers.append("ghost")  # a destination without a log
            value = clock if rng.random() > 0.05 else clock - 1  # now and then a value repeated (corrupt)
            lines[n].append(rec(t, n, "send", clock, tick=tick, late_ms=0.1, to=peers, value=value))
            for p in peers:
                sent.setdefault((n, p), []).append((value, t))
                if rng.random() < 0.1:
                    lines[n].append(rec(t, n, "drop", clock, to=p, value=value, reason="peer not connected"))
    for n in NODES:
        arriving: list[tuple[str, int]] = []
        for a in (*NODES, "ghost"):
            values = [v for v, _ in sent.get((a, n), [])]
            if a == "ghost":
                values = [rng.randint(1, 30) for _ in range(rng.randint(0, 3))]
            kept = [v for v in values if rng.random() > 0.15]  # losses
            for i in range(len(kept) - 1):
                if rng.random() < 0.1:
                    kept[i], kept[i + 1] = kept[i + 1], kept[i]  # out of order
            kept += [rng.choice(kept) for _ in range(rng.randint(0, 2)) if kept]  # received again
            kept += [rng.randint(1, 60) for _ in range(rng.randint(0, 2))]  # perhaps never sent
            arriving += [(a, v) for v in kept]
        rng.shuffle(arriving)  # links interleave at the receiver; each link keeps its own order below
        by_link: dict[str, list[int]] = {}
        for a, v in arriving:
            by_link.setdefault(a, []).append(v)
        order = [(a, by_link[a].pop(0)) for a, _ in arriving]
        t, tick = 200.0, 100
        for a, v in order:
            t += 0.1
            tick += 1
            clock = v + rng.choice([1, 1, 1, 3, 0, -2])  # sometimes not above the send's clock
            lines[n].append(receive(t, n, clock, a, v, t - rng.random(), tick=tick))
        queue = {p: rng.choice([0, 0, 1, 2, 40]) for p in (*NODES, "ghost") if p != n}
        lines[n].append(stop_line(300.0, n, 0, queue))
    return lines


@pytest.mark.parametrize("seed", range(40))
def test_the_matcher_agrees_with_the_fifo_loop(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    run = load_run(write(tmp_path, damaged_run(rng)))
    logs = run.nodes
    links = analyse_links(logs)
    assert [(x.sender, x.receiver) for x in links] == [
        (a, b) for a in (*NODES, "ghost") for b in (*NODES, "ghost") if a != b and (a in logs or b in logs)
    ]
    for link in links:
        expected = reference_link(logs.get(link.sender), logs.get(link.receiver), link.sender, link.receiver)
        got = Reference(
            link.sent,
            link.dropped,
            link.received,
            link.left,
            link.lost,
            link.duplicated,
            link.unmatched,
            link.order_violations,
            link.clock_violations,
            link.delays_ms,
            link.violation_examples,
        )
        assert got == expected, (link.sender, link.receiver)
        assert link.unaccounted == expected.sent - expected.dropped - expected.received - expected.left
    # Causality reads the same matching: every matched message is an edge, unless it closes a cycle.
    c = analyse_causality(logs, matching=match_messages(logs)).summary
    received = sum(link.received for link in links)
    assert c["messages"] + c["unmatched_receives"] == sum(len(log.receive_value) for log in logs.values())
    cycles = received - c["messages"]
    from_itself = sum(log.receive_from.count(node) for node, log in logs.items())  # on no link: never sent
    assert c["unmatched_receives"] == sum(link.duplicated + link.unmatched for link in links) + cycles + from_itself

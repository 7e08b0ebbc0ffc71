"""Messages per directed link: match sends to receives in FIFO order and account for each one.

A sender's clock grows with every send, so the values on one link are strictly increasing and a
value identifies its message. For the link A->B: A's sends to B, minus those A logged as dropped,
are what left A; B's receives from A must be a prefix of them, in order. Whatever is not received
must be in B's queue at its stop; anything else is lost. Received values that A never sent, or
received twice, are reported too. Violations are counted and shown, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.loader import NodeLog
from analysis.stats import percentiles


@dataclass
class LinkReport:
    sender: str
    receiver: str
    sent: int = 0  # values the sender logged as sent on this link
    dropped: int = 0  # of those, logged as dropped by the sender
    received: int = 0  # matched receives
    left: int = 0  # in the receiver's queue at its (last) stop
    lost: int = 0  # left the sender, never received, not in the queue
    duplicated: int = 0  # received more than once
    unmatched: int = 0  # received but never sent (or out of order)
    order_violations: int = 0  # received before an earlier value that was also received
    clock_violations: int = 0  # receive clock not greater than the send's clock
    delays_ms: list[float] = field(default_factory=list)  # send ts -> enqueue ts
    violation_examples: list[str] = field(default_factory=list)

    @property
    def unaccounted(self) -> int:
        """Messages the logs cannot place: sent - dropped - received - left (0 on a clean run)."""
        return self.sent - self.dropped - self.received - self.left

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.sender,
            "to": self.receiver,
            "sent": self.sent,
            "dropped": self.dropped,
            "received": self.received,
            "left": self.left,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unmatched": self.unmatched,
            "order_violations": self.order_violations,
            "unaccounted": self.unaccounted,
            "clock_condition_violations": self.clock_violations,
            "delay_ms": percentiles(self.delays_ms),
            "examples": self.violation_examples[:5],
        }


def analyse_link(sender: NodeLog | None, receiver: NodeLog | None, sender_id: str, receiver_id: str) -> LinkReport:
    report = LinkReport(sender_id, receiver_id)
    sends = [] if sender is None else [s for s in sender.sends if receiver_id in s.to]
    dropped = set() if sender is None else {value for to, value, _ in sender.drops if to == receiver_id}
    report.sent = len(sends)
    report.dropped = len(dropped & {s.value for s in sends})
    departed = [s for s in sends if s.value not in dropped]
    index = {s.value: i for i, s in enumerate(departed)}
    receives = [] if receiver is None else [r for r in receiver.receives if r.sender == sender_id]
    seen: set[int] = set()
    last_matched = -1
    for r in receives:
        position = index.get(r.value)
        if r.value in seen:
            report.duplicated += 1
            _example(report, f"value {r.value} received again")
            continue
        if position is None:
            report.unmatched += 1
            _example(report, f"value {r.value} received but never sent by {sender_id}")
            continue
        seen.add(r.value)
        if position < last_matched:
            report.order_violations += 1
            _example(report, f"value {r.value} received after a later value")
        else:
            report.lost += position - last_matched - 1  # skipped values in the middle never arrive
            last_matched = position
        report.received += 1
        send = departed[position]
        report.delays_ms.append((r.enq_ts - send.ts) * 1000)
        if r.clock <= send.clock:
            report.clock_violations += 1
            _example(report, f"receive of {r.value} has clock {r.clock}, not above the send's {send.clock}")
    tail = len(departed) - 1 - last_matched  # sent after the last value received
    if receiver is not None and receiver.stops:
        by_peer = receiver.stops[-1].get("queue_by_peer")
        if isinstance(by_peer, dict) and isinstance(by_peer.get(sender_id), int):
            report.left = by_peer[sender_id]
    if report.left > tail:
        _example(report, f"{receiver_id} reports {report.left} left in queue but only {tail} are unreceived")
    report.lost += max(0, tail - report.left)
    return report


def _example(report: LinkReport, text: str) -> None:
    if len(report.violation_examples) < 5:
        report.violation_examples.append(text)


def analyse_links(nodes: dict[str, NodeLog]) -> list[LinkReport]:
    """Every directed link between nodes that appear in the logs (as a file or a destination)."""
    ids = set(nodes)
    for log in nodes.values():
        for send in log.sends:
            ids.update(send.to)
        ids.update(r.sender for r in log.receives)
    return [
        analyse_link(nodes.get(a), nodes.get(b), a, b)
        for a in sorted(ids)
        for b in sorted(ids)
        if a != b and (a in nodes or b in nodes)
    ]


def totals(links: list[LinkReport]) -> dict[str, Any]:
    keys = ("sent", "dropped", "received", "left", "lost", "duplicated", "unmatched", "order_violations")
    result: dict[str, Any] = {k: sum(getattr(link, k) for link in links) for k in keys}
    result["unaccounted"] = sum(link.unaccounted for link in links)
    checked = result["received"]
    violations = sum(link.clock_violations for link in links)
    result["clock_condition"] = {"checked": checked, "violations": violations, "holds": violations == 0}
    result["delay_ms"] = percentiles([d for link in links for d in link.delays_ms])
    return result

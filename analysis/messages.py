"""Messages per directed link, accounted for: sent, dropped, received, left, lost, and what went wrong.

The matching itself (FIFO order, duplicates, values never sent, losses, the clock condition per
message) is analysis.matching's; this module counts it per link and over all links, words the
first violations of each link as examples, and gives the summary's `links` and `messages`.
Violations are counted and shown, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.columns import FloatArray
from analysis.loader import NodeLog
from analysis.matching import DUPLICATED, MATCHED, LinkMatch, Matching, match_messages
from analysis.stats import percentiles
from node.schema import Link, Messages

EXAMPLES = 5


@dataclass
class LinkReport:
    sender: str
    receiver: str
    sent: int = 0  # values the sender logged as sent on this link
    dropped: int = 0  # of those, logged as dropped by the sender
    received: int = 0  # matched receives
    left: int = 0  # in the receiver's queue at its (last) stop
    in_flight: int = 0  # unacknowledged at the sender's stop: on the wire when the run ended
    lost: int = 0  # left the sender, never received, not in the queue, not in flight
    duplicated: int = 0  # received more than once
    unmatched: int = 0  # received but never sent (or dropped), or from a node without a log
    order_violations: int = 0  # received after a later value
    clock_violations: int = 0  # receive clock not greater than the send's clock
    delays: FloatArray = field(default_factory=lambda: np.zeros(0))  # send ts -> enqueue ts, ms
    violation_examples: list[str] = field(default_factory=list)

    @property
    def delays_ms(self) -> list[float]:
        return [float(d) for d in self.delays]

    @property
    def unaccounted(self) -> int:
        """Messages the logs cannot place: sent - dropped - received - left - in flight (0 on a clean run)."""
        return self.sent - self.dropped - self.received - self.left - self.in_flight

    def as_dict(self) -> Link:
        return {
            "from": self.sender,
            "to": self.receiver,
            "sent": self.sent,
            "dropped": self.dropped,
            "received": self.received,
            "left": self.left,
            "in_flight": self.in_flight,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unmatched": self.unmatched,
            "order_violations": self.order_violations,
            "unaccounted": self.unaccounted,
            "clock_condition_violations": self.clock_violations,
            "delay_ms": percentiles(self.delays),
            "examples": self.violation_examples[:EXAMPLES],
        }


def _examples(link: LinkMatch, receiver: NodeLog | None) -> list[str]:
    """The link's first violations in the receiver's order, in words; then a queue that cannot be."""
    out: list[str] = []
    matched_as = np.full(link.status.size, -1, dtype=np.int64)
    matched_as[link.matched] = np.arange(link.matched.size)
    wrong = link.status != MATCHED
    wrong[link.matched[link.late | ~link.clock_ok]] = True
    for k in np.flatnonzero(wrong).tolist():
        if len(out) >= EXAMPLES or receiver is None:
            break
        value = receiver.receive_value[int(link.receives[k])]
        j = int(matched_as[k])
        if link.status[k] == DUPLICATED:
            out.append(f"value {value} received again")
        elif j < 0:
            out.append(f"value {value} received but never sent by {link.sender}")
        if j >= 0 and link.late[j]:
            out.append(f"value {value} received after a later value")
        if j >= 0 and not link.clock_ok[j]:
            out.append(
                f"receive of {value} has clock {link.receive_clock[j]}, not above the send's {link.send_clock[j]}"
            )
    if link.left > link.unreceived:
        out.append(f"{link.receiver} reports {link.left} left in queue but only {link.unreceived} are unreceived")
    return out[:EXAMPLES]


def link_reports(matching: Matching, nodes: dict[str, NodeLog]) -> list[LinkReport]:
    return [
        LinkReport(
            link.sender,
            link.receiver,
            sent=link.sent,
            dropped=link.dropped,
            received=link.received,
            left=link.left,
            in_flight=link.in_flight,
            lost=link.lost,
            duplicated=link.duplicated,
            unmatched=link.unmatched,
            order_violations=link.order_violations,
            clock_violations=link.clock_violations,
            delays=link.delays_ms,
            violation_examples=_examples(link, nodes.get(link.receiver)),
        )
        for link in matching.links
    ]


def analyse_links(nodes: dict[str, NodeLog]) -> list[LinkReport]:
    """Every directed link between nodes that appear in the logs (as a file or a destination)."""
    return link_reports(match_messages(nodes), nodes)


def totals(links: list[LinkReport]) -> Messages:
    violations = sum(link.clock_violations for link in links)
    received = sum(link.received for link in links)
    return {
        "sent": sum(link.sent for link in links),
        "dropped": sum(link.dropped for link in links),
        "received": received,
        "left": sum(link.left for link in links),
        "in_flight": sum(link.in_flight for link in links),
        "lost": sum(link.lost for link in links),
        "duplicated": sum(link.duplicated for link in links),
        "unmatched": sum(link.unmatched for link in links),
        "order_violations": sum(link.order_violations for link in links),
        "unaccounted": sum(link.unaccounted for link in links),
        "clock_condition": {"checked": received, "violations": violations, "holds": violations == 0},
        "delay_ms": percentiles(np.concatenate([np.zeros(0), *(link.delays for link in links)])),
    }

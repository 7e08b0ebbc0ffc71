"""Every violation in a run, each located on one event: what the explorer lists and jumps to.

The checks are the analysis's own (analysis.matching for messages, the clock rules as the
model states them); this module only names the event each one is seen at, in words:

- clock condition: a matched message whose receive clock is not above its send clock (at the receive);
- clock order: a node's clock not rising from one tick event to the next (at the second);
- clock rule: a tick event whose clock is not the rule's (+1 on send and internal,
  max(clock, value) + 1 on receive, from the clock before it, restarts included);
- lost: a message that left its sender and was never received, queued or in flight (at the send);
- duplicated: a value taken again from the same sender (at the second receive);
- never sent: a receive whose value its sender never sent, or dropped (at the receive);
- out of order: a receive of a value older than one already taken on that link (at the receive).

At most `LISTED` of each kind are listed; `counts` has them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.columns import Columns, IntArray
from analysis.loader import KIND_NAMES, RECEIVE
from analysis.matching import DUPLICATED, NOT_SENT, Matching

LISTED = 200
KINDS = ("clock condition", "clock order", "clock rule", "lost", "duplicated", "never sent", "out of order")


@dataclass(frozen=True)
class Violation:
    kind: str  # one of KINDS
    node: str
    position: int  # the event's index among the node's tick events
    text: str


@dataclass
class Violations:
    listed: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, kind: str, node: str, positions: npt.NDArray[np.integer[Any]], text: Callable[[int], str]) -> None:
        """Count `positions`; list them, up to LISTED of the kind, with `text(i)` for the i-th (made only
        for those listed: a broken run may have a million)."""
        room = max(0, LISTED - self.counts[kind])
        self.counts[kind] += int(positions.size)
        self.listed += [Violation(kind, node, int(positions[i]), text(i)) for i in range(min(room, positions.size))]


def clock_rule_breaks(c: Columns) -> tuple[IntArray, IntArray]:
    """Positions of the tick events whose clock breaks the rule, and the clock the rule gives there."""
    want = c.prev + 1
    values = np.full(c.clock.size, np.iinfo(np.int64).min, dtype=np.int64)
    values[c.receives] = c.receive_value
    receive = c.kind == RECEIVE
    want[receive] = np.maximum(c.prev[receive], values[receive]) + 1
    bad = np.flatnonzero(c.clock != want)
    return bad, want[bad]


def find_violations(cols: dict[str, Columns], matching: Matching) -> Violations:
    """Every violation of the run (module docstring), listed by kind, node, position."""
    found = Violations()

    def event(node: str, position: int) -> str:
        c = cols[node]
        return f"{node} {KIND_NAMES[int(c.kind[position])]} #{position + 1} (clock {int(c.clock[position])})"

    links = [link for link in matching.links if link.receiver in cols and link.sender in cols]
    for link in links:  # positions of the link's matched receives among the receiver's tick events
        a, b = link.sender, link.receiver
        taken = cols[b].receives[link.receives[link.matched]]
        bad = np.flatnonzero(~link.clock_ok)
        found.add(
            "clock condition",
            b,
            taken[bad],
            lambda i, a=a, b=b, s=link.send[bad], r=taken[bad]: (  # type: ignore[misc]
                f"the message of {event(a, int(s[i]))}, taken at {event(b, int(r[i]))}: "
                "the receive's clock is not above the send's"
            ),
        )
    for node, c in cols.items():
        steps = np.flatnonzero(c.clock[1:] <= c.clock[:-1])
        found.add(
            "clock order",
            node,
            steps + 1,
            lambda i, node=node, c=c, at=steps: (  # type: ignore[misc]
                f"{event(node, int(at[i]) + 1)} follows clock {int(c.clock[at[i]])}: it did not rise"
            ),
        )
    for node, c in cols.items():
        bad, rule = clock_rule_breaks(c)
        found.add(
            "clock rule",
            node,
            bad,
            lambda i, node=node, c=c, at=bad, rule=rule: (  # type: ignore[misc]
                f"{event(node, int(at[i]))}: the rule gives {int(rule[i])} from clock {int(c.prev[at[i]])}"
            ),
        )
    for link in links:
        a, b = link.sender, link.receiver
        found.add(
            "lost",
            a,
            link.lost_send,
            lambda i, a=a, b=b, at=link.lost_send: (  # type: ignore[misc]
                f"{event(a, int(at[i]))} to {b}: never received, not queued, not in flight"
            ),
        )
    for link in links:
        a, b = link.sender, link.receiver
        r = cols[b]
        for status, kind in ((DUPLICATED, "duplicated"), (NOT_SENT, "never sent")):
            which = link.receives[link.status == status]
            found.add(
                kind,
                b,
                r.receives[which],
                lambda i, a=a, b=b, r=r, which=which, kind=kind: (  # type: ignore[misc]
                    f"{event(b, int(r.receives[which[i]]))}: value {int(r.receive_value[which[i]])} from {a} "
                    + ("received again" if kind == "duplicated" else "was never sent (or was dropped)")
                ),
            )
        taken = r.receives[link.receives[link.matched]]
        late = np.flatnonzero(link.late)
        found.add(
            "out of order",
            b,
            taken[late],
            lambda i, a=a, b=b, s=link.send[late], t=taken[late]: (  # type: ignore[misc]
                f"{event(b, int(t[i]))}: the message of {event(a, int(s[i]))}, after a later one"
            ),
        )
    order = {kind: i for i, kind in enumerate(KINDS)}
    found.listed.sort(key=lambda v: (order[v.kind], v.node, v.position))
    return found

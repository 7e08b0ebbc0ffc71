"""Every violation in a run, each located on one event: the one definition of the run's checks.

The explorer lists them and jumps to each; summary.json's `checks` counts them, with the rule in
words and a witness; analysis.invariants (the tests, the chaos runs) reads the clock checks from
here. Message checks come from analysis.matching; this module names the event each is seen at:

- clock condition: a matched message whose receive clock is not above its send clock (at the receive);
- clock order: a node's clock not rising from one tick event to the next (at the second);
- clock rule: a tick event whose clock is not the rule's (+1 on send and internal,
  max(clock, value) + 1 on receive, from the clock before it, restarts included);
- send value: a send whose message does not carry the send event's clock;
- restart: a restart that resumes below the clock the node had (a clock ran backwards);
- link values: a send whose value is not above the last one sent on its link (a value names a
  message, and reliable delivery takes a repeat for a copy sent again);
- lost: a message that left its sender and was never received, queued or in flight (at the send);
- duplicated: a value taken again from the same sender (at the second receive);
- never sent: a receive whose value its sender never sent, or dropped (at the receive);
- out of order: a receive of a value older than one already taken on that link (at the receive).

At most `LISTED` of each kind are listed; `counts` has them all. `RULES` states each rule once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from analysis.columns import Columns, IntArray
from analysis.loader import KIND_NAMES, RECEIVE, NodeLog
from analysis.matching import DUPLICATED, NOT_SENT, Matching, sends_to
from node.schema import Check, Checks

LISTED = 200
WITNESSES = 3  # events quoted as a check's witness in summary.json
RULES = {
    "clock condition": "a message's receive has a higher clock than its send (Lamport's clock condition)",
    "clock order": "a node's clock rises with every tick event",
    "clock rule": "send and internal: clock + 1; receive: max(clock, value) + 1",
    "send value": "a message carries the clock of its send event",
    "restart": "a restarted node resumes at or above the clock it had",
    "link values": "the values on a link rise with every send (a value names its message)",
    "lost": "every message that left is received, queued or in flight at the end",
    "duplicated": "no message is taken twice",
    "never sent": "every message taken was sent and not dropped",
    "out of order": "messages are taken in the order they were sent on their link",
}
KINDS = tuple(RULES)
HAPPENS_BEFORE = "for every a -> b of happens-before, C(a) < C(b) (checked on every step and message edge)"


def check_name(kind: str) -> str:
    """A kind's key in summary.json's `checks` (and the `<key>_violations` the report prints)."""
    return kind.replace(" ", "_")


CHECK_RULES = {**{check_name(kind): rule for kind, rule in RULES.items()}, "happens_before": HAPPENS_BEFORE}


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


def _event(cols: dict[str, Columns], node: str, position: int) -> str:
    c = cols[node]
    return f"{node} {KIND_NAMES[int(c.kind[position])]} #{position + 1} (clock {int(c.clock[position])})"


def find_clock_violations(logs: dict[str, NodeLog], cols: dict[str, Columns], found: Violations) -> None:
    """The checks one node's log alone shows: clock order, clock rule, send value, restart, link values."""

    def event(node: str, position: int) -> str:
        return _event(cols, node, position)

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
        bad, rule = clock_rule_breaks(c)
        found.add(
            "clock rule",
            node,
            bad,
            lambda i, node=node, c=c, at=bad, rule=rule: (  # type: ignore[misc]
                f"{event(node, int(at[i]))}: the rule gives {int(rule[i])} from clock {int(c.prev[at[i]])}"
            ),
        )
        wrong = np.flatnonzero(c.send_value != c.clock[c.sends])
        found.add(
            "send value",
            node,
            c.sends[wrong],
            lambda i, node=node, c=c, at=wrong: (  # type: ignore[misc]
                f"{event(node, int(c.sends[at[i]]))} sent the value {int(c.send_value[at[i]])}, not its clock"
            ),
        )
        log = logs[node]
        resumed = [
            (k, int(start["clock"]))
            for k, start in zip(log.restarts, log.starts[1:], strict=False)
            if 0 < k <= c.clock.size and int(start["clock"]) < c.clock[k - 1]
        ]
        at = np.array([min(k, c.clock.size - 1) for k, _ in resumed], dtype=np.int64)
        found.add(
            "restart",
            node,
            at,
            lambda i, node=node, c=c, resumed=resumed: (  # type: ignore[misc]
                f"{node} restarted after {event(node, resumed[i][0] - 1)} at clock {resumed[i][1]}: backwards"
            ),
        )
        for peer in sorted({p for peers in log.peer_sets for p in peers}):
            ours = sends_to(log, c, peer)
            values = c.send_value[ours]
            down = np.flatnonzero(values[1:] <= values[:-1])
            found.add(
                "link values",
                node,
                c.sends[ours[down + 1]],
                lambda i, node=node, peer=peer, c=c, ours=ours, down=down, values=values: (  # type: ignore[misc]
                    f"{event(node, int(c.sends[ours[down[i] + 1]]))} sent {int(values[down[i] + 1])} to {peer}, "
                    f"not above the {int(values[down[i]])} sent before on that link"
                ),
            )


def find_violations(logs: dict[str, NodeLog], cols: dict[str, Columns], matching: Matching) -> Violations:
    """Every violation of the run (module docstring), listed by kind, node, position."""
    found = Violations()

    def event(node: str, position: int) -> str:
        return _event(cols, node, position)

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
    find_clock_violations(logs, cols, found)
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


def checks_summary(found: Violations, happens_before: int, happens_before_witness: list[str]) -> Checks:
    """summary.json's `checks`: per check its count, its rule and a witness (the first events
    found breaking it, in words); `happens_before` is analysis.causality's edge check."""
    out: dict[str, Check] = {}
    for kind in KINDS:
        witness = [v.text for v in found.listed if v.kind == kind][:WITNESSES]
        out[check_name(kind)] = {"violations": found.counts[kind], "rule": RULES[kind], "witness": witness}
    out["happens_before"] = {
        "violations": happens_before,
        "rule": HAPPENS_BEFORE,
        "witness": happens_before_witness[:WITNESSES],
    }
    return cast(Checks, out)

"""Every receive matched to its send, once, per directed link: what the accounting and causality read.

A sender's clock grows with every send, so on a directed link A->B the values are strictly
increasing and a value names a message. What left A for B: A's sends to B, less the values A
logged as dropped to B. Each of B's receives from A, in B's order, is looked up by value:

- a value received before: duplicated (only its first receive is matched; the k-th receive of a
  value sent k times is matched to its k-th send, see `_lookup`);
- a value that never left A (never sent, or dropped): unmatched; from a node without a log, too;
- matched, but at an earlier position than a value already received: an order violation;
- positions skipped by the receives are lost in the middle; those after the last value received
  are in B's queue at its last stop (`queue_by_peer`), or still unacknowledged at A's last stop
  (`unacked`, format 3: the newest values A sent and did not drop, node.channel) and so in
  flight when the run ended, or else lost at the tail.

One exception: a planted clock bug (CLOCK_BUG) may repeat or lower the values on a link, and
then a value no longer names a message. Run under at-most-once delivery (nothing sent twice, no
value filtered, node.channel), every node's log naming a bug and its delivery, the k-th receive
on a link is matched to the k-th send that left, in FIFO order (`fifo_order`); with faults
that lose messages this cannot tell which were lost, so it is only for runs without them.

Lamport's clock condition (receive clock > send clock) is checked here for every matched message,
once: the per-link accounting (analysis.messages) and causality's message edges both read it.
Vectorised per link (sort and binary search): runs have a million lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from analysis.columns import NO_VALUE, BoolArray, Columns, FloatArray, IntArray, columns, message_values
from analysis.loader import NodeLog

MATCHED, DUPLICATED, NOT_SENT, NO_LOG = range(4)  # a receive's status
_NONE = np.zeros(0, dtype=np.int64)
_NO_LOG = columns(NodeLog("", ""))  # the columns of a node without a log: nothing sent, nothing received


@dataclass
class LinkMatch:
    """One directed link: its accounting, and each of its receives classified (module docstring)."""

    sender: str
    receiver: str
    sent: int  # values the sender logged as sent on this link
    dropped: int  # of those (distinct values), logged as dropped by the sender
    departed: int  # sends that left: sent less the dropped values
    left: int  # in the receiver's queue at its last stop
    unreceived: int  # departed after the last value received: in the queue, in flight, or lost at the tail
    in_flight: int  # unreceived, not in the queue, unacknowledged at the sender's stop (on the wire at the end)
    lost: int  # departed, never received, not in the queue, not in flight
    receives: IntArray  # this link's receives: their indices among the receiver's receives, in order
    status: IntArray  # per receive: MATCHED, DUPLICATED, NOT_SENT or NO_LOG
    matched: IntArray  # indices into `receives` of the matched ones, in order; then one entry each:
    send: IntArray  # the send's position among the sender's tick events
    late: BoolArray  # received after a later value (an order violation)
    send_clock: IntArray
    receive_clock: IntArray
    delays_ms: FloatArray  # receiver's enqueue time - sender's tick time
    lost_send: IntArray  # the lost messages' sends: positions among the sender's tick events

    @cached_property
    def clock_ok(self) -> BoolArray:
        """Lamport's clock condition, per matched message: receive clock > send clock."""
        return self.receive_clock > self.send_clock

    @property
    def received(self) -> int:
        return int(self.matched.size)

    @property
    def duplicated(self) -> int:
        return int((self.status == DUPLICATED).sum())

    @property
    def unmatched(self) -> int:
        return int(self.status.size - self.matched.size) - self.duplicated

    @property
    def order_violations(self) -> int:
        return int(self.late.sum())

    @property
    def clock_violations(self) -> int:
        return int(self.matched.size - self.clock_ok.sum())


@dataclass
class Received:
    """One node's receives as matched, in its order (what causality reads)."""

    sender: IntArray  # index in Matching.nodes of the sender when matched, else -1
    send: IntArray  # the send's position on the sender's line (-1 unless matched)
    clock_ok: BoolArray  # receive clock > send clock (True unless matched)
    status: IntArray


@dataclass
class Matching:
    nodes: tuple[str, ...]  # the nodes with a log, sorted: the indices in Received.sender
    links: list[LinkMatch]  # every directed link between two different nodes, by sender then receiver
    received: list[Received]  # per node of `nodes`


def _by_sender(log: NodeLog) -> dict[str, IntArray]:
    """A node's receives grouped by who they say they are from: indices, in order."""
    order = np.argsort(log.receive_source, kind="stable")
    bounds = np.searchsorted(log.receive_source[order], np.arange(len(log.sources) + 1))
    groups = {log.sources[i]: order[bounds[i] : bounds[i + 1]] for i in range(len(log.sources))}
    return {name: group for name, group in sorted(groups.items()) if group.size}


def sends_to(sender: NodeLog, cols: Columns, receiver: str) -> IntArray:
    """The sender's sends to `receiver` (dropped ones included): indices among its sends, in order."""
    codes = [code for code, peers in enumerate(sender.peer_sets) if receiver in peers]
    return np.flatnonzero(np.isin(cols.send_peers, codes))


def _departures(sender: NodeLog, cols: Columns, receiver: str, fifo: bool) -> tuple[int, int, IntArray]:
    """Sends to `receiver`: how many, how many distinct values dropped, and the indices of the rest.

    A drop names its send by value; in FIFO order (values may repeat) by place instead: the last
    send of that value to `receiver` before the drop line (logged in the same tick)."""
    ours = sends_to(sender, cols, receiver)
    values = cols.send_value[ours]
    if not fifo:
        gone = np.isin(values, message_values([v for to, v, _ in sender.drops if to == receiver]))
        gone &= values != NO_VALUE
        return ours.size, int(np.unique(values[gone]).size), ours[~gone]
    gone = np.zeros(ours.size, dtype=bool)
    at = cols.sends[ours]  # tick-event positions of the sends
    for (to, value, _), before in zip(sender.drops, sender.drop_at, strict=True):
        if to == receiver:
            which = np.flatnonzero((at < before) & (values == value) & ~gone)
            if which.size:
                gone[which[-1]] = True
    return ours.size, int(gone.sum()), ours[~gone]


def _lookup(values: IntArray, wanted: IntArray, unmatched: int) -> tuple[IntArray, IntArray, IntArray]:
    """Each wanted value's status, the matched ones (indices into `wanted`) and their positions in `values`.

    The k-th receive of a value is matched to the k-th send of it: on a correct link each value is
    sent once, so a second receive is a duplicate; where a value was sent twice (a clock that
    repeated or fell: a planted bug, or corrupt logs) each send is taken in turn, in FIFO order."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.searchsorted(ordered, wanted, side="left")
    count = np.searchsorted(ordered, wanted, side="right") - first
    by_value = np.argsort(wanted, kind="stable")  # which occurrence of its value each receive is
    grouped = wanted[by_value]
    occurrence = np.empty(wanted.size, dtype=np.int64)
    occurrence[by_value] = np.arange(wanted.size) - np.searchsorted(grouped, grouped, side="left")
    real = wanted != NO_VALUE
    found = real & (occurrence < count)
    status = np.where(found, MATCHED, np.where(real & (count > 0), DUPLICATED, unmatched)).astype(np.int64)
    matched = np.flatnonzero(found)
    return status, matched, order[first[matched] + occurrence[matched]]


def _order(position: IntArray) -> tuple[BoolArray, int, int]:
    """Receives in FIFO order or not: which came after a later value, how many positions were
    skipped in the middle (below the last in-order one, never received) and the last in order."""
    highest = np.maximum.accumulate(position) if position.size else position
    late = position < np.concatenate(([-1], highest[:-1]))
    last = int(highest[-1]) if position.size else -1
    return late, last + 1 - int((~late).sum()), last


def _in_order(departed: int, wanted: int, unmatched: int) -> tuple[IntArray, IntArray, IntArray]:
    """`_lookup` in FIFO order: the k-th receive is the k-th departure (module docstring)."""
    n = min(departed, wanted)
    status = np.full(wanted, unmatched, dtype=np.int64)
    status[:n] = MATCHED
    return status, np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)


def fifo_order(logs: dict[str, NodeLog]) -> bool:
    """Whether messages are matched in FIFO order, not by value (module docstring)."""
    return any(log.clock_bug for log in logs.values()) and all(
        log.config.get("delivery") == "at-most-once" for log in logs.values()
    )


def _match_link(
    a: str, b: str, logs: dict[str, NodeLog], cols: dict[str, Columns], mine: IntArray, fifo: bool
) -> LinkMatch:
    s, r = cols.get(a, _NO_LOG), cols.get(b, _NO_LOG)
    sent, dropped, departed = _departures(logs[a], s, b, fifo) if a in logs else (0, 0, _NONE)
    unmatched = NOT_SENT if a in logs else NO_LOG
    if fifo:
        status, matched, position = _in_order(departed.size, mine.size, unmatched)
    else:
        status, matched, position = _lookup(s.send_value[departed], r.receive_value[mine], unmatched)
    late, middle, last = _order(position)
    stops = logs[b].stops if b in logs else []
    left = int(stops[-1]["queue_by_peer"].get(a, 0)) if stops else 0
    unreceived = departed.size - 1 - last
    final = _final_stop(logs[a]) if a in logs else None
    unacked = final.get("unacked", {}) if final is not None else {}
    waiting = max(0, unreceived - left)
    in_flight = min(waiting, int(unacked.get(b, 0)) if isinstance(unacked, dict) else 0)
    counts = (sent, dropped, int(departed.size), left, unreceived, in_flight, middle + waiting - in_flight)
    # Which ones are lost: skipped below the last received, and at the tail those after the
    # oldest `left` (in the queue) and before the newest `in_flight` (on the wire).
    skipped = np.ones(last + 1, dtype=bool)
    skipped[position] = False
    tail = np.arange(last + 1 + left, last + 1 + left + max(0, waiting - in_flight), dtype=np.int64)
    lost_send = s.sends[departed[np.concatenate((np.flatnonzero(skipped), tail))]]
    send = s.sends[departed[position]]
    got = mine[matched]
    clocks = (s.clock[send], r.clock[r.receives[got]])
    delays = (r.receive_enq_ts[got] - s.ts[send]) * 1000
    return LinkMatch(a, b, *counts, mine, status, matched, send, late, *clocks, delays, lost_send)


def _final_stop(log: NodeLog) -> dict[str, object] | None:
    """The stop line of the node's last incarnation, if it wrote one (a killed one did not)."""
    if not log.stops or (log.starts and log.stops[-1]["ts"] < log.starts[-1]["ts"]):
        return None
    return log.stops[-1]


def match_messages(logs: dict[str, NodeLog], given: dict[str, Columns] | None = None) -> Matching:
    """Match every node's receives; `given` may hold nodes' columns already converted."""
    nodes = tuple(sorted(logs))
    cols = {node: (given or {}).get(node) or columns(logs[node]) for node in nodes}
    index = {node: i for i, node in enumerate(nodes)}
    groups = {node: _by_sender(logs[node]) for node in nodes}
    ids = set(nodes)
    for node in nodes:
        ids.update(peer for code in np.unique(cols[node].send_peers).tolist() for peer in logs[node].peer_sets[code])
        ids.update(groups[node])
    fifo = fifo_order(logs)
    received = []
    for node in nodes:
        count = cols[node].receives.size
        minus = np.full(count, -1, dtype=np.int64)
        received.append(Received(minus, minus.copy(), np.ones(count, dtype=bool), np.full(count, NOT_SENT)))
    links = []
    for a in sorted(ids):
        for b in sorted(ids):
            mine = groups[b].get(a, _NONE) if b in groups else _NONE
            if (a not in logs and b not in logs) or (a == b and not mine.size):
                continue
            link = _match_link(a, b, logs, cols, mine, fifo)
            if b in index:
                into = received[index[b]]
                into.status[mine] = link.status
                chosen = mine[link.matched]
                into.sender[chosen] = index.get(a, -1)
                into.send[chosen] = link.send
                into.clock_ok[chosen] = link.clock_ok
            if a != b:  # what a node says it received from itself is on no link: causality sees it
                links.append(link)
    return Matching(nodes, links, received)

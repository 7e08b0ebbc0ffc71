"""Vector clocks and happens-before, reconstructed from a run's logs; Lamport's clock condition checked.

Events and lines. Each node's tick events (receive, send, internal) in file order are that node's
process line; a `start` after a restart begins a new incarnation on the same line. Messages: a
receive of value v from A matches A's send of v to this node (values on a directed link strictly
increase, so a value names a message: the rule of `analysis.messages`). A send that A logged as
dropped never arrives. A receive that matches no send (value never sent or dropped, received
again, sender without a log, or one that would close a causal cycle in corrupted logs) is
reported and kept as a local event.

Vector clocks, without a loop over events. VC[e][j] = the number of node j's events that happen
before e or are e. Along a line the entries never decrease and only a receive raises another
node's entry, so given the vectors of all sends, each node's matrix is a running maximum over its
receives (numpy `maximum.accumulate`), its own column 1, 2, 3, ... Round r computes all lines
from round r-1's sends, i.e. knowledge carried over at most r messages. N rounds suffice for N
nodes: a causal path can be shortened until it enters each node at most once (if it returns to a
node, the line segment between the two visits is a shorter path), so it has at most N-1 messages;
round N changes nothing and, in corrupted logs, exposes cycles (a receive whose sender already
knew of that receive or a later event on the receiver's line), whose receives are unmatched and
the rounds redone. Cost: O(E * N) per round.

Pairs, exactly (`"method": "exact"`), in O(E * N) with no pairwise comparison: the events that
happen before e are exactly the first VC[e][j] events of each node j (minus e itself), so the
ordered pairs number sum over e of (sum_j VC[e][j] - 1) and the rest of the E(E-1)/2 pairs are
concurrent. All pairs on one line are ordered, so concurrency is also given among cross-node
pairs, and per event (`concurrent_per_event`: how many events one is concurrent with on average,
which unlike the shares does not shrink as a run gets longer).

Lamport against happens-before. Happens-before is the transitive closure of the line edges
(consecutive events of a node) and the message edges (send -> matched receive), so C(a) < C(b)
for every a -> b if and only if it holds on every such edge. The check is done on the edges; each
violating edge is itself a pair a -> b with C(a) >= C(b) (`violations`, with examples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.loader import NodeLog

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
RECEIVE, SEND, INTERNAL = 0, 1, 2  # loader.TICK_KINDS
EXAMPLES = 5
_NO_VALUE = np.iinfo(np.int64).min  # stands for values beyond int64 (corrupt input): matches nothing


@dataclass
class Line:
    """One node's events in file order, with their vector clocks (one column per node)."""

    node: str
    ts: FloatArray
    clock: IntArray
    kind: IntArray
    vc: IntArray  # shape (events, nodes)


@dataclass
class Causality:
    nodes: tuple[str, ...]
    lines: list[Line]
    # One entry per matched message: node indices and event positions on their lines.
    sender: IntArray
    send: IntArray
    receiver: IntArray
    receive: IntArray
    summary: dict[str, Any]


@dataclass
class _Receives:
    """A node's receives, in order: where they are on its line and what they matched."""

    position: IntArray  # event index on the receiver's line
    sender: IntArray  # node index of the matched sender, -1 when unmatched
    send: IntArray  # event index of the matched send on the sender's line
    reason: list[str | None] = field(default_factory=list)  # why unmatched


def _int64(values: list[int]) -> IntArray:
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:  # absurd values: keep the rest, these match nothing
        return np.array([v if -(2**63) < v < 2**63 else _NO_VALUE for v in values], dtype=np.int64)


def _match(nodes: tuple[str, ...], logs: list[NodeLog], kinds: list[IntArray]) -> list[_Receives]:
    """Match every receive to its send, per directed link, by value (see the module docstring)."""
    index = {node: i for i, node in enumerate(nodes)}
    send_pos = [np.flatnonzero(kind == SEND) for kind in kinds]
    send_val = [_int64([s.value for s in log.sends]) for log in logs]
    result = []
    for b, log in enumerate(logs):
        count = len(log.receives)
        position = np.flatnonzero(kinds[b] == RECEIVE)
        sender = np.full(count, -1, dtype=np.int64)
        send = np.full(count, -1, dtype=np.int64)
        reason: list[str | None] = [None] * count
        names = [r.sender for r in log.receives]
        values = _int64([r.value for r in log.receives])
        codes = np.array([index.get(name, -1) for name in names], dtype=np.int64)
        for i in np.flatnonzero(codes < 0):
            reason[i] = f"from {names[i]}, which has no log"
        for a in np.unique(codes[codes >= 0]).tolist():
            mine = np.flatnonzero(codes == a)
            source = logs[a]
            dropped = [value for to, value, _ in source.drops if to == log.node]
            to_me = np.array([log.node in s.to for s in source.sends], dtype=bool)
            departed = to_me & ~np.isin(send_val[a], np.asarray(dropped, dtype=np.int64))
            link_values, link_pos = send_val[a][departed], send_pos[a][departed]
            order = np.argsort(link_values, kind="stable")
            link_values, link_pos = link_values[order], link_pos[order]
            wanted = values[mine]
            at = np.searchsorted(link_values, wanted)
            found = at < link_values.size
            found[found] = link_values[at[found]] == wanted[found]
            found &= wanted != _NO_VALUE
            first = np.zeros(mine.size, dtype=bool)  # a value received again matches nothing
            first[np.unique(wanted, return_index=True)[1]] = True
            for k in np.flatnonzero(~found | ~first).tolist():
                why = "received again" if found[k] else "never sent (or dropped)"
                reason[mine[k]] = f"value {int(wanted[k])} from {nodes[a]}: {why}"
            ok = found & first
            sender[mine[ok]] = a
            send[mine[ok]] = link_pos[at[ok]]
        result.append(_Receives(position, sender, send, reason))
    return result


def _vector_clocks(sizes: list[int], receives: list[_Receives]) -> tuple[list[IntArray], list[IntArray]]:
    """Every line's vector clocks and every receive's incoming vector, by rounds (module docstring).

    Both are stored node-major, shape (nodes, events) and (nodes, receives): each entry's series is
    contiguous, which makes the running maximum and the gathers several times faster.
    """
    n = len(sizes)
    own = [np.arange(1, size + 1, dtype=np.int64) for size in sizes]
    vcs = []
    for i, size in enumerate(sizes):
        vc = np.zeros((n, size), dtype=np.int64)
        vc[i] = own[i]
        vcs.append(vc)
    groups = []  # per receiving node: (sender, which receives, their sends' positions)
    for r in receives:
        matched = r.sender >= 0
        groups.append(
            [(a, np.flatnonzero(r.sender == a), r.send[r.sender == a]) for a in np.unique(r.sender[matched]).tolist()]
        )
    incoming: list[IntArray] = []
    for round_ in range(1, n + 1):
        # What each receive's message carried: its send's vector after round_ - 1 rounds.
        incoming = []
        for r, group in zip(receives, groups, strict=True):
            arriving = np.zeros((n, r.position.size), dtype=np.int64)
            for a, chosen, sends in group:
                arriving[:, chosen] = vcs[a][:, sends]
            incoming.append(arriving)
        if round_ == n:  # paths of up to n messages are in `incoming`: enough to expose any cycle
            break
        new = []
        for i, r in enumerate(receives):
            vc = np.zeros((n, sizes[i]), dtype=np.int64)
            vc[:, r.position] = incoming[i]
            np.maximum.accumulate(vc, axis=1, out=vc)
            vc[i] = own[i]
            new.append(vc)
        if all(np.array_equal(a, b) for a, b in zip(new, vcs, strict=True)):
            break  # a fixed point: `incoming` is final too
        vcs = new
    return vcs, incoming


def _pairs(sizes: list[int], vcs: list[IntArray]) -> dict[str, Any]:
    events = sum(sizes)
    pairs = events * (events - 1) // 2
    # Each event's predecessors: the first VC[e][j] events of every node j, less e itself.
    ordered = sum(int(vc.sum()) - size for vc, size in zip(vcs, sizes, strict=True))
    same_line = sum(size * (size - 1) // 2 for size in sizes)
    cross = pairs - same_line
    concurrent = pairs - ordered
    return {
        "pairs": pairs,
        "ordered_pairs": ordered,
        "concurrent_pairs": concurrent,
        "concurrent_share": round(concurrent / pairs, 6) if pairs else None,
        "concurrent_per_event": round(2 * concurrent / events, 3) if events else None,
        "cross_node_pairs": cross,
        "cross_node_concurrent_share": round(concurrent / cross, 6) if cross else None,
    }


def analyse_causality(
    logs_by_node: dict[str, NodeLog],
    origin: float | None = None,
    columns: dict[str, tuple[FloatArray, IntArray, IntArray]] | None = None,
) -> Causality:
    """Vector clocks, pair counts and the Lamport check for the nodes' logs (times relative to `origin`).

    `columns` may hold nodes' tick columns (ts, clock, kind) as arrays already: not converted again.
    """
    nodes = tuple(sorted(logs_by_node))
    logs = [logs_by_node[node] for node in nodes]
    given = columns or {}
    stamps, clocks, kinds = [], [], []
    for log in logs:
        ts, clock, kind = given.get(log.node) or (
            np.asarray(log.tick_ts, dtype=np.float64),
            np.asarray(log.tick_clock, dtype=np.int64),
            np.asarray(log.tick_kind, dtype=np.int64),
        )
        stamps.append(ts)
        clocks.append(clock)
        kinds.append(kind)
    sizes = [kind.size for kind in kinds]
    if origin is None:
        origin = min((float(ts[0]) for ts in stamps if ts.size), default=0.0)
    receives = _match(nodes, logs, kinds)
    while True:
        vcs, incoming = _vector_clocks(sizes, receives)
        cyclic = 0
        for i, r in enumerate(receives):
            # The sender knew of this receive (or a later event here): a cycle, impossible in real time.
            bad = np.flatnonzero((r.sender >= 0) & (incoming[i][i] > r.position))
            for k in bad.tolist():
                r.reason[k] = f"value from {nodes[int(r.sender[k])]} would close a causal cycle"
            r.sender[bad] = -1
            cyclic += bad.size
        if not cyclic:
            break

    def where(node: int, position: int) -> str:
        kind = ("receive", "send", "internal")[int(kinds[node][position])]
        t = float(stamps[node][position]) - origin
        return f"{nodes[node]} {kind} #{position + 1} (clock {int(clocks[node][position])}, t {t:.3f} s)"

    # Lamport's clock condition on every edge of happens-before.
    examples: list[str] = []
    violations = 0
    checked = 0
    for i in range(len(nodes)):
        checked += max(0, sizes[i] - 1)
        bad = np.flatnonzero(clocks[i][1:] <= clocks[i][:-1])
        violations += bad.size
        for k in bad[: max(0, EXAMPLES - len(examples))].tolist():
            examples.append(f"{where(i, k)} -> next event {where(i, k + 1)} on its line")
    sender_parts, send_parts, receiver_parts, receive_parts = [], [], [], []
    for b, r in enumerate(receives):
        ok = r.sender >= 0
        sender_parts.append(r.sender[ok])
        send_parts.append(r.send[ok])
        receive_parts.append(r.position[ok])
        receiver_parts.append(np.full(int(ok.sum()), b, dtype=np.int64))
        for a in np.unique(r.sender[ok]).tolist():
            chosen = np.flatnonzero(r.sender == a)
            sent = clocks[a][r.send[chosen]]
            got = clocks[b][r.position[chosen]]
            bad = np.flatnonzero(got <= sent)
            checked += chosen.size
            violations += bad.size
            for k in bad[: max(0, EXAMPLES - len(examples))].tolist():
                j = int(chosen[k])
                examples.append(f"message {where(a, int(r.send[j]))} -> {where(b, int(r.position[j]))}")
    empty = np.zeros(0, dtype=np.int64)
    sender = np.concatenate(sender_parts) if sender_parts else empty
    unmatched = sum(int((r.sender < 0).sum()) for r in receives)
    unmatched_examples = [
        f"{where(b, int(r.position[k]))}: {r.reason[k]}"
        for b, r in enumerate(receives)
        for k in np.flatnonzero(r.sender < 0)[:EXAMPLES].tolist()
    ][:EXAMPLES]
    summary: dict[str, Any] = {
        "method": "exact",
        "events": sum(sizes),
        "messages": int(sender.size),
        "unmatched_receives": unmatched,
        **_pairs(sizes, vcs),
        "lamport_consistent": violations == 0,
        "checked": checked,
        "violations": violations,
        "examples": examples,
        "unmatched_examples": unmatched_examples,
    }
    lines = [Line(nodes[i], stamps[i], clocks[i], kinds[i], vcs[i].T) for i in range(len(nodes))]
    return Causality(
        nodes,
        lines,
        sender,
        np.concatenate(send_parts) if send_parts else empty,
        np.concatenate(receiver_parts) if receiver_parts else empty,
        np.concatenate(receive_parts) if receive_parts else empty,
        summary,
    )

"""Vector clocks and happens-before, reconstructed from a run's logs; Lamport's clock condition checked.

Events and lines. Each node's tick events (receive, send, internal) in file order are that node's
process line; a `start` after a restart begins a new incarnation on the same line. Messages: a
receive is matched to its send by analysis.matching, the one matcher of the analysis (values on a
directed link strictly increase, so a value names a message). A send that A logged as dropped
never arrives. A receive that matches no send (value never sent or dropped, received
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
violating edge is itself a pair a -> b with C(a) >= C(b) (`violations`, with examples). On a
message edge that is Lamport's clock condition, which analysis.matching checked for every matched
message: read here, not computed again.

False orders: what Lamport's clocks claim beyond happens-before. A false order is an ordered pair
(a, b) of events on two different nodes with C(a) < C(b) that happens-before does not relate: a
concurrent pair with unequal clocks is one false order (in one orientation), with equal clocks none.
Counted exactly, without pairwise comparison: on another line j, the events concurrent with e are a
window, between e's past there (the first VC[e][j]) and its future (from the first event whose
entry for e's line has reached e, found by binary search), so e's false orders as the later event
are the events in its windows with a clock below C(e) (`relation` gives one event's). Clocks along
a line need not rise (a buggy clock's log), so a window's count is two prefix counts on a
merge-sort decomposition of the line (`_prefix_below`): O(E * N * log^2 E) in all, and one
binary search per event and line where a line's clocks never fall (every correct run).
`false_orders_per_event` is false orders / events: how many concurrent events the clocks put before
an event (as many as after it), on average.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.columns import BoolArray, Columns, FloatArray, IntArray, columns
from analysis.loader import KIND_NAMES, NodeLog
from analysis.matching import DUPLICATED, NO_LOG, NOT_SENT, Matching, match_messages
from node.schema import Causality as CausalitySummary

EXAMPLES = 5
CYCLE = max(DUPLICATED, NO_LOG, NOT_SENT) + 1  # a receive's status: set aside, it would close a causal cycle
# Vector clocks take nodes x events entries (100 nodes, a million events: 100 million): 32 bits
# each, half of numpy's default; an entry counts a line's events, so 32 bits hold any real run.
Vectors = npt.NDArray[np.int32]


@dataclass
class Line:
    """One node's events in file order, with their vector clocks (one column per node)."""

    node: str
    ts: FloatArray
    clock: IntArray
    kind: IntArray
    vc: Vectors  # shape (events, nodes)


@dataclass
class Causality:
    nodes: tuple[str, ...]
    lines: list[Line]
    # One entry per matched message: node indices and event positions on their lines.
    sender: IntArray
    send: IntArray
    receiver: IntArray
    receive: IntArray
    summary: CausalitySummary


@dataclass
class _Receives:
    """A node's receives, in order: where they are on its line and what they matched."""

    position: IntArray  # event index on the receiver's line
    sender: IntArray  # node index of the matched sender, -1 when unmatched
    send: IntArray  # event index of the matched send on the sender's line
    clock_ok: BoolArray  # the clock condition per message, as the matching checked it
    status: IntArray  # analysis.matching's, or CYCLE


def _vector_clocks(sizes: list[int], receives: list[_Receives]) -> tuple[list[Vectors], list[Vectors]]:
    """Every line's vector clocks and every receive's incoming vector, by rounds (module docstring).

    Both are stored node-major, shape (nodes, events) and (nodes, receives): each entry's series is
    contiguous, which makes the running maximum and the gathers several times faster.
    """
    n = len(sizes)
    if max(sizes, default=0) >= 2**31:
        raise ValueError(f"a line of {max(sizes):,} events: more than vector clocks of 32 bits count")
    own = [np.arange(1, size + 1, dtype=np.int32) for size in sizes]
    vcs = []
    for i, size in enumerate(sizes):
        vc = np.zeros((n, size), dtype=np.int32)
        vc[i] = own[i]
        vcs.append(vc)
    groups = []  # per receiving node: (sender, which receives, their sends' positions)
    for r in receives:
        matched = r.sender >= 0
        groups.append(
            [(a, np.flatnonzero(r.sender == a), r.send[r.sender == a]) for a in np.unique(r.sender[matched]).tolist()]
        )
    incoming: list[Vectors] = []
    for round_ in range(1, n + 1):
        # What each receive's message carried: its send's vector after round_ - 1 rounds.
        incoming = []
        for r, group in zip(receives, groups, strict=True):
            arriving = np.zeros((n, r.position.size), dtype=np.int32)
            for a, chosen, sends in group:
                arriving[:, chosen] = vcs[a][:, sends]
            incoming.append(arriving)
        if round_ == n:  # paths of up to n messages are in `incoming`: enough to expose any cycle
            break
        new = []
        for i, r in enumerate(receives):
            vc = np.zeros((n, sizes[i]), dtype=np.int32)
            vc[:, r.position] = incoming[i]
            np.maximum.accumulate(vc, axis=1, out=vc)
            vc[i] = own[i]
            new.append(vc)
        if all(np.array_equal(a, b) for a, b in zip(new, vcs, strict=True)):
            break  # a fixed point: `incoming` is final too
        vcs = new
    return vcs, incoming


def _pairs(sizes: list[int], vcs: list[Vectors]) -> tuple[int, int, int]:
    """All pairs, those ordered by happens-before, and those on two different lines."""
    events = sum(sizes)
    pairs = events * (events - 1) // 2
    # Each event's predecessors: the first VC[e][j] events of every node j, less e itself.
    ordered = sum(int(vc.sum(dtype=np.int64)) - size for vc, size in zip(vcs, sizes, strict=True))
    same_line = sum(size * (size - 1) // 2 for size in sizes)
    return pairs, ordered, pairs - same_line


def _window(lines: list[Line], node: int, other: int, positions: IntArray) -> tuple[IntArray, IntArray]:
    """Where the events concurrent with `positions` of line `node` are on line `other`: [start, end).

    Before start is an event's past there (the first VC[e][other] events), from end its future (the
    events whose entry for `node` has reached it: a suffix, VC entries never decrease along a line).
    """
    size = lines[other].ts.size
    start = np.minimum(lines[node].vc[positions, other], size).astype(np.int64)
    reached = lines[other].vc[:, node]
    if positions.size < lines[node].ts.size:
        end = np.searchsorted(reached, positions + 1, side="left").astype(np.int64)
    else:  # every event of the line: the same, counted (entries before reaching p + 1), not searched
        below = np.cumsum(np.bincount(np.minimum(reached, positions.size), minlength=positions.size + 1))
        end = below[positions]
    return start, np.maximum(start, end)


def _prefix_below(values: IntArray, ends: IntArray, bounds: IntArray) -> IntArray:
    """For each query q, how many of values[: ends[q]] are below bounds[q], for values in any order.

    Level L cuts the values into blocks of 2**L, each sorted on its own; a prefix is the blocks of
    its end's set bits (one per level), each counted by one binary search in that level's sort.
    """
    if (values[1:] >= values[:-1]).all():  # a correct clock's line: one binary search, same answer
        return np.minimum(np.searchsorted(values, bounds, side="left"), ends)
    distinct = np.unique(values)
    rank = np.searchsorted(distinct, values)  # values compared through their ranks: keys stay small
    below = np.searchsorted(distinct, bounds, side="left")  # value < bound iff rank < below
    span = distinct.size + 1  # block b's keys are b * span + rank, so blocks sort in order
    counts = np.zeros(ends.size, dtype=np.int64)
    level = 0
    while 1 << level <= values.size:
        keys = np.sort((np.arange(values.size, dtype=np.int64) >> level) * span + rank)
        chosen = np.flatnonzero((ends >> level) & 1)
        block = (ends[chosen] >> level) - 1  # a whole block before the end: it starts at block << level
        counts[chosen] += np.searchsorted(keys, block * span + below[chosen], side="left") - (block << level)
        level += 1
    return counts


def _false_orders(lines: list[Line]) -> int:
    """Cross-node pairs (a, b), C(a) < C(b), neither happening before the other (module docstring)."""
    total = 0
    for j, line in enumerate(lines):
        others = [i for i in range(len(lines)) if i != j and lines[i].ts.size]
        if not others or not line.ts.size:
            continue
        if (line.clock[1:] >= line.clock[:-1]).all():  # a correct clock's line: a binary search per event
            for i in others:  # a line at a time: two arrays of its size at once, not of every line's
                start, end = _window(lines, i, j, np.arange(lines[i].ts.size, dtype=np.int64))
                # Another correct line's clocks are sorted too: searched in order, several times faster.
                below = np.searchsorted(line.clock, lines[i].clock, side="left")
                total += int((np.minimum(below, end) - np.minimum(below, start)).sum())
            continue
        windows = [_window(lines, i, j, np.arange(lines[i].ts.size, dtype=np.int64)) for i in others]
        starts = np.concatenate([w[0] for w in windows])
        ends = np.concatenate([w[1] for w in windows])
        clocks = np.concatenate([lines[i].clock for i in others])
        counted = _prefix_below(line.clock, np.concatenate([ends, starts]), np.tile(clocks, 2))
        total += int(counted[: ends.size].sum() - counted[ends.size :].sum())
    return total


def _receives(matching: Matching, cols: list[Columns]) -> list[_Receives]:
    """The matching's answer per node, copied: cycles are set aside here without touching it."""
    return [
        _Receives(c.receives, r.sender.copy(), r.send, r.clock_ok, r.status.copy())
        for c, r in zip(cols, matching.received, strict=True)
    ]


def _break_cycles(sizes: list[int], receives: list[_Receives]) -> list[Vectors]:
    """The vector clocks, after setting aside receives whose sender already knew of them (corrupt logs)."""
    while True:
        vcs, incoming = _vector_clocks(sizes, receives)
        cyclic = 0
        for i, r in enumerate(receives):
            # The sender knew of this receive (or a later event here): a cycle, impossible in real time.
            bad = np.flatnonzero((r.sender >= 0) & (incoming[i][i] > r.position))
            r.sender[bad] = -1
            r.status[bad] = CYCLE
            cyclic += bad.size
        if not cyclic:
            return vcs


def analyse_causality(
    logs_by_node: dict[str, NodeLog],
    origin: float | None = None,
    given: dict[str, Columns] | None = None,
    matching: Matching | None = None,
) -> Causality:
    """Vector clocks, pair counts and the Lamport check for the nodes' logs (times relative to `origin`).

    `given` may hold nodes' columns and `matching` the run's matched messages, already computed.
    """
    nodes = tuple(sorted(logs_by_node))
    logs = [logs_by_node[node] for node in nodes]
    cols = [(given or {}).get(log.node) or columns(log) for log in logs]
    if matching is None:
        matching = match_messages(logs_by_node, dict(zip(nodes, cols, strict=True)))
    sizes = [c.kind.size for c in cols]
    if origin is None:
        origin = min((float(c.ts[0]) for c in cols if c.ts.size), default=0.0)
    receives = _receives(matching, cols)
    vcs = _break_cycles(sizes, receives)

    def where(node: int, position: int) -> str:
        kind = KIND_NAMES[int(cols[node].kind[position])]
        t = float(cols[node].ts[position]) - origin
        return f"{nodes[node]} {kind} #{position + 1} (clock {int(cols[node].clock[position])}, t {t:.3f} s)"

    # Lamport's clock condition on every edge of happens-before: the steps along each line...
    examples: list[str] = []
    violations = 0
    checked = 0
    for i, c in enumerate(cols):
        checked += max(0, sizes[i] - 1)
        bad = np.flatnonzero(c.clock[1:] <= c.clock[:-1])
        violations += bad.size
        for k in bad[: max(0, EXAMPLES - len(examples))].tolist():
            examples.append(f"{where(i, k)} -> next event {where(i, k + 1)} on its line")
    # ... and the messages, as the matching found them (by receiver, then sender, then in order).
    for b, r in enumerate(receives):
        ok = r.sender >= 0
        checked += int(ok.sum())
        bad = np.flatnonzero(ok & ~r.clock_ok)
        violations += bad.size
        for k in bad[np.lexsort((bad, r.sender[bad]))][: max(0, EXAMPLES - len(examples))].tolist():
            a = int(r.sender[k])
            examples.append(f"message {where(a, int(r.send[k]))} -> {where(b, int(r.position[k]))}")
    edges = [np.flatnonzero(r.sender >= 0) for r in receives]  # the message edges, per receiver

    def joined(parts: Iterable[IntArray]) -> IntArray:
        return np.concatenate([np.zeros(0, dtype=np.int64), *parts])

    sender = joined(r.sender[e] for r, e in zip(receives, edges, strict=True))
    unmatched_examples = [
        f"{where(b, int(r.position[k]))}: {_reason(logs[b], k, int(r.status[k]))}"
        for b, r in enumerate(receives)
        for k in np.flatnonzero(r.sender < 0)[:EXAMPLES].tolist()
    ][:EXAMPLES]
    events = sum(sizes)
    pairs, ordered, cross = _pairs(sizes, vcs)
    concurrent = pairs - ordered
    lines = [Line(nodes[i], c.ts, c.clock, c.kind, vcs[i].T) for i, c in enumerate(cols)]
    false_orders = _false_orders(lines)
    summary: CausalitySummary = {
        "method": "exact",
        "events": events,
        "messages": int(sender.size),
        "unmatched_receives": sum(int((r.sender < 0).sum()) for r in receives),
        "pairs": pairs,
        "ordered_pairs": ordered,
        "concurrent_pairs": concurrent,
        "concurrent_share": round(concurrent / pairs, 6) if pairs else None,
        "concurrent_per_event": round(2 * concurrent / events, 3) if events else None,
        "cross_node_pairs": cross,
        "cross_node_concurrent_share": round(concurrent / cross, 6) if cross else None,
        "false_orders": false_orders,
        "false_order_share": round(false_orders / cross, 6) if cross else None,
        "false_order_share_of_concurrent": round(false_orders / concurrent, 6) if concurrent else None,
        "false_orders_per_event": round(false_orders / events, 3) if events else None,
        "lamport_consistent": violations == 0,
        "checked": checked,
        "violations": violations,
        "examples": examples,
        "unmatched_examples": unmatched_examples,
    }
    return Causality(
        nodes,
        lines,
        sender,
        joined(r.send[e] for r, e in zip(receives, edges, strict=True)),
        joined(np.full(e.size, b, dtype=np.int64) for b, e in enumerate(edges)),
        joined(r.position[e] for r, e in zip(receives, edges, strict=True)),
        summary,
    )


@dataclass(frozen=True)
class Relation:
    """How one event relates to every other event of the run (what the explorer highlights)."""

    past: int  # events that happen before it
    future: int  # events it happens before
    concurrent: int  # the rest, itself left out
    false_before: int  # concurrent events with a smaller Lamport clock: C orders them before it
    false_after: int  # concurrent events with a larger Lamport clock: C orders them after it


def relation(causality: Causality, node: int, position: int) -> Relation:
    """The event at `position` on line `node` against all others, from the vector clocks.

    On another line j its past is the first VC[e][j] events, its future those whose VC entry for
    e's line has reached e (a suffix, VC entries never decrease along a line), and the events in
    between are concurrent with it. On its own line: before it past, after it future.
    """
    lines = causality.lines
    clock = lines[node].clock[position]
    past = future = concurrent = false_before = false_after = 0
    for j, line in enumerate(lines):
        if j == node:
            past += position
            future += line.ts.size - position - 1
            continue
        starts, ends = _window(lines, node, j, np.array([position], dtype=np.int64))
        before, after = int(starts[0]), int(ends[0])
        past += before
        future += line.ts.size - after
        between = line.clock[before:after]
        concurrent += between.size
        false_before += int((between < clock).sum())
        false_after += int((between > clock).sum())
    return Relation(past, future, concurrent, false_before, false_after)


def _reason(log: NodeLog, k: int, status: int) -> str:
    """Why a node's k-th receive is kept as a local event, in words."""
    source = log.receive_from[k]
    if status == NO_LOG:
        return f"from {source}, which has no log"
    if status == CYCLE:
        return f"value from {source} would close a causal cycle"
    why = "received again" if status == DUPLICATED else "never sent (or dropped)"
    return f"value {log.receive_value[k]} from {source}: {why}"

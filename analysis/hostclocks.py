"""Clock offsets between nodes (or hosts), estimated from the one-way delays of their messages.

A one-way delay is the receiver's enqueue time minus the sender's send time, each read from its
own host's clock, so it measures the true delay plus the offset between the two clocks. For two
clock domains a and b (a node each, or a host each when the logs say which node ran where) with
theta = clock_b - clock_a, and m_ab, m_ba the smallest delays measured a -> b and b -> a:

    true delay a -> b = m_ab - theta >= 0,   true delay b -> a = m_ba + theta >= 0,
    so  -m_ba <= theta <= m_ab,  and  theta ~ (m_ab - m_ba) / 2

the estimate assuming the fastest message took as long both ways (NTP's assumption). A sender's
configured NET_DELAY_MS is a delay it adds on purpose, a known lower bound of its messages' true
delays: it is subtracted from them first, so that a node delayed on purpose is not mistaken for a
clock ahead. Nodes on one host read one clock, so with hosts known the pairs of nodes across two
hosts are pooled. The logs name no host; `scripts/swarm` records which node ran on which host in
run.json (`swarm.hosts`), and `hosts_of` reads it; without it each node is its own clock domain.

Times compared across nodes (one-way delays, the figures' common time axis) are not to be trusted
when a pair is suspect: a delay below zero, which proves an offset larger than the true delay of the
fastest message that way (every delay measured across the pair is off by more than that), or bounds
that contradict each other (the offset changed during the run: a clock stepped or drifted). Only
proof counts: an offset within the bounds cannot be told from delays that are not the same both ways
(jitter, a pause, few messages), and a rule on the estimate alone (over half the median delay)
warned on 7 of 100 chaos simulations, which share one clock. Each domain's offset is given against
the reference (the first node's), from their pair: no least squares over all pairs, the direct pair
is what was measured. Lateness is measured on one node's clock and is never affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from analysis.columns import FloatArray
from analysis.loader import NodeLog
from analysis.matching import Matching
from node.config import MAX_NET_DELAY_MS
from node.schema import ClockOffsets, ClockPair

# Below this a delay counts as negative: times are float Unix seconds, whose resolution (2.4e-7 s
# in this century) makes a zero delay measure a fraction of a microsecond either side.
TOLERANCE_MS = 0.001


def configured_delay_ms(log: NodeLog) -> float:
    """The smallest NET_DELAY_MS any incarnation of the node was configured with (0 when unknown)."""
    delays = []
    for start in log.starts:
        config = start.get("config")
        value = config.get("net_delay_ms") if isinstance(config, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_NET_DELAY_MS:
            delays.append(float(value))
        else:  # format 1, or a value no node accepts (a crafted line): 0 bounds any delay
            delays.append(0.0)
    return min(delays, default=0.0)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _pair(a: str, b: str, ab: tuple[int, float | None], ba: tuple[int, float | None]) -> ClockPair:
    """One pair from its messages each way: (count, smallest delay less the sender's NET_DELAY_MS)."""
    (n_ab, m_ab), (n_ba, m_ba) = ab, ba
    offset = None if m_ab is None or m_ba is None else (m_ab - m_ba) / 2
    suspect = None
    if m_ab is not None and m_ba is not None and m_ab + m_ba < -TOLERANCE_MS:
        suspect = "the bounds contradict each other: the offset changed during the run"
    elif m_ab is not None and m_ab < -TOLERANCE_MS:
        suspect = f"a one-way delay {a} -> {b} of {m_ab:.3f} ms is impossible"
    elif m_ba is not None and m_ba < -TOLERANCE_MS:
        suspect = f"a one-way delay {b} -> {a} of {m_ba:.3f} ms is impossible"
    return {
        "a": a,
        "b": b,
        "messages_ab": n_ab,
        "messages_ba": n_ba,
        "min_delay_ab_ms": _rounded(m_ab),
        "min_delay_ba_ms": _rounded(m_ba),
        "offset_ms": _rounded(offset),
        "low_ms": _rounded(None if m_ba is None else -m_ba),
        "high_ms": _rounded(m_ab),
        "suspect": suspect,
    }


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:+.3f}"


def _weight(pair: ClockPair) -> float:
    """How far off a suspect pair's clocks are at least: the worse of the estimate and a negative delay."""
    negative = [-v for v in (pair["min_delay_ab_ms"], pair["min_delay_ba_ms"]) if v is not None]
    return max([abs(pair["offset_ms"] or 0.0), *negative])


def warning_line(pairs: list[ClockPair]) -> str | None:
    """One line naming the worst suspect pair, its offset and bounds; None when no pair is suspect."""
    suspect = [p for p in pairs if p["suspect"]]
    if not suspect:
        return None
    worst = max(suspect, key=_weight)
    a, b = worst["a"], worst["b"]
    if worst["offset_ms"] is None:  # messages one way only: one bound
        shown = f"{b} - {a} in [{_ms(worst['low_ms'])}, {_ms(worst['high_ms'])}] ms"
    else:
        shown = f"{b} - {a} = {_ms(worst['offset_ms'])} ms (bounds {_ms(worst['low_ms'])} .. {_ms(worst['high_ms'])})"
    more = f"; {len(suspect) - 1} more pair(s) suspect" if len(suspect) > 1 else ""
    return (
        f"warning: clocks differ: {shown}, {worst['suspect']}{more}: one-way delays and times compared "
        "across nodes are not to be trusted (summary.json: clock_offsets)"
    )


def estimate(
    delays: Mapping[tuple[str, str], FloatArray], floors: Mapping[str, float], hosts: Mapping[str, str]
) -> ClockOffsets:
    """The offsets from each directed link's one-way delays (ms, per matched message), each
    sender's configured NET_DELAY_MS (`floors`) and each node's clock domain (`hosts`: node ->
    host, or node -> itself); domains in the order of their first node, the reference first."""
    domains = list(dict.fromkeys(hosts[node] for node in sorted(hosts)))
    ways: dict[tuple[str, str], tuple[int, float | None]] = {}  # per domain link: messages, smallest delay
    for (sender, receiver), values in sorted(delays.items()):
        a, b = hosts.get(sender, sender), hosts.get(receiver, receiver)
        if a == b or not values.size:  # one clock: nothing to estimate
            continue
        domains += [d for d in (a, b) if d not in domains]
        count, smallest = ways.get((a, b), (0, None))
        least = float(values.min()) - floors.get(sender, 0.0)
        ways[a, b] = (count + values.size, least if smallest is None else min(smallest, least))
    none = (0, None)
    pairs = [
        _pair(a, b, ways.get((a, b), none), ways.get((b, a), none))
        for i, a in enumerate(domains)
        for b in domains[i + 1 :]
        if (a, b) in ways or (b, a) in ways
    ]
    reference = domains[0] if domains else None
    offsets: dict[str, float | None] = dict.fromkeys(domains)
    if reference is not None:
        offsets[reference] = 0.0
    offsets.update({p["b"]: p["offset_ms"] for p in pairs if p["a"] == reference})
    warning = warning_line(pairs)
    return {
        "reference": reference,
        "hosts": dict(sorted(hosts.items())),
        "offsets_ms": offsets,
        "pairs": pairs,
        "trusted": warning is None,
        "warning": warning,
    }


def hosts_of(info: Mapping[str, object], nodes: Iterable[str]) -> dict[str, str] | None:
    """Each node's host as run.json's `swarm.hosts` records it (scripts/swarm), None when it does
    not name a host (a string) for every node of the run: then no node is pooled with another."""
    swarm = info.get("swarm")
    hosts = swarm.get("hosts") if isinstance(swarm, dict) else None
    if not isinstance(hosts, dict):
        return None
    named = {node: hosts.get(node) for node in nodes}
    if not all(isinstance(host, str) and host for host in named.values()):
        return None
    return {node: str(host) for node, host in named.items()}


def clock_offsets(
    matching: Matching, logs: Mapping[str, NodeLog], hosts: Mapping[str, str] | None = None
) -> ClockOffsets:
    """The run's clock offsets from the matcher's delays; `hosts` maps nodes to hosts (default:
    each node its own clock domain)."""
    delays = {(link.sender, link.receiver): link.delays_ms for link in matching.links}
    floors = {node: configured_delay_ms(log) for node, log in logs.items()}
    return estimate(delays, floors, hosts if hosts is not None else {node: node for node in logs})

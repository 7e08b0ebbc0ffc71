"""summary.json's keys: TypedDicts with a description on each key (Annotated).

The analysis builds its summary as a `Summary` and every reader (report, compare, experiments,
tests) reads it as one, so mypy checks each key path; `summary_problems` checks a loaded file
against the same definition.
"""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, TypedDict, Union, get_args, get_origin, get_type_hints

SUMMARY_SCHEMA = 5


class Percentiles(TypedDict):
    count: Annotated[int, "values measured"]
    mean: Annotated[float | None, "mean (null when there is nothing to measure)"]
    p50: Annotated[float | None, "median (percentiles: linear interpolation between ranks, numpy's default)"]
    p90: Annotated[float | None, "90th percentile"]
    p99: Annotated[float | None, "99th percentile"]
    max: Annotated[float | None, "largest value"]


class RunInfo(TypedDict):
    run_id: Annotated[str, "the run folder's name (or RUN_ID)"]
    folder: Annotated[str, "where the run was read from"]
    seed: Annotated[int | None, "the run's seed"]
    nodes: Annotated[list[str], "node ids with a log"]
    rates: Annotated[dict[str, int | None], "configured rate of each node"]
    max_event_num: Annotated[int | None, "MAX_EVENT_NUM"]
    duration: Annotated[float | None, "DURATION (0: until stopped)"]
    min_clock_rate: Annotated[int | None, "MIN_CLOCK_RATE"]
    max_clock_rate: Annotated[int | None, "MAX_CLOCK_RATE"]
    simulated: Annotated[
        bool, "virtual time: a start line's `time` is `virtual` (format 1: config `simulator`), or run.json says so"
    ]
    clock_bug: Annotated[str | None, "the planted clock bug the start lines name (CLOCK_BUG), or null"]
    delivery: Annotated[str | None, "DELIVERY of the start lines (null in logs before it existed)"]
    first_tick_ts: Annotated[float | None, "system time of the first tick of any node"]
    span_s: Annotated[float, "first tick to last tick, seconds"]


class Jumps(Percentiles):
    histogram: Annotated[dict[str, int], "tick events by jump size"]
    over_one: Annotated[int, "jumps larger than 1"]
    over_one_from_receives: Annotated[int, "of those, on receives"]
    receive_mean: Annotated[float | None, "mean jump on receives"]


class ClockFigures(TypedDict):
    start: Annotated[int | None, "clock in the first start line"]
    end: Annotated[int | None, "clock after the last tick"]
    logical_rate: Annotated[float | None, "clock units per second, least squares against system time"]
    per_tick: Annotated[float | None, "logical_rate / rate"]


class Gap(TypedDict):
    mean: Annotated[float, "mean over the run of (fastest node's clock - this clock)"]
    max: Annotated[float, "largest gap"]
    end: Annotated[float, "gap at the end"]


class Queue(TypedDict):
    mean: Annotated[float | None, "mean queue length seen by a tick before it takes a message"]
    max: Annotated[int | None, "largest queue length seen by a tick"]
    end: Annotated[int | None, "left in the queue at the last stop"]
    nonempty_share: Annotated[float | None, "share of ticks that found a message"]
    wait_ms: Annotated[Percentiles, "time messages waited in the queue"]


class NodeSummary(TypedDict):
    rate: Annotated[int | None, "configured rate (ticks/s)"]
    drawn_rate: Annotated[int | None, "rate drawn from the seed"]
    node_seed: Annotated[int | None, "the node's seed"]
    incarnations: Annotated[int, "start lines (restarts + 1)"]
    ticks: Annotated[int, "tick events"]
    skipped_ticks: Annotated[int, "ticks skipped after stalls"]
    first_tick_ts: Annotated[float | None, "system time of its first tick"]
    achieved_rate: Annotated[float | None, "ticks per second achieved (per incarnation, pooled)"]
    rate_ratio: Annotated[float | None, "achieved / configured (ticks that ran, so a pause lowers it)"]
    events: Annotated[dict[str, int], "lines by event"]
    messages_sent: Annotated[int, "messages sent (a send to both peers counts two)"]
    internal_share: Annotated[float | None, "internal events among drawn events"]
    lateness_ms: Annotated[Percentiles, "how late ticks started"]
    jumps: Annotated[Jumps, "clock - clock before, per tick event"]
    clock: Annotated[ClockFigures, "the logical clock"]
    gap: Annotated[Gap | None, "distance to the fastest node's clock (null without ticks)"]
    queue: Annotated[Queue, "the network queue"]
    stop_reason: Annotated[str | None, "the last stop line's reason"]


Link = TypedDict(
    "Link",
    {
        "from": Annotated[str, "sender"],
        "to": Annotated[str, "receiver"],
        "sent": Annotated[int, "values the sender logged as sent on this link"],
        "dropped": Annotated[int, "of those, logged as dropped by the sender"],
        "received": Annotated[int, "matched receives"],
        "left": Annotated[int, "in the receiver's queue at its last stop"],
        "in_flight": Annotated[int, "unacknowledged at the sender's last stop, not received, not in the queue"],
        "lost": Annotated[int, "left the sender, never received, not in the queue, not in flight"],
        "duplicated": Annotated[int, "received more than once"],
        "unmatched": Annotated[int, "received but never sent"],
        "order_violations": Annotated[int, "received after a later value"],
        "unaccounted": Annotated[int, "sent - dropped - received - left - in_flight (0 on a clean run)"],
        "clock_condition_violations": Annotated[int, "receives whose clock is not above the send's"],
        "delay_ms": Annotated[Percentiles, "one-way delay: receiver's enqueue time - sender's send time"],
        "examples": Annotated[list[str], "up to five violations, in words"],
    },
)


class ClockCondition(TypedDict):
    checked: Annotated[int, "matched messages checked"]
    violations: Annotated[int, "receive clock not above the send clock"]
    holds: Annotated[bool, "no violation"]


class Messages(TypedDict):
    sent: Annotated[int, "the links summed"]
    dropped: Annotated[int, "the links summed"]
    received: Annotated[int, "the links summed"]
    left: Annotated[int, "the links summed"]
    in_flight: Annotated[int, "the links summed"]
    lost: Annotated[int, "the links summed"]
    duplicated: Annotated[int, "the links summed"]
    unmatched: Annotated[int, "the links summed"]
    order_violations: Annotated[int, "the links summed"]
    unaccounted: Annotated[int, "the links summed"]
    clock_condition: Annotated[ClockCondition, "Lamport's clock condition on every matched message"]
    delay_ms: Annotated[Percentiles, "one-way delay over all links"]


class Shiviz(TypedDict):
    file: Annotated[str, "the ShiViz log's file name"]
    events: Annotated[int, "events in it"]
    complete: Annotated[bool, "all events of the run (else the first 10,000, closed under happens-before)"]


class _CausalityBase(TypedDict):
    method: Annotated[str, "`exact`: pairs counted, not sampled"]
    events: Annotated[int, "tick events"]
    messages: Annotated[
        int, "matched messages that are edges of happens-before (less any set aside for closing a causal cycle)"
    ]
    unmatched_receives: Annotated[
        int,
        "receives matching no send, closing a causal cycle, or claiming their own node as sender (kept as local)",
    ]
    pairs: Annotated[int, "event pairs"]
    ordered_pairs: Annotated[int, "pairs ordered by happens-before"]
    concurrent_pairs: Annotated[int, "concurrent pairs"]
    concurrent_share: Annotated[float | None, "concurrent / pairs"]
    concurrent_per_event: Annotated[float | None, "how many events one event is concurrent with, on average"]
    cross_node_pairs: Annotated[int, "pairs of events on two different nodes"]
    cross_node_concurrent_share: Annotated[float | None, "concurrent / cross-node pairs"]
    lamport_consistent: Annotated[bool, "C(a) < C(b) on every edge of happens-before"]
    checked: Annotated[int, "edges checked (steps on a node + messages)"]
    violations: Annotated[int, "edges where C(a) >= C(b)"]
    examples: Annotated[list[str], "violations, in words"]
    unmatched_examples: Annotated[list[str], "unmatched receives, in words"]


class Causality(_CausalityBase, total=False):
    false_orders: Annotated[
        int, "pairs (a, b) on two nodes with C(a) < C(b), neither happening before the other (from schema 4)"
    ]
    false_order_share: Annotated[float | None, "false orders / cross-node pairs"]
    false_order_share_of_concurrent: Annotated[float | None, "false orders / concurrent pairs (all cross-node)"]
    false_orders_per_event: Annotated[
        float | None, "false orders / events: concurrent events the clocks put before one event, on average"
    ]
    shiviz: Annotated[Shiviz, "the ShiViz export (absent with --no-shiviz)"]


class Check(TypedDict):
    violations: Annotated[
        int | None,
        "events (or messages, or edges) that break the rule (null: not checked, in a summary before schema 4)",
    ]
    rule: Annotated[str, "the rule, in words"]
    witness: Annotated[list[str], "the first events found breaking it, in words (a minimal witness)"]


class Checks(TypedDict):
    clock_condition: Annotated[Check, "receive clock above send clock, per matched message"]
    clock_order: Annotated[Check, "a node's clock rises with every tick event"]
    clock_rule: Annotated[Check, "+1 on send and internal, max(clock, value) + 1 on receive"]
    send_value: Annotated[Check, "a message carries its send event's clock"]
    restart: Annotated[Check, "a restart resumes at or above the clock it had"]
    link_values: Annotated[Check, "values on a link rise with every send"]
    lost: Annotated[Check, "what left is received, queued or in flight"]
    duplicated: Annotated[Check, "nothing taken twice"]
    never_sent: Annotated[Check, "everything taken was sent"]
    out_of_order: Annotated[Check, "FIFO per link"]
    happens_before: Annotated[Check, "C(a) < C(b) for every a -> b (analysis.causality's edge check)"]


class ClockPair(TypedDict):
    a: Annotated[str, "a clock domain: a node, or a host when the logs name the nodes' hosts"]
    b: Annotated[str, "the other; offsets are b's clock minus a's"]
    messages_ab: Annotated[int, "matched messages a -> b"]
    messages_ba: Annotated[int, "matched messages b -> a"]
    min_delay_ab_ms: Annotated[float | None, "smallest one-way delay a -> b, less the sender's NET_DELAY_MS"]
    min_delay_ba_ms: Annotated[float | None, "smallest one-way delay b -> a, likewise"]
    offset_ms: Annotated[
        float | None, "(min_delay_ab - min_delay_ba) / 2: equal minimum delays both ways assumed (null: one way only)"
    ]
    low_ms: Annotated[float | None, "the offset is at least -min_delay_ba_ms (no delay b -> a below 0)"]
    high_ms: Annotated[float | None, "the offset is at most min_delay_ab_ms (no delay a -> b below 0)"]
    suspect: Annotated[str | None, "why times compared across a and b are not to be trusted (null: no reason found)"]


class ClockOffsets(TypedDict):
    reference: Annotated[str | None, "the clock domain the offsets are given against (the first node's)"]
    hosts: Annotated[dict[str, str], "each node's clock domain: its host if the logs name it, else the node itself"]
    offsets_ms: Annotated[
        dict[str, float | None], "each domain's clock minus the reference's: its pair's estimate (null: none)"
    ]
    pairs: Annotated[list[ClockPair], "every pair of clock domains that exchanged messages"]
    trusted: Annotated[bool, "no pair is suspect: one-way delays and times across nodes can be trusted"]
    warning: Annotated[str | None, "the warning line printed when not trusted, else null"]


class Summary(TypedDict):
    schema: Annotated[int, "this schema's version"]
    run: Annotated[RunInfo, "the run"]
    nodes: Annotated[dict[str, NodeSummary], "per node id"]
    links: Annotated[list[Link], "per directed link"]
    messages: Annotated[Messages, "the links summed"]
    clock_offsets: Annotated[
        ClockOffsets | None, "clock offsets from one-way delays (analysis.hostclocks); null before schema 5"
    ]
    causality: Annotated[Causality, "vector clocks and happens-before"]
    checks: Annotated[Checks, "every check of the run (analysis.violations): counts, rules, witnesses"]
    problems: Annotated[list[str], "every problem found in the input, as `file:line: what`"]


@functools.cache  # _check asks once per object: 24,000 times for a 100-node summary (1.4 s uncached)
def hints(typed: type) -> dict[str, Any]:
    """A TypedDict's keys and their (Annotated) types (not to be changed: shared)."""
    found: dict[str, Any] = get_type_hints(typed, include_extras=True)
    return found


def is_typeddict(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__required_keys__")


def _check(value: Any, t: Any, path: str, out: list[str]) -> None:
    origin = get_origin(t)
    if origin is Annotated:
        _check(value, get_args(t)[0], path, out)
    elif origin in (Union, types.UnionType):
        options = get_args(t)
        if not any(_fits(value, option) for option in options):
            out.append(f"{path}: {type(value).__name__} where {t} was expected")
        else:
            chosen = next(option for option in options if _fits(value, option))
            _check(value, chosen, path, out)
    elif is_typeddict(t):
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object")
            return
        keys = hints(t)
        for key in sorted(t.__required_keys__ - value.keys()):
            out.append(f"{path}.{key}: missing")
        for key in sorted(value.keys() - keys.keys()):
            out.append(f"{path}.{key}: not in the schema")
        for key in keys.keys() & value.keys():
            _check(value[key], keys[key], f"{path}.{key}", out)
    elif origin is dict:
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object")
            return
        for key, item in value.items():
            _check(item, get_args(t)[1], f"{path}.{key}", out)
    elif origin is list:
        if not isinstance(value, list):
            out.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            _check(item, get_args(t)[0], f"{path}[{i}]", out)
    elif not _fits(value, t):
        out.append(f"{path}: {type(value).__name__} where {getattr(t, '__name__', t)} was expected")


def _fits(value: Any, t: Any) -> bool:  # noqa: PLR0911 - one return per kind of type
    """A shallow type test (containers are checked item by item in `_check`)."""
    origin = get_origin(t)
    if origin is Annotated:
        return _fits(value, get_args(t)[0])
    if t is type(None):
        return value is None
    if t is float:
        return type(value) in (int, float)
    if t is int:
        return type(value) is int
    if t in (str, bool):
        return type(value) is t
    if is_typeddict(t) or origin is dict:
        return isinstance(value, dict)
    if origin is list:
        return isinstance(value, list)
    if origin in (Union, types.UnionType):
        return any(_fits(value, option) for option in get_args(t))
    return False


def summary_problems(summary: Any) -> list[str]:
    """Where a loaded summary.json differs from `Summary` (an empty list when it matches)."""
    out: list[str] = []
    _check(summary, Summary, "summary", out)
    return out

"""The invariants every run must keep, checked on its parsed records: the one set of checks that
the tests (tests/logcheck.py, tests/faultcheck.py) and the chaos runs (node.chaos) use.

A run is each node's records (dicts in the log format, node.schema) in file order, as a run
folder's files or a simulation's output give them. Each check returns human-readable problems,
naming the node, line or link and the rule it broke; an empty list means the invariant holds.
Messages are matched by analysis.matching, the one FIFO matcher, on the same NodeLog columns the
analysis loads from files.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

import orjson

from analysis.columns import columns
from analysis.loader import NodeLog, read_node
from analysis.matching import match_messages
from analysis.messages import link_reports
from analysis.violations import LISTED, Violations, find_clock_violations
from node.schema import COMMON
from node.schema import TICK_EVENTS as TICKS

TICK_EVENTS = tuple(e.name for e in TICKS)
Record = dict[str, Any]
Run = dict[str, list[Record]]
Link = tuple[str, str]  # (sender, receiver)


def tick_records(records: list[Record]) -> list[Record]:
    return [r for r in records if r["event"] in TICK_EVENTS]


def check_fields(run: Run) -> list[str]:
    """The common fields on every line, of its own node; a start first, a stop last, and after a
    stop only a new start (a restart): `stop` is the last line of every incarnation."""
    problems = []
    required = {f.name for f in COMMON}
    for node, records in run.items():
        if not records or records[0].get("event") != "start":
            problems.append(f"{node}: first line is not a start event")
        if not records or records[-1].get("event") != "stop":
            problems.append(f"{node}: last line is not a stop event")
        previous = None
        for n, record in enumerate(records, 1):
            missing = required - record.keys()
            if missing:
                problems.append(f"{node}:{n}: missing {sorted(missing)}")
                continue
            if record["node"] != node:
                problems.append(f"{node}:{n}: node field {record['node']!r}")
            if record["event"] in TICK_EVENTS and not isinstance(record.get("tick"), int):
                problems.append(f"{node}:{n}: {record['event']} without tick")
            if previous == "stop" and record["event"] != "start":
                problems.append(f"{node}:{n}: {record['event']} after the stop line")
            previous = record["event"]
    return problems


def check_tick_counts(run: Run, duration: float) -> list[str]:
    """Tick events number rate x duration within 0.5% (or one tick), with indices 0, 1, 2, ..."""
    problems = []
    for node, records in run.items():
        rate = records[0]["rate"]
        expected = rate * duration
        got = len(tick_records(records))
        if abs(got - expected) > max(1.0, 0.005 * expected):
            problems.append(f"{node}: {got} tick events, expected {expected:g} (rate {rate} x {duration:g} s)")
        ticks = [r["tick"] for r in tick_records(records)]
        if ticks != list(range(len(ticks))):
            problems.append(f"{node}: tick indices are not 0, 1, 2, ...")
    return problems


def check_clock_rules(run: Run) -> list[str]:
    """The checks of analysis.violations.find_clock_violations (the rule on every tick event, the
    clock rising, a send carrying its clock, a restart never resuming below the clock it had, a
    link's values rising), each violation in words; and a line that is not a tick event (or a
    start) leaves the clock as it was."""
    logs = {node: node_log(node, records) for node, records in run.items()}
    cols = {node: columns(log) for node, log in logs.items()}
    found = Violations()
    find_clock_violations(logs, cols, found)
    problems = [f"{v.kind}: {v.text}" for v in found.listed]
    problems += [f"{kind}: {n - LISTED} more" for kind, n in found.counts.items() if n > LISTED]
    for node, records in run.items():
        clock = records[0]["clock"] if records else 0
        for n, record in enumerate(records, 1):
            event = record["event"]
            if event not in TICK_EVENTS and event != "start" and record["clock"] != clock:
                problems.append(f"{node}:{n}: {event} has clock {record['clock']}, the clock was {clock}")
            clock = record["clock"]
    return problems


def links(run: Run) -> dict[Link, dict[str, list[int]]]:
    """Per directed link (sender, receiver): values sent, received, dropped; and left in queue."""
    table: dict[Link, dict[str, list[int]]] = defaultdict(
        lambda: {"sent": [], "received": [], "dropped": [], "left": []}
    )
    for node, records in run.items():
        for record in records:
            event = record["event"]
            if event == "send":
                for peer in record["to"]:
                    table[(node, peer)]["sent"].append(record["value"])
            elif event == "receive":
                table[(record["from"], node)]["received"].append(record["value"])
            elif event == "drop":
                table[(node, record["to"])]["dropped"].append(record["value"])
            elif event == "stop":
                for peer, count in record["queue_by_peer"].items():
                    table[(peer, node)]["left"].append(count)
    return table


def node_log(node: str, records: Iterable[Record]) -> NodeLog:
    """What analysis.loader reads from a node's file, from records already in memory (a
    simulation's): the same reader, on the records written as JSON lines."""
    lines = io.BytesIO(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return read_node(lines, f"{node}.jsonl", []) or NodeLog(node=node, file=f"{node}.jsonl")


def check_links(run: Run, lossy: Collection[Link] = ()) -> list[str]:
    """Per directed link, as analysis.matching matches it: every receive matches one send (none
    received twice or never sent), in FIFO order, with a clock above the send's (Lamport's clock
    condition); and sent = received + dropped + left in the receiver's queue + in flight at the
    end (unacknowledged at the sender's stop) + lost, with lost = 0 except on the `lossy` links
    (where delivery is at-most-once across a fault). Reliable delivery: no lossy links."""
    logs = {node: node_log(node, records) for node, records in run.items()}
    matching = match_messages(logs)
    problems = []
    for match, link in zip(matching.links, link_reports(matching, logs), strict=True):
        name = f"{link.sender}->{link.receiver}"
        example = f" (e.g. {link.violation_examples[0]})" if link.violation_examples else ""
        wrong = [
            (link.duplicated, "received twice"),
            (link.unmatched, "received but never sent (or dropped)"),
            (link.order_violations, "received out of FIFO order"),
            (link.clock_violations, "received with a clock not above the send's (clock condition)"),
        ]
        problems += [f"{name}: {count} {what}{example}" for count, what in wrong if count]
        if link.lost and (link.sender, link.receiver) not in lossy:
            problems.append(
                f"{name}: {link.lost} lost: sent {link.sent} = received {link.received} + dropped {link.dropped} "
                f"+ left in queue {link.left} + in flight at the end {link.in_flight} + lost {link.lost}"
            )
        if match.left > match.unreceived:
            problems.append(f"{name}: {link.left} left in the receiver's queue, but only {match.unreceived} unreceived")
    for (sender, receiver), values in sorted(links(run).items()):
        sent, dropped = set(values["sent"]), values["dropped"]
        if len(set(dropped)) != len(dropped) or not sent.issuperset(dropped):
            problems.append(f"{sender}->{receiver}: a value dropped twice, or dropped but never sent")
    return problems


def delays_ms(run: Run) -> dict[Link, list[float]]:
    """Receiver's enqueue time minus the sender's send time, per directed link (values name messages)."""
    sent = {(n, p, r["value"]): r["ts"] for n, rs in run.items() for r in rs if r["event"] == "send" for p in r["to"]}
    out: dict[Link, list[float]] = {}
    for node, records in run.items():
        for r in records:
            if r["event"] == "receive":
                out.setdefault((r["from"], node), []).append((r["enq_ts"] - sent[(r["from"], node, r["value"])]) * 1000)
    return out


def internal_share(run: Run) -> tuple[int, int]:
    """(internal events, non-receive tick events) over all nodes."""
    internal = sum(1 for records in run.values() for r in records if r["event"] == "internal")
    drawn = sum(1 for records in run.values() for r in records if r["event"] in ("internal", "send"))
    return internal, drawn


def check_internal_share(run: Run, max_event_num: int, nodes: int = 3) -> list[str]:
    """The share of internal events among draws is (N - nodes) / N within 4 standard errors."""
    internal, drawn = internal_share(run)
    if drawn == 0:
        return ["no drawn events at all"]
    p = (max_event_num - nodes) / max_event_num
    margin = 4 * math.sqrt(p * (1 - p) / drawn) + 1 / drawn
    share = internal / drawn
    if abs(share - p) > margin:
        return [f"internal share {share:.4f} over {drawn} draws, expected {p:.4f} +- {margin:.4f}"]
    return []


def check_run(run: Run, duration: float, max_event_num: int | None = None, lossy: Collection[Link] = ()) -> list[str]:
    """Every invariant of a run in which every node ran the whole `duration` (no faults but `lossy`)."""
    problems = check_fields(run)
    if problems:
        return problems
    problems += check_tick_counts(run, duration)
    problems += check_clock_rules(run)
    problems += check_links(run, lossy)
    if max_event_num is not None:
        problems += check_internal_share(run, max_event_num, nodes=len(run))
    return problems

"""Invariants of a run, recomputed from the raw JSON-lines logs (independent of the analysis).

Each check returns a list of human-readable problems; an empty list means the invariant holds.
Tests assert on these so that a failure says which node, link or line broke which rule.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from node.schema import COMMON
from node.schema import TICK_EVENTS as TICKS
from node.simulation import Simulation, run_simulation

TICK_EVENTS = tuple(e.name for e in TICKS)
Record = dict[str, Any]


def simulated_run(sim: Simulation) -> dict[str, list[Record]]:
    """Every node's records of a simulated run, as load_run gives a folder's; the run must end cleanly."""
    run: dict[str, list[Record]] = {}
    outcome = run_simulation(sim, lambda node, record: run.setdefault(node, []).append(record))
    assert outcome.ok, outcome.errors
    return run


def load_run(folder: Path) -> dict[str, list[Record]]:
    """Every node's records, by node id, in file order."""
    run: dict[str, list[Record]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            run[path.stem] = [json.loads(line) for line in f]
    return run


def tick_records(records: list[Record]) -> list[Record]:
    return [r for r in records if r["event"] in TICK_EVENTS]


def check_fields(run: dict[str, list[Record]]) -> list[str]:
    problems = []
    required = {f.name for f in COMMON}
    for node, records in run.items():
        if not records or records[0]["event"] != "start":
            problems.append(f"{node}: first line is not a start event")
        if not records or records[-1]["event"] != "stop":
            problems.append(f"{node}: last line is not a stop event")
        for n, record in enumerate(records, 1):
            missing = required - record.keys()
            if missing:
                problems.append(f"{node}:{n}: missing {sorted(missing)}")
            if record.get("node") != node:
                problems.append(f"{node}:{n}: node field {record.get('node')!r}")
            if record["event"] in TICK_EVENTS and not isinstance(record.get("tick"), int):
                problems.append(f"{node}:{n}: {record['event']} without tick")
    return problems


def check_tick_counts(run: dict[str, list[Record]], duration: float) -> list[str]:
    """Tick events number rate x duration within 0.5% (or one tick)."""
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


def check_clock_rules(run: dict[str, list[Record]]) -> list[str]:
    """+1 on send/internal, max(prev, value)+1 on receive, unchanged on every other event."""
    problems = []
    for node, records in run.items():
        clock = records[0]["clock"]
        for n, record in enumerate(records[1:], 2):
            event = record["event"]
            if event == "start":
                clock = record["clock"]  # a restart resumes from its last logged clock
                continue
            if event in ("send", "internal"):
                want = clock + 1
            elif event == "receive":
                want = max(clock, record["value"]) + 1
            else:
                want = clock
            if record["clock"] != want:
                problems.append(f"{node}:{n}: {event} has clock {record['clock']}, rule gives {want}")
            if event == "send" and record["value"] != record["clock"]:
                problems.append(f"{node}:{n}: send carries {record['value']} but its clock is {record['clock']}")
            clock = record["clock"]
    return problems


def links(run: dict[str, list[Record]]) -> dict[tuple[str, str], dict[str, list[int]]]:
    """Per directed link (sender, receiver): values sent, received, dropped; and left in queue."""
    table: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(
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


def check_links(run: dict[str, list[Record]]) -> list[str]:
    """Received values are a prefix of the sent ones; sent = received + dropped + left in queue."""
    problems = []
    for (sender, receiver), link in sorted(links(run).items()):
        dropped = set(link["dropped"])  # values on one link are unique: they only grow
        delivered = [v for v in link["sent"] if v not in dropped]
        received = link["received"]
        if received != delivered[: len(received)]:
            problems.append(f"{sender}->{receiver}: received values are not a prefix of the sent values")
        left = sum(link["left"])
        if len(link["sent"]) != len(received) + len(link["dropped"]) + left:
            problems.append(
                f"{sender}->{receiver}: sent {len(link['sent'])} != received {len(received)} "
                f"+ dropped {len(link['dropped'])} + left in queue {left}"
            )
    return problems


def delays_ms(run: dict[str, list[Record]]) -> dict[tuple[str, str], list[float]]:
    """Receiver's enqueue time minus the sender's send time, per directed link (values name messages)."""
    sent = {(n, p, r["value"]): r["ts"] for n, rs in run.items() for r in rs if r["event"] == "send" for p in r["to"]}
    out: dict[tuple[str, str], list[float]] = {}
    for node, records in run.items():
        for r in records:
            if r["event"] == "receive":
                out.setdefault((r["from"], node), []).append((r["enq_ts"] - sent[(r["from"], node, r["value"])]) * 1000)
    return out


def internal_share(run: dict[str, list[Record]]) -> tuple[int, int]:
    """(internal events, non-receive tick events) over all nodes."""
    internal = sum(1 for records in run.values() for r in records if r["event"] == "internal")
    drawn = sum(1 for records in run.values() for r in records if r["event"] in ("internal", "send"))
    return internal, drawn


def check_internal_share(run: dict[str, list[Record]], max_event_num: int, nodes: int = 3) -> list[str]:
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


def check_run(run: dict[str, list[Record]], duration: float, max_event_num: int | None = None) -> list[str]:
    problems = check_fields(run)
    if problems:
        return problems
    problems += check_tick_counts(run, duration)
    problems += check_clock_rules(run)
    problems += check_links(run)
    if max_event_num is not None:
        problems += check_internal_share(run, max_event_num, nodes=len(run))
    return problems

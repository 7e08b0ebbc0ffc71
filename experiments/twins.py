"""Every kept container run against its simulated twin: the node's own code in virtual time.

Each kept run is simulated again (node.simulation: the same NodeCore the containers ran) with its
own seed and configuration (hence the same rates and the same event draws), each node starting
to tick when it really did, and the runs' median one-way delay. Then, node by node, the two
sequences of tick events and clock values are compared; where they part, the first difference
is explained from both logs: which message was taken in one run and not (yet) in the other, when
it was sent and when it entered the queue, against the tick's own time.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.api import load_and_analyse
from analysis.compare import parting
from analysis.report import fmt, markdown_table
from experiments.aggregate import Figure, gap, load_results, nodes_by_rate, num
from experiments.runner import extract_logs, planned_from_entry, simulation
from experiments.simulated import measured_delay, simulated_summary
from node.schema import TICK_EVENTS, Summary
from node.simulation import Simulation

TICKS = {e.name for e in TICK_EVENTS}
FIGURES: tuple[tuple[str, Figure], ...] = (
    ("jump mean", lambda n: n["jumps"]["mean"]),
    ("jump max", lambda n: n["jumps"]["max"]),
    ("gap mean", lambda n: gap(n).get("mean")),
    ("queue mean", lambda n: n["queue"]["mean"]),
    ("queue max", lambda n: n["queue"]["max"]),
    ("queue end", lambda n: n["queue"]["end"]),
)
Record = dict[str, Any]


def start_offsets(summary: Summary) -> dict[str, float]:
    """When each node of a real run started ticking, relative to the first (0 to 0.13 s measured)."""
    firsts = {n: v["first_tick_ts"] for n, v in summary["nodes"].items()}
    known = {n: t for n, t in firsts.items() if t is not None}
    if len(known) != len(firsts):
        return {}
    origin = min(known.values())
    return {n: round(t - origin, 6) for n, t in known.items()}


def twin(entry: dict[str, Any], real: Summary, delay: float) -> Simulation:
    """A kept container run's twin: its plan again, each node starting when it really did."""
    return simulation(planned_from_entry(entry), delay, start_offsets(real))


def _log(folder: Path, node: str) -> list[Record]:
    with (folder / f"{node}.jsonl").open() as f:
        return [json.loads(line) for line in f]


@dataclass
class Parting:
    """Where a node's simulated history first differs from its real one, and why."""

    node: str
    tick: int
    t: float  # seconds since the run's first tick
    real: str
    simulated: str
    why: str


def _describe(record: Record) -> str:
    late = f", {record['late_ms']:.2f} ms late" if record["late_ms"] >= 0.5 else ""
    if record["event"] == "receive":
        return f"receive {record['value']} from {record['from']} (clock {record['clock']}{late})"
    return f"{record['event']} (clock {record['clock']}{late})"


def _message_timing(folder: Path, sender: str, receiver: str, value: int, tick_ts: float) -> str:
    """When `value` left `sender` and reached `receiver`'s queue in one run, against a tick at `tick_ts`."""
    sent = next((r for r in _log(folder, sender) if r["event"] == "send" and r["value"] == value), None)
    got = next(
        (r for r in _log(folder, receiver) if r["event"] == "receive" and r["from"] == sender and r["value"] == value),
        None,
    )
    if sent is None:
        return f"not sent by {sender}"
    late = f" (sent by a tick {sent['late_ms']:.2f} ms late)" if sent["late_ms"] >= 0.5 else ""
    if got is None:
        return f"sent {1000 * (tick_ts - sent['ts']):.2f} ms before the tick{late}, never received"
    delay = 1000 * (got["enq_ts"] - sent["ts"])
    margin = 1000 * (tick_ts - got["enq_ts"])
    when = f"{margin:.2f} ms before" if margin >= 0 else f"{-margin:.2f} ms after"
    return f"took {delay:.2f} ms{late}, entered the queue {when} the tick"


def first_parting(real: Path, simulated: Path) -> Parting | None:
    """Where the two runs part (analysis.compare.parting: the earliest differing tick event of any
    node, in time since the run's first tick), with both events and the reason in words."""
    found = parting(load_and_analyse(real), load_and_analyse(simulated))
    if found is None:
        return None
    node, k = found.node, found.pos
    a = [r for r in _log(real, node) if r["event"] in TICKS]
    b = [r for r in _log(simulated, node) if r["event"] in TICKS]
    if k >= len(a) or k >= len(b):
        longer = "real" if len(a) > len(b) else "simulated"
        return Parting(node, k, found.t, f"{len(a)} ticks", f"{len(b)} ticks", f"the {longer} run has more ticks")
    x, y = a[k], b[k]
    whys = []
    for label, record, folder, other, other_folder, other_record in (
        ("real", x, real, "simulation", simulated, y),
        ("simulation", y, simulated, "real", real, x),
    ):
        if record["event"] == "receive":
            message = (record["from"], node, record["value"])
            here = _message_timing(folder, *message, record["ts"])
            there = _message_timing(other_folder, *message, other_record["ts"])
            whys.append(f"{message[0]}'s {message[2]}: in the {label} it {here}; in the {other} it {there}")
    why = "; ".join(whys) or "different draws (a difference earlier on another node)"
    return Parting(node, k, found.t, _describe(x), _describe(y), why)


def twins(results: Path, delay: float, raw: Path, work: Path) -> list[dict[str, Any]]:
    """Each kept container run, its simulated twin, and where they part."""
    pairs = []
    for entry, real in load_results(results):
        sim = twin(entry, real, delay)
        folder = work / entry["run_id"]
        simulated = simulated_summary(sim, keep=folder)
        parting = first_parting(raw / entry["run_id"], folder) if (raw / entry["run_id"]).is_dir() else None
        pairs.append(
            {
                "run_id": entry["run_id"],
                "config": entry["config"],
                "real": real,
                "simulated": simulated,
                "parting": parting,
            }
        )
    return pairs


def _slowest(summary: Summary, figure: Figure) -> float:
    return num(figure(nodes_by_rate(summary)[0][1]))


def write_twins(results: Path) -> list[Path]:
    delay = measured_delay(results)
    with tempfile.TemporaryDirectory() as tmp:
        raw, work = Path(tmp) / "real", Path(tmp) / "simulated"
        extract_logs(results, raw)
        pairs = twins(results, delay, raw, work)
    parted = [p for p in pairs if p["parting"] is not None]
    rows = []
    for config in dict.fromkeys(p["config"] for p in pairs):
        group = [p for p in pairs if p["config"] == config]
        row = [config, str(len(group))]
        for _, figure in FIGURES:
            real = statistics.fmean(_slowest(p["real"], figure) for p in group)
            sim = statistics.fmean(_slowest(p["simulated"], figure) for p in group)
            row.append(f"{fmt(real)} / {fmt(sim)}")
        rows.append(row)
    header = ["configuration", "runs", *[f"{name} (real / sim)" for name, _ in FIGURES]]
    same_rates = all(
        [n["rate"] for _, n in nodes_by_rate(p["real"])] == [n["rate"] for _, n in nodes_by_rate(p["simulated"])]
        for p in pairs
    )
    partings = [
        [p["run_id"], q.node, str(q.tick), f"{q.t:.3f}", q.real, q.simulated, q.why]
        for p in parted
        for q in [p["parting"]]
    ]
    text = [
        "# Containers and their simulated twins",
        "",
        "Generated by `python -m experiments twins`. Each kept container run was simulated with the node's own "
        "code in virtual time (node.simulation: the NodeCore the containers ran), its own seed "
        f"(same rates: {'yes, all' if same_rates else 'NO'}; same event draws), duration and configuration, "
        f"each node starting to tick when it really did, and a one-way delay of {delay * 1000:g} ms (the median of "
        "the runs' median delays). Figures are the slowest node's, averaged over the runs of a configuration.",
        "",
        markdown_table(header, rows),
        "",
        f"Event for event (every node's sequence of tick events and clock values): {len(pairs) - len(parted)} of "
        f"{len(pairs)} runs are identical to their twin. Where the others part first (the earliest differing tick "
        "of any node; t in seconds since the run's first tick), and why:",
        "",
        markdown_table(["run", "node", "tick", "t", "real", "simulated", "why"], partings),
    ]
    markdown = results / "twins.md"
    markdown.write_text("\n".join(text) + "\n")
    data = results / "twins.json"
    records = [
        {
            "run_id": p["run_id"],
            "config": p["config"],
            "identical": p["parting"] is None,
            "real": {name: _slowest(p["real"], figure) for name, figure in FIGURES},
            "simulated": {name: _slowest(p["simulated"], figure) for name, figure in FIGURES},
        }
        for p in pairs
    ]
    data.write_text(json.dumps(records, indent=2) + "\n")
    return [markdown, data]

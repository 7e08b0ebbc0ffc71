"""The kept runs and their figures: per run, per configuration (means), and theory against measurement.

Reads only experiments/results (index.json and runs/*/summary.json); experiments.tables and
experiments.figures turn these rows into tables.md, aggregate.json and the figures.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from analysis.report import fmt
from experiments.theory import predict

Summary = dict[str, Any]
Kept = list[tuple[dict[str, Any], Summary]]  # (index entry, summary) of each kept run


def load_results(results: Path) -> Kept:
    """(index entry, summary) of every kept run that has a summary, in index order."""
    index = json.loads((results / "index.json").read_text())
    kept = []
    for entry in index["runs"]:
        path = results / "runs" / entry["run_id"] / "summary.json"
        if path.exists() and not entry.get("failed"):
            kept.append((entry, json.loads(path.read_text())))
    return kept


def nodes_by_rate(summary: Summary) -> list[tuple[str, dict[str, Any]]]:
    """Nodes slowest first (ties by id): where jumps, gaps and backlogs show."""
    return sorted(summary["nodes"].items(), key=lambda kv: (kv[1]["rate"], kv[0]))


def _triple(summary: Summary, *path: str, digits: int = 2) -> str:
    values = []
    for _, node in nodes_by_rate(summary):
        value: Any = node
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values.append(fmt(value, digits))
    return " / ".join(values)


# The slowest node's figures after its mean jump, in both the per-run and the per-configuration table.
SLOW_COLUMNS = ["jump max", "gap mean", "gap max", "queue mean", "queue max", "queue end"]
RUN_HEADER = ["run", "rates", "jump mean", *SLOW_COLUMNS, "clock units/s", "messages"]


def run_row(entry: dict[str, Any], s: Summary) -> list[str]:
    return [
        entry["run_id"],
        " / ".join(str(n["rate"]) for _, n in nodes_by_rate(s)),
        _triple(s, "jumps", "mean"),
        _triple(s, "jumps", "max", digits=0),
        _triple(s, "gap", "mean", digits=1),
        _triple(s, "gap", "max", digits=0),
        _triple(s, "queue", "mean"),
        _triple(s, "queue", "max", digits=0),
        _triple(s, "queue", "end", digits=0),
        _triple(s, "clock", "logical_rate", digits=1),
        str(s["messages"]["sent"]),
    ]


def duration_of(s: Summary) -> float:
    """The run's configured duration, or its measured span for a run without one (DURATION=0)."""
    return float(s["run"]["duration"] or s["run"]["span_s"])


def slowest(s: Summary) -> dict[str, Any]:
    return nodes_by_rate(s)[0][1]


def config_aggregate(runs: Kept) -> dict[str, Any]:
    """Means over the runs of one configuration (slowest node unless said otherwise)."""

    def mean(values: list[float]) -> float:
        return round(statistics.fmean(values), 3) if values else float("nan")

    slow = [slowest(s) for _, s in runs]
    fast = [nodes_by_rate(s)[-1][1] for _, s in runs]
    duration = [duration_of(s) for _, s in runs]
    return {
        "runs": len(runs),
        "rate_ratio": mean([f["rate"] / sl["rate"] for f, sl in zip(fast, slow, strict=True)]),
        "slow_jump_mean": mean([n["jumps"]["mean"] for n in slow]),
        "slow_jump_max": mean([n["jumps"]["max"] for n in slow]),
        "fast_jump_mean": mean([n["jumps"]["mean"] for n in fast]),
        "slow_gap_mean": mean([n["gap"]["mean"] for n in slow]),
        "slow_gap_max": mean([n["gap"]["max"] for n in slow]),
        "slow_queue_mean": mean([n["queue"]["mean"] for n in slow]),
        "slow_queue_max": mean([n["queue"]["max"] for n in slow]),
        "slow_queue_end": mean([n["queue"]["end"] for n in slow]),
        "largest_queue_max": max(n["queue"]["max"] for n in slow),
        "messages_per_s": mean([s["messages"]["sent"] / d for (_, s), d in zip(runs, duration, strict=True)]),
        # Pooled over every node's draws: a backlogged node draws only a few times.
        "internal_share": round(
            sum(n["events"].get("internal", 0) for _, s in runs for n in s["nodes"].values())
            / max(
                1,
                sum(
                    n["events"].get("internal", 0) + n["events"].get("send", 0)
                    for _, s in runs
                    for n in s["nodes"].values()
                ),
            ),
            4,
        ),
    }


AGG_HEADER = [
    "configuration",
    "runs",
    "rate ratio",
    "slowest: jump mean",
    *SLOW_COLUMNS,
    "fastest: jump mean",
    "messages/s",
    "internal share of draws",
]


def theory_rows(runs: Kept) -> list[list[str]]:
    """Per run, the slowest node: predicted against measured receive share, growth and mean jump."""
    rows = []
    for entry, s in runs:
        nodes = nodes_by_rate(s)
        rates = [n["rate"] for _, n in nodes]
        men = s["run"]["max_event_num"]
        duration = duration_of(s)
        p = predict(rates, men)[0]
        slow = nodes[0][1]
        arrivals = (slow["events"].get("receive", 0) + (slow["queue"]["end"] or 0)) / duration
        rows.append(
            [
                entry["run_id"],
                " / ".join(map(str, rates)),
                fmt(p.arrivals),
                fmt(arrivals),
                fmt(p.receive_share),
                fmt(slow["queue"]["nonempty_share"]),
                fmt(p.queue_growth),
                fmt((slow["queue"]["end"] or 0) / duration),
                fmt(p.mean_jump),
                fmt(slow["jumps"]["mean"]),
            ]
        )
    return rows


THEORY_HEADER = [
    "run",
    "rates",
    "arrivals/s predicted",
    "measured",
    "receive share predicted",
    "measured",
    "backlog growth/s predicted",
    "measured",
    "mean jump predicted",
    "measured",
]

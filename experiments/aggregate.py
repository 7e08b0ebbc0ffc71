"""The kept runs and their figures: per run, per configuration (means), and theory against measurement.

Reads only a set's results folder (index.json and runs/*/summary.json); experiments.tables and
experiments.figures turn these rows into tables.md, aggregate.json and the figures.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.report import fmt
from analysis.summaryfile import read_summary
from experiments.configs import settings
from experiments.theory import predict
from node.schema import NodeSummary, Summary

Kept = list[tuple[dict[str, Any], Summary]]  # (index entry, summary) of each kept run
Figure = Callable[[NodeSummary], float | int | None]  # one figure of a node's summary


def num(value: float | None) -> float:
    """A figure for arithmetic: nan where the summary has none (a node that never ticked)."""
    return math.nan if value is None else float(value)


def load_results(results: Path) -> Kept:
    """(index entry, summary) of every kept run that has a summary, in index order."""
    index = json.loads((results / "index.json").read_text())
    kept = []
    for entry in index["runs"]:
        path = results / "runs" / entry["run_id"] / "summary.json"
        if path.exists() and not entry.get("failed"):
            kept.append((entry, read_summary(path)))
    return kept


def nodes_by_rate(summary: Summary) -> list[tuple[str, NodeSummary]]:
    """Nodes slowest first (ties by id): where jumps, gaps and backlogs show."""
    return sorted(summary["nodes"].items(), key=lambda kv: (kv[1]["rate"] or 0, kv[0]))


def _triple(summary: Summary, figure: Figure, digits: int = 2) -> str:
    return " / ".join(fmt(figure(node), digits) for _, node in nodes_by_rate(summary))


def rates_text(s: Summary) -> str:
    """The run's rates, slowest node first: "1 / 6 / 6"."""
    return " / ".join(str(n["rate"]) for _, n in nodes_by_rate(s))


def gap(node: NodeSummary) -> Any:
    """The node's gap figures, or {} (no ticks, so no gap): read with .get."""
    return node["gap"] or {}


# The slowest node's figures after its mean jump, in both the per-run and the per-configuration table.
SLOW_COLUMNS = ["jump max", "gap mean", "gap max", "queue mean", "queue max", "queue end"]
RUN_HEADER = ["run", "rates", "jump mean", *SLOW_COLUMNS, "clock units/s", "messages"]


def run_row(entry: dict[str, Any], s: Summary) -> list[str]:
    return [
        entry["run_id"],
        rates_text(s),
        _triple(s, lambda n: n["jumps"]["mean"]),
        _triple(s, lambda n: n["jumps"]["max"], digits=0),
        _triple(s, lambda n: gap(n).get("mean"), digits=1),
        _triple(s, lambda n: gap(n).get("max"), digits=0),
        _triple(s, lambda n: n["queue"]["mean"]),
        _triple(s, lambda n: n["queue"]["max"], digits=0),
        _triple(s, lambda n: n["queue"]["end"], digits=0),
        _triple(s, lambda n: n["clock"]["logical_rate"], digits=1),
        str(s["messages"]["sent"]),
    ]


# Shown per run only where a kept run has any of them: settings beyond rates and MAX_EVENT_NUM,
# lost messages, or false-order figures (summaries before those figures show "-").
EXTRA_HEADER = ["settings", "lost", "false-order share", "false orders/event"]


def settings_of(entry: dict[str, Any]) -> str:
    """The run's settings beyond rates and MAX_EVENT_NUM (experiments.configs.settings), "" for none."""
    return settings(entry["env"], entry.get("nodes", 3), entry.get("faults", ()))


def extra_row(entry: dict[str, Any], s: Summary) -> list[str]:
    causality = s["causality"]
    return [
        settings_of(entry) or "-",
        fmt(s["messages"].get("lost")),
        fmt(causality.get("false_order_share"), 3),
        fmt(causality.get("false_orders_per_event")),
    ]


def shows_extra(kept: Kept) -> bool:
    return any(
        settings_of(e) or s["messages"].get("lost") or s["causality"].get("false_order_share") is not None
        for e, s in kept
    )


def duration_of(s: Summary) -> float:
    """The run's configured duration, or its measured span for a run without one (DURATION=0)."""
    return float(s["run"]["duration"] or s["run"]["span_s"])


def slowest(s: Summary) -> NodeSummary:
    return nodes_by_rate(s)[0][1]


def config_aggregate(runs: Kept) -> dict[str, Any]:
    """Means over the runs of one configuration (slowest node unless said otherwise)."""

    def mean(values: list[float | int | None]) -> float:
        return round(statistics.fmean(num(v) for v in values), 3) if values else float("nan")

    slow = [slowest(s) for _, s in runs]
    fast = [nodes_by_rate(s)[-1][1] for _, s in runs]
    duration = [duration_of(s) for _, s in runs]
    return {
        "runs": len(runs),
        "rate_ratio": mean([num(f["rate"]) / num(sl["rate"]) for f, sl in zip(fast, slow, strict=True)]),
        "slow_jump_mean": mean([n["jumps"]["mean"] for n in slow]),
        "slow_jump_max": mean([n["jumps"]["max"] for n in slow]),
        "fast_jump_mean": mean([n["jumps"]["mean"] for n in fast]),
        "slow_gap_mean": mean([gap(n).get("mean") for n in slow]),
        "slow_gap_max": mean([gap(n).get("max") for n in slow]),
        "slow_queue_mean": mean([n["queue"]["mean"] for n in slow]),
        "slow_queue_max": mean([n["queue"]["max"] for n in slow]),
        "slow_queue_end": mean([n["queue"]["end"] for n in slow]),
        "largest_queue_max": max(n["queue"]["max"] or 0 for n in slow),
        "largest_jump_max": max(n["jumps"]["max"] or 0 for n in slow),
        "largest_gap_max": max(gap(n).get("max", 0) for n in slow),
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
        rates = [n["rate"] or 0 for _, n in nodes]
        if 0 in rates:  # a node that never ticked: no prediction
            continue
        men = s["run"]["max_event_num"] or 0
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

"""Several runs side by side: the headline figures of each run's nodes in one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.report import fmt, markdown_table, text_table

HEADER = [
    "run",
    "MEN",
    "node",
    "rate",
    "achieved",
    "jump mean",
    "jump max",
    "gap mean",
    "gap max",
    "queue mean",
    "queue max",
    "queue end",
    "clock/s",
]


def comparison_rows(summaries: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for summary in summaries:
        run = summary["run"]
        # Slowest first: that is where jumps, gaps and backlogs show.
        nodes = sorted(summary["nodes"].items(), key=lambda kv: (kv[1].get("rate") or 0, kv[0]))
        for name, node in nodes:
            jumps, gap, queue = node.get("jumps", {}), node.get("gap", {}), node.get("queue", {})
            rows.append(
                [
                    str(run["run_id"]),
                    fmt(run.get("max_event_num")),
                    name,
                    fmt(node.get("rate")),
                    fmt(node.get("rate_ratio"), 4),
                    fmt(jumps.get("mean")),
                    fmt(jumps.get("max"), 0),
                    fmt(gap.get("mean"), 1),
                    fmt(gap.get("max"), 0),
                    fmt(queue.get("mean")),
                    fmt(queue.get("max")),
                    fmt(queue.get("end")),
                    fmt(node.get("clock", {}).get("logical_rate")),
                ]
            )
    return rows


def comparison_text(summaries: list[dict[str, Any]]) -> str:
    return text_table(HEADER, comparison_rows(summaries))


def write_comparison(summaries: list[dict[str, Any]], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "comparison.md"
    md.write_text(
        "# Runs compared\n\n" + markdown_table(HEADER, comparison_rows(summaries)) + "\n\n"
        "MEN is MAX_EVENT_NUM; nodes are listed slowest first; `clock/s` is the logical clock's "
        "rate against system time.\n"
    )
    js = folder / "comparison.json"
    js.write_text(
        json.dumps([{"run": s["run"], "nodes": s["nodes"], "messages": s["messages"]} for s in summaries], indent=2)
        + "\n"
    )
    return [md, js]

"""Several runs side by side: the headline figures of each run's nodes in one table.

Summaries may come from disk (`analysis.summaryfile.read_summary`), written by an older version
of the analysis: figures a file lacks show as '-'.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.files import write_text
from analysis.report import fmt, markdown_table, text_table
from node.schema import Summary

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


def comparison_rows(summaries: list[Summary]) -> list[list[str]]:
    rows = []
    for summary in summaries:
        run = summary["run"]
        # Slowest first: that is where jumps, gaps and backlogs show.
        nodes = sorted(summary["nodes"].items(), key=lambda kv: (kv[1].get("rate") or 0, kv[0]))
        for name, node in nodes:
            jumps, gap, queue, clock = node.get("jumps"), node.get("gap"), node.get("queue"), node.get("clock")
            rows.append(
                [
                    str(run["run_id"]),
                    fmt(run.get("max_event_num")),
                    name,
                    fmt(node.get("rate")),
                    fmt(node.get("rate_ratio"), 4),
                    fmt(jumps.get("mean") if jumps else None),
                    fmt(jumps.get("max") if jumps else None, 0),
                    fmt(gap.get("mean") if gap else None, 1),
                    fmt(gap.get("max") if gap else None, 0),
                    fmt(queue.get("mean") if queue else None),
                    fmt(queue.get("max") if queue else None),
                    fmt(queue.get("end") if queue else None),
                    fmt(clock.get("logical_rate") if clock else None),
                ]
            )
    return rows


def comparison_text(summaries: list[Summary]) -> str:
    return text_table(HEADER, comparison_rows(summaries))


def write_comparison(summaries: list[Summary], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md = write_text(
        folder,
        "comparison.md",
        "# Runs compared\n\n" + markdown_table(HEADER, comparison_rows(summaries)) + "\n\n"
        "MEN is MAX_EVENT_NUM; nodes are listed slowest first; `clock/s` is the logical clock's "
        "rate against system time.\n",
    )
    js = write_text(
        folder,
        "comparison.json",
        json.dumps([{"run": s["run"], "nodes": s["nodes"], "messages": s.get("messages")} for s in summaries], indent=2)
        + "\n",
    )
    return [md, js]

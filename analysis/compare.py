"""Several runs side by side: the headline figures of each run's nodes in one table, and where
two runs part (the first event at which their histories differ).

Summaries may come from disk (`analysis.summaryfile.read_summary`), written by an older version
of the analysis: figures a file lacks show as '-'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.files import write_text
from analysis.loader import KIND_NAMES
from analysis.metrics import Analysis
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


@dataclass(frozen=True)
class Parting:
    """Where two runs part: event `pos` of `node` (line `lines[0]` in the first run, `lines[1]` in the second)."""

    node: str
    lines: tuple[int, int]
    pos: int
    t: float  # seconds since its run's first tick: the first run's event, else (it has fewer) the second's
    first: str  # the event in the first run, in words ("send at clock 3"), or how many ticks it has
    second: str

    @property
    def text(self) -> str:
        return f"{self.node} #{self.pos + 1}: {self.first} in the first run, {self.second} in the second"


def parting(first: Analysis, second: Analysis) -> Parting | None:
    """The earliest event, in time since its run's first tick, at which two runs' lines differ.

    Lines are paired by node name. Events differ in kind or Lamport clock; where one line is the
    start of the other, they part where the shorter ends. None if every paired line is the same.
    """
    found: list[Parting] = []
    runs = []
    for a in (first, second):
        assert a.causality is not None
        origin = a.summary["run"]["first_tick_ts"] or 0.0
        runs.append({line.node: (i, line, origin) for i, line in enumerate(a.causality.lines)})
    for node in sorted(set(runs[0]) & set(runs[1])):
        (i, x, ox), (j, y, oy) = runs[0][node], runs[1][node]
        n = min(x.ts.size, y.ts.size)
        differ = np.flatnonzero((x.kind[:n] != y.kind[:n]) | (x.clock[:n] != y.clock[:n]))
        if differ.size:
            k = int(differ[0])
            words = [f"{KIND_NAMES[int(line.kind[k])]} at clock {int(line.clock[k])}" for line in (x, y)]
        elif x.ts.size != y.ts.size:
            k = n
            words = [f"{line.ts.size} ticks" for line in (x, y)]
        else:
            continue
        t = float(x.ts[k]) - ox if k < x.ts.size else float(y.ts[k]) - oy
        found.append(Parting(node, (i, j), k, t, words[0], words[1]))
    return min(found, key=lambda p: (p.t, p.node), default=None)

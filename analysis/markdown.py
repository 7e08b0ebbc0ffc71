"""summary.md: a run's summary as a Markdown report (tables, the lines under them, the figures)."""

from __future__ import annotations

from pathlib import Path

from analysis.files import write_text
from analysis.report import (
    HEADLINE,
    causality_lines,
    checks_lines,
    fmt,
    headline_rows,
    markdown_table,
    messages_lines,
    rate_text,
    run_line,
)
from node.schema import Summary


def causality_markdown(summary: Summary) -> list[str]:
    c = summary["causality"]
    out = ["", "## Causality", ""]
    out += [
        "Vector clocks rebuilt from the logs: two events are ordered when one happens before the other "
        "(a chain of steps along a node and messages from send to receive), concurrent otherwise. "
        'Pairs are counted exactly, not sampled; "per event" is how many events one event is concurrent '
        "with on average. Lamport's clock condition C(a) < C(b) is checked on every edge of happens-before, "
        "which covers every ordered pair.",
        "",
    ]
    out += [f"- {line}" for line in causality_lines(summary)]
    out += [f"- {line}" for line in checks_lines(summary)]
    for example in c["examples"][1:]:  # the first is in the line above
        out.append(f"- violation: {example}")
    for example in c["unmatched_examples"][1:]:
        out.append(f"- unmatched: {example}")
    shiviz = c.get("shiviz")
    if shiviz:
        out.append(
            f"- `{shiviz['file']}` ({shiviz['events']:,} events): upload it at "
            "https://bestchai.bitbucket.io/shiviz/ (its first line is the parser RegExp)."
        )
    return out


def write_markdown(summary: Summary, folder: Path, figures: list[Path]) -> Path:
    run = summary["run"]
    out = [f"# Run {run['run_id']}", "", run_line(summary) + ".", ""]
    out += ["## Nodes", "", markdown_table(HEADLINE, headline_rows(summary)), ""]
    out += [
        "`achieved` is achieved/configured tick rate; jumps are clock minus the clock before each tick event; "
        "the gap is the fastest node's clock minus this node's, sampled over the run; the queue is the length "
        "seen at each tick (before taking a message), and `end` what was left at stop.",
        "",
        "## Drift and jumps",
        "",
    ]
    rows = []
    for name, node in summary["nodes"].items():
        clock, jumps, late = node["clock"], node["jumps"], node["lateness_ms"]
        rows.append(
            [
                name,
                rate_text(node),
                fmt(clock["logical_rate"]),
                fmt(clock["per_tick"]),
                fmt(jumps["p50"], 0),
                fmt(jumps["p99"], 0),
                str(jumps["over_one"]),
                fmt(jumps["receive_mean"]),
                fmt(node["queue"]["nonempty_share"], 3),
                f"{fmt(late['p50'], 3)} / {fmt(late['p99'], 3)} / {fmt(late['max'], 3)}",
            ]
        )
    out += [
        markdown_table(
            [
                "node",
                "rate",
                "clock units/s",
                "per tick",
                "jump p50",
                "jump p99",
                "jumps > 1",
                "mean jump on receive",
                "ticks finding a message",
                "lateness p50/p99/max ms",
            ],
            rows,
        ),
        "",
    ]
    out += ["## Messages", ""]
    link_rows = [
        [
            f"{lk['from']} -> {lk['to']}",
            str(lk["sent"]),
            str(lk["dropped"]),
            str(lk["received"]),
            str(lk["left"]),
            str(lk.get("in_flight", 0)),
            str(lk["lost"]),
            str(lk["duplicated"] + lk["unmatched"]),
            str(lk["unaccounted"]),
            str(lk["clock_condition_violations"]),
            fmt(lk["delay_ms"]["p50"], 3),
            fmt(lk["delay_ms"]["p99"], 3),
        ]
        for lk in summary["links"]
    ]
    out += [
        markdown_table(
            [
                "link",
                "sent",
                "dropped",
                "received",
                "left in queue",
                "in flight at end",
                "lost",
                "dup/unknown",
                "unaccounted",
                "clock cond. violations",
                "delay p50 ms",
                "delay p99 ms",
            ],
            link_rows,
        ),
        "",
    ]
    out += [f"- {line}" for line in messages_lines(summary)]
    out += causality_markdown(summary)
    out += ["", "## Problems in the input", ""]
    out += [f"- {p}" for p in summary["problems"]] or ["None."]
    if figures:
        out += ["", "## Figures", ""]
        out += [f"![{p.stem}]({p.name})" for p in figures]
    return write_text(folder, "summary.md", "\n".join(out) + "\n")

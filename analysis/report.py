"""Turn an `Analysis` into words: summary.json, summary.md and the terminal's headline table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table: fixed digits for floats, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rate(node: dict[str, Any]) -> str:
    return "-" if node.get("rate") is None else f"{node['rate']}/s"


def headline_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row per node: the figures people compare first."""
    rows = []
    for name, node in summary["nodes"].items():
        events = node.get("events", {})
        jumps = node.get("jumps", {})
        gap = node.get("gap", {})
        queue = node.get("queue", {})
        rows.append(
            [
                name,
                _rate(node),
                fmt(node.get("rate_ratio"), 5),
                str(node.get("ticks", 0)),
                str(events.get("receive", 0)),
                str(events.get("send", 0)),
                str(events.get("internal", 0)),
                f"{fmt(jumps.get('mean'))} / {fmt(jumps.get('max'), 0)}",
                f"{fmt(gap.get('mean'), 1)} / {fmt(gap.get('max'), 0)} / {fmt(gap.get('end'), 0)}",
                f"{fmt(queue.get('mean'))} / {fmt(queue.get('max'))} / {fmt(queue.get('end'))}",
                fmt(node.get("clock", {}).get("end")),
            ]
        )
    return rows


HEADLINE = [
    "node",
    "rate",
    "achieved",
    "ticks",
    "recv",
    "send",
    "int",
    "jump mean/max",
    "gap mean/max/end",
    "queue mean/max/end",
    "clock",
]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def run_line(summary: dict[str, Any]) -> str:
    run = summary["run"]
    parts = [f"run {run['run_id']}"]
    if run.get("simulated"):
        parts.append("simulated")
    if run.get("seed") is not None:
        parts.append(f"seed {run['seed']}")
    if run.get("max_event_num") is not None:
        parts.append(f"MAX_EVENT_NUM {run['max_event_num']}")
    if run.get("duration") is not None:
        parts.append(f"duration {fmt(run['duration'], 0)} s" if run["duration"] else "until stopped")
    if run.get("min_clock_rate") is not None:
        parts.append(f"rates drawn from {run['min_clock_rate']}..{run['max_clock_rate']}")
    return ", ".join(parts)


def messages_lines(summary: dict[str, Any]) -> list[str]:
    m = summary["messages"]
    lines = [
        f"messages: {m['sent']} sent, {m['dropped']} dropped, {m['received']} received, "
        f"{m['left']} left in queues, {m['lost']} lost, {m['duplicated']} duplicated, "
        f"{m['unaccounted']} unaccounted"
    ]
    cc = m["clock_condition"]
    if cc["violations"]:
        lines.append(f"clock condition VIOLATED by {cc['violations']} of {cc['checked']} matched messages")
    else:
        lines.append(f"clock condition: holds for all {cc['checked']} matched messages (receive clock > send clock)")
    delay = m["delay_ms"]
    if delay["count"]:
        lines.append(
            f"one-way delay send -> receiver's queue: p50 {delay['p50']} ms, p99 {delay['p99']} ms, "
            f"max {delay['max']} ms"
        )
    late = [n.get("lateness_ms", {}) for n in summary["nodes"].values()]
    if any(x.get("count") for x in late):
        worst99 = max((x["p99"] for x in late if x.get("count")), default=None)
        worst50 = max((x["p50"] for x in late if x.get("count")), default=None)
        lines.append(f"tick lateness (worst node): p50 {worst50} ms, p99 {worst99} ms")
    return lines


def _share(part: int, whole: int) -> str:
    return "-" if not whole else f"{100 * part / whole:.3g}%"


def causality_lines(summary: dict[str, Any]) -> list[str]:
    """Happens-before in figures: pairs ordered and concurrent, and Lamport's clocks checked against it."""
    c = summary.get("causality")
    if not c:
        return []
    cross_concurrent = c["concurrent_pairs"]  # every concurrent pair is on two nodes
    lines = [
        f"causality: {c['events']:,} events, {c['pairs']:,} pairs: {c['ordered_pairs']:,} ordered, "
        f"{c['concurrent_pairs']:,} concurrent ({_share(c['concurrent_pairs'], c['pairs'])}; "
        f"{_share(cross_concurrent, c['cross_node_pairs'])} of cross-node pairs; "
        f"{fmt(c['concurrent_per_event'], 1)} per event)"
    ]
    steps = c["checked"] - c["messages"]
    if c["lamport_consistent"]:
        lines.append(
            f"Lamport clocks agree with happens-before: C(a) < C(b) on all {c['checked']:,} edges "
            f"({c['messages']:,} messages, {steps:,} steps on a node)"
        )
    else:
        lines.append(
            f"Lamport clocks VIOLATE happens-before on {c['violations']:,} of {c['checked']:,} edges, "
            f"e.g. {c['examples'][0]}"
        )
    if c["unmatched_receives"]:
        lines.append(
            f"{c['unmatched_receives']:,} receives match no send (kept as local events), "
            f"e.g. {c['unmatched_examples'][0]}"
        )
    shiviz = c.get("shiviz")
    if shiviz and not shiviz["complete"]:
        lines.append(
            f"{shiviz['file']}: the first {shiviz['events']:,} of {c['events']:,} events (a consistent cut; "
            "ShiViz slows down past a few thousand)"
        )
    return lines


def terminal_report(summary: dict[str, Any], written: list[Path], where: str | None = None) -> str:
    lines = [run_line(summary), "", text_table(HEADLINE, headline_rows(summary)), ""]
    lines += messages_lines(summary)
    lines += causality_lines(summary)
    problems = summary["problems"]
    if problems:
        lines.append(f"problems ({len(problems)}):")
        lines += [f"  {p}" for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"  ... and {len(problems) - 20} more (summary.json lists all)")
    else:
        lines.append("problems: none")
    if written:
        lines.append(f"wrote {', '.join(p.name for p in written)} in {where or written[0].parent}")
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """NaN and infinities (only from absurd input) become null: summary.json stays strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_json(summary: dict[str, Any], folder: Path) -> Path:
    path = folder / "summary.json"
    path.write_text(json.dumps(_finite(summary), indent=2, allow_nan=False) + "\n")
    return path


def causality_markdown(summary: dict[str, Any]) -> list[str]:
    c = summary.get("causality")
    if not c:
        return []
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
    for example in c["examples"][1:]:  # the first is in the line above
        out.append(f"- violation: {example}")
    for example in c["unmatched_examples"][1:]:
        out.append(f"- unmatched: {example}")
    if c.get("shiviz"):
        out.append(
            f"- `{c['shiviz']['file']}` ({c['shiviz']['events']:,} events): upload it at "
            "https://bestchai.bitbucket.io/shiviz/ (its first line is the parser RegExp)."
        )
    return out


def write_markdown(summary: dict[str, Any], folder: Path, figures: list[Path]) -> Path:
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
        clock, jumps, late = node.get("clock", {}), node.get("jumps", {}), node.get("lateness_ms", {})
        rows.append(
            [
                name,
                _rate(node),
                fmt(clock.get("logical_rate")),
                fmt(clock.get("per_tick")),
                fmt(jumps.get("p50"), 0),
                fmt(jumps.get("p99"), 0),
                str(jumps.get("over_one", "-")),
                fmt(jumps.get("receive_mean")),
                fmt(node.get("queue", {}).get("nonempty_share"), 3),
                f"{fmt(late.get('p50'), 3)} / {fmt(late.get('p99'), 3)} / {fmt(late.get('max'), 3)}",
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
    path = folder / "summary.md"
    path.write_text("\n".join(out) + "\n")
    return path

"""A run's summary in words for the terminal: the headline table and the lines under it.

Also the table helpers every report uses (analysis.markdown, analysis.compare, experiments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from node.schema import Check, NodeSummary, Summary


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table: fixed digits for floats, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def rate_text(node: NodeSummary) -> str:
    return "-" if node["rate"] is None else f"{node['rate']}/s"


def headline_rows(summary: Summary) -> list[list[str]]:
    """One row per node: the figures people compare first."""
    rows = []
    for name, node in summary["nodes"].items():
        events, jumps, gap, queue = node["events"], node["jumps"], node["gap"], node["queue"]
        gaps = (None, None, None) if gap is None else (gap["mean"], gap["max"], gap["end"])
        rows.append(
            [
                name,
                rate_text(node),
                fmt(node["rate_ratio"], 5),
                str(node["ticks"]),
                str(events.get("receive", 0)),
                str(events.get("send", 0)),
                str(events.get("internal", 0)),
                f"{fmt(jumps['mean'])} / {fmt(jumps['max'], 0)}",
                f"{fmt(gaps[0], 1)} / {fmt(gaps[1], 0)} / {fmt(gaps[2], 0)}",
                f"{fmt(queue['mean'])} / {fmt(queue['max'])} / {fmt(queue['end'])}",
                fmt(node["clock"]["end"]),
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


def run_line(summary: Summary) -> str:
    run = summary["run"]
    parts = [f"run {run['run_id']}"]
    if run["simulated"]:
        parts.append("virtual time")
    if run["seed"] is not None:
        parts.append(f"seed {run['seed']}")
    if run["max_event_num"] is not None:
        parts.append(f"MAX_EVENT_NUM {run['max_event_num']}")
    if run["duration"] is not None:
        parts.append(f"duration {fmt(run['duration'], 0)} s" if run["duration"] else "until stopped")
    if run["min_clock_rate"] is not None:
        parts.append(f"rates drawn from {run['min_clock_rate']}..{run['max_clock_rate']}")
    return ", ".join(parts)


def messages_lines(summary: Summary) -> list[str]:
    """The links summed, the one-way delay, tick lateness (the clock condition: `lamport_line`)."""
    m = summary["messages"]
    lines = [
        f"messages: {m['sent']} sent, {m['dropped']} dropped, {m['received']} received, "
        f"{m['left']} left in queues, {m.get('in_flight', 0)} in flight at the end, {m['lost']} lost, "
        f"{m['duplicated']} duplicated, "
        f"{m['unaccounted']} unaccounted"
    ]
    delay = m["delay_ms"]
    if delay["count"]:
        lines.append(
            f"one-way delay send -> receiver's queue: p50 {delay['p50']} ms, p99 {delay['p99']} ms, "
            f"max {delay['max']} ms"
        )
    offsets = summary.get("clock_offsets")  # null before schema 5
    if offsets and offsets["warning"]:
        lines.append(offsets["warning"])
    late = [n["lateness_ms"] for n in summary["nodes"].values() if n["lateness_ms"]["count"]]
    if late:
        worst50 = max(x["p50"] or 0.0 for x in late)
        worst99 = max(x["p99"] or 0.0 for x in late)
        lines.append(f"tick lateness (worst node): p50 {worst50} ms, p99 {worst99} ms")
    return lines


def _share(part: int, whole: int) -> str:
    return "-" if not whole else f"{100 * part / whole:.3g}%"


def lamport_line(summary: Summary) -> str:
    """Lamport's clocks against happens-before, in one line: on the message edges that is the clock
    condition (receive clock > send clock, checked once per matched message), then the steps on a node."""
    c, cc = summary["causality"], summary["messages"]["clock_condition"]
    steps = c["checked"] - c["messages"]
    if cc["holds"]:
        condition = f"clock condition: holds for all {cc['checked']:,} messages"
    else:
        condition = f"clock condition VIOLATED by {cc['violations']:,} of {cc['checked']:,} messages"
    if c["lamport_consistent"]:
        return (
            f"Lamport clocks agree with happens-before: C(a) < C(b) on all {c['checked']:,} edges "
            f"({condition}; {steps:,} steps on a node)"
        )
    return (
        f"Lamport clocks VIOLATE happens-before on {c['violations']:,} of {c['checked']:,} edges "
        f"({condition}; {steps:,} steps on a node), e.g. {c['examples'][0]}"
    )


def causality_lines(summary: Summary) -> list[str]:
    """Happens-before in figures: pairs ordered and concurrent, and Lamport's clocks checked against it."""
    c = summary["causality"]
    cross_concurrent = c["concurrent_pairs"]  # every concurrent pair is on two nodes
    lines = [
        f"causality: {c['events']:,} events, {c['pairs']:,} pairs: {c['ordered_pairs']:,} ordered, "
        f"{c['concurrent_pairs']:,} concurrent ({_share(c['concurrent_pairs'], c['pairs'])}; "
        f"{_share(cross_concurrent, c['cross_node_pairs'])} of cross-node pairs; "
        f"{fmt(c['concurrent_per_event'], 1)} per event)"
    ]
    false_orders = c.get("false_orders")  # absent from older summaries
    if false_orders is not None:
        lines.append(
            f"false orders: Lamport clocks order {false_orders:,} concurrent pairs "
            f"({_share(false_orders, c['cross_node_pairs'])} of cross-node pairs, "
            f"{_share(false_orders, c['concurrent_pairs'])} of concurrent ones; "
            f"{fmt(c.get('false_orders_per_event'), 1)} per event)"
        )
    lines.append(lamport_line(summary))
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


def checks_lines(summary: Summary) -> list[str]:
    """Each check that failed: its count, its rule and its witness; one line when all hold."""
    run = summary["run"]
    checks = cast(dict[str, Check], summary["checks"])
    lines = []
    if run.get("clock_bug"):
        lines.append(f"PLANTED CLOCK BUG: {run['clock_bug']} (CLOCK_BUG): the checks below should catch it")
    failed = {name: check for name, check in checks.items() if check["violations"]}
    unchecked = sorted(name for name, check in checks.items() if check["violations"] is None)
    if not failed:
        lines.append(
            f"checks: all {len(checks) - len(unchecked)} hold" + (f" ({len(unchecked)} not made)" if unchecked else "")
        )
    for name, check in failed.items():
        witness = f"; e.g. {check['witness'][0]}" if check["witness"] else ""
        lines.append(f"check {name}_violations: {check['violations']:,} (rule: {check['rule']}){witness}")
    return lines


def terminal_report(summary: Summary, written: list[Path], where: str | None = None) -> str:
    lines = [run_line(summary), "", text_table(HEADLINE, headline_rows(summary)), ""]
    lines += messages_lines(summary)
    lines += causality_lines(summary)
    lines += checks_lines(summary)
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

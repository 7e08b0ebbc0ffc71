"""Tables and plots across the kept runs: per run, per configuration, and theory against measurement.

Reads only experiments/results (index.json and runs/*/summary.json), so `python -m experiments
report` rebuilds exactly the same tables.md, aggregate.json and figures from a fresh clone.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from analysis.plots import save_figure
from analysis.report import fmt, markdown_table
from experiments.configs import CONFIGS
from experiments.theory import predict

Summary = dict[str, Any]


def load_results(results: Path) -> list[tuple[dict[str, Any], Summary]]:
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


RUN_HEADER = [
    "run",
    "rates",
    "jump mean",
    "jump max",
    "gap mean",
    "gap max",
    "queue mean",
    "queue max",
    "queue end",
    "clock units/s",
    "messages",
]


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


def config_aggregate(runs: list[tuple[dict[str, Any], Summary]]) -> dict[str, Any]:
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
    "jump max",
    "gap mean",
    "gap max",
    "queue mean",
    "queue max",
    "queue end",
    "fastest: jump mean",
    "messages/s",
    "internal share of draws",
]


def theory_rows(runs: list[tuple[dict[str, Any], Summary]]) -> list[list[str]]:
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


def write_report(results: Path) -> list[Path]:
    kept = load_results(results)
    by_config: dict[str, list[tuple[dict[str, Any], Summary]]] = {}
    for entry, s in kept:
        by_config.setdefault(entry["config"], []).append((entry, s))
    order = [c for c in CONFIGS if c in by_config] + sorted(set(by_config) - set(CONFIGS))
    aggregates = {c: config_aggregate(by_config[c]) for c in order}
    out = [
        "# Experiment tables",
        "",
        "Generated by `python -m experiments report` from experiments/results (do not edit by hand).",
        "In every table the three figures of a run are its nodes slowest first.",
        "",
    ]
    out += ["## Per configuration (means over its runs)", ""]
    out.append(
        markdown_table(
            AGG_HEADER,
            [
                [
                    c,
                    str(a["runs"]),
                    fmt(a["rate_ratio"]),
                    fmt(a["slow_jump_mean"]),
                    fmt(a["slow_jump_max"], 1),
                    fmt(a["slow_gap_mean"], 1),
                    fmt(a["slow_gap_max"], 1),
                    fmt(a["slow_queue_mean"]),
                    fmt(a["slow_queue_max"], 1),
                    fmt(a["slow_queue_end"], 1),
                    fmt(a["fast_jump_mean"]),
                    fmt(a["messages_per_s"]),
                    fmt(a["internal_share"], 3),
                ]
                for c, a in aggregates.items()
            ],
        )
    )
    for c in order:
        description = CONFIGS[c].description if c in CONFIGS else c
        out += ["", f"## {c}: {description}", "", markdown_table(RUN_HEADER, [run_row(e, s) for e, s in by_config[c]])]
    out += [
        "",
        "## The slowest node: prediction (experiments/theory.py) against measurement",
        "",
        markdown_table(THEORY_HEADER, theory_rows(kept)),
    ]
    figures = write_figures(kept, results)
    out += ["", "## Figures", ""] + [f"![{p.stem}]({p.name})" for p in figures]
    tables = results / "tables.md"
    tables.write_text("\n".join(out) + "\n")
    aggregate = results / "aggregate.json"
    aggregate.write_text(json.dumps(aggregates, indent=2) + "\n")
    return [tables, aggregate, *figures]


def write_figures(kept: list[tuple[dict[str, Any], Summary]], results: Path) -> list[Path]:
    configs = list(dict.fromkeys(e["config"] for e, _ in kept))
    colours = {c: plt.get_cmap("tab10")(i) for i, c in enumerate(configs)}
    # 1. Mean jump against the rate ratio r_max / r: the theory says y = x for nodes that keep up.
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for config in configs:
        xs, ys = [], []
        for entry, s in kept:
            if entry["config"] == config:
                fastest = max(n["rate"] for n in s["nodes"].values())
                for node in s["nodes"].values():
                    xs.append(fastest / node["rate"])
                    ys.append(node["jumps"]["mean"])
        ax.scatter(xs, ys, color=colours[config], label=config, alpha=0.75)
    top = max([6.5] + [n["jumps"]["mean"] for _, s in kept for n in s["nodes"].values()])
    ax.plot([1, 6], [1, 6], color="grey", linestyle="--", label="mean jump = r_max / r")
    ax.set_xlabel("fastest rate / this node's rate")
    ax.set_ylabel("mean clock jump per tick")
    ax.set_ylim(0, top * 1.05)
    ax.set_title("Jumps follow the rate ratio (every node of every run)")
    ax.grid(alpha=0.3)
    ax.legend()
    jumps = results / "jumps_vs_ratio.png"
    save_figure(fig, jumps)
    # 2. The slowest node's backlog: queue at the end, per configuration.
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for i, config in enumerate(configs):
        ends = [slowest(s)["queue"]["end"] or 0 for e, s in kept if e["config"] == config]
        ax.scatter([i] * len(ends), ends, color=colours[config], s=40, alpha=0.8)
        ax.hlines(statistics.fmean(ends), i - 0.25, i + 0.25, color=colours[config])
    ax.set_xticks(range(len(configs)), configs, rotation=15)
    ax.set_ylabel("slowest node's queue at stop (messages)")
    ax.set_title("Backlog at the slowest machine after each run (line: mean)")
    ax.grid(alpha=0.3, axis="y")
    backlog = results / "backlog_by_config.png"
    save_figure(fig, backlog)
    # 3. Predicted against measured backlog growth of the slowest node.
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for config in configs:
        xs, ys = [], []
        for entry, s in kept:
            if entry["config"] == config:
                nodes = nodes_by_rate(s)
                duration = duration_of(s)
                xs.append(predict([n["rate"] for _, n in nodes], s["run"]["max_event_num"])[0].queue_growth)
                ys.append((nodes[0][1]["queue"]["end"] or 0) / duration)
        ax.scatter(xs, ys, color=colours[config], label=config, alpha=0.8)
    limit = max(1.0, ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([0, limit], [0, limit], color="grey", linestyle="--", label="measured = predicted")
    ax.set_xlabel("predicted backlog growth (messages/s)")
    ax.set_ylabel("measured: queue at stop / duration")
    ax.set_title("Slowest node's backlog: theory against runs")
    ax.grid(alpha=0.3)
    ax.legend()
    growth = results / "growth_predicted_vs_measured.png"
    save_figure(fig, growth)
    return [jumps, backlog, growth]

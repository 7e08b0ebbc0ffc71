"""The experiments' figures: jumps against the rate ratio, the slowest node's backlog, theory against runs."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from analysis.plots import save_figure
from experiments.aggregate import Kept, duration_of, nodes_by_rate, num, slowest
from experiments.theory import predict


def write_figures(kept: Kept, results: Path) -> list[Path]:
    configs = list(dict.fromkeys(e["config"] for e, _ in kept))
    colours = {c: plt.get_cmap("tab10")(i) for i, c in enumerate(configs)}
    # 1. Mean jump against the rate ratio r_max / r: the theory says y = x for nodes that keep up.
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for config in configs:
        xs, ys = [], []
        for entry, s in kept:
            if entry["config"] == config:
                fastest = max(num(n["rate"]) for n in s["nodes"].values())
                for node in s["nodes"].values():
                    xs.append(fastest / num(node["rate"]))
                    ys.append(num(node["jumps"]["mean"]))
        ax.scatter(xs, ys, color=colours[config], label=config, alpha=0.75)
    top = max([6.5] + [num(n["jumps"]["mean"]) for _, s in kept for n in s["nodes"].values()])
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
                rates = [num(n["rate"]) for _, n in nodes]
                xs.append(predict(rates, int(num(s["run"]["max_event_num"])))[0].queue_growth)
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

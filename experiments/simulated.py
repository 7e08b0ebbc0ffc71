"""The simulator next to the containers: a parameter sweep, and the kept runs re-simulated.

`sweep`: the slowest node's backlog growth (messages per second) over an hour of model time, for
rates (r, 6, 6) with r = 1..6 and MAX_EVENT_NUM = 3..12, against experiments/theory.py.
`twins`: every kept container run simulated again with its own seed (hence the same rates and
the same event draws) and the moments its nodes really started ticking, to see how close
virtual time comes to real containers.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from analysis.api import analyse_folder

from analysis.plots import save_figure
from analysis.report import fmt, markdown_table
from experiments.aggregate import load_results, nodes_by_rate
from experiments.configs import CONFIGS
from experiments.runner import extract_logs
from experiments.theory import predict
from node.simulation import Simulation, cluster, write_simulation

SWEEP_RATES = range(1, 7)
SWEEP_MEN = range(3, 13)
SWEEP_SECONDS = 3600.0
DEFAULT_DELAY = 0.0005  # s, when there are no container runs to measure it from


def measured_delay(results: Path) -> float:
    """The median over kept container runs of their median one-way delay (summary.json), in s."""
    medians = (
        [
            s["messages"]["delay_ms"]["p50"]
            for _, s in load_results(results)
            if s["messages"]["delay_ms"]["p50"] is not None
        ]
        if (results / "index.json").exists()
        else []
    )
    return round(statistics.median(medians) / 1000, 6) if medians else DEFAULT_DELAY


def _summarise(sim: Simulation, compare_with: Path | None = None) -> dict[str, Any]:
    """The simulated run's summary; with `compare_with` (a real run folder) also where they part."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_simulation(sim, folder)
        analysed = analyse_folder(folder, plots=False, shiviz=False, quiet=True)
        if analysed is None:
            raise RuntimeError(f"the analysis found nothing to analyse in the simulated run {sim.run_id}")
        summary: dict[str, Any] = dict(analysed)
        if compare_with is not None and compare_with.is_dir():
            summary["divergence"] = {
                node: _first_difference(compare_with / f"{node}.jsonl", folder / f"{node}.jsonl")
                for node in sim.node_ids
            }
        return summary


def _tick_sequence(path: Path) -> list[tuple[str, int]]:
    with path.open() as f:
        return [(r["event"], r["clock"]) for r in map(json.loads, f) if r["event"] in ("receive", "send", "internal")]


def _first_difference(real: Path, simulated: Path) -> int | None:
    """Index of the first tick whose (event, clock) differs; None when the two nodes agree throughout."""
    a, b = _tick_sequence(real), _tick_sequence(simulated)
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if first is None and len(a) != len(b):
        first = min(len(a), len(b))
    return first


def sweep(seed: int = 7, delay: float = DEFAULT_DELAY) -> list[dict[str, Any]]:
    """Backlog growth of the slow node for every (r, MAX_EVENT_NUM), measured and predicted."""
    rows = []
    for men in SWEEP_MEN:
        for rate in SWEEP_RATES:
            sim = cluster(
                seed=seed,
                rates={"node1": rate, "node2": 6, "node3": 6},
                max_event_num=men,
                duration=SWEEP_SECONDS,
                delay=delay,
            )
            summary = _summarise(sim)
            slow = summary["nodes"]["node1"]
            rows.append(
                {
                    "rate": rate,
                    "max_event_num": men,
                    "growth_per_s": round((slow["queue"]["end"] or 0) / SWEEP_SECONDS, 4),
                    "predicted_per_s": round(predict([rate, 6, 6], men)[0].queue_growth, 4),
                    "jump_mean": slow["jumps"]["mean"],
                    "queue_end": slow["queue"]["end"],
                }
            )
    return rows


def write_sweep(results: Path, seed: int = 7) -> list[Path]:
    rows = sweep(seed, measured_delay(results))
    (results / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    grid = np.array(
        [
            [
                next(r["growth_per_s"] for r in rows if r["rate"] == rate and r["max_event_num"] == men)
                for rate in SWEEP_RATES
            ]
            for men in SWEEP_MEN
        ]
    )
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    image = ax.imshow(
        grid, origin="lower", aspect="auto", cmap="magma_r", extent=(0.5, 6.5, SWEEP_MEN[0] - 0.5, SWEEP_MEN[-1] + 0.5)
    )
    for i, men in enumerate(SWEEP_MEN):
        for j, rate in enumerate(SWEEP_RATES):
            ax.text(
                rate,
                men,
                f"{grid[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if grid[i, j] > grid.max() / 2 else "black",
            )
    # Theory's boundary: the slow node keeps up exactly when predicted arrivals equal its rate.
    fine = np.linspace(1, 6, 200)
    boundary = [
        next((men for men in np.linspace(3, 12, 400) if predict([r, 6, 6], men)[0].queue_growth <= 0), np.nan)
        for r in fine
    ]
    ax.plot(fine, boundary, color="tab:cyan", linewidth=2, label="theory: backlog starts growing below")
    ax.set_xlabel("slow node's rate (ticks/s); the other two tick at 6/s")
    ax.set_ylabel("MAX_EVENT_NUM")
    ax.set_title("Backlog growth at the slow node (messages/s), 1 h of model time each")
    fig.colorbar(image, ax=ax, label="messages/s")
    ax.legend(loc="upper right", fontsize=8)
    figure = results / "sweep_backlog.png"
    save_figure(fig, figure)
    return [results / "sweep.json", figure]


def start_offsets(summary: dict[str, Any]) -> dict[str, float]:
    """When each node of a real run started ticking, relative to the first (0 to 0.13 s measured)."""
    firsts = {n: v.get("first_tick_ts") for n, v in summary["nodes"].items()}
    if any(t is None for t in firsts.values()):
        return {}
    origin = min(firsts.values())
    return {n: round(t - origin, 6) for n, t in firsts.items()}


def twins(results: Path, delay: float, raw: Path) -> list[dict[str, Any]]:
    """Each kept container run and its simulated twin (same seed, configuration and duration)."""
    pairs = []
    for entry, real in load_results(results):
        # The configuration's environment as compose gave it to the containers (pins included).
        sim = cluster(
            seed=entry["seed"],
            env=CONFIGS[entry["config"]].env,
            duration=entry["duration"],
            delay=delay,
            offsets=start_offsets(real),
        )
        simulated = _summarise(sim, raw / entry["run_id"])
        pairs.append({"run_id": entry["run_id"], "config": entry["config"], "real": real, "simulated": simulated})
    return pairs


FIGURES = (
    ("jump mean", ("jumps", "mean")),
    ("jump max", ("jumps", "max")),
    ("gap mean", ("gap", "mean")),
    ("queue mean", ("queue", "mean")),
    ("queue max", ("queue", "max")),
    ("queue end", ("queue", "end")),
)


def _slowest(summary: dict[str, Any], *path: str) -> float:
    value: Any = nodes_by_rate(summary)[0][1]
    for key in path:
        value = value[key]
    return float(value or 0)


def write_twins(results: Path) -> list[Path]:
    delay = measured_delay(results)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        extract_logs(results, raw)
        pairs = twins(results, delay, raw)
    same = [p["run_id"] for p in pairs if all(v is None for v in p["simulated"].get("divergence", {0: 0}).values())]
    rows = []
    for config in dict.fromkeys(p["config"] for p in pairs):
        group = [p for p in pairs if p["config"] == config]
        row = [config, str(len(group))]
        for _, path in FIGURES:
            real = statistics.fmean(_slowest(p["real"], *path) for p in group)
            sim = statistics.fmean(_slowest(p["simulated"], *path) for p in group)
            row.append(f"{fmt(real)} / {fmt(sim)}")
        rows.append(row)
    header = ["configuration", "runs", *[f"{name} (real / sim)" for name, _ in FIGURES]]
    identical_rates = all(
        [n["rate"] for _, n in nodes_by_rate(p["real"])] == [n["rate"] for _, n in nodes_by_rate(p["simulated"])]
        for p in pairs
    )
    text = [
        "# Containers and their simulated twins",
        "",
        "Generated by `python -m experiments twins`. Each kept container run was simulated with its own seed "
        f"(same rates: {'yes, all' if identical_rates else 'NO'}; same event draws), duration and configuration, "
        f"each node starting when it really started, and a one-way delay of {delay * 1000:g} ms (the median of "
        "the runs' median delays). "
        "Figures are the slowest node's, averaged over the runs of a configuration.",
        "",
        markdown_table(header, rows),
        "",
        f"Event for event (every node's sequence of tick events and clock values): {len(same)} of {len(pairs)} "
        "runs are identical to their twin. Where a run parts from its twin, at tick:",
        "",
        markdown_table(
            ["run", *[f"node{i}" for i in (1, 2, 3)]],
            [
                [
                    p["run_id"],
                    *[
                        fmt(p["simulated"]["divergence"].get(f"node{i}"), 0)
                        if p["simulated"]["divergence"].get(f"node{i}") is not None
                        else "identical"
                        for i in (1, 2, 3)
                    ],
                ]
                for p in pairs
                if p["run_id"] not in same and "divergence" in p["simulated"]
            ],
        ),
    ]
    markdown = results / "twins.md"
    markdown.write_text("\n".join(text) + "\n")
    data = results / "twins.json"
    data.write_text(
        json.dumps(
            [
                {
                    "run_id": p["run_id"],
                    "config": p["config"],
                    "real": {name: _slowest(p["real"], *k) for name, k in FIGURES},
                    "simulated": {name: _slowest(p["simulated"], *k) for name, k in FIGURES},
                }
                for p in pairs
            ],
            indent=2,
        )
        + "\n"
    )
    return [markdown, data]

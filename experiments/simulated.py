"""The simulator beside the containers: a parameter sweep (experiments.twins re-simulates the kept runs).

`sweep`: the slowest node's backlog growth (messages per second) over an hour of model time, for
rates (r, 6, 6) with r = 1..6 and MAX_EVENT_NUM = 3..12, against experiments/theory.py.
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
from experiments.aggregate import load_results
from experiments.theory import predict
from node.schema import Summary
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


def simulated_summary(sim: Simulation, keep: Path | None = None) -> Summary:
    """The simulated run's summary (its logs written into `keep`, else a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)
        outcome = write_simulation(sim, folder)
        if not outcome.ok:
            raise RuntimeError(f"the simulated run {sim.run_id} failed: {outcome.errors}")
        summary = analyse_folder(folder, plots=False, shiviz=False, quiet=True)
        if summary is None:
            raise RuntimeError(f"the analysis found nothing to analyse in the simulated run {sim.run_id}")
        return summary


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
            summary = simulated_summary(sim)
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

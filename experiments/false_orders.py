"""How often Lamport clocks order concurrent events: a simulator sweep (`python -m experiments false-orders`).

A false order is a pair of events (a, b) on two nodes with C(a) < C(b) that happens-before does
not relate (analysis.causality counts them exactly). The sweep runs the node's own code in
virtual time over rates (r, 6, 6) with r = 1..6, MAX_EVENT_NUM in MENS and an added one-way
network delay (NET_DELAY_MS) in DELAYS_MS, SEEDS runs of SECONDS each per point, and keeps per
run the false-order share of cross-node pairs, false orders per event, the concurrent share and
the message rate, in results/false-orders/sweep.json, with the figure false_orders.png.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from analysis.plots import save_figure
from experiments.provenance import code_version, load_average, machine
from experiments.simulated import simulated_summary
from node.simulation import cluster

RATES = range(1, 7)
MENS = (3, 5, 10, 20)
DELAYS_MS = (0, 50, 200, 1000)
SEEDS = 20
SECONDS = 60.0
WIRE_DELAY = 0.000483  # s: the kept container runs' median one-way delay (experiments.simulated.measured_delay)
FILE = "sweep.json"


def point(rate: int, men: int, delay_ms: int, seed: int, seconds: float = SECONDS) -> dict[str, Any]:
    """One simulated run's false-order figures."""
    sim = cluster(
        seed=seed,
        rates={"node1": rate, "node2": 6, "node3": 6},
        max_event_num=men,
        duration=seconds,
        env={"NET_DELAY_MS": str(delay_ms)},
        delay=WIRE_DELAY,
        run_id=f"false-orders-{rate}-{men}-{delay_ms}-{seed}",
    )
    summary = simulated_summary(sim)
    c, m = summary["causality"], summary["messages"]
    return {
        "rate": rate,
        "ratio": round(6 / rate, 3),
        "max_event_num": men,
        "net_delay_ms": delay_ms,
        "seed": seed,
        "events": c["events"],
        "false_order_share": c.get("false_order_share"),
        "false_orders_per_event": c.get("false_orders_per_event"),
        "false_order_share_of_concurrent": c.get("false_order_share_of_concurrent"),
        "concurrent_share": c["cross_node_concurrent_share"],
        "messages_per_s": round(m["sent"] / seconds, 3),
        "slow_queue_end": summary["nodes"]["node1"]["queue"]["end"],
    }


def sweep(seeds: int = SEEDS, seconds: float = SECONDS) -> list[dict[str, Any]]:
    rows = []
    total = len(RATES) * len(MENS) * len(DELAYS_MS) * seeds
    started = time.monotonic()
    for delay_ms in DELAYS_MS:
        for men in MENS:
            for rate in RATES:
                rows += [point(rate, men, delay_ms, seed, seconds) for seed in range(1, seeds + 1)]
                done = len(rows)
                left = (time.monotonic() - started) / done * (total - done)
                print(f"[{done}/{total}] delay {delay_ms} ms, MAX_EVENT_NUM {men}, r {rate} (about {left:.0f} s left)")
    return rows


def mean_of(rows: list[dict[str, Any]], key: str, **where: Any) -> float:
    values = [r[key] for r in rows if all(r[k] == v for k, v in where.items()) and r[key] is not None]
    return statistics.fmean(values) if values else float("nan")


def write_figure(rows: list[dict[str, Any]], folder: Path, seeds: int = SEEDS) -> Path:
    """Share of cross-node pairs and per event, against the rate ratio: a line per MAX_EVENT_NUM,
    a panel per added delay."""
    fig, axes = plt.subplots(
        2, len(DELAYS_MS), figsize=(4 * len(DELAYS_MS), 7), sharex=True, sharey="row", squeeze=False
    )
    for col, delay_ms in enumerate(DELAYS_MS):
        for men in MENS:
            ratios = [6 / r for r in RATES]
            for row, key in enumerate(("false_order_share", "false_orders_per_event")):
                ys = [mean_of(rows, key, rate=r, max_event_num=men, net_delay_ms=delay_ms) for r in RATES]
                axes[row][col].plot(ratios, ys, marker="o", label=f"MAX_EVENT_NUM {men}")
        axes[0][col].set_title(f"added delay {delay_ms} ms")
        axes[1][col].set_xlabel("rate ratio 6 / r (slow node at r, two at 6)")
    axes[0][0].set_ylabel("false orders / cross-node pairs")
    axes[1][0].set_ylabel("false orders per event")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"False orders in {SECONDS:g} s runs (simulator, mean of {seeds} seeds per point)")
    path = folder / "false_orders.png"
    save_figure(fig, path)
    return path


def write_false_orders(results: Path, seeds: int = SEEDS) -> list[Path]:
    folder = results / "false-orders"
    folder.mkdir(parents=True, exist_ok=True)
    load = load_average()
    rows = sweep(seeds)
    made = {"code": code_version(), "machine": machine("simulator"), "load": {"start": load, "end": load_average()}}
    ran = datetime.now(UTC).isoformat(timespec="seconds")
    data = {
        "seconds": SECONDS,
        "seeds": seeds,
        "wire_delay_s": WIRE_DELAY,
        "ran": ran,
        "provenance": made,
        "rows": rows,
    }
    path = folder / FILE
    path.write_text(json.dumps(data, indent=1) + "\n")
    return [path, write_figure(rows, folder, seeds)]

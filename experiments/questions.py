"""The notebook's three new questions, answered from kept results: `python -m experiments questions`.

1. How often do Lamport clocks order concurrent events? results/false-orders/sweep.json (the
   simulator sweep, experiments.false_orders), and the assignment's container runs against
   their simulated twins (the same seeds, start offsets and wire delay).
2. What does a broken clock look like? results/clock-bugs (containers, reliable delivery) and
   results/clock-bugs-sim (simulator, at most once): which check caught which bug, a witness,
   and in containers what the protocol refused.
3. What do reliable channels change? results/delivery (containers) and results/delivery-sim:
   messages lost, clocks, gaps and jumps under a kill and an isolation, with and without resending.

Writes results/questions.md (every figure with n and a 95% interval) and false_orders_vs_backlog.png.
"""

from __future__ import annotations

import json
import math
import statistics
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from analysis.api import load_and_analyse
from analysis.compare import parting
from analysis.plots import save_figure
from analysis.report import markdown_table
from experiments.aggregate import Kept, gap, load_results
from experiments.false_orders import DELAYS_MS, FILE, MENS, RATES
from experiments.runner import extract_logs
from experiments.simulated import measured_delay, simulated_summary
from experiments.stats import t_interval
from experiments.twins import twin
from node.schema import Check, Summary

OUT = "questions.md"
FIGURE = "false_orders_vs_backlog.png"


def ci_text(values: Iterable[float | int | None], digits: int = 3) -> str:
    """mean [low, high] (n): the 95% t-interval over the runs (experiments.stats); '-' without values."""
    interval = t_interval([float(v) for v in values if v is not None])
    return "-" if interval.n == "0" else interval.text(digits)


def by_config(kept: Kept) -> dict[str, Kept]:
    groups: dict[str, Kept] = defaultdict(list)
    for entry, summary in kept:
        groups[entry["config"]].append((entry, summary))
    return groups


# -- 1. false orders --------------------------------------------------------------------------
def false_order_section(results: Path, container_sets: list[Path]) -> list[str]:
    data = json.loads((results / "false-orders" / FILE).read_text())
    rows = data["rows"]
    out = [
        "## 1. False orders: how often Lamport clocks order concurrent events",
        "",
        "A false order is a pair of events (a, b) on two nodes with C(a) < C(b) that happens-before does",
        "not relate (`causality.false_orders`, counted exactly). Share: of all cross-node pairs of the run;",
        f"per event: false orders / events. Simulator sweep: rates (r, 6, 6), {data['seconds']:g} s runs,",
        f"{data['seeds']} seeds per point, wire delay {data['wire_delay_s'] * 1000:.3f} ms plus NET_DELAY_MS",
        "(`results/false-orders/sweep.json`, `false_orders.png`). Mean share [95% interval] and the slow",
        "node's queue at the end (mean):",
        "",
    ]
    header = ["added delay", "MAX_EVENT_NUM", *[f"r = {r} (ratio {6 / r:.1f})" for r in RATES]]
    table = []
    for delay in DELAYS_MS:
        for men in MENS:
            cells = []
            for rate in RATES:
                group = [r for r in rows if (r["net_delay_ms"], r["max_event_num"], r["rate"]) == (delay, men, rate)]
                share = ci_text((r["false_order_share"] for r in group), 3)
                queue = statistics.fmean(r["slow_queue_end"] or 0 for r in group)
                cells.append(f"{share.split(' (n')[0]}; queue {queue:.0f}")
            table.append([f"{delay} ms", str(men), *cells])
    out += [markdown_table(header, table), ""]
    out += backlog_figure(rows, results)
    out += container_false_orders(container_sets)
    return out


def backlog_figure(rows: list[dict[str, Any]], results: Path) -> list[str]:
    """Share against the slow node's final queue: does the backlog carry it?"""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for delay in DELAYS_MS:
        group = [r for r in rows if r["net_delay_ms"] == delay]
        ax.scatter(
            [r["slow_queue_end"] or 0 for r in group],
            [r["false_order_share"] for r in group],
            s=8,
            alpha=0.5,
            label=f"added delay {delay} ms",
        )
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("slow node's queue at the end of the run (messages)")
    ax.set_ylabel("false orders / cross-node pairs")
    ax.set_title("False orders follow the backlog (simulator sweep, every run)")
    ax.legend(fontsize=8)
    save_figure(fig, results / "false-orders" / FIGURE)
    kept = [r for r in rows if (r["slow_queue_end"] or 0) <= 2]
    backlogged = [r for r in rows if (r["slow_queue_end"] or 0) > 20]
    return [
        f"![false orders against the backlog](false-orders/{FIGURE})",
        "",
        f"Runs whose slow node ended with at most 2 queued: share {ci_text(r['false_order_share'] for r in kept)};",
        f"more than 20 queued: {ci_text(r['false_order_share'] for r in backlogged)}.",
        "",
    ]


def container_false_orders(container_sets: list[Path]) -> list[str]:
    """The container runs (with false-order figures) against their simulated twins."""
    pairs = []
    for folder in container_sets:
        if not (folder / "index.json").exists():
            continue
        delay = measured_delay(folder)
        for entry, real in load_results(folder):
            share = real["causality"].get("false_order_share")
            if share is None:
                continue
            simulated = simulated_summary(twin(entry, real, delay))
            pairs.append((entry["config"], real, simulated))
    if not pairs:
        return ["No container run with false-order figures is kept yet.", ""]
    groups: dict[str, list[tuple[Summary, Summary]]] = defaultdict(list)
    for config, real, simulated in pairs:
        groups[config].append((real, simulated))
    table = []
    for config, runs in groups.items():
        real_share = ci_text(r["causality"].get("false_order_share") for r, _ in runs)
        twin_share = ci_text(t["causality"].get("false_order_share") for _, t in runs)
        diff = ci_text(
            cast(float, r["causality"].get("false_order_share")) - cast(float, t["causality"].get("false_order_share"))
            for r, t in runs
        )
        per_event = ci_text((r["causality"].get("false_orders_per_event") for r, _ in runs), 1)
        table.append([config, real_share, twin_share, diff, per_event])
    header = ["configuration", "containers: share", "simulated twins: share", "difference", "containers: per event"]
    return [
        "Containers against the simulator: each kept container run with these figures and its simulated",
        "twin (same seed, start offsets and measured wire delay; experiments.twins):",
        "",
        markdown_table(header, table),
        "",
    ]


# -- 2. clock bugs ----------------------------------------------------------------------------
def refusals(results: Path) -> dict[str, int]:
    """Per kept run: values the receivers' wire protocol refused (`reject` lines: "a sender's
    values only grow", node.wire), from the raw logs."""
    counts: dict[str, int] = defaultdict(int)
    for archive in sorted((results / "logs").glob("*.tar.xz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                run_id = member.name.split("/")[0]
                counts[run_id] += sum(1 for line in handle if b'"reject"' in line and b"values only grow" in line)
    return counts


def bug_section(results: Path) -> list[str]:
    out = ["## 2. What a broken clock looks like", ""]
    for name, what in (
        ("clock-bugs-sim", "Simulator, at most once, messages matched in FIFO order"),
        ("clock-bugs", "Containers, reliable delivery (repeated or falling values are refused)"),
    ):
        folder = results / name
        if not (folder / "index.json").exists():
            out += [f"{what}: no kept runs (`results/{name}`).", ""]
            continue
        groups = by_config(load_results(folder))
        checks = list(cast(dict[str, Check], next(iter(groups.values()))[0][1]["checks"]))
        refused = refusals(folder)
        header = ["CLOCK_BUG", "runs", *checks, "values refused (reject lines)"]
        table, witnesses = [], []
        for config, runs in groups.items():
            row = [config, str(len(runs))]
            for check in checks:
                counts = [cast(dict[str, Check], s["checks"])[check]["violations"] or 0 for _, s in runs]
                caught = sum(1 for c in counts if c)
                row.append(f"{caught}/{len(runs)}: {statistics.median(counts):g}" if caught else "0")
            row.append(str(sum(refused[e["run_id"]] for e, _ in runs)))
            table.append(row)
            first = cast(dict[str, Check], runs[0][1]["checks"])
            for check, found in first.items():
                if found["violations"] and found["witness"]:
                    witnesses.append(f"- {config}, `{check}`: {found['witness'][0]} (rule: {found['rule']})")
                    break
        out += [
            f"{what} (`results/{name}`). Each cell: runs in which the check found violations / runs, and",
            "the median count over those runs:",
            "",
            markdown_table(header, table),
            "",
            "A witness for each bug (the first check that caught it, run 1):",
            "",
            *witnesses,
            "",
        ]
    return out


# -- 3. delivery --------------------------------------------------------------------------------
def spread(s: Summary) -> float:
    """Largest minus smallest final clock: how far apart the clocks ended."""
    ends = [n["clock"]["end"] for n in s["nodes"].values() if n["clock"]["end"] is not None]
    return float(max(ends) - min(ends)) if ends else math.nan


def delivery_section(results: Path) -> list[str]:
    out = ["## 3. What reliable channels change", ""]
    for name, what in (("delivery", "Containers"), ("delivery-sim", "Simulator")):
        folder = results / name
        if not (folder / "index.json").exists():
            out += [f"{what}: no kept runs (`results/{name}`).", ""]
            continue
        table = []
        for config, runs in by_config(load_results(folder)).items():
            summaries = [s for _, s in runs]
            table.append(
                [
                    config,
                    str(len(runs)),
                    ci_text((s["messages"]["sent"] for s in summaries), 0),
                    ci_text((s["messages"]["lost"] for s in summaries), 1),
                    ci_text((s["messages"]["in_flight"] for s in summaries), 1),
                    ci_text((max(gap(n).get("max", 0) for n in s["nodes"].values()) for s in summaries), 1),
                    ci_text((max(n["jumps"]["max"] or 0 for n in s["nodes"].values()) for s in summaries), 1),
                    ci_text((spread(s) for s in summaries), 1),
                    ci_text((s["checks"]["happens_before"]["violations"] for s in summaries), 0),
                ]
            )
        header = [
            "configuration",
            "runs",
            "sent",
            "lost",
            "in flight at the end",
            "largest gap (any node)",
            "largest jump (any node)",
            "final clocks: max - min",
            "happens-before violations",
        ]
        out += [f"{what} (`results/{name}`), mean [95% interval] over runs:", "", markdown_table(header, table), ""]
    return out


# -- repeats ------------------------------------------------------------------------------------
def repeat_section(first: Path, second: Path) -> list[str]:
    """Runs of two container sets with the same id and seed (a set run again with its base seed):
    event for event the same, or where they part (analysis.compare.parting)."""
    if not all((f / "index.json").exists() for f in (first, second)):
        return []
    seeds = {e["run_id"]: e["seed"] for e, _ in load_results(first)}
    again = [e for e, _ in load_results(second) if seeds.get(e["run_id"]) == e["seed"]]
    if not again:
        return []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder, name in ((first, "first"), (second, "second")):
            extract_logs(folder, Path(tmp) / name)
        for entry in again:
            run_id = entry["run_id"]
            a, b = (Path(tmp) / name / run_id for name in ("first", "second"))
            if not (a.is_dir() and b.is_dir()):
                rows.append([run_id, "no raw logs kept", "-", "-"])
                continue
            found = parting(load_and_analyse(a), load_and_analyse(b))
            if found is None:
                rows.append([run_id, "identical", "-", "-"])
            else:
                rows.append([run_id, f"{found.node} tick {found.pos} at {found.t:.3f} s", found.first, found.second])
    same = sum(1 for r in rows if r[1] == "identical")
    header = ["run", "event for event", first.name if first.name != "results" else "entry 1", second.name]
    return [
        f"## Runs repeated: `{second.name}` against the kept runs of the same seeds",
        "",
        f"{same} of {len(rows)} runs repeat event for event (every node's tick events and clocks);",
        "the others part at the first tick shown (analysis.compare.parting):",
        "",
        markdown_table(header, rows),
        "",
    ]


# -- provenance ---------------------------------------------------------------------------------
def provenance_section(folders: list[Path]) -> list[str]:
    """Every kept set: engine, runs, when, on which commit, machine and load (index.json)."""
    table = []
    for folder in folders:
        if not (folder / "index.json").exists():
            continue
        runs = json.loads((folder / "index.json").read_text())["runs"]
        made = [r.get("provenance") for r in runs]
        commits = sorted(
            {p["code"]["commit"][:7] + ("+" if p["code"]["dirty"] else "") for p in made if p and p["code"]}
        )
        loads = [x for p in made if p for x in (p["load"]["start"], p["load"]["end"]) if x is not None]
        machines = sorted({f"{p['machine']['nproc']} cores, {p['machine']['memory_gib']:g} GiB" for p in made if p})
        days = sorted({r["ran"][:10] for r in runs})
        table.append(
            [
                folder.name if folder.name != "results" else "assignment (results/)",
                runs[0].get("engine", "containers"),
                str(len(runs)),
                " to ".join(dict.fromkeys([days[0], days[-1]])),
                ", ".join(commits) or "not recorded",
                "; ".join(machines) or "not recorded",
                f"{min(loads):.2f} to {max(loads):.2f}" if loads else "not recorded",
            ]
        )
    sweep = folders[0] / "false-orders" / FILE
    if sweep.exists():
        data = json.loads(sweep.read_text())
        stamp: dict[str, Any] = data.get("provenance") or {}
        code, host, load = stamp.get("code") or {}, stamp.get("machine") or {}, stamp.get("load") or {}
        loads = [x for x in (load.get("start"), load.get("end")) if x is not None]
        table.append(
            [
                "false-orders (sweep.json)",
                "simulator",
                str(len(data["rows"])),
                str(data.get("ran", "not recorded"))[:10],
                (code.get("commit", "")[:7] + ("+" if code.get("dirty") else "")) or "not recorded",
                f"{host['nproc']} cores, {host['memory_gib']:g} GiB" if host else "not recorded",
                f"{min(loads):.2f} to {max(loads):.2f}" if loads else "not recorded",
            ]
        )
    header = ["set", "engine", "runs", "ran", "commit (+: uncommitted changes)", "machine", "1-min load"]
    return ["## The kept sets", "", markdown_table(header, table), ""]


def write_questions(results: Path, container_sets: list[Path] | None = None) -> list[Path]:
    sets = (
        container_sets
        if container_sets is not None
        else [results / "assignment-10", results / "false-orders-containers"]
    )
    lines = [
        "# Three questions, answered from kept runs",
        "",
        "Generated by `python -m experiments questions` from experiments/results (do not edit by hand).",
        "Intervals are 95% t-intervals over runs (n given); '-' where nothing was measured.",
        "",
        *provenance_section([results, *sorted(p.parent for p in results.glob("*/index.json"))]),
        *repeat_section(results, results / "assignment-10"),
        *false_order_section(results, sets),
        *bug_section(results),
        *delivery_section(results),
    ]
    path = results / OUT
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
    return [path, results / "false-orders" / FIGURE]

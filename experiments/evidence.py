"""The notebook's claims re-examined: kept container runs beside fresh simulator replications.

`write_evidence(results_dirs, out)` reads each results folder (index.json, runs/*/summary.json and,
where kept, the raw logs in logs/*.tar.xz), simulates what a question needs with the node's own
code in virtual time, and writes out/evidence.md (sections E1-E7: each measure defined once,
numbers with n and a 95 % interval or the spread, the run ids, and a verdict line), out/evidence.json
(every number of the tables) and three figures. Container sets are never pooled: a set run again
with the same base seed repeats the first runs' seeds, hence their rates.

    python -m experiments.evidence [RESULTS_DIR ...] --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analysis.columns import Columns, columns
from analysis.loader import KIND_NAMES, RECEIVE, load_run
from analysis.plots import save_figure
from analysis.report import fmt, markdown_table
from analysis.summaryfile import finite_json
from experiments.aggregate import Kept, duration_of, gap, load_results, nodes_by_rate, num, rates_text, slowest
from experiments.configs import RESULTS, Config
from experiments.runner import PlannedRun, extract_logs, planned_from_entry, simulation
from experiments.simulated import measured_delay, simulated_summary
from experiments.stats import Interval, paired_difference, rounded, share_se, t_interval, welch_difference
from experiments.theory import predict
from experiments.twins import start_offsets
from node.schema import NodeSummary, Summary

DEFAULT_OUT = RESULTS / "evidence"
SIM_SEEDS = 200  # simulated runs per configuration for E1 (seeds 1..SIM_SEEDS)
NOISE_SEEDS = 50  # simulated runs per pinned rates for E4's noise (seeds 1..NOISE_SEEDS)
PAIRS = (("narrow-rates", "narrow-and-fewer"), ("baseline", "fewer-internal"))  # E1: (fewer messages, more)
SHARE_TOLERANCE = 0.03  # E4: the review's "more than 0.03 off"
SMALL = 0.05  # E1: "hardly changes" = the difference's interval within +-5 % of the first group's mean
Measure = Callable[[Summary], float]
Row = dict[str, Any]


def shown(path: Path) -> str:
    """A path as the files name it: relative to the repository when inside it (the same on every
    clone, so that a rebuild gives the same bytes), else as given."""
    try:
        return str(path.resolve().relative_to(RESULTS.parents[1]))
    except ValueError:
        return str(path)


def default_results(root: Path = RESULTS) -> list[Path]:
    """The kept assignment runs, and the 10-run set beside them when it exists."""
    return [root] + ([root / "assignment-10"] if (root / "assignment-10" / "index.json").exists() else [])


def backlogged(rates: Sequence[int], max_event_num: int) -> list[bool]:
    """Per node, in order: the mean-field theory predicts its queue grows (arrivals above its rate).

    The one definition of "backlogged" here; "keeps up" is its negation."""
    return [p.queue_growth > 0 for p in predict(rates, max_event_num)]


def node_backlog(s: Summary) -> dict[str, bool]:
    """`backlogged` for each node of a run (all False when a node has no rate)."""
    rates = [n["rate"] or 0 for n in s["nodes"].values()]
    men = s["run"]["max_event_num"] or 0
    if 0 in rates or men < len(rates):
        return dict.fromkeys(s["nodes"], False)
    return dict(zip(s["nodes"], backlogged(rates, men), strict=True))


# --- the kept container runs ---


@dataclass
class ContainerSet:
    label: str  # the set's name (index.json), else the folder's
    folder: Path
    kept: Kept
    raw: Path | None = None  # extracted raw logs (one folder per run id), when kept

    def logs_of(self, run_id: str) -> Path | None:
        folder = self.raw / run_id if self.raw else None
        return folder if folder is not None and folder.is_dir() else None


def load_container_set(folder: Path) -> ContainerSet:
    index = json.loads((folder / "index.json").read_text())
    name = index.get("set", {}).get("name") if isinstance(index.get("set"), dict) else None
    return ContainerSet(str(name or folder.name), folder, load_results(folder))


def slow_node(s: Summary) -> tuple[str, NodeSummary]:
    return nodes_by_rate(s)[0]


# The slowest node's measures compared across configurations (E1) and their maxima (E7).
MEASURES: tuple[tuple[str, str, Measure], ...] = (
    (
        "gap mean",
        "the slowest node's mean distance to the highest clock of any node, over the run (summary gap.mean)",
        lambda s: num(gap(slowest(s)).get("mean")),
    ),
    (
        "jump mean",
        "the slowest node's mean clock increase per tick event (jumps.mean)",
        lambda s: num(slowest(s)["jumps"]["mean"]),
    ),
    (
        "queue max",
        "the longest queue a tick of the slowest node found (queue.max)",
        lambda s: num(slowest(s)["queue"]["max"]),
    ),
    (
        "messages/s",
        "messages sent by all nodes / duration (messages.sent)",
        lambda s: s["messages"]["sent"] / duration_of(s),
    ),
)
MAXIMA: tuple[tuple[str, Measure], ...] = (
    ("gap max", lambda s: num(gap(slowest(s)).get("max"))),
    ("jump max", lambda s: num(slowest(s)["jumps"]["max"])),
    ("queue max", lambda s: num(slowest(s)["queue"]["max"])),
    ("queue end", lambda s: num(slowest(s)["queue"]["end"])),
)


# --- simulator replications ---


@dataclass(frozen=True)
class SimRun:
    """The figures of one simulated run that the sections use."""

    config: str
    seed: int
    rates: tuple[int, ...]  # node1, node2, ... (as drawn or pinned)
    measures: dict[str, float]  # MEASURES of the slowest node
    slow_backlogged: bool
    slow_share: float  # the slowest node's share of ticks that found a message
    slow_growth: float  # its queue at the end / duration
    largest_gap_mean: float  # of any node


def sim_run(config: Config, seed: int, duration: float, delay: float, offsets: dict[str, float]) -> SimRun:
    """One simulated run of `config` with run seed `seed` (the runner's environment: PlannedRun.env)."""
    s = simulated_summary(simulation(PlannedRun(config, seed, seed, duration), delay, offsets))
    name, node = slow_node(s)
    return SimRun(
        config.name,
        seed,
        tuple(n["rate"] or 0 for n in s["nodes"].values()),
        {label: f(s) for label, _, f in MEASURES},
        node_backlog(s)[name],
        num(node["queue"]["nonempty_share"]),
        num(node["queue"]["end"]) / duration_of(s),
        max(num(gap(n).get("mean")) for n in s["nodes"].values()),
    )


def offsets_pool(sets: list[ContainerSet]) -> dict[str, list[dict[str, float]]]:
    """Measured start offsets of every kept run, by configuration: simulated run k of a configuration
    takes the k-th of its configuration's (round robin), so simulated phases are real ones."""
    pool: dict[str, list[dict[str, float]]] = {}
    for cs in sets:
        for entry, s in cs.kept:
            offsets = start_offsets(s)
            if offsets:
                pool.setdefault(entry["config"], []).append(offsets)
    return pool


def pick(pool: list[dict[str, float]], seed: int) -> dict[str, float]:
    """The offsets simulated run `seed` (1-based) takes from its configuration's pool ({}: none measured)."""
    return pool[(seed - 1) % len(pool)] if pool else {}


def replicate(
    config: Config, seeds: int, duration: float, delay: float, pool: list[dict[str, float]], what: str
) -> list[SimRun]:
    """`seeds` simulated runs of `config` (seeds 1..seeds), a progress line every quarter."""
    runs = []
    started = time.monotonic()
    for seed in range(1, seeds + 1):
        runs.append(sim_run(config, seed, duration, delay, pick(pool, seed)))
        if seed == seeds or seed % max(1, seeds // 4) == 0:
            print(f"[evidence] {what}: {seed}/{seeds} simulated ({time.monotonic() - started:.1f} s)", flush=True)
    return runs


def pinned(config: Config, s: Summary) -> Config:
    """`config` with every node's rate pinned to the run's."""
    env = {**config.env, **{f"{node.upper()}_CLOCK_RATE": str(n["rate"]) for node, n in s["nodes"].items()}}
    return dataclasses.replace(config, env=env)


# --- E2: the largest jump and what came before it ---


@dataclass(frozen=True)
class LargestJump:
    """A node's largest jump (the first, if several are as large) and its context."""

    node: str
    tick: int  # position among the node's tick events
    t: float  # seconds since the run's first tick
    jump: int
    kind: str  # receive, send or internal
    ties: int  # other tick events with a jump this large
    after_receive: bool  # the tick before it also took a message
    wait_s: float | None  # a receive: its take time - enq_ts (how long the message waited in the queue)
    ticks_since_receive: int | None  # ticks since the node's previous receive (None: no earlier receive)
    queue_seen: int  # queue length the tick found (analysis.metrics: logged length + 1 on a receive)


def largest_jump(node: str, c: Columns, origin: float) -> LargestJump | None:
    """The node's largest jump in context; None for a node without tick events."""
    if not c.ts.size:
        return None
    jumps = c.clock - c.prev
    i = int(np.argmax(jumps))
    receive = c.kind == RECEIVE
    earlier = np.flatnonzero(receive[:i])
    wait = float(c.ts[i] - c.receive_enq_ts[int(np.searchsorted(c.receives, i))]) if receive[i] else None
    return LargestJump(
        node=node,
        tick=i,
        t=float(c.ts[i] - origin),
        jump=int(jumps[i]),
        kind=KIND_NAMES[int(c.kind[i])],
        ties=int((jumps == jumps[i]).sum()) - 1,
        after_receive=bool(i > 0 and receive[i - 1]),
        wait_s=wait,
        ticks_since_receive=int(i - earlier[-1]) if earlier.size else None,
        queue_seen=int(c.queue[i] + receive[i]),
    )


@dataclass(frozen=True)
class RunLogs:
    """What E2 and E6 read from one run's raw logs."""

    largest: dict[str, LargestJump]
    last_draw_t: dict[str, float | None]  # seconds since the first tick of the node's last non-receive tick


def read_run_logs(folder: Path) -> RunLogs:
    """Each node's largest jump in context and its last draw, from one run folder's raw logs."""
    run = load_run(folder)
    cols = {node: columns(log) for node, log in run.nodes.items()}
    origin = min((float(c.ts[0]) for c in cols.values() if c.ts.size), default=0.0)
    largest = {node: lj for node, c in cols.items() if (lj := largest_jump(node, c, origin)) is not None}
    last_draw: dict[str, float | None] = {}
    for node, c in cols.items():
        draws = np.flatnonzero(c.kind != RECEIVE)
        last_draw[node] = float(c.ts[draws[-1]] - origin) if draws.size else None
    return RunLogs(largest, last_draw)


def since_bucket(ticks: int | None) -> str:
    """E2's groups of `ticks_since_receive` (BUCKETS)."""
    if ticks is None:
        return "no earlier receive"
    return "1" if ticks == 1 else "2" if ticks == 2 else "3-5" if ticks <= 5 else "6+"


BUCKETS = ("1", "2", "3-5", "6+", "no earlier receive")


# --- the sections ---


def _ids(runs: Sequence[tuple[str, str]]) -> str:
    """Run ids grouped by set: `results: a-1, a-2; assignment-10: ...`."""
    by_set: dict[str, list[str]] = {}
    for label, run_id in runs:
        by_set.setdefault(label, []).append(run_id)
    return "; ".join(f"{label}: {', '.join(ids)}" for label, ids in by_set.items())


def _direction(d: Interval) -> str:
    if d.low is None or d.high is None:
        return "cannot decide (no interval)"
    if d.excludes_zero:
        return f"{'larger' if d.mean > 0 else 'smaller'} (interval excludes 0)"
    return "cannot decide (interval includes 0)"


def section_e1(sets: list[ContainerSet], sims: dict[str, list[SimRun]]) -> tuple[list[str], Row]:
    lines = ["## E1. More messages at the same rates: do clocks keep closer?", ""]
    lines += ["Measures (each run's slowest node; ties in rate: the lowest node id):", ""]
    lines += [f"- **{label}**: {definition}" for label, definition, _ in MEASURES]
    lines += [
        "",
        "Each cell: mean [95 % t-interval] (n runs). Difference: second minus first configuration; containers: "
        "Welch's interval (runs of two configurations have different seeds); simulator: paired by seed (seed k "
        "draws the same rates in both configurations), seeds 1..N with the runner's environment "
        "(experiments.runner.PlannedRun.env), each simulated run starting its nodes at the measured start offsets of "
        "a kept run of its configuration (round robin), one-way delay the runs' median.",
        "",
    ]
    data: Row = {}
    header = ["measure", "source", "first", "second", "difference (second - first)", "direction"]
    for first, second in PAIRS:
        rows = []
        pair: list[Row] = []
        for label, _, measure in MEASURES:
            sources: list[tuple[str, Interval, Interval, Interval]] = []
            for cs in sets:
                a = [measure(s) for e, s in cs.kept if e["config"] == first]
                b = [measure(s) for e, s in cs.kept if e["config"] == second]
                if a and b:
                    sources.append((f"containers {cs.label}", t_interval(a), t_interval(b), welch_difference(a, b)))
            if sims.get(first) and sims.get(second):
                a = [r.measures[label] for r in sims[first]]
                b = [r.measures[label] for r in sims[second]]
                same = all(x.rates == y.rates for x, y in zip(sims[first], sims[second], strict=True))
                diff = paired_difference(a, b) if same else welch_difference(a, b)
                sources.append(("simulator" + ("" if same else " (unpaired)"), t_interval(a), t_interval(b), diff))
            for source, ia, ib, d in sources:
                rows.append([label, source, ia.text(), ib.text(), d.text(), _direction(d)])
                pair.append(
                    {
                        "measure": label,
                        "source": source,
                        "first": ia.as_dict(),
                        "second": ib.as_dict(),
                        "difference": d.as_dict(),
                    }
                )
        if not rows:
            continue
        lines += [f"### {first} -> {second}", "", markdown_table(header, rows), ""]
        runs = [(cs.label, e["run_id"]) for cs in sets for e, _ in cs.kept if e["config"] in (first, second)]
        lines += [f"Container runs: {_ids(runs)}.", ""]
        data[f"{first} -> {second}"] = pair
        if (first, second) == ("narrow-rates", "narrow-and-fewer"):
            lines += _e1_closer_verdict(pair)
        else:
            lines += _e1_jump_verdict(sets, sims, first, second, data)
    return lines, data


def _e1_closer_verdict(pair: list[Row]) -> list[str]:
    """The notebook: "at equal speeds more messages keep clocks closer" (a smaller gap with more messages)."""
    verdicts = []
    for row in (r for r in pair if r["measure"] == "gap mean"):
        d = row["difference"]
        interval = f"gap mean {fmt(d['mean'])} [{fmt(d['low'])}, {fmt(d['high'])}]"
        if d["low"] is None or d["high"] is None:
            verdicts.append(f"{row['source']}: cannot decide ({interval})")
        elif d["low"] <= 0 <= d["high"]:
            bound = max(-d["low"], d["high"])
            share = bound / row["first"]["mean"]
            verdicts.append(
                f"{row['source']}: cannot decide, no difference beyond {bound:.2f} units ({share:.0%} of the mean) "
                f"either way ({interval})"
            )
        else:
            word = "supports" if d["high"] < 0 else "contradicts"
            verdicts.append(f"{row['source']}: {word} ({interval})")
    changed = [
        f"{r['measure']} {'+' if r['difference']['mean'] > 0 else ''}{r['difference']['mean']:.2f}"
        for r in pair
        if r["source"].startswith("simulator")
        and r["difference"]["low"] is not None
        and (r["difference"]["low"] > 0 or r["difference"]["high"] < 0)
    ]
    return [
        '**Verdict** on "at equal speeds more messages keep clocks closer" (a smaller gap mean with '
        "MAX_EVENT_NUM 5): " + "; ".join(verdicts) + ". "
        "What the simulator does find changing with more messages (intervals excluding 0): "
        + (", ".join(changed) or "nothing")
        + ".",
        "",
    ]


def _e1_jump_verdict(
    sets: list[ContainerSet], sims: dict[str, list[SimRun]], first: str, second: str, data: Row
) -> list[str]:
    """The notebook: "the mean jump hardly changes (2.18 against 2.16) ... as long as the node keeps up"."""
    lines = ["What the two groups are made of (slowest nodes; backlogged: see E3's definition):", ""]
    rows = []
    for cs in sets:
        for config in (first, second):
            runs = [s for e, s in cs.kept if e["config"] == config]
            if not runs:
                continue
            back = sum(node_backlog(s)[slow_node(s)[0]] for s in runs)
            ratios = [max(n["rate"] or 0 for n in s["nodes"].values()) / (slowest(s)["rate"] or math.nan) for s in runs]
            rows.append([cs.label, config, f"{back} of {len(runs)}", t_interval(ratios).text()])
    lines += [markdown_table(["set", "configuration", "slowest node backlogged", "rate ratio r_max / r"], rows), ""]
    out = ['**Verdict** on "the mean jump hardly changes as long as the node keeps up": ']
    a, b = sims.get(first, []), sims.get(second, [])
    if a and b and all(x.rates == y.rates for x, y in zip(a, b, strict=True)):
        keep = [(x, y) for x, y in zip(a, b, strict=True) if not x.slow_backlogged and not y.slow_backlogged]
        d = paired_difference([x.measures["jump mean"] for x, _ in keep], [y.measures["jump mean"] for _, y in keep])
        base = statistics.fmean(x.measures["jump mean"] for x, _ in keep) if keep else math.nan
        small = d.low is not None and d.high is not None and max(abs(d.low), abs(d.high)) <= SMALL * base
        word = "supports" if small else "contradicts" if d.excludes_zero else "cannot decide"
        data["keeps_up_paired_jump_mean"] = {"difference": d.as_dict(), "first_mean": rounded(base)}
        out.append(
            f"in the simulator, over the {len(keep)} seeds whose slowest node keeps up in both configurations (same "
            f"rates, paired), the mean jump differs by {d.text(3)} on a mean of {fmt(base, 3)} "
            f"({d.mean / base:+.1%}): the data {word} it (rule: supports when the whole interval lies within "
            f"+-{SMALL:.0%} of the mean, contradicts when it excludes 0 and reaches beyond). "
        )
    out.append(
        "The container comparison mixes backlogged and kept-up slowest nodes and different rate ratios (table "
        "above), so it cannot test a claim about nodes that keep up."
    )
    return [*lines, "".join(out), ""]


def section_e2(sets: list[ContainerSet], logs: dict[tuple[str, str], RunLogs]) -> tuple[list[str], Row, list[Row]]:
    lines = [
        "## E2. The largest jump: after many ticks without a message, or in a backlog?",
        "",
        "For each node, its largest jump (clock minus the clock before, per tick event; the first if several are "
        "as large): the tick's kind; whether the tick before it also took a message (**after receive**); how "
        "long that message had waited in the queue (**wait**: take time - enq_ts, s); the ticks since the node's "
        "previous receive (**since receive**; 1 = the tick before); the queue length the tick found (**queue**). "
        "Backlogged: E3's definition. From the raw logs (logs/*.tar.xz).",
        "",
    ]
    header = ["set", "run", "slowest (rate)", "backlogged", "largest jump", "at t (s)", "kind", "after receive"]
    header += ["wait (s)", "since receive", "queue", "as large"]
    rows, points, everything = [], [], []
    missing = []
    for cs in sets:
        for entry, s in cs.kept:
            found = logs.get((cs.label, entry["run_id"]))
            if found is None:
                missing.append((cs.label, entry["run_id"]))
                continue
            back = node_backlog(s)
            slow = slow_node(s)[0]
            for node, lj in sorted(found.largest.items()):
                record = {
                    "set": cs.label,
                    "run": entry["run_id"],
                    "slowest": node == slow,
                    "backlogged": back.get(node, False),
                    **dataclasses.asdict(lj),
                }
                everything.append(record)
                points.append(record)
                if node == slow:
                    rows.append(
                        [
                            cs.label,
                            entry["run_id"],
                            f"{node} ({s['nodes'][node]['rate']}/s)",
                            "yes" if record["backlogged"] else "no",
                            str(lj.jump),
                            f"{lj.t:.1f}",
                            lj.kind,
                            "yes" if lj.after_receive else "no",
                            fmt(lj.wait_s, 1),
                            fmt(lj.ticks_since_receive),
                            str(lj.queue_seen),
                            str(lj.ties),
                        ]
                    )
    lines += [markdown_table(header, rows), ""] if rows else ["No raw logs kept: nothing to show.", ""]
    if missing:
        lines += [f"No raw logs for: {_ids(missing)}.", ""]
    summary_rows = []
    summary: Row = {}
    groups: list[tuple[str, Callable[[Row], bool]]] = [
        ("slowest nodes", lambda r: bool(r["slowest"])),
        ("slowest, backlogged", lambda r: bool(r["slowest"] and r["backlogged"])),
        ("slowest, keeps up", lambda r: bool(r["slowest"] and not r["backlogged"])),
        ("every node, backlogged", lambda r: bool(r["backlogged"])),
        ("every node, keeps up", lambda r: not r["backlogged"]),
    ]
    for cs in sets:
        for name, keep in groups:
            group = [r for r in everything if r["set"] == cs.label and keep(r)]
            if not group:
                continue
            after = sum(r["kind"] == "receive" and r["after_receive"] for r in group)
            waits = [r["wait_s"] for r in group if r["wait_s"] is not None]
            buckets = {b: sum(since_bucket(r["ticks_since_receive"]) == b for r in group) for b in BUCKETS}
            summary[f"{cs.label}: {name}"] = {
                "nodes": len(group),
                "receive_after_receive": after,
                "wait_s_median": rounded(statistics.median(waits)) if waits else None,
                "wait_over_1s": sum(w > 1 for w in waits),
                "since_receive": buckets,
            }
            summary_rows.append(
                [
                    cs.label,
                    name,
                    str(len(group)),
                    f"{after} ({after / len(group):.0%})",
                    fmt(statistics.median(waits), 2) if waits else "-",
                    str(sum(w > 1 for w in waits)),
                    " / ".join(str(buckets[b]) for b in BUCKETS),
                ]
            )
    if summary_rows:
        header = ["set", "nodes", "n", "on a receive right after a receive", "median wait (s)", "wait > 1 s"]
        header.append("since receive: 1 / 2 / 3-5 / 6+ / none")
        lines += ["Summary:", "", markdown_table(header, summary_rows), ""]
        lines += [_e2_verdict(summary), ""]
    return lines, summary, everything


def _e2_verdict(summary: Row) -> str:
    """Per group: supports where most largest jumps follow 3+ ticks without a message, contradicts where
    most follow a receive on the tick before."""
    parts = []
    for key, g in summary.items():
        if not key.endswith(("slowest, backlogged", "slowest, keeps up", "every node, keeps up")):
            continue
        many = g["since_receive"]["3-5"] + g["since_receive"]["6+"]
        after = g["receive_after_receive"]
        word = "supports" if many > g["nodes"] / 2 else "contradicts" if after > g["nodes"] / 2 else "cannot decide"
        parts.append(
            f"{key}: {after} of {g['nodes']} on a receive right after a receive, {many} after 3 or more ticks "
            f"without one, median wait {fmt(g['wait_s_median'], 2)} s: {word}"
        )
    return (
        '**Verdict** on "the largest jumps come after many ticks without a message" (supports where most of a '
        "group's largest jumps follow 3 or more ticks without a message, contradicts where most follow a receive "
        "on the tick before): "
        + "; ".join(parts)
        + ". In a backlog the largest jump is a queued message's value, old when taken, catching up with clocks "
        "that moved on while it waited."
    )


def section_e3(sets: list[ContainerSet]) -> tuple[list[str], list[Row]]:
    lines = [
        "## E3. Mean jump against r_max / r, per node",
        "",
        "**Backlogged** (one definition for every section): experiments.theory.predict, from the run's rates and "
        "MAX_EVENT_NUM, gives the node a growing queue (messages arrive faster than it ticks); otherwise the node "
        "**keeps up**. **Ratio** = mean jump / (r_max / r), r_max the fastest node's rate. Mean jump is, exactly, "
        "(final clock - start clock) / ticks, and the clocks start at 0: so for a node that keeps up, whose clock "
        "ends near the highest clock, the ratio restates that the clocks end together; it sits above 1 by the "
        "fastest node's own mean jump (its receives). Columns: final clock / ticks (equal to the mean jump), final "
        "clock / highest final clock, the fastest node's mean jump; their product is about the ratio.",
        "",
    ]
    header = ["set", "run", "node", "rate", "r_max / r", "mean jump", "final clock / ticks", "ratio"]
    header += ["final / highest final", "fastest's mean jump", "product", "backlogged", "queue end"]
    rows, records = [], []
    for cs in sets:
        for entry, s in cs.kept:
            back = node_backlog(s)
            nodes = nodes_by_rate(s)
            r_max = max(n["rate"] or 0 for _, n in nodes)
            top = max(num(n["clock"]["end"]) for _, n in nodes)
            fastest = nodes[-1][1]
            for node, n in nodes:
                if not n["rate"] or not n["ticks"]:
                    continue
                expected = r_max / n["rate"]
                record = {
                    "set": cs.label,
                    "run": entry["run_id"],
                    "node": node,
                    "rate": n["rate"],
                    "r_max_over_r": round(expected, 4),
                    "jump_mean": n["jumps"]["mean"],
                    "clock_end_over_ticks": round(num(n["clock"]["end"]) / n["ticks"], 4),
                    "ratio": round(num(n["jumps"]["mean"]) / expected, 4),
                    "clock_end_over_highest": round(num(n["clock"]["end"]) / top, 4),
                    "fastest_jump_mean": fastest["jumps"]["mean"],
                    "product": round(num(n["clock"]["end"]) / top * num(fastest["jumps"]["mean"]), 4),
                    "backlogged": back[node],
                    "queue_end": n["queue"]["end"],
                }
                records.append(record)
                rows.append(
                    [
                        cs.label,
                        entry["run_id"],
                        node,
                        str(n["rate"]),
                        fmt(expected),
                        fmt(n["jumps"]["mean"], 3),
                        fmt(record["clock_end_over_ticks"], 3),
                        fmt(record["ratio"], 3),
                        fmt(record["clock_end_over_highest"], 3),
                        fmt(fastest["jumps"]["mean"], 3),
                        fmt(record["product"], 3),
                        "yes" if back[node] else "no",
                        fmt(n["queue"]["end"]),
                    ]
                )
    lines += [markdown_table(header, rows), ""]
    ranges = []
    for cs in sets:
        for name, flag in (("keep up", False), ("backlogged", True)):
            group = [r for r in records if r["set"] == cs.label and r["backlogged"] is flag]
            if group:
                ratios = [r["ratio"] for r in group]
                ranges.append(
                    f"{cs.label}, {len(group)} nodes that {name if not flag else 'are backlogged'}: ratio "
                    f"{min(ratios):.2f} to {max(ratios):.2f} (median {statistics.median(ratios):.2f})"
                )
    lines += ["Ratio ranges: " + "; ".join(ranges) + ".", ""]
    kept_up = [r for r in records if not r["backlogged"]]
    behind = [r for r in records if r["backlogged"]]
    worst = max((abs(r["ratio"] - r["product"]) for r in kept_up), default=math.nan)
    below = sum(r["ratio"] < 0.95 for r in behind)
    lines += [
        '**Verdict** on "mean jump = r_max / r": for nodes that keep up the data supports it, but only as '
        "bookkeeping: the ratio equals (final clock / highest final clock) x (fastest node's mean jump) to within "
        f"{worst:.3f} on all {len(kept_up)} of them, so it says the clocks ended together, and it sits above 1 by "
        f"the fastest clock's own receives. {below} of {len(behind)} backlogged nodes fall below 0.95: they take "
        "old messages, whose values rise by the senders' clock rate over the arrival rate, not by r_max / r "
        "(notebook section 5); a backlogged node near the theory's boundary can still sit on the line after 60 s. "
        "Figure: e3_jump_vs_ratio.png.",
        "",
    ]
    return lines, records


def section_e4(
    sets: list[ContainerSet], noise: dict[tuple[str, str], list[SimRun]], seeds: int
) -> tuple[list[str], list[Row]]:
    lines = [
        "## E4. Theory against every container run",
        "",
        "Slowest node of each run. **Receive share**: share of its ticks that found a message (summary "
        "queue.nonempty_share); predicted: experiments.theory.predict's receive_share. **SE**: binomial standard "
        "error of the measured share over the node's ticks (Agresti-Coull, so never 0); flagged (*) beyond 2 SE "
        "from the prediction. **Growth**: queue at the end / duration (messages/s); predicted: queue_growth. "
        f"**Sim**: mean +- SD over {seeds} simulated runs at the run's pinned rates and MAX_EVENT_NUM (seeds "
        "1..N: other event draws), the spread chance alone gives; growth flagged (*) beyond 2 SD from the "
        "prediction (the SD taken as at least one message per run: a queue holds whole messages). Where the "
        "simulator's mean sits far from the prediction, the mean-field theory itself is off, not the run.",
        "",
    ]
    header = ["set", "run", "rates", "MEN", "ticks", "share pred.", "measured", "diff", "SE"]
    header += ["sim share", "growth pred.", "measured", "sim growth"]
    rows, records = [], []
    for cs in sets:
        for entry, s in cs.kept:
            nodes = nodes_by_rate(s)
            rates = [n["rate"] or 0 for _, n in nodes]
            men = s["run"]["max_event_num"] or 0
            if 0 in rates or men < len(rates):
                continue
            p = predict(rates, men)[0]
            node = nodes[0][1]
            ticks = node["ticks"]
            share = num(node["queue"]["nonempty_share"])
            se = share_se(round(share * ticks), ticks)
            growth = num(node["queue"]["end"]) / duration_of(s)
            sims = noise.get((cs.label, entry["run_id"]), [])
            sim_share = [r.slow_share for r in sims]
            sim_growth = [r.slow_growth for r in sims]
            # A queue holds whole messages: the growth's spread is taken as at least one message per run.
            floor = 1 / duration_of(s)
            sd_growth = max(statistics.stdev(sim_growth), floor) if len(sim_growth) > 1 else math.nan
            record = {
                "set": cs.label,
                "run": entry["run_id"],
                "rates": rates,
                "max_event_num": men,
                "ticks": ticks,
                "share_predicted": round(p.receive_share, 4),
                "share_measured": share,
                "share_diff": round(share - p.receive_share, 4),
                "share_se": round(se, 4),
                "share_beyond_2se": abs(share - p.receive_share) > 2 * se,
                "share_sim_mean": rounded(statistics.fmean(sim_share)) if sim_share else None,
                "share_sim_sd": rounded(statistics.stdev(sim_share)) if len(sim_share) > 1 else None,
                "growth_predicted": round(p.queue_growth, 4),
                "growth_measured": round(growth, 4),
                "growth_sim_mean": rounded(statistics.fmean(sim_growth)) if sim_growth else None,
                "growth_sim_sd": rounded(sd_growth),
                "growth_beyond_2sd": bool(abs(growth - p.queue_growth) > 2 * sd_growth) if sim_growth else None,
            }
            records.append(record)
            rows.append(
                [
                    cs.label,
                    entry["run_id"],
                    " / ".join(map(str, rates)),
                    str(men),
                    str(ticks),
                    fmt(p.receive_share),
                    fmt(share),
                    fmt(record["share_diff"]) + (" *" if record["share_beyond_2se"] else ""),
                    fmt(se, 3),
                    _pm(record["share_sim_mean"], record["share_sim_sd"]),
                    fmt(p.queue_growth),
                    fmt(growth) + (" *" if record["growth_beyond_2sd"] else ""),
                    _pm(record["growth_sim_mean"], record["growth_sim_sd"]),
                ]
            )
    lines += [markdown_table(header, rows), ""]
    for cs in sets:
        group = [r for r in records if r["set"] == cs.label]
        if not group:
            continue
        off = [r for r in group if abs(r["share_diff"]) > SHARE_TOLERANCE]
        beyond = [r for r in group if r["share_beyond_2se"]]
        growth_off = [r for r in group if r["growth_beyond_2sd"]]
        theory_off = [
            r
            for r in group
            if r["share_sim_mean"] is not None and abs(r["share_sim_mean"] - r["share_predicted"]) > SHARE_TOLERANCE
        ]
        worst_share = sorted(group, key=lambda r: -abs(r["share_diff"]))[:3]
        worst_growth = sorted(group, key=lambda r: -abs(r["growth_measured"] - r["growth_predicted"]))[:3]
        lines += [
            f"**{cs.label}** ({len(group)} runs): receive share more than {SHARE_TOLERANCE} off the prediction in "
            f"{len(off)} ({', '.join(r['run'] for r in off) or 'none'}); beyond 2 SE in {len(beyond)} "
            f"({', '.join(r['run'] for r in beyond) or 'none'}); growth beyond 2 simulator SD in {len(growth_off)} "
            f"({', '.join(r['run'] for r in growth_off) or 'none'}). The simulator's own mean share is more than "
            f"{SHARE_TOLERANCE} off the prediction in {len(theory_off)} "
            f"({', '.join(r['run'] for r in theory_off) or 'none'}). Worst share: "
            + ", ".join(
                f"{r['run']} ({r['share_predicted']:.2f} pred., {r['share_measured']:.2f})" for r in worst_share
            )
            + "; worst growth: "
            + ", ".join(
                f"{r['run']} ({r['growth_predicted']:.2f} pred., {r['growth_measured']:.2f})" for r in worst_growth
            )
            + ".",
            "",
        ]
    causes: dict[str, list[tuple[str, str]]] = {"theory": [], "chance": [], "run": []}
    for r in records:
        if r["share_beyond_2se"] and r["share_sim_mean"] is not None:
            causes[share_miss(r)].append((r["set"], r["run"]))
    within = sum(not r["share_beyond_2se"] for r in records)
    off = sum(abs(r["share_diff"]) > SHARE_TOLERANCE for r in records)
    lines += [
        f"**Verdict**: {within} of {len(records)} slowest nodes are within 2 SE of the predicted receive share "
        f"and {off} are more than {SHARE_TOLERANCE} off it: the data supports the theory as a first approximation "
        "only. Of the runs beyond 2 SE: the simulator at the same rates is itself more than "
        f"{SHARE_TOLERANCE} off the prediction and within 2 SD of the run (the mean-field theory's own error: it "
        f"treats arrivals as a steady flow) in {_ids(causes['theory']) or 'none'}; the simulator agrees with the "
        "prediction and the run lies within 2 of its SD (chance: ticks are not independent, so the binomial SE is "
        f"too small) in {_ids(causes['chance']) or 'none'}; the run lies beyond 2 SD of the simulator too in "
        f"{_ids(causes['run']) or 'none'}. Figure: e4_receive_share.png.",
        "",
    ]
    return lines, records


def share_miss(r: Row) -> str:
    """Why an E4 run's receive share misses the prediction: `theory` (the simulator misses it too and
    agrees with the run), `chance` (the run is within 2 simulator SD of a simulator that agrees with the
    theory) or `run` (beyond 2 SD of the simulator)."""
    near_sim = abs(r["share_measured"] - r["share_sim_mean"]) <= 2 * (r["share_sim_sd"] or 0)
    if not near_sim:
        return "run"
    return "theory" if abs(r["share_sim_mean"] - r["share_predicted"]) > SHARE_TOLERANCE else "chance"


def _pm(mean: float | None, sd: float | None) -> str:
    return "-" if mean is None else f"{mean:.2f} +- {fmt(sd)}"


def section_e5(sets: list[ContainerSet], sims: dict[str, list[SimRun]]) -> tuple[list[str], Row]:
    lines = [
        "## E5. Runs where every node has the same rate",
        "",
        "Per run: the **largest gap mean** and **largest gap max** of any node, the longest queue any tick found "
        "(**queue max**), the most left in any queue at the end (**queue end**), and the nodes' mean jumps.",
        "",
    ]
    header = ["set", "run", "rates", "largest gap mean", "largest gap max", "queue max", "queue end", "jump means"]
    rows, records = [], []
    others: dict[str, list[Summary]] = {}
    for cs in sets:
        for entry, s in cs.kept:
            rates = {n["rate"] for n in s["nodes"].values()}
            if len(rates) != 1:
                others.setdefault(entry["config"], []).append(s)
                continue
            nodes = s["nodes"].values()
            record = {
                "set": cs.label,
                "run": entry["run_id"],
                "rates": rates_text(s),
                "largest_gap_mean": max(num(gap(n).get("mean")) for n in nodes),
                "largest_gap_max": max(num(gap(n).get("max")) for n in nodes),
                "queue_max": max(num(n["queue"]["max"]) for n in nodes),
                "queue_end": max(num(n["queue"]["end"]) for n in nodes),
                "jump_means": [n["jumps"]["mean"] for n in nodes],
            }
            records.append(record)
            rows.append(
                [
                    cs.label,
                    entry["run_id"],
                    record["rates"],
                    fmt(record["largest_gap_mean"]),
                    fmt(record["largest_gap_max"], 0),
                    fmt(record["queue_max"], 0),
                    fmt(record["queue_end"], 0),
                    " / ".join(fmt(j, 3) for j in record["jump_means"]),
                ]
            )
    lines += [markdown_table(header, rows), ""] if rows else ["No equal-rate run kept.", ""]
    data: Row = {"runs": records}
    compare = []
    for config in sorted({r["run"].rsplit("-", 1)[0] for r in records}):
        rest = others.get(config, [])
        if rest:
            gm = [max(num(gap(n).get("mean")) for n in s["nodes"].values()) for s in rest]
            qm = [max(num(n["queue"]["max"]) for n in s["nodes"].values()) for s in rest]
            compare.append(
                f"{config}'s runs with unequal rates ({len(rest)}): largest gap mean {min(gm):.2f} to {max(gm):.2f}, "
                f"queue max {min(qm):.0f} to {max(qm):.0f}"
            )
    for config in ("narrow-rates", "narrow-and-fewer"):
        runs = sims.get(config, [])
        equal = [r.largest_gap_mean for r in runs if len(set(r.rates)) == 1]
        unequal = [r.largest_gap_mean for r in runs if len(set(r.rates)) > 1]
        if equal and unequal:
            d = welch_difference(unequal, equal)
            data[f"simulator {config}"] = {
                "equal": t_interval(equal).as_dict(),
                "unequal": t_interval(unequal).as_dict(),
                "difference": d.as_dict(),
            }
            compare.append(
                f"simulator, {config}: largest gap mean {t_interval(equal).text()} with equal rates against "
                f"{t_interval(unequal).text()} with unequal ones (difference {d.text()})"
            )
    if compare:
        lines += ["Against the other runs: " + "; ".join(compare) + ".", ""]
    if records:
        gm = [r["largest_gap_mean"] for r in records]
        spread = max(max(r["jump_means"]) - min(r["jump_means"]) for r in records)
        lines += [
            f"**What differs**: with equal rates no node is slower than the others, so none falls behind: in these "
            f"{len(records)} runs no queue held more than {max(r['queue_max'] for r in records):.0f} messages, "
            f"{max(r['queue_end'] for r in records):.0f} at most were left at the end, the largest gap mean is "
            f"{min(gm):.2f} to {max(gm):.2f} units (a value's lag within a tick period), and the nodes' mean jumps "
            f'differ by at most {spread:.3f}. Here "the slowest node" is an arbitrary one (the lowest id). The '
            "configuration means of narrow-rates and narrow-and-fewer mix these runs with unequal-rate ones.",
            "",
        ]
    sim_diffs = {k: v["difference"] for k, v in data.items() if k.startswith("simulator")}
    if sim_diffs:
        words = [
            f"{k}: {'supports' if d['high'] is not None and d['high'] < 0 else 'cannot decide'} "
            f"({fmt(d['mean'])} [{fmt(d['low'])}, {fmt(d['high'])}])"
            for k, d in sim_diffs.items()
        ]
        lines += [
            '**Verdict** on "equal rates give smaller gaps than unequal rates in the same configuration" '
            "(supports when the simulator's difference, equal minus unequal, is below 0 with its interval): "
            + "; ".join(words)
            + ".",
            "",
        ]
    return lines, data


def section_e6(sets: list[ContainerSet], logs: dict[tuple[str, str], RunLogs]) -> tuple[list[str], list[Row]]:
    lines = [
        "## E6. How much does the slowest node send?",
        "",
        "Slowest node of each run: **draws** (ticks that found no message and drew send or internal), "
        "**messages/min** (messages it sent per minute; a send to both peers counts two), its **receive share**, "
        "and, from the raw logs, the **last draw** (s since the run's first tick).",
        "",
    ]
    header = ["set", "run", "slowest (rate)", "backlogged", "ticks", "receive share", "draws", "draws/min"]
    header += ["messages/min", "last draw (s)"]
    rows, records = [], []
    for cs in sets:
        for entry, s in cs.kept:
            name, node = slow_node(s)
            minutes = duration_of(s) / 60
            draws = node["events"].get("send", 0) + node["events"].get("internal", 0)
            found = logs.get((cs.label, entry["run_id"]))
            last = found.last_draw_t.get(name) if found else None
            record = {
                "set": cs.label,
                "run": entry["run_id"],
                "node": name,
                "rate": node["rate"],
                "backlogged": node_backlog(s)[name],
                "ticks": node["ticks"],
                "receive_share": node["queue"]["nonempty_share"],
                "draws": draws,
                "draws_per_min": round(draws / minutes, 3),
                "messages_per_min": round(node["messages_sent"] / minutes, 3),
                "last_draw_s": rounded(last, 3),
            }
            records.append(record)
            rows.append(
                [
                    cs.label,
                    entry["run_id"],
                    f"{name} ({node['rate']}/s)",
                    "yes" if record["backlogged"] else "no",
                    str(node["ticks"]),
                    fmt(node["queue"]["nonempty_share"], 3),
                    str(draws),
                    fmt(record["draws_per_min"], 1),
                    fmt(record["messages_per_min"], 1),
                    fmt(last, 1),
                ]
            )
    lines += [markdown_table(header, rows), ""]
    notes = []
    for cs in sets:
        for flag, name in ((True, "backlogged"), (False, "keeping up")):
            group = [r for r in records if r["set"] == cs.label and r["backlogged"] is flag]
            if group:
                m = [r["messages_per_min"] for r in group]
                notes.append(f"{cs.label}, {len(group)} {name} slowest nodes: {min(m):.0f} to {max(m):.0f}")
        for config in dict.fromkeys(r["run"].rsplit("-", 1)[0] for r in records if r["set"] == cs.label):
            m = [
                r["messages_per_min"] for r in records if r["set"] == cs.label and r["run"].rsplit("-", 1)[0] == config
            ]
            notes.append(f"{cs.label} {config}: {min(m):.0f} to {max(m):.0f}")
    lasts = [r["last_draw_s"] for r in records if r["backlogged"] and r["last_draw_s"] is not None]
    lines += [
        "Messages/min of the slowest node, lowest to highest: " + "; ".join(notes) + ".",
        "",
        "**Why**: a node sends only on a tick that finds its queue empty (a draw; each draw sends to a given peer "
        "with probability 2/MAX_EVENT_NUM). A backlogged node finds a message at every tick once its queue has "
        "formed, so after its first ticks it never draws again (last draw column) and sends almost nothing: the "
        "fast nodes hear from it a few times in the first seconds, then never.",
        "",
    ]
    if lasts:
        lines += [
            f"**Verdict**: the data supports this: the {len(lasts)} backlogged slowest nodes with raw logs drew for "
            f"the last time {min(lasts):.1f} to {max(lasts):.1f} s into the run (median "
            f"{statistics.median(lasts):.1f} s).",
            "",
        ]
    return lines, records


def section_e7(sets: list[ContainerSet]) -> tuple[list[str], list[Row]]:
    lines = [
        "## E7. Per-configuration maxima: the mean of per-run maxima and the largest",
        "",
        "Slowest node of each run. Each cell: mean over the runs of each run's maximum (n) / the largest in any "
        "run (which run). A mean of maxima is not an upper bound.",
        "",
    ]
    header = ["set", "configuration", "n", *[name for name, _ in MAXIMA]]
    rows, records = [], []
    for cs in sets:
        for config in dict.fromkeys(e["config"] for e, _ in cs.kept):
            runs = [(e["run_id"], s) for e, s in cs.kept if e["config"] == config]
            row = [cs.label, config, str(len(runs))]
            record: Row = {"set": cs.label, "config": config, "runs": len(runs)}
            for name, measure in MAXIMA:
                values = [(measure(s), run_id) for run_id, s in runs]
                mean = statistics.fmean(v for v, _ in values)
                top, where = max(values)
                row.append(f"{mean:.1f} / {top:g} ({where})")
                record[name] = {"mean": round(mean, 3), "largest": top, "run": where}
            rows.append(row)
            records.append(record)
    lines += [markdown_table(header, rows), ""]
    examples = []
    for cs in sets:
        mine = [r for r in records if r["set"] == cs.label]
        if mine:
            r = max(mine, key=lambda r: r["gap max"]["largest"] - r["gap max"]["mean"])
            examples.append(
                f"{r['set']} {r['config']}: gap max {r['gap max']['mean']:.1f} on average over {r['runs']} runs, "
                f"{r['gap max']['largest']:g} in {r['gap max']['run']}"
            )
    if examples:
        lines += ['**Verdict**: a mean of per-run maxima is not "at most": ' + "; ".join(examples) + ".", ""]
    return lines, records


# --- figures ---


def figure_e2(points: list[Row], path: Path) -> list[tuple[str, str]]:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    used = []
    for flag, colour, label in ((True, "tab:red", "backlogged"), (False, "tab:blue", "keeps up")):
        for slowest_node, marker in ((True, "o"), (False, "^")):
            group = [
                p
                for p in points
                if p["backlogged"] is flag and p["slowest"] is slowest_node and p["wait_s"] is not None
            ]
            if not group:
                continue
            used += [(p["set"], p["run"]) for p in group]
            ax.scatter(
                [p["wait_s"] for p in group],
                [p["jump"] for p in group],
                c=colour,
                marker=marker,
                alpha=0.7,
                label=f"{label}, {'slowest node' if slowest_node else 'other nodes'} ({len(group)})",
            )
    ax.set_xlabel("how long the message of the largest jump waited in the queue (s)")
    ax.set_ylabel("largest jump of the node (clock units)")
    ax.set_title("Each node's largest jump against its message's wait")
    if used:
        ax.legend(fontsize=8)
    save_figure(fig, path)
    return list(dict.fromkeys(used))


def figure_e3(records: list[Row], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 5))
    top = max((r["r_max_over_r"] for r in records), default=1.0)
    ax.plot([1, top], [1, top], color="grey", linestyle="--", label="mean jump = r_max / r")
    for flag, colour, label in ((False, "tab:blue", "keeps up"), (True, "tab:red", "backlogged (theory)")):
        group = [r for r in records if r["backlogged"] is flag]
        ax.scatter(
            [r["r_max_over_r"] for r in group],
            [r["jump_mean"] for r in group],
            c=colour,
            alpha=0.7,
            label=f"{label} ({len(group)} nodes)",
        )
    ax.set_xlabel("r_max / r (fastest node's rate over this node's)")
    ax.set_ylabel("mean jump (= final clock / ticks)")
    ax.set_title("Mean jump per node, every node of every container run")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def figure_e4(records: list[Row], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="measured = predicted")
    ok = [r for r in records if not r["share_beyond_2se"]]
    off = [r for r in records if r["share_beyond_2se"]]
    for group, colour, label in ((ok, "tab:blue", "within 2 SE"), (off, "tab:red", "beyond 2 SE")):
        if group:
            ax.errorbar(
                [r["share_predicted"] for r in group],
                [r["share_measured"] for r in group],
                yerr=[2 * r["share_se"] for r in group],
                fmt="o",
                color=colour,
                alpha=0.7,
                capsize=2,
                label=f"container run, +-2 SE ({label}, {len(group)})",
            )
    sims = [r for r in records if r["share_sim_mean"] is not None]
    if sims:
        ax.scatter(
            [r["share_predicted"] for r in sims],
            [r["share_sim_mean"] for r in sims],
            marker="_",
            s=150,
            color="black",
            label="simulator mean at the same rates",
        )
    worst = {r["run"]: r for r in sorted(records, key=lambda r: abs(r["share_diff"]))}  # the worst of each id
    for r in sorted(worst.values(), key=lambda r: -abs(r["share_diff"]))[:4]:
        ax.annotate(
            r["run"],
            (r["share_predicted"], r["share_measured"]),
            fontsize=7,
            xytext=(4, -10),
            textcoords="offset points",
        )
    ax.set_xlabel("predicted receive share (experiments.theory)")
    ax.set_ylabel("measured share of ticks that found a message")
    ax.set_title("Slowest node of each container run: theory against measurement")
    ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, path)


# --- putting it together ---


def _first_config(sets: list[ContainerSet], name: str) -> tuple[Config, float] | None:
    """A configuration as its kept runs were planned (index.json), and their duration."""
    for cs in sets:
        for entry, _ in cs.kept:
            if entry["config"] == name:
                planned = planned_from_entry(entry)
                return planned.config, planned.duration
    return None


def write_evidence(
    results_dirs: list[Path], out: Path, sim_seeds: int = SIM_SEEDS, noise_seeds: int = NOISE_SEEDS
) -> list[Path]:
    """Every section from the kept runs in `results_dirs` (kept apart) and fresh simulations; written to `out`."""
    started = time.monotonic()
    sets = [load_container_set(folder) for folder in results_dirs]
    out.mkdir(parents=True, exist_ok=True)
    delay = measured_delay(results_dirs[0])
    pool = offsets_pool(sets)
    sims: dict[str, list[SimRun]] = {}
    for name in dict.fromkeys(c for pair in PAIRS for c in pair):
        found = _first_config(sets, name)
        if found is not None and sim_seeds > 0:
            sims[name] = replicate(found[0], sim_seeds, found[1], delay, pool.get(name, []), f"E1 {name}")
    noise: dict[tuple[str, str], list[SimRun]] = {}
    cache: dict[tuple[Any, ...], list[SimRun]] = {}
    todo = [(cs, e, s) for cs in sets for e, s in cs.kept]
    for k, (cs, entry, s) in enumerate(todo, 1):
        if noise_seeds <= 0:
            break
        planned = planned_from_entry(entry)
        config = pinned(planned.config, s)
        key = (entry["config"], tuple(sorted(config.env.items())), planned.duration)
        if key not in cache:
            offsets = pool.get(entry["config"], [])
            cache[key] = [
                sim_run(config, seed, planned.duration, delay, pick(offsets, seed))
                for seed in range(1, noise_seeds + 1)
            ]
        noise[(cs.label, entry["run_id"])] = cache[key]
        if k == len(todo) or k % 10 == 0:
            print(
                f"[evidence] E4 noise: {k}/{len(todo)} runs ({len(cache)} rate settings x {noise_seeds} seeds, "
                f"{time.monotonic() - started:.1f} s)",
                flush=True,
            )
    logs: dict[tuple[str, str], RunLogs] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, cs in enumerate(sets):
            cs.raw = Path(tmp) / str(i)
            extract_logs(cs.folder, cs.raw)
            for entry, _ in cs.kept:
                folder = cs.logs_of(entry["run_id"])
                if folder is not None:
                    logs[(cs.label, entry["run_id"])] = read_run_logs(folder)
    print(f"[evidence] raw logs read: {len(logs)} runs ({time.monotonic() - started:.1f} s)", flush=True)

    e1, e1_data = section_e1(sets, sims)
    e2, e2_data, e2_points = section_e2(sets, logs)
    e3, e3_data = section_e3(sets)
    e4, e4_data = section_e4(sets, noise, noise_seeds)
    e5, e5_data = section_e5(sets, sims)
    e6, e6_data = section_e6(sets, logs)
    e7, e7_data = section_e7(sets)

    figures = [out / "e2_largest_jump_vs_wait.png", out / "e3_jump_vs_ratio.png", out / "e4_receive_share.png"]
    e2_ids = figure_e2(e2_points, figures[0])
    figure_e3(e3_data, figures[1])
    figure_e4(e4_data, figures[2])
    all_ids = [(cs.label, e["run_id"]) for cs in sets for e, _ in cs.kept]
    head = [
        "# Evidence: the notebook's claims against the runs",
        "",
        "Generated by `python -m experiments.evidence "
        + " ".join(shown(p) for p in results_dirs)
        + f" --out {shown(out)}` ({sim_seeds} simulated runs per configuration in E1, {noise_seeds} per rate "
        f"setting in E4; one-way delay {delay * 1000:g} ms). Container sets (never pooled; a set run again "
        "with the same base seed repeats the first runs' seeds and rates):",
        "",
        *[f"- **{cs.label}**: {shown(cs.folder)} ({len(cs.kept)} runs)" for cs in sets],
        "",
        "Figures and their source runs:",
        "",
        f"- `e2_largest_jump_vs_wait.png` (E2; receives only): {_ids(e2_ids) or 'none'}",
        f"- `e3_jump_vs_ratio.png` (E3; every node): {_ids(all_ids)}",
        f"- `e4_receive_share.png` (E4; slowest nodes): {_ids(all_ids)}",
        "",
    ]
    markdown = out / "evidence.md"
    markdown.write_text("\n".join(head + e1 + e2 + e3 + e4 + e5 + e6 + e7))
    data = {
        "results": [{"label": cs.label, "folder": shown(cs.folder), "runs": len(cs.kept)} for cs in sets],
        "sim_seeds": sim_seeds,
        "noise_seeds": noise_seeds,
        "delay_s": delay,
        "e1": e1_data,
        "e1_simulated": {name: [dataclasses.asdict(r) for r in runs] for name, runs in sims.items()},
        "e2": {"summary": e2_data, "nodes": e2_points},
        "e3": e3_data,
        "e4": e4_data,
        "e5": e5_data,
        "e6": e6_data,
        "e7": e7_data,
    }
    path = out / "evidence.json"
    path.write_text(json.dumps(finite_json(data), indent=1, allow_nan=False) + "\n")
    print(f"[evidence] wrote {markdown}, {path} and {len(figures)} figures ({time.monotonic() - started:.1f} s)")
    return [markdown, path, *figures]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.evidence", description=__doc__.splitlines()[0])
    parser.add_argument(
        "results", nargs="*", type=Path, help="results folders (default: the kept assignment runs and assignment-10)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--sim-seeds", type=int, default=SIM_SEEDS, help="simulated runs per configuration (E1)")
    parser.add_argument("--noise-seeds", type=int, default=NOISE_SEEDS, help="simulated runs per rate setting (E4)")
    args = parser.parse_args(argv)
    folders: list[Path] = args.results or default_results()
    for folder in folders:
        if not (folder / "index.json").exists():
            print(f"experiments.evidence: {folder}: no index.json", file=sys.stderr)
            return 2
    write_evidence(folders, args.out, args.sim_seeds, args.noise_seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The many-nodes step (issue 15): N containers on this machine, for N in --node-counts, and what grows with N.

For each N, two runs of --nodes-duration s from a generated N-node compose file
(deploy.stackgen.compose_file), MAX_EVENT_NUM = ceil(10N/3) so that the share of internal draws
stays about 0.7 as with three nodes and the default 10:
  - the assignment's rates, each node's drawn from MIN..MAX_CLOCK_RATE (1..6) with the suite's
    seed: what a user of `docker compose up` gets, and nearly no load, so what grows with N is
    the fixed cost of a node (start-up, memory, connections, idle CPU);
  - every node pinned to --nodes-rate (default 1000/s, the rate of the suite's lateness target):
    the load grows as N x rate, so this shows where the machine's two cores run out.
Per run: start-up (launching `docker compose up` to the last node's first tick) and how far apart
the nodes' processes started, worst achieved/configured and lateness, CPU and peak memory per node
(median and max over the nodes), log volume per node and second, the established TCP connections
of each node (read from /proc/<pid>/net/tcp, its container's own network namespace: a node dials
every peer and accepts every peer's dial, so 2(N-1) each and N(N-1) in all), the machine's busy
share and the rest of the machine's, and `python -m analysis` on the run.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.analysis_row import _run_analysis
from bench.cluster import PROJECT, compose_files, run_cluster
from bench.metrics import analyse_run
from bench.options import RAW, Options, many_nodes_estimate, many_nodes_runs
from bench.progress import Progress, clock, say
from bench.runs import SEED, node_summary, run_seconds
from deploy.compose import ROOT
from deploy.stackgen import compose_file, node_ids
from node.config import DEFAULTS

PORT = int(DEFAULTS["PORT"])
WATCH_INTERVAL = 2.0  # seconds between two reads of the nodes' TCP tables
ESTABLISHED = "01"  # st column of /proc/net/tcp


def max_event_num(nodes: int) -> int:
    """ceil(10N/3): internal draws are (M - N)/M of all, 0.7 with three nodes and .env's 10, and
    0.700 to 0.714 for every N from 2 (0.714 with 2 or 4 nodes, 0.706 with 5 or 10)."""
    return -(-10 * nodes // 3)


def node_env(nodes: int, rate: int | None, duration: float, run_id: str) -> dict[str, str]:
    """Every node pinned to `rate`, or (None) each drawing its own from .env's MIN..MAX_CLOCK_RATE;
    the rest is .env's defaults with MAX_EVENT_NUM by the rule above."""
    return {
        # Set even when empty: a NODE<k>_CLOCK_RATE in the suite's own environment must not pin a node.
        **{f"NODE{k}_CLOCK_RATE": "" if rate is None else str(rate) for k in range(1, nodes + 1)},
        "MIN_CLOCK_RATE": DEFAULTS["MIN_CLOCK_RATE"],
        "MAX_CLOCK_RATE": str(max(int(DEFAULTS["MAX_CLOCK_RATE"]), rate or 0)),
        "MAX_EVENT_NUM": str(max_event_num(nodes)),
        "DURATION": f"{duration:g}",
        "SEED": SEED,
        "RUN_ID": run_id,
        "START_TIMEOUT": DEFAULTS["START_TIMEOUT"],
        "STATUS_INTERVAL": DEFAULTS["STATUS_INTERVAL"],
    }


def count_links(table: str, port: int = PORT) -> tuple[int, int]:
    """(inbound, outbound) established TCP connections in a /proc/net/tcp or tcp6 table: inbound
    ones have `port` as their local port (a peer dialed this node), outbound ones as the remote."""
    inbound = outbound = 0
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != ESTABLISHED:
            continue
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        inbound += local == port
        outbound += remote == port
    return inbound, outbound


def read_links(pid: int) -> tuple[int, int] | None:
    """count_links of the network namespace of process `pid`; None once it is gone."""
    total = [0, 0]
    for name in ("tcp", "tcp6"):
        try:
            text = Path(f"/proc/{pid}/net/{name}").read_text(encoding="ascii")
        except FileNotFoundError:
            continue  # no IPv6 in that namespace
        except OSError:
            return None
        inbound, outbound = count_links(text)
        total[0] += inbound
        total[1] += outbound
    return total[0], total[1]


@dataclass
class SocketWatcher:
    """Reads each node's TCP table every WATCH_INTERVAL s while the nodes run (bench.cluster's
    Watcher); keeps, per node, the most (inbound, outbound) connections seen at once."""

    most: dict[str, tuple[int, int]] = field(default_factory=dict)
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, pids: dict[str, int]) -> None:
        self._thread = threading.Thread(target=self._run, args=(dict(pids),), name="sockets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, pids: dict[str, int]) -> None:
        while pids and not self._stop.wait(WATCH_INTERVAL):
            self.reads += 1
            for node, pid in list(pids.items()):
                links = read_links(pid)
                if links is None:
                    del pids[node]
                elif sum(links) > sum(self.most.get(node, (0, 0))):
                    self.most[node] = links


def connections(nodes: int, most: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The connection figures of a run: each node should have N-1 inbound and N-1 outbound."""
    per_node = [sum(most.get(node, (0, 0))) for node in node_ids(nodes)]
    return {
        "expected_per_node": 2 * (nodes - 1),
        "min_per_node": min(per_node),
        "max_per_node": max(per_node),
        "expected_total": nodes * (nodes - 1),
        "total": sum(per_node) // 2,  # both ends of every connection are ours
        "inbound_min": min(most.get(node, (0, 0))[0] for node in node_ids(nodes)),
        "outbound_min": min(most.get(node, (0, 0))[1] for node in node_ids(nodes)),
    }


def start_spread(folder: Path) -> float | None:
    """Seconds between the first and the last node's `start` line (each log's first line): how far
    apart Docker started the nodes' processes, all of which must be up within START_TIMEOUT."""
    stamps = []
    for path in folder.glob("node*.jsonl"):
        with path.open(encoding="utf-8") as f:
            first = f.readline()
        if first:
            stamps.append(float(json.loads(first)["ts"]))
    return round(max(stamps) - min(stamps), 3) if len(stamps) > 1 else None


def stop_reasons(folder: Path) -> dict[str, int]:
    """How many nodes stopped for each reason other than `duration`, from each log's last line
    (`start-timeout`: a peer did not connect in time)."""
    reasons: dict[str, int] = {}
    for path in sorted(folder.glob("node*.jsonl")):
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 65536))
            lines = f.read().splitlines()
        last = json.loads(lines[-1]) if lines else {}
        reason = str(last.get("reason", "no stop line")) if last.get("event") == "stop" else "no stop line"
        if reason != "duration":
            reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def spread(values: Sequence[float | None], digits: int) -> dict[str, float | None]:
    """Median and max over the nodes (None when a node was not measured)."""
    if not values or any(v is None for v in values):
        return {"median": None, "max": None}
    known = [float(v) for v in values if v is not None]
    return {"median": round(statistics.median(known), digits), "max": round(max(known), digits)}


def run_many(nodes: int, rate: int | None, options: Options) -> dict[str, Any]:
    """N nodes for options.nodes_duration s (pinned to `rate`, or drawn); their row."""
    duration = options.nodes_duration
    tag = f"nodes-{nodes}-{rate or 'drawn'}"
    logs = RAW / tag
    shutil.rmtree(logs, ignore_errors=True)
    ids = node_ids(nodes)
    generated = ROOT / f"docker-compose.{PROJECT}-{nodes}.yml"  # beside the file it extends; gitignored
    generated.write_text(compose_file(nodes))
    watcher = SocketWatcher()
    try:
        files = compose_files(options.node_image, RAW, generated.name, ids)
        env = node_env(nodes, rate, duration, tag)
        run = run_cluster(logs, env, duration + 120 + 3 * nodes, RAW / f"{tag}.out", files, ids, watcher)
    finally:
        generated.unlink()
    folder = logs / tag
    timing = analyse_run(folder, duration, run.launched_at)
    summary = node_summary(timing, run, options.threshold)
    per_node = summary.pop("nodes")
    row: dict[str, Any] = {
        "nodes": nodes,
        "rate": rate,
        "rates": {name: n["rate"] for name, n in per_node.items()},
        "max_event_num": max_event_num(nodes),
        "duration": duration,
        **summary,
        "start_spread_s": start_spread(folder),
        "cpu_percent": spread([n["cpu_percent"] for n in per_node.values()], 2),
        "rss_mb": spread([n["rss_mb"] for n in per_node.values()], 1),
        "log": log_volume(folder, len(per_node), run_seconds(timing) if per_node else None, timing.lines),
        "connections": connections(nodes, watcher.most),
        "connection_reads": watcher.reads,
        "per_node": per_node,
    }
    reasons = stop_reasons(folder)
    if reasons:
        row["pass"] = False
        stopped = ", ".join(f"{reason} x {count}" for reason, count in sorted(reasons.items()))
        row["problems"].insert(0, f"{sum(reasons.values())} of {nodes} nodes stopped early: {stopped}")
    if len(per_node) < nodes:
        row["pass"] = False
        row["problems"].append(f"{nodes - len(per_node)} of {nodes} nodes ticked less than twice")
    if any(code != 0 for code in run.exit_codes.values()) or len(run.exit_codes) < nodes + 1:
        row["pass"] = False
        row["problems"].append(f"exit codes {compact_codes(run.exit_codes)} (output: {RAW / f'{tag}.out'})")
    elapsed, returncode, output, _peak = _run_analysis(folder) if folder.is_dir() else (0.0, 1, "no run folder", None)
    row["analysis_s"] = round(elapsed, 2)
    row["wall_s"] = round(time.time() - run.launched_at, 1)
    row["analysis_ok"] = returncode == 0
    if returncode != 0:
        said = [line for line in output.splitlines() if line.strip() and not line.startswith("bench-peak-kb")]
        row["problems"].append(f"python -m analysis exited {returncode}: {said[-1] if said else 'no output'}")
    if not options.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return row


def compact_codes(codes: dict[str, int]) -> str:
    """Exit codes, the zeros counted rather than listed (twenty nodes)."""
    bad = {name: code for name, code in sorted(codes.items()) if code != 0}
    return f"{len(codes) - len(bad)} exited 0" + "".join(f", {name} {code}" for name, code in bad.items())


def log_volume(folder: Path, nodes: int, seconds: float | None, lines: int) -> dict[str, float | None]:
    """The run's log files (`lines` of them, bench.metrics.count_lines): total bytes and lines, and
    per node and second of ticking (None when no node ticked)."""
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    per = max(nodes, 1) * seconds if seconds else None
    return {
        "bytes": size,
        "lines": lines,
        "bytes_per_node_s": None if per is None else round(size / per, 1),
        "lines_per_node_s": None if per is None else round(lines / per, 2),
    }


def measure_nodes(options: Options, progress: Progress) -> dict[str, Any]:
    """The suite's step: every run of bench.options.many_nodes_runs, a progress line before each
    and a line of figures after."""
    runs = many_nodes_runs(options)
    estimates = [many_nodes_estimate(n, rate, options.nodes_duration) for n, rate in runs]
    rows = []
    for k, (nodes, rate) in enumerate(runs):
        what = f"{nodes} nodes at {'drawn rates' if rate is None else f'{rate}/s'}"
        progress.part(f"run {k + 1}/{len(runs)}: {what} (about {clock(estimates[k])})", sum(estimates[k:]))
        row = run_many(nodes, rate, options)
        rows.append(row)
        say(row_line(row))
    return {
        "duration_s": options.nodes_duration,
        "node_counts": options.node_counts,
        "pinned_rate": options.nodes_rate,
        "drawn_rates": f"{DEFAULTS['MIN_CLOCK_RATE']}..{DEFAULTS['MAX_CLOCK_RATE']}",
        "start_timeout_s": float(DEFAULTS["START_TIMEOUT"]),
        "port": PORT,
        "runs": rows,
    }


def row_line(row: dict[str, Any]) -> str:
    """A run's figures in one line, for the terminal."""
    conn, log = row["connections"], row["log"]
    verdict = "pass" if row["pass"] else "FAIL " + "; ".join(row["problems"])
    ratio = "n/a" if math.isnan(row["min_ratio"]) else f"{row['min_ratio']:.5f}"
    return (
        f"{row['nodes']} nodes: start-up {row['startup_s']} s (processes {row['start_spread_s']} s apart); "
        f"worst achieved/configured {ratio}; late p50 {row['late_p50_ms']:.3f} p99 {row['late_p99_ms']:.3f} ms; "
        f"CPU/node {row['cpu_percent']['median']}..{row['cpu_percent']['max']} %; "
        f"RSS {row['rss_mb']['median']}..{row['rss_mb']['max']} MiB; log {log['lines_per_node_s']} lines/s/node; "
        f"TCP {conn['min_per_node']}..{conn['max_per_node']}/node (of {conn['expected_per_node']}); "
        f"rest of the machine {row['other_cpu_percent']} %; analysis {row['analysis_s']} s; {verdict}"
    )

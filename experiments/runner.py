"""Run a set of configurations through the real compose cluster and keep the results compactly.

For each configuration, `runs` runs of `duration` seconds: `docker compose up` of init and the
three nodes in a compose project of its own, logs into a working folder, then the analysis on
the run (summary.json, summary.md, plots), then the results are copied to experiments/results:
every run's summary.json, the plots of the first run of each configuration, and all raw logs in
one xz-compressed tar when they are small enough.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analysis.api import analyse_folder
from deploy.compose import ComposeProject
from experiments.configs import Config, run_seed

PROJECT = "lamportexperiments"
NODES = ("node1", "node2", "node3")
RAW_LOG_LIMIT = 5_000_000  # bytes of compressed raw logs worth keeping in the repository
PLOTS = ("clock.png", "gap.png", "queue.png", "jumps.png", "spacetime.png")


@dataclass(frozen=True)
class PlannedRun:
    config: Config
    index: int  # 1-based
    seed: int
    duration: float

    @property
    def run_id(self) -> str:
        return f"{self.config.name}-{self.index}"

    def env(self) -> dict[str, str]:
        """The run's variables, as compose gets them (and the simulated twin, node.simulation.cluster)."""
        return {
            "RUN_ID": self.run_id,
            "SEED": str(self.seed),
            "DURATION": f"{self.duration:g}",
            "STATUS_INTERVAL": "0",
            **{f"{node.upper()}_CLOCK_RATE": "" for node in NODES},  # drawn, unless the configuration pins them
            **self.config.env,
        }


def plan(configs: list[Config], runs: int, duration: float, base_seed: int) -> list[PlannedRun]:
    return [PlannedRun(c, i, run_seed(base_seed, c.name, i), duration) for c in configs for i in range(1, runs + 1)]


def run_one(planned: PlannedRun, logs: Path) -> dict[str, int]:
    """One compose run (`docker compose up --no-build node1 node2 node3`); returns the exit code of each node."""
    with ComposeProject(logs, planned.env(), services=NODES, name=PROJECT) as project:
        project.down()  # leftovers of an interrupted set
        shutil.rmtree(logs / planned.run_id, ignore_errors=True)
        result = project.run("up", "--no-build", *NODES)
        if result.returncode != 0:
            print(result.stdout[-2000:] + result.stderr[-2000:], file=sys.stderr)
        codes = project.exit_codes()
    return {service: code for service, code in codes.items() if service in NODES}


def keep(run_id: str, logs: Path, results: Path, with_plots: bool) -> None:
    """Copy what is kept of one analysed run into results/runs/<run id>/."""
    source = logs / run_id
    target = results / "runs" / run_id
    target.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "summary.md", "run.json", *(PLOTS if with_plots else ())):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


def archive_logs(planned: list[PlannedRun], logs: Path, results: Path) -> list[Path]:
    """Each configuration's raw logs as logs/<config>.tar.xz, kept while all of them stay small."""
    folder = results / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for config in sorted({p.config.name for p in planned}):
        path = folder / f"{config}.tar.xz"
        with tarfile.open(path, "w:xz") as tar:
            for p in planned:
                if p.config.name == config:
                    for log in sorted((logs / p.run_id).glob("*.jsonl")):
                        tar.add(log, arcname=f"{p.run_id}/{log.name}")
        written.append(path)
    if sum(p.stat().st_size for p in folder.glob("*.tar.xz")) > RAW_LOG_LIMIT:
        for path in written:
            path.unlink()
        return []
    return written


def run_set(planned: list[PlannedRun], work: Path, results: Path, base_seed: int) -> list[str]:
    """Run every planned run in order, with a progress line each; returns the failures."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    ComposeProject(name=PROJECT).build()
    failures: list[str] = []
    started = time.monotonic()
    per_run = planned[0].duration + 8 if planned else 0  # first estimate: duration + start and stop
    for n, p in enumerate(planned, 1):
        eta = datetime.fromtimestamp(time.time() + per_run * (len(planned) - n + 1), UTC).strftime("%H:%M:%S UTC")
        print(
            f"[{n}/{len(planned)}] {p.run_id}: seed {p.seed}, {p.duration:g} s ... (set done about {eta})", flush=True
        )
        codes = run_one(p, logs)
        if codes != dict.fromkeys(NODES, 0):
            failures.append(f"{p.run_id}: node exit codes {codes}")
            print(f"    FAILED: {codes}", flush=True)
            continue
        if analyse_folder(logs / p.run_id, quiet=True) is None:
            failures.append(f"{p.run_id}: analysis found nothing to analyse")
            continue
        keep(p.run_id, logs, results, with_plots=p.index == 1)
        per_run = (time.monotonic() - started) / n
    write_index(planned, results, base_seed, failures)
    archives = archive_logs(planned, logs, results)
    kept = ", ".join(str(a.relative_to(results)) for a in archives)
    print(f"raw logs: {'kept in ' + kept if archives else 'not kept (over 5 MB compressed)'}")
    return failures


def write_index(planned: list[PlannedRun], results: Path, base_seed: int, failures: list[str]) -> None:
    """results/index.json: every run kept so far (runs of this set replace same-named ones)."""
    path = results / "index.json"
    runs: dict[str, dict[str, object]] = {}
    if path.exists():
        runs = {r["run_id"]: r for r in json.loads(path.read_text()).get("runs", [])}
    for p in planned:
        runs[p.run_id] = {
            "run_id": p.run_id,
            "config": p.config.name,
            "index": p.index,
            "seed": p.seed,
            "duration": p.duration,
            "env": p.config.env,
            "base_seed": base_seed,
            "ran": datetime.now(UTC).isoformat(timespec="seconds"),
            "failed": any(f.startswith(p.run_id + ":") for f in failures),
        }
    index = {"runs": [runs[k] for k in sorted(runs)]}
    path.write_text(json.dumps(index, indent=2) + "\n")


def extract_logs(results: Path, into: Path) -> None:
    """Unpack every kept archive (results/logs/*.tar.xz) into `into`/<run id>/."""
    into.mkdir(parents=True, exist_ok=True)
    for archive in sorted((results / "logs").glob("*.tar.xz")):
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")


def reanalyse(results: Path, work: Path) -> list[str]:
    """Analyse the kept raw logs again (after a change to the analysis) and keep the new outputs."""
    logs = work / "logs"
    extract_logs(results, logs)
    index = json.loads((results / "index.json").read_text())
    failures = []
    for n, entry in enumerate(index["runs"], 1):
        print(f"[{n}/{len(index['runs'])}] {entry['run_id']}", flush=True)
        folder = logs / entry["run_id"]
        if not folder.is_dir() or analyse_folder(folder, quiet=True) is None:
            failures.append(f"{entry['run_id']}: no raw logs to analyse")
            continue
        keep(entry["run_id"], logs, results, with_plots=entry["index"] == 1)
    return failures

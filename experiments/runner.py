"""Run a set's planned runs in containers or in the simulator, then keep the results compactly.

Every planned run gets its configuration's environment (`PlannedRun.env`). In containers, that
is `docker compose up` of init and the nodes in the set's compose project (`project_name`), with
its faults, if any, as docker commands at their times (experiments.container_faults); in the
simulator, the nodes' own code in virtual time (node.simulation) configured from the very same
variables.
Either way the logs go into a working folder, the analysis runs on them (summary.json,
summary.md, and the plots of the first run of each configuration), and what is kept is copied
into the set's results folder: every run's summary.json, its index.json entry with where it came
from (experiments.provenance), the plots of each configuration's first run, and all raw logs in
one xz-compressed tar per configuration when they are small enough.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.api import analyse_folder
from bench.progress import Progress
from deploy.compose import COMPOSE_FILE, ROOT, ComposeError, ComposeProject
from experiments.configs import Config, ExperimentSet, run_seed
from experiments.container_faults import CUT_REFUSED, Driver, FaultError
from experiments.provenance import code_version, load_average, machine
from experiments.simulated import DEFAULT_DELAY
from node.config import PER_NODE
from node.simulation import KINDS, Fault, Simulation, cluster, parse_fault, write_simulation
from node.virtual import SimulationError

PROJECT_PREFIX = "lamportexp-"  # + the set's name: each set's containers in a compose project of its own
RAW_LOG_LIMIT = 5_000_000  # bytes of compressed raw logs worth keeping in the repository
PLOTS = ("clock.png", "gap.png", "queue.png", "jumps.png", "spacetime.png")


@dataclass(frozen=True)
class Ran:
    """How one run went: its failure in words (None: it ran), and in containers with faults, when
    each fault's docker command ran (container_faults.Driver.record), for its index entry."""

    failure: str | None = None
    faults_applied: dict[str, Any] | None = None


RunOne = Callable[["PlannedRun", Path], Ran]  # runs one planned run into a log folder


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
        """The run's variables, as compose gets them (and the simulator, `simulation`)."""
        return {
            "RUN_ID": self.run_id,
            "SEED": str(self.seed),
            "DURATION": f"{self.duration:g}",
            "STATUS_INTERVAL": "0",
            **{f"{node.upper()}_CLOCK_RATE": "" for node in self.config.node_ids},  # drawn, unless pinned
            **self.config.env,
        }


def plan(configs: list[Config] | tuple[Config, ...], runs: int, duration: float, base_seed: int) -> list[PlannedRun]:
    return [PlannedRun(c, i, run_seed(base_seed, c.name, i), duration) for c in configs for i in range(1, runs + 1)]


def planned_from_entry(entry: Mapping[str, Any]) -> PlannedRun:
    """A kept run's plan again, from its index.json entry (entries before sets: three nodes, no faults)."""
    config = Config(entry["config"], "", dict(entry["env"]), entry.get("nodes", 3), tuple(entry.get("faults", ())))
    return PlannedRun(config, entry["index"], entry["seed"], entry["duration"])


def parse_fault_text(text: str, node_ids: tuple[str, ...]) -> Fault:
    """`KIND SPEC` (node.simulate's `--KIND SPEC`, e.g. "kill node1@10:3") -> Fault; ValueError in one line."""
    kind, _, spec = text.partition(" ")
    kind = kind.removeprefix("--")
    if kind not in KINDS:
        raise ValueError(f"fault {text!r}: expected KIND SPEC, KIND one of {', '.join(KINDS)}, e.g. 'kill node1@10:3'")
    return parse_fault(kind, spec.strip(), node_ids)


def simulation(
    planned: PlannedRun, delay: float = DEFAULT_DELAY, offsets: dict[str, float] | None = None
) -> Simulation:
    """The planned run in virtual time: the environment compose would give it, its faults, and a
    one-way wire delay (default: what the container runs measured). ConfigError/ValueError: bad values."""
    sim = cluster(
        planned.config.nodes,
        seed=planned.seed,
        env=planned.env(),
        run_id=planned.run_id,
        delay=delay,
        offsets=offsets or {},
    )
    faults = sorted((parse_fault_text(f, sim.node_ids) for f in planned.config.faults), key=lambda f: f.at)
    return dataclasses.replace(sim, faults=tuple(faults))


def compose_gap(config: Config) -> str | None:
    """A variable of `config` that docker-compose.yml does not hand to the nodes (so containers
    would silently run without it), or None."""
    text = (ROOT / COMPOSE_FILE).read_text()
    for name in config.env:
        per_node = re.fullmatch(r"NODE\d+_(\w+)", name)
        if per_node and per_node[1] in PER_NODE:
            continue  # passed per node, by docker-compose.yml and scripts/compose_nodes.py alike
        if "${" + name not in text:
            return name
    return None


def project_name(set_name: str) -> str:
    """The set's compose project: PROJECT_PREFIX + its name in what compose (and node.config's
    PROJECT_PATTERN) allows: lower case, '.' as '-'."""
    return PROJECT_PREFIX + set_name.lower().replace(".", "-")


def check(planned: list[PlannedRun], engine: str) -> None:
    """Raise ValueError, in one line, for a run the engine cannot make: before anything runs.
    The values are checked by the nodes' own loader (node.config, through `simulation`)."""
    for p in planned:
        try:
            sim = simulation(p)
        except ValueError as error:  # node.config.ConfigError included
            raise ValueError(f"configuration {p.config.name!r}: {error}") from None
        if engine != "containers":
            continue
        if any(f.kind == "cut" for f in sim.faults):
            raise ValueError(f"configuration {p.config.name!r}: {CUT_REFUSED}")
        missing = compose_gap(p.config)
        if missing is not None:
            raise ValueError(f"configuration {p.config.name!r}: {COMPOSE_FILE} does not pass {missing} to the nodes")


def write_compose_file(nodes: int, path: Path) -> None:
    """The cluster with `nodes` nodes (scripts/compose_nodes.py); it extends docker-compose.yml,
    so it must sit beside it."""
    script = ROOT / "scripts" / "compose_nodes.py"
    subprocess.run([sys.executable, str(script), str(nodes), "--out", str(path)], check=True, capture_output=True)


def run_one(planned: PlannedRun, logs: Path, files: tuple[str, ...], project: str) -> Ran:
    """One compose run in `project`: `docker compose up --no-build node1 ... nodeN`, or with faults,
    the nodes started detached and the faults applied at their times (container_faults.Driver).
    A node that exits non-zero fails it; with faults, so do a failed start or docker command, and
    a run still going 120 s (container_faults.MARGIN) after its end and its last fault's."""
    nodes = planned.config.node_ids
    with ComposeProject(logs, planned.env(), files=files, services=nodes, name=project) as running:
        running.down()  # leftovers of an interrupted set
        shutil.rmtree(logs / planned.run_id, ignore_errors=True)
        record = None
        if not planned.config.faults:
            result = running.run("up", "--no-build", *nodes)
            if result.returncode != 0:
                print(result.stdout[-2000:] + result.stderr[-2000:], file=sys.stderr)
            codes = {service: code for service, code in running.exit_codes().items() if service in nodes}
        else:
            driver = Driver(simulation(planned).faults)
            try:
                codes = driver.run(running, nodes, planned.duration)
            except (ComposeError, FaultError, TimeoutError) as error:  # the start, a fault's command, a hang
                return Ran(f"{planned.run_id}: {error}", driver.record())
            record = driver.record()
    failure = None if codes == dict.fromkeys(nodes, 0) else f"{planned.run_id}: node exit codes {codes}"
    return Ran(failure, record)


@contextmanager
def container_engine(planned: list[PlannedRun], project: str) -> Iterator[RunOne]:
    """Images built, a compose file for each node count other than 3 (removed afterwards), and
    the function that runs one planned run in containers, in compose project `project`."""
    files = {3: (COMPOSE_FILE,)}
    generated: list[Path] = []
    try:
        for nodes in sorted({p.config.nodes for p in planned} - {3}):
            path = ROOT / f"docker-compose.{project}{nodes}.yml"  # gitignored: docker-compose.*.yml
            generated.append(path)
            write_compose_file(nodes, path)
            files[nodes] = (path.name,)
        ComposeProject(name=project).build()

        def run(p: PlannedRun, logs: Path) -> Ran:
            return run_one(p, logs, files[p.config.nodes], project)

        yield run
    finally:
        for path in generated:
            path.unlink(missing_ok=True)


def simulate_one(planned: PlannedRun, logs: Path) -> Ran:
    """One simulated run into logs/<run id>/ (its faults fall exactly at their virtual times)."""
    folder = logs / planned.run_id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        outcome = write_simulation(simulation(planned), folder)
    except SimulationError as error:
        return Ran(f"{planned.run_id}: {error}")
    if not outcome.ok:
        return Ran(f"{planned.run_id}: exit codes {outcome.exit_codes}; {'; '.join(outcome.errors[:3])}")
    return Ran()


def keep(run_id: str, logs: Path, results: Path, with_plots: bool) -> None:
    """Copy what is kept of one analysed run into results/runs/<run id>/."""
    source = logs / run_id
    target = results / "runs" / run_id
    target.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "summary.md", "run.json", *(PLOTS if with_plots else ())):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


def analyse_and_keep(run_id: str, first: bool, logs: Path, results: Path) -> str | None:
    """The analysis of one run (plots only for a configuration's first run: only those are kept), kept."""
    if analyse_folder(logs / run_id, quiet=True, plots=first) is None:
        return f"{run_id}: analysis found nothing to analyse"
    keep(run_id, logs, results, with_plots=first)
    return None


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


def run_set(planned: list[PlannedRun], work: Path, results: Path, about: ExperimentSet) -> list[str]:
    """Run every planned run in order with `about.engine`, a progress line each, index.json written
    after each run; returns the failures."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    code, host = code_version(), machine(about.engine)
    failures: list[str] = []
    # First estimates: containers start and stop in about 8 s; the simulator takes well under one.
    progress = Progress([(p.run_id, p.duration + 8 if about.engine == "containers" else 0.5) for p in planned])
    engine: AbstractContextManager[RunOne] = nullcontext(simulate_one)
    if about.engine == "containers":
        engine = container_engine(planned, project_name(about.name))
    with engine as run:
        for p in planned:
            progress.step(f"{p.run_id}: seed {p.seed}, {p.duration:g} s")
            ran, load = datetime.now(UTC).isoformat(timespec="seconds"), load_average()
            outcome = run(p, logs)
            failure = outcome.failure or analyse_and_keep(p.run_id, p.index == 1, logs, results)
            if failure is not None:
                failures.append(failure)
                print(f"    FAILED: {failure}", flush=True)
            provenance = {"code": code, "machine": host, "load": {"start": load, "end": load_average()}}
            entry = index_entry(p, about, ran, failure is not None, provenance, outcome.faults_applied)
            write_index([entry], results, about)
            progress.finished()
    archives = archive_logs(planned, logs, results)
    kept = ", ".join(str(a.relative_to(results)) for a in archives)
    print(f"raw logs: {'kept in ' + kept if archives else 'not kept (over 5 MB compressed)'}")
    return failures


def index_entry(
    p: PlannedRun,
    about: ExperimentSet,
    ran: str,
    failed: bool,
    provenance: Mapping[str, object],
    faults_applied: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """One run in index.json: what it was, how it went and where it came from; in containers with
    faults, also when each fault's docker command ran (seconds since the nodes booted)."""
    applied = {} if faults_applied is None else {"faults_applied": dict(faults_applied)}
    return {
        "run_id": p.run_id,
        "config": p.config.name,
        "index": p.index,
        "seed": p.seed,
        "duration": p.duration,
        "env": p.config.env,
        "nodes": p.config.nodes,
        "faults": list(p.config.faults),
        **applied,
        "base_seed": about.seed,
        "set": about.name,
        "engine": about.engine,
        "ran": ran,
        "failed": failed,
        "provenance": provenance,
    }


def write_index(entries: list[dict[str, object]], results: Path, about: ExperimentSet) -> None:
    """results/index.json: every run kept so far (these entries replace same-named ones), and the
    set's configurations in order with their descriptions (for the report)."""
    path = results / "index.json"
    runs: dict[str, Any] = {}
    if path.exists():
        runs = {r["run_id"]: r for r in json.loads(path.read_text()).get("runs", [])}
    runs.update({str(e["run_id"]): e for e in entries})
    described = {
        "name": about.name,
        "description": about.description,
        "configs": [{"name": c.name, "description": c.description} for c in about.configs],
    }
    # By configuration, then run number (run 10 after run 9).
    index = {"set": described, "runs": sorted(runs.values(), key=lambda r: (r["config"], r["index"]))}
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
        if not (logs / entry["run_id"]).is_dir():
            failures.append(f"{entry['run_id']}: no raw logs to analyse")
            continue
        failure = analyse_and_keep(entry["run_id"], entry["index"] == 1, logs, results)
        failures += [failure] if failure else []
    return failures

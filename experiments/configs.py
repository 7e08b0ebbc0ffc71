"""Experiment sets: what each configuration of a set is, read from a TOML set file or the command line.

A set file (experiments/sets/*.toml; README: Experiments) has set-level keys and `[[configs]]`
tables. `parse_set` checks every key's name and type and turns it into an `ExperimentSet`, or
raises `SetError` with one line saying what is wrong; the values themselves are then checked by
the node's own configuration loader (experiments.runner.check), so there is one definition of a
valid value. Each configuration becomes environment overrides, the variables a user would set
for `docker compose up` and that the simulator reads the same way.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from node.config import DEFAULTS, MAX_SEED

HERE = Path(__file__).resolve().parent
SETS = HERE / "sets"  # the built-in sets
ASSIGNMENT = SETS / "assignment.toml"  # `python -m experiments` with no set
RESULTS = HERE / "results"  # the assignment's kept runs; other sets default to RESULTS/<name>
ENGINES = ("containers", "simulator")
# Config names go into run ids (`<config>-<k>`, node.config.RUN_ID_PATTERN), set names into folder names.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
RESERVED = ("runs", "logs")  # folders of the assignment's results: no set may take them
MAX_NODES = 64  # scripts/compose_nodes.py's limit
# Per-configuration keys that are one cluster-wide variable each; `rates` pins NODE<k>_CLOCK_RATE.
ENV_KEYS = {
    "min_rate": "MIN_CLOCK_RATE",
    "max_rate": "MAX_CLOCK_RATE",
    "max_event_num": "MAX_EVENT_NUM",
    "net_delay_ms": "NET_DELAY_MS",
    "delivery": "DELIVERY",
    "clock_bug": "CLOCK_BUG",
}
CONFIG_KEYS = ("name", "description", *ENV_KEYS, "rates", "nodes", "faults")
SET_KEYS = ("name", "description", "engine", "runs", "duration", "seed", "results", "configs")
SET_DEFAULTS: dict[str, Any] = {"engine": "containers", "runs": 5, "duration": 60, "seed": 2026}
# Shown in the tables already (rates column, the configuration's heading): not repeated as settings.
SHOWN = re.compile(r"(MIN_CLOCK_RATE|MAX_CLOCK_RATE|MAX_EVENT_NUM|NODE\d+_CLOCK_RATE)")


class SetError(ValueError):
    """A set file or command line that cannot be run: `experiments: <source>: <what>`."""

    def __init__(self, source: str, what: str) -> None:
        self.source, self.what = source, what
        super().__init__(f"experiments: {source}: {what}")


@dataclass(frozen=True)
class Config:
    """One configuration of the cluster: environment overrides, node count and faults."""

    name: str
    description: str
    env: dict[str, str] = field(default_factory=dict)
    nodes: int = 3
    faults: tuple[str, ...] = ()  # node.simulate's faults as `KIND SPEC`, e.g. "kill node1@10:3"

    @property
    def max_event_num(self) -> int:
        return int(self.env.get("MAX_EVENT_NUM", DEFAULTS["MAX_EVENT_NUM"]))

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(f"node{k}" for k in range(1, self.nodes + 1))


@dataclass(frozen=True)
class ExperimentSet:
    """A named set of configurations, each run `runs` times for `duration` seconds by `engine`."""

    name: str
    description: str  # "" for none
    engine: str
    runs: int
    duration: float
    seed: int
    results: Path
    configs: tuple[Config, ...]
    source: str  # the set file, or "command line": where errors point

    def only(self, names: list[str]) -> ExperimentSet:
        """The set restricted to the named configurations (SetError for an unknown one)."""
        known = {c.name: c for c in self.configs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SetError(self.source, f"--configs: no configuration {unknown[0]!r} (known: {', '.join(known)})")
        return replace(self, configs=tuple(known[n] for n in dict.fromkeys(names)))


def settings(env: Mapping[str, str], nodes: int = 3, faults: tuple[str, ...] | list[str] = ()) -> str:
    """A run's settings beyond rates and MAX_EVENT_NUM, in words ("" for none): the tables' column."""
    parts = [f"{nodes} nodes"] if nodes != 3 else []
    parts += [f"{k}={v}" for k, v in env.items() if not SHOWN.fullmatch(k) and DEFAULTS.get(k) != v]
    return ", ".join(parts + list(faults))


def run_seed(base_seed: int, config: str, index: int) -> int:
    """The seed of run `index` of `config` in a set started with `base_seed` (63 bits)."""
    digest = hashlib.sha256(f"{base_seed}/{config}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def read_set_file(path: Path) -> dict[str, Any]:
    """The TOML of a set file (SetError when it is missing or not TOML)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SetError(str(path), "no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SetError(str(path), f"not a readable TOML file: {error}") from None


def load_set(path: Path, overrides: Mapping[str, Any] | None = None) -> ExperimentSet:
    """A set file, with set-level keys (engine, runs, duration, seed) overridden from the command line."""
    raw = read_set_file(path)
    raw.update(overrides or {})
    return parse_set(raw, str(path), path.resolve().parent, default_name=path.stem)


def builtin_sets() -> list[ExperimentSet]:
    return [load_set(path) for path in sorted(SETS.glob("*.toml"))]


def _integer(source: str, where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SetError(source, f"{where}: expected an integer from {lo} to {hi}, got {value!r}")
    return value


def _number(source: str, where: str, value: Any, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (value > 0 if positive else value >= 0):
        raise SetError(source, f"{where}: expected a number {'above' if positive else 'of at least'} 0, got {value!r}")
    return float(value)


def _text(source: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SetError(source, f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _name(source: str, where: str, value: Any) -> str:
    name = _text(source, where, value)
    if not NAME.fullmatch(name):
        raise SetError(
            source, f"{where}: {name!r}: use 1-60 letters, digits, '.', '_' or '-', starting with one of the first two"
        )
    return name


def _unknown(source: str, where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise SetError(source, f"{where}unknown key {key!r} (known: {', '.join(known)})")


def parse_config(table: Any, source: str, where: str) -> Config:
    """One `[[configs]]` table -> Config; SetError naming the table and the key."""
    if not isinstance(table, dict):
        raise SetError(source, f"{where}: expected a table ([[configs]]), got {table!r}")
    if "name" not in table:
        raise SetError(source, f"{where}: no name")
    name = _name(source, f"{where}: name", table["name"])
    where = f"configuration {name!r}"
    _unknown(source, f"{where}: ", table, CONFIG_KEYS)
    rates = table.get("rates")
    if rates is not None and not (
        isinstance(rates, list) and rates and all(isinstance(r, int) and not isinstance(r, bool) for r in rates)
    ):
        raise SetError(source, f"{where}: rates: expected a list of integers (one per node), got {rates!r}")
    nodes = _integer(source, f"{where}: nodes", table.get("nodes", len(rates) if rates else 3), 2, MAX_NODES)
    if rates is not None and len(rates) != nodes:
        raise SetError(source, f"{where}: rates: expected {nodes} rates (one per node), got {len(rates)}")
    env: dict[str, str] = {}
    for key, variable in ENV_KEYS.items():
        if key not in table:
            continue
        value = table[key]
        if key in ("delivery", "clock_bug"):
            env[variable] = _text(source, f"{where}: {key}", value)
        elif key == "net_delay_ms":
            env[variable] = f"{_number(source, f'{where}: {key}', value, positive=False):g}"
        else:
            env[variable] = str(_integer(source, f"{where}: {key}", value, 1, 1_000_000))
    env.update({f"NODE{k}_CLOCK_RATE": str(rate) for k, rate in enumerate(rates or [], 1)})
    faults = table.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, str) and f.strip() for f in faults):
        raise SetError(source, f'{where}: faults: expected a list of strings like "kill node1@10:3", got {faults!r}')
    described = ", ".join(f"{k}={table[k]}" for k in CONFIG_KEYS[2:] if k in table) or "the defaults"
    description = _text(source, f"{where}: description", table.get("description", described))
    return Config(name, description, env, nodes, tuple(" ".join(f.split()) for f in faults))


def parse_set(raw: Mapping[str, Any], source: str, base: Path, default_name: str = "") -> ExperimentSet:
    """A set as TOML gives it (relative `results` against `base`, the set file's folder) -> ExperimentSet."""
    _unknown(source, "", raw, SET_KEYS)
    values = {**SET_DEFAULTS, "name": default_name, **raw}
    name = _name(source, "name", values["name"])
    if name in RESERVED:
        raise SetError(source, f"name: {name!r} is reserved (a folder of experiments/results)")
    engine = values["engine"]
    if engine not in ENGINES:
        raise SetError(source, f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    runs = _integer(source, "runs", values["runs"], 1, 10_000)
    duration = _number(source, "duration", values["duration"], positive=True)
    seed = _integer(source, "seed", values["seed"], 0, MAX_SEED)
    description = _text(source, "description", values["description"]) if "description" in values else ""
    results = RESULTS / name if "results" not in values else base / _text(source, "results", values["results"])
    tables = values.get("configs")
    if not isinstance(tables, list) or not tables:
        raise SetError(source, "configs: expected at least one [[configs]] table")
    configs = tuple(parse_config(t, source, f"configs[{i}]") for i, t in enumerate(tables, 1))
    names = [c.name for c in configs]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise SetError(source, f"configs: the name {twice!r} is used twice")
    return ExperimentSet(name, description, engine, runs, duration, seed, results.resolve(), configs, source)

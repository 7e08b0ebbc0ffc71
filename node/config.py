"""Node configuration: read the environment once, validate every variable, fail with one clear line.

Pure: `load_config` takes a mapping (normally `os.environ`) and returns a frozen `NodeConfig`
or raises `ConfigError` naming the variable, the bad value and what would be valid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.clock import BUGS, MAX_CLOCK

# Node ids double as file names and DNS names: keep them to a safe alphabet.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# LOG_DIR/latest is the link init points at the newest run: a run folder of that name (in any
# case: Docker Desktop's bind mounts are case-insensitive) would stop init from moving the link.
LATEST = "latest"
# Compose's own rule for project names; with the prefix of a run link it stays a safe file name.
PROJECT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,199}")
# PEERS entries: "host:port" (the host is the peer's id) or "id@host:port".
PEER_PATTERN = re.compile(
    r"(?:(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]{0,62})@)?(?P<host>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<port>[0-9]{1,5})"
)
MAX_RATE = 1_000_000  # ticks per second; beyond this a typo is likelier than intent
MAX_SEED = 2**63 - 1
MAX_NET_DELAY_MS = 60_000
# A clock value is at most the length of the longest chain of tick events leading to it (each
# tick adds 1; a receive takes max(clock, value) + 1), so no clock exceeds the number of tick
# events of all nodes together (drained messages are only queued, a restart resumes its clock).
# A run must fit in half the 32-bit range: the other half is margin.
CLOCK_BUDGET = MAX_CLOCK // 2

# Every default, once: .env, docker-compose.yml and the simulator are checked against this
# (tests/unit/test_config.py), and the simulator, bench and experiments read it from here.
DEFAULTS: dict[str, str] = {
    "PORT": "5000",
    "MIN_CLOCK_RATE": "1",
    "MAX_CLOCK_RATE": "6",
    "MAX_EVENT_NUM": "10",
    "DURATION": "60",
    "START_TIMEOUT": "30",
    "DRAIN_TIMEOUT": "5",
    "STATUS_INTERVAL": "5",
    "MAX_QUEUE": "100000",
    "NET_DELAY_MS": "0",
    "NET_JITTER_MS": "0",
    "DELIVERY": "reliable",
    "CLOCK_BUG": "none",
}
# Variables compose gives each node from NODE<k>_<NAME> when that is set (README: Configuration).
PER_NODE = ("CLOCK_RATE", "NET_DELAY_MS", "NET_JITTER_MS")


class ConfigError(ValueError):
    """A configuration variable has a value the node cannot run with (the user's to fix)."""

    def __init__(self, variable: str, value: str | None, reason: str) -> None:
        self.variable = variable
        self.value = value
        self.reason = reason
        shown = "(unset)" if value is None else repr(value)
        super().__init__(f"{variable}={shown}: {reason}")


@dataclass(frozen=True)
class Peer:
    """One other node: its id (as it names itself in the hello) and where to reach it."""

    node_id: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.node_id}@{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node needs to run, validated. Peers are sorted by id (see README: peer order)."""

    node_id: str
    peers: tuple[Peer, ...]
    port: int
    min_clock_rate: int
    max_clock_rate: int
    clock_rate: int | None  # pinned rate, or None to draw one from [min, max]
    max_event_num: int
    duration: float  # seconds of ticking; 0 = until stopped
    seed: int | None  # None: take the run's seed (run.json) or draw one
    log_dir: Path
    run_id: str | None  # None: the run folder `log_dir/latest` points to
    start_timeout: float
    drain_timeout: float
    status_interval: float  # 0 = no live status lines
    max_queue: int
    net_delay_ms: float = 0.0  # extra one-way delay of every frame this node sends
    net_jitter_ms: float = 0.0  # plus a uniform extra up to this (never reordering a link)
    delivery: str = "reliable"  # or "at-most-once": no resending (README: Delivery)
    clock_bug: str = "none"  # a planted classic bug (node.clock.BUGS; README: Planted clock bugs)
    project: str | None = None  # compose project (COMPOSE_PROJECT_NAME): follow its own run link

    @property
    def peer_ids(self) -> tuple[str, ...]:
        return tuple(p.node_id for p in self.peers)

    def as_log_fields(self) -> dict[str, Any]:
        """The configuration as JSON-friendly fields for the `start` log line."""
        fields = asdict(self)
        fields["peers"] = [str(p) for p in self.peers]
        fields["log_dir"] = str(self.log_dir)
        return fields


def _get(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: str | None, lo: int, hi: int) -> int:
    raw = _get(env, name, default)
    if raw is None:
        raise ConfigError(name, None, f"required: an integer from {lo} to {hi}")
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(name, raw, f"must be an integer from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise ConfigError(name, raw, f"must be an integer from {lo} to {hi}")
    return value


def _seconds(env: Mapping[str, str], name: str, lo: float, hi: float, unit: str = "seconds") -> float:
    raw = _get(env, name, DEFAULTS[name])
    assert raw is not None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, raw, f"must be a number of {unit} from {lo:g} to {hi:g}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(name, raw, f"must be a number of {unit} from {lo:g} to {hi:g}")
    return value


def _node_id(env: Mapping[str, str]) -> str:
    raw = _get(env, "NODE_ID", None)
    if raw is None:
        raise ConfigError("NODE_ID", None, "required: this node's name, e.g. node1")
    if not NODE_ID_PATTERN.fullmatch(raw):
        raise ConfigError(
            "NODE_ID", raw, "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return raw


def parse_peers(raw: str, own_id: str) -> tuple[Peer, ...]:
    """Parse PEERS ("node2:5000,node3:5000" or "node2@10.0.0.2:5000,..."), sorted by id."""
    peers: dict[str, Peer] = {}
    for entry in (part.strip() for part in raw.split(",")):
        match = PEER_PATTERN.fullmatch(entry)
        if not match:
            raise ConfigError("PEERS", raw, f"entry {entry!r} is not host:port or id@host:port (comma-separated)")
        port = int(match["port"])
        if not 1 <= port <= 65535:
            raise ConfigError("PEERS", raw, f"entry {entry!r}: port must be from 1 to 65535")
        node_id = match["id"] or match["host"]
        if not NODE_ID_PATTERN.fullmatch(node_id):
            raise ConfigError("PEERS", raw, f"entry {entry!r}: {node_id!r} is not a valid node id")
        if node_id == own_id:
            raise ConfigError("PEERS", raw, f"lists this node ({own_id}) as its own peer")
        if node_id in peers:
            raise ConfigError("PEERS", raw, f"lists {node_id} twice")
        peers[node_id] = Peer(node_id, match["host"], port)
    return tuple(peers[k] for k in sorted(peers))


@dataclass(frozen=True)
class RunOptions:
    """Where a run's logs go and which seed it uses: shared by the nodes and the run's init."""

    log_dir: Path
    run_id: str | None
    seed: int | None
    project: str | None = None  # COMPOSE_PROJECT_NAME: init and nodes of one project share a run link


def load_run_options(env: Mapping[str, str]) -> RunOptions:
    seed = None
    if _get(env, "SEED", None) is not None:
        seed = _int(env, "SEED", None, 0, MAX_SEED)
    run_id = _get(env, "RUN_ID", None)
    if run_id is not None and not RUN_ID_PATTERN.fullmatch(run_id):
        raise ConfigError(
            "RUN_ID", run_id, "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if run_id is not None and run_id.lower() == LATEST:
        raise ConfigError("RUN_ID", run_id, f"is reserved: {LATEST} is the link to the newest run; choose another name")
    project = _get(env, "COMPOSE_PROJECT_NAME", None)
    if project is not None and not PROJECT_PATTERN.fullmatch(project):
        raise ConfigError(
            "COMPOSE_PROJECT_NAME",
            project,
            "must be 1-200 lowercase letters, digits, '_' or '-', starting with a letter or digit",
        )
    return RunOptions(Path(_get(env, "LOG_DIR", "logs") or "logs"), run_id, seed, project)


def clock_range_error(nodes: int, rate: int, duration: float) -> str | None:
    """Why a run's tick events could carry a Lamport clock past CLOCK_BUDGET, or None. `rate` is
    the highest any node may tick at as far as this node knows (its pinned rate or MAX_CLOCK_RATE),
    so the node with the highest rate always sees a bound on the whole run. DURATION=0 (until
    stopped) has no bound to check."""
    if duration <= 0:
        return None
    bound = nodes * math.ceil(rate * duration)
    if bound <= CLOCK_BUDGET:
        return None
    seconds = f"{duration:,.3f}".rstrip("0").rstrip(".")
    return (
        f"{nodes} nodes x {rate:,} ticks/s x {seconds} s could take a Lamport clock to {bound:,}, "
        f"past {CLOCK_BUDGET:,} (half the 32-bit clock's range): shorten DURATION or lower the rates"
    )


def load_config(env: Mapping[str, str]) -> NodeConfig:
    """Validate the node's environment; raise ConfigError on the first bad variable."""
    node_id = _node_id(env)
    raw_peers = _get(env, "PEERS", None)
    if raw_peers is None:
        raise ConfigError("PEERS", None, "required: the other nodes, e.g. node2:5000,node3:5000")
    peers = parse_peers(raw_peers, node_id)
    port = _int(env, "PORT", DEFAULTS["PORT"], 1, 65535)
    min_rate = _int(env, "MIN_CLOCK_RATE", DEFAULTS["MIN_CLOCK_RATE"], 1, MAX_RATE)
    max_rate = _int(env, "MAX_CLOCK_RATE", DEFAULTS["MAX_CLOCK_RATE"], 1, MAX_RATE)
    if min_rate > max_rate:
        raise ConfigError("MIN_CLOCK_RATE", str(min_rate), f"must not exceed MAX_CLOCK_RATE ({max_rate})")
    clock_rate = None
    if _get(env, "CLOCK_RATE", None) is not None:
        clock_rate = _int(env, "CLOCK_RATE", None, 1, MAX_RATE)
    nodes = len(peers) + 1
    max_event_num = _int(env, "MAX_EVENT_NUM", DEFAULTS["MAX_EVENT_NUM"], nodes, 1_000_000)
    duration = _seconds(env, "DURATION", 0, 366 * 86400)
    too_far = clock_range_error(nodes, max(max_rate, clock_rate or 0), duration)
    if too_far is not None:
        raise ConfigError("DURATION", _get(env, "DURATION", DEFAULTS["DURATION"]), too_far)
    run = load_run_options(env)
    return NodeConfig(
        node_id=node_id,
        peers=peers,
        port=port,
        min_clock_rate=min_rate,
        max_clock_rate=max_rate,
        clock_rate=clock_rate,
        max_event_num=max_event_num,
        duration=duration,
        seed=run.seed,
        log_dir=run.log_dir,
        run_id=run.run_id,
        start_timeout=_seconds(env, "START_TIMEOUT", 0.1, 3600),
        drain_timeout=_seconds(env, "DRAIN_TIMEOUT", 0, 600),
        status_interval=_seconds(env, "STATUS_INTERVAL", 0, 3600),
        max_queue=_int(env, "MAX_QUEUE", DEFAULTS["MAX_QUEUE"], 1, 100_000_000),
        net_delay_ms=_seconds(env, "NET_DELAY_MS", 0, MAX_NET_DELAY_MS, "milliseconds"),
        net_jitter_ms=_seconds(env, "NET_JITTER_MS", 0, MAX_NET_DELAY_MS, "milliseconds"),
        delivery=_choice(env, "DELIVERY", DELIVERY_MODES),
        clock_bug=_choice(env, "CLOCK_BUG", BUGS),
        project=run.project,
    )


DELIVERY_MODES = ("reliable", "at-most-once")


def _choice(env: Mapping[str, str], name: str, options: Collection[str]) -> str:
    """One of `options` (any case), or the variable's default."""
    raw = _get(env, name, DEFAULTS[name])
    value = (raw or "").strip().lower()
    if value not in options:
        raise ConfigError(name, raw, f"must be one of {', '.join(options)}")
    return value


def node_environment(shared: Mapping[str, str], node_id: str) -> dict[str, str]:
    """One node's environment from a cluster-wide one, as docker-compose.yml builds it: each
    NODE<k>_<NAME> (k from the node id `node<k>`) that is set overrides <NAME> for that node."""
    env = {k: v for k, v in shared.items() if not (k.startswith("NODE") and k.split("_", 1)[0][4:].isdigit())}
    prefix = node_id.upper() + "_"
    for name in PER_NODE:
        value = shared.get(prefix + name, "")
        if value.strip():
            env[name] = value
    return env

"""Run folders: one per run under LOG_DIR, the links that lead to them, and a node's checks on them.

`python -m node.runfolder` is the compose `init` service. It runs before the nodes and creates
the run's folder and its `run.json` (run id, seed, compose project, creation time), so that
independent node containers agree on where to log and with which seed, and no run ever writes
into another's. It then points two links at the folder: `latest` (the newest run of any project,
for people and `docker compose run analysis`) and `.latest-<project>` (the newest run of this
compose project, which its nodes and its summary follow, so that two projects sharing LOG_DIR
never join each other's run). A node accepts only a folder directly in LOG_DIR, of its own
project, on a filesystem with room for what the run will write (`node_run_folder`).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from node.config import LATEST, MAX_SEED, ConfigError, NodeConfig, RunOptions, load_run_options
from node.identity import take_log_owner_identity

RUN_FILE = "run.json"
EXIT_CONFIG = 2  # as a node's configuration error

# What a run writes, for the free-space check. Measured: the kept container runs
# (experiments/results, 19,530 lines) average 150.5 bytes a line, a simulated 60 s run of five
# nodes at 1,000-7,000 ticks/s (python -m node.simulate, 1.08 million lines) 155.3 bytes; the
# longest tick line possible, a receive with 10-digit clock and value, a 9-digit queue, a 14-digit
# tick index and empty node ids, is 210 bytes. So a tick line is at most TICK_LINE_BYTES plus its
# ids (its own, and a sender's or every receiver's, 4 bytes of quotes and commas each).
TICK_LINE_BYTES = 224
STATS_LINE_BYTES = 400  # a `stats` line: 366 bytes with every figure at its widest
OTHER_BYTES_PER_PEER = 1024  # start line's peers, connected, disconnected, stop's queue_by_peer
OTHER_BYTES = 8192  # start and stop lines
# The analysis writes into the run folder too: 1.9 MB measured for the five-node run above (PNGs
# 0.8 MB, shiviz.log 1.1 MB for its 10,000 events at most, summary.json 21 KB for 20 links).
# Bound: the figures, a share of summary.json and summary.md per directed link, and 10,000
# shiviz.log lines whose vector clocks and receiver lists name every node at worst.
FIGURE_BYTES = 2 * 2**20
LINK_SUMMARY_BYTES = 2048
SHIVIZ_EVENTS = 10_000
SHIVIZ_LINE_BYTES = 128  # host, event text, Lamport clock and time, ids apart


class RunFolderError(Exception):
    """The run folder cannot be created, found or used (the user's to fix)."""


@dataclass(frozen=True)
class NewRun:
    """What init made: the folder, the seed, and what it had to say (a link it moved aside)."""

    folder: Path
    seed: int
    notes: tuple[str, ...] = ()


def run_id_for(moment: datetime) -> str:
    """Folder name for a run started at `moment`: UTC, sortable, readable."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S")


def project_link(project: str) -> str:
    """The name of the link to a compose project's newest run (hidden: no RUN_ID starts with '.')."""
    return f".{LATEST}-{project}"


def run_link(options: RunOptions) -> str:
    """The link a node with no RUN_ID follows: its project's own, or `latest` outside compose."""
    return project_link(options.project) if options.project else LATEST


def create_run(options: RunOptions, moment: datetime | None = None) -> NewRun:
    """Create a new run folder with run.json and point `latest` (and the project's link) at it."""
    log_dir = options.log_dir
    if not log_dir.is_dir():
        raise RunFolderError(f"LOG_DIR={str(log_dir)!r}: no such folder")
    moment = moment or datetime.now(UTC)
    try:
        folder = _new_folder(log_dir, options.run_id, moment)
        seed = options.seed if options.seed is not None else secrets.randbelow(MAX_SEED + 1)
        info = {
            "run_id": folder.name,
            "seed": seed,
            "project": options.project,
            "created": moment.isoformat(),
            "created_ts": moment.timestamp(),
        }
        try:
            # Exclusive: of two inits given the same RUN_ID at once, exactly one gets the run.
            with open(folder / RUN_FILE, "x") as out:
                out.write(json.dumps(info, indent=2) + "\n")
        except FileExistsError:
            raise _taken(options.run_id, folder) from None
        links = [LATEST, *([project_link(options.project)] if options.project else [])]
        notes = tuple(note for link in links if (note := point_link(log_dir, link, folder.name, moment)))
    except OSError as error:
        raise RunFolderError(f"cannot create the run in {log_dir}: {error.strerror or error}") from None
    return NewRun(folder, seed, notes)


def _new_folder(log_dir: Path, run_id: str | None, moment: datetime) -> Path:
    if run_id is not None:
        folder = log_dir / run_id
        try:
            folder.mkdir()
        except FileExistsError:
            if folder.is_symlink() or not folder.is_dir():
                raise RunFolderError(f"RUN_ID={run_id!r}: {folder} exists and is not a run folder") from None
            if any(folder.iterdir()):
                raise _taken(run_id, folder) from None
        return folder
    base = run_id_for(moment)
    folder = log_dir / base
    suffix = 1
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            suffix += 1
            folder = log_dir / f"{base}-{suffix}"


def _taken(run_id: str | None, folder: Path) -> RunFolderError:
    return RunFolderError(f"RUN_ID={run_id!r}: {folder} already holds a run; choose another name")


def point_link(log_dir: Path, name: str, target: str, moment: datetime) -> str | None:
    """Atomically make `log_dir/name` a relative symlink to `target`. Something there that is not
    a link (a run folder called `latest` from before RUN_ID refused that name) is moved aside,
    never deleted, and the returned note says where; None when nothing had to move."""
    link = log_dir / name
    note = None
    if os.path.lexists(link) and not link.is_symlink():
        kind = "folder" if link.is_dir() else "file"
        aside = log_dir / f"{name}-moved-{run_id_for(moment)}"
        suffix = 1
        while os.path.lexists(aside):
            suffix += 1
            aside = log_dir / f"{name}-moved-{run_id_for(moment)}-{suffix}"
        os.rename(link, aside)
        note = f"{link} was a {kind}, not the link to the newest run: moved it to {aside}"
    # A name of its own: every init container is pid 1, and projects may share LOG_DIR.
    tmp = log_dir / f".tmp-{uuid.uuid4().hex}"
    tmp.symlink_to(target)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return note


def find_run(options: RunOptions) -> Path:
    """The folder a node logs into: RUN_ID's (created if needed: a swarm has no init) or the one
    its run link leads to. Only a folder directly in LOG_DIR, and not another project's, will do."""
    log_dir = options.log_dir
    if not log_dir.is_dir():
        raise RunFolderError(f"LOG_DIR={str(log_dir)!r}: no such folder")
    if options.run_id is not None:
        folder = log_dir / options.run_id
        try:
            folder.mkdir(exist_ok=True)
        except FileExistsError:
            raise RunFolderError(f"RUN_ID={options.run_id!r}: {folder} exists and is not a folder") from None
        except OSError as error:
            raise RunFolderError(f"RUN_ID={options.run_id!r}: cannot create {folder}: {error.strerror}") from None
    else:
        folder = log_dir / run_link(options)
        if not folder.is_symlink():
            state = "is not a link" if os.path.lexists(folder) else "does not exist"
            raise RunFolderError(
                f"RUN_ID is empty and {folder} {state}: start with `docker compose up` (its init makes it), "
                "or set RUN_ID"
            )
    try:
        resolved, root = folder.resolve(), log_dir.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python 3.11)
        raise RunFolderError(f"{folder}: {error}") from None
    if resolved.parent != root or not resolved.is_dir():
        raise RunFolderError(f"{folder} leads to {resolved}, which is not a run folder directly in {root}")
    owner = read_run_info(resolved).get("project")
    if options.project and isinstance(owner, str) and owner != options.project:
        raise RunFolderError(f"{resolved} is compose project {owner!r}'s run, not {options.project!r}'s")
    return resolved


def read_run_info(folder: Path) -> dict[str, Any]:
    """run.json's contents; {} when there is none or it is unreadable."""
    try:
        info = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def read_run_seed(folder: Path) -> int | None:
    """The seed init chose for this run, if there is a readable run.json."""
    seed = read_run_info(folder).get("seed")
    return seed if isinstance(seed, int) and 0 <= seed <= MAX_SEED else None


# -- room for the run ----------------------------------------------------------------------------
def run_bytes_bound(config: NodeConfig) -> int | None:
    """At most how many bytes a clean run of this configuration writes into its folder: every
    node's log (all share the folder: compose mounts one LOG_DIR) and the analysis outputs.
    None for DURATION=0 (no end, no bound). Other nodes are assumed as fast as this one may be
    (its pinned rate or MAX_CLOCK_RATE). `drop` lines (a peer down: faults) are not counted."""
    if config.duration <= 0:
        return None
    ids = [config.node_id, *config.peer_ids]
    line = TICK_LINE_BYTES + sum(len(i) + 4 for i in ids)  # own id, and a sender or all receivers
    ticks = math.ceil(max(config.max_clock_rate, config.clock_rate or 0) * config.duration)
    stats = math.ceil(config.duration / config.status_interval) + 1 if config.status_interval > 0 else 0
    per_node = ticks * line + stats * STATS_LINE_BYTES + OTHER_BYTES + OTHER_BYTES_PER_PEER * len(config.peers)
    return len(ids) * per_node + analysis_bytes_bound(ids)


def analysis_bytes_bound(ids: list[str]) -> int:
    """At most how many bytes the analysis writes into the folder of a run of these nodes."""
    links = len(ids) * (len(ids) - 1)
    shiviz_line = SHIVIZ_LINE_BYTES + sum(len(i) + 16 for i in ids)  # "id":4294967295, and "id,"
    return FIGURE_BYTES + links * LINK_SUMMARY_BYTES + SHIVIZ_EVENTS * shiviz_line


def space_error(needed: int, free: int) -> str | None:
    """Why `free` bytes cannot hold a run that writes up to `needed`, or None."""
    if free >= needed:
        return None
    return f"{_mb(free)} free, but the run may write up to {_mb(needed)}: free some space or shorten DURATION"


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def check_free_space(
    config: NodeConfig, folder: Path, statvfs: Callable[[Path], os.statvfs_result] = os.statvfs
) -> None:
    """RunFolderError unless `folder`'s filesystem has room for the whole run (run_bytes_bound)."""
    needed = run_bytes_bound(config)
    if needed is None:
        return
    stats = statvfs(folder)
    error = space_error(needed, stats.f_bavail * stats.f_frsize)
    if error is not None:
        raise RunFolderError(f"{folder}: {error}")


def node_run_folder(config: NodeConfig) -> Path:
    """What a node does before it opens its log: find its run folder, then check it has room."""
    folder = find_run(RunOptions(config.log_dir, config.run_id, config.seed, config.project))
    check_free_space(config, folder)
    return folder


def main() -> int:
    try:
        options = load_run_options(os.environ)
        take_log_owner_identity(options.log_dir)
        run = create_run(options)
    except (ConfigError, RunFolderError) as error:
        print(f"init: {error}", file=sys.stderr)
        return EXIT_CONFIG
    for note in run.notes:
        print(f"init: {note}")
    name = run.folder.name
    print(f"run {name}: logs in {options.log_dir.name}/{name}/ (seed {run.seed}; SEED={run.seed} repeats it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

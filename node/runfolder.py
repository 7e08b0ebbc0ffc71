"""Run folders: one per run under LOG_DIR, named by when it started, with `latest` -> the newest.

`python -m node.runfolder` is the compose `init` service. It runs before the nodes and creates
the run's folder and its `run.json` (run id, seed, creation time), so that independent node
containers agree on where to log and with which seed, and no run ever writes into another's.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from node.config import MAX_SEED, ConfigError, RunOptions, load_run_options
from node.identity import take_log_owner_identity

LATEST = "latest"
RUN_FILE = "run.json"


class RunFolderError(Exception):
    """The run folder cannot be created or found (the user's to fix)."""


def run_id_for(moment: datetime) -> str:
    """Folder name for a run started at `moment`: UTC, sortable, readable."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S")


def create_run(options: RunOptions, moment: datetime | None = None) -> tuple[Path, int]:
    """Create a new run folder with run.json and point `latest` at it. Returns (folder, seed)."""
    log_dir = options.log_dir
    if not log_dir.is_dir():
        raise RunFolderError(f"LOG_DIR={str(log_dir)!r}: no such folder")
    moment = moment or datetime.now(UTC)
    if options.run_id is not None:
        folder = log_dir / options.run_id
        if folder.exists() and any(folder.iterdir()):
            raise RunFolderError(f"RUN_ID={options.run_id!r}: {folder} already holds a run; choose another name")
        folder.mkdir(exist_ok=True)
    else:
        base = run_id_for(moment)
        folder = log_dir / base
        suffix = 1
        while True:
            try:
                folder.mkdir()
                break
            except FileExistsError:
                suffix += 1
                folder = log_dir / f"{base}-{suffix}"
    seed = options.seed if options.seed is not None else secrets.randbelow(MAX_SEED + 1)
    info = {"run_id": folder.name, "seed": seed, "created": moment.isoformat(), "created_ts": moment.timestamp()}
    (folder / RUN_FILE).write_text(json.dumps(info, indent=2) + "\n")
    point_latest(log_dir, folder.name)
    return folder, seed


def point_latest(log_dir: Path, name: str) -> None:
    """Atomically make `log_dir/latest` a relative symlink to `name`."""
    tmp = log_dir / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    os.replace(tmp, log_dir / LATEST)


def find_run(options: RunOptions) -> Path:
    """The folder a node logs into: RUN_ID's (created if needed) or the one `latest` points to."""
    log_dir = options.log_dir
    if not log_dir.is_dir():
        raise RunFolderError(f"LOG_DIR={str(log_dir)!r}: no such folder")
    if options.run_id is not None:
        folder = log_dir / options.run_id
        folder.mkdir(exist_ok=True)
        return folder
    latest = log_dir / LATEST
    if not latest.is_dir():
        raise RunFolderError(
            f"RUN_ID is empty and {latest} does not exist: start with `docker compose up` or set RUN_ID"
        )
    return latest.resolve()


def read_run_seed(folder: Path) -> int | None:
    """The seed init chose for this run, if there is a readable run.json."""
    try:
        info = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    seed = info.get("seed") if isinstance(info, dict) else None
    return seed if isinstance(seed, int) and 0 <= seed <= MAX_SEED else None


def main() -> int:
    try:
        options = load_run_options(os.environ)
        take_log_owner_identity(options.log_dir)
        folder, seed = create_run(options)
    except (ConfigError, RunFolderError) as error:
        print(f"init: {error}", file=sys.stderr)
        return 2
    print(f"run {folder.name}: logs in {options.log_dir.name}/{folder.name}/ (seed {seed}; SEED={seed} repeats it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

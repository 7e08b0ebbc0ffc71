"""Entry point `python -m node`: validate the environment, find the run folder, run one node."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

from node.config import MAX_SEED, ConfigError, RunOptions, load_config
from node.identity import drop_root, take_log_owner_identity
from node.realtime import Node, new_event_loop, reduce_timer_slack
from node.runfolder import RunFolderError, find_run, read_run_seed

EXIT_CONFIG = 2


def main() -> int:
    name = os.environ.get("NODE_ID") or "node"
    try:
        config = load_config(os.environ)
        take_log_owner_identity(config.log_dir)
        run_dir = find_run(RunOptions(config.log_dir, config.run_id, config.seed))
    except (ConfigError, RunFolderError) as error:
        print(f"{name}: configuration error: {error}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    seed = config.seed
    if seed is None:
        seed = read_run_seed(run_dir)
    if seed is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    try:
        node = Node(config, run_dir, seed)
    except OSError as error:
        print(f"{name}: cannot open its log in {run_dir}: {error}", file=sys.stderr, flush=True)
        return 1
    drop_root()
    reduce_timer_slack()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(node.run())


if __name__ == "__main__":
    sys.exit(main())

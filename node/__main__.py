"""Entry point `python -m node`: validate the environment, find the run folder, run one node."""

from __future__ import annotations

import signal
import sys

# First of all: as PID 1 in a container, a signal without a handler is ignored (docker stop would
# wait out its grace period and kill the node, losing its last lines). Until the event loop's
# handlers take over (node.realtime), a stop request is remembered and honoured at start.
EARLY_STOPS: list[str] = []


def _remember(signum: int, _frame: object) -> None:
    EARLY_STOPS.append(f"signal {signal.Signals(signum).name}")


for _signal in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_signal, _remember)

import asyncio  # noqa: E402 - after the handlers above, on purpose
import os  # noqa: E402
import secrets  # noqa: E402

from node.config import MAX_SEED, ConfigError, load_config  # noqa: E402
from node.identity import drop_root, take_log_owner_identity  # noqa: E402
from node.interfaces import LogCorruptError  # noqa: E402
from node.realtime import Node, new_event_loop, reduce_timer_slack  # noqa: E402
from node.runfolder import RunFolderError, node_run_folder, read_run_seed  # noqa: E402

EXIT_CONFIG = 2


def main() -> int:
    name = os.environ.get("NODE_ID") or "node"
    try:
        config = load_config(os.environ)
        take_log_owner_identity(config.log_dir)
        run_dir = node_run_folder(config)  # this project's run, directly in LOG_DIR, with room
    except (ConfigError, RunFolderError) as error:
        print(f"{name}: configuration error: {error}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    seed = config.seed
    if seed is None:
        seed = read_run_seed(run_dir)
    if seed is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    try:
        node = Node(config, run_dir, seed, early_stops=EARLY_STOPS)
    except OSError as error:
        print(f"{name}: cannot open its log in {run_dir}: {error}", file=sys.stderr, flush=True)
        return 1
    except LogCorruptError as error:  # its own log cannot be trusted: it does not resume from it
        print(f"{name}: cannot resume from its log: {error}", file=sys.stderr, flush=True)
        return 1
    drop_root()
    reduce_timer_slack()
    runner = asyncio.Runner(loop_factory=new_event_loop)
    code = runner.run(node.run())
    # Exit now: closing the runner would wait for the default executor, where a name lookup of
    # a dead peer can block for about 10 s (docker stop would then kill the node, exit 137).
    # Its log is closed and every line is written (os.write, no buffer).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

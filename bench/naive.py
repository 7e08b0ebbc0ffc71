"""Reference tick loops, for comparison with the node's deadline ticker: what one would otherwise write.

`naive`: do the tick's work, then `time.sleep(1 / rate)`.
`thread`: a plain thread sleeping to each deadline `t0 + k / rate` (no asyncio, timer slack
reduced like the node does).

Both run the node's own tick (node.core.NodeCore.tick: the model, the counters, one JSON line
through node.eventlog), so the suite's log reader measures them exactly like the nodes. They
have no network: sends are accepted and go nowhere, so a tick here does less work than a node's
(the comparison favours them). `late_ms` is measured against the ideal deadline t0 + k / rate
in both, so the naive loop's drift shows as growing lateness. These loops are deliberately
naive; they are not the node's timing and never will be.

Run inside the node image (the suite mounts bench/ next to node/):
    python -m bench.naive --mode naive --rate 1000 --duration 30 --node node1 --out /out
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from node.channel import Channels
from node.config import DEFAULTS, load_config
from node.core import NodeCore
from node.eventlog import EventLog
from node.interfaces import Handle, TransportEvents
from node.linkrules import Connectedness
from node.realtime import StreamConsole, reduce_timer_slack
from node.ticker import tick_count

NODES = ("node1", "node2", "node3")


class _NoNetwork:
    """A transport with every peer 'connected' and nowhere to go: sends are accepted and vanish."""

    def __init__(self, peers: tuple[str, ...], events: TransportEvents) -> None:
        self.links = Connectedness(peers, events)
        for peer in peers:
            self.links.connected.add(peer)

    def start(self) -> None:
        pass

    def missing(self) -> dict[str, str]:
        return {}

    def send(self, peer: str, value: int) -> str | None:
        return None

    def acknowledge(self, peer: str) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def finish_sending(self) -> None:
        pass

    def still_sending(self) -> list[str]:
        return []

    def close(self) -> list[tuple[str, int]]:
        return []


class _Clock:
    """Only what a tick needs of a scheduler: the loops here do their own waiting."""

    def __init__(self) -> None:
        self.now = time.perf_counter
        self.wall = time.time

    def _unused(self, *_: object) -> Handle:
        raise NotImplementedError("the reference loops schedule nothing")

    @property
    def call_at(self) -> Callable[[float, Callable[[], None]], Handle]:
        return self._unused

    @property
    def call_soon(self) -> Callable[[Callable[[], None]], Handle]:
        return self._unused


def run_loop(mode: str, rate: int, duration: float, node_id: str, out: Path, seed: int = 1) -> int:
    peers = tuple(n for n in NODES if n != node_id) if node_id in NODES else ("a", "b")
    env = {
        "NODE_ID": node_id,
        "PEERS": ",".join(f"{p}:{DEFAULTS['PORT']}" for p in peers),
        "CLOCK_RATE": str(rate),
        "MAX_CLOCK_RATE": str(max(rate, int(DEFAULTS["MAX_CLOCK_RATE"]))),
        "DURATION": str(duration),
        "SEED": str(seed),
        "LOG_DIR": str(out.parent),
        "RUN_ID": out.name,
    }
    config = load_config(env)
    log = EventLog(out / f"{node_id}.jsonl", node_id)

    def transport(events: TransportEvents, channels: Channels) -> _NoNetwork:
        return _NoNetwork(config.peer_ids, events)

    core = NodeCore(
        config, out.name, seed, scheduler=_Clock(), transport=transport, log=log, console=StreamConsole(), on_exit=print
    )
    count = tick_count(rate, duration)
    assert count is not None
    core.log_start()
    period = 1.0 / rate
    perf = time.perf_counter

    def naive() -> None:
        t0 = perf()
        for index in range(count):
            core.tick(index, perf() - (t0 + index * period))
            time.sleep(period)

    def deadlines() -> None:
        reduce_timer_slack()
        t0 = perf()
        for index in range(count):
            deadline = t0 + index / rate
            wait = deadline - perf()
            if wait > 0:
                time.sleep(wait)
            core.tick(index, perf() - deadline)

    if mode == "naive":
        naive()
    else:
        worker = threading.Thread(target=deadlines, name="ticker")
        worker.start()
        worker.join()
    core.stop_reason = "duration"
    core.log_stop()
    log.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("naive", "thread"), required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--node", default="node1")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return run_loop(args.mode, args.rate, args.duration, args.node, args.out)


if __name__ == "__main__":
    sys.exit(main())

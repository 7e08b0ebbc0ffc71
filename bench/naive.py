"""Reference tick loops, for comparison with the node's asyncio deadline ticker.

`naive`: what one would otherwise write: do the tick's work, then `time.sleep(1 / rate)`.
`thread`: a plain thread sleeping to each deadline `t0 + k / rate` (no asyncio, timer slack
reduced like the node does).

Both do the node's per-tick work with the node's own code: `NodeModel.tick()` and one JSON line
through `EventLog` (python-json-logger, flushed per line), in the node's log format, so the
suite's log reader measures them exactly like the nodes. They have no network: sends are logged
but go nowhere, so a tick here does less work than a node's (the comparison favours them).
`late_ms` is measured against the ideal deadline t0 + k / rate in both, so the naive loop's
drift shows as growing lateness.

Run inside the node image (the suite mounts bench/ next to node/):
    python -m bench.naive --mode naive --rate 1000 --duration 30 --node node1 --out /out
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

from node.eventlog import EventLog
from node.model import NodeModel, Receive, Send, node_seed
from node.records import internal_fields, send_fields, start_fields, stop_fields
from node.ticker import reduce_timer_slack, tick_count

PEERS = {"node1": ("node2", "node3"), "node2": ("node1", "node3"), "node3": ("node1", "node2")}


def run_loop(mode: str, rate: int, duration: float, node_id: str, out: Path, seed: int = 1) -> int:
    peers = PEERS.get(node_id, ("a", "b"))
    rng = random.Random(node_seed(seed, node_id))
    model = NodeModel(peers, 10, rng)
    log = EventLog(out / f"{node_id}.jsonl", node_id)
    count = tick_count(rate, duration)
    assert count is not None
    counts = {"receive": 0, "send": 0, "internal": 0, "drop": 0, "skipped": 0}
    log.emit(
        "start",
        time.time(),
        0,
        0,
        start_fields(
            rate=rate,
            drawn_rate=rate,
            seed=seed,
            node_seed=node_seed(seed, node_id),
            resumed_clock=0,
            run_id=out.name,
            version=f"reference-{mode}",
            pid=0,
            config={"mode": mode, "rate": rate, "duration": duration},
        ),
    )
    period = 1.0 / rate
    perf = time.perf_counter

    def tick(index: int, late: float) -> None:
        ts = time.time()
        outcome = model.tick()
        late_ms = round(late * 1000, 3)
        if isinstance(outcome, Send):
            counts["send"] += 1
            fields = send_fields(index, late_ms, outcome.to, outcome.clock)
            log.emit("send", ts, outcome.clock, len(model.queue), fields)
        elif isinstance(outcome, Receive):  # no network: never happens
            counts["receive"] += 1
        else:
            counts["internal"] += 1
            log.emit("internal", ts, outcome.clock, len(model.queue), internal_fields(index, late_ms))

    def naive() -> None:
        t0 = perf()
        for index in range(count):
            tick(index, perf() - (t0 + index * period))
            time.sleep(period)

    def deadlines() -> None:
        reduce_timer_slack()
        t0 = perf()
        for index in range(count):
            deadline = t0 + index / rate
            wait = deadline - perf()
            if wait > 0:
                time.sleep(wait)
            tick(index, perf() - deadline)

    if mode == "naive":
        naive()
    else:
        worker = threading.Thread(target=deadlines, name="ticker")
        worker.start()
        worker.join()
    log.emit(
        "stop",
        time.time(),
        model.clock.value,
        0,
        stop_fields(reason="duration", queue_by_peer=dict.fromkeys(peers, 0), counts=counts, unfinished=[]),
    )
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

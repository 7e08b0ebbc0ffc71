"""In-process micro-benchmarks of a tick's parts, to explain the container figures.

    python -m bench.micro

Each figure is the mean over many iterations in this process (host Python, the repository's
node package), in microseconds: the stock logging path against the node's EventLog, what
flushing every line costs, the event loop's overhead per tick while catching up, what one
sleep/wake-up costs on this machine (the CPU a node spends just to wait for its next deadline),
and what an on-time ticker spends per tick at high rates, waking for each tick or for a group.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import resource
import select
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from node import realtime, ticker
from node.config import DEFAULTS
from node.eventlog import EventLog
from node.model import NodeModel, Send
from node.schema import INTERNAL, SEND, Event

Row = dict[str, Any]


PEERS = ("node2", "node3")


def _values(i: int) -> tuple[Any, ...]:
    """A send's own fields (node.schema.SEND): tick, late_ms, to, value."""
    return (i, 0.052, PEERS, i)


def _per_call(fn: Callable[[int], object], n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - started) / n * 1e6


def logging_rows(folder: Path, n: int) -> list[Row]:
    logger, handler = stock_logger(folder / "stock.jsonl")

    def stock(i: int) -> None:
        logger.info(SEND.record(time.time(), "node1", i, 0, _values(i)))

    log = EventLog(folder / "node.jsonl", "node1")
    encoder = json.JSONEncoder(ensure_ascii=False)
    sample = SEND.record(time.time(), "node1", 1, 0, _values(1))

    def node(i: int) -> None:
        log.write(SEND, time.time(), i, 0, _values(i))

    rows = [
        {"part": "stock logging path: Logger + FileHandler + JsonFormatter", "us": _per_call(stock, n)},
        {"part": "node's EventLog.write (python-json-logger, one write(2) per line)", "us": _per_call(node, n)},
        {
            "part": "  of which JSON encoding alone (stdlib C encoder)",
            "us": _per_call(lambda i: encoder.encode(sample), n),
        },
    ]
    logger.removeHandler(handler)
    handler.close()
    log.close()
    data = (json.dumps(sample) + "\n").encode()
    fd = os.open(folder / "raw.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    rows.append({"part": "write(2) of one line (the per-line flush)", "us": _per_call(lambda i: os.write(fd, data), n)})
    os.close(fd)
    with (folder / "buffered.bin").open("ab") as f:  # 8 KiB buffer: one write(2) per ~50 lines
        buffered = _per_call(lambda i: f.write(data), n)
    rows.append({"part": "buffered write of one line (no flush per line)", "us": buffered})
    return rows


def stock_logger(path: Path) -> tuple[logging.Logger, logging.Handler]:
    """The stock path, as the node logged before issue 7: a Logger, a FileHandler (text stream,
    flushed per record) and JsonFormatter with default settings apart from fmt and ensure_ascii,
    with the logging HOWTO's optimisations it had (no caller lookup, thread or process names)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logger = logging.getLogger(f"bench.micro.stock.{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter([], json_ensure_ascii=False))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler


def tick_rows(folder: Path, n: int) -> list[Row]:
    """A node's tick without its network (model + lateness + one line), saturated: how many per
    second one core can run, with catch-up batches of CATCH_UP_BATCH and of 1, and as the node
    did before issue 7 (stock logging path, one tick per loop iteration)."""
    rows = []
    log = EventLog(folder / "tick.jsonl", "node1")
    logger, handler = stock_logger(folder / "stock-tick.jsonl")
    model = NodeModel(PEERS, int(DEFAULTS["MAX_EVENT_NUM"]), random.Random(1))
    histogram = ticker.LatenessHistogram()

    def ticking(write: Callable[[Event, float, int, int, tuple[Any, ...]], None]) -> Callable[[int, float], None]:
        """A node's tick without its network, writing its line with `write`."""

        def tick(index: int, late: float) -> None:
            ts = time.time()
            outcome = model.tick()
            histogram.add(late)
            late_ms = round(late * 1000, 3)
            if isinstance(outcome, Send):
                write(SEND, ts, outcome.clock, 0, (index, late_ms, outcome.to, outcome.clock))
            else:
                write(INTERNAL, ts, outcome.clock, 0, (index, late_ms))

        return tick

    def stock_write(event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
        logger.info(event.record(ts, "node1", clock, queue, values))

    on_tick, stock_tick = ticking(log.write), ticking(stock_write)

    def saturated(tick: Callable[[int, float], None]) -> float:
        async def main() -> float:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            # A rate far above what one core runs: every tick is due, the ticker is always catching up.
            clock = ticker.DeadlineTicker(
                realtime.LoopScheduler(loop),
                10_000_000,
                tick,
                lambda *a: None,
                lambda: done.set_result(None),
                t0=loop.time(),
                count=n,
            )
            started = time.perf_counter()
            clock.start()
            await done
            return (time.perf_counter() - started) / n * 1e6

        with asyncio.Runner(loop_factory=realtime.new_event_loop) as runner:
            return runner.run(main())

    saved = ticker.STALL_SECONDS, ticker.CATCH_UP_BATCH
    try:
        ticker.STALL_SECONDS = 1e9  # never skip: this measures throughput, not stalls
        for batch in (ticker.CATCH_UP_BATCH, 1):
            ticker.CATCH_UP_BATCH = batch
            empty = saturated(lambda i, late: None)
            rows.append({"part": f"empty tick, saturated, catch-up batch {batch}: event loop overhead", "us": empty})
            full = saturated(on_tick)
            rows.append({"part": f"tick (model + lateness + one line), saturated, batch {batch}", "us": full})
        before = saturated(stock_tick)  # batch 1 still set
        rows.append({"part": "tick as before issue 7 (stock logging path, batch 1), saturated", "us": before})
    finally:
        ticker.STALL_SECONDS, ticker.CATCH_UP_BATCH = saved
        log.close()
        logger.removeHandler(handler)
        handler.close()
    return rows


def wake_rows(seconds: float = 1.0) -> list[Row]:
    """A select() with a 100 us / 1 ms timeout: wall time per call and CPU charged per call."""
    realtime.reduce_timer_slack()
    rows = []
    for timeout in (0.0001, 0.001):
        count = int(seconds / timeout)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        for _ in range(count):
            select.select([], [], [], timeout)
        wall = (time.perf_counter() - started) / count * 1e6
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / count * 1e6
        rows.append({"part": f"sleep/wake: select() of {timeout * 1e6:.0f} us: wall time per call", "us": wall})
        rows.append({"part": f"sleep/wake: select() of {timeout * 1e6:.0f} us: CPU charged per call", "us": cpu})
    return rows


def on_time_rows(seconds: float = 1.0) -> list[Row]:
    """An on-time ticker with empty ticks on the node's event loop at 10,000 and 20,000/s: the CPU
    per tick of waking up for every tick, and for a group of ticks per WAKE_INTERVAL (the node)."""
    realtime.reduce_timer_slack()
    rows = []
    for rate in (10_000, 20_000):
        for interval in (0.0, ticker.WAKE_INTERVAL):
            count = int(rate * seconds)

            async def main(rate: int = rate, interval: float = interval, count: int = count) -> None:
                loop = asyncio.get_running_loop()
                done: asyncio.Future[None] = loop.create_future()
                clock = ticker.DeadlineTicker(
                    realtime.LoopScheduler(loop),
                    rate,
                    lambda i, late: None,
                    lambda *a: None,
                    lambda: done.set_result(None),
                    t0=loop.time() + 0.01,
                    count=count,
                    wake_interval=interval,
                )
                clock.start()
                await done

            before = resource.getrusage(resource.RUSAGE_SELF)
            with asyncio.Runner(loop_factory=realtime.new_event_loop) as runner:
                runner.run(main())
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            group = ticker.wake_group(rate, interval)
            what = "a wake-up per tick" if group == 1 else f"a wake-up per {group} ticks (WAKE_INTERVAL)"
            rows.append({"part": f"on-time empty ticks at {rate}/s, {what}: CPU per tick", "us": cpu / count * 1e6})
    return rows


def run_micro(n: int = 100_000) -> list[Row]:
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    try:
        with tempfile.TemporaryDirectory(prefix="lamport-micro-") as tmp:
            folder = Path(tmp)
            rows = logging_rows(folder, n) + tick_rows(folder, n) + wake_rows() + on_time_rows()
    finally:
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved
    return [{"part": r["part"], "us": round(r["us"], 2)} for r in rows]


def main() -> int:
    for row in run_micro():
        print(f"{row['us']:9.2f} us  {row['part']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

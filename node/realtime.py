"""The node in real time: the core (node.core) on asyncio, sockets and a JSON-lines file.

`Node(config, run_dir, seed).run()` assembles one: an event loop whose timers fire within
microseconds (`new_event_loop`), the socket transport (node.network), the log (node.eventlog),
stdout/stderr, and signal handlers that only request a stop.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import random
import select
import selectors
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from node.channel import Channels
from node.clock import MAX_CLOCK
from node.config import CLOCK_BUDGET, NodeConfig
from node.core import NodeCore
from node.eventlog import EventLog
from node.interfaces import TransportEvents
from node.linkrules import unacked_limit
from node.model import node_seed
from node.network import Network
from node.ticker import WAKE_INTERVAL

_PR_SET_TIMERSLACK = 29


class PreciseSelector(selectors.EpollSelector):
    """epoll, for any number of descriptors, woken within microseconds of its timeout.

    epoll_wait takes its timeout in whole milliseconds, so the default loop wakes up to 1 ms
    after a deadline (measured p50 0.59 ms at 1000 ticks/s). select() takes microseconds
    (measured p50 0.10 ms), but cannot watch a descriptor above 1023: a flood of idle connections
    killed the node. So the waiting is done by select() on one descriptor, the epoll instance's
    own (readable when any socket it watches is), and epoll only says which ones are ready.

    Linux adds slack of 0.1% of the timeout to every wait (1 ms late on a 1 s wait; measured p50
    0.58 ms at 3 ticks/s), on top of the thread's timer slack. So a long wait is split: most of it
    first, then the last stretch, whose slack is a few microseconds. When select() says nothing is
    ready, epoll is not asked either.

    A wait shorter than node.ticker.WAKE_INTERVAL listens to no socket (`listens`): a frame that
    arrives meanwhile is read when the wait ends, at most that much later, instead of costing a
    wake-up of its own and a second sleep (a wake-up costs 20-40 us of CPU in this VM; at 20,000
    ticks/s a quarter of the loop's wake-ups were frames arriving; bench/findings.md section 9).
    """

    FINAL_STEP = 0.002  # seconds

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            return super().select(timeout)  # no deadline to keep: epoll alone
        if not listens(timeout):
            self._sleep(timeout)
            return super().select(0)
        deadline = time.monotonic() + timeout
        first = timeout - max(self.FINAL_STEP, timeout * 0.002)
        if not (first > 0 and self._wait(first)) and not self._wait(deadline - time.monotonic()):
            # The timeout passed with nothing ready (most wake-ups at high rates): no epoll_wait,
            # a system call less (4-6 us of CPU per wake-up here, bench/findings.md section 9).
            return []
        return super().select(0)

    @staticmethod
    def _sleep(seconds: float) -> None:
        """Sleep `seconds` (microsecond timeout), whatever becomes ready meanwhile (a signal's
        handler runs from the wakeup fd, read right after: at most WAKE_INTERVAL later)."""
        select.select([], [], [], seconds)

    def _wait(self, seconds: float) -> bool:
        """Whether any watched descriptor became ready within `seconds` (microsecond timeout)."""
        try:
            ready, _, _ = select.select([self.fileno()], [], [], max(0.0, seconds))
        except InterruptedError:
            return True  # a signal: let the loop look (its handlers run from the wakeup fd)
        return bool(ready)


def listens(timeout: float) -> bool:
    """Whether a wait of `timeout` seconds also watches the sockets (else it only sleeps)."""
    return timeout >= WAKE_INTERVAL


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers fire within microseconds, not milliseconds (PreciseSelector)."""
    return asyncio.SelectorEventLoop(PreciseSelector())


def reduce_timer_slack() -> bool:
    """Ask Linux to wake this thread within 1 ns of a timer rather than the default 50 us."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux: keep the default slack
        return False


class LoopScheduler:
    """node.interfaces.Scheduler on an asyncio loop: the loop's own methods, nothing in between."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = loop.time
        self.wall = time.time
        self.call_at = loop.call_at
        self.call_soon = loop.call_soon


class StreamConsole:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def say(self, text: str) -> None:
        print(text, file=self.out if self.out is not None else sys.stdout, flush=True)

    def error(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


class Node:
    """One node process: its log is opened (and read back, after a restart) at construction."""

    def __init__(
        self,
        config: NodeConfig,
        run_dir: Path,
        run_seed: int,
        *,
        out: TextIO | None = None,
        listen_host: str = "0.0.0.0",
        handle_signals: bool = True,
        early_stops: list[str] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.run_seed = run_seed
        self.log = EventLog(run_dir / f"{config.node_id}.jsonl", config.node_id, unacked_limit(config.max_queue))
        self.console = StreamConsole(out)
        self.listen_host = listen_host
        self.handle_signals = handle_signals
        self.early_stops = early_stops if early_stops is not None else []  # signals before run()
        self.core: NodeCore | None = None
        self.network: Network | None = None

    def _transport(self, events: TransportEvents, channels: Channels) -> Network:
        config = self.config
        self.network = Network(
            config.node_id,
            config.peers,
            config.port,
            events,
            channels=channels,
            host=self.listen_host,
            delay_ms=config.net_delay_ms,
            jitter_ms=config.net_jitter_ms,
            rng=random.Random(node_seed(self.run_seed, f"{config.node_id}/net")),
            # No honest clock passes the budget that node.config checks a run against.
            max_value=CLOCK_BUDGET if config.duration > 0 else MAX_CLOCK,
        )
        return self.network

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[int] = loop.create_future()

        def on_exit(code: int) -> None:
            if not exited.done():
                exited.set_result(code)

        self.core = NodeCore(
            self.config,
            self.run_dir.name,
            self.run_seed,
            scheduler=LoopScheduler(loop),
            transport=self._transport,
            log=self.log,
            console=self.console,
            on_exit=on_exit,
            pid=os.getpid(),
        )
        if self.handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.core.request_stop, f"signal {sig.name}")
        for reason in self.early_stops:  # it still starts and stops: its log says so
            self.core.request_stop(reason)
        self.core.start()
        code = await exited
        await asyncio.sleep(0)  # let closed transports run their callbacks
        return code

    def request_stop(self, reason: str) -> None:
        if self.core is not None:
            self.core.request_stop(reason)

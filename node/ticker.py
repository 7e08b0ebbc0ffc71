"""The machine's clock: ticks on deadlines t0 + k/rate on the asyncio loop, and how late they run.

Deadlines never drift: a tick that runs late does not push the next one back, so the achieved
rate equals the configured rate over any run longer than a few ticks. A short delay is caught
up (the late ticks run back to back, in batches of up to `CATCH_UP_BATCH` with I/O let in
between); a stall longer than `STALL_SECONDS` (a paused container, a suspended laptop) skips
the missed ticks and reports them instead of replaying seconds of ticks in a burst the model
machine could never have run.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import selectors
import time
from collections.abc import Callable

STALL_SECONDS = 1.0
# A node behind its deadlines runs up to this many due ticks back to back before the event loop
# reads its sockets again. One tick per loop iteration costs 3-4 us of loop overhead per tick
# (a zero-timeout select(), a handle, the ready queue): near the throughput ceiling, where a node
# is often catching up, batches of 8 cut the CPU per tick by a fifth (bench/findings.md). A batch
# holds incoming frames back by at most 8 ticks' work (about 0.1 ms); on time, ticks run one by one.
CATCH_UP_BATCH = 8
_PR_SET_TIMERSLACK = 29


class PreciseSelector(selectors.SelectSelector):
    """select() that wakes within microseconds of its timeout, however long the timeout.

    Linux adds slack of 0.1% of the timeout to every select/poll/epoll wait (1 ms late on a 1 s
    wait; measured p50 0.58 ms at 3 ticks/s), on top of the thread's timer slack. So a long wait
    is split: most of it first, then the last stretch, whose slack is a few microseconds.
    """

    FINAL_STEP = 0.002  # seconds

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= self.FINAL_STEP:
            return super().select(timeout)
        deadline = time.monotonic() + timeout
        ready = super().select(timeout - max(self.FINAL_STEP, timeout * 0.002))
        if ready:
            return ready
        return super().select(max(0.0, deadline - time.monotonic()))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers fire within microseconds, not milliseconds.

    epoll_wait takes its timeout in whole milliseconds, so the default loop wakes up to 1 ms
    after a deadline (measured p50 0.59 ms at 1000 ticks/s). select() takes microseconds
    (measured p50 0.10 ms). A node has a handful of sockets, far below select's FD_SETSIZE.
    """
    return asyncio.SelectorEventLoop(PreciseSelector())


def reduce_timer_slack() -> bool:
    """Ask Linux to wake this thread within 1 ns of a timer rather than the default 50 us."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux: keep the default slack
        return False


def tick_count(rate: int, duration: float) -> int | None:
    """How many ticks fit in `duration` seconds at `rate`; None for an endless run."""
    if duration <= 0:
        return None
    return max(1, math.ceil(rate * duration - 1e-9))


class LatenessHistogram:
    """Tick lateness in 10-microsecond buckets: O(1) per tick, percentiles on demand."""

    BUCKET_US = 10
    BUCKETS = 10_000  # up to 100 ms; later ticks land in the last bucket (max is kept exactly)

    __slots__ = ("counts", "total", "max_s")

    def __init__(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.total = 0
        self.max_s = 0.0

    def add(self, late_s: float) -> None:
        bucket = int(late_s * 100_000) if late_s > 0 else 0
        self.counts[bucket if bucket < self.BUCKETS else self.BUCKETS - 1] += 1
        self.total += 1
        self.max_s = max(self.max_s, late_s)

    def percentile_ms(self, q: float) -> float:
        """Upper edge of the bucket holding the q-quantile, in milliseconds (0 when empty)."""
        if self.total == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return round(min((bucket + 1) * self.BUCKET_US / 1000, self.max_s * 1000), 3)
        return round(self.max_s * 1000, 3)


class DeadlineTicker:
    """Calls `on_tick(index, late_seconds)` at t0 + index/rate until `count` ticks have run.

    `on_stall(first_skipped, skipped, late_seconds)` reports ticks skipped after a stall.
    `done` resolves when the last tick's period ends or `stop()` is called.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rate: int,
        on_tick: Callable[[int, float], None],
        on_stall: Callable[[int, int, float], None],
        *,
        t0: float,
        count: int | None,
    ) -> None:
        self.loop = loop
        self.rate = rate
        self.t0 = t0
        self.count = count
        self.index = 0  # the next tick to run
        self._on_tick = on_tick
        self._on_stall = on_stall
        self._handle: asyncio.Handle | None = None
        self.done: asyncio.Future[None] = loop.create_future()

    def deadline(self, index: int) -> float:
        return self.t0 + index / self.rate

    def start(self) -> None:
        self._handle = self.loop.call_at(self.t0, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.done.done():
            self.done.set_result(None)

    def _fire(self) -> None:
        loop = self.loop
        for _ in range(CATCH_UP_BATCH):
            index = self.index
            late = loop.time() - self.t0 - index / self.rate
            if late > STALL_SECONDS:
                resume = int((loop.time() - self.t0) * self.rate)
                if self.count is not None:
                    resume = min(resume, self.count)
                self._on_stall(index, resume - index, late)
                index = self.index = resume
                late = loop.time() - self.t0 - index / self.rate
                if self.count is not None and index >= self.count:
                    self._finish()
                    return
            self.index = index + 1
            self._on_tick(index, late)
            if self.done.done():  # on_tick may have stopped us
                return
            deadline = self.t0 + self.index / self.rate
            if self.count is not None and self.index >= self.count:
                self._handle = loop.call_at(deadline, self._finish)
                return
            if deadline > loop.time():
                self._handle = loop.call_at(deadline, self._fire)
                return
        # Still behind after a batch: let I/O in (a zero-timeout select), then go on catching up.
        self._handle = loop.call_soon(self._fire)

    def _finish(self) -> None:
        self._handle = None
        if not self.done.done():
            self.done.set_result(None)

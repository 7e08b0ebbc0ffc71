"""Ticks on deadlines: tick k starts at t0 + k/rate, whatever the previous tick cost. Any Scheduler.

A late tick never pushes later ones back, so over a run the achieved rate equals the configured
rate (the naive `sleep(1/rate)` after each tick's work loses that work's time on every tick). A
stall longer than `STALL_SECONDS` (a paused container, a suspended laptop, a paused node in the
simulator) skips the missed ticks and reports them instead of replaying seconds of ticks in a
burst the model machine could never have run. The same code runs on asyncio's loop (real time)
and on the simulator's event heap (virtual time, where ticks are never late unless paused).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from node.interfaces import Handle, Scheduler

STALL_SECONDS = 1.0
# A node behind its deadlines runs up to this many due ticks back to back before the event loop
# reads its sockets again. One tick per loop iteration costs 3-4 us of loop overhead per tick
# (a zero-timeout select(), a handle, the ready queue): near the throughput ceiling, where a node
# is often catching up, batches of 8 cut the CPU per tick by a fifth (bench/findings.md). A batch
# holds incoming frames back by at most 8 ticks' work (about 0.1 ms); on time, ticks run one by one.
CATCH_UP_BATCH = 8
# In real time a wake-up is not free: in this Firecracker guest a sleep and its wake-up cost
# 20-40 us of CPU (bench/findings.md section 9), more than a tick's work. At high rates an on-time ticker
# therefore sleeps at most once per WAKE_INTERVAL: it wakes at the deadline of the last tick of a
# group and runs the whole group, every tick of it due (never early). At 10,000 ticks/s that is
# a wake-up per 2 ticks, at 20,000/s per 4; at 5,000/s and below nothing changes. The price:
# the group's earlier ticks run up to one interval late (0.1 ms at 10,000/s).
WAKE_INTERVAL = 0.0002


def ms(seconds: float) -> float:
    """Seconds as milliseconds to the microsecond, for the log: 5x cheaper than round(x, 3) on
    the tick path, and never -0.0 (virtual time's float noise around 0)."""
    return int(seconds * 1_000_000 + 0.5) / 1000


def tick_count(rate: int, duration: float) -> int | None:
    """How many ticks fit in `duration` seconds at `rate`; None for an endless run."""
    if duration <= 0:
        return None
    return max(1, math.ceil(rate * duration - 1e-9))


def wake_group(rate: int, interval: float) -> int:
    """How many ticks an on-time ticker runs per wake-up: the periods that fit in `interval`, at
    least one (`interval` 0: one wake-up per tick, as in virtual time, where waking costs nothing)."""
    return max(1, int(rate * interval + 1e-9))


class LatenessHistogram:
    """Tick lateness in 10-microsecond buckets: O(1) per tick, percentiles on demand.

    A streaming approximation for the live status line and `stats` log lines only: a percentile
    here is the upper edge of the bucket that holds it. Every reported figure (summary.json,
    BENCHMARKS.md) is computed from the logged `late_ms` values with analysis.stats instead.
    """

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

    `on_stall(first_skipped, skipped, late_seconds)` reports ticks skipped after a stall;
    `on_done()` is called once, when the last tick's period ends or `stop()` is called.
    `wake_interval`: sleep at most once per this many seconds (node.ticker.wake_group).
    """

    __slots__ = (
        "scheduler", "rate", "t0", "count", "_last", "index", "finished", "lateness", "_on_tick", "_on_stall",
        "_on_done", "_handle", "_fire_cb", "_finish_cb", "_now", "_call_at", "group",
    )  # fmt: skip

    def __init__(
        self,
        scheduler: Scheduler,
        rate: int,
        on_tick: Callable[[int, float], None],
        on_stall: Callable[[int, int, float], None],
        on_done: Callable[[], None],
        *,
        t0: float,
        count: int | None,
        wake_interval: float = 0.0,
    ) -> None:
        self.scheduler = scheduler
        self.rate = rate
        self.t0 = t0
        self.count = count
        self._last = count if count is not None else math.inf  # no tick at or past this index
        self.group = wake_group(rate, wake_interval)  # ticks per wake-up when on time
        self.index = 0  # the next tick to run
        self.finished = False
        self.lateness = LatenessHistogram()  # of the ticks since the last status line (the owner resets it)
        self._on_tick = on_tick
        self._on_stall = on_stall
        self._on_done = on_done
        self._handle: Handle | None = None
        self._fire_cb = self._fire  # bound once: rescheduled on every tick
        self._finish_cb = self._finish
        self._now = scheduler.now
        self._call_at = scheduler.call_at

    def deadline(self, index: int) -> float:
        return self.t0 + index / self.rate

    def wake_index(self, index: int) -> int:
        """The tick at whose deadline to wake when tick `index` is the next and not yet due: the
        last of its group (never past the last tick), so that every tick of the group is due."""
        return int(min(index + self.group - 1, self._last - 1))

    def start(self) -> None:
        self._handle = self.scheduler.call_at(self.t0, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._finish()

    def _fire(self) -> None:
        now = self._now
        call_at = self._call_at
        batch = CATCH_UP_BATCH
        while batch:
            batch -= 1
            index = self.index
            late = now() - self.t0 - index / self.rate
            if late > STALL_SECONDS:
                resume = int((now() - self.t0) * self.rate)
                if self.count is not None:
                    resume = min(resume, self.count)
                self._on_stall(index, resume - index, late)
                index = self.index = resume
                late = now() - self.t0 - index / self.rate
                if self.count is not None and index >= self.count:
                    self._finish()
                    return
            self.index = index = index + 1
            # LatenessHistogram.add, inlined: a call costs 6% of a simulated tick (measured with
            # callgrind); tests/unit/test_ticker.py checks that both count alike.
            lateness = self.lateness
            lateness.counts[int(late * 100_000) if 0 < late < 0.1 else (0 if late <= 0 else 9_999)] += 1
            lateness.total += 1
            if late > lateness.max_s:  # noqa: PLR1730 - no call to max() here either
                lateness.max_s = late
            self._on_tick(index - 1, late)
            if self.finished:  # on_tick may have stopped us
                return
            deadline = self.t0 + index / self.rate
            if index >= self._last:
                self._handle = call_at(deadline, self._finish_cb)
                return
            if deadline > now():
                if self.group > 1:
                    deadline = self.t0 + self.wake_index(index) / self.rate
                self._handle = call_at(deadline, self._fire_cb)
                return
        # Still behind after a batch: let I/O in (a zero-timeout select), then go on catching up.
        self._handle = self.scheduler.call_soon(self._fire)

    def _finish(self) -> None:
        self._handle = None
        if not self.finished:
            self.finished = True
            self._on_done()

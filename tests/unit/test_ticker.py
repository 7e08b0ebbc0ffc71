"""The deadline ticker: exact tick counts, no drift, catch-up after delays, skip after stalls."""

import asyncio
import heapq
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from node.realtime import LoopScheduler, new_event_loop
from node.ticker import (
    CATCH_UP_BATCH,
    STALL_SECONDS,
    WAKE_INTERVAL,
    DeadlineTicker,
    LatenessHistogram,
    ms,
    tick_count,
    wake_group,
)
from node.virtual import EventHeap, Machine, NodeTime

T = TypeVar("T")


def run(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro_factory())


def ticker_on(
    loop: asyncio.AbstractEventLoop,
    rate: int,
    on_tick: Callable[[int, float], None],
    on_stall: Callable[[int, int, float], None],
    count: int | None,
) -> tuple[DeadlineTicker, asyncio.Future[None]]:
    """A ticker on the real event loop, and a future that resolves when it is done."""
    done: asyncio.Future[None] = loop.create_future()
    ticker = DeadlineTicker(
        LoopScheduler(loop), rate, on_tick, on_stall, lambda: done.set_result(None), t0=loop.time(), count=count
    )
    return ticker, done


@pytest.mark.parametrize(("rate", "duration", "count"), [(1, 60, 60), (6, 60, 360), (3, 0.5, 2), (7, 1.0, 7)])
def test_tick_count(rate: int, duration: float, count: int) -> None:
    assert tick_count(rate, duration) == count
    assert tick_count(rate, 0) is None


def test_ticks_on_the_real_loop_are_never_early() -> None:
    """200 ticks at 200/s on the real event loop: all of them, none before its deadline, the run
    not shorter than 199 periods. (How late they are depends on the machine's load: that is
    measured by `python -m bench`, not asserted here; drift is checked in virtual time below.)"""
    lateness: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        ticker, done = ticker_on(loop, 200, lambda i, late: lateness.append(late), lambda *a: None, 200)
        ticker.start()
        started = loop.time()
        await done
        return loop.time() - started

    elapsed = run(main)
    assert len(lateness) == 200
    assert min(lateness) >= 0
    assert elapsed >= 199 / 200


class BusyClock:
    """A Scheduler whose time moves only when a timer fires or a tick "works" (deterministic)."""

    def __init__(self) -> None:
        self.time = 0.0
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return self.time

    def call_at(self, when: float, fn: Callable[[], None]) -> Any:
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, fn))
        return None

    def call_soon(self, fn: Callable[[], None]) -> Any:
        return self.call_at(self.time, fn)

    def run(self) -> None:
        while self.timers:
            when, _, fn = heapq.heappop(self.timers)
            self.time = max(self.time, when)
            fn()


def test_slow_tick_work_does_not_push_later_deadlines() -> None:
    """Work of 3 ms per tick at 100/s (period 10 ms), in virtual time: tick k still starts at
    k/100 s and the run ends at 1.0 s (sleeping a period after the work would end at 1.3 s)."""
    clock = BusyClock()
    starts: list[float] = []
    ended: list[float] = []

    def busy(index: int, late: float) -> None:
        starts.append(clock.time)
        clock.time += 0.003

    ticker = DeadlineTicker(clock, 100, busy, lambda *a: None, lambda: ended.append(clock.time), t0=0.0, count=100)
    ticker.start()
    clock.run()
    assert starts == pytest.approx([k / 100 for k in range(100)], abs=1e-12)
    assert ended == pytest.approx([1.0], abs=1e-12)


def test_catching_up_lets_io_in_between_batches() -> None:
    """Behind its deadlines, the ticker runs due ticks in batches of CATCH_UP_BATCH, never more,
    and other callbacks (socket reads) run between batches."""
    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def tick(index: int, late: float) -> None:
            order.append("t")
            if index == 0:
                time.sleep(0.2)  # 200 ticks behind at 1000/s

        def other() -> None:  # stands in for the selector's socket callbacks
            order.append("io")
            if not ticker.finished:
                loop.call_soon(other)

        ticker, done = ticker_on(loop, 1000, tick, lambda *a: None, 400)
        ticker.start()
        loop.call_soon(other)
        await done

    run(main)
    runs = [len(chunk) for chunk in "".join("t" if o == "t" else "|" for o in order).split("|") if chunk]
    assert sum(runs) == 400
    assert max(runs) == CATCH_UP_BATCH  # caught up in full batches, I/O in between
    # (How soon it is back to one tick per wake-up depends on the machine's load: not asserted.)


def test_stall_skips_missed_ticks_and_reports_them() -> None:
    ticks: list[int] = []
    stalls: list[tuple[int, int, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ticker, _ = ticker_on(
            loop,
            50,
            lambda i, late: ticks.append(i),
            lambda first, skipped, late: stalls.append((first, skipped, late)),
            None,
        )
        ticker.start()
        await asyncio.sleep(0.1)
        time.sleep(STALL_SECONDS + 0.3)  # freeze the loop, as a paused container would be
        await asyncio.sleep(0.1)
        ticker.stop()

    run(main)
    assert len(stalls) == 1
    first, skipped, late = stalls[0]
    assert late > STALL_SECONDS
    assert skipped == pytest.approx(50 * (STALL_SECONDS + 0.3), abs=5)
    after = [t for t in ticks if t > first]
    assert after
    assert after[0] >= first + skipped
    assert len(ticks) + skipped == pytest.approx(ticks[-1] + 1, abs=1)


def test_stop_ends_an_endless_ticker() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        ticker, done = ticker_on(loop, 1000, lambda i, late: seen.append(i), lambda *a: None, None)
        ticker.start()
        loop.call_later(0.05, ticker.stop)
        await done
        return len(seen)

    assert 20 < run(main) < 80


def test_lateness_histogram_percentiles() -> None:
    histogram = LatenessHistogram()
    for us in range(1, 101):  # 1..100 microseconds
        histogram.add(us / 1e6)
    histogram.add(0.5)  # one 500 ms outlier beyond the last bucket
    assert histogram.total == 101
    assert histogram.percentile_ms(0.5) == pytest.approx(0.06)  # bucket edge above the 51st value
    assert histogram.percentile_ms(0.99) == pytest.approx(0.11)  # 100 us lies in bucket [100, 110)
    assert histogram.max_s == 0.5
    assert histogram.percentile_ms(1.0) == pytest.approx(100.0)  # last bucket, capped by the max
    assert LatenessHistogram().percentile_ms(0.5) == 0


def test_in_virtual_time_a_paused_machine_stalls_exactly_like_a_frozen_loop() -> None:
    """The same ticker on the simulator's heap: on time to the tick, and a 2.5 s pause of its
    machine skips exactly the ticks it missed (node.virtual defers a paused machine's calls)."""
    heap = EventHeap()
    machine = Machine()
    ticks: list[tuple[int, float]] = []
    stalls: list[tuple[int, int, float]] = []
    done: list[bool] = []
    clock = NodeTime(heap, machine, 1)
    ticker = DeadlineTicker(
        clock,
        10,
        lambda i, late: ticks.append((i, late)),
        lambda first, skipped, late: stalls.append((first, skipped, late)),
        lambda: done.append(True),
        t0=0.0,
        count=100,
    )
    ticker.start()
    heap.at(3.05, lambda: setattr(machine, "frozen_until", 5.55))  # paused from 3.05 s to 5.55 s
    heap.run(until=60)
    assert done == [True]
    assert [(first, skipped) for first, skipped, _ in stalls] == [(31, 24)]  # tick 31 was due at 3.1 s, 55 by 5.55 s
    assert stalls[0][2] == pytest.approx(2.45)
    indices = [i for i, _ in ticks]
    assert indices == [*range(31), *range(55, 100)]
    assert all(abs(late) < 1e-9 for i, late in ticks if i != 55)
    assert ms(ticks[31][1]) == 50.0  # the first tick after the pause ran 50 ms after its deadline (5.5 s)


def test_the_tickers_inlined_histogram_counts_like_the_histogram() -> None:
    """DeadlineTicker records lateness inline (a call per tick costs); it must count as add() does."""
    lates = [-1e-12, 0.0, 3e-6, 1e-5, 0.0123, 0.09999, 0.1, 0.5, 0.99]
    seen: list[float] = []  # the lateness each tick was given, as the ticker computed it
    heap = EventHeap()
    clock = NodeTime(heap, Machine(), 1)
    ticker = DeadlineTicker(
        clock, 1, lambda i, late: seen.append(late), lambda *a: None, lambda: None, t0=0.0, count=99
    )
    for index, late in enumerate(lates):
        heap.now = index + late  # each tick runs `late` after its deadline
        ticker._fire()
    reference = LatenessHistogram()
    for late in seen:
        reference.add(late)
    assert len(seen) == len(lates)
    assert ticker.lateness.counts == reference.counts
    assert (ticker.lateness.total, ticker.lateness.max_s) == (reference.total, reference.max_s)


@pytest.mark.parametrize(
    ("rate", "interval", "group"),
    [
        (10000, 0.0002, 2),
        (20000, 0.0002, 4),
        (15000, 0.0002, 3),
        (5000, 0.0002, 1),
        (7000, 0.0002, 1),
        (6, 0.0002, 1),
        (10000, 0.0, 1),  # no interval: one tick per wake-up, whatever the rate
        (1_000_000, 0.0, 1),
    ],
)
def test_wake_group_is_the_periods_that_fit_in_the_interval(rate: int, interval: float, group: int) -> None:
    assert wake_group(rate, interval) == group


def test_at_high_rates_one_wake_up_runs_a_group_of_due_ticks_never_an_early_one() -> None:
    """10,000/s with WAKE_INTERVAL: the ticker sleeps to the deadline of every second tick and runs
    two, the first 0.1 ms late, none early; the last tick is woken at its own deadline (never past
    the end), and the run ends at 10 periods as before."""
    clock = BusyClock()
    wakes: list[float] = []
    call_at = clock.call_at

    def recording_call_at(when: float, fn: Callable[[], None]) -> Any:
        wakes.append(when)
        return call_at(when, fn)

    clock.call_at = recording_call_at  # type: ignore[method-assign]
    lates: list[float] = []
    ended: list[float] = []
    ticker = DeadlineTicker(
        clock,
        10_000,
        lambda i, late: lates.append(late),
        lambda *a: None,
        lambda: ended.append(clock.time),
        t0=0.0,
        count=10,
        wake_interval=WAKE_INTERVAL,
    )
    ticker.start()
    clock.run()
    assert min(lates) >= 0
    assert [round(late * 1e6) for late in lates] == [0, 100, 0, 100, 0, 100, 0, 100, 0, 0]
    assert [round(w * 1e4) for w in wakes] == [0, 2, 4, 6, 8, 9, 10]  # in periods: start, 4 groups, tick 9, end
    assert ended == pytest.approx([0.001], abs=1e-12)


def test_without_a_wake_interval_every_tick_has_its_own_wake_up() -> None:
    """Virtual time (and rates at or below 1 / WAKE_INTERVAL): one wake-up per tick, none late."""
    clock = BusyClock()
    lates: list[float] = []
    ticker = DeadlineTicker(
        clock, 10_000, lambda i, late: lates.append(late), lambda *a: None, lambda: None, t0=0.0, count=10
    )
    ticker.start()
    clock.run()
    assert lates == [0.0] * 10

"""Virtual time: one event heap for the whole simulated cluster, and each node's view of it.

The heap orders callbacks by (time, rank, order of scheduling). Rank 0 is the network
(deliveries), rank 1 + i is node i's own timers: so at one instant deliveries come first, then
nodes in id order, then what each scheduled first. Each node's callbacks belong to its current
`Machine`: a killed machine's callbacks never run, and a paused machine's wait until it resumes
(in their order), which is what `docker kill` and `docker pause` do to a process.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class SimulationError(RuntimeError):
    """The simulated cluster did not end (a bug: in virtual time nothing may hang)."""


# Callbacks between two checks that virtual time still advances: that many at one instant is a
# livelock (callbacks scheduling each other at the same time forever), which would never reach
# the time limit. A power of two, so that the check costs one test per callback. A big cluster
# does more at one instant legitimately (1,000 nodes dial 999,000 links at once): `same_instant`.
LIVELOCK_CHECK = 1 << 18


class Machine:
    """One incarnation of a node's process: alive until killed, frozen while paused."""

    __slots__ = ("alive", "frozen_until")

    def __init__(self) -> None:
        self.alive = True
        self.frozen_until = 0.0

    def frozen(self, now: float) -> bool:
        return self.frozen_until > now


_WHEN, _CALLBACK, _MACHINE = 0, 3, 4


class VirtualHandle(list):  # type: ignore[type-arg]
    """A heap entry and its own handle: [when, rank, order, callback, machine]. Lists compare
    item by item and `order` is unique, so the heap never compares callbacks; one object per
    scheduled call instead of a tuple plus a handle (the simulator schedules one per tick)."""

    __slots__ = ()

    def cancel(self) -> None:
        self[_CALLBACK] = None


class EventHeap:
    def __init__(self, epoch: float = 0.0, same_instant: int = LIVELOCK_CHECK) -> None:
        """`same_instant`: callbacks at one instant past which it is a livelock (rounded up to a power of two)."""
        self.now = 0.0
        self.epoch = epoch
        self.livelock = 1 << max(0, same_instant - 1).bit_length()
        self._heap: list[VirtualHandle] = []
        self._order = itertools.count()

    def at(
        self, when: float, callback: Callable[[], None], rank: int = 0, machine: Machine | None = None
    ) -> VirtualHandle:
        handle = VirtualHandle((when if when > self.now else self.now, rank, next(self._order), callback, machine))
        heapq.heappush(self._heap, handle)
        return handle

    def run(self, until: float) -> None:
        """Run every callback in order; raise SimulationError if any is still due after `until`,
        or if virtual time stops advancing (a livelock)."""
        heap = self._heap
        pop, push = heapq.heappop, heapq.heappush
        count, checked_at, mask = 0, -1.0, self.livelock - 1
        while heap:
            entry = pop(heap)
            when, _, _, callback, machine = entry
            if callback is None:  # cancelled
                continue
            if machine is not None:
                if not machine.alive:
                    continue
                if machine.frozen_until > when:  # paused: runs when it resumes, in the same order
                    entry[_WHEN] = machine.frozen_until
                    push(heap, entry)
                    continue
            if when > until:
                raise SimulationError(f"still running at {when:.3f} s of virtual time (limit {until:.3f} s)")
            self.now = when
            count += 1
            if not count & mask:
                if when == checked_at:
                    at = f"{when:.6f} s of virtual time"
                    raise SimulationError(f"livelock: {self.livelock:,} callbacks at {at}, which no longer advances")
                checked_at = when
            callback()


class NodeTime:
    """node.interfaces.Scheduler for one node's machine on the shared heap."""

    def __init__(self, heap: EventHeap, machine: Machine, rank: int) -> None:
        self.machine = machine
        self.heap = heap
        order, queue, push = heap._order, heap._heap, heapq.heappush  # the tick path: no extra calls

        def now() -> float:
            return heap.now

        def wall() -> float:
            return heap.epoch + heap.now

        def call_at(when: float, callback: Callable[[], None]) -> VirtualHandle:
            handle = VirtualHandle((when if when > heap.now else heap.now, rank, next(order), callback, machine))
            push(queue, handle)
            return handle

        def call_soon(callback: Callable[[], None]) -> VirtualHandle:
            handle = VirtualHandle((heap.now, rank, next(order), callback, machine))
            push(queue, handle)
            return handle

        self.now = now
        self.wall = wall
        self.call_at = call_at
        self.call_soon = call_soon

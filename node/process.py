"""Run a node's life, written as a generator, on any Scheduler (the SimPy idea, in a page).

The story yields `Wait(condition, timeout)` and is resumed with True once `condition()` holds
(checked whenever `wake()` is called) or with False when `timeout` seconds pass first. So the
lifecycle reads top to bottom like a coroutine, yet runs unchanged on asyncio's loop and on the
simulator's event heap: the only things it needs are `call_at`, `call_soon` and `now`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from node.interfaces import Handle, Scheduler


@dataclass(frozen=True)
class Wait:
    until: Callable[[], bool]
    timeout: float | None = None  # seconds; None waits as long as it takes


Story = Generator[Wait, bool, None]


class Process:
    def __init__(self, scheduler: Scheduler, story: Story, on_crash: Callable[[BaseException], None]) -> None:
        self._scheduler = scheduler
        self._story = story
        self._on_crash = on_crash
        self._waiting: Wait | None = None
        self._timer: Handle | None = None
        self._check: Handle | None = None  # a wake-up already scheduled
        self.done = False

    def start(self) -> None:
        self._advance(lambda: next(self._story))

    def wake(self) -> None:
        """Something changed: check the condition being waited for (soon, never re-entrantly)."""
        if self._waiting is not None and self._check is None:
            self._check = self._scheduler.call_soon(self._recheck)

    def _recheck(self) -> None:
        self._check = None
        if self._waiting is not None and self._waiting.until():
            self._resume(True)

    def _timed_out(self) -> None:
        self._timer = None
        if self._waiting is not None:  # what came true at the same instant still counts
            self._resume(self._waiting.until())

    def _resume(self, value: bool) -> None:
        for handle in (self._timer, self._check):
            if handle is not None:
                handle.cancel()
        self._timer = self._check = None
        self._waiting = None
        self._advance(self._send_true if value else self._send_false)

    def _send_true(self) -> Wait:
        return self._story.send(True)

    def _send_false(self) -> Wait:
        return self._story.send(False)

    def _advance(self, step: Callable[[], Wait]) -> None:
        while True:
            try:
                wait = step()
            except StopIteration:
                self.done = True
                return
            except Exception as error:  # a bug in the story: end loudly, never hang
                self.done = True
                self._on_crash(error)
                return
            if not wait.until():
                break
            step = self._send_true
        self._waiting = wait
        if wait.timeout is not None:
            self._timer = self._scheduler.call_at(self._scheduler.now() + wait.timeout, self._timed_out)

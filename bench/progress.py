"""The suite's progress on the terminal: one line per step, with its estimate and the suite's ETA."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Progress:
    """One line per step: which, how long it should take, how long the suite has left."""

    estimates: list[tuple[str, float]]
    started: float = field(default_factory=time.monotonic)
    done_estimate: float = 0.0
    index: int = 0

    def step(self, name: str) -> None:
        self.index += 1
        elapsed = time.monotonic() - self.started
        remaining = sum(e for _, e in self.estimates[self.index - 1 :])
        # How the finished steps compared with their estimates, once there is enough to judge by.
        pace = min(max(elapsed / self.done_estimate, 0.8), 1.5) if self.done_estimate > 120 else 1.0
        eta = remaining * pace
        finish = (dt.datetime.now() + dt.timedelta(seconds=eta)).strftime("%H:%M")
        print(
            f"[{self.index:2d}/{len(self.estimates)}] {clock(elapsed)} {name}  "
            f"(about {clock(self.estimates[self.index - 1][1])}; ETA {clock(eta)} left, done ~{finish})",
            flush=True,
        )

    def finished(self) -> None:
        self.done_estimate += self.estimates[self.index - 1][1]

    def run(self, name: str, action: Callable[[], T]) -> T:
        """The next step: announce it, run it, count its estimate as done."""
        self.step(name)
        value = action()
        self.finished()
        return value

    def skip(self) -> None:
        """A planned step that will not run (the ceiling search ended early)."""
        self.estimates.pop(self.index)


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


def say(text: str) -> None:
    print(f"        {text}", flush=True)

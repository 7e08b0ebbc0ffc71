"""The suite's progress on the terminal: one line per step, with its estimate and the suite's ETA, and
one per part of a long step (the many-nodes runs), with the ETA from there."""

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
        estimate = self.estimates[self.index - 1][1]
        total = len(self.estimates)
        print(
            f"[{self.index:{len(str(total))}d}/{total}] {clock(elapsed)} {name}  "
            f"(about {clock(estimate)}; {self.eta(estimate)})",
            flush=True,
        )

    def part(self, name: str, left: float) -> None:
        """A line inside the current step as one of its parts starts (e.g. 'run 2/8: ...'), with
        `left` s of the step's estimate still to go, this part included."""
        say(f"{name}  ({self.eta(left)})")

    def eta(self, left: float) -> str:
        """'ETA m:ss left, done ~HH:MM' with `left` s of the current step to go, then the later steps."""
        elapsed = time.monotonic() - self.started
        # How the work done so far (finished steps, and this step's parts before `left`) compared
        # with its estimates, once there is enough to judge by.
        done = self.done_estimate + max(self.estimates[self.index - 1][1] - left, 0.0)
        pace = min(max(elapsed / done, 0.8), 1.5) if done > 120 else 1.0
        eta = (left + sum(e for _, e in self.estimates[self.index :])) * pace
        finish = (dt.datetime.now() + dt.timedelta(seconds=eta)).strftime("%H:%M")
        return f"ETA {clock(eta)} left, done ~{finish}"

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

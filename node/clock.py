"""The Lamport logical clock: the two update rules and nothing else. Pure."""

from __future__ import annotations

MAX_CLOCK = 2**32 - 1  # clock values travel as unsigned 32-bit frames


class ClockOverflowError(OverflowError):
    """The clock would exceed what a 4-byte frame can carry."""


class LamportClock:
    """A counter that only moves forward.

    `local_event` is rule IR1 (every local event, including a send, advances the clock by one);
    `receive` is rule IR2b (on receipt of timestamp `t`, the clock becomes max(clock, t) + 1).
    """

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        if not 0 <= value <= MAX_CLOCK:
            raise ValueError(f"clock value {value} outside 0..{MAX_CLOCK}")
        self.value = value

    # Both rules inline their check (no shared helper): one call less on every tick.
    def local_event(self) -> int:
        value = self.value + 1
        if value > MAX_CLOCK:
            raise ClockOverflowError(f"logical clock would reach {value}, beyond {MAX_CLOCK}")
        self.value = value
        return value

    def receive(self, timestamp: int) -> int:
        value = (timestamp if timestamp > self.value else self.value) + 1
        if value > MAX_CLOCK:
            raise ClockOverflowError(f"logical clock would reach {value}, beyond {MAX_CLOCK}")
        self.value = value
        return value

    def __repr__(self) -> str:
        return f"LamportClock({self.value})"

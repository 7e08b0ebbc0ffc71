"""The Lamport logical clock: the two update rules, and the classic ways of getting them wrong. Pure.

`LamportClock` is the clock every node runs. The subclasses in `BUGS` each plant one classic bug
(CLOCK_BUG, README: Planted clock bugs), so that the checks of the analysis can be seen to catch
it; `reset-on-restart` is not a clock rule but a restart's (node.core), so it has no class here.
"""

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

    def send(self) -> int:
        """A send is a local event (IR1); the message carries the clock after it. Returns that value."""
        return self.local_event()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value})"


class NoSendIncrement(LamportClock):
    """Bug: a send does not advance the clock (the message carries the clock as it was)."""

    __slots__ = ()

    def send(self) -> int:
        return self.value


class ReceiveNoMax(LamportClock):
    """Bug: a receive ignores the timestamp (clock + 1, not max(clock, t) + 1)."""

    __slots__ = ()

    def receive(self, timestamp: int) -> int:
        return self.local_event()


class ReceiveNoIncrement(LamportClock):
    """Bug: a receive takes the maximum but does not add one."""

    __slots__ = ()

    def receive(self, timestamp: int) -> int:
        if timestamp > MAX_CLOCK:
            raise ClockOverflowError(f"logical clock would reach {timestamp}, beyond {MAX_CLOCK}")
        self.value = max(self.value, timestamp)
        return self.value


class SendThenIncrement(LamportClock):
    """Bug, the seed text's order: send the clock as it was, then add one."""

    __slots__ = ()

    def send(self) -> int:
        old = self.value
        self.local_event()
        return old


NO_BUG = "none"
RESET_ON_RESTART = "reset-on-restart"  # a restarted node starts from 0 (node.core, not the clock)
BUGS: dict[str, type[LamportClock]] = {
    NO_BUG: LamportClock,
    "no-send-increment": NoSendIncrement,
    "receive-no-max": ReceiveNoMax,
    "receive-no-increment": ReceiveNoIncrement,
    "send-then-increment": SendThenIncrement,
    RESET_ON_RESTART: LamportClock,
}

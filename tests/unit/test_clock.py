"""The Lamport clock's two rules and its 32-bit ceiling."""

import pytest

from node.clock import MAX_CLOCK, ClockOverflowError, LamportClock


def test_local_event_adds_one() -> None:
    clock = LamportClock()
    assert [clock.local_event() for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("start", "received", "after"),
    [(0, 0, 1), (5, 2, 6), (5, 5, 6), (5, 9, 10), (0, 41, 42)],
)
def test_receive_takes_max_plus_one(start: int, received: int, after: int) -> None:
    clock = LamportClock(start)
    assert clock.receive(received) == after
    assert clock.value == after


def test_clock_never_exceeds_a_frame() -> None:
    clock = LamportClock(MAX_CLOCK - 1)
    assert clock.local_event() == MAX_CLOCK
    with pytest.raises(ClockOverflowError):
        clock.local_event()
    assert clock.value == MAX_CLOCK
    with pytest.raises(ClockOverflowError):
        LamportClock(3).receive(MAX_CLOCK)


def test_rejects_out_of_range_start() -> None:
    with pytest.raises(ValueError, match="outside"):
        LamportClock(-1)

"""The real-time loop's selector (node.realtime.PreciseSelector): how it waits, not how long.

Which descriptors a wait watches and whether epoll is asked are checked by recording the calls,
never by timing them."""

import select
import selectors
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from node.realtime import PreciseSelector, listens
from node.ticker import WAKE_INTERVAL


class Calls:
    """What the selector asked of select() (the descriptors watched) and of epoll."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.watched: list[list[int]] = []
        self.epoll = 0
        real_select, real_epoll = select.select, selectors.EpollSelector.select

        def recording_select(rlist: list[int], wlist: list[int], xlist: list[int], timeout: float) -> Any:
            self.watched.append(list(rlist))
            return real_select(rlist, wlist, xlist, timeout)

        def counting_epoll(selector: selectors.EpollSelector, timeout: float | None = None) -> Any:
            self.epoll += 1
            return real_epoll(selector, timeout)

        monkeypatch.setattr(select, "select", recording_select)  # node.realtime looks it up per call
        monkeypatch.setattr(selectors.EpollSelector, "select", counting_epoll)


@pytest.fixture
def pair() -> Iterator[tuple[PreciseSelector, socket.socket, socket.socket]]:
    selector = PreciseSelector()
    a, b = socket.socketpair()
    selector.register(a, selectors.EVENT_READ)
    yield selector, a, b
    selector.close()
    a.close()
    b.close()


def test_a_wait_listens_to_the_sockets_from_the_wake_interval_up() -> None:
    assert listens(WAKE_INTERVAL)
    assert listens(1.0)
    assert not listens(WAKE_INTERVAL / 2)


def test_a_long_wait_that_times_out_watches_the_sockets_and_skips_epoll(
    pair: tuple[PreciseSelector, socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    selector, _, _ = pair
    calls = Calls(monkeypatch)
    assert selector.select(2 * WAKE_INTERVAL) == []
    assert calls.watched == [[selector.fileno()]]
    assert calls.epoll == 0  # select() said nothing is ready: no epoll_wait


def test_a_long_wait_reports_what_became_ready(
    pair: tuple[PreciseSelector, socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    selector, a, b = pair
    b.send(b"x")
    calls = Calls(monkeypatch)
    ready = selector.select(10.0)
    assert [(key.fileobj, events) for key, events in ready] == [(a, selectors.EVENT_READ)]
    assert calls.watched == [[selector.fileno()]]
    assert calls.epoll == 1


def test_a_short_wait_only_sleeps_then_reads_what_arrived(
    pair: tuple[PreciseSelector, socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shorter than WAKE_INTERVAL: no socket is watched (a frame does not wake the loop), and what
    is ready when the sleep ends is reported by the epoll that follows."""
    selector, a, b = pair
    calls = Calls(monkeypatch)
    assert selector.select(WAKE_INTERVAL / 2) == []
    b.send(b"x")
    ready = selector.select(WAKE_INTERVAL / 2)
    assert [(key.fileobj, events) for key, events in ready] == [(a, selectors.EVENT_READ)]
    assert calls.watched == [[], []]
    assert calls.epoll == 2

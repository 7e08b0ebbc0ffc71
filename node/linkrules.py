"""What a link does, the same in both transports (sockets and the simulator's network). Pure.

Dial backoff, how long a peer may take to say hello or to acknowledge data, how much may wait for
a slow peer, the configured extra delay (NET_DELAY_MS + jitter up to NET_JITTER_MS) that never
lets a frame overtake the one sent before it on its link, and when a peer counts as connected.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from node.interfaces import TransportEvents

BACKOFF_MIN = 0.02  # seconds between dial attempts, doubling up to BACKOFF_MAX
BACKOFF_MAX = 1.0
CONNECT_TIMEOUT = 2.0  # a peer cut off from the network never answers the SYN
HELLO_TIMEOUT = 1.0  # an inbound connection must identify itself within this time
# A dialed connection is up once the peer's first acknowledgement (its welcome, node.channel)
# arrives: the peer verifies the hello first (a name lookup), so allow it a little more.
WELCOME_TIMEOUT = HELLO_TIMEOUT + 2.0
# Inbound connections that have not said hello yet: every peer dialling at once, many times over
# (20 nodes: 19), and no more, so that a flood of idle connections cannot exhaust descriptors.
MAX_UNIDENTIFIED = 64
ACK_INTERVAL = 0.01  # seconds: acknowledgements of what was taken are batched this long
REJECT_LINES_PER_SECOND = 5  # `reject` lines beyond this are counted, not written one by one
OUTBOX_LIMIT = 4 * 1024 * 1024  # bytes waiting for a slow peer before sends are dropped
# Unacknowledged data older than this aborts a link (a cut-off peer). A paused peer's kernel
# still acknowledges, so only a real cut trips it. What TCP held unacknowledged goes with the
# link: sent again after the redial (node.channel), or at most once lost, so shorter is better
# (at most once, one run each: 43 of 502 messages lost at 2 s against 94 of 498 at 5 s).
USER_TIMEOUT = 2.0
FINISHED = "peer finished sending"  # the reason for a clean end of an inbound link
# Why a value was not sent: the `reason` of its `drop` line, the same from both transports.
NOT_CONNECTED = "peer not connected"
NOT_READING = "peer not reading (send buffer full)"
UNACKED_FULL = "too many values unacknowledged (peer down or not reading)"
LINK_BROKE = "link down or redialled while the delayed frame waited"
UNSENT_AT_STOP = "still waiting out NET_DELAY_MS at stop"


UNACKED_SLACK = 65536  # values on the wire and in kernel buffers, beyond the receiver's queue


def unacked_limit(max_queue: int) -> int:
    """How many unacknowledged values a sender keeps per peer under reliable delivery: a full
    receiver queue (MAX_QUEUE) plus what the wire holds, so a backlogged peer causes no drops."""
    return max_queue + UNACKED_SLACK


class Backoff:
    """Seconds to wait before the next dial: BACKOFF_MIN, doubling up to BACKOFF_MAX."""

    def __init__(self) -> None:
        self.delay = BACKOFF_MIN

    def next(self) -> float:
        delay = self.delay
        self.delay = min(delay * 2, BACKOFF_MAX)
        return delay

    def reset(self) -> None:
        self.delay = BACKOFF_MIN


class DelayedFrames:
    """Values waiting out NET_DELAY_MS (+ a uniform jitter up to NET_JITTER_MS) on one link.

    Each value is due at send time + delay + jitter, but never before the value sent before it,
    so the link stays FIFO. Each remembers the connection it was sent on: if that connection is
    gone when the value is due (broken, or replaced by a redial), the value is dropped, not sent
    to whoever answers now. `rng` draws the jitter (seeded per node: reproducible runs).
    """

    def __init__(self, delay_s: float, jitter_s: float, rng: random.Random) -> None:
        self.delay_s = delay_s
        self.jitter_s = jitter_s
        self._rng = rng
        self._last_due = 0.0
        self.pending: deque[tuple[float, int, object]] = deque()  # (due, value, connection), in order
        self.active = delay_s > 0 or jitter_s > 0  # else values go out at once, never through here

    def push(self, now: float, value: int, connection: object) -> bool:
        """Queue `value`, sent on `connection`; True when it is the only one waiting (set a timer)."""
        due = now + self.delay_s + (self._rng.random() * self.jitter_s if self.jitter_s else 0.0)
        due = max(due, self._last_due)
        self._last_due = due
        self.pending.append((due, value, connection))
        return len(self.pending) == 1

    def due(self, now: float) -> list[tuple[int, object]]:
        """Take every (value, connection) due by `now`, in order."""
        values = []
        pending = self.pending
        while pending and pending[0][0] <= now:
            _, value, connection = pending.popleft()
            values.append((value, connection))
        return values

    def next_due(self) -> float | None:
        return self.pending[0][0] if self.pending else None

    def take_all(self) -> list[tuple[int, object]]:
        """Every (value, connection) still waiting, in order; none wait afterwards."""
        values = [(value, connection) for _, value, connection in self.pending]
        self.pending.clear()
        return values


class RejectLimiter:
    """At most `per_second` `reject` lines a second: a flood of bad connections must not fill
    the disk. What is held back is counted and said in the next line let through."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.window = -1.0
        self.lines = 0
        self.held = 0

    def allow(self, now: float, reason: str) -> str | None:
        """The reason to log now (with what was held back), or None to hold this one back."""
        if now - self.window >= 1.0:
            self.window, self.lines = now, 0
        if self.lines >= self.per_second:
            self.held += 1
            return None
        self.lines += 1
        held = self.take_held()
        return f"{reason} (and {held} more connections rejected, not logged one by one)" if held else reason

    def take_held(self) -> int:
        held, self.held = self.held, 0
        return held


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class RejectLog:
    """`reject` lines through a RejectLimiter, what it held back said once the second is over:
    the same for node.network (asyncio) and node.simtransport (virtual time), which inject how
    to log a line (`say(who, reason)`) and how to run something later (`later(seconds, fn)`)."""

    def __init__(
        self, say: Callable[[str, str], None], later: Callable[[float, Callable[[], None]], Cancellable]
    ) -> None:
        self._limiter = RejectLimiter(REJECT_LINES_PER_SECOND)
        self._say = say
        self._later = later
        self._pending: Cancellable | None = None  # the line saying what was held back, due

    @property
    def held(self) -> int:
        """Rejections held back and not yet said."""
        return self._limiter.held

    def reject(self, now: float, who: str, reason: str) -> None:
        line = self._limiter.allow(now, reason)
        if line is not None:
            self._say(who, line)
        elif self._pending is None:
            self._pending = self._later(1.0, self._say_held)

    def _say_held(self) -> None:
        self._pending = None
        held = self._limiter.take_held()
        if held:
            self._say("(various)", f"{held} more connections rejected, not logged one by one")

    def close(self) -> None:
        """Nothing more to say (the transport closes)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


class Connectedness:
    """Which peers are connected both ways (our dial is up and theirs is verified); every change
    is reported to the node, which logs `connected`/`disconnected` and rechecks what it waits for."""

    def __init__(self, peers: Iterable[str], events: TransportEvents) -> None:
        self.peers = tuple(peers)
        self.events = events
        self.connected: set[str] = set()

    def all(self) -> bool:
        return len(self.connected) == len(self.peers)

    def count(self) -> int:
        return len(self.connected)

    def update(self, peer: str, outbound_up: bool, inbound_up: bool, reason: str = "") -> None:
        up = outbound_up and inbound_up
        if up and peer not in self.connected:
            self.connected.add(peer)
            self.events.peer_changed(peer, True, "", "")
        elif not up and peer in self.connected:
            self.connected.discard(peer)
            self.events.peer_changed(peer, False, "outbound" if not outbound_up else "inbound", reason)
        self.events.links_changed()


def missing(links: Iterable[tuple[str, str, bool, str, bool]]) -> dict[str, str]:
    """For (peer, address, outbound up, last dial error, inbound up): what is missing, by peer."""
    result = {}
    for peer, address, outbound_up, error, inbound_up in links:
        parts = [] if outbound_up else [f"cannot dial {address} ({error})"]
        parts += [] if inbound_up else ["has not dialed us"]
        if parts:
            result[peer] = "; ".join(parts)
    return result

"""The small interfaces the node core (node.core) is written against, and nothing else.

Two implementations of each: real time (node.realtime, node.network, node.dialer,
node.eventlog: asyncio, sockets, a JSON-lines file) and virtual time (node.virtual, node.simnet,
node.simtransport, node.simlog: an event heap, an in-memory network with delays and faults, a
batched log). The core never learns which one it runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.schema import Event


class Handle(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What time it is, and calling back at a deadline. Attributes, not methods, so that the
    real-time implementation can hand out the event loop's own bound methods (no extra call on
    the tick path)."""

    @property
    def now(self) -> Callable[[], float]:
        """Seconds on the scheduler's own steady clock (deadlines are in it)."""

    @property
    def wall(self) -> Callable[[], float]:
        """System time for log lines: time.time(), or epoch + virtual time."""

    @property
    def call_at(self) -> Callable[[float, Callable[[], None]], Handle]: ...

    @property
    def call_soon(self) -> Callable[[Callable[[], None]], Handle]: ...


class TransportEvents(Protocol):
    """What a transport tells the node (the core implements these)."""

    def message_arrived(self, peer: str, value: int) -> None: ...

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None: ...

    def connection_rejected(self, address: str, reason: str) -> None: ...

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        """A value `send` accepted could not leave after all (its link broke while it waited
        out NET_DELAY_MS)."""

    def transport_failed(self, message: str) -> None:
        """The transport cannot work at all (e.g. cannot listen): fatal for the node."""

    def links_changed(self) -> None:
        """Some link came up or ended (what the connect barrier and the drain wait for)."""


class Links(Protocol):
    """Which peers are connected both ways (node.linkrules.Connectedness in every transport)."""

    def all(self) -> bool: ...

    def count(self) -> int: ...


class Transport(Protocol):
    """The node's links to its peers: one outbound and one inbound connection per peer."""

    def start(self) -> None:
        """Listen, then dial every peer (and keep redialling with backoff)."""

    @property
    def links(self) -> Links: ...

    def missing(self) -> dict[str, str]:
        """Peers not connected both ways, with what is missing."""

    def send(self, peer: str, value: int) -> str | None:
        """Send one clock value; None when it is on its way (or kept, to go once the link is
        back: node.channel), else why it was dropped."""

    def acknowledge(self, peer: str) -> None:
        """The node took (and logged) a value from `peer`: acknowledge what it took, soon."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def finish_sending(self) -> None:
        """Half-close every outbound link once what is queued on it has left."""

    def still_sending(self) -> list[str]:
        """Peers whose link to us has not ended yet (sorted)."""

    def close(self) -> list[tuple[str, int]]:
        """Close everything; returns the (peer, value) frames that never left (to log as drops)."""


@dataclass(frozen=True)
class Resume:
    """What a node's own log says when it starts again: the clock to continue from, when the
    run it belongs to started ticking (None on a first start), the highest value it took from
    each peer (its receivers ignore what they already took) and, per peer, the values it sent
    and did not log as dropped, oldest first, at most the unacknowledged bound
    (node.linkrules.unacked_limit): what it may have to send again."""

    clock: int = 0
    first_tick_ts: float | None = None
    taken: dict[str, int] = field(default_factory=dict)
    sent: dict[str, list[int]] = field(default_factory=dict)


class LogWriteError(Exception):
    """A line could not be written whole (disk full, read-only, I/O error): the log is broken,
    and the node must stop rather than go on (or send a frame) without its line. One line: the
    file and the OS error."""


class LogCorruptError(Exception):
    """A node's own log holds something no kill or failed write leaves (they only cut short lines at
    the end of an incarnation): the node refuses to resume from it. One line: `path:lineno: reason`."""


class LogSink(Protocol):
    """The node's event log: lines go in, and at a restart the node reads back where it was.

    `write` raises LogWriteError when the line is not in the log whole. Constructing a log that
    reads a file back raises LogCorruptError when that file cannot be trusted."""

    def resume(self) -> Resume: ...

    def write(self, event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None: ...

    def close(self) -> None: ...


class Console(Protocol):
    """Lines for the person watching: status on stdout, the one line that says why on stderr."""

    def say(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

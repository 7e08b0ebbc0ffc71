"""Reliable FIFO channels over breakable links: the bookkeeping of both ends, once. Pure.

Lamport's algorithm assumes channels that neither lose nor reorder. A TCP connection is FIFO
but dies with a crash or a cut, taking with it what it held. So, per directed link:

- The values a sender puts on a link only grow (its clock advances on every send), so a value
  names its message. The receiver acknowledges the highest value it has *taken* (received on a
  tick and logged), cumulatively, on the connection the sender dialled (the reverse direction).
  Its first acknowledgement on a new connection is the welcome: until it arrives the link is not
  up, and with it the sender learns where to resume.
- The sender keeps every value not yet acknowledged (`Outbox`, bounded by
  node.linkrules.unacked_limit) and, when a new connection is welcomed, sends again the ones
  above the acknowledgement, before anything new: the link stays FIFO.
- The receiver (`Inbox`) ignores a value it already queued or took, so a value sent twice is
  taken once. A restarted node rebuilds both from its own log (node.interfaces.Resume): what it
  took from each peer, and what it sent and may have to send again.

At-least-once on the wire, exactly once taken. `DELIVERY=at-most-once` keeps nothing to resend:
what a broken connection held is lost, as with plain TCP.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from node.linkrules import NOT_CONNECTED, NOT_READING, UNACKED_FULL


class Outbox:
    """The sender's end of one directed link: the values sent on it and not yet acknowledged,
    oldest first. Always the newest of the values sent and not dropped (so a `stop` line's count
    of them names them). Under at-most-once delivery it forgets them when a connection breaks
    (they are lost) and keeps nothing while the link is down."""

    __slots__ = ("unacked", "acked", "highest", "limit", "reliable")

    def __init__(self, limit: int, reliable: bool, restored: Iterable[int] = ()) -> None:
        self.reliable = reliable
        self.limit = limit
        # A restarted sender's values from its log (increasing); only the newest `limit` matter.
        values = list(restored)
        self.highest = values[-1] if values else 0  # no acknowledgement may exceed it
        self.unacked: deque[int] = deque(values[-limit:] if reliable else ())
        self.acked = 0

    def offer(self, value: int, live: bool, buffer_full: bool) -> str | None:
        """A value about to go on the link: None when it goes (kept until acknowledged; written
        now if the link is `live`), else the reason of its `drop` line. Reliable delivery keeps it
        while the link is down; at most once, it is dropped then, or when the link's send buffer
        is full. Either way the bound on unacknowledged values holds. Both transports ask this."""
        if not self.reliable:
            if not live:
                return NOT_CONNECTED
            if buffer_full:
                return NOT_READING
        return None if self.keep(value) else UNACKED_FULL

    def keep(self, value: int) -> bool:
        """Remember `value` until it is acknowledged; False when the bound is reached (drop it)."""
        if len(self.unacked) >= self.limit:
            return False
        self.unacked.append(value)
        self.highest = value
        return True

    def acknowledge(self, value: int) -> str | None:
        """The receiver took everything up to `value`; None, or why the acknowledgement is bogus."""
        if value > self.highest:
            return f"acknowledgement {value} above the highest value sent ({self.highest})"
        if value > self.acked:
            self.acked = value
            unacked = self.unacked
            while unacked and unacked[0] <= value:
                unacked.popleft()
        return None

    def to_resend(self) -> list[int]:
        """What a newly welcomed connection must carry first, in order (nothing at most once)."""
        return list(self.unacked) if self.reliable else []

    def connection_lost(self) -> None:
        """At most once, what the broken connection held is gone."""
        if not self.reliable:
            self.unacked.clear()


class Inbox:
    """The receiver's view of every peer: the highest value queued (to ignore what comes twice)
    and the highest value taken (what it acknowledges)."""

    __slots__ = ("seen", "taken", "duplicates", "reliable")

    def __init__(self, taken: dict[str, int], reliable: bool = True) -> None:
        self.taken = dict(taken)
        self.seen = dict(taken)  # after a restart the old queue is gone: only what was taken counts
        self.duplicates = 0
        # At most once nothing is sent twice, so nothing is filtered: a value that does not grow
        # (only a planted clock bug sends one) is queued, and the analysis then matches in FIFO order.
        self.reliable = reliable

    def accept(self, peer: str, value: int) -> bool:
        """Whether `value` from `peer` is new (then it is queued); a value sent again is not."""
        if value <= self.seen.get(peer, 0) and self.reliable:
            self.duplicates += 1
            return False
        self.seen[peer] = value
        return True

    def took(self, peer: str, value: int) -> None:
        self.taken[peer] = value

    def welcome(self, peer: str) -> int:
        """The first acknowledgement on a new connection from `peer`."""
        return self.taken.get(peer, 0)


@dataclass
class Channels:
    """A node's reliable-channel state: one Inbox, and one Outbox per peer."""

    inbox: Inbox
    outboxes: dict[str, Outbox]

    @classmethod
    def restore(
        cls,
        peers: Sequence[str],
        taken: Mapping[str, int],
        sent: Mapping[str, Sequence[int]],
        *,
        reliable: bool,
        limit: int,
    ) -> Channels:
        """From what the node's own log says (empty on a first start)."""
        return cls(Inbox(dict(taken), reliable), {p: Outbox(limit, reliable, sent.get(p, ())) for p in peers})

    def unacked(self) -> dict[str, int]:
        return {peer: len(box.unacked) for peer, box in self.outboxes.items()}

    def acked(self) -> dict[str, int]:
        return {peer: box.acked for peer, box in self.outboxes.items()}

"""One node's links in the simulator: node.interfaces.Transport on node.simnet's wires.

What node.network and node.dialer do with sockets, done in virtual time: dial with the same
backoff, wait out NET_DELAY_MS (node.linkrules.DelayedFrames), half-close, and hand arriving
values to the node only while it reads (hello verified, not paused, not held at MAX_QUEUE).
"""

from __future__ import annotations

import random

from node.interfaces import TransportEvents
from node.linkrules import (
    FINISHED,
    LINK_BROKE,
    NOT_READING,
    Backoff,
    Connectedness,
    DelayedFrames,
    missing,
    why_not_sent,
)
from node.simnet import EOF, OUTBOX_FRAMES, RESET, VirtualNetwork, Wire
from node.virtual import NodeTime, VirtualHandle


class _Outbound:
    __slots__ = ("wire", "up", "backoff", "timer", "flush", "delayed", "eof_wanted", "eof_sent", "last_error")

    def __init__(self, delayed: DelayedFrames) -> None:
        self.wire: Wire | None = None
        self.up = False
        self.backoff = Backoff()
        self.timer: VirtualHandle | None = None  # the next dial, or the dial's answer
        self.flush: VirtualHandle | None = None  # when the next delayed value is due
        self.delayed = delayed
        self.eof_wanted = False
        self.eof_sent = False
        self.last_error = "not dialed yet"


class VirtualTransport:
    """One incarnation's links in the simulator (node.interfaces.Transport)."""

    def __init__(
        self,
        network: VirtualNetwork,
        node_id: str,
        peers: tuple[str, ...],
        events: TransportEvents,
        time: NodeTime,
        delay_s: float,
        jitter_s: float,
        rng: random.Random,
        port: int = 5000,
    ) -> None:
        self.net = network
        self.node_id = node_id
        self.peers = peers
        self.port = port  # every node's, as compose sets it (only said in `missing`)
        self.events = events
        self.time = time
        self.out = {p: _Outbound(DelayedFrames(delay_s, jitter_s, rng)) for p in peers}
        self.inbound: dict[str, Wire] = {}  # verified connections from peers, not yet ended
        self.links = Connectedness(peers, events)
        self.paused = False
        self.stopping = False
        self.closed = False

    # -- Transport --------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen now; dial once a SYN could have reached the peers (nodes booting at the same
        instant are all listening by then)."""
        self.net.endpoints[self.node_id] = self
        for peer in self.peers:
            self._redial(peer, self.net.delay)

    def _redial(self, peer: str, after: float) -> None:
        self.out[peer].timer = self.time.call_at(self.time.now() + after, lambda: self._dial(peer))

    def missing(self) -> dict[str, str]:
        return missing(
            (peer, f"{peer}:{self.port}", out.up, out.last_error, peer in self.inbound)
            for peer, out in self.out.items()
        )

    def send(self, peer: str, value: int) -> str | None:
        out = self.out[peer]
        wire = out.wire
        why = why_not_sent(
            out.up and wire is not None, wire is not None and len(wire.held) + len(wire.stuck) >= OUTBOX_FRAMES
        )
        if why is not None or wire is None:
            return why
        if out.delayed.active:
            if out.delayed.push(self.time.now(), value, wire):
                self._flush_at(peer)
            return None
        self.net.transmit(wire, value)
        return None

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        for wire in list(self.inbound.values()):
            self.read(wire)

    def finish_sending(self) -> None:
        self.stopping = True
        for out in self.out.values():
            if out.timer is not None:
                out.timer.cancel()  # no more dialing (as node.dialer cancels its dial task)
                out.timer = None
            if out.delayed.pending and out.up:
                out.eof_wanted = True  # after the last delayed value (see _flush)
            else:
                self._send_eof(out)

    def _send_eof(self, out: _Outbound) -> None:
        out.eof_wanted = False
        if out.up and out.wire is not None and out.wire.open and not out.eof_sent:
            out.eof_sent = True
            self.net.transmit(out.wire, EOF)

    def still_sending(self) -> list[str]:
        return sorted(self.inbound)

    def close(self) -> list[tuple[str, int]]:
        """Like closing the sockets: what we sent still arrives, then EOF; peers still sending
        to us are reset (what they had on the wire is lost)."""
        self.closed = True
        if self.net.endpoints.get(self.node_id) is self:
            del self.net.endpoints[self.node_id]
        unsent = []
        for peer, out in self.out.items():
            for handle in (out.timer, out.flush):
                if handle is not None:
                    handle.cancel()
            unsent += [(peer, value) for value in out.delayed.take_all()]
            self._send_eof(out)
        for wire in self.inbound.values():
            if wire.open:
                self.net.close(wire, RESET, tell_receiver=False)
        return unsent

    # -- dialing ----------------------------------------------------------------------------------
    def _dial(self, peer: str) -> None:
        out = self.out[peer]
        out.timer = None
        if self.closed or self.stopping:
            return
        wire, error, after = self.net.connect(self.node_id, peer)
        if wire is None:
            out.last_error = error
            self._redial(peer, after + out.backoff.next())
            return
        out.wire = wire
        out.eof_sent = False
        out.timer = self.time.call_at(self.time.now() + after, lambda: self._outbound_up(peer, wire))

    def _outbound_up(self, peer: str, wire: Wire) -> None:
        out = self.out[peer]
        out.timer = None
        if self.closed or self.stopping:
            return
        if not wire.open:
            self._dial(peer)
            return
        out.up = True
        out.backoff.reset()
        self._changed(peer)

    def outbound_lost(self, wire: Wire, reason: str) -> None:
        peer = wire.receiver
        out = self.out[peer]
        if self.closed or out.wire is not wire:
            return
        out.wire = None
        out.up = False
        out.last_error = reason
        self._changed(peer, reason)
        if not self.stopping:
            self._redial(peer, out.backoff.next())

    def _flush_at(self, peer: str) -> None:
        out = self.out[peer]
        due = out.delayed.next_due()
        out.flush = None if due is None else self.time.call_at(due, lambda: self._flush(peer))

    def _flush(self, peer: str) -> None:
        out = self.out[peer]
        for value, sent_on in out.delayed.due(self.time.now()):
            wire = out.wire
            if not out.up or wire is None or wire is not sent_on:
                self.events.frame_dropped(peer, value, LINK_BROKE)
            elif len(wire.held) + len(wire.stuck) >= OUTBOX_FRAMES:
                self.events.frame_dropped(peer, value, NOT_READING)
            else:
                self.net.transmit(wire, value)
        if out.delayed.pending:
            self._flush_at(peer)
        else:
            out.flush = None
            if out.eof_wanted:
                self._send_eof(out)

    # -- inbound ----------------------------------------------------------------------------------
    def inbound_verified(self, peer: str, wire: Wire) -> None:
        if self.closed or not wire.open:
            return
        old = self.inbound.get(peer)
        if old is not None and old is not wire:  # a restarted peer dialed again (node.network does the same)
            self.net.close(old, "replaced", tell_sender=False, tell_receiver=False)
        self.inbound[peer] = wire
        self._changed(peer)
        self.read(wire)

    def read(self, wire: Wire) -> None:
        """Take what waits on the wire while this node reads (node.core enqueues each value)."""
        arrived = self.events.message_arrived
        while wire.held and self.reading(wire):
            value = wire.held.popleft()
            if value == EOF:
                self.inbound_ended(wire, FINISHED)
                return
            arrived(wire.sender, value)

    def reading(self, wire: Wire) -> bool:
        """Whether this node takes values off `wire` now: verified, running, not held at MAX_QUEUE."""
        return (
            not self.paused
            and not self.closed
            and self.inbound.get(wire.sender) is wire
            and self.time.machine.frozen_until <= self.time.heap.now
        )

    def inbound_ended(self, wire: Wire, reason: str) -> None:
        peer = wire.sender
        if self.closed or self.inbound.get(peer) is not wire:
            return
        del self.inbound[peer]
        wire.open = False
        self._changed(peer, reason)

    def _changed(self, peer: str, reason: str = "") -> None:
        self.links.update(peer, self.out[peer].up, peer in self.inbound, reason)

"""One node's links in the simulator: node.interfaces.Transport on node.simnet's wires.

What node.network and node.dialer do with sockets, done in virtual time: dial with the same
backoff, wait for the peer's welcome, keep and send again what was not acknowledged
(node.channel), wait out NET_DELAY_MS (node.linkrules.DelayedFrames), half-close, and hand
arriving values to the node only while it reads (hello verified, not paused, not at MAX_QUEUE).
"""

from __future__ import annotations

import random

from node.channel import Channels, Outbox
from node.interfaces import TransportEvents
from node.linkrules import (
    ACK_INTERVAL,
    FINISHED,
    LINK_BROKE,
    Backoff,
    Connectedness,
    DelayedFrames,
    RejectLog,
    missing,
)
from node.simnet import EOF, OUTBOX_FRAMES, RESET, VirtualNetwork, Wire
from node.virtual import NodeTime, VirtualHandle


class _Outbound:
    __slots__ = (
        "wire", "answered", "welcome", "up", "backoff", "timer", "flush", "delayed", "outbox", "eof_wanted",
        "eof_sent", "last_error",
    )  # fmt: skip

    def __init__(self, delayed: DelayedFrames, outbox: Outbox) -> None:
        self.wire: Wire | None = None
        self.answered = False  # the dial was answered (the SYN-ACK)
        self.welcome: int | None = None  # the peer's welcome, when it came before the answer
        self.up = False  # answered and welcomed: frames may go
        self.outbox = outbox
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
        channels: Channels,
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
        # Without NET_DELAY_MS nothing ever waits in a DelayedFrames: every link shares one (a
        # deque each is 0.8 GB across the 999,000 links of 1,000 nodes).
        idle = None if delay_s > 0 or jitter_s > 0 else DelayedFrames(0.0, 0.0, rng)
        self.out = {p: _Outbound(idle or DelayedFrames(delay_s, jitter_s, rng), channels.outboxes[p]) for p in peers}
        self.inbox = channels.inbox
        self._next_first = 0  # resume_reading's rotation
        self._acks: dict[str, VirtualHandle | None] = {}
        self.inbound: dict[str, Wire] = {}  # verified connections from peers, not yet ended
        self.links = Connectedness(peers, events)
        self.paused = False
        self.stopping = False
        self.closed = False
        self._rejects = RejectLog(events.connection_rejected, lambda s, f: time.call_at(time.now() + s, f))

    # -- Transport --------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen now; dial once a SYN could have reached the peers (nodes booting at the same
        instant are all listening by then)."""
        self.net.endpoints[self.node_id] = self
        for peer in self.peers:
            self._redial(peer, self.net.delay)

    def _redial(self, peer: str, after: float) -> None:
        """The next dial; one dial chain per peer (a pending dial or answer is called off)."""
        out = self.out[peer]
        if out.timer is not None:
            out.timer.cancel()
        out.timer = self.time.call_at(self.time.now() + after, lambda: self._dial(peer))

    def missing(self) -> dict[str, str]:
        return missing(
            (peer, f"{peer}:{self.port}", out.up, out.last_error, peer in self.inbound)
            for peer, out in self.out.items()
        )

    def send(self, peer: str, value: int) -> str | None:
        """As node.dialer sends: kept while the link is down under reliable delivery."""
        out = self.out[peer]
        wire = out.wire if out.up else None
        full = wire is not None and len(wire.held) + len(wire.stuck) >= OUTBOX_FRAMES
        why = out.outbox.offer(value, wire is not None, full)
        if why is None and wire is not None:
            self._write(peer, wire, value)
        return why

    def _write(self, peer: str, wire: Wire, value: int) -> None:
        out = self.out[peer]
        if not out.delayed.active:
            self.net.transmit(wire, value)
        elif out.delayed.push(self.time.now(), value, wire):
            self._flush_at(peer)

    def acknowledge(self, peer: str) -> None:
        if peer not in self._acks:
            self._acks[peer] = self.time.call_at(self.time.now() + ACK_INTERVAL, lambda: self._send_ack(peer))

    def _send_ack(self, peer: str) -> None:
        del self._acks[peer]
        wire = self.inbound.get(peer)
        if wire is not None and not self.closed:
            self.net.acknowledge(wire, self.inbox.taken.get(peer, 0))

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        """Read again, starting with a different peer each time: at a small MAX_QUEUE the first
        peer would otherwise refill the queue every time and the others never be read."""
        self.paused = False
        wires = list(self.inbound.values())
        if wires:
            first = self._next_first % len(wires)
            self._next_first += 1
            for wire in wires[first:] + wires[:first]:
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
        self._rejects.close()
        if self.net.endpoints.get(self.node_id) is self:
            del self.net.endpoints[self.node_id]
        unsent = []
        for ack in self._acks.values():
            if ack is not None:
                ack.cancel()
        for peer, out in self.out.items():
            for handle in (out.timer, out.flush):
                if handle is not None:
                    handle.cancel()
            current = out.wire if out.up else None
            pending = out.delayed.take_all()
            if not out.outbox.reliable:  # else still unacknowledged: counted in the stop line
                unsent += [(peer, value) for value, sent_on in pending if sent_on is not current]
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
        was_up = out.up
        out.wire = wire
        out.up, out.answered, out.welcome = False, False, None  # a new connection waits for its welcome
        out.eof_sent = False
        if was_up:
            self._changed(peer, "redialled")
        out.timer = self.time.call_at(self.time.now() + after, lambda: self._outbound_up(peer, wire))

    def _outbound_up(self, peer: str, wire: Wire) -> None:
        out = self.out[peer]
        out.timer = None
        if self.closed or self.stopping:
            return
        if not wire.open:
            self._dial(peer)
            return
        out.answered = True
        if out.welcome is not None:
            self._welcomed(peer, wire)

    def acked(self, wire: Wire, value: int) -> None:
        """An acknowledgement from the peer on our connection (node.channel); the first is its welcome."""
        peer = wire.receiver
        out = self.out[peer]
        if self.closed or out.wire is not wire:
            return
        why = out.outbox.acknowledge(value)
        if why is not None:
            self.net.close(wire, why)
            return
        if out.up:
            return
        if out.answered:
            self._welcomed(peer, wire)
        else:
            out.welcome = value

    def _welcomed(self, peer: str, wire: Wire) -> None:
        out = self.out[peer]
        out.up = True
        out.backoff.reset()  # only now: a connection refused at once does not reset it
        for value in out.outbox.to_resend():
            self._write(peer, wire, value)
        self._changed(peer)

    def outbound_lost(self, wire: Wire, reason: str) -> None:
        peer = wire.receiver
        out = self.out[peer]
        if self.closed or out.wire is not wire:
            return
        out.wire = None
        out.up = out.answered = False
        out.outbox.connection_lost()
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
            if out.up and wire is not None and wire is sent_on:
                self.net.transmit(wire, value)
            elif not out.outbox.reliable:  # reliable: still unacknowledged, sent again once welcomed
                self.events.frame_dropped(peer, value, LINK_BROKE)
        if out.delayed.pending:
            self._flush_at(peer)
        else:
            out.flush = None
            if out.eof_wanted:
                self._send_eof(out)

    # -- inbound ----------------------------------------------------------------------------------
    def welcome(self, peer: str, wire: Wire) -> None:
        """The first acknowledgement on a connection from `peer`: where it resumes (node.channel)."""
        if not self.closed and wire.open:
            self.net.acknowledge(wire, self.inbox.welcome(peer))

    def inbound_verified(self, peer: str, wire: Wire) -> None:
        if self.closed or not wire.open:
            return
        old = self.inbound.get(peer)
        if old is not None and old is not wire:  # a restarted peer dialed again (node.network does the same)
            self.net.close(old, "replaced", tell_sender=False, tell_receiver=False)
        self.inbound[peer] = wire
        self.welcome(peer, wire)  # again if it went at once (node.simnet.connect): a repeat changes nothing
        self._changed(peer)
        self.read(wire)

    def read(self, wire: Wire) -> None:
        """Take what waits on the wire while this node reads (node.core enqueues each value)."""
        while wire.held and self.reading(wire) and wire.open:
            value = wire.held.popleft()
            if value == EOF:
                self.inbound_ended(wire, FINISHED)
                return
            self.take(wire, value)

    def take(self, wire: Wire, value: int) -> None:
        """One value read off an inbound connection. On one connection a sender's values only grow
        (node.wire.LinkDecoder refuses any other, and so does this under reliable delivery): a
        value that does not is refused and ends the connection, as node.network.Network.reject
        does. Only a planted clock bug sends one; at most once the simulator lets it through on
        purpose, so that the bug's effect on the clocks can be seen (README: Planted clock bugs)."""
        last = wire.last_value
        if value <= last and self.inbox.reliable:
            reason = f"clock value {value} after {last}: a sender's values only grow"
            self._rejects.reject(self.time.now(), f"{wire.sender} (virtual)", reason)
            if self.inbound.get(wire.sender) is wire:
                del self.inbound[wire.sender]
                self._changed(wire.sender, f"dropped: {reason}")
            self.net.close(wire, RESET, tell_receiver=False)
            return
        wire.last_value = value
        self.events.message_arrived(wire.sender, value)

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

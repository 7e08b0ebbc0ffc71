"""The simulator's network: node.interfaces.Transport in virtual time, with delays and faults.

Each directed link is a `Wire`: the connection node a dialed to node b, FIFO like TCP. A value
sent at t arrives at t + delay + jitter (never before the one sent before it), after waiting out
the sender's NET_DELAY_MS/NET_JITTER_MS first (node.linkrules, as the real transport does).
What arrives waits on the wire (the receiver's kernel buffer) while the receiver has not yet
verified the hello, is paused, or has stopped reading at MAX_QUEUE.

Faults mean what they mean for containers (README: Faults):
- kill: the process is gone. What it had sent still arrives, then its links close; peers see
  their links to it reset, their sends dropped, their redials refused, until it starts again.
- pause: its callbacks wait (node.virtual); what is sent to it waits on the wire.
- cut (isolate = every link of a node): nothing crosses. Data sent meanwhile is unacknowledged;
  after USER_TIMEOUT of that the link aborts and the data is lost (both ends notice at once:
  a simplification; a real receiver learns when the sender redials). A link idle during the cut
  notices nothing; unacknowledged data still waiting when the cut ends goes through. Dials
  during a cut time out after CONNECT_TIMEOUT.
"""

from __future__ import annotations

import random
from collections import deque
from functools import partial

from node.interfaces import TransportEvents
from node.linkrules import (
    CONNECT_TIMEOUT,
    FINISHED,
    OUTBOX_LIMIT,
    USER_TIMEOUT,
    Backoff,
    Connectedness,
    DelayedFrames,
    missing,
)
from node.virtual import EventHeap, NodeTime, VirtualHandle
from node.wire import FRAME_SIZE

EOF = -1  # on a wire, after the last value: the sender half-closed
OUTBOX_FRAMES = OUTBOX_LIMIT // FRAME_SIZE  # values waiting for a receiver before sends are dropped
RESET = "connection lost: [Errno 104] Connection reset by peer"
TIMED_OUT = "connection lost: [Errno 110] Connection timed out"


class Wire:
    """One connection a -> b."""

    __slots__ = ("sender", "receiver", "open", "last_arrival", "held", "stuck", "abort")

    def __init__(self, sender: str, receiver: str) -> None:
        self.sender = sender
        self.receiver = receiver
        self.open = True
        self.last_arrival = 0.0
        self.held: deque[int] = deque()  # arrived, not yet read by the receiver
        self.stuck: deque[int] = deque()  # sent during a cut: unacknowledged
        self.abort: VirtualHandle | None = None


class VirtualNetwork:
    def __init__(
        self, heap: EventHeap, delay: float, jitter: float, rng: random.Random, ready: dict[str, float]
    ) -> None:
        self.heap = heap
        self.delay = delay
        self.jitter = jitter
        self._jitter_draw = rng.random
        self.ready = ready  # node -> the earliest time it sees a link come up (start offsets)
        self.endpoints: dict[str, VirtualTransport] = {}  # nodes listening now
        self.wires: dict[tuple[str, str], Wire] = {}
        self.cuts: dict[frozenset[str], int] = {}  # {a, b}: that link; {a}: every link of a

    # -- faults -----------------------------------------------------------------------------------
    def is_cut(self, a: str, b: str) -> bool:
        cuts = self.cuts
        return bool(cuts) and bool(
            cuts.get(frozenset((a,))) or cuts.get(frozenset((b,))) or cuts.get(frozenset((a, b)))
        )

    def cut(self, nodes: frozenset[str], seconds: float) -> None:
        """Nothing crosses between the two `nodes` (or between a single node and anyone) for `seconds`."""
        self.cuts[nodes] = self.cuts.get(nodes, 0) + 1

        def heal() -> None:
            self.cuts[nodes] -= 1
            if not self.cuts[nodes]:
                del self.cuts[nodes]
            for wire in list(self.wires.values()):
                if wire.open and wire.stuck and not self.is_cut(wire.sender, wire.receiver):
                    self._retransmit(wire)

        self.heap.at(self.heap.now + seconds, heal)

    def _retransmit(self, wire: Wire) -> None:
        if wire.abort is not None:
            wire.abort.cancel()
            wire.abort = None
        while wire.stuck:
            self._transmit(wire, wire.stuck.popleft())

    def kill(self, node: str) -> None:
        """The node's process is gone: close its links the way the kernel does."""
        endpoint = self.endpoints.pop(node, None)
        if endpoint is not None:
            endpoint.closed = True
        for wire in list(self.wires.values()):
            if not wire.open:
                continue
            if wire.sender == node:
                self._transmit(wire, EOF)  # what it sent still arrives, then the connection ends
            elif wire.receiver == node:
                self._close(wire, RESET, tell_receiver=False)

    def resume(self, node: str) -> None:
        """A paused node runs again: hand it what waited on its wires."""
        for wire in list(self.wires.values()):
            if wire.receiver == node:
                self.pump(wire)

    # -- connections ------------------------------------------------------------------------------
    def connect(self, a: str, b: str) -> tuple[Wire | None, str, float]:
        """A dial from a to b now: (wire or None, error, seconds until the dialer knows)."""
        if self.is_cut(a, b):
            return None, "TimeoutError", CONNECT_TIMEOUT
        target = self.endpoints.get(b)
        if target is None:
            return None, f"[Errno 111] Connect call failed ('{b}', 5000)", self.delay
        old = self.wires.get((a, b))
        if old is not None and old.open:  # a restarted peer dialed again: the new one replaces it
            self._close(old, "replaced", tell_sender=False, tell_receiver=False)
        wire = self.wires[(a, b)] = Wire(a, b)
        now = self.heap.now
        verify_at = max(now + 2 * self.delay, self.ready.get(b, 0.0))
        target.time.call_at(verify_at, lambda: target.inbound_verified(a, wire))
        return wire, "", max(self.delay, self.ready.get(a, 0.0) - now)

    def _close(self, wire: Wire, reason: str, tell_sender: bool = True, tell_receiver: bool = True) -> None:
        """End a connection: both ends learn it one delay later (a FIN, a reset, an abort)."""
        wire.open = False
        wire.held.clear()
        wire.stuck.clear()
        if wire.abort is not None:
            wire.abort.cancel()
        sender, receiver = self.endpoints.get(wire.sender), self.endpoints.get(wire.receiver)
        later = self.heap.now + self.delay
        if tell_sender and sender is not None:
            sender.time.call_at(later, lambda: sender.outbound_lost(wire, reason))
        if tell_receiver and receiver is not None:
            receiver.time.call_at(later, lambda: receiver.inbound_ended(wire, reason))

    # -- values on the wire --------------------------------------------------------------------
    def _transmit(self, wire: Wire, value: int) -> None:
        if self.cuts and self.is_cut(wire.sender, wire.receiver):
            wire.stuck.append(value)
            if wire.abort is None:
                wire.abort = self.heap.at(self.heap.now + USER_TIMEOUT, lambda: self._abort(wire))
            return
        heap = self.heap
        arrival = heap.now + self.delay + (self._jitter_draw() * self.jitter if self.jitter else 0.0)
        arrival = max(arrival, wire.last_arrival)  # TCP keeps a link FIFO: no overtaking
        wire.last_arrival = arrival
        heap.at(arrival, partial(self._arrive, wire, value))

    def _abort(self, wire: Wire) -> None:
        wire.abort = None
        if wire.open and wire.stuck:
            self._close(wire, TIMED_OUT)

    def _arrive(self, wire: Wire, value: int) -> None:
        if not wire.open:
            return  # the connection is gone: lost with it
        if self.cuts and self.is_cut(wire.sender, wire.receiver):  # on the wire when the cable was pulled
            wire.stuck.append(value)
            if wire.abort is None:
                wire.abort = self.heap.at(self.heap.now + USER_TIMEOUT, lambda: self._abort(wire))
            return
        receiver = self.endpoints.get(wire.receiver)
        if receiver is not None and value != EOF and not wire.held and receiver.reading(wire):
            receiver.events.message_arrived(wire.sender, value)  # the common case, without a detour
            return
        wire.held.append(value)
        self.pump(wire)

    def pump(self, wire: Wire) -> None:
        """Hand the receiver what waits on the wire, as far as it is reading."""
        receiver = self.endpoints.get(wire.receiver)
        if receiver is None or not wire.open:
            return
        receiver.read(wire)

    def waiting(self, a: str, b: str) -> int:
        wire = self.wires.get((a, b))
        return 0 if wire is None else len(wire.held) + len(wire.stuck)


class _Outbound:
    __slots__ = ("wire", "up", "backoff", "timer", "delayed", "eof_wanted", "eof_sent", "last_error")

    def __init__(self, delayed: DelayedFrames) -> None:
        self.wire: Wire | None = None
        self.up = False
        self.backoff = Backoff()
        self.timer: VirtualHandle | None = None
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
    ) -> None:
        self.net = network
        self.node_id = node_id
        self.peers = peers
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
            (peer, f"{peer}:5000", out.up, out.last_error, peer in self.inbound) for peer, out in self.out.items()
        )

    def send(self, peer: str, value: int) -> str | None:
        out = self.out[peer]
        wire = out.wire
        if not out.up or wire is None:
            return "peer not connected"
        if len(wire.held) + len(wire.stuck) >= OUTBOX_FRAMES:
            return "peer not reading (send buffer full)"
        if out.delayed.active:
            if out.delayed.push(self.time.now(), value):
                self._flush_at(peer)
            return None
        self.net._transmit(wire, value)
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
            if out.timer is not None and not out.delayed.pending:
                out.timer.cancel()  # no more dialing
                out.timer = None
            if out.delayed.pending and out.up:
                out.eof_wanted = True  # after the last delayed value (see _flush)
            else:
                self._send_eof(out)

    def _send_eof(self, out: _Outbound) -> None:
        out.eof_wanted = False
        if out.up and out.wire is not None and out.wire.open and not out.eof_sent:
            out.eof_sent = True
            self.net._transmit(out.wire, EOF)

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
            if out.timer is not None:
                out.timer.cancel()
            unsent += [(peer, value) for value in out.delayed.take_all()]
            self._send_eof(out)
        for wire in self.inbound.values():
            if wire.open:
                self.net._close(wire, RESET, tell_receiver=False)
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
        if self.closed:
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
        if due is not None:
            self.time.call_at(due, lambda: self._flush(peer))

    def _flush(self, peer: str) -> None:
        out = self.out[peer]
        for value in out.delayed.due(self.time.now()):
            wire = out.wire
            if not out.up or wire is None:
                self.events.frame_dropped(peer, value, "link down when the delayed frame was due")
            elif len(wire.held) + len(wire.stuck) >= OUTBOX_FRAMES:
                self.events.frame_dropped(peer, value, "peer not reading (send buffer full)")
            else:
                self.net._transmit(wire, value)
        if out.delayed.pending:
            self._flush_at(peer)
        elif out.eof_wanted:
            self._send_eof(out)

    # -- inbound ----------------------------------------------------------------------------------
    def inbound_verified(self, peer: str, wire: Wire) -> None:
        if self.closed or not wire.open:
            return
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

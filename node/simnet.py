"""The simulator's network: the wires between nodes in virtual time, with delays and faults.

Each node's end of it is node.simtransport (node.interfaces.Transport).

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
from typing import Protocol

from node.interfaces import TransportEvents
from node.linkrules import (
    CONNECT_TIMEOUT,
    OUTBOX_LIMIT,
    USER_TIMEOUT,
)
from node.virtual import EventHeap, NodeTime, VirtualHandle
from node.wire import FRAME_SIZE

EOF = -1  # on a wire, after the last value: the sender half-closed
OUTBOX_FRAMES = OUTBOX_LIMIT // FRAME_SIZE  # values waiting for a receiver before sends are dropped
RESET = "connection lost: [Errno 104] Connection reset by peer"
TIMED_OUT = "connection lost: [Errno 110] Connection timed out"


class _Nothing(deque[int]):
    """Every wire's `held` and `stuck` while they hold nothing: one shared deque that refuses
    values, instead of two per wire (two deques are 1.5 kB: 1.5 GB for the 999,000 wires of
    1,000 nodes). Put something on a wire with `Wire.hold` or `Wire.stick`."""

    def append(self, value: int) -> None:
        raise TypeError("a wire's empty deque is shared: use Wire.hold / Wire.stick")

    insert = appendleft = extend = extendleft = append  # type: ignore[assignment]


NOTHING = _Nothing()


class Wire:
    """One connection a -> b."""

    __slots__ = (
        "sender",
        "receiver",
        "open",
        "last_arrival",
        "held",
        "stuck",
        "parked",
        "abort",
        "ack_held",
        "last_value",
    )

    def __init__(self, sender: str, receiver: str) -> None:
        self.sender = sender
        self.receiver = receiver
        self.open = True
        self.last_arrival = 0.0
        self.held: deque[int] = NOTHING  # arrived, not yet read by the receiver
        self.stuck: deque[int] = NOTHING  # sent during a cut: unacknowledged
        self.parked = 0  # of those, how many were already on the wire when the cut began (the oldest)
        self.abort: VirtualHandle | None = None
        self.ack_held = -1  # the newest acknowledgement written back during a cut (-1: none)
        self.last_value = -1  # the last value read off it: on one connection values only grow (node.wire)

    def hold(self, value: int) -> None:
        """`value` arrived and waits to be read."""
        if self.held is NOTHING:
            self.held = deque()
        self.held.append(value)

    def stick(self, at: int, value: int) -> None:
        """`value` is unacknowledged during a cut: kept at position `at` (send order)."""
        if self.stuck is NOTHING:
            self.stuck = deque()
        self.stuck.insert(at, value)

    def empty(self) -> None:
        """The connection is gone, and what it held with it."""
        self.held = self.stuck = NOTHING


class Endpoint(Protocol):
    """What the network needs of a node's transport (node.simtransport.VirtualTransport)."""

    closed: bool
    time: NodeTime
    events: TransportEvents

    def inbound_verified(self, peer: str, wire: Wire) -> None: ...

    def welcome(self, peer: str, wire: Wire) -> None: ...

    def take(self, wire: Wire, value: int) -> None: ...

    def acked(self, wire: Wire, value: int) -> None: ...

    def outbound_lost(self, wire: Wire, reason: str) -> None: ...

    def inbound_ended(self, wire: Wire, reason: str) -> None: ...

    def read(self, wire: Wire) -> None: ...

    def reading(self, wire: Wire) -> bool: ...


class VirtualNetwork:
    def __init__(
        self, heap: EventHeap, delay: float, jitter: float, rng: random.Random, ready: dict[str, float]
    ) -> None:
        self.heap = heap
        self.delay = delay
        self.jitter = jitter
        self._jitter_draw = rng.random
        self.ready = ready  # node -> the earliest time it sees a link come up (start offsets)
        self.endpoints: dict[str, Endpoint] = {}  # nodes listening now
        self.wires: list[Wire] = []  # every open connection, oldest first
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
            for wire in self._open():
                if self.is_cut(wire.sender, wire.receiver):
                    continue
                if wire.stuck:
                    self._retransmit(wire)
                if wire.ack_held >= 0:
                    value, wire.ack_held = wire.ack_held, -1
                    self.acknowledge(wire, value)

        self.heap.at(self.heap.now + seconds, heal)

    def _retransmit(self, wire: Wire) -> None:
        if wire.abort is not None:
            wire.abort.cancel()
            wire.abort = None
        wire.parked = 0
        while wire.stuck:
            self.transmit(wire, wire.stuck.popleft())

    def kill(self, node: str) -> None:
        """The node's process is gone: close its links the way the kernel does."""
        endpoint = self.endpoints.pop(node, None)
        if endpoint is not None:
            endpoint.closed = True
        for wire in self._open():
            if wire.sender == node:
                self.transmit(wire, EOF)  # what it sent still arrives, then the connection ends
            elif wire.receiver == node:
                self.close(wire, RESET, tell_receiver=False)

    def resume(self, node: str) -> None:
        """A paused node runs again: hand it what waited on its wires."""
        for wire in self._open():
            if wire.receiver == node:
                self.pump(wire)

    # -- connections ------------------------------------------------------------------------------
    def connect(self, a: str, b: str) -> tuple[Wire | None, str, float]:
        """A dial from a to b now: (wire or None, error, seconds until the dialer knows)."""
        if self.is_cut(a, b):
            return None, "TimeoutError", CONNECT_TIMEOUT
        target = self.endpoints.get(b)
        if target is None:
            return None, "[Errno 111] Connection refused", self.delay
        # An older connection a -> b (from a killed incarnation of a) stays until b verifies this
        # one and replaces it (node.simtransport), as b's kernel keeps the old socket's data.
        wire = Wire(a, b)
        self.wires.append(wire)
        now = self.heap.now
        accept_at = now + 2 * self.delay
        verify_at = max(accept_at, self.ready.get(b, 0.0))
        if verify_at > accept_at:
            # b starts ticking later (a start offset): it reads this connection only from then,
            # but welcomes the dialer at once, as a node's listener does before its own barrier;
            # else every node's barrier would wait for the latest node's, and offsets would vanish.
            target.time.call_at(accept_at, lambda: target.welcome(a, wire))
        target.time.call_at(verify_at, lambda: target.inbound_verified(a, wire))
        return wire, "", max(self.delay, self.ready.get(a, 0.0) - now)

    def _open(self) -> list[Wire]:
        """The open wires, oldest first (closed ones are forgotten here)."""
        self.wires = [wire for wire in self.wires if wire.open]
        return list(self.wires)

    def close(self, wire: Wire, reason: str, tell_sender: bool = True, tell_receiver: bool = True) -> None:
        """End a connection: both ends learn it one delay later (a FIN, a reset, an abort)."""
        wire.open = False
        wire.empty()
        wire.parked = 0
        if wire.abort is not None:
            wire.abort.cancel()
        sender, receiver = self.endpoints.get(wire.sender), self.endpoints.get(wire.receiver)
        later = self.heap.now + self.delay
        if tell_sender and sender is not None:
            sender.time.call_at(later, lambda: sender.outbound_lost(wire, reason))
        if tell_receiver and receiver is not None:
            receiver.time.call_at(later, lambda: receiver.inbound_ended(wire, reason))

    # -- values on the wire --------------------------------------------------------------------
    def transmit(self, wire: Wire, value: int) -> None:
        if self.cuts and self.is_cut(wire.sender, wire.receiver):
            self._hold(wire, value, len(wire.stuck))
            return
        heap = self.heap
        arrival = heap.now + self.delay + (self._jitter_draw() * self.jitter if self.jitter else 0.0)
        arrival = max(arrival, wire.last_arrival)  # TCP keeps a link FIFO: no overtaking
        wire.last_arrival = arrival
        heap.at(arrival, partial(self._arrive, wire, value))

    def acknowledge(self, wire: Wire, value: int) -> None:
        """The receiver writes an acknowledgement back on `wire` (node.channel). During a cut it
        waits for the cut to end (acknowledgements are cumulative: the newest says it all)."""
        if not wire.open:
            return
        if self.cuts and self.is_cut(wire.sender, wire.receiver):
            wire.ack_held = max(wire.ack_held, value)
            return
        self.heap.at(self.heap.now + self.delay, partial(self._ack_arrives, wire, value))

    def _ack_arrives(self, wire: Wire, value: int) -> None:
        if not wire.open:
            return
        if self.cuts and self.is_cut(wire.sender, wire.receiver):
            wire.ack_held = max(wire.ack_held, value)
            return
        sender = self.endpoints.get(wire.sender)
        if sender is not None:  # through the sender's machine: a paused one takes it later
            sender.time.call_at(self.heap.now, partial(sender.acked, wire, value))

    def _hold(self, wire: Wire, value: int, at: int) -> None:
        """Unacknowledged during a cut: kept in send order; after USER_TIMEOUT the link aborts."""
        wire.stick(at, value)
        if wire.abort is None:
            wire.abort = self.heap.at(self.heap.now + USER_TIMEOUT, lambda: self._abort(wire))

    def _abort(self, wire: Wire) -> None:
        wire.abort = None
        if wire.open and wire.stuck:
            self.close(wire, TIMED_OUT)

    def _arrive(self, wire: Wire, value: int) -> None:
        if not wire.open:
            return  # the connection is gone: lost with it
        if self.cuts and self.is_cut(wire.sender, wire.receiver):  # on the wire when the cable was pulled
            self._hold(wire, value, wire.parked)  # older than anything sent during the cut
            wire.parked += 1
            return
        receiver = self.endpoints.get(wire.receiver)
        if receiver is not None and value != EOF and not wire.held and receiver.reading(wire):
            receiver.take(wire, value)  # the common case, without a detour
            return
        wire.hold(value)
        self.pump(wire)

    def pump(self, wire: Wire) -> None:
        """Hand the receiver what waits on the wire, as far as it is reading."""
        receiver = self.endpoints.get(wire.receiver)
        if receiver is None or not wire.open:
            return
        receiver.read(wire)

"""The real-time transport (node.interfaces.Transport): asyncio sockets, one node's links.

Each directed link is its own TCP connection: a node dials every peer and writes its frames on
that connection (node.dialer); on the connections peers dialed to it (here) it reads their
frames and writes back only acknowledgements of what it took (node.channel). So FIFO order per
link is TCP's, nobody has to decide who dials whom, and a node finishes sending by half-closing.
All decoding is node.wire's; this module only moves bytes and reports what happens. What an
outsider can make it hold is bounded: connections without a hello (MAX_UNIDENTIFIED, each for
HELLO_TIMEOUT), bytes per read (READ_CHUNK), `reject` lines per second.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Coroutine
from typing import Any

from node.channel import Channels
from node.clock import MAX_CLOCK
from node.config import Peer
from node.dialer import OutboundLink
from node.interfaces import TransportEvents
from node.linkrules import (
    ACK_INTERVAL,
    FINISHED,
    HELLO_TIMEOUT,
    MAX_UNIDENTIFIED,
    Connectedness,
    RejectLog,
    missing,
)
from node.wire import LinkDecoder, ProtocolError, encode_frame

# Bytes per read: at most 2,048 frames handled between two ticks (one 256 KiB read, asyncio's
# default, held the tick loop about 55 ms).
READ_CHUNK = 8192


class _InboundConnection(asyncio.BufferedProtocol):
    """A connection a peer dialed to us: a hello, then clock frames into the node's queue; we
    write back only acknowledgements (node.channel)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.decoder = LinkDecoder(network.max_value)
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.peer: str | None = None  # set once the hello has been verified
        self.pending: list[int] = []  # values that arrived with the hello, before verification
        self.ended = False
        self._hello_timer: asyncio.TimerHandle | None = None
        self._buffer = bytearray(READ_CHUNK)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        self.address = peername[0] if peername else "?"
        if not self.network.admit(self):
            return
        self._hello_timer = asyncio.get_running_loop().call_later(HELLO_TIMEOUT, self._no_hello)

    def _no_hello(self) -> None:
        self._hello_timer = None
        self.network.reject(self, f"no hello within {HELLO_TIMEOUT:g} s")

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        try:
            values = self.decoder.feed(data)
        except ProtocolError as error:
            self._deliver(error.values)  # the good frames before the bad one still count
            self.network.reject(self, str(error))
            return
        self._deliver(values)
        if self.peer is None and self.decoder.peer is not None and self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None
            assert self.transport is not None
            self.transport.pause_reading()  # hold further frames until the sender is verified
            self.network.verify(self)

    def _deliver(self, values: list[int]) -> None:
        if self.peer is None:
            self.pending.extend(values)
            return
        deliver = self.network.events.message_arrived
        for value in values:
            deliver(self.peer, value)

    def eof_received(self) -> bool:
        try:
            self.decoder.finish()
        except ProtocolError as error:
            self.network.reject(self, str(error))
            return False
        self.network.inbound_ended(self, FINISHED)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None
        self.network.inbound_ended(self, f"connection lost: {exc}" if exc else "connection closed")


class Network:
    """All links of one node. Single-threaded: every method runs on the node's event loop."""

    def __init__(
        self,
        node_id: str,
        peers: tuple[Peer, ...],
        port: int,
        events: TransportEvents,
        *,
        channels: Channels,
        host: str = "0.0.0.0",
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        rng: random.Random | None = None,
        max_value: int = MAX_CLOCK,
    ) -> None:
        self.node_id = node_id
        self.peers = {p.node_id: p for p in peers}
        self.port = port
        self.host = host
        self.events = events
        self.channels = channels
        self.max_value = max_value
        rng = rng or random.Random()
        self.outbound = {
            p.node_id: OutboundLink(self, p, delay_ms / 1000, jitter_ms / 1000, rng, channels.outboxes[p.node_id])
            for p in peers
        }
        self.inbound: dict[str, _InboundConnection] = {}
        self.unidentified: set[_InboundConnection] = set()  # accepted, not yet verified
        self.links = Connectedness(self.peers, events)
        self._server: asyncio.Server | None = None
        self._paused = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._acks: dict[str, asyncio.TimerHandle] = {}
        # asyncio's loop is looked up when a line is due: the network may be built before it runs.
        self._rejects = RejectLog(events.connection_rejected, lambda s, f: asyncio.get_running_loop().call_later(s, f))

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Listen, then dial every peer; a port that cannot be bound is fatal for the node."""
        self._spawn(self._start())

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _InboundConnection(self), self.host, self.port, reuse_address=True
            )
        except OSError as error:
            self.events.transport_failed(f"cannot listen on port {self.port}: {error}")
            return
        for link in self.outbound.values():
            link.start()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def missing(self) -> dict[str, str]:
        """Peers not fully connected, with what is missing."""
        return missing(
            (
                peer,
                f"{link.peer.host}:{link.peer.port}",
                link.up,
                link.last_error,
                peer in self.inbound,
            )
            for peer, link in self.outbound.items()
        )

    def finish_sending(self) -> None:
        for link in self.outbound.values():
            link.finish()

    def still_sending(self) -> list[str]:
        return sorted(self.inbound)

    def close(self) -> list[tuple[str, int]]:
        unsent = [(peer, value) for peer, link in self.outbound.items() for value in link.close()]
        for handle in self._acks.values():
            handle.cancel()
        self._rejects.close()
        for connection in [*self.inbound.values(), *self.unidentified]:
            connection.ended = True
            if connection.transport is not None:
                connection.transport.close()
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
        return unsent

    # -- sending ------------------------------------------------------------------------------
    def send(self, peer: str, value: int) -> str | None:
        return self.outbound[peer].send(value)

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        self.events.frame_dropped(peer, value, reason)

    # -- inbound flow control (the queue's size limit) -------------------------------------
    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            for connection in self.inbound.values():
                if connection.transport is not None:
                    connection.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            for connection in self.inbound.values():
                if connection.transport is not None and not connection.transport.is_closing():
                    connection.transport.resume_reading()

    # -- acknowledgements (node.channel) -------------------------------------------------------
    def acknowledge(self, peer: str) -> None:
        """The node took a value from `peer`: acknowledge it soon (batched, ACK_INTERVAL)."""
        if peer not in self._acks:
            self._acks[peer] = asyncio.get_running_loop().call_later(ACK_INTERVAL, self._send_ack, peer)

    def _send_ack(self, peer: str) -> None:
        del self._acks[peer]
        self._write_ack(peer, self.inbound.get(peer))

    def _write_ack(self, peer: str, connection: _InboundConnection | None) -> None:
        if connection is not None and connection.transport is not None and not connection.transport.is_closing():
            connection.transport.write(encode_frame(self.channels.inbox.taken.get(peer, 0)))

    # -- called by the connections ------------------------------------------------------------
    def admit(self, connection: _InboundConnection) -> bool:
        """Take a new connection unless too many have not said hello yet (a flood)."""
        if len(self.unidentified) >= MAX_UNIDENTIFIED:
            connection.ended = True
            assert connection.transport is not None
            connection.transport.abort()
            self._log_reject(connection.address, f"more than {MAX_UNIDENTIFIED} connections without a hello")
            return False
        self.unidentified.add(connection)
        return True

    def _log_reject(self, who: str, reason: str) -> None:
        self._rejects.reject(asyncio.get_running_loop().time(), who, reason)

    def verify(self, connection: _InboundConnection) -> None:
        self._spawn(self._verify(connection))

    async def _verify(self, connection: _InboundConnection) -> None:
        claimed = connection.decoder.peer
        assert claimed is not None
        peer = self.peers.get(claimed)
        if peer is None:
            self.reject(connection, f"hello from unknown node {claimed!r}")
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(peer.host, None, type=socket.SOCK_STREAM)
        except OSError as error:
            self.reject(connection, f"hello from {claimed} but {peer.host} does not resolve ({error})")
            return
        addresses = {str(info[4][0]) for info in infos}
        if connection.address not in addresses:
            self.reject(
                connection,
                f"hello from {claimed} but the connection comes from {connection.address}, "
                f"not {peer.host} ({', '.join(sorted(addresses))})",
            )
            return
        transport = connection.transport
        if transport is None or transport.is_closing():
            return
        old = self.inbound.get(claimed)
        if old is not None and old.transport is not None:
            # Replaced: a restarted peer dialed again before we saw the old one die. What the old
            # connection still held was not acknowledged: the peer sends it again (node.channel).
            old.ended = True
            old.transport.abort()
        self.unidentified.discard(connection)
        connection.peer = claimed
        self.inbound[claimed] = connection
        self._write_ack(claimed, connection)  # the welcome: where the peer resumes
        deliver = self.events.message_arrived
        for value in connection.pending:
            deliver(claimed, value)
        connection.pending.clear()
        if not self._paused:
            transport.resume_reading()
        self.link_changed(claimed)

    def reject(self, connection: _InboundConnection, reason: str) -> None:
        if connection.ended:
            return
        who = connection.address if connection.peer is None else f"{connection.peer} ({connection.address})"
        self._log_reject(who, reason)
        was_peer = connection.peer
        connection.ended = True
        self.unidentified.discard(connection)
        if was_peer is not None and self.inbound.get(was_peer) is connection:
            del self.inbound[was_peer]
            self.link_changed(was_peer, f"dropped: {reason}")
        if connection.transport is not None:
            connection.transport.abort()

    def inbound_ended(self, connection: _InboundConnection, reason: str) -> None:
        self.unidentified.discard(connection)
        if connection.ended:
            return
        connection.ended = True
        peer = connection.peer
        if peer is not None and self.inbound.get(peer) is connection:
            del self.inbound[peer]
            self.link_changed(peer, reason)

    def link_changed(self, peer: str, reason: str = "") -> None:
        """Recompute whether `peer` is fully connected; report the change to the node."""
        self.links.update(peer, self.outbound[peer].up, peer in self.inbound, reason)

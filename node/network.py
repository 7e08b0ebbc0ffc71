"""The thin network layer: listen, dial every peer with backoff, move frames to and from the node.

Each directed link is its own TCP connection: a node dials every peer and only writes on that
connection; it only reads on the connections peers dialed to it. So FIFO order per link is
TCP's, nobody has to decide who dials whom, and a node finishes sending by half-closing.
All decoding is node.wire's; this module only moves bytes and reports what happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Protocol

from node.config import Peer
from node.wire import LinkDecoder, ProtocolError, encode_hello

BACKOFF_MIN = 0.02  # seconds between dial attempts, doubling up to BACKOFF_MAX
BACKOFF_MAX = 1.0
CONNECT_TIMEOUT = 2.0  # a peer cut off from the network never answers the SYN
HELLO_TIMEOUT = 5.0  # an inbound connection must identify itself within this time
OUTBOX_LIMIT = 4 * 1024 * 1024  # bytes waiting for a slow peer before sends are dropped
# Unacknowledged data older than this aborts a link (a cut-off peer). A paused peer's kernel
# still acknowledges, so only a real cut trips it; what TCP held unacknowledged is lost with the
# link, so shorter is better (fault test, one run each: 43 of 502 messages lost at 2 s against
# 94 of 498 at 5 s; the others sent meanwhile were logged as dropped).
USER_TIMEOUT_MS = 2000
FINISHED = "peer finished sending"  # the reason for a clean end of an inbound link


class NetworkEvents(Protocol):
    """What the network tells the node."""

    def message_arrived(self, peer: str, value: int) -> None: ...

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None: ...

    def connection_rejected(self, address: str, reason: str) -> None: ...


class _InboundConnection(asyncio.Protocol):
    """A connection a peer dialed to us: a hello, then clock frames into the node's queue."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.decoder = LinkDecoder()
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.peer: str | None = None  # set once the hello has been verified
        self.pending: list[int] = []  # values that arrived with the hello, before verification
        self.ended = False
        self._hello_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        self.address = peername[0] if peername else "?"
        self._hello_timer = asyncio.get_running_loop().call_later(HELLO_TIMEOUT, self._no_hello)

    def _no_hello(self) -> None:
        self.network.reject(self, f"no hello within {HELLO_TIMEOUT:g} s")

    def data_received(self, data: bytes) -> None:
        try:
            values = self.decoder.feed(data)
        except ProtocolError as error:
            self.network.reject(self, str(error))
            return
        if self.peer is not None:
            deliver = self.network.events.message_arrived
            for value in values:
                deliver(self.peer, value)
            return
        self.pending.extend(values)
        if self.decoder.peer is not None and self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None
            assert self.transport is not None
            self.transport.pause_reading()  # hold further frames until the sender is verified
            self.network.verify(self)

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
        self.network.inbound_ended(self, f"connection lost: {exc}" if exc else "connection closed")


class _OutboundConnection(asyncio.Protocol):
    """The connection we dialed to a peer; we only write on it."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        pass  # receivers never write on this link; ignore rather than trust

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(f"connection lost: {exc}" if exc else "peer closed the connection")


class OutboundLink:
    """Keeps one dialed connection to a peer alive: connect, hello, redial with backoff."""

    def __init__(self, network: Network, peer: Peer) -> None:
        self.network = network
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.stopping = False
        self.last_error = "not dialed yet"
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"dial {self.peer}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = BACKOFF_MIN
        while not self.stopping:
            try:
                transport, protocol = await asyncio.wait_for(
                    loop.create_connection(_OutboundConnection, self.peer.host, self.peer.port),
                    CONNECT_TIMEOUT,
                )
            except (TimeoutError, OSError) as error:
                self.last_error = str(error) or type(error).__name__
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            assert isinstance(transport, asyncio.Transport)
            sock = transport.get_extra_info("socket")
            if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
            transport.write(encode_hello(self.network.node_id))
            self.transport = transport
            delay = BACKOFF_MIN
            self.network.link_changed(self.peer.node_id)
            reason = await protocol.closed
            self.transport = None
            self.last_error = reason
            self.network.link_changed(self.peer.node_id, reason)
            if not self.stopping:
                await asyncio.sleep(delay)

    def finish(self) -> None:
        """Send what is buffered, then half-close: the peer reads EOF after our last frame."""
        self.stopping = True
        if self.transport is not None:
            if self.transport.can_write_eof():
                self.transport.write_eof()
        elif self.task is not None:
            self.task.cancel()

    def close(self) -> None:
        self.stopping = True
        if self.transport is not None:
            self.transport.close()
        if self.task is not None:
            self.task.cancel()


class Network:
    """All links of one node. Single-threaded: every method runs on the node's event loop."""

    def __init__(
        self,
        node_id: str,
        peers: tuple[Peer, ...],
        port: int,
        events: NetworkEvents,
        *,
        host: str = "0.0.0.0",
    ) -> None:
        self.node_id = node_id
        self.peers = {p.node_id: p for p in peers}
        self.port = port
        self.host = host
        self.events = events
        self.outbound = {p.node_id: OutboundLink(self, p) for p in peers}
        self.inbound: dict[str, _InboundConnection] = {}
        self.connected: set[str] = set()  # peers with both directions up
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._paused = False
        self._verifying: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------
    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _InboundConnection(self), self.host, self.port, reuse_address=True
        )

    def dial(self) -> None:
        for link in self.outbound.values():
            link.start()

    async def wait_connected(self) -> None:
        await self._wait_until(lambda: len(self.connected) == len(self.peers))

    def missing(self) -> dict[str, str]:
        """Peers not fully connected, with what is missing."""
        result = {}
        for peer, link in self.outbound.items():
            parts = []
            if link.transport is None:
                parts.append(f"cannot dial {link.peer.host}:{link.peer.port} ({link.last_error})")
            if peer not in self.inbound:
                parts.append("has not dialed us")
            if parts:
                result[peer] = "; ".join(parts)
        return result

    def finish_sending(self) -> None:
        for link in self.outbound.values():
            link.finish()

    async def wait_inbound_ended(self, timeout: float) -> list[str]:
        """Wait until every peer has finished sending to us; return those that did not in time."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wait_until(lambda: not self.inbound), timeout)
        return sorted(self.inbound)

    async def close(self) -> None:
        for link in self.outbound.values():
            link.close()
        for connection in list(self.inbound.values()):
            if connection.transport is not None:
                connection.transport.close()
        for task in self._verifying:
            task.cancel()
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # let transports run their close callbacks

    # -- sending ------------------------------------------------------------------------------
    def send(self, peer: str, frame: bytes) -> str | None:
        """Write a frame to a peer; None when it is on its way, else why it was dropped."""
        transport = self.outbound[peer].transport
        if transport is None:
            return "peer not connected"
        if transport.get_write_buffer_size() >= OUTBOX_LIMIT:
            return "peer not reading (send buffer full)"
        transport.write(frame)
        return None

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

    # -- called by the connections ------------------------------------------------------------
    def verify(self, connection: _InboundConnection) -> None:
        task = asyncio.get_running_loop().create_task(self._verify(connection))
        self._verifying.add(task)
        task.add_done_callback(self._verifying.discard)

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
            old.ended = True  # replaced: a restarted peer dialed again before we saw the old one die
            old.transport.abort()
        connection.peer = claimed
        self.inbound[claimed] = connection
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
        self.events.connection_rejected(who, reason)
        was_peer = connection.peer
        connection.ended = True
        if was_peer is not None and self.inbound.get(was_peer) is connection:
            del self.inbound[was_peer]
            self.link_changed(was_peer, f"dropped: {reason}")
        if connection.transport is not None:
            connection.transport.abort()

    def inbound_ended(self, connection: _InboundConnection, reason: str) -> None:
        if connection.ended:
            return
        connection.ended = True
        peer = connection.peer
        if peer is not None and self.inbound.get(peer) is connection:
            del self.inbound[peer]
            self.link_changed(peer, reason)

    def link_changed(self, peer: str, reason: str = "") -> None:
        """Recompute whether `peer` is fully connected; report the change to the node."""
        up = self.outbound[peer].transport is not None and peer in self.inbound
        if up and peer not in self.connected:
            self.connected.add(peer)
            self.events.peer_changed(peer, True, "", "")
        elif not up and peer in self.connected:
            self.connected.discard(peer)
            direction = "outbound" if self.outbound[peer].transport is None else "inbound"
            self.events.peer_changed(peer, False, direction, reason)
        self._changed.set()

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

"""One outbound link in real time: dial a peer, say hello, write frames, redial with backoff.

A node only writes on the connections it dialed. With NET_DELAY_MS/NET_JITTER_MS set, each
frame waits out its delay here (node.linkrules.DelayedFrames: never overtaking the previous
one) before it is written; a frame whose link is down when it is due is reported as dropped, so
it still has its log line. Half-closing (`finish`) waits until the delayed frames have left.
"""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Protocol

from node.channel import Outbox
from node.config import Peer
from node.linkrules import (
    CONNECT_TIMEOUT,
    LINK_BROKE,
    OUTBOX_LIMIT,
    USER_TIMEOUT,
    WELCOME_TIMEOUT,
    Backoff,
    DelayedFrames,
)
from node.wire import AckDecoder, encode_frame, encode_hello


class LinkOwner(Protocol):
    """What a link needs of the node's network (node.network.Network)."""

    node_id: str

    def link_changed(self, peer: str, reason: str = "") -> None: ...

    def frame_dropped(self, peer: str, value: int, reason: str) -> None: ...


class _OutboundConnection(asyncio.Protocol):
    """The connection we dialed to a peer: we write frames; it writes acknowledgements back."""

    def __init__(self, link: OutboundLink) -> None:
        self.link = link
        self.acks = AckDecoder()
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.adopted = False  # the link took it as its connection (after the dial returned)
        self.early: list[list[int] | str] = []  # what arrived before that

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        acks = self.acks.feed(data)
        if self.adopted:
            self.link.acknowledged(self, acks)
        else:
            self.early.append(acks)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(f"connection lost: {exc}" if exc else "peer closed the connection")


class OutboundLink:
    """Keeps one dialed connection to a peer alive: connect, hello, welcome, redial with backoff.

    The link is up once the peer's welcome (its first acknowledgement) arrives; then what was
    not acknowledged goes again, before anything new (node.channel)."""

    def __init__(
        self, network: LinkOwner, peer: Peer, delay_s: float, jitter_s: float, rng: random.Random, outbox: Outbox
    ) -> None:
        self.network = network
        self.peer = peer
        self.outbox = outbox
        self.transport: asyncio.Transport | None = None
        self.protocol: _OutboundConnection | None = None
        self.up = False  # welcomed: frames may be written
        self.stopping = False
        self.last_error = "not dialed yet"
        self.task: asyncio.Task[None] | None = None
        self.delayed = DelayedFrames(delay_s, jitter_s, rng)
        self.backoff = Backoff()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._eof_wanted = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"dial {self.peer}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff
        while not self.stopping:
            try:
                transport, protocol = await asyncio.wait_for(
                    loop.create_connection(lambda: _OutboundConnection(self), self.peer.host, self.peer.port),
                    CONNECT_TIMEOUT,
                )
            except (TimeoutError, OSError) as error:
                self.last_error = str(error) or type(error).__name__
                await asyncio.sleep(backoff.next())
                continue
            assert isinstance(transport, asyncio.Transport)
            sock = transport.get_extra_info("socket")
            if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(USER_TIMEOUT * 1000))
            transport.write(encode_hello(self.network.node_id))
            self.transport, self.protocol = transport, protocol
            protocol.adopted = True
            for acks in protocol.early:
                self.acknowledged(protocol, acks)
            # Backoff is reset by the welcome, not by the connect: a peer that accepts and then
            # rejects at once must not be dialled 50 times a second.
            welcome = loop.call_later(WELCOME_TIMEOUT, self._not_welcomed, protocol)
            reason = await protocol.closed
            welcome.cancel()
            was_up = self.up
            self.transport, self.protocol, self.up = None, None, False
            self.outbox.connection_lost()
            self.last_error = reason
            if was_up:
                self.network.link_changed(self.peer.node_id, reason)
            if not self.stopping:
                await asyncio.sleep(backoff.next())

    def _not_welcomed(self, protocol: _OutboundConnection) -> None:
        if protocol is self.protocol and not self.up and protocol.transport is not None:
            self._fail(protocol, f"no welcome within {WELCOME_TIMEOUT:g} s (peer rejected the hello?)")

    def _fail(self, protocol: _OutboundConnection, reason: str) -> None:
        if not protocol.closed.done():
            protocol.closed.set_result(reason)
        if protocol.transport is not None:
            protocol.transport.abort()

    def acknowledged(self, protocol: _OutboundConnection, values: list[int] | str) -> None:
        """Acknowledgements arrived on `protocol` (or, as a string, why they are garbage)."""
        if protocol is not self.protocol:
            return
        if isinstance(values, str):
            self._fail(protocol, values)
            return
        for value in values:
            why = self.outbox.acknowledge(value)
            if why is not None:
                self._fail(protocol, why)
                return
        if values and not self.up:  # the welcome: resume where the peer says it is
            self.up = True
            self.backoff.reset()
            for value in self.outbox.to_resend():
                self._write(value)
            self.network.link_changed(self.peer.node_id)

    # -- frames ---------------------------------------------------------------------------------
    def _live(self) -> asyncio.Transport | None:
        # A reset connection is closing a loop iteration or two before _run learns of it, and
        # write() would drop the frame silently meanwhile: closing counts as not connected.
        transport = self.transport
        return transport if self.up and transport is not None and not transport.is_closing() else None

    def send(self, value: int) -> str | None:
        """Write (or queue behind NET_DELAY_MS) one value; None when accepted, else why not
        (node.channel.Outbox.offer decides, as for the simulator's links)."""
        transport = self._live()
        full = transport is not None and transport.get_write_buffer_size() >= OUTBOX_LIMIT
        why = self.outbox.offer(value, transport is not None, full)
        if why is None and transport is not None:
            self._write(value)
        return why

    def _write(self, value: int) -> None:
        transport = self.transport
        assert transport is not None
        if not self.delayed.active:
            transport.write(encode_frame(value))
        elif self.delayed.push(asyncio.get_running_loop().time(), value, transport):
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        due = self.delayed.next_due()
        if due is not None and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_at(due, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        for value, sent_on in self.delayed.due(asyncio.get_running_loop().time()):
            transport = self._live()
            if transport is not None and transport is sent_on:
                transport.write(encode_frame(value))
            elif not self.outbox.reliable:  # reliable: still unacknowledged, sent again once welcomed
                self.network.frame_dropped(self.peer.node_id, value, LINK_BROKE)
        self._schedule_flush()
        if self._eof_wanted and not self.delayed.pending:
            self._write_eof()

    # -- ending ---------------------------------------------------------------------------------
    def finish(self) -> None:
        """Send what is queued, then half-close: the peer reads EOF after our last frame."""
        self.stopping = True
        if self.delayed.pending and self.transport is not None:
            self._eof_wanted = True  # after the last delayed frame (see _flush)
            return
        self._write_eof()

    def _write_eof(self) -> None:
        self._eof_wanted = False
        if self.transport is not None:
            if self.transport.can_write_eof():
                self.transport.write_eof()
        elif self.task is not None:
            self.task.cancel()

    def close(self) -> list[int]:
        """Close the connection; returns the delayed values that never left and are not counted
        as unacknowledged either (at most once, those meant for a connection that broke)."""
        self.stopping = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        current = self._live()
        if self.transport is not None:
            self.transport.close()
        if self.task is not None:
            self.task.cancel()
        pending = self.delayed.take_all()
        return [] if self.outbox.reliable else [value for value, sent_on in pending if sent_on is not current]

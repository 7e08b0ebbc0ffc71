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

from node.config import Peer
from node.linkrules import (
    CONNECT_TIMEOUT,
    LINK_BROKE,
    NOT_READING,
    OUTBOX_LIMIT,
    USER_TIMEOUT,
    Backoff,
    DelayedFrames,
    why_not_sent,
)
from node.wire import encode_frame, encode_hello


class LinkOwner(Protocol):
    """What a link needs of the node's network (node.network.Network)."""

    node_id: str

    def link_changed(self, peer: str, reason: str = "") -> None: ...

    def frame_dropped(self, peer: str, value: int, reason: str) -> None: ...


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

    def __init__(self, network: LinkOwner, peer: Peer, delay_s: float, jitter_s: float, rng: random.Random) -> None:
        self.network = network
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.stopping = False
        self.last_error = "not dialed yet"
        self.task: asyncio.Task[None] | None = None
        self.delayed = DelayedFrames(delay_s, jitter_s, rng)
        self._flush_handle: asyncio.TimerHandle | None = None
        self._eof_wanted = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"dial {self.peer}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        while not self.stopping:
            try:
                transport, protocol = await asyncio.wait_for(
                    loop.create_connection(_OutboundConnection, self.peer.host, self.peer.port),
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
            self.transport = transport
            backoff.reset()
            self.network.link_changed(self.peer.node_id)
            reason = await protocol.closed
            self.transport = None
            self.last_error = reason
            self.network.link_changed(self.peer.node_id, reason)
            if not self.stopping:
                await asyncio.sleep(backoff.next())

    # -- frames ---------------------------------------------------------------------------------
    def _why_not(self, transport: asyncio.Transport | None) -> str | None:
        # A reset connection is closing a loop iteration or two before _run learns of it, and
        # write() would drop the frame silently meanwhile: closing counts as not connected.
        up = transport is not None and not transport.is_closing()
        return why_not_sent(up, up and transport is not None and transport.get_write_buffer_size() >= OUTBOX_LIMIT)

    def send(self, value: int) -> str | None:
        """Write (or queue behind NET_DELAY_MS) one value; None when accepted, else why not."""
        transport = self.transport
        why = self._why_not(transport)
        if why is not None or transport is None:
            return why
        if not self.delayed.active:
            transport.write(encode_frame(value))
            return None
        if self.delayed.push(asyncio.get_running_loop().time(), value, transport):
            self._schedule_flush()
        return None

    def _schedule_flush(self) -> None:
        due = self.delayed.next_due()
        if due is not None and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_at(due, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        for value, sent_on in self.delayed.due(asyncio.get_running_loop().time()):
            transport = self.transport
            if transport is None or transport is not sent_on or transport.is_closing():
                self.network.frame_dropped(self.peer.node_id, value, LINK_BROKE)
            elif transport.get_write_buffer_size() >= OUTBOX_LIMIT:
                self.network.frame_dropped(self.peer.node_id, value, NOT_READING)
            else:
                transport.write(encode_frame(value))
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
        """Close the connection; returns the delayed values that never left."""
        self.stopping = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.transport is not None:
            self.transport.close()
        if self.task is not None:
            self.task.cancel()
        return self.delayed.take_all()

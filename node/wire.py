"""The wire codec: a hello that names the sender, then 4-byte big-endian clock values. Pure.

Every link is one TCP connection in one direction: the sending node dials, writes

    hello = b"LAMP" | version (1 byte) | id length (1 byte) | node id (UTF-8)

and then nothing but frames, each exactly one unsigned 32-bit big-endian clock value. The
receiver writes back on the same connection only acknowledgements, in the same 4-byte frames:
each the highest value it has taken from that sender (node.channel). The decoders accept bytes
in chunks of any size (TCP may split or join frames anywhere) and reject anything a Lamport
sender (or receiver) would never produce.
"""

from __future__ import annotations

import struct

from node.clock import MAX_CLOCK
from node.config import NODE_ID_PATTERN

MAGIC = b"LAMP"
VERSION = 1
FRAME = struct.Struct("!I")
FRAME_SIZE = FRAME.size
_HELLO_HEAD = len(MAGIC) + 2


class ProtocolError(Exception):
    """The remote side sent bytes that are not this protocol: its fault, not ours.

    `values` are the good frames decoded before the bad one: delivered, not thrown away."""

    def __init__(self, message: str, values: list[int] | None = None) -> None:
        super().__init__(message)
        self.values = values or []


def encode_hello(node_id: str) -> bytes:
    raw = node_id.encode()
    if not NODE_ID_PATTERN.fullmatch(node_id) or len(raw) > 255:
        raise ValueError(f"not a valid node id: {node_id!r}")
    return MAGIC + bytes((VERSION, len(raw))) + raw


def encode_frame(value: int) -> bytes:
    if not 0 <= value <= MAX_CLOCK:
        raise ValueError(f"clock value {value} does not fit in a frame")
    return FRAME.pack(value)


class LinkDecoder:
    """Decodes one inbound link: the hello once, then frames, from chunks of any size.

    Also checks the one property every Lamport sender has: each value it sends on a link is
    larger than the previous one (its clock advances on every send), so a value that is not
    is garbage or a replay and ends the link.
    """

    __slots__ = ("_buffer", "peer", "last_value", "frames", "max_value")

    def __init__(self, max_value: int = MAX_CLOCK) -> None:
        self._buffer = bytearray()
        self.peer: str | None = None  # set once the hello has been read
        self.last_value: int | None = None
        self.frames = 0
        # No honest peer's clock can pass this in this run (node.config's clock bound): one frame
        # near 2^32 would otherwise drive every clock it reaches to overflow.
        self.max_value = max_value

    def feed(self, data: bytes) -> list[int]:
        """Add received bytes; return the complete clock values they finish, in order."""
        self._buffer += data
        if self.peer is None and not self._read_hello():
            return []
        usable = len(self._buffer) - len(self._buffer) % FRAME_SIZE
        if usable == 0:
            return []
        values = [v for (v,) in FRAME.iter_unpack(memoryview(self._buffer)[:usable])]
        del self._buffer[:usable]
        last = self.last_value
        for i, value in enumerate(values):
            if (last is not None and value <= last) or value > self.max_value:
                self.last_value, self.frames = last, self.frames + i
                why = (
                    f"clock value {value} after {last}: a sender's values only grow"
                    if value <= self.max_value
                    else f"clock value {value} beyond {self.max_value}, the most any clock can reach in this run"
                )
                raise ProtocolError(why, values[:i])
            last = value
        self.last_value = last
        self.frames += len(values)
        return values

    def _read_hello(self) -> bool:
        buffer = self._buffer
        prefix = bytes(buffer[: len(MAGIC)])
        if not MAGIC.startswith(prefix):
            raise ProtocolError(f"bad hello: starts with {prefix!r}, expected {MAGIC!r}")
        if len(buffer) < _HELLO_HEAD:
            return False
        version, length = buffer[len(MAGIC)], buffer[len(MAGIC) + 1]
        if version != VERSION:
            raise ProtocolError(f"bad hello: protocol version {version}, expected {VERSION}")
        if length == 0:
            raise ProtocolError("bad hello: empty node id")
        if len(buffer) < _HELLO_HEAD + length:
            return False
        try:
            node_id = bytes(buffer[_HELLO_HEAD : _HELLO_HEAD + length]).decode()
        except UnicodeDecodeError:
            raise ProtocolError("bad hello: node id is not UTF-8") from None
        if not NODE_ID_PATTERN.fullmatch(node_id):
            raise ProtocolError(f"bad hello: {node_id!r} is not a valid node id")
        del buffer[: _HELLO_HEAD + length]
        self.peer = node_id
        return True

    def finish(self) -> None:
        """The connection ended: complain if it ended inside a hello or a frame."""
        if self._buffer:
            where = "hello" if self.peer is None else "frame"
            raise ProtocolError(f"connection ended inside a {where} ({len(self._buffer)} stray bytes)")


class AckDecoder:
    """Decodes the acknowledgements a receiver writes back on a link: 4-byte frames, each the
    highest value it has taken (node.channel); never decreasing. Returns why, as a string, when
    the bytes are not that."""

    __slots__ = ("_buffer", "last")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.last = -1

    def feed(self, data: bytes) -> list[int] | str:
        self._buffer += data
        usable = len(self._buffer) - len(self._buffer) % FRAME_SIZE
        if usable == 0:
            return []
        values = [v for (v,) in FRAME.iter_unpack(memoryview(self._buffer)[:usable])]
        del self._buffer[:usable]
        for value in values:
            if value < self.last:
                return f"acknowledgement {value} after {self.last}: acknowledgements never decrease"
            self.last = value
        return values

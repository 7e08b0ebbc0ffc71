"""The wire codec: a hello that names the sender, then 4-byte big-endian clock values. Pure.

Every link is one TCP connection in one direction: the sending node dials, writes

    hello = b"LAMP" | version (1 byte) | id length (1 byte) | node id (UTF-8)

and then nothing but frames, each exactly one unsigned 32-bit big-endian clock value. The
decoder accepts bytes in chunks of any size (TCP may split or join frames anywhere) and raises
`ProtocolError` for anything a Lamport sender would never produce.
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
    """The remote side sent bytes that are not this protocol: its fault, not ours."""


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

    __slots__ = ("_buffer", "peer", "last_value", "frames")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.peer: str | None = None  # set once the hello has been read
        self.last_value: int | None = None
        self.frames = 0

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
        for value in values:
            if last is not None and value <= last:
                raise ProtocolError(f"clock value {value} after {last}: a sender's values only grow")
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

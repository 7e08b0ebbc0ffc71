"""The wire codec: hello + 4-byte frames, any chunking, and what it refuses."""

import random
import struct

import pytest

from node.wire import FRAME_SIZE, LinkDecoder, ProtocolError, encode_frame, encode_hello


def stream(node_id: str, values: list[int]) -> bytes:
    return encode_hello(node_id) + b"".join(encode_frame(v) for v in values)


def test_frame_is_four_bytes_big_endian() -> None:
    assert encode_frame(1) == b"\x00\x00\x00\x01"
    assert encode_frame(0x01020304) == b"\x01\x02\x03\x04"
    assert len(encode_frame(2**32 - 1)) == FRAME_SIZE
    with pytest.raises(ValueError, match="fit"):
        encode_frame(2**32)


def test_round_trip_in_one_chunk() -> None:
    decoder = LinkDecoder()
    assert decoder.feed(stream("node2", [3, 7, 8])) == [3, 7, 8]
    assert decoder.peer == "node2"
    decoder.finish()


def test_byte_at_a_time() -> None:
    """TCP may split anywhere: one byte per read must give the same values."""
    data = stream("node3", list(range(1, 200, 3)))
    decoder = LinkDecoder()
    values: list[int] = []
    for i in range(len(data)):
        values += decoder.feed(data[i : i + 1])
    assert values == list(range(1, 200, 3))
    assert decoder.frames == len(values)


def test_random_chunking_matches() -> None:
    rng = random.Random(1)
    expected = sorted(rng.sample(range(1, 2**32), 500))
    data = stream("n", expected)
    for _ in range(50):
        decoder = LinkDecoder()
        got: list[int] = []
        position = 0
        while position < len(data):
            size = rng.randint(1, 17)
            got += decoder.feed(data[position : position + size])
            position += size
        assert got == expected


def test_two_values_never_read_as_one() -> None:
    """The classic text-protocol bug: '1' then '2' read as 12. Frames cannot merge."""
    decoder = LinkDecoder()
    assert decoder.feed(stream("a", [1, 2])) == [1, 2]


def test_partial_frame_waits_for_the_rest() -> None:
    decoder = LinkDecoder()
    assert decoder.feed(encode_hello("a") + b"\x00\x00") == []
    assert decoder.feed(b"\x00\x05") == [5]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n", "bad hello"),
        (b"LAMP\x02\x01a", "version 2"),
        (b"LAMP\x01\x00", "empty node id"),
        (b"LAMP\x01\x02\xff\xfe", "not UTF-8"),
        (b"LAMP\x01\x03a b", "not a valid node id"),
    ],
)
def test_bad_hellos_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        LinkDecoder().feed(data)


def test_values_must_grow_on_a_link() -> None:
    decoder = LinkDecoder()
    decoder.feed(stream("a", [5]))
    with pytest.raises(ProtocolError, match="only grow"):
        decoder.feed(struct.pack("!I", 5))


def test_connection_ending_inside_a_frame_is_reported() -> None:
    decoder = LinkDecoder()
    decoder.feed(stream("a", [1]) + b"\x00")
    with pytest.raises(ProtocolError, match="inside a frame"):
        decoder.finish()
    half_hello = LinkDecoder()
    half_hello.feed(b"LA")
    with pytest.raises(ProtocolError, match="inside a hello"):
        half_hello.finish()


def test_hello_rejects_invalid_ids() -> None:
    with pytest.raises(ValueError, match="node id"):
        encode_hello("has space")

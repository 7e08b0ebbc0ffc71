"""The wire decoder under arbitrary input (hypothesis): it decodes or refuses, it never breaks."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.wire import LinkDecoder, ProtocolError, encode_frame, encode_hello

node_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_decode_or_raise_protocol_error(chunks: list[bytes]) -> None:
    decoder = LinkDecoder()
    values: list[int] = []
    try:
        for chunk in chunks:
            values += decoder.feed(chunk)
        decoder.finish()
    except ProtocolError:
        return
    assert all(0 <= v < 2**32 for v in values)
    assert values == sorted(set(values))  # whatever is accepted only grows


@settings(max_examples=150, deadline=None)
@given(node_ids, st.lists(st.integers(1, 2**32 - 1), unique=True, max_size=50), st.data())
def test_valid_streams_decode_exactly_under_any_split(node_id: str, raw: list[int], data: st.DataObject) -> None:
    values = sorted(raw)
    stream = encode_hello(node_id) + b"".join(encode_frame(v) for v in values)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    decoder = LinkDecoder()
    got: list[int] = []
    for piece in pieces:
        got += decoder.feed(piece)
    decoder.finish()
    assert decoder.peer == node_id
    assert got == values


@settings(max_examples=200, deadline=None)
@given(node_ids, st.binary(min_size=1, max_size=3))
def test_trailing_partial_frame_is_refused_at_the_end(node_id: str, tail: bytes) -> None:
    decoder = LinkDecoder()
    decoder.feed(encode_hello(node_id) + encode_frame(1) + tail)
    with pytest.raises(ProtocolError, match="inside a frame"):
        decoder.finish()

"""Reliable FIFO channels (node.channel) and their wire frames (node.wire): the pure parts."""

from __future__ import annotations

import struct

import pytest

from node.channel import Channels, Inbox, Outbox
from node.linkrules import NOT_CONNECTED, NOT_READING, UNACKED_FULL
from node.wire import AckDecoder, LinkDecoder, ProtocolError, encode_frame, encode_hello


def test_an_outbox_keeps_what_is_unacknowledged_and_resends_it_in_order() -> None:
    box = Outbox(limit=10, reliable=True)
    for value in (3, 5, 9, 12):
        assert box.keep(value)
    assert box.acknowledge(5) is None
    assert box.to_resend() == [9, 12]
    assert box.acknowledge(4) is None  # an older acknowledgement changes nothing
    assert (box.acked, box.to_resend()) == (5, [9, 12])
    box.connection_lost()  # reliable: nothing is forgotten
    assert box.to_resend() == [9, 12]


def test_an_outbox_is_bounded_and_refuses_acknowledgements_of_what_was_never_sent() -> None:
    box = Outbox(limit=2, reliable=True)
    assert box.keep(1)
    assert box.keep(2)
    assert not box.keep(3)  # full: the caller drops it (with a line)
    assert box.acknowledge(7) == "acknowledgement 7 above the highest value sent (2)"
    assert box.to_resend() == [1, 2]


def test_at_most_once_forgets_what_a_broken_connection_held_and_resends_nothing() -> None:
    box = Outbox(limit=10, reliable=False, restored=[4, 8])
    assert box.to_resend() == []
    assert box.highest == 8
    box.keep(9)
    assert list(box.unacked) == [9]
    box.connection_lost()
    assert list(box.unacked) == []
    assert box.to_resend() == []


def test_an_offer_is_kept_while_down_when_reliable_and_dropped_at_most_once() -> None:
    reliable, once = Outbox(limit=2, reliable=True), Outbox(limit=2, reliable=False)
    assert reliable.offer(1, live=False, buffer_full=False) is None  # kept for the next connection
    assert reliable.offer(2, live=True, buffer_full=True) is None  # only the bound counts
    assert reliable.offer(3, live=True, buffer_full=False) == UNACKED_FULL
    assert once.offer(1, live=False, buffer_full=False) == NOT_CONNECTED
    assert once.offer(2, live=True, buffer_full=True) == NOT_READING
    assert once.offer(3, live=True, buffer_full=False) is None
    assert list(once.unacked) == [3]


def test_a_restarted_sender_keeps_only_the_newest_values_of_its_log() -> None:
    box = Outbox(limit=3, reliable=True, restored=range(1, 11))
    assert box.to_resend() == [8, 9, 10]
    assert box.highest == 10


def test_an_inbox_takes_each_value_once_even_across_a_restart() -> None:
    inbox = Inbox({"node2": 7})  # a restarted receiver: its log says it took 7 from node2
    assert inbox.welcome("node2") == 7
    assert inbox.welcome("node3") == 0
    assert not inbox.accept("node2", 7)  # sent again: already taken
    assert inbox.accept("node2", 8)
    assert not inbox.accept("node2", 8)  # sent again after a reconnect: already queued
    assert inbox.accept("node3", 1)
    inbox.took("node2", 8)
    assert inbox.welcome("node2") == 8
    assert inbox.duplicates == 2


def test_channels_restore_and_report_what_the_stop_line_counts() -> None:
    channels = Channels.restore(("a", "b"), {"a": 3}, {"b": [5, 6]}, reliable=True, limit=100)
    assert channels.unacked() == {"a": 0, "b": 2}
    channels.outboxes["b"].acknowledge(5)
    assert channels.acked() == {"a": 0, "b": 5}
    assert channels.inbox.welcome("a") == 3


def test_acknowledgements_decode_from_any_split_and_never_decrease() -> None:
    decoder = AckDecoder()
    data = encode_frame(0) + encode_frame(4) + encode_frame(4) + encode_frame(9)
    assert decoder.feed(data[:3]) == []
    assert decoder.feed(data[3:10]) == [0, 4]
    assert decoder.feed(data[10:]) == [4, 9]
    assert decoder.feed(encode_frame(2)) == "acknowledgement 2 after 9: acknowledgements never decrease"


def test_the_frames_before_a_bad_one_are_kept() -> None:
    """A chunk with one bad frame used to lose the good frames before it (finding: values
    discarded with a chunk holding one bad frame)."""
    decoder = LinkDecoder()
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(encode_hello("node2") + struct.pack("!4I", 1, 2, 5, 3))
    assert caught.value.values == [1, 2, 5]


def test_a_frame_beyond_what_the_run_can_reach_is_refused() -> None:
    """One frame near 2^32 from a peer drove every clock it reached to overflow (finding)."""
    decoder = LinkDecoder(max_value=1_000_000)
    with pytest.raises(ProtocolError, match="beyond 1000000") as caught:
        decoder.feed(encode_hello("node2") + struct.pack("!2I", 10, 2**32 - 2))
    assert caught.value.values == [10]

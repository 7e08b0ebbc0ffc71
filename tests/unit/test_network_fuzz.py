"""The receiver side of the real network (node.network) under fuzzing, past the hello.

No sockets: _InboundConnection objects run on fake asyncio transports (_Pipe: what the remote
wrote waits in it until the test lets the connection read it, in reads of any size) in an event
loop whose clock is virtual and whose name lookups wait until the test answers them
(_VirtualLoop). Two properties:

- a valid hello followed by arbitrary bytes, read in arbitrary pieces: what reaches the node is
  exactly the valid frames before the first bad one (a reference decoding written here), and a
  bad frame is one `reject`;
- a stateful test (hypothesis.stateful) with two honest reliable senders, one erratic peer,
  strangers and floods: dial, read, answer lookups in any order, EOF, reset, replace, pause,
  take and acknowledge, advance time. After every step the Network's state and its accounting
  match a model kept here; a `heal` step checks that everything sent is eventually taken, once.

The rarest interleavings it reaches are also pinned as plain tests at the end (the machine's own
steps in a fixed order), so that they do not depend on the search finding them.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from node.channel import Channels, Outbox
from node.clock import MAX_CLOCK
from node.config import Peer
from node.linkrules import ACK_INTERVAL, HELLO_TIMEOUT, MAX_UNIDENTIFIED
from node.network import READ_CHUNK, Network, _InboundConnection
from node.wire import FRAME, AckDecoder, encode_frame, encode_hello

ADDRESSES = {"node2": "10.0.0.2", "node3": "10.0.0.3", "node4": "10.0.0.4"}
HOSTS = {peer: f"{peer}.test" for peer in ADDRESSES}
HONEST = ("node2", "node3")  # reliable senders, as node.dialer behaves
ERRATIC = "node4"  # a known peer whose connections carry anything
ELSEWHERE = "10.9.9.9"  # a wrong answer to a lookup
_HELD = re.compile(r"(\d+) more connections rejected, not logged one by one")


class _VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when the test says so, whose name lookups wait for
    the test's answer, and which records any exception a callback or task let escape."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.lookups: list[tuple[str, asyncio.Future[str]]] = []  # in the order they were asked
        self.errors: list[str] = []
        self.set_exception_handler(self._record)

    def _record(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(f"{context.get('message')}: {context.get('exception')!r}")

    def time(self) -> float:
        return self.now

    async def getaddrinfo(  # type: ignore[override]
        self, host: bytes | str | None, port: bytes | str | int | None, **kwargs: int
    ) -> list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int]]]:
        answer: asyncio.Future[str] = self.create_future()
        self.lookups.append((str(host), answer))
        address = await answer
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    def step(self, action: Callable[[], object] = lambda: None) -> None:
        """Run `action` inside the loop, then let everything it set off run (tasks, call_soon)."""

        async def run() -> None:
            action()
            for _ in range(5):  # one loop iteration each: the longest chain here is a task waking
                # up, rejecting, and the transport's connection_lost
                await asyncio.sleep(0)

        self.run_until_complete(run())

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.step()


class _Pipe(asyncio.Transport):
    """One TCP connection as asyncio's socket transport presents it to the protocol: what the
    remote wrote (`incoming`, then maybe EOF) is read only when the test calls `read`, and only
    while reading is not paused; close/abort/reset end it with one connection_lost, soon."""

    def __init__(self, loop: _VirtualLoop, protocol: _InboundConnection, address: str) -> None:
        super().__init__()
        self.loop = loop
        self.protocol = protocol
        self.address = address
        self.incoming = bytearray()  # written by the remote, not read yet
        self.consumed = 0  # bytes the protocol has read
        self.eof = False  # the remote half-closed after `incoming`
        self.eof_read = False
        self.paused = False
        self.closing = False
        self.written = bytearray()  # what the Network wrote back: acknowledgements
        self.late_writes = 0  # writes on a closing transport (asyncio would drop them)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.address, 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closing

    def is_reading(self) -> bool:
        return not self.closing and not self.paused

    def pause_reading(self) -> None:
        if self.is_reading():
            self.paused = True

    def resume_reading(self) -> None:
        if not self.closing and self.paused:
            self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing:
            self.late_writes += 1
        else:
            self.written += data

    def close(self) -> None:
        self._end(None)

    def abort(self) -> None:
        self._end(None)

    def reset(self) -> None:
        """The remote reset the connection (or it broke)."""
        self._end(ConnectionResetError("reset by the test"))

    def _end(self, exc: Exception | None) -> None:
        if not self.closing:
            self.closing = True
            self.loop.call_soon(self.protocol.connection_lost, exc)

    def read(self, size: int) -> None:
        """One read, as the loop does when the socket is readable: at most `size` bytes (what
        TCP has delivered so far) and at most the protocol's buffer; or the EOF."""
        if not self.is_reading():
            return
        if self.incoming:
            buffer = self.protocol.get_buffer(-1)
            n = min(size, len(buffer), len(self.incoming))
            buffer[:n] = self.incoming[:n]
            del self.incoming[:n]
            self.consumed += n
            self.protocol.buffer_updated(n)
        elif self.eof and not self.eof_read:
            self.eof_read = True
            if not self.protocol.eof_received():
                self.close()


class _Core:
    """What node.core does with what the transport reports, and no more: the Inbox filter, a
    queue, pausing at MAX_QUEUE and resuming below it, acknowledging what it takes. Also
    records everything the transport reported."""

    def __init__(self, channels: Channels, max_queue: int) -> None:
        self.inbox = channels.inbox
        self.max_queue = max_queue
        # The Network's, once it is built (it needs this object first).
        self.pause: Callable[[], None] = lambda: None
        self.resume: Callable[[], None] = lambda: None
        self.acknowledge: Callable[[str], None] = lambda peer: None
        self.queue: deque[tuple[str, int]] = deque()
        self.reading_paused = False
        self.arrivals: list[tuple[str, int]] = []  # taken away by the test after each step
        self.accepted: dict[str, list[int]] = {peer: [] for peer in ADDRESSES}
        self.duplicates: dict[str, int] = dict.fromkeys(ADDRESSES, 0)
        self.rejected = 0  # connections the `reject` lines account for
        self.peer_events: dict[str, list[bool]] = {peer: [] for peer in ADDRESSES}

    def message_arrived(self, peer: str, value: int) -> None:
        self.arrivals.append((peer, value))
        if not self.inbox.accept(peer, value):
            self.duplicates[peer] += 1
            return
        self.accepted[peer].append(value)
        self.queue.append((peer, value))
        if len(self.queue) >= self.max_queue and not self.reading_paused:
            self.reading_paused = True
            self.pause()

    def take(self) -> tuple[str, int]:
        peer, value = self.queue.popleft()
        self.inbox.took(peer, value)
        self.acknowledge(peer)
        if self.reading_paused and len(self.queue) < self.max_queue:
            self.reading_paused = False
            self.resume()
        return peer, value

    def take_arrivals(self) -> list[tuple[str, int]]:
        arrivals, self.arrivals = self.arrivals, []
        return arrivals

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None:
        self.peer_events[peer].append(connected)

    def connection_rejected(self, address: str, reason: str) -> None:
        held = _HELD.search(reason)
        count = int(held.group(1)) if held else 0
        self.rejected += count if address == "(various)" else 1 + count

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        raise AssertionError(f"the receiver side dropped a frame: {peer} {value} {reason}")

    def transport_failed(self, message: str) -> None:
        raise AssertionError(f"transport failed: {message}")

    def links_changed(self) -> None:
        pass


def _network(loop: _VirtualLoop, max_value: int, max_queue: int) -> tuple[Network, _Core]:
    peers = tuple(Peer(peer, HOSTS[peer], 7000) for peer in ADDRESSES)
    channels = Channels.restore(list(ADDRESSES), {}, {}, reliable=True, limit=10**6)
    core = _Core(channels, max_queue)
    network = Network("node1", peers, 0, core, channels=channels, max_value=max_value)
    core.pause, core.resume, core.acknowledge = network.pause_reading, network.resume_reading, network.acknowledge
    return network, core


def _reference(tail: bytes, max_value: int) -> tuple[list[tuple[int, int]], int | None]:
    """What follows a hello, decoded here independently of node.wire: the valid frames before
    the first bad one, each as (offset where it ends, value), and where the bad one ends (None:
    no bad frame). A frame is bad when not above the one before it or above max_value."""
    valid: list[tuple[int, int]] = []
    for end in range(4, len(tail) + 1, 4):
        value = int.from_bytes(tail[end - 4 : end], "big")
        if (valid and value <= valid[-1][1]) or value > max_value:
            return valid, end
        valid.append((end, value))
    return valid, None


def _acks(data: bytes | bytearray) -> list[int]:
    return [value for (value,) in FRAME.iter_unpack(bytes(data[: len(data) - len(data) % 4]))]


# -- 1. a valid hello, then anything ---------------------------------------------------------------


@st.composite
def _hello_then_anything(draw: st.DrawFn) -> tuple[int, int, bytes]:
    """A max_value, and what follows the hello: sometimes a run of frames 1..run longer than one
    read, then mostly frames (some too big, some not growing) and stray bytes that break the
    framing."""
    max_value = draw(st.sampled_from([MAX_CLOCK, 5000, 60]))
    run = draw(st.sampled_from([0, 0, 0, 2100, 2600]))  # 2,600 frames: more than READ_CHUNK
    frame = st.integers(0, min(max_value + 3, MAX_CLOCK)).map(encode_frame)
    growing = st.integers(1, 40).map(lambda step: encode_frame(min(run + step * 97, MAX_CLOCK)))
    pieces = draw(st.lists(st.one_of(frame, frame, growing, st.binary(min_size=1, max_size=6)), max_size=25))
    pieces.append(draw(st.binary(max_size=3)))  # often a clean stream that stops inside a frame
    return max_value, run, b"".join(pieces)


@settings(max_examples=120, deadline=None)
@given(
    _hello_then_anything(),
    st.lists(st.integers(1, 3 * READ_CHUNK), max_size=12),
    st.lists(st.integers(1, 9), max_size=30),
    st.booleans(),
)
def test_a_valid_hello_then_arbitrary_bytes(
    case: tuple[int, int, bytes], big_reads: list[int], small_reads: list[int], eof: bool
) -> None:
    max_value, run, rest = case
    tail = b"".join(encode_frame(v) for v in range(1, run + 1)) + rest
    hello = encode_hello("node2")
    loop = _VirtualLoop()
    try:
        network, core = _network(loop, max_value, max_queue=10**6)
        network.outbound["node2"].up = True  # so that connectedness follows the inbound link
        connection = _InboundConnection(network)
        pipe = _Pipe(loop, connection, ADDRESSES["node2"])
        loop.step(lambda: connection.connection_made(pipe))
        pipe.incoming += hello + tail
        pipe.eof = eof
        reads = iter([*small_reads, *big_reads])
        hello_read_end: int | None = None  # where the read that completed the hello stopped
        for _ in range(len(small_reads) + len(big_reads) + 20):
            if pipe.closing or (not pipe.incoming and pipe.eof_read == eof):
                break
            loop.step(lambda: pipe.read(next(reads, READ_CHUNK)))
            if hello_read_end is None and pipe.consumed >= len(hello):
                hello_read_end = pipe.consumed
            for host, answer in loop.lookups:
                if not answer.done():
                    assert host == HOSTS["node2"]
                    loop.step(lambda answer=answer: answer.set_result(ADDRESSES["node2"]))  # type: ignore[misc]
        assert loop.errors == []
        assert pipe.closing or (not pipe.incoming and pipe.eof_read == eof), "the reads did not finish"

        valid, bad_end = _reference(tail, max_value)
        assert hello_read_end is not None
        # Frames that came in the same read as the hello wait for the sender's verification; a bad
        # one among them ends the connection before that, and they go with it (never acknowledged:
        # a reliable sender sends them again).
        bad_in_hello_read = bad_end is not None and len(hello) + bad_end <= hello_read_end
        expected = [] if bad_in_hello_read else [value for _, value in valid]
        arrivals = core.take_arrivals()
        assert arrivals == [("node2", value) for value in expected]
        assert all(value <= max_value for _, value in arrivals)
        bad_ending = bad_end is not None or (eof and len(tail) % 4 != 0)
        assert core.rejected + network._rejects.held == (1 if bad_ending else 0)
        ended = bad_ending or eof
        assert ("node2" in network.inbound) == (not ended)
        assert core.peer_events["node2"] == ([] if bad_in_hello_read else [True, False] if ended else [True])
        assert _acks(pipe.written) == ([] if bad_in_hello_read else [0])  # the welcome, nothing taken
        assert not network.unidentified
        assert pipe.late_writes == 0
    finally:
        loop.step(network.close)
        loop.close()


# -- 2. the receiver's links as a state machine ---------------------------------------------------

MAX_VALUE = 10**6
MAX_QUEUE = 5
# What an erratic peer or a stranger writes: frames, often not growing, and stray bytes.
_TAILS = st.lists(st.one_of(st.integers(0, 300).map(encode_frame), st.binary(min_size=1, max_size=3)), max_size=6).map(
    b"".join
)


_READS = st.sampled_from([1, 2, 3, 5, 8, 64, 2 * READ_CHUNK])


@dataclass(eq=False)
class _Conn:
    """The model's view of one inbound connection."""

    number: int
    kind: str  # sender | erratic | stranger | spoof | badhello | silent
    claimed: str | None  # the node id of its hello, if it carries a valid one
    pipe: _Pipe
    proto: _InboundConnection
    hello_len: int
    admitted_at: float
    stream: bytearray = field(default_factory=bytearray)  # everything the remote wrote
    state: str = "unidentified"  # unidentified | verifying | verified | ended
    delivered: list[int] = field(default_factory=list)
    lookup: asyncio.Future[str] | None = None
    acks_checked: AckDecoder = field(default_factory=AckDecoder)
    checked: int = 0  # bytes of pipe.written checked so far
    sender_acks: AckDecoder = field(default_factory=AckDecoder)  # the honest sender's reading
    sender_read: int = 0  # bytes of pipe.written the honest sender has read
    last_written: int = 0  # the honest sender's last value on it (0: none yet)

    def __repr__(self) -> str:
        return f"conn{self.number}({self.kind} {self.claimed} {self.state})"


@dataclass
class _Sender:
    """An honest reliable sender, as node.dialer behaves, with node.channel's Outbox."""

    outbox: Outbox = field(default_factory=lambda: Outbox(10**6, reliable=True))
    generated: list[int] = field(default_factory=list)  # every value it sent, in order
    conn: _Conn | None = None
    up: bool = False  # welcomed on `conn`


class NetworkMachine(RuleBasedStateMachine):
    """Three known peers (two honest, one erratic) and strangers against one Network."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = _VirtualLoop()
        self.network, self.core = _network(self.loop, MAX_VALUE, MAX_QUEUE)
        self.core.pause, self.core.resume = self.pause, self.resume
        self.conns: list[_Conn] = []
        self.current: dict[str, _Conn] = {}  # the verified connection of each peer
        self.senders = {peer: _Sender() for peer in HONEST}
        self.outbound_up = dict.fromkeys(ADDRESSES, True)
        for peer in ADDRESSES:
            self.network.outbound[peer].up = True
        self.paused = False
        self.taken = dict.fromkeys(ADDRESSES, 0)
        self.ack_due: dict[str, float] = {}  # peer -> when its batched acknowledgement goes out
        self.rejects = 0  # connections the model expects the `reject` lines to account for

    def teardown(self) -> None:
        self.loop.step(self.network.close)
        self.loop.close()

    # -- helpers ----------------------------------------------------------------------------------
    def pause(self) -> None:
        self.paused = True
        self.network.pause_reading()

    def resume(self) -> None:
        self.paused = False
        self.network.resume_reading()

    def open_conns(self, kinds: tuple[str, ...] | None = None) -> list[_Conn]:
        return [c for c in self.conns if c.state != "ended" and (kinds is None or c.kind in kinds)]

    def unidentified(self) -> list[_Conn]:
        return [c for c in self.conns if c.state in ("unidentified", "verifying")]

    def end(self, conn: _Conn, rejected: bool) -> None:
        conn.state = "ended"
        self.rejects += rejected
        if conn.claimed is not None and self.current.get(conn.claimed) is conn:
            del self.current[conn.claimed]

    def connect(self, kind: str, claimed: str | None, address: str, first: bytes) -> _Conn:
        proto = _InboundConnection(self.network)
        pipe = _Pipe(self.loop, proto, address)
        hello_len = len(encode_hello(claimed)) if claimed is not None else 0
        refused = len(self.unidentified()) >= MAX_UNIDENTIFIED
        conn = _Conn(len(self.conns), kind, claimed, pipe, proto, hello_len, self.loop.now)
        self.conns.append(conn)
        self.loop.step(lambda: proto.connection_made(pipe))
        if refused:
            self.end(conn, rejected=True)
        self.write(conn, first)
        return conn

    def write(self, conn: _Conn, data: bytes) -> None:
        conn.stream += data
        conn.pipe.incoming += data

    def check_arrivals(self, conn: _Conn | None, expected: list[int]) -> None:
        arrivals = self.core.take_arrivals()
        want = [(conn.claimed, value) for value in expected] if conn is not None else []
        assert arrivals == want, f"{conn}: {arrivals} arrived, expected {want}"
        if conn is not None:
            conn.delivered += expected

    def verified(self, conn: _Conn, claimed: str) -> None:
        """The lookup confirmed `conn`'s sender: it replaces the peer's previous connection."""
        old = self.current.get(claimed)
        if old is not None:
            old.state = "ended"  # replaced: aborted, no `reject`, no link change
        conn.state = "verified"
        self.current[claimed] = conn
        assert _acks(conn.pipe.written) == [self.taken[claimed]]  # the welcome: where to resume
        pending, _ = _reference(bytes(conn.stream[conn.hello_len : conn.pipe.consumed]), MAX_VALUE)
        self.check_arrivals(conn, [value for _, value in pending])

    def sync(self, peer: str) -> _Sender:
        """The honest sender learns that its connection was closed under it."""
        sender = self.senders[peer]
        if sender.conn is not None and sender.conn.pipe.closing:
            sender.conn, sender.up = None, False
        return sender

    def read_conn(self, conn: _Conn, size: int) -> None:
        """One read on `conn`, and exactly what the model expects of it."""
        before, eof_before, asked = conn.pipe.consumed, conn.pipe.eof_read, len(self.loop.lookups)
        self.loop.step(lambda: conn.pipe.read(size))
        after, eof_now = conn.pipe.consumed, conn.pipe.eof_read and not eof_before
        lookups = self.loop.lookups[asked:]
        if conn.state == "verifying":  # paused until the lookup is answered
            assert (after, eof_now) == (before, False)
        elif eof_now:
            assert after == before
            if conn.state == "unidentified":
                self.end(conn, rejected=before > 0)  # inside a hello; an empty one is no offence
            else:
                self.end(conn, rejected=(before - conn.hello_len) % 4 != 0)  # inside a frame
        elif after > before and conn.state == "unidentified":
            if conn.kind == "badhello":  # its first byte is not the magic's
                self.end(conn, rejected=True)
            elif conn.claimed is not None and after >= conn.hello_len:
                _, bad = _reference(bytes(conn.stream[conn.hello_len : after]), MAX_VALUE)
                if bad is not None or conn.claimed not in ADDRESSES:
                    self.end(conn, rejected=True)
                else:
                    conn.state = "verifying"
                    assert [host for host, _ in lookups] == [HOSTS[conn.claimed]]
                    conn.lookup = lookups[0][1]
                    lookups = []
        elif after > before and conn.state == "verified":
            valid, bad = _reference(bytes(conn.stream[conn.hello_len : after]), MAX_VALUE)
            self.check_arrivals(conn, [value for end, value in valid if end > before - conn.hello_len])
            if bad is not None:
                self.end(conn, rejected=True)
        assert lookups == []
        self.check_arrivals(None, [])

    def answer(self, conn: _Conn, answer: str) -> None:
        lookup = conn.lookup
        assert lookup is not None
        claimed = conn.claimed
        assert claimed is not None
        if answer == "fail":
            self.loop.step(lambda: lookup.set_exception(OSError("no such host")))
        else:
            self.loop.step(lambda: lookup.set_result(ADDRESSES[claimed] if answer == "right" else ELSEWHERE))
        if conn.state == "ended":  # reset while it waited: nothing to say
            pass
        elif answer != "right" or conn.pipe.address != ADDRESSES[claimed]:
            self.end(conn, rejected=True)
        else:
            self.verified(conn, claimed)
        self.check_arrivals(None, [])

    def take_one(self) -> None:
        taken: list[tuple[str, int]] = []
        self.loop.step(lambda: taken.append(self.core.take()))
        peer, value = taken[0]
        self.taken[peer] = value
        self.ack_due.setdefault(peer, self.loop.now + ACK_INTERVAL)
        self.check_arrivals(None, [])

    def advance_time(self, seconds: float) -> None:
        self.loop.advance(seconds)
        now = self.loop.now + 1e-7  # timers due within float noise of now have fired
        for conn in self.conns:
            if conn.state == "unidentified" and conn.admitted_at + HELLO_TIMEOUT <= now:
                self.end(conn, rejected=True)  # no hello in time
        for peer, due in list(self.ack_due.items()):
            if due <= now:  # the batched acknowledgement went out on the peer's connection
                del self.ack_due[peer]
                current = self.current.get(peer)
                if current is not None:
                    assert _acks(current.pipe.written)[-1] == self.taken[peer]
        self.check_arrivals(None, [])

    def dial_again(self, peer: str, eager: bool) -> None:
        sender = self.sync(peer)
        sender.up = False
        resend = sender.outbox.to_resend() if eager else []
        first = encode_hello(peer) + b"".join(encode_frame(v) for v in resend)
        conn = self.connect("sender", peer, ADDRESSES[peer], first)
        conn.last_written = resend[-1] if resend else 0
        sender.conn = conn if conn.state != "ended" else None

    def read_acks(self, peer: str) -> None:
        sender = self.sync(peer)
        conn = sender.conn
        if conn is None:
            return
        acks = conn.sender_acks.feed(bytes(conn.pipe.written[conn.sender_read :]))
        conn.sender_read = len(conn.pipe.written)
        assert isinstance(acks, list), acks
        for ack in acks:
            assert sender.outbox.acknowledge(ack) is None
        if acks and not sender.up:  # the welcome: what is not acknowledged goes first
            sender.up = True
            for value in sender.outbox.to_resend():
                if value > conn.last_written:
                    self.write(conn, encode_frame(value))
                    conn.last_written = value

    # -- the honest senders -----------------------------------------------------------------------
    @rule(peer=st.sampled_from(HONEST), eager=st.booleans())
    def dial(self, peer: str, eager: bool) -> None:
        """The sender dials again; its old connection, if any, stays as it is (the receiver may not
        have noticed it is gone: the new one replaces it). Eager: it resends at once, not after
        the welcome (node.dialer waits; the receiver must not care)."""
        self.dial_again(peer, eager)

    @rule(peer=st.sampled_from(HONEST), steps=st.lists(st.integers(1, 3), min_size=1, max_size=5))
    def send(self, peer: str, steps: list[int]) -> None:
        """The sender's clock advances by each step and it sends; kept until acknowledged."""
        sender = self.sync(peer)
        for step in steps:
            value = (sender.generated[-1] if sender.generated else 0) + step
            sender.generated.append(value)
            assert sender.outbox.keep(value)
            if sender.conn is not None and sender.up:
                self.write(sender.conn, encode_frame(value))
                sender.conn.last_written = value

    @rule(peer=st.sampled_from(HONEST))
    def sender_reads_acks(self, peer: str) -> None:
        self.read_acks(peer)

    @rule(peer=st.sampled_from(HONEST))
    def sender_sends_a_bad_frame(self, peer: str) -> None:
        """A frame that does not grow (or is too big): the receiver ends the connection."""
        conn = self.sync(peer).conn
        if conn is not None:
            self.write(conn, encode_frame(conn.last_written or MAX_VALUE + 1))

    # -- the erratic peer and strangers -----------------------------------------------------------
    @rule(tail=_TAILS)
    def erratic_connects(self, tail: bytes) -> None:
        self.connect("erratic", ERRATIC, ADDRESSES[ERRATIC], encode_hello(ERRATIC) + tail)

    @precondition(lambda self: bool(self.open_conns(("erratic",))))
    @rule(data=st.data(), tail=_TAILS)
    def erratic_writes(self, data: st.DataObject, tail: bytes) -> None:
        self.write(data.draw(st.sampled_from(self.open_conns(("erratic",)))), tail)

    @rule(kind=st.sampled_from(["stranger", "spoof", "badhello", "partial", "silent"]), junk=_TAILS)
    def stranger_connects(self, kind: str, junk: bytes) -> None:
        if kind == "stranger":  # a well-formed hello from a node nobody knows
            self.connect(kind, "mallory", "10.0.0.9", encode_hello("mallory") + junk)
        elif kind == "spoof":  # node3's address claims to be node2 (and then behaves)
            self.connect(kind, "node2", ADDRESSES["node3"], encode_hello("node2"))
        elif kind == "badhello":
            self.connect(kind, None, "10.0.0.9", b"GET / HTTP/1.1\r\n" + junk)
        else:
            self.connect(kind, None, "10.0.0.9", b"LAM" if kind == "partial" else b"")

    @precondition(lambda self: len(self.unidentified()) < MAX_UNIDENTIFIED)
    @rule(n=st.sampled_from([1, 3, 10, MAX_UNIDENTIFIED + 2]))
    def flood(self, n: int) -> None:
        for _ in range(n):
            self.connect("silent", None, "10.0.0.9", b"")

    # -- any connection ---------------------------------------------------------------------------
    def readable(self) -> list[_Conn]:
        return [c for c in self.open_conns() if c.pipe.is_reading() and (c.pipe.incoming or not c.pipe.eof_read)]

    @precondition(lambda self: bool(self.readable()))
    @rule(data=st.data(), size=_READS)
    def read(self, data: st.DataObject, size: int) -> None:
        self.read_conn(data.draw(st.sampled_from(self.readable())), size)

    @rule(peer=st.sampled_from(HONEST), size=_READS)
    def read_sender_link(self, peer: str, size: int) -> None:
        """Reads on an honest sender's link (the machine would rarely pick it among a flood)."""
        conn = self.sync(peer).conn
        if conn is not None:
            self.read_conn(conn, size)

    @rule(peer=st.sampled_from(HONEST))
    def sender_link_settles(self, peer: str) -> None:
        """What a working link does, in one step: dial if down, read, verify, welcome, resend."""
        if self.sync(peer).conn is None:
            self.dial_again(peer, eager=False)
        for _ in range(3):
            conn = self.sync(peer).conn
            if conn is None:
                return
            self.read_all(conn)
            if conn.lookup is not None and not conn.lookup.done():
                self.answer(conn, "right")
            self.read_acks(peer)

    def read_all(self, conn: _Conn) -> None:
        while conn.state != "ended" and conn.pipe.is_reading() and (conn.pipe.incoming or conn.pipe.eof):
            progress = (conn.pipe.consumed, conn.pipe.eof_read)
            self.read_conn(conn, 2 * READ_CHUNK)
            if (conn.pipe.consumed, conn.pipe.eof_read) == progress:
                return

    @precondition(lambda self: any(c.lookup is not None and not c.lookup.done() for c in self.conns))
    @rule(data=st.data(), answer=st.sampled_from(["right", "right", "right", "wrong", "fail"]))
    def answer_lookup(self, data: st.DataObject, answer: str) -> None:
        """Lookups are answered in any order (asyncio runs them in threads)."""
        waiting = [c for c in self.conns if c.lookup is not None and not c.lookup.done()]
        self.answer(data.draw(st.sampled_from(waiting)), answer)

    def talkers(self) -> list[_Conn]:
        """Open connections other than a flood's (those end by HELLO_TIMEOUT)."""
        return [c for c in self.open_conns() if c.kind != "silent"]

    @rule(answer=st.sampled_from(["right", "right", "wrong", "fail"]))
    def settle(self, answer: str) -> None:
        """Every connection reads what it can, and every lookup waiting is answered."""
        for conn in [c for c in self.conns if c.lookup is not None and not c.lookup.done()]:
            self.answer(conn, answer)
        for conn in self.readable():
            self.read_all(conn)

    @precondition(lambda self: any(not c.pipe.eof for c in self.talkers()))
    @rule(data=st.data())
    def remote_eof(self, data: st.DataObject) -> None:
        conn = data.draw(st.sampled_from([c for c in self.talkers() if not c.pipe.eof]))
        conn.pipe.eof = True  # read after what it wrote, as TCP delivers it
        for sender in self.senders.values():
            if sender.conn is conn:  # it finished sending
                sender.conn, sender.up = None, False

    @precondition(lambda self: bool(self.talkers()))
    @rule(data=st.data())
    def remote_reset(self, data: st.DataObject) -> None:
        self.reset(data.draw(st.sampled_from(self.talkers())))

    @rule(peer=st.sampled_from(HONEST))
    def sender_link_breaks(self, peer: str) -> None:
        """The honest sender's connection is reset (often while its lookup is still waiting)."""
        conn = self.sync(peer).conn
        if conn is not None:
            self.reset(conn)

    def reset(self, conn: _Conn) -> None:
        self.loop.step(conn.pipe.reset)
        self.end(conn, rejected=False)
        self.check_arrivals(None, [])

    # -- the node ---------------------------------------------------------------------------------
    @precondition(lambda self: bool(self.core.queue))
    @rule()
    def take(self) -> None:
        self.take_one()

    @rule(pause=st.booleans())
    def pause_or_resume_reading(self, pause: bool) -> None:
        self.loop.step(self.pause if pause else self.resume)

    @rule(peer=st.sampled_from(sorted(ADDRESSES)))
    def outbound_link_flips(self, peer: str) -> None:
        """Our own dial to `peer` comes up or goes down (node.dialer tells the Network)."""
        self.outbound_up[peer] = not self.outbound_up[peer]
        self.network.outbound[peer].up = self.outbound_up[peer]
        self.loop.step(lambda: self.network.link_changed(peer, "test"))

    @rule(seconds=st.sampled_from([0.004, ACK_INTERVAL, ACK_INTERVAL, 0.3, HELLO_TIMEOUT, 1.5]))
    def advance(self, seconds: float) -> None:
        self.advance_time(seconds)

    @rule()
    def heal(self) -> None:
        """Everything settles: lookups answered right, everything read and taken, senders redial
        and resend. Then every value an honest sender sent has been taken once, and acknowledged."""
        self.loop.step(self.resume)
        self.advance_time(HELLO_TIMEOUT)  # a flood's connections time out
        for _ in range(20):
            for conn in [c for c in self.conns if c.lookup is not None and not c.lookup.done()]:
                self.answer(conn, "right")
            for conn in self.open_conns():
                self.read_all(conn)
            while self.core.queue:
                self.take_one()
            self.advance_time(ACK_INTERVAL)
            for peer in HONEST:
                if self.sync(peer).conn is None:
                    self.dial_again(peer, eager=False)
                self.read_acks(peer)
            if all(self.everything_taken(peer) for peer in HONEST):
                return
        raise AssertionError(f"not healed: {self.core.accepted} taken, {self.senders} sent")

    def everything_taken(self, peer: str) -> bool:
        sender = self.senders[peer]
        last = sender.generated[-1] if sender.generated else 0
        return self.core.accepted[peer] == sender.generated and sender.outbox.acked == last

    # -- after every step -------------------------------------------------------------------------
    @invariant()
    def nothing_escaped(self) -> None:
        assert self.loop.errors == []
        assert self.core.arrivals == []
        assert all(c.pipe.late_writes == 0 for c in self.conns)

    @invariant()
    def unidentified_are_bounded(self) -> None:
        assert len(self.network.unidentified) <= MAX_UNIDENTIFIED
        assert self.network.unidentified == {c.proto for c in self.unidentified()}

    @invariant()
    def connectedness_matches_the_open_verified_connections(self) -> None:
        assert self.network.inbound == {peer: c.proto for peer, c in self.current.items()}
        connected = {peer for peer in self.current if self.outbound_up[peer]}
        assert self.network.links.connected == connected
        assert self.network.links.count() == len(connected)
        for peer, events in self.core.peer_events.items():
            assert events == [i % 2 == 0 for i in range(len(events))], (peer, events)  # up, down, up...
            assert (len(events) % 2 == 1) == (peer in connected)

    @invariant()
    def each_connection_is_in_its_state(self) -> None:
        for c in self.conns:
            assert c.proto.ended == (c.state == "ended"), c
            assert c.pipe.closing == (c.state == "ended"), c
            if c.state != "ended":  # verifying: held until the sender is known
                paused = {"unidentified": False, "verifying": True, "verified": self.paused}[c.state]
                assert c.pipe.paused == paused, c
            if c.claimed is not None and c.state in ("verifying", "verified"):
                valid, _ = _reference(bytes(c.stream[c.hello_len : c.pipe.consumed]), MAX_VALUE)
                read = [value for _, value in valid]  # nothing read and valid is held back
                assert c.delivered == ([] if c.state == "verifying" else read), c
                assert c.proto.pending == (read if c.state == "verifying" else []), c

    @invariant()
    def accounting(self) -> None:
        inbox = self.network.channels.inbox
        assert sum(self.core.duplicates.values()) == inbox.duplicates
        for peer in ADDRESSES:
            accepted = self.core.accepted[peer]
            delivered = sum(len(c.delivered) for c in self.conns if c.claimed == peer)
            assert delivered == len(accepted) + self.core.duplicates[peer]
            assert all(a < b for a, b in itertools.pairwise(accepted))  # FIFO, once
            assert self.taken[peer] == inbox.taken.get(peer, 0)
        for peer in HONEST:
            sender, accepted = self.senders[peer], self.core.accepted[peer]
            assert accepted == sender.generated[: len(accepted)]  # sent, in order, nothing skipped
            # What was sent and not taken (in flight, held, or gone with a connection) is above
            # the last acknowledgement: the sender still has it and sends it again.
            assert sender.outbox.acked <= self.taken[peer]
            assert list(sender.outbox.unacked) == [v for v in sender.generated if v > sender.outbox.acked]
        assert self.core.rejected + self.network._rejects.held == self.rejects

    @invariant()
    def what_a_connection_lost_is_sent_again(self) -> None:
        """Per honest peer, every value written on a connection was delivered (taken once, or
        ignored as a duplicate), is still on an open connection (unread, or held until the
        verification), or went with an ended one; and what went is above the acknowledgement:
        the sender still has it, to send again."""
        for peer in HONEST:
            delivered, held, lost = 0, 0, set()
            for c in self.conns:
                if c.claimed == peer and c.kind == "sender":
                    values = [value for _, value in _reference(bytes(c.stream[c.hello_len :]), MAX_VALUE)[0]]
                    assert c.delivered == values[: len(c.delivered)], c
                    delivered += len(c.delivered)
                    rest = values[len(c.delivered) :]
                    if c.state == "ended":
                        lost.update(rest)
                    else:
                        held += len(rest)
            accepted = self.core.accepted[peer]
            assert delivered == len(accepted) + self.core.duplicates[peer]
            assert lost - set(accepted) <= set(self.senders[peer].outbox.unacked)

    @invariant()
    def acknowledgements_never_exceed_what_was_taken(self) -> None:
        for c in self.conns:
            acks = c.acks_checked.feed(bytes(c.pipe.written[c.checked :]))
            c.checked = len(c.pipe.written)
            assert isinstance(acks, list), acks
            assert all(c.claimed is not None and ack <= self.taken[c.claimed] for ack in acks), (c, acks)


NetworkMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=50, deadline=None)
TestNetworkMachine = NetworkMachine.TestCase


# -- the rare interleavings, pinned: the machine's own steps and invariants, in a fixed order -----


def _check(machine: NetworkMachine) -> None:
    machine.nothing_escaped()
    machine.unidentified_are_bounded()
    machine.connectedness_matches_the_open_verified_connections()
    machine.each_connection_is_in_its_state()
    machine.accounting()
    machine.what_a_connection_lost_is_sent_again()
    machine.acknowledgements_never_exceed_what_was_taken()


def _machine() -> NetworkMachine:
    machine = NetworkMachine()
    machine.send("node2", [1, 1, 1])  # 1, 2, 3 kept until a connection is welcomed
    return machine


def test_a_connection_reset_while_its_lookup_waits_is_not_taken_on() -> None:
    machine = _machine()
    try:
        machine.dial_again("node2", eager=True)  # the hello and 1, 2, 3 in one read
        conn = machine.conns[-1]
        machine.read_conn(conn, 64)
        assert conn.state == "verifying"
        machine.reset(conn)
        machine.answer(conn, "right")  # the lookup comes back after the connection is gone
        _check(machine)
        assert "node2" not in machine.network.inbound
        machine.heal()
        _check(machine)
    finally:
        machine.teardown()


def test_an_older_connection_verified_last_replaces_the_newer_and_nothing_is_lost() -> None:
    """Lookups run in threads and may finish in any order: the sender's abandoned connection is
    verified after its new one, replaces it, and the sender has to redial."""
    machine = _machine()
    try:
        machine.dial_again("node2", eager=True)
        old = machine.conns[-1]
        machine.read_conn(old, 64)
        machine.dial_again("node2", eager=True)
        new = machine.conns[-1]
        machine.read_conn(new, 64)
        machine.answer(new, "right")
        machine.read_acks("node2")
        machine.send("node2", [1])  # 4, on the new connection
        machine.read_conn(new, 64)
        machine.answer(old, "right")  # 1, 2, 3 again: ignored
        _check(machine)
        assert new.state == "ended"
        assert machine.network.inbound["node2"] is old.proto
        assert machine.core.accepted["node2"] == [1, 2, 3, 4]
        assert machine.core.duplicates["node2"] == 3
        machine.heal()
        _check(machine)
    finally:
        machine.teardown()


def test_a_hello_from_the_wrong_address_or_an_unknown_name_is_refused_once() -> None:
    machine = _machine()
    try:
        machine.stranger_connects("spoof", b"")
        machine.stranger_connects("stranger", b"")
        spoof, stranger = machine.conns[-2:]
        machine.read_conn(stranger, 64)
        machine.read_conn(spoof, 64)
        machine.answer(spoof, "right")
        _check(machine)
        assert (spoof.state, stranger.state) == ("ended", "ended")
        assert machine.rejects == 2
        assert machine.network.inbound == {}
    finally:
        machine.teardown()


def test_a_flood_is_refused_from_the_first_connection_beyond_the_limit() -> None:
    machine = _machine()
    try:
        machine.flood(MAX_UNIDENTIFIED + 2)
        _check(machine)
        assert len(machine.network.unidentified) == MAX_UNIDENTIFIED
        assert machine.rejects == 2
        machine.advance_time(HELLO_TIMEOUT)
        _check(machine)
        assert not machine.network.unidentified
        machine.heal()  # the senders get through again
        _check(machine)
    finally:
        machine.teardown()

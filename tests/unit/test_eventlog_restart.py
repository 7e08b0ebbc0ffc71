"""What a restarted node reads from its own log, whole: last clock, run start, what it took from and
sent to each peer; a line cut short where a kill or a failed write leaves one is forgiven, and
anything else refuses the log (LogCorruptError), never a traceback or a silent clock 0."""

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from node.channel import Channels
from node.clock import MAX_CLOCK
from node.config import load_config
from node.core import NodeCore
from node.eventlog import EventLog, end_torn_line, read_resume
from node.interfaces import LogCorruptError, LogSink, Resume, TransportEvents
from node.realtime import Node, StreamConsole
from node.schema import (
    CONNECTED,
    DISCONNECTED,
    DROP,
    FORMAT,
    INTERNAL,
    RECEIVE,
    REJECT,
    SEND,
    START,
    STATS,
    STOP,
    Event,
)
from node.simnet import VirtualNetwork
from node.simtransport import VirtualTransport
from node.virtual import EventHeap, Machine, NodeTime

WINDOW = 65536  # what the reader of before issue 12 read of a log: its first or last 64 KiB
DEFAULT_BY_TYPE: dict[str, Any] = {
    "int": 0,
    "number": 0.0,
    "node": "node2",
    "nodes": ["node2"],
    "text": "x",
    "object": {},
    "counts": {},
}


def line(event: Event, ts: float, clock: int, **given: Any) -> str:
    """node1's line of `event` as a node writes it: `given` fields, the others a valid default."""
    given = {"format": FORMAT, "time": "real", **given} if event is START else given
    values = tuple(given.get(f.name, DEFAULT_BY_TYPE[f.type]) for f in event.fields)
    return json.dumps(event.record(ts, "node1", clock, 0, values)) + "\n"


def tick(ts: float, clock: int) -> str:
    return line(INTERNAL, ts, clock, tick=0, late_ms=0.1)


def receive(ts: float, clock: int, sender: str, value: int) -> str:
    return line(RECEIVE, ts, clock, **{"from": sender, "value": value, "enq_ts": ts})


def send(ts: float, clock: int, to: list[str]) -> str:
    return line(SEND, ts, clock, to=to, value=clock)


def drop(ts: float, clock: int, to: str, value: int) -> str:
    return line(DROP, ts, clock, to=to, value=value, reason="peer down")


def write_log(path: Path, torn: bool) -> None:
    text = (
        line(START, 100.0, 0, rate=2)
        + line(CONNECTED, 100.1, 0, peer="node2")
        + tick(100.2, 1)
        + receive(100.7, 9, "node2", 8)
    )
    if torn:
        text += '{"ts": 101.2, "node": "node1", "event": "se'
    path.write_text(text)


def test_reads_last_clock_and_first_tick_past_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    write_log(path, torn=True)
    assert read_resume(path, "node1") == Resume(9, 100.2, {"node2": 8}, {})
    assert end_torn_line(path) is True
    assert path.read_bytes().endswith(b'"event": "se\n')
    assert end_torn_line(path) is False  # already ended: nothing to do


def core_on(log: LogSink) -> NodeCore:
    """A core on that log (in virtual time: nothing runs, only its construction is looked at)."""
    config = load_config({"NODE_ID": "node1", "PEERS": "node2@127.0.0.1:1", "RUN_ID": "r", "PORT": "1"})
    heap = EventHeap()
    clock = NodeTime(heap, Machine(), 1)
    network = VirtualNetwork(heap, 0.001, 0.0, random.Random(1), {})

    def transport(events: TransportEvents, channels: Channels) -> VirtualTransport:
        return VirtualTransport(network, "node1", ("node2",), events, channels, clock, 0.0, 0.0, random.Random(1))

    console = StreamConsole(io.StringIO())
    return NodeCore(config, "r", 5, scheduler=clock, transport=transport, log=log, console=console, on_exit=print)


def node_on(tmp_path: Path) -> Node:
    """A real node (not run) whose log is tmp_path/r/node1.jsonl."""
    config = load_config(
        {"NODE_ID": "node1", "PEERS": "node2@127.0.0.1:1", "LOG_DIR": str(tmp_path), "RUN_ID": "r", "PORT": "1"}
    )
    return Node(config, tmp_path / "r", 5, out=io.StringIO(), handle_signals=False)


def test_a_restarted_node_resumes_its_clock_and_run(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    write_log(tmp_path / "r" / "node1.jsonl", torn=True)
    node = node_on(tmp_path)
    core = core_on(node.log)
    assert core.resumed_clock == 9
    assert core.model.clock.value == 9
    assert core.run_started_at == 100.2
    node.log.write(*start_line_values(core))
    node.log.close()
    lines = (tmp_path / "r" / "node1.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "start"  # the new start line stands on its own line
    assert lines[-2].endswith('"event": "se')


def start_line_values(core: NodeCore) -> tuple[Event, float, int, int, tuple[Any, ...]]:
    given = {"rate": core.rate, "drawn_rate": core.drawn_rate, "resumed_clock": core.resumed_clock}
    values = json.loads(line(START, 200.0, core.resumed_clock, **given))
    return START, 200.0, core.resumed_clock, 0, tuple(values[f.name] for f in START.fields)


def test_a_fresh_node_starts_at_zero(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    node = node_on(tmp_path)
    core = core_on(node.log)
    assert core.resumed_clock == 0
    assert core.run_started_at is None
    node.log.close()


# -- the whole log, not a window (issue 12) ---------------------------------------------------------
def test_the_first_tick_beyond_64_kib_is_found(tmp_path: Path) -> None:
    """Before its first tick a node logged more than 64 KiB (rejected intruders, say): a restart
    still rejoins its run (before: run_started_at None, a full DURATION again)."""
    (tmp_path / "r").mkdir()
    path = tmp_path / "r" / "node1.jsonl"
    noise = "".join(line(REJECT, 100.0 + i / 1000, 0, address="10.0.0.9", reason="bad hello " * 10) for i in range(600))
    head = line(START, 100.0, 0) + noise
    assert len(head.encode()) > WINDOW
    path.write_text(head + tick(101.5, 1) + tick(102.0, 2))
    assert read_resume(path, "node1").first_tick_ts == 101.5
    assert read_resume(path, "node1") == Resume(2, 101.5)
    core = core_on(node_on(tmp_path).log)
    assert core.run_started_at == 101.5
    assert core.resumed_clock == 2


def test_a_garbage_tail_longer_than_64_kib_is_refused(tmp_path: Path) -> None:
    """Valid lines, then more than 64 KiB of lines that are no log's (before: clock 0, silently)."""
    (tmp_path / "r").mkdir()
    path = tmp_path / "r" / "node1.jsonl"
    good = line(START, 100.0, 0) + tick(100.2, 1) + tick(100.7, 7)
    garbage = "".join(f"garbage {i} \u2014 {'x' * 80}\n" for i in range(1000))
    assert len(garbage.encode()) > WINDOW
    path.write_text(good + garbage)
    with pytest.raises(LogCorruptError) as raised:
        read_resume(path, "node1")
    assert str(raised.value) == f"{path}:4: not a line of this log (nor the beginning of one)"
    with pytest.raises(LogCorruptError):  # the node refuses to start on it (python -m node: test_resume)
        node_on(tmp_path)


def test_a_line_cut_short_then_a_start_is_forgiven(tmp_path: Path) -> None:
    """A kill mid-line, a restart: the cut line ended by end_torn_line, then the new incarnation."""
    path = tmp_path / "node1.jsonl"
    first = line(START, 100.0, 0) + tick(100.2, 1) + send(100.4, 2, ["node2"])
    cut = send(100.6, 3, ["node2"])[:30] + "\n"
    second = line(START, 105.0, 2) + receive(105.1, 9, "node2", 8) + tick(105.2, 10)
    path.write_text(first + cut + second)
    assert read_resume(path, "node1") == Resume(10, 100.2, {"node2": 8}, {"node2": [2]})


def test_a_line_cut_short_mid_run_is_refused(tmp_path: Path) -> None:
    """A cut line followed by ticks is no kill's and no failed write's (those end the incarnation)."""
    path = tmp_path / "node1.jsonl"
    path.write_text(line(START, 100.0, 0) + tick(100.2, 1) + tick(100.4, 2)[:40] + "\n" + tick(100.6, 3))
    with pytest.raises(LogCorruptError, match=rf"^{path}:3: a line cut short in the middle of a run \(line 4"):
        read_resume(path, "node1")


def test_after_a_failed_write_the_stop_is_forgiven(tmp_path: Path) -> None:
    """A send cut short by a full disk; the node stops: a drop, a disconnection, its stop line cut
    short too. The lines that made it count, the cut ones do not."""
    path = tmp_path / "node1.jsonl"
    text = (
        line(START, 100.0, 0)
        + send(100.2, 1, ["node2"])
        + send(100.4, 2, ["node2"])[:50]
        + "\n"
        + drop(100.5, 2, "node2", 1)
        + line(DISCONNECTED, 100.6, 2, peer="node2", link="outbound", reason="x")
        + line(STOP, 100.7, 2)[:20]
        + "\n"
    )
    path.write_text(text)
    assert read_resume(path, "node1") == Resume(2, 100.2, {}, {})


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(tick(100.6, MAX_CLOCK + 1), id="last-line-clock"),
        pytest.param(receive(100.6, 9, "node2", MAX_CLOCK + 1) + tick(100.8, 10), id="received-value"),
        pytest.param(send(100.6, MAX_CLOCK + 1, ["node2"]) + tick(100.8, 10), id="sent-value"),
    ],
)
def test_a_clock_beyond_32_bits_is_refused(tmp_path: Path, bad: str) -> None:
    """No traceback (before: LamportClock's ValueError at construction) and no clock resumed."""
    (tmp_path / "r").mkdir()
    path = tmp_path / "r" / "node1.jsonl"
    path.write_text(line(START, 100.0, 0) + tick(100.2, 1) + bad)
    with pytest.raises(LogCorruptError, match=rf"^{path}:3: .*{MAX_CLOCK + 1} outside 0\.\.{MAX_CLOCK}"):
        read_resume(path, "node1")
    with pytest.raises(LogCorruptError):
        node_on(tmp_path)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        pytest.param('{"ts": 100.6, "node": "node1"}\n', "missing or invalid field 'event'", id="not-a-record"),
        pytest.param(tick(100.6, 2).replace("node1", "node2"), "a line of node 'node2'", id="another-node"),
        pytest.param(tick(100.6, 2).replace('"internal"', '"party"'), "unknown event", id="unknown-event"),
        pytest.param(tick(100.6, 2) + "\n", "not a line of this log", id="blank-line"),
        pytest.param(send(100.6, 2, ["node2"])[:50] + tick(100.8, 3), "two lines run together", id="glued"),
    ],
)
def test_a_whole_line_that_is_no_valid_record_is_refused_even_last(tmp_path: Path, bad: str, why: str) -> None:
    path = tmp_path / "node1.jsonl"
    path.write_text(line(START, 100.0, 0) + tick(100.2, 1) + bad)
    with pytest.raises(LogCorruptError, match=why):
        read_resume(path, "node1")


def test_taken_and_sent_per_peer_across_incarnations(tmp_path: Path) -> None:
    """Worked out by hand: the highest value taken from each peer; per peer the values sent, less
    those dropped (at once, or later: a delayed frame whose link broke), oldest first."""
    path = tmp_path / "node1.jsonl"
    text = (
        line(START, 100.0, 0)
        + send(100.1, 1, ["node2", "node3"])
        + receive(100.2, 6, "node2", 5)
        + send(100.3, 7, ["node2"])
        + drop(100.3, 7, "node2", 7)  # at once: the link was down
        + send(100.4, 8, ["node3"])
        + receive(100.5, 12, "node3", 11)
        + send(100.6, 13, ["node2", "node3"])
        + drop(100.7, 13, "node3", 8)  # later: waited out NET_DELAY_MS, its link broke
        + line(STOP, 100.8, 13)
        + line(START, 200.0, 13)
        + receive(200.1, 15, "node2", 14)
        + receive(200.2, 16, "node2", 3)  # lower than before (not from this log's writer): max kept
        + send(200.3, 17, ["node3"])
        + line(STATS, 200.4, 17)
    )
    path.write_text(text)
    expected = Resume(17, 100.1, {"node2": 14, "node3": 11}, {"node2": [1, 13], "node3": [1, 13, 17]})
    assert read_resume(path, "node1") == expected
    assert EventLog(path, "node1").resume() == expected


def test_sent_keeps_only_the_last_keep_values_per_peer(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    sends = "".join(send(100 + c / 10, c, ["node2", "node3"] if c % 2 else ["node2"]) for c in range(1, 11))
    path.write_text(line(START, 100.0, 0) + sends + drop(101.1, 10, "node2", 10) + drop(101.1, 10, "node2", 2))
    resume = read_resume(path, "node1", keep=3)
    # node2: 1..10, last three 8, 9, 10; 10 dropped (2 is no longer held). node3: the odd ones.
    assert resume.sent == {"node2": [8, 9], "node3": [5, 7, 9]}
    assert EventLog(path, "node1", keep=3).resume() == resume

"""What a restarted node reads from its own log: last clock, run start, and a torn line ended."""

import io
import json
import random
from pathlib import Path

from node.config import load_config
from node.core import NodeCore
from node.eventlog import end_torn_line, read_first_tick, read_last_record
from node.interfaces import LogSink, TransportEvents
from node.realtime import Node, StreamConsole
from node.schema import START
from node.simnet import VirtualNetwork
from node.simtransport import VirtualTransport
from node.virtual import EventHeap, Machine, NodeTime


def write_log(path: Path, torn: bool) -> None:
    lines = [
        {"ts": 100.0, "node": "node1", "event": "start", "clock": 0, "queue": 0, "rate": 2},
        {"ts": 100.1, "node": "node1", "event": "connected", "clock": 0, "queue": 0, "peer": "node2"},
        {"ts": 100.2, "node": "node1", "event": "internal", "clock": 1, "queue": 0, "tick": 0, "late_ms": 0.1},
        {
            "ts": 100.7,
            "node": "node1",
            "event": "receive",
            "clock": 9,
            "queue": 0,
            "tick": 1,
            "late_ms": 0.1,
            "from": "node2",
            "value": 8,
            "enq_ts": 100.6,
        },
    ]
    text = "".join(json.dumps(r) + "\n" for r in lines)
    if torn:
        text += '{"ts": 101.2, "node": "node1", "event": "se'
    path.write_text(text)


def test_reads_last_clock_and_first_tick_past_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "node1.jsonl"
    write_log(path, torn=True)
    last = read_last_record(path)
    assert last is not None
    assert last["clock"] == 9
    first = read_first_tick(path)
    assert first is not None
    assert first["ts"] == 100.2
    assert end_torn_line(path) is True
    assert path.read_bytes().endswith(b'"event": "se\n')
    assert end_torn_line(path) is False  # already ended: nothing to do


def core_on(log: LogSink) -> NodeCore:
    """A core on that log (in virtual time: nothing runs, only its construction is looked at)."""
    config = load_config({"NODE_ID": "node1", "PEERS": "node2@127.0.0.1:1", "RUN_ID": "r", "PORT": "1"})
    heap = EventHeap()
    clock = NodeTime(heap, Machine(), 1)
    network = VirtualNetwork(heap, 0.001, 0.0, random.Random(1), {})

    def transport(events: TransportEvents) -> VirtualTransport:
        return VirtualTransport(network, "node1", ("node2",), events, clock, 0.0, 0.0, random.Random(1))

    console = StreamConsole(io.StringIO())
    return NodeCore(config, "r", 5, scheduler=clock, transport=transport, log=log, console=console, on_exit=print)


def test_a_restarted_node_resumes_its_clock_and_run(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    write_log(tmp_path / "r" / "node1.jsonl", torn=True)
    config = load_config(
        {"NODE_ID": "node1", "PEERS": "node2@127.0.0.1:1", "LOG_DIR": str(tmp_path), "RUN_ID": "r", "PORT": "1"}
    )
    node = Node(config, tmp_path / "r", 5, out=io.StringIO(), handle_signals=False)
    core = core_on(node.log)
    assert core.resumed_clock == 9
    assert core.model.clock.value == 9
    assert core.run_started_at == 100.2
    node.log.write(START, 200.0, 9, 0, (core.rate, core.drawn_rate, 5, core.seed, 9, "r", "0.1.0", 1, {}, 2, "real"))
    node.log.close()
    lines = (tmp_path / "r" / "node1.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "start"  # the new start line stands on its own line
    assert lines[-2].endswith('"event": "se')


def test_a_fresh_node_starts_at_zero(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    config = load_config(
        {"NODE_ID": "node1", "PEERS": "node2@127.0.0.1:1", "LOG_DIR": str(tmp_path), "RUN_ID": "r", "PORT": "1"}
    )
    node = Node(config, tmp_path / "r", 5, out=io.StringIO(), handle_signals=False)
    core = core_on(node.log)
    assert core.resumed_clock == 0
    assert core.run_started_at is None
    node.log.close()

"""Three real `Node`s (network, timing, logging and all) in one process over loopback TCP."""

import asyncio
import io
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from node.config import load_config
from node.linkrules import unacked_limit
from node.network import READ_CHUNK
from node.realtime import Node, new_event_loop
from node.wire import encode_frame, encode_hello
from tests import logcheck

IDS = ("node1", "node2", "node3")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_nodes(tmp_path: Path, rates: tuple[int, ...] = (40, 70, 100), **env: str) -> list[Node]:
    """Three nodes on loopback, rates pinned, logging into tmp_path/r."""
    (tmp_path / "r").mkdir(exist_ok=True)
    ports = dict(zip(IDS, free_ports(3), strict=True))
    nodes = []
    for node_id, rate in zip(IDS, rates, strict=True):
        peers = ",".join(f"{p}@127.0.0.1:{ports[p]}" for p in IDS if p != node_id)
        base = {
            "NODE_ID": node_id,
            "PEERS": peers,
            "PORT": str(ports[node_id]),
            "LOG_DIR": str(tmp_path),
            "RUN_ID": "r",
            "STATUS_INTERVAL": "0",
            "START_TIMEOUT": "5",
            "CLOCK_RATE": str(rate),
        }
        config = load_config({**base, **env})
        nodes.append(Node(config, tmp_path / "r", 99, out=io.StringIO(), listen_host="127.0.0.1", handle_signals=False))
    return nodes


def run_nodes(nodes: list[Node], during: Callable[[], Awaitable[None]] | None = None) -> list[int]:
    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(node.run()) for node in nodes]
        if during is not None:
            await during()
        return list(await asyncio.gather(*tasks))

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())


def test_three_nodes_run_clean(tmp_path: Path) -> None:
    nodes = make_nodes(tmp_path, DURATION="2", MAX_EVENT_NUM="5")
    assert run_nodes(nodes) == [0, 0, 0]
    run = logcheck.load_run(tmp_path / "r")
    assert logcheck.check_run(run, duration=2) == []
    for node_id in IDS:
        assert [r["peer"] for r in run[node_id] if r["event"] == "connected"] != []
        assert run[node_id][-1]["reason"] == "duration"


def test_stop_request_ends_every_node_with_a_stop_line(tmp_path: Path) -> None:
    nodes = make_nodes(tmp_path, DURATION="0")

    async def stop_soon() -> None:
        await asyncio.sleep(1.0)
        for node in nodes:
            node.request_stop("signal SIGTERM")

    assert run_nodes(nodes, stop_soon) == [0, 0, 0]
    run = logcheck.load_run(tmp_path / "r")
    assert logcheck.check_fields(run) == []
    assert logcheck.check_clock_rules(run) == []
    assert logcheck.check_links(run) == []  # even a signal stop accounts for every message
    assert {records[-1]["reason"] for records in run.values()} == {"signal SIGTERM"}


def test_missing_peer_times_out_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = make_nodes(tmp_path, START_TIMEOUT="0.5")[:2]  # node3 never starts
    assert run_nodes(nodes) == [1, 1]
    err = capsys.readouterr().err
    assert "not all peers connected within 0.5 s" in err
    assert "node3: cannot dial" in err
    records = [json.loads(line) for line in (tmp_path / "r" / "node1.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "stop"
    assert records[-1]["reason"] == "start-timeout"


def test_intruders_are_rejected_and_the_node_keeps_ticking(tmp_path: Path) -> None:
    nodes = make_nodes(tmp_path, DURATION="2")
    port = nodes[0].config.port

    async def intrude() -> None:
        await asyncio.sleep(0.6)
        attempts = [
            b"GET / HTTP/1.1\r\n\r\n",  # not the protocol
            encode_hello("mallory") + encode_frame(1),  # unknown node
            b"LAMP\x01",  # half a hello, then EOF
        ]
        for payload in attempts:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            writer.close()
        await asyncio.sleep(0.2)

    assert run_nodes(nodes, intrude) == [0, 0, 0]
    run = logcheck.load_run(tmp_path / "r")
    rejects = [r["reason"] for r in run["node1"] if r["event"] == "reject"]
    assert len(rejects) == 3
    assert any("bad hello" in r for r in rejects)
    assert any("unknown node 'mallory'" in r for r in rejects)
    assert any("inside a hello" in r for r in rejects)
    assert logcheck.check_run(run, duration=2) == []  # nothing the intruders sent got in


def test_a_flood_is_held_at_max_queue_and_the_rate_holds(tmp_path: Path) -> None:
    """A (fake) peer floods node1 with up to 4 million frames; node1 stops reading at MAX_QUEUE."""
    node1, node2, node3 = make_nodes(tmp_path, DURATION="3", MAX_QUEUE="5000", DRAIN_TIMEOUT="0.5")
    ports = {n.config.node_id: n.config.port for n in (node1, node2, node3)}
    chunk = struct.Struct("!1000I")
    sent = 0

    async def fake_node3() -> None:
        nonlocal sent

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(encode_frame(0))  # the welcome (node.channel): nothing taken yet
            while await reader.read(65536):
                pass

        server = await asyncio.start_server(swallow, "127.0.0.1", ports["node3"])
        writers = []
        for peer in ("node1", "node2"):
            _, writer = await asyncio.open_connection("127.0.0.1", ports[peer])
            writer.write(encode_hello("node3"))
            writers.append(writer)
        try:
            for start in range(1, 4_000_001, 1000):
                writers[0].write(chunk.pack(*range(start, start + 1000)))
                await writers[0].drain()  # blocks while node1 is not reading: TCP pushes back
                sent += 1000
            await asyncio.Event().wait()  # keep the links open until the test ends
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for writer in writers:
                writer.close()
            server.close()

    async def during() -> None:
        task = asyncio.ensure_future(fake_node3())
        await asyncio.sleep(4.5)
        task.cancel()

    assert run_nodes([node1, node2], during) == [0, 0]
    run = logcheck.load_run(tmp_path / "r")
    records = run["node1"]
    full = [r for r in records if r["event"] == "queue_full"]
    assert full
    assert full[0]["limit"] == 5000
    # Bounded: the limit plus one read, and a read is small (asyncio's own reads of 256 KiB held
    # the tick loop about 55 ms each).
    ticking = [r for r in records if r["event"] in ("receive", "send", "internal")]
    assert max(r["queue"] for r in ticking) <= 5000 + READ_CHUNK // 4
    # In the drain no tick takes anything: it reads on, up to all that honest peers can have
    # unacknowledged (node.channel), and no further.
    assert records[-1]["queue"] <= unacked_limit(5000) * 2 + READ_CHUNK // 4
    taken = len([r for r in records if r["event"] == "receive" and r["from"] == "node3"])
    assert taken + records[-1]["queue"] < sent  # the rest waited in TCP buffers, pushed back to the sender
    ticks = logcheck.tick_records(records)
    assert len(ticks) == 40 * 3  # node1 (40/s) kept its rate under the flood
    assert all(r["event"] == "receive" for r in ticks)  # ... taking one message per tick
    assert len(logcheck.tick_records(run["node2"])) == 70 * 3

"""What an outsider can make a real node hold is bounded, and nothing it does kills the node:
descriptors above select()'s 1023, a flood of idle connections, `reject` lines, reads."""

from __future__ import annotations

import asyncio
import os
import resource
from pathlib import Path

import pytest

from node.linkrules import MAX_UNIDENTIFIED, REJECT_LINES_PER_SECOND
from node.wire import encode_frame, encode_hello
from tests import logcheck
from tests.unit.test_inprocess_cluster import make_nodes, run_nodes


def test_descriptors_above_1023_do_not_kill_the_node(tmp_path: Path) -> None:
    """select() raised ValueError for a descriptor above 1023 and the event loop died with a
    traceback (finding: a flood of idle connections killed the node). Here every socket the
    nodes open after their start is above 1023."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.fail(f"this test needs RLIMIT_NOFILE >= 4096 (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    fillers: list[int] = []

    async def fill() -> None:  # runs before the nodes' first step: their sockets come after
        null = os.open(os.devnull, os.O_RDONLY)
        fillers.extend([null, *(os.dup(null) for _ in range(1100))])

    try:
        nodes = make_nodes(tmp_path, rates=(20, 20, 20), DURATION="1")
        assert run_nodes(nodes, fill) == [0, 0, 0]
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert logcheck.check_run(logcheck.load_run(tmp_path / "r"), duration=1) == []


def test_a_flood_of_idle_connections_is_capped_and_logged_sparingly(tmp_path: Path) -> None:
    """500 connections that never say hello: at most MAX_UNIDENTIFIED are held (each for
    HELLO_TIMEOUT), the rest are refused at once, `reject` lines are rate-limited, and the
    node keeps ticking and ends cleanly."""
    nodes = make_nodes(tmp_path, rates=(20, 20, 20), DURATION="3")
    port = nodes[0].config.port
    held: list[int] = []

    async def flood() -> None:
        await asyncio.sleep(0.5)
        writers = []
        for _ in range(500):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            writers.append(writer)
        await asyncio.sleep(0.2)
        network = nodes[0].network
        assert network is not None
        held.append(len(network.unidentified))
        await asyncio.sleep(2.0)
        for writer in writers:
            writer.close()

    assert run_nodes(nodes, flood) == [0, 0, 0]
    assert held
    assert 0 < held[0] <= MAX_UNIDENTIFIED
    run = logcheck.load_run(tmp_path / "r")
    assert logcheck.check_run(run, duration=3) == []
    rejects = [r for r in run["node1"] if r["event"] == "reject"]
    assert rejects  # said, but not 500 times
    assert len(rejects) <= 6 * REJECT_LINES_PER_SECOND
    assert any("more connections rejected" in r["reason"] for r in rejects)


def test_one_frame_near_2_32_is_refused_not_taken(tmp_path: Path) -> None:
    """A (fake) peer's single frame of 2^32 - 2 drove every clock it reached to overflow, with a
    traceback. No honest clock can pass the run's budget (node.config): the link is refused."""
    node1, node2, node3 = make_nodes(tmp_path, rates=(20, 20, 20), DURATION="2")
    port3, port1 = node3.config.port, node1.config.port

    async def fake_node3() -> None:
        async def welcome(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(encode_frame(0))  # the welcome: nothing taken yet
            while await reader.read(65536):
                pass

        server = await asyncio.start_server(welcome, "127.0.0.1", port3)
        await asyncio.sleep(0.3)  # the nodes are listening by then
        writers = []
        for port in (port1, node2.config.port):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode_hello("node3"))
            writers.append(writer)
        await asyncio.sleep(1.0)
        writers[0].write(encode_frame(2**32 - 2))
        await asyncio.sleep(2.5)
        for writer in writers:
            writer.close()
        server.close()

    assert run_nodes([node1, node2], fake_node3) == [0, 0]
    records = logcheck.load_run(tmp_path / "r")["node1"]
    assert any(r["event"] == "reject" and "beyond" in r["reason"] for r in records)
    assert max(r["clock"] for r in records) < 1000

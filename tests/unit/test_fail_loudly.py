"""A failure the node cannot handle ends it at once, with one line and exit 1, a `stop` line
last where the log can still be written, and no frame it could not log (issue: fail loudly)."""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path
from typing import Any

import pytest

from node.clock import MAX_CLOCK
from node.interfaces import LogWriteError
from node.model import Message, NodeModel
from node.schema import SEND, Event
from node.simlog import SimLog
from node.simulation import Fault, cluster, simulate
from tests import logcheck
from tests.unit.test_inprocess_cluster import make_nodes, run_nodes

RATES = {"node1": 10, "node2": 10, "node3": 10}


def _records(sim: Any) -> tuple[dict[str, list[dict[str, Any]]], Any]:
    run: dict[str, list[dict[str, Any]]] = {}
    outcome = simulate(
        sim, lambda node: lambda e, ts, c, q, v: run.setdefault(node, []).append(e.record(ts, node, c, q, v))
    )
    return run, outcome


def test_an_exception_inside_a_tick_ends_the_node_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """It escaped the ticker: nothing rescheduled the next tick and the node waited for ever
    (the simulation reported `did not end`; in compose the summary never started)."""
    original = NodeModel.tick

    def tick(self: NodeModel) -> Any:
        if self.clock.value >= 20 and self.peers == ("node2", "node3"):  # node1, some ticks in
            raise RuntimeError("a bug")
        return original(self)

    monkeypatch.setattr(NodeModel, "tick", tick)
    run, outcome = _records(cluster(seed=1, duration=5, rates=RATES))
    assert outcome.exit_codes == {"node1": [1], "node2": [0], "node3": [0]}
    assert [e for e in outcome.errors if "did not end" in e] == []
    assert outcome.errors == ["t=" + outcome.errors[0].split("t=", 1)[1]]  # one line
    assert "internal error in a tick: RuntimeError: a bug" in outcome.errors[0]
    stop = run["node1"][-1]
    assert (stop["event"], stop["reason"]) == ("stop", "error")


def test_a_receive_that_would_overflow_leaves_its_message_queued() -> None:
    """The message was taken off the queue before the clock overflowed: it vanished without a
    line. Now the clock is checked first; the message stays and is counted at stop."""
    model = NodeModel(("node2", "node3"), 10, random.Random(1), clock=5)
    model.deliver(Message("node2", MAX_CLOCK, 0.0))
    with pytest.raises(OverflowError):
        model.tick()
    assert len(model.queue) == 1
    assert model.queued_by_sender()["node2"] == 1


def test_a_log_that_cannot_be_written_stops_the_node_and_no_unlogged_frame_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Write-ahead: a send whose line could not be written must not send its frame."""
    original = SimLog.write
    failed: list[int] = []

    def write(self: SimLog, event: Event, ts: float, clock: int, queue: int, values: tuple[Any, ...]) -> None:
        if self.node_id == "node1" and event is SEND and not failed:
            failed.append(clock)
            raise LogWriteError("node1.jsonl: [Errno 28] No space left on device")
        original(self, event, ts, clock, queue, values)

    monkeypatch.setattr(SimLog, "write", write)
    run, outcome = _records(cluster(seed=3, duration=5, rates=RATES, max_event_num=4))
    assert failed
    assert outcome.exit_codes["node1"] == [1]
    assert any("No space left on device" in e for e in outcome.errors)
    received = {
        r["value"] for node in ("node2", "node3") for r in run[node] if r["event"] == "receive" and r["from"] == "node1"
    }
    assert failed[0] not in received  # the frame of the unlogged send never left
    assert run["node1"][-1]["event"] == "stop"
    assert run["node1"][-1]["reason"] == "log-error"


def test_sigterm_during_the_drain_shortens_it() -> None:
    """The drain waited its full DRAIN_TIMEOUT whatever came meanwhile."""
    faults = (Fault("pause", ("node3",), 4.9, 60.0), Fault("term", ("node1",), 6.0, 0.0))
    run, _outcome = _records(cluster(seed=1, duration=5, rates=RATES, env={"DRAIN_TIMEOUT": "30"}, faults=faults))
    stop = run["node1"][-1]
    assert stop["event"] == "stop"
    assert stop["reason"] == "duration"
    assert stop["ts"] <= 6.0 + 0.5 + 0.01  # not 5 + 30
    assert "node3" in stop["unfinished"]


def test_a_stop_line_is_the_last_line_of_every_incarnation() -> None:
    faults = (
        Fault("kill", ("node2",), 2.0, 1.0),
        Fault("isolate", ("node3",), 3.0, 2.5),
        Fault("term", ("node1",), 6.0, 0.0),
    )
    run, outcome = _records(cluster(seed=5, duration=8, rates=RATES, faults=faults))
    assert outcome.ok, outcome.errors
    for node, records in run.items():
        starts = [i for i, r in enumerate(records) if r["event"] == "start"]
        for i, begin in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(records)
            stops = [j for j in range(begin, end) if records[j]["event"] == "stop"]
            assert stops in ([], [end - 1]), (node, i)
        assert records[-1]["event"] == "stop", node


def test_signals_before_the_loop_runs_still_stop_the_node(tmp_path: Path) -> None:
    """As PID 1 a signal without a handler was ignored until the loop's handlers existed;
    now `python -m node` remembers it from its first line and the node stops at once."""
    nodes = make_nodes(tmp_path, rates=(10, 10, 10), DURATION="30", START_TIMEOUT="30")
    nodes[0].early_stops.append("signal SIGTERM")
    nodes[0].console = type(nodes[0].console)(io.StringIO())

    async def stop_the_rest() -> None:
        await asyncio.sleep(1.0)
        for node in nodes[1:]:
            node.request_stop("signal SIGTERM")

    assert run_nodes(nodes, stop_the_rest) == [0, 0, 0]
    records = logcheck.load_run(tmp_path / "r")["node1"]
    assert [r["event"] for r in records] == ["start", "stop"]
    assert records[-1]["reason"] == "signal SIGTERM"


def test_a_peer_that_rejects_at_once_is_not_redialled_fifty_times_a_second(tmp_path: Path) -> None:
    """Backoff was reset by every connect, so a peer that accepted and closed at once was
    dialled every 20 ms. Now only a welcome resets it."""
    nodes = make_nodes(tmp_path, rates=(10, 10, 10), DURATION="2", START_TIMEOUT="2.5")
    port = nodes[2].config.port
    dials: list[float] = []

    async def rejecting_node3() -> None:
        async def reject(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            dials.append(asyncio.get_running_loop().time())
            writer.close()

        server = await asyncio.start_server(reject, "127.0.0.1", port)
        await asyncio.sleep(3.0)
        server.close()

    codes = run_nodes(nodes[:2], rejecting_node3)
    assert codes == [1, 1]  # start-timeout: node3 never welcomed them
    assert 2 <= len(dials) <= 2 * 12  # two dialers, backoff doubling to 1 s: about 8 each in 2.5 s

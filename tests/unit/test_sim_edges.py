"""The simulator at its edges: faults that overlap, values on the wire when a cut begins, a link
that could come back during the drain, waits that end at the instant of their timeout, delays
longer than the run, and a life that never ends (which must be reported, not pass as success)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from analysis.api import load_and_analyse
from node.channel import Channels
from node.core import NodeCore
from node.linkrules import LINK_BROKE
from node.process import Process, Story, Wait
from node.simnet import RESET, VirtualNetwork
from node.simtransport import VirtualTransport
from node.simulation import Fault, cluster, simulate, write_simulation
from node.virtual import EventHeap, Machine, NodeTime
from tests import logcheck

Run = dict[str, list[dict[str, Any]]]


def test_values_on_the_wire_when_a_cut_begins_keep_their_order() -> None:
    """A 50 ms wire at 200 ticks/s, every draw a send: about ten values of a link are on the wire
    when a 1.5 s cut begins. They are parked ahead of those sent during the cut, and all go in
    order when it heals."""
    rates = {"node1": 200, "node2": 200, "node3": 200}
    cut = Fault("cut", ("node1", "node2"), 4.0, 1.5)  # shorter than USER_TIMEOUT: nothing aborts
    run = logcheck.simulated_run(cluster(seed=4, duration=8, rates=rates, max_event_num=3, delay=0.05, faults=(cut,)))
    assert logcheck.check_clock_rules(run) == []
    assert logcheck.check_links(run) == []  # received values are a prefix of the sent ones, all accounted


def test_a_killed_senders_values_wait_for_a_paused_receiver(tmp_path: Path) -> None:
    """node2 is paused while node1 is killed and restarted: what node1 sent before dying waits in
    node2's buffer and is read when node2 resumes, before node1's new connection replaces it."""
    faults = (Fault("pause", ("node2",), 3.0, 3.0), Fault("kill", ("node1",), 4.0, 0.5))
    sim = cluster(seed=6, duration=10, env={"MAX_EVENT_NUM": "4"}, rates={"node1": 20, "node2": 20, "node3": 20},
                  faults=faults)  # fmt: skip
    outcome = write_simulation(sim, tmp_path)
    assert outcome.ok, outcome.errors
    link = next(k for k in load_and_analyse(tmp_path).summary["links"] if (k["from"], k["to"]) == ("node1", "node2"))
    assert link["received"] > 0
    assert (link["lost"], link["unaccounted"]) == (0, 0)


@pytest.mark.parametrize("delivery", ["reliable", "at-most-once"])
def test_delays_longer_than_the_run_end_cleanly(delivery: str) -> None:
    """Values due minutes after the run ended are counted in the senders' stop lines as
    unacknowledged (in flight), not lost and not dropped; the simulation ends (no stray timer of
    a stopped node keeps it going)."""
    env = {"NET_DELAY_MS": "60000", "NET_JITTER_MS": "60000", "STATUS_INTERVAL": "0", "DELIVERY": delivery}
    run = logcheck.simulated_run(cluster(seed=1, duration=3, env=env, rates={"node1": 5, "node2": 5, "node3": 5}))
    assert not [r for records in run.values() for r in records if r["event"] == "drop"]
    stops = [records[-1] for records in run.values()]
    assert all(r["event"] == "stop" for r in stops)
    sent = sum(len(r["to"]) for records in run.values() for r in records if r["event"] == "send")
    assert sum(sum(r["unacked"].values()) for r in stops) == sent > 0
    assert logcheck.check_links(run) == []


class _Events:
    """What a transport reports, kept in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def message_arrived(self, peer: str, value: int) -> None:
        self.seen.append(("message", peer, value))

    def peer_changed(self, peer: str, connected: bool, direction: str, reason: str) -> None:
        self.seen.append(("connected" if connected else "disconnected", peer))

    def connection_rejected(self, address: str, reason: str) -> None:
        self.seen.append(("reject", address))

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        self.seen.append(("drop", peer, value, reason))

    def transport_failed(self, message: str) -> None:
        self.seen.append(("failed", message))

    def links_changed(self) -> None:
        pass


def test_a_link_does_not_come_back_once_the_node_finished_sending() -> None:
    """At most once: node1 holds a value 1 s (NET_DELAY_MS), its link to node2 is reset, and it finishes
    sending while its redial is being answered: no link comes up again, and the held value is
    dropped, not sent on a connection it was not sent on."""
    heap = EventHeap()
    net = VirtualNetwork(heap, 0.001, 0.0, random.Random(1), {})
    events = {"node1": _Events(), "node2": _Events()}
    transports = {}
    for rank, (node, peer) in enumerate((("node1", "node2"), ("node2", "node1")), 1):
        clock = NodeTime(heap, Machine(), rank)
        delay = 1.0 if node == "node1" else 0.0
        channels = Channels.restore((peer,), {}, {}, reliable=False, limit=100)  # at most once
        transports[node] = VirtualTransport(
            net, node, (peer,), events[node], channels, clock, delay, 0.0, random.Random(1)
        )
    for transport in transports.values():
        heap.at(0.0, transport.start)
    heap.run(until=0.01)
    assert ("connected", "node2") in events["node1"].seen
    one = transports["node1"]
    assert one.send("node2", 7) is None  # held until t ~ 1.0
    wire = one.out["node2"].wire
    assert wire is not None
    net.close(wire, RESET)  # the peer resets the connection: node1 learns it one delay (1 ms) later,
    # redials 20 ms after that, and hears the answer 1 ms later: it finishes sending in between.
    heap.at(heap.now + 0.001 + 0.02 + 0.0005, one.finish_sending)
    heap.run(until=5.0)
    after = events["node1"].seen[events["node1"].seen.index(("disconnected", "node2")) :]
    assert ("connected", "node2") not in after
    assert ("drop", "node2", 7, LINK_BROKE) in after
    assert not any(e[0] == "message" for e in events["node2"].seen)


def test_a_condition_that_holds_at_the_timeout_counts() -> None:
    """The condition comes true at the very instant its timeout fires (the wake-up queued behind
    the timer): the story resumes with True, not False."""
    heap = EventHeap()
    clock = NodeTime(heap, Machine(), 1)
    flag = [False]
    got: list[bool] = []

    def story() -> Story:
        got.append((yield Wait(lambda: flag[0], 1.0)))

    process = Process(clock, story(), lambda error: None)
    heap.at(0.0, process.start)

    def at_one_second() -> None:  # the network's rank runs before the node's timer at 1.0 s
        flag[0] = True
        process.wake()  # queued after the timeout, which fires first

    heap.at(1.0, at_one_second)
    heap.run(until=10)
    assert got == [True]


def test_a_life_that_never_ends_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """If a node's life waited for ever (here: a drain that nothing ends), the simulation must
    say so rather than pass as a clean run."""
    monkeypatch.setattr(NodeCore, "_drain_seconds", lambda self: math.inf)
    monkeypatch.setattr(VirtualTransport, "still_sending", lambda self: ["nobody"])
    outcome = simulate(cluster(seed=1, duration=2, rates={"node1": 5, "node2": 5, "node3": 5}))
    assert not outcome.ok
    assert any("did not end" in error for error in outcome.errors)


@pytest.mark.parametrize("delivery", ["reliable", "at-most-once"])
def test_each_node_starts_ticking_at_its_own_offset(delivery: str) -> None:
    """The twins (experiments.twins) start each node when its container really started ticking.
    Under reliable delivery a link is up only with the peer's welcome; a node that starts later
    still welcomes at once (node.simnet.connect), so no node waits for the latest one. Before
    that, every barrier waited for the last node's offset and the offsets vanished (0 of the 25
    kept runs reproduced, against 19)."""
    offsets = {"node1": 0.0, "node2": 0.05, "node3": 0.12}
    delay = 0.0005
    sim = cluster(seed=2, duration=2, env={"DELIVERY": delivery}, delay=delay, offsets=offsets)
    run = logcheck.simulated_run(sim)
    first = {
        node: next(r["ts"] for r in records if r["event"] in ("send", "internal", "receive"))
        for node, records in run.items()
    }
    for node, offset in offsets.items():
        assert first[node] - first["node1"] == pytest.approx(offset, abs=2 * delay)

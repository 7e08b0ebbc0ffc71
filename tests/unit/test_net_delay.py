"""NET_DELAY_MS / NET_JITTER_MS: no frame arrives sooner than its delay, links stay FIFO, nothing
is lost without a log line, in virtual time and through real sockets."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from node.simulation import Fault, cluster, write_simulation
from tests import logcheck
from tests.unit.test_inprocess_cluster import make_nodes, run_nodes

Run = dict[str, list[dict[str, Any]]]


def test_virtual_delay_and_jitter_per_node_keep_every_invariant() -> None:
    env = {"NET_DELAY_MS": "20", "NET_JITTER_MS": "15", "NODE3_NET_DELAY_MS": "100", "MAX_EVENT_NUM": "4"}
    run = logcheck.simulated_run(cluster(seed=8, env=env, rates={"node1": 30, "node2": 40, "node3": 50}, duration=20))
    assert logcheck.check_run(run, duration=20, max_event_num=4) == []  # FIFO: received values are a prefix
    for (sender, _), values in logcheck.delays_ms(run).items():
        floor = 100 if sender == "node3" else 20
        assert min(values) >= floor  # on top of the wire's own 0.2 ms
        assert max(values) < floor + 15 + 1 or sender == "node3"
        if sender != "node3":
            assert max(values) - min(values) > 5  # the jitter is there


def test_a_delayed_frame_whose_link_breaks_is_logged_as_dropped(tmp_path: Path) -> None:
    """At most once: node2 and node3 hold every frame 400 ms; node1 is killed meanwhile: what they
    had not yet written is logged as `drop` (reason said), and every message is accounted for."""
    env = {"NET_DELAY_MS": "400", "MAX_EVENT_NUM": "4", "STATUS_INTERVAL": "0", "DELIVERY": "at-most-once"}
    kill = Fault("kill", ("node1",), 4.0, 2.0)
    sim = cluster(seed=2, env=env, rates={"node1": 20, "node2": 20, "node3": 20}, duration=12, faults=(kill,))
    outcome = write_simulation(sim, tmp_path)
    assert outcome.ok, outcome.errors
    run = logcheck.load_run(tmp_path)
    late_drops = [
        r for n in ("node2", "node3") for r in run[n] if r["event"] == "drop" and "delayed frame" in r["reason"]
    ]
    assert late_drops
    assert logcheck.check_clock_rules(run) == []
    touching_node1 = [(a, b) for a, b in logcheck.links(run) if "node1" in (a, b)]
    assert logcheck.check_links(run, lossy=touching_node1) == []  # exact elsewhere


def test_real_sockets_honour_the_delay(tmp_path: Path) -> None:
    nodes = make_nodes(tmp_path, rates=(40, 50, 60), DURATION="2", NET_DELAY_MS="20", NET_JITTER_MS="5")
    assert run_nodes(nodes) == [0, 0, 0]
    run = logcheck.load_run(tmp_path / "r")
    assert logcheck.check_run(run, duration=2) == []  # FIFO and every message accounted for
    values = [d for link in logcheck.delays_ms(run).values() for d in link]
    assert values
    assert min(values) >= 20.0  # never sooner (no upper bound here: a busy machine may be slower)


class _FakeTransport:
    """Enough of asyncio.Transport for node.dialer: what was written, and whether it is closing."""

    def __init__(self, closing: bool = False) -> None:
        self.closing = closing
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _FakeNetwork:
    node_id = "node1"

    def __init__(self) -> None:
        self.dropped: list[tuple[str, int, str]] = []

    def frame_dropped(self, peer: str, value: int, reason: str) -> None:
        self.dropped.append((peer, value, reason))

    def link_changed(self, peer: str, reason: str = "") -> None:
        pass


def test_the_dialer_never_writes_into_a_closing_connection_or_another_one() -> None:
    """A connection reset is `closing` a loop iteration before the dialer learns it is gone, and
    asyncio's write() would drop a frame silently then: the send is refused (so it gets a `drop`
    line). A delayed frame whose connection was replaced by a redial is dropped, not sent on the
    new one."""
    import asyncio

    from node.channel import Outbox
    from node.config import Peer
    from node.dialer import OutboundLink
    from node.linkrules import LINK_BROKE, NOT_CONNECTED

    def at_most_once(delay_s: float) -> OutboundLink:
        link = OutboundLink(network, Peer("node2", "node2", 5000), delay_s, 0.0, random.Random(1), Outbox(10, False))
        link.up = True  # welcomed
        return link

    async def main() -> None:
        link = at_most_once(0.0)
        link.transport = _FakeTransport(closing=True)  # type: ignore[assignment]
        assert link.send(7) == NOT_CONNECTED
        delayed = at_most_once(0.01)
        first, second = _FakeTransport(), _FakeTransport()
        delayed.transport = first  # type: ignore[assignment]
        assert delayed.send(8) is None  # held 10 ms
        delayed.transport = second  # type: ignore[assignment]  # the link broke and was redialled
        await asyncio.sleep(0.05)
        assert (first.written, second.written) == ([], [])
        assert network.dropped == [("node2", 8, LINK_BROKE)]

    network = _FakeNetwork()

    asyncio.run(main())

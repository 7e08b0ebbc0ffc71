"""The tick rule: receive one message, or draw an event; the draw's distribution; seeds."""

import hashlib
import random
from collections import Counter

import pytest

from node.model import Internal, Message, NodeModel, Receive, Send, draw_rate, node_seed, targets_for_draw

PEERS = ("node2", "node3")


def test_draws_map_to_the_assignments_rule() -> None:
    assert targets_for_draw(1, PEERS) == ("node2",)
    assert targets_for_draw(2, PEERS) == ("node3",)
    assert targets_for_draw(3, PEERS) == ("node2", "node3")
    assert all(targets_for_draw(n, PEERS) == () for n in range(4, 11))


def test_rule_generalises_to_more_peers() -> None:
    peers = ("b", "c", "d", "e")
    assert [targets_for_draw(n, peers) for n in range(1, 7)] == [("b",), ("c",), ("d",), ("e",), peers, ()]


def test_queue_first_exactly_one_message_per_tick() -> None:
    model = NodeModel(PEERS, 10, random.Random(0))
    model.deliver(Message("node2", 7, 0.0))
    model.deliver(Message("node3", 3, 0.0))
    first = model.tick()
    assert first == Receive(Message("node2", 7, 0.0), clock=8, queue=1)
    second = model.tick()
    assert second == Receive(Message("node3", 3, 0.0), clock=9, queue=0)
    assert not isinstance(model.tick(), Receive)


def test_send_carries_the_clock_after_the_event() -> None:
    model = NodeModel(PEERS, 3, random.Random(4))  # MAX_EVENT_NUM=3: every draw is a send
    outcomes = [model.tick() for _ in range(50)]
    assert all(isinstance(o, Send) for o in outcomes)
    assert [o.clock for o in outcomes] == list(range(1, 51))


@pytest.mark.parametrize("max_event_num", [3, 4, 5, 10])
def test_draw_distribution(max_event_num: int) -> None:
    """Each of the N outcomes has probability 1/N: chi-square against uniform."""
    model = NodeModel(PEERS, max_event_num, random.Random(12345))
    n = 60_000
    kinds: Counter[str] = Counter()
    for _ in range(n):
        outcome = model.tick()
        if isinstance(outcome, Send):
            kinds["->" + "+".join(outcome.to)] += 1
        else:
            assert isinstance(outcome, Internal)
            kinds["internal"] += 1
    expected = {"->node2": 1, "->node3": 1, "->node2+node3": 1, "internal": max_event_num - 3}
    chi2 = sum((kinds[k] - n * w / max_event_num) ** 2 / (n * w / max_event_num) for k, w in expected.items() if w)
    assert set(kinds) <= set(expected)
    assert chi2 < 16.3  # p = 0.001 for 3 degrees of freedom


def test_same_seed_same_decisions() -> None:
    def run(seed: int) -> list[object]:
        model = NodeModel(PEERS, 10, random.Random(seed))
        return [model.tick() for _ in range(200)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_node_seeds_differ_per_node_and_follow_the_documented_derivation() -> None:
    assert node_seed(42, "node1") != node_seed(42, "node2")
    assert 0 <= node_seed(42, "node1") < 2**63
    # README: the first 63 bits of sha256("<run seed>/<node id>"); changing it breaks old SEEDs.
    digest = hashlib.sha256(b"42/node1").digest()
    assert node_seed(42, "node1") == int.from_bytes(digest[:8], "big") >> 1


def test_rate_is_drawn_uniformly_within_bounds() -> None:
    rng = random.Random(3)
    rates = Counter(draw_rate(rng, 1, 6) for _ in range(6000))
    assert set(rates) == {1, 2, 3, 4, 5, 6}
    assert min(rates.values()) > 850


def test_queued_by_sender_lists_every_peer() -> None:
    model = NodeModel(PEERS, 10, random.Random(0))
    model.deliver(Message("node3", 1, 0.0))
    model.deliver(Message("node3", 2, 0.0))
    assert model.queued_by_sender() == {"node2": 0, "node3": 2}


def test_model_refuses_impossible_configurations() -> None:
    with pytest.raises(ValueError, match="peer"):
        NodeModel((), 10, random.Random(0))
    with pytest.raises(ValueError, match=">= 3"):
        NodeModel(PEERS, 2, random.Random(0))

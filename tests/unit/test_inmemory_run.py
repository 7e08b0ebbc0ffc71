"""Three nodes of the real node code in memory (virtual time): every run invariant holds."""

import json

import pytest

from node.simulation import cluster
from tests import logcheck


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_nodes_keep_every_invariant(seed: int) -> None:
    sim = cluster(seed=seed, duration=120, delay=0.0003, jitter=0.002)
    run = logcheck.simulated_run(sim)
    assert sorted(run) == ["node1", "node2", "node3"]
    assert logcheck.check_run(run, duration=120, max_event_num=10) == []


def test_fewer_internal_events_and_a_slow_node_backlog() -> None:
    """Rates 1 vs 6 and MAX_EVENT_NUM=4: the slow node falls behind and its queue grows."""
    sim = cluster(duration=60, seed=9, max_event_num=4, rates={"node1": 1, "node2": 6, "node3": 6})
    run = logcheck.simulated_run(sim)
    assert logcheck.check_run(run, duration=60, max_event_num=4) == []
    stop = run["node1"][-1]
    assert stop["event"] == "stop"
    assert stop["queue"] > 100  # arrivals ~ 2 x 6/s x 1/2 (send share) = 6/s vs 1 taken per second


def test_same_seed_same_records_byte_for_byte() -> None:
    sim = cluster(duration=30, seed=77, jitter=0.001)
    first = json.dumps(logcheck.simulated_run(sim), sort_keys=True)
    assert first == json.dumps(logcheck.simulated_run(sim), sort_keys=True)
    assert first != json.dumps(logcheck.simulated_run(cluster(duration=30, seed=78, jitter=0.001)), sort_keys=True)


def test_simulated_rates_match_the_real_nodes_draw() -> None:
    """The simulator draws each node's rate exactly as a container with the same SEED does."""
    import random

    from node.model import draw_rate, node_seed

    run = logcheck.simulated_run(cluster(duration=1, seed=4242))
    for node, records in run.items():
        assert records[0]["rate"] == draw_rate(random.Random(node_seed(4242, node)), 1, 6)

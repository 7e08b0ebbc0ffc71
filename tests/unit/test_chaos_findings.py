"""Bugs the chaos runs found (`python -m node.simulate --chaos`), each kept as the test that
failed before its fix: two dial chains for one peer (node/simtransport.py), a node at MAX_QUEUE
that never read again in its drain (node/core.py)."""

from node import chaos
from node.simulation import Fault, cluster, simulate
from tests import logcheck


def test_one_dial_chain_per_peer_no_livelock_at_zero_delay() -> None:
    """F2a: a dial answered after its peer was killed starts a second dial chain; at --delay 0
    the two chains replace each other's connection forever at one instant."""
    faults = (Fault("kill", ("node1",), 0.01, 0.05),)
    outcome = simulate(cluster(2, seed=4, duration=3, delay=0.0, start_skew=0.2, faults=faults))
    assert outcome.ok, outcome.errors


def test_a_stray_redial_never_loses_a_value_under_reliable_delivery() -> None:
    """F2b: the second dial chain redials while the link is up; the new connection is never
    welcomed (out.up stays True), so what waited out NET_DELAY_MS is never sent again: node4->node1
    loses value 237 in the middle of the link."""
    assert chaos.check_seed(5234).violations == []


def test_a_node_at_max_queue_still_drains_at_stop() -> None:
    """F1: at MAX_QUEUE a node stops reading; it never reads again in its drain (no ticks), waits
    the whole DRAIN_TIMEOUT for EOFs queued behind what it does not read, then resets the links:
    fault-free at-most-once runs lose messages (chaos seed 1121), reliable ones leave them in flight."""
    assert chaos.check_seed(1121).violations == []
    env = {"MAX_QUEUE": "5", "STATUS_INTERVAL": "0"}
    run = logcheck.simulated_run(cluster(seed=1, duration=5, rates={"node1": 1, "node2": 20, "node3": 20}, env=env))
    stop = run["node1"][-1]
    assert stop["unfinished"] == []
    assert stop["ts"] < 5.5  # not DRAIN_TIMEOUT (5 s) after the end

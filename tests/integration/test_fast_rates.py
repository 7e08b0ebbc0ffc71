"""A short real run at hundreds of ticks per second: every tick happens and every message is matched.

How well the rates and deadlines hold is measured, not asserted: a loaded two-core machine can
miss any timing window, so timing figures and their targets are `python -m bench`'s
(BENCHMARKS.md). What is asserted here holds on any machine: the tick count (the ticker catches
up what a busy moment delayed), the rate each node logs, the log's problems, the matching.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.metrics import analyse_run
from tests.integration.helpers import cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DURATION = 10
RATES = {"node1": 150, "node2": 200, "node3": 250}


def test_a_short_fast_run_ticks_every_tick_and_matches_every_message(logs: Path) -> None:
    env = {
        "DURATION": str(DURATION),
        "SEED": "7",
        "STATUS_INTERVAL": "2",
        **{f"{node.upper()}_CLOCK_RATE": str(rate) for node, rate in RATES.items()},
    }
    with cluster(logs, env, services=("node1", "node2", "node3")) as running:
        codes = running.wait_until_exited(("init", "node1", "node2", "node3"), timeout=90)
        output = running.logs_text()
    assert set(codes.values()) == {0}, output
    timing = analyse_run(running.run_folder(), DURATION)
    assert timing.problems == []
    assert sorted(timing.nodes) == sorted(RATES)
    for node, figures in timing.nodes.items():
        assert figures.rate == RATES[node]
        assert figures.ticks == RATES[node] * DURATION, node
    assert timing.latency.count > 0
    assert timing.latency.unmatched == 0

"""Regression guard for timing: a short real run must keep its rates, with room for a busy machine.

Not a benchmark (that is `python -m bench`, BENCHMARKS.md): the bounds are far from what the
nodes achieve (measured 1.0000 and p99 well under 1 ms at these rates), so only a real
regression fails it, e.g. a tick that waits for I/O or deadlines that drift.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.metrics import analyse_run
from tests.integration.helpers import cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DURATION = 10
RATES = {"node1": 150, "node2": 200, "node3": 250}
MIN_RATIO = 0.99
MAX_LATE_P99_MS = 20.0  # a tick starting 20 ms late at the 99th percentile means something is wrong


def test_short_run_holds_its_rates(logs: Path) -> None:
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
        assert figures.ratio >= MIN_RATIO, f"{node}: achieved/configured {figures.ratio:.5f}"
        assert figures.late_p99_ms < MAX_LATE_P99_MS, f"{node}: tick lateness p99 {figures.late_p99_ms} ms"
    assert timing.latency.count > 0
    assert timing.latency.unmatched == 0

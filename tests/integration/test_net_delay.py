"""NET_DELAY_MS in real containers: no message arrives sooner than its delay, links stay FIFO and
every invariant holds (the simulator's counterpart: tests/unit/test_net_delay.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import logcheck
from tests.integration.helpers import NODES, cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_no_message_arrives_sooner_than_net_delay_ms(logs: Path) -> None:
    duration = 8
    env = {
        "DURATION": str(duration),
        "NET_DELAY_MS": "20",
        "NODE3_NET_DELAY_MS": "35",
        "NET_JITTER_MS": "5",
        "MIN_CLOCK_RATE": "40",
        "MAX_CLOCK_RATE": "60",
        "MAX_EVENT_NUM": "5",
        "SEED": "21",
    }
    with cluster(logs, env, services=NODES) as running:
        codes = running.wait_until_exited(("init", *NODES))
        folder = running.run_folder()
    assert set(codes.values()) == {0}
    run = logcheck.load_run(folder)
    assert logcheck.check_run(run, duration=duration, max_event_num=5) == []  # FIFO, nothing unaccounted
    delays = logcheck.delays_ms(run)
    assert sum(len(v) for v in delays.values()) > 100
    for (sender, _), values in delays.items():
        assert min(values) >= (35 if sender == "node3" else 20), (sender, min(values))
    for node, records in run.items():
        assert records[0]["config"]["net_delay_ms"] == (35 if node == "node3" else 20)

"""Clock offsets from one-way delays (analysis.hostclocks): simulated runs share one clock, so a
known offset is planted by shifting one node's times in its log (the simulator has no per-node
clock offset, and the node core gets none for a test)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.__main__ import main
from analysis.api import load_and_analyse
from analysis.hostclocks import configured_delay_ms, estimate, hosts_of
from analysis.loader import NodeLog
from analysis.summaryfile import read_summary
from node.schema import ClockOffsets, ClockPair
from node.simulation import cluster, write_simulation
from tests.unit.test_analysis import start, summary_of, two_node_run, write


def simulated(folder: Path, env: dict[str, str] | None = None, **network: Any) -> Path:
    """Three nodes for 20 s of virtual time (wire delay 0.2 ms each way unless `network` says)."""
    folder.mkdir(parents=True)
    sim = cluster(3, seed=1, duration=20, rates={"node1": 2, "node2": 6, "node3": 4}, env=env, **network)
    assert write_simulation(sim, folder).ok
    return folder


def shift_clock(folder: Path, node: str, seconds: float) -> None:
    """Make `node`'s clock read `seconds` ahead: every time it logged (ts, enq_ts) moves by that."""
    path = folder / f"{node}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for r in records:
        r["ts"] += seconds
        if "enq_ts" in r:
            r["enq_ts"] += seconds
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def offsets_of(folder: Path) -> ClockOffsets:
    offsets = load_and_analyse(folder).summary["clock_offsets"]
    assert offsets is not None
    return offsets


def pair(offsets: ClockOffsets, a: str, b: str) -> ClockPair:
    return next(p for p in offsets["pairs"] if (p["a"], p["b"]) == (a, b))


def test_a_simulated_run_shares_one_clock_and_gives_no_warning(tmp_path: Path) -> None:
    offsets = offsets_of(simulated(tmp_path / "run", jitter=0.0005))
    assert offsets["trusted"] is True
    assert offsets["warning"] is None
    assert offsets["reference"] == "node1"
    assert offsets["hosts"] == {"node1": "node1", "node2": "node2", "node3": "node3"}  # no host in the logs
    assert [(p["a"], p["b"]) for p in offsets["pairs"]] == [("node1", "node2"), ("node1", "node3"), ("node2", "node3")]
    for p in offsets["pairs"]:
        assert p["messages_ab"] > 0
        assert p["messages_ba"] > 0
        assert p["low_ms"] is not None
        assert p["high_ms"] is not None
        assert p["low_ms"] <= 0 <= p["high_ms"]  # the truth, 0, lies within the bounds
        assert p["suspect"] is None
    assert offsets["offsets_ms"]["node1"] == 0.0


def test_a_small_offset_is_recovered_within_its_bounds_without_a_warning(tmp_path: Path) -> None:
    """node2 0.1 ms ahead: delays node1 -> node2 0.3 ms, node2 -> node1 0.1 ms; estimate (0.3 - 0.1) / 2.

    Below the fastest message's delay an offset proves nothing (it could be delays that differ by
    direction): no warning, but the estimate and its bounds say it."""
    folder = simulated(tmp_path / "run")
    shift_clock(folder, "node2", 0.0001)
    offsets = offsets_of(folder)
    assert offsets["offsets_ms"]["node2"] == pytest.approx(0.1, abs=0.001)
    assert offsets["offsets_ms"]["node3"] == pytest.approx(0.0, abs=0.001)
    p = pair(offsets, "node1", "node2")
    assert p["low_ms"] == pytest.approx(-0.1, abs=0.001)
    assert p["high_ms"] == pytest.approx(0.3, abs=0.001)
    assert pair(offsets, "node2", "node3")["offset_ms"] == pytest.approx(-0.1, abs=0.001)  # node3 - node2
    assert offsets["trusted"] is True


def test_a_negative_one_way_delay_proves_an_offset_and_warns(tmp_path: Path) -> None:
    """node3 5 ms behind: node3 -> node1 and node3 -> node2 take -4.8 ms by the clocks: impossible."""
    folder = simulated(tmp_path / "run", jitter=0.0005)
    shift_clock(folder, "node3", -0.005)
    offsets = offsets_of(folder)
    assert offsets["trusted"] is False
    for a in ("node1", "node2"):
        p = pair(offsets, a, "node3")
        assert p["low_ms"] is not None
        assert p["high_ms"] is not None
        assert p["low_ms"] <= -5.0 <= p["high_ms"]
        assert p["high_ms"] < 0  # no offset of 0 fits: proof
        assert p["offset_ms"] == pytest.approx(-5.0, abs=0.25)  # half the jitter at most
        assert p["suspect"] is not None
        assert "is impossible" in p["suspect"]
    assert pair(offsets, "node1", "node2")["suspect"] is None
    warning = offsets["warning"]
    assert warning is not None
    assert warning.startswith("warning: clocks differ: node3 - node")
    assert "1 more pair(s) suspect" in warning
    assert "not to be trusted" in warning


def test_the_bounds_always_hold_the_true_offset() -> None:
    """Any true delays >= 0 and any offset: the offset lies within [-m_ba, m_ab], and the estimate
    at their middle; a warning exactly when a delay measured one way is below zero."""
    rng = random.Random(5)
    for _ in range(500):
        theta = rng.uniform(-10, 10)
        ab = np.array([rng.expovariate(1) + rng.uniform(0, 3) for _ in range(rng.randint(1, 20))])
        ba = np.array([rng.expovariate(1) + rng.uniform(0, 3) for _ in range(rng.randint(1, 20))])
        offsets = estimate({("a", "b"): ab + theta, ("b", "a"): ba - theta}, {}, {"a": "a", "b": "b"})
        p = offsets["pairs"][0]
        assert p["low_ms"] is not None
        assert p["high_ms"] is not None
        assert p["offset_ms"] is not None
        assert p["low_ms"] - 0.001 <= theta <= p["high_ms"] + 0.001
        assert p["offset_ms"] == pytest.approx((p["low_ms"] + p["high_ms"]) / 2, abs=0.001)
        negative = min((ab + theta).min(), (ba - theta).min()) < -0.001
        assert offsets["trusted"] is not negative


def test_a_hand_made_run_with_a_receive_before_its_send_warns(tmp_path: Path) -> None:
    """two_node_run: every message takes 1 ms. With b's clock 5 ms behind, a -> b takes -4 ms."""
    run = two_node_run()
    for r in run["b"]:
        r["ts"] -= 0.005
        if "enq_ts" in r:
            r["enq_ts"] -= 0.005
    offsets = summary_of(write(tmp_path / "run", run))["clock_offsets"]
    assert offsets is not None
    assert offsets["warning"] == (
        "warning: clocks differ: b - a = -5.000 ms (bounds -6.000 .. -4.000), a one-way delay a -> b of "
        "-4.000 ms is impossible: one-way delays and times compared across nodes are not to be trusted "
        "(summary.json: clock_offsets)"
    )


def test_a_delay_added_on_purpose_is_not_taken_for_an_offset(tmp_path: Path) -> None:
    """NODE3_NET_DELAY_MS=50: node3's messages take 50.2 ms, the others' 0.2 ms. Less the 50 ms
    node3 adds on purpose, the minimum delays are equal both ways: offset 0."""
    offsets = offsets_of(simulated(tmp_path / "run", env={"NODE3_NET_DELAY_MS": "50"}))
    p = pair(offsets, "node1", "node3")
    assert p["min_delay_ba_ms"] == pytest.approx(0.2, abs=0.001)
    assert p["offset_ms"] == pytest.approx(0.0, abs=0.001)
    assert offsets["trusted"] is True


def test_nodes_on_one_host_share_its_clock() -> None:
    """Hosts h1 (node1, node2) and h2 (node3, 5 ms ahead): one pair, pooling both nodes' messages;
    the messages within h1 say nothing about offsets."""
    ms = np.array
    delays = {
        ("node1", "node2"): ms([0.1, 0.2]),
        ("node1", "node3"): ms([5.3, 5.4]),
        ("node2", "node3"): ms([5.2]),
        ("node3", "node1"): ms([-4.7]),
        ("node3", "node2"): ms([-4.9, -4.6]),
    }
    offsets = estimate(delays, {}, {"node1": "h1", "node2": "h1", "node3": "h2"})
    assert offsets["reference"] == "h1"
    assert offsets["offsets_ms"] == {"h1": 0.0, "h2": 5.05}  # (5.2 - (-4.9)) / 2
    (p,) = offsets["pairs"]
    assert (p["a"], p["b"], p["messages_ab"], p["messages_ba"]) == ("h1", "h2", 3, 3)
    assert (p["low_ms"], p["high_ms"]) == (4.9, 5.2)
    assert offsets["warning"] is not None
    assert offsets["warning"].startswith("warning: clocks differ: h2 - h1 = +5.050 ms (bounds +4.900 .. +5.200)")


def test_bounds_that_contradict_each_other_say_the_offset_changed() -> None:
    """A clock stepped mid-run: a -> b took -3 ms once and b -> a -2 ms once; no single offset fits."""
    offsets = estimate({("a", "b"): np.array([1.0, -3.0]), ("b", "a"): np.array([-2.0, 1.0])}, {}, {"a": "a", "b": "b"})
    p = offsets["pairs"][0]
    assert p["low_ms"] == 2.0
    assert p["high_ms"] == -3.0
    assert p["suspect"] == "the bounds contradict each other: the offset changed during the run"


def test_messages_one_way_give_one_bound() -> None:
    offsets = estimate({("a", "b"): np.array([-2.0, 1.0])}, {}, {"a": "a", "b": "b"})
    p = offsets["pairs"][0]
    assert (p["offset_ms"], p["low_ms"], p["high_ms"], p["messages_ba"]) == (None, None, -2.0, 0)
    assert offsets["offsets_ms"] == {"a": 0.0, "b": None}
    assert offsets["warning"] is not None
    assert "b - a in [?, -2.000] ms, a one-way delay a -> b of -2.000 ms is impossible" in offsets["warning"]


def test_a_single_node_has_nothing_to_compare() -> None:
    assert estimate({}, {}, {"a": "a"}) == {
        "reference": "a",
        "hosts": {"a": "a"},
        "offsets_ms": {"a": 0.0},
        "pairs": [],
        "trusted": True,
        "warning": None,
    }


@pytest.mark.parametrize("value", [True, -1.0, "20", None, float("nan"), float("inf"), 1e300])
def test_a_configured_delay_that_is_not_a_delay_counts_as_zero(value: object) -> None:
    log = NodeLog("a", "a.jsonl", starts=[start("a", 1, ["b"]) | {"config": {"net_delay_ms": value}}])
    assert configured_delay_ms(log) == 0.0


def test_the_smallest_configured_delay_of_any_incarnation_is_the_bound() -> None:
    starts = [start("a", 1, ["b"]) | {"config": {"net_delay_ms": d}} for d in (20, 5.5)]
    assert configured_delay_ms(NodeLog("a", "a.jsonl", starts=starts)) == 5.5


def test_the_analysis_prints_the_warning_and_writes_it_into_its_summaries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = simulated(tmp_path / "run")
    shift_clock(folder, "node2", 0.003)
    assert main([str(folder), "--no-plots"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "clocks differ" in line]
    assert len(lines) == 1
    assert lines[0].startswith("warning: clocks differ: node2 - node1 = +3.000 ms (bounds +2.800 .. +3.200)")
    written = json.loads((folder / "summary.json").read_text())
    assert written["clock_offsets"]["warning"] == lines[0]
    assert written["clock_offsets"]["trusted"] is False
    assert f"- {lines[0]}" in (folder / "summary.md").read_text()


def test_no_warning_is_printed_for_a_run_on_one_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(simulated(tmp_path / "run")), "--no-plots"]) == 0
    assert "clocks differ" not in capsys.readouterr().out


def test_a_summary_before_schema_5_reads_back_with_null_offsets(tmp_path: Path) -> None:
    summary = dict(summary_of(write(tmp_path / "run", two_node_run())))
    (tmp_path / "new.json").write_text(json.dumps(summary))
    assert read_summary(tmp_path / "new.json")["clock_offsets"] == summary["clock_offsets"]
    del summary["clock_offsets"]
    (tmp_path / "old.json").write_text(json.dumps(summary | {"schema": 4}))
    assert read_summary(tmp_path / "old.json")["clock_offsets"] is None


def test_the_hosts_scripts_swarm_records_in_run_json_pool_their_nodes(tmp_path: Path) -> None:
    """run.json's swarm.hosts (scripts/swarm) puts node1 and node2 on one host: one pair of hosts,
    both nodes' messages pooled, the shifted host's offset recovered."""
    folder = simulated(tmp_path / "run", jitter=0.0005)
    shift_clock(folder, "node3", -0.005)
    info = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    info["swarm"] = {"hosts": {"node1": "host-a", "node2": "host-a", "node3": "host-b"}}
    (folder / "run.json").write_text(json.dumps(info))
    offsets = offsets_of(folder)
    assert offsets["hosts"] == {"node1": "host-a", "node2": "host-a", "node3": "host-b"}
    (only,) = offsets["pairs"]
    assert (only["a"], only["b"]) == ("host-a", "host-b")
    assert only["messages_ab"] == pair_messages(folder, ("node1", "node2"), "node3")
    assert only["offset_ms"] == pytest.approx(-5.0, abs=0.25)
    assert offsets["trusted"] is False


@pytest.mark.parametrize(
    "info",
    [{}, {"swarm": "x"}, {"swarm": {"hosts": ["a"]}}, {"swarm": {"hosts": {"node1": "a", "node2": "a"}}}],
)
def test_a_run_json_without_a_host_for_every_node_pools_nothing(info: dict[str, Any]) -> None:
    assert hosts_of(info, ["node1", "node2", "node3"]) is None


def pair_messages(folder: Path, senders: tuple[str, ...], receiver: str) -> int:
    """Messages from `senders` to `receiver` that the estimate used, each node its own domain."""
    alone = estimate_without_hosts(folder)
    return sum(pair(alone, sender, receiver)["messages_ab"] for sender in senders)


def estimate_without_hosts(folder: Path) -> ClockOffsets:
    info = folder / "run.json"
    kept = info.read_text()
    info.write_text("{}")
    try:
        return offsets_of(folder)
    finally:
        info.write_text(kept)

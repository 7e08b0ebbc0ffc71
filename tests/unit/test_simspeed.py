"""The simulator's speed measurement (bench.simspeed): what it reports, and that timing a run's
phases changes nothing in the run."""

from pathlib import Path

from bench import simspeed
from node.simulation import cluster, write_simulation


def test_marks_change_nothing_in_the_run(tmp_path: Path) -> None:
    sim = cluster(4, duration=5, seed=2, max_event_num=6)
    called: list[float] = []
    write_simulation(sim, tmp_path / "plain")
    write_simulation(
        sim, tmp_path / "marked", marks=[(0.01, lambda: called.append(0.01)), (5.0, lambda: called.append(5))]
    )
    assert called == [0.01, 5]
    for node in sim.node_ids:
        assert (tmp_path / "plain" / f"{node}.jsonl").read_bytes() == (
            tmp_path / "marked" / f"{node}.jsonl"
        ).read_bytes()


def test_a_many_nodes_run_reports_its_phases_and_memory(tmp_path: Path) -> None:
    config = simspeed.Many(nodes=6, rate=50, duration=2.0)
    for output in simspeed.OUTPUTS:
        run = simspeed.child(output, config, tmp_path / output)
        assert run["ticks"] == 6 * 50 * 2
        assert run["events"] == run["ticks"] + 6 * (2 * 5 + 2)  # connected and disconnected per peer, start, stop
        phases = run["connecting_s"] + run["ticking_s"] + run["closing_s"]
        assert abs(phases - run["wall_s"]) <= 0.03
        assert run["peak_rss_mb"] > 0
        row = simspeed.many_row(run)
        assert row.startswith("| simulator, 6 nodes (30 links) at 50/s for 2 s, MAX_EVENT_NUM=20")
        assert f"{run['events']:,} events" in row

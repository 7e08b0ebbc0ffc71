"""The experiment tooling: seeds, set files and the command line, the mean-field theory, the report,
and a small set run end to end in the simulator (containers: up to the plan and its checks)."""

import json
import shutil
from pathlib import Path

import pytest

import experiments.__main__ as cli
from experiments import configs as configs_module
from experiments.configs import ASSIGNMENT, RESULTS, SetError, builtin_sets, load_set, run_seed
from experiments.provenance import code_version, load_average, machine
from experiments.runner import (
    PlannedRun,
    check,
    compose_gap,
    parse_fault_text,
    plan,
    planned_from_entry,
    simulation,
    write_compose_file,
)
from experiments.tables import write_report
from experiments.theory import predict
from node.simulation import parse_fault

# Today's five configurations, as experiments/configs.py spelled them before set files.
BASE = {"MIN_CLOCK_RATE": "1", "MAX_CLOCK_RATE": "6", "MAX_EVENT_NUM": "10"}
ASSIGNED = {
    "baseline": ("the assignment: rates 1..6, MAX_EVENT_NUM=10 (70% of draws internal)", BASE),
    "narrow-rates": ("smaller variation in clock rates: 5..6", {**BASE, "MIN_CLOCK_RATE": "5"}),
    "fewer-internal": (
        "smaller probability of internal events: MAX_EVENT_NUM=5 (40% internal)",
        {**BASE, "MAX_EVENT_NUM": "5"},
    ),
    "narrow-and-fewer": ("both: rates 5..6 and MAX_EVENT_NUM=5", {**BASE, "MIN_CLOCK_RATE": "5", "MAX_EVENT_NUM": "5"}),
    "extreme": (
        "one slow machine: node1 at 1 tick/s, node2 and node3 at 6, MAX_EVENT_NUM=10",
        {**BASE, "NODE1_CLOCK_RATE": "1", "NODE2_CLOCK_RATE": "6", "NODE3_CLOCK_RATE": "6"},
    ),
}
TINY = """
name = "tiny"
description = "two configurations in the simulator"
engine = "simulator"
runs = 2
duration = 5
seed = 11
results = "out"

[[configs]]
name = "plain"
rates = [2, 4, 6]
max_event_num = 5

[[configs]]
name = "lossy"
description = "node1 killed for a second, nothing resent"
rates = [3, 3, 6]
delivery = "at-most-once"
net_delay_ms = 5
faults = ["kill node1@2:1"]
"""


def test_run_seeds_are_stable_and_distinct() -> None:
    seeds = {run_seed(2026, c, i) for c in ASSIGNED for i in range(1, 6)}
    assert len(seeds) == 25
    assert run_seed(2026, "baseline", 1) == run_seed(2026, "baseline", 1)
    assert all(0 <= s < 2**63 for s in seeds)


def test_assignment_set_is_the_five_configurations_of_before() -> None:
    """Same names, order, descriptions and environments as the kept runs were made with, so that a
    re-run repeats them; and each kept run's entry agrees with the file."""
    assignment = load_set(ASSIGNMENT)
    assert (assignment.name, assignment.engine, assignment.runs, assignment.duration, assignment.seed) == (
        "assignment",
        "containers",
        5,
        60,
        2026,
    )
    assert assignment.results == RESULTS
    assert [(c.name, c.description, c.env, c.nodes, c.faults) for c in assignment.configs] == [
        (name, description, env, 3, ()) for name, (description, env) in ASSIGNED.items()
    ]
    planned = plan(assignment.configs, 5, 60, 2026)
    assert planned[0].env() == {
        "RUN_ID": "baseline-1",
        "SEED": str(run_seed(2026, "baseline", 1)),
        "DURATION": "60",
        "STATUS_INTERVAL": "0",
        "NODE1_CLOCK_RATE": "",
        "NODE2_CLOCK_RATE": "",
        "NODE3_CLOCK_RATE": "",
        **BASE,
    }
    by_id = {p.run_id: p for p in planned}
    kept = json.loads((RESULTS / "index.json").read_text())["runs"]
    assert len(kept) == 25
    for entry in kept:
        assert (entry["env"], entry["seed"]) == (by_id[entry["run_id"]].config.env, by_id[entry["run_id"]].seed)
        assert planned_from_entry(entry).env() == by_id[entry["run_id"]].env()


def test_built_in_sets_load_and_pass_their_engines_checks() -> None:
    sets = {s.name: s for s in builtin_sets()}
    assert {"assignment", "faults"} <= set(sets)
    for s in sets.values():
        check(plan(s.configs, 1, s.duration, s.seed), s.engine)


def test_set_file_keys_become_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        TINY.replace('results = "out"\n', "") + '\n[[configs]]\nname = "five"\nnodes = 5\nclock_bug = "none"\n'
    )
    tiny = load_set(path, {"runs": 3})
    assert (tiny.name, tiny.engine, tiny.runs, tiny.duration, tiny.seed) == ("tiny", "simulator", 3, 5, 11)
    assert tiny.results == RESULTS / "tiny"  # the default: a folder of its own in experiments/results
    plain, lossy, five = tiny.configs
    assert plain.env == {
        "MAX_EVENT_NUM": "5",
        "NODE1_CLOCK_RATE": "2",
        "NODE2_CLOCK_RATE": "4",
        "NODE3_CLOCK_RATE": "6",
    }
    assert plain.description == "max_event_num=5, rates=[2, 4, 6]"
    assert lossy.env["DELIVERY"] == "at-most-once"
    assert lossy.env["NET_DELAY_MS"] == "5"
    assert lossy.faults == ("kill node1@2:1",)
    assert (five.nodes, five.node_ids[-1], five.env) == (5, "node5", {"CLOCK_BUG": "none"})
    # The simulator gets exactly the variables compose would: the nodes' own loader reads them.
    p = plan([lossy], 1, 5, 11)[0]
    sim = simulation(p)
    assert (sim.run_id, sim.seed) == ("lossy-1", run_seed(11, "lossy", 1))
    assert [c.clock_rate for c in sim.configs] == [3, 3, 6]
    assert {(c.delivery, c.net_delay_ms, c.duration) for c in sim.configs} == {("at-most-once", 5.0, 5.0)}
    assert sim.faults == (parse_fault("kill", "node1@2:1", sim.node_ids),)
    assert parse_fault_text("--pause node2@1:2", sim.node_ids) == parse_fault("pause", "node2@1:2", sim.node_ids)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("seed = 11", "seed = 11\ncolour = 3"), "unknown key 'colour' (known: name, "),
        (("max_event_num = 5", "max_event_num = 5\nrate = 4"), "configuration 'plain': unknown key 'rate'"),
        (("runs = 2", "runs = 0"), "runs: expected an integer from 1 to 10000, got 0"),
        (("runs = 2", 'runs = "two"'), "runs: expected an integer"),
        (('engine = "simulator"', 'engine = "vm"'), "engine: expected one of containers, simulator, got 'vm'"),
        (("rates = [2, 4, 6]", "rates = [2, 4]\nnodes = 3"), "configuration 'plain': rates: expected 3 rates"),
        (
            ('delivery = "at-most-once"', 'delivery = "maybe"'),
            "configuration 'lossy': DELIVERY='maybe': must be one of",
        ),
        (("max_event_num = 5", "max_event_num = 2"), "configuration 'plain': MAX_EVENT_NUM='2': must be an integer"),
        (("node1@2:1", "node9@2:1"), "configuration 'lossy': --kill 'node9@2:1': no node 'node9'"),
        (('engine = "simulator"', 'engine = "containers"'), "configuration 'lossy': faults run in the simulator only"),
        (('name = "plain"', 'name = "lossy"'), "configs: the name 'lossy' is used twice"),
        (("[[configs]]", "[configs]]"), "not a readable TOML file"),
    ],
)
def test_a_bad_set_file_is_one_line_and_exit_2_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str],
    says: str,
) -> None:
    monkeypatch.setattr(cli, "WORK", tmp_path / "work")
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(*edit, 1))
    assert cli.main(["run", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"experiments: {path}: ")
    assert says in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # no results, no work folder


def test_ad_hoc_set_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--name", "my-set", "--rates", "1,6,6", "--max-event-num", "5", "--runs", "3", "--duration", "30"]
    argv += ["--engine", "simulator", "--delivery", "at-most-once", "--fault", "pause node2@3:1"]
    chosen = cli.chosen_set(cli.parse_args(argv))
    assert (chosen.name, chosen.engine, chosen.runs, chosen.duration, chosen.seed) == (
        "my-set",
        "simulator",
        3,
        30,
        2026,
    )
    assert chosen.results == RESULTS / "my-set"
    (config,) = chosen.configs
    assert config.name == "my-set"
    assert config.env == {
        "MAX_EVENT_NUM": "5",
        "DELIVERY": "at-most-once",
        "NODE1_CLOCK_RATE": "1",
        "NODE2_CLOCK_RATE": "6",
        "NODE3_CLOCK_RATE": "6",
    }
    assert config.faults == ("pause node2@3:1",)
    check(plan(chosen.configs, 1, 30, 2026), "simulator")
    # No set file, no options: the assignment, with the overrides.
    assignment = cli.chosen_set(cli.parse_args(["run", "--runs", "2", "--engine", "simulator"]))
    assert (assignment.name, assignment.runs, assignment.engine) == ("assignment", 2, "simulator")
    assert cli.main(["run", "--rates", "1,x"]) == 2
    assert cli.main(["run", str(ASSIGNMENT), "--rates", "1,6,6"]) == 2
    assert cli.main(["run", "--configs", "nope"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "experiments: command line: --rates '1,x': expected comma-separated integers, e.g. 1,6,6",
        f"experiments: {ASSIGNMENT}: --rates describes an ad hoc set: give it without a set file",
        f"experiments: {ASSIGNMENT}: --configs: no configuration 'nope' (known: {', '.join(ASSIGNED)})",
    ]


def test_containers_are_planned_and_checked_without_docker(tmp_path: Path) -> None:
    """Containers: faults are refused in one line, a variable docker-compose.yml would drop is found,
    and the compose file for five nodes (scripts/compose_nodes.py) is what test_n_nodes runs."""
    assignment = load_set(ASSIGNMENT)
    check(plan(assignment.configs, 5, 60, 2026), "containers")
    five = configs_module.Config("five", "", {"MAX_EVENT_NUM": "6", "NODE5_CLOCK_RATE": "2"}, nodes=5)
    check(plan([five], 1, 10, 1), "containers")
    assert compose_gap(five) is None
    assert compose_gap(configs_module.Config("x", "", {"NOT_A_NODE_VARIABLE": "1"})) == "NOT_A_NODE_VARIABLE"
    with pytest.raises(ValueError, match="does not pass NOT_A_NODE_VARIABLE"):
        check(plan([configs_module.Config("x", "", {"NOT_A_NODE_VARIABLE": "1"})], 1, 10, 1), "containers")
    write_compose_file(5, tmp_path / "five.yml")
    text = (tmp_path / "five.yml").read_text()
    assert "  node5:" in text
    assert "NODE5_CLOCK_RATE" in text


def test_provenance_of_this_machine() -> None:
    code = code_version()
    assert code is None or (len(str(code["commit"])) == 40 and isinstance(code["dirty"], bool))
    assert code_version(Path("/")) is None  # outside a git checkout
    info = machine("simulator")
    assert set(info) == {"hostname", "nproc", "memory_gib", "kernel", "python"}
    assert isinstance(info["nproc"], int)
    assert info["nproc"] >= 1
    load = load_average()
    assert load is None or load >= 0


def test_a_tiny_simulator_set_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """2 configurations x 2 runs x 5 s in the simulator: kept as container runs are, with provenance,
    reported with the settings and losses of each run, rebuilt the same by `report` and `report --all`."""
    monkeypatch.setattr(cli, "WORK", tmp_path / "work")
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    assert cli.main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"4 runs of 5 s in the simulator: plain, lossy x 2 -> {tmp_path / 'out'}\n")
    assert "[4/4] lossy-2: seed" in out
    assert "(set done about" in out
    results = tmp_path / "out"
    index = json.loads((results / "index.json").read_text())
    assert index["set"]["configs"][1] == {"name": "lossy", "description": "node1 killed for a second, nothing resent"}
    runs = index["runs"]
    assert [r["run_id"] for r in runs] == ["lossy-1", "lossy-2", "plain-1", "plain-2"]
    for r in runs:
        assert (r["engine"], r["set"], r["failed"]) == ("simulator", "tiny", False)
        assert r["seed"] == run_seed(11, r["config"], r["index"])
        provenance = r["provenance"]
        assert set(provenance) == {"code", "machine", "load"}
        assert provenance["code"] is None or set(provenance["code"]) == {"commit", "dirty"}
        assert {"hostname", "nproc", "memory_gib", "kernel", "python"} <= set(provenance["machine"])
        assert set(provenance["load"]) == {"start", "end"}
        assert (results / "runs" / r["run_id"] / "summary.json").exists()
    assert runs[0]["faults"] == ["kill node1@2:1"]
    assert (results / "runs" / "plain-1" / "clock.png").exists()
    assert not (results / "runs" / "plain-2" / "clock.png").exists()  # plots only of each first run
    assert sorted(p.name for p in (results / "logs").iterdir()) == ["lossy.tar.xz", "plain.tar.xz"]
    tables = (results / "tables.md").read_text()
    assert tables.startswith("# Experiment tables: tiny\n\ntwo configurations in the simulator.\n")
    assert "Runs made in the simulator" in tables
    assert "| settings | lost | false-order share | false orders/event |" in tables
    assert "| NET_DELAY_MS=5, DELIVERY=at-most-once, kill node1@2:1 | 0 |" in tables
    for run_id in ("plain-1", "plain-2", "lossy-1", "lossy-2"):
        assert f"| {run_id} |" in tables
    # `report` with the set file, and `report --all` over the built-in sets, rebuild the same tables.
    (results / "tables.md").unlink()
    assert cli.main(["report", str(path)]) == 0
    assert (results / "tables.md").read_text() == tables
    monkeypatch.setattr(configs_module, "SETS", tmp_path)
    (results / "tables.md").unlink()
    assert cli.main(["report", "--all"]) == 0
    assert (results / "tables.md").read_text() == tables


def test_theory_one_slow_node() -> None:
    """Rates 1, 6, 6 and MAX_EVENT_NUM=10 (p = 0.2 per draw and peer), worked by hand:
    the slow node never draws (backlogged), each fast node draws D = 6 - 0.2 D, so D = 5;
    the slow node gets 0.2 x (5 + 5) = 2 messages/s and can take 1: its backlog grows 1/s."""
    slow, fast, _ = predict([1, 6, 6], 10)
    assert slow.arrivals == pytest.approx(2.0)
    assert slow.queue_growth == pytest.approx(1.0)
    assert slow.receive_share == 1.0
    assert slow.mean_jump is None
    assert fast.draws == pytest.approx(5.0)
    assert fast.receive_share == pytest.approx(1 / 6)
    assert fast.mean_jump == 1.0


def test_theory_equal_rates_keep_up() -> None:
    """Three nodes at 5/s, p = 0.2: D = 5 - 0.4 D, so D = 25/7 and each receives 10/7 per second."""
    for p in predict([5, 5, 5], 10):
        assert p.arrivals == pytest.approx(10 / 7)
        assert p.queue_growth == 0
        assert p.mean_jump == 1.0


def test_theory_rejects_impossible_input() -> None:
    with pytest.raises(ValueError, match="two nodes"):
        predict([3], 10)
    with pytest.raises(ValueError, match="MAX_EVENT_NUM"):
        predict([1, 2, 3], 2)


def test_report_is_rebuilt_from_kept_results(tmp_path: Path) -> None:
    """`python -m experiments report` on the kept results gives the tables the notebook quotes."""
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("*.png", "logs"))
    written = write_report(copy)
    assert (copy / "tables.md").read_text() == (RESULTS / "tables.md").read_text()
    assert json.loads((copy / "aggregate.json").read_text()) == json.loads((RESULTS / "aggregate.json").read_text())
    assert all(p.stat().st_size > 0 for p in written)
    # The same through the command line, with the assignment's set file naming the configurations.
    (copy / "tables.md").unlink()
    assert cli.main(["report", str(ASSIGNMENT), "--results", str(copy)]) == 0
    assert (copy / "tables.md").read_text() == (RESULTS / "tables.md").read_text()


def test_planned_run_env_is_what_compose_and_the_simulator_get() -> None:
    p = PlannedRun(configs_module.Config("c", "", {"NODE2_CLOCK_RATE": "4"}, nodes=4), 2, 99, 7.5)
    env = p.env()
    assert (env["RUN_ID"], env["SEED"], env["DURATION"], env["NODE4_CLOCK_RATE"], env["NODE2_CLOCK_RATE"]) == (
        "c-2",
        "99",
        "7.5",
        "",
        "4",
    )
    with pytest.raises(SetError, match="no configuration 'x'"):
        load_set(ASSIGNMENT).only(["x"])

"""The experiment tooling: seeds, set files and the command line, the mean-field theory, the report,
and a small set run end to end in the simulator (containers: up to the plan, its checks and the
fault schedule against a fake docker; tests/integration/test_experiment_faults.py runs one)."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import cast

import pytest

import experiments.__main__ as cli
from deploy.compose import ComposeProject
from experiments import configs as configs_module
from experiments import false_orders
from experiments.configs import ASSIGNMENT, RESULTS, SetError, builtin_sets, load_set, run_seed
from experiments.container_faults import CUT_REFUSED, MARGIN, Driver, FaultError, schedule
from experiments.provenance import code_version, load_average, machine
from experiments.questions import write_questions
from experiments.runner import (
    PlannedRun,
    check,
    compose_gap,
    parse_fault_text,
    plan,
    planned_from_entry,
    project_name,
    simulation,
    write_compose_file,
)
from experiments.tables import write_report
from experiments.theory import predict
from node.config import PROJECT_PATTERN
from node.simulation import Fault, parse_fault

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
    """Containers: every fault but a cut is accepted, a variable docker-compose.yml would drop is
    found, and the compose file for five nodes (scripts/compose_nodes.py) is what test_n_nodes runs."""
    assignment = load_set(ASSIGNMENT)
    check(plan(assignment.configs, 5, 60, 2026), "containers")
    faults = ("kill node1@5:3", "pause node2@1:2", "isolate node3@2:2", "term node2@9")
    check(plan([configs_module.Config("faulty", "", {}, faults=faults)], 1, 10, 1), "containers")
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


def test_containers_refuse_a_cut_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "WORK", tmp_path / "work")
    path = tmp_path / "cut.toml"
    path.write_text(
        TINY.replace('engine = "simulator"', 'engine = "containers"').replace("kill node1", "cut node1-node2")
    )
    assert cli.main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"experiments: {path}: configuration 'lossy': {CUT_REFUSED}\n"
    assert "cannot lose a single link" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.toml"]  # nothing ran
    with pytest.raises(ValueError, match="simulator only"):
        schedule([parse_fault("cut", "node1-node2@1:1", ("node1", "node2"))])


def test_each_set_has_a_compose_project_of_its_own() -> None:
    names = [project_name(n) for n in ("assignment", "Faults.v2", "a_b-c")]
    assert names == ["lamportexp-assignment", "lamportexp-faults-v2", "lamportexp-a_b-c"]
    assert all(PROJECT_PATTERN.fullmatch(n) for n in names)
    assert project_name("x" * 60) != "lamportexperiments"  # the constant of before: never taken again


def faults(*texts: str) -> list[Fault]:
    return [parse_fault_text(t, ("node1", "node2", "node3")) for t in texts]


def test_container_faults_become_docker_commands_in_time_order() -> None:
    """Each fault a command at T and (but a term) one at T+D; nested pauses (or isolations) of one
    node are one longer fault, as in the simulator; at one instant beginnings come first."""
    actions = schedule(faults("kill node1@5:3", "pause node2@2:4", "pause node2@3:5", "pause node2@8:1",
                              "isolate node3@4:2", "term node3@9"))  # fmt: skip
    got = [(a.at, " ".join(a.command(f"c{a.node[-1]}", "net")), a.fault) for a in actions]
    assert got == [
        (2, "pause c2", "pause node2@2:4"),
        (4, "network disconnect net c3", "isolate node3@4:2"),
        (5, "kill c1", "kill node1@5:3"),
        (6, "network connect --alias node3 net c3", "isolate node3@4:2"),
        (8, "start c1", "kill node1@5:3"),
        (9, "kill --signal TERM c3", "term node3@9"),  # a beginning, before the end at 9
        (9, "unpause c2", "pause node2@8:1"),  # 2..6, 3..8 and 8..9: one pause, 2 to 9
    ]
    assert schedule([]) == []


class FakeDocker:
    """Containers c1, c2, c3 on network `net`, as docker treats them (tried by hand: a kill of a
    paused container ends it; a kill, term or pause of one not running, an unpause of one not
    paused, fails), on a fake clock that each command advances by 0.1 s."""

    def __init__(self) -> None:
        self.now = 100.0
        self.state = {"c1": "running", "c2": "running", "c3": "running"}
        self.calls: list[tuple[float, str]] = []
        self.broken = ""  # a command that fails for another reason

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self, *args: str) -> tuple[int, str]:
        command, container = " ".join(args[:-1]), args[-1]
        if command.startswith("inspect"):
            return 0, self.state[container]
        self.calls.append((round(self.now - 100, 3), " ".join(args)))
        self.now += 0.1
        state = self.state[container]
        if command == self.broken:
            return 1, "Error response from daemon: something else"
        needs = {"pause": ("running",), "unpause": ("paused",), "kill": ("running", "paused")}
        needs["kill --signal TERM"] = needs["kill"]
        if state not in needs.get(command, (state,)):
            return 1, f"Error response from daemon: Container {container} is not {needs[command][0]}"
        after = {"pause": "paused", "unpause": "running", "kill": "exited", "start": "running"}
        self.state[container] = after.get(command.split(" ")[0], state)
        return 0, container


def test_the_driver_applies_each_command_at_its_time_and_records_it() -> None:
    """Overlapping faults: a kill of a node already killed, and an unpause of a node killed while
    paused, have nothing to do: skipped, not failed; a second restart finds the node running (and
    `docker start` leaves it so). Each command is due at its T; `at` is when it ran."""
    fake = FakeDocker()
    driver = Driver(tuple(faults("kill node1@5:3", "kill node1@6:1", "pause node2@2:2", "kill node2@3:1")),
                    fake, lambda: fake.now, fake.sleep)  # fmt: skip
    driver.apply({"node1": "c1", "node2": "c2", "node3": "c3"}, "net", origin=100.0)
    assert fake.calls == [
        (2, "pause c2"),
        (3, "kill c2"),
        (4, "unpause c2"),
        (4.1, "start c2"),
        (5, "kill c1"),
        (6, "kill c1"),
        (7, "start c1"),
        (8, "start c1"),
    ]
    assert fake.state == dict.fromkeys(("c1", "c2", "c3"), "running")
    outcomes = [(a["fault"], a["command"], a["due"], a["at"], a["outcome"]) for a in driver.applied]
    assert outcomes[2] == ("pause node2@2:2", "docker unpause c2", 4, 4, "skipped: node2 was exited")
    assert outcomes[5] == ("kill node1@6:1", "docker kill c1", 6, 6, "skipped: node1 was exited")
    assert [o[4] for o in outcomes].count("done") == 6
    assert driver.record()["actions"] == driver.applied
    # Any other failure stops the run, in one line.
    fake = FakeDocker()
    fake.broken = "kill"
    driver = Driver(tuple(faults("kill node1@1:1")), fake, lambda: fake.now, fake.sleep)
    with pytest.raises(FaultError, match=r"`docker kill c1` at 1.0 s failed \(running\): .*something else"):
        driver.apply({"node1": "c1"}, "net", origin=100.0)


def test_the_driver_starts_the_nodes_and_waits_past_its_last_fault() -> None:
    """Detached start, T = 0 when it returns, then a wait bounded by the run, its last fault's end
    and MARGIN: a run that hangs fails instead."""
    fake = FakeDocker()

    class Project:
        def start(self, *options: str) -> None:
            fake.calls.append((fake.now, f"up --detach {' '.join(options)}"))
            fake.now = 150.0

        def container(self, node: str) -> str:
            return f"c{node[-1]}"

        def network(self) -> str:
            return "net"

        def wait_until_exited(self, services: tuple[str, ...], timeout: float) -> dict[str, int]:
            fake.calls.append((round(fake.now, 3), f"wait {' '.join(services)} {timeout:g}"))
            return dict.fromkeys(services, 0)

    driver = Driver(tuple(faults("pause node2@2:4", "kill node1@1:2")), fake, lambda: fake.now, fake.sleep)
    codes = driver.run(cast(ComposeProject, Project()), ("node1", "node2", "node3"), 15)
    assert codes == {"node1": 0, "node2": 0, "node3": 0}
    assert fake.calls[0] == (100.0, "up --detach --no-build")
    assert fake.calls[-1] == (156.1, f"wait node1 node2 node3 {15 + 6 + MARGIN - 6.1:g}")
    assert [c[1] for c in fake.calls[1:-1]] == ["kill c1", "pause c2", "start c1", "unpause c2"]
    assert isinstance(driver.record()["started"], float)


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
    assert "[4/4] 0:" in out
    assert "lossy-2: seed" in out
    assert "ETA 0:0" in out
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
    monkeypatch.setattr(cli, "RESULTS", tmp_path / "no-assignment")  # no questions, no evidence here
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


def test_every_kept_sets_tables_and_questions_are_rebuilt_from_kept_results(tmp_path: Path) -> None:
    """Each built-in set's tables.md and questions.md come back byte for byte from the kept
    results alone (`python -m experiments report --all` does both, and the evidence)."""
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("*.png", "work"))
    for kept in builtin_sets():
        if (kept.results / "index.json").exists() and kept.results != RESULTS:
            mine = copy / kept.results.relative_to(RESULTS)
            write_report(mine, kept.configs)
            assert (mine / "tables.md").read_text() == (kept.results / "tables.md").read_text(), kept.name
    write_questions(copy)
    assert (copy / "questions.md").read_text() == (RESULTS / "questions.md").read_text()


def test_the_false_order_sweep_keeps_each_runs_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reduced sweep: one row per run, shares within [0, 1], provenance recorded, a figure."""
    monkeypatch.setattr(false_orders, "RATES", range(1, 3))
    monkeypatch.setattr(false_orders, "MENS", (5,))
    monkeypatch.setattr(false_orders, "DELAYS_MS", (0,))
    monkeypatch.setattr(false_orders, "SECONDS", 10.0)
    written = false_orders.write_false_orders(tmp_path, seeds=2)
    data = json.loads(written[0].read_text())
    assert len(data["rows"]) == 2 * 2
    assert all(0 <= row["false_order_share"] <= 1 for row in data["rows"])
    assert data["provenance"]["machine"]["nproc"] >= 1
    assert written[1].stat().st_size > 0


def test_a_sets_own_results_do_not_make_the_code_dirty(tmp_path: Path) -> None:
    """Result files a set writes as it runs are not code changes; an edited or new source file is.
    (The first version counted the results: every run after a set's first was marked dirty.)"""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "node.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "node.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    (tmp_path / "experiments" / "results" / "mine").mkdir(parents=True)
    (tmp_path / "experiments" / "results" / "mine" / "index.json").write_text("{}")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "a.whl").write_text("")
    assert code_version(tmp_path)["dirty"] is False  # type: ignore[index]
    (tmp_path / "new.py").write_text("")
    assert code_version(tmp_path)["dirty"] is True  # type: ignore[index]
    (tmp_path / "new.py").unlink()
    (tmp_path / "node.py").write_text("x = 2\n")
    assert code_version(tmp_path)["dirty"] is True  # type: ignore[index]

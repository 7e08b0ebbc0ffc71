"""`python -m experiments`: run a set of configurations, in containers or the simulator, then report.

    python -m experiments                      # the assignment (experiments/sets/assignment.toml), then report
    python -m experiments run experiments/sets/faults.toml
    python -m experiments run SET.toml --engine simulator --runs 10 --duration 30 --configs a b
    python -m experiments run --name my-set --rates 1,6,6 --max-event-num 5 --runs 3 --duration 30 --engine simulator
    python -m experiments report               # rebuild the assignment's tables.md and figures from kept results
    python -m experiments report SET.toml      # ... a set's (or --results DIR; --all: every built-in set)
    python -m experiments sweep                # simulator: backlog growth over rates x MAX_EVENT_NUM
    python -m experiments twins                # simulator: every kept run re-simulated, compared
    python -m experiments reanalyse            # kept raw logs through the current analysis again
    python -m experiments false-orders         # simulator: false orders over rates x MAX_EVENT_NUM x delay
    python -m experiments questions            # the notebook's three questions, from kept results
    python -m experiments evidence             # the notebook's claims re-examined (kept runs + simulator)
    python -m experiments report --all         # every built-in set's tables, the questions and the evidence

A set file is TOML (README: Experiments): name, description, engine ("containers" or
"simulator"), runs, duration, seed, results (a folder relative to the file; default
experiments/results/<name>), and one [[configs]] table per configuration with name and any of
description, min_rate, max_rate, rates (one per node, e.g. [1, 6, 6]), max_event_num, nodes,
net_delay_ms, delivery, clock_bug, faults (node.simulate's, e.g. ["kill node1@10:3"]; in both
engines, in containers as docker commands at their times (experiments.container_faults); a cut
in the simulator only). Without a set file, the configuration options below make a set of one
configuration.
--engine, --runs, --duration and --seed override the set's. A bad set or option is named in one
line and the command exits 2 before anything runs.

Every run's seed comes from the set's seed (default 2026), the configuration and the run number,
and is recorded in the results' index.json with the run's provenance (commit, engine, machine,
load): the same command repeats the same rates and event draws.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from experiments.configs import ASSIGNMENT, ENGINES, HERE, ExperimentSet, SetError, builtin_sets, load_set, parse_set
from experiments.evidence import default_results, write_evidence
from experiments.false_orders import write_false_orders
from experiments.questions import write_questions
from experiments.runner import check, plan, reanalyse, run_set
from experiments.simulated import write_sweep
from experiments.tables import write_report
from experiments.twins import write_twins

COMMANDS = ("run", "report", "sweep", "twins", "reanalyse", "false-orders", "questions", "evidence")
WORK = HERE / "work"  # raw logs while running, a folder per set (gitignored)
RESULTS = HERE / "results"  # the kept results: the assignment's at the top, other sets in folders
# Options that describe the one configuration of an ad hoc set (set file keys, with "faults" as --fault).
AD_HOC = (
    "name",
    "description",
    "min_rate",
    "max_rate",
    "rates",
    "max_event_num",
    "nodes",
    "net_delay_ms",
    "delivery",
    "clock_bug",
    "fault",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", choices=COMMANDS, default="run")
    parser.add_argument("set", nargs="?", type=Path, metavar="SET.toml", help="a set file (default: the assignment)")
    parser.add_argument("--engine", choices=ENGINES, help="run in containers or in the simulator (default: the set's)")
    parser.add_argument("--runs", type=int, help="runs per configuration (default: the set's)")
    parser.add_argument("--duration", type=float, help="seconds per run (default: the set's)")
    parser.add_argument("--seed", type=int, help="base seed of the set (default: the set's)")
    parser.add_argument("--configs", nargs="+", metavar="NAME", help="only these configurations of the set")
    parser.add_argument("--results", type=Path, help="where results are kept (default: the set's)")
    parser.add_argument("--all", action="store_true", help="report: every built-in set that has kept results")
    ad_hoc = parser.add_argument_group("an ad hoc set of one configuration (instead of a set file)")
    ad_hoc.add_argument("--name", help="the set's (and its configuration's) name")
    ad_hoc.add_argument("--description", help="what the configuration is")
    ad_hoc.add_argument("--min-rate", type=int, help="MIN_CLOCK_RATE")
    ad_hoc.add_argument("--max-rate", type=int, help="MAX_CLOCK_RATE")
    ad_hoc.add_argument("--rates", metavar="R1,R2,...", help="each node's pinned rate, e.g. 1,6,6")
    ad_hoc.add_argument("--max-event-num", type=int, help="MAX_EVENT_NUM")
    ad_hoc.add_argument("--nodes", type=int, help="number of nodes (default 3, or as many as --rates)")
    ad_hoc.add_argument("--net-delay-ms", type=float, help="NET_DELAY_MS")
    ad_hoc.add_argument("--delivery", help="DELIVERY: reliable or at-most-once")
    ad_hoc.add_argument("--clock-bug", help="CLOCK_BUG: a planted clock bug")
    ad_hoc.add_argument("--fault", action="append", metavar="'KIND SPEC'", help="e.g. 'kill node1@10:3' (repeatable)")
    return parser.parse_intermixed_args(argv)  # SET.toml before or after the options


def ad_hoc_config(args: argparse.Namespace) -> dict[str, Any]:
    """The options as a [[configs]] table of a set file."""
    table: dict[str, Any] = {"name": args.name or "ad-hoc"}
    for key in AD_HOC[1:]:
        value = getattr(args, key)
        if value is not None:
            table["faults" if key == "fault" else key] = value
    if args.rates is not None:
        try:
            table["rates"] = [int(r) for r in args.rates.split(",")]
        except ValueError:
            raise SetError(
                "command line", f"--rates {args.rates!r}: expected comma-separated integers, e.g. 1,6,6"
            ) from None
    return table


def chosen_set(args: argparse.Namespace) -> ExperimentSet:
    """The set the arguments name: a set file, an ad hoc one, or the assignment; with the overrides."""
    overrides = {k: getattr(args, k) for k in ("engine", "runs", "duration", "seed") if getattr(args, k) is not None}
    given = [k for k in AD_HOC if getattr(args, k) is not None]
    if given and args.set is not None:
        option = "--" + given[0].replace("_", "-")
        raise SetError(str(args.set), f"{option} describes an ad hoc set: give it without a set file")
    if given:
        raw = {**overrides, "name": args.name or "ad-hoc", "configs": [ad_hoc_config(args)]}
        if args.description is not None:
            raw["description"] = args.description
        chosen = parse_set(raw, "command line", Path.cwd())
    else:
        chosen = load_set(args.set or ASSIGNMENT, overrides)
    return chosen if args.results is None else dataclasses.replace(chosen, results=args.results.resolve())


def run(args: argparse.Namespace, chosen: ExperimentSet) -> list[str]:
    """Run the set (or the --configs of it) and return the failures; SetError if it cannot run."""
    configs = chosen.only(args.configs).configs if args.configs else chosen.configs
    planned = plan(configs, chosen.runs, chosen.duration, chosen.seed)
    try:
        check(planned, chosen.engine)
    except ValueError as error:
        raise SetError(chosen.source, str(error)) from None
    where = "in containers" if chosen.engine == "containers" else "in the simulator"
    print(
        f"{len(planned)} runs of {chosen.duration:g} s {where}: {', '.join(c.name for c in configs)} x {chosen.runs}"
        f" -> {chosen.results}",
        flush=True,
    )
    return run_set(planned, WORK / chosen.name, chosen.results, chosen)


def report_all() -> int:
    """Every built-in set that has kept results, rebuilt."""
    done = [s for s in builtin_sets() if (s.results / "index.json").exists()]
    for s in done:
        for path in write_report(s.results, s.configs):
            print(f"wrote {path}")
    if not done:
        print("experiments: no built-in set has kept results", file=sys.stderr)
        return 2
    if not (RESULTS / "index.json").exists():  # the assignment's runs: what the rest reads
        return 0
    return questions() or evidence()


def questions() -> int:
    """questions.md from the kept results (experiments.questions)."""
    for path in write_questions(RESULTS):
        print(f"wrote {path}")
    return 0


def evidence() -> int:
    """evidence/evidence.md from the kept assignment runs and seeded simulations (experiments.evidence)."""
    for path in write_evidence(default_results(RESULTS), RESULTS / "evidence"):
        print(f"wrote {path}")
    return 0


def not_of_one_set(args: argparse.Namespace) -> int | None:
    """The commands that work on all kept results, not one set's: their exit code, else None."""
    if args.all:
        if args.command != "report" or args.set is not None:
            print("experiments: --all goes with report alone", file=sys.stderr)
            return 2
        return report_all()
    if args.command == "false-orders":
        for path in write_false_orders(RESULTS):
            print(f"wrote {path}")
        return 0
    if args.command == "questions":
        return questions()
    if args.command == "evidence":
        return evidence()
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    code = not_of_one_set(args)
    if code is not None:
        return code
    failures: list[str] = []
    try:
        chosen = chosen_set(args)
        if args.command == "run":
            failures = run(args, chosen)
    except SetError as error:
        print(error, file=sys.stderr)
        return 2
    results = chosen.results
    if args.command == "reanalyse" and (results / "index.json").exists():
        failures = reanalyse(results, WORK / chosen.name)
    if args.command == "sweep":
        results.mkdir(parents=True, exist_ok=True)
        for path in write_sweep(results, chosen.seed):
            print(f"wrote {path}")
        return 0
    if not (results / "index.json").exists():
        print(
            f"experiments: no results in {results}: run `python -m experiments run` with the set first", file=sys.stderr
        )
        return 2
    if args.command == "twins":
        written = write_twins(results)
    else:  # the set's order and descriptions; for --results alone, those its index.json records
        named = args.set is not None or any(getattr(args, k) is not None for k in AD_HOC)
        written = write_report(results, chosen.configs if named or args.results is None else None)
    for path in written:
        print(f"wrote {path}")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

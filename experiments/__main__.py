"""`python -m experiments`: run the named configurations several times each, then report.

    python -m experiments                      # all configurations, 5 runs x 60 s each, then report
    python -m experiments run --configs extreme --runs 2 --duration 30
    python -m experiments report               # rebuild tables.md and figures from kept results
    python -m experiments sweep                # simulator: backlog growth over rates x MAX_EVENT_NUM
    python -m experiments twins                # simulator: every kept run re-simulated, compared
    python -m experiments reanalyse            # kept raw logs through the current analysis again

Every run's seed comes from --seed (default 2026), the configuration and the run number, and is
recorded in results/index.json: the same command repeats the same rates and event draws.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.configs import CONFIGS
from experiments.runner import plan, reanalyse, run_set
from experiments.simulated import write_sweep
from experiments.tables import write_report
from experiments.twins import write_twins

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK = HERE / "work"  # raw logs while running (gitignored)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", choices=("run", "report", "sweep", "twins", "reanalyse"), default="run")
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=sorted(CONFIGS),
        default=list(CONFIGS),
        help="configurations to run (default: all)",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per configuration (default 5)")
    parser.add_argument("--duration", type=float, default=60, help="seconds per run (default 60)")
    parser.add_argument("--seed", type=int, default=2026, help="base seed of the set (default 2026)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where results are kept")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration <= 0:
        parser.error("--runs must be at least 1 and --duration above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failures: list[str] = []
    if args.command == "run":
        planned = plan([CONFIGS[c] for c in args.configs], args.runs, args.duration, args.seed)
        print(f"{len(planned)} runs of {args.duration:g} s: {', '.join(args.configs)} x {args.runs}", flush=True)
        failures = run_set(planned, WORK, args.results, args.seed)
    elif args.command == "reanalyse":
        failures = reanalyse(args.results, WORK)
    if args.command == "sweep":
        args.results.mkdir(parents=True, exist_ok=True)
        for path in write_sweep(args.results, args.seed):
            print(f"wrote {path}")
        return 0
    if not (args.results / "index.json").exists():
        print(f"experiments: no results in {args.results}: run `python -m experiments` first", file=sys.stderr)
        return 2
    written = write_twins(args.results) if args.command == "twins" else write_report(args.results)
    for path in written:
        print(f"wrote {path}")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

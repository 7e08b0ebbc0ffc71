"""`python -m node.simulate`: the nodes' own code in virtual time, into a run folder the analysis reads.

    python -m node.simulate --rates 1,3,6 --duration 3600 --out logs/sim-hour
    python -m node.simulate --nodes 5 --max-event-num 6 --seed 42 --analyse
    python -m node.simulate --kill node1@10:3 --pause node2@20:4 --isolate node3@30:5 --cut node1-node2@40:2
    python -m node.simulate --set NET_DELAY_MS=20 --set NODE1_NET_JITTER_MS=5
    python -m node.simulate --chaos --seeds 1000       # seeded random faults, every invariant (node.chaos)

Faults (each option repeatable; T and D in seconds of model time since the nodes booted, which
is when they start connecting; ticking starts about a millisecond later):
  --pause NODE@T:D    frozen from T for D seconds (docker pause / unpause)
  --kill NODE@T:D     killed at T, restarted D seconds later from its own log (docker kill + start)
  --isolate NODE@T:D  cut off from every peer for D seconds (docker network disconnect / connect)
  --cut A-B@T:D       only the link between A and B broken: simulator only (containers on one
                      compose network cannot lose one link alone under the lock-down)
  --term NODE@T       SIGTERM at T: the node stops early, cleanly, for good (docker stop)

Chaos (node.chaos): --chaos --seeds N checks seeds S..S+N-1 (S: --seed) on every core, each a
random configuration and fault schedule run in memory against every invariant, and prints
`N schedules, V violations, T s` (V: schedules that broke one) or, last, the first failing seed
with its replay command, exit 1. --chaos alone replays --seed in detail. Other options are ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

from node import chaos
from node.clock import BUGS, NO_BUG
from node.config import DEFAULTS, ConfigError
from node.simulation import KINDS, Fault, cluster, parse_fault, write_simulation
from node.virtual import SimulationError

EXIT_USAGE = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m node.simulate",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes node1..nodeN (default 3)")
    parser.add_argument("--rates", help="comma-separated rates for node1, node2, ... (default: drawn)")
    parser.add_argument("--min-rate", type=int, help=f"MIN_CLOCK_RATE (default {DEFAULTS['MIN_CLOCK_RATE']})")
    parser.add_argument("--max-rate", type=int, help=f"MAX_CLOCK_RATE (default {DEFAULTS['MAX_CLOCK_RATE']})")
    parser.add_argument("--max-event-num", type=int, help=f"MAX_EVENT_NUM (default {DEFAULTS['MAX_EVENT_NUM']})")
    parser.add_argument("--duration", type=float, help=f"seconds of model time (default {DEFAULTS['DURATION']})")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed; with --chaos, the (first) chaos seed")
    parser.add_argument("--chaos", action="store_true", help="random faults and configurations: see below")
    parser.add_argument("--seeds", type=int, metavar="N", help="with --chaos: check N seeds from --seed on")
    parser.add_argument(
        "--clock-bug",
        choices=list(BUGS),
        default=NO_BUG,
        help="plant one classic clock bug in every node (CLOCK_BUG; README: Planted clock bugs); "
        "without --set DELIVERY=..., delivery is then at-most-once, so that values that repeat or "
        "fall reach the receiver and the analysis matches messages in FIFO order",
    )
    parser.add_argument("--delay", type=float, default=0.0002, help="the wire's one-way delay, s (default 0.0002)")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra uniform delay on the wire up to this, s")
    parser.add_argument(
        "--start-skew",
        type=float,
        default=0.0,
        help="nodes complete their connect barrier at seeded offsets up to this, s (containers: 0 to 0.13)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any node variable, as in .env (e.g. NET_DELAY_MS=20, NODE1_NET_DELAY_MS=50, MAX_QUEUE=500)",
    )
    for kind in KINDS:
        metavar = "A-B@T:D" if kind == "cut" else "NODE@T:D"
        parser.add_argument(f"--{kind}", action="append", default=[], metavar=metavar, help="see below")
    parser.add_argument("--out", type=Path, help="run folder to write (default logs/sim-<seed>-<time>)")
    parser.add_argument("--analyse", action="store_true", help="run the analysis on the result")
    parser.add_argument("--verbose", action="store_true", help="print the nodes' status lines with virtual times")
    args = parser.parse_args(argv)
    if args.seeds is not None and (not args.chaos or args.seeds < 1):
        parser.error("--seeds N needs --chaos and N of at least 1")
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    if min(args.delay, args.jitter, args.start_skew) < 0:
        parser.error("--delay, --jitter and --start-skew must not be negative")
    return args


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The options as the variables a container would get (ValueError: a bad option)."""
    env: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        env[name.strip()] = value.strip()
    for option, name in (("min_rate", "MIN_CLOCK_RATE"), ("max_rate", "MAX_CLOCK_RATE")):
        if getattr(args, option) is not None:
            env[name] = str(getattr(args, option))
    if args.clock_bug != NO_BUG:
        env["CLOCK_BUG"] = args.clock_bug
        env.setdefault("DELIVERY", "at-most-once")
    if args.rates:
        values = args.rates.split(",")
        if len(values) != args.nodes:
            raise ValueError(f"--rates needs {args.nodes} comma-separated rates, got {args.rates!r}")
        env.update({f"NODE{i}_CLOCK_RATE": v.strip() for i, v in enumerate(values, 1)})
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.chaos:
        return chaos.main(args.seed, args.seeds, args.clock_bug)
    run_id = args.out.name if args.out else f"sim-{args.seed}-{time.strftime('%Y-%m-%d_%H-%M-%S', time.gmtime())}"
    try:
        sim = cluster(
            args.nodes,
            seed=args.seed,
            env=environment(args),
            duration=args.duration,
            max_event_num=args.max_event_num,
            run_id=run_id,
            delay=args.delay,
            jitter=args.jitter,
            start_skew=args.start_skew,
        )
        if sim.configs[0].duration <= 0:
            raise ValueError("--duration must be above 0 (a simulation ends)")
        faults: list[Fault] = [parse_fault(k, text, sim.node_ids) for k in KINDS for text in getattr(args, k)]
    except (ConfigError, ValueError) as error:
        print(f"simulate: {error}", file=sys.stderr)
        return EXIT_USAGE
    sim = dataclasses.replace(sim, faults=tuple(sorted(faults, key=lambda f: f.at)))
    folder = args.out or Path("logs") / run_id
    started = time.perf_counter()
    try:
        outcome = write_simulation(sim, folder)
    except SimulationError as error:
        print(f"simulate: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    duration = sim.configs[0].duration
    print(
        f"simulated {duration:g} s of {args.nodes} nodes: {outcome.lines:,} events in {elapsed:.2f} s "
        f"({outcome.lines / elapsed:,.0f} events/s) -> {folder}"
    )
    for fault in sim.faults:
        print(f"fault: {fault}")
    for line in outcome.errors:
        print(f"simulate: {line}", file=sys.stderr)
    code = 0 if outcome.ok else 1
    if args.analyse:
        # A separate process: the node package never imports the analysis.
        analysed = subprocess.run([sys.executable, "-m", "analysis", str(folder)], check=False).returncode
        code = code or analysed
    return code


if __name__ == "__main__":
    sys.exit(main())

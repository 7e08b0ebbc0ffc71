"""Where a node's time goes at a high rate: three `python -m node` processes on loopback, node1
under cProfile, the others as its real peers. Prints (and returns) the share of node1's CPU time
spent in each part of a tick.

    python -m bench.profile --rate 10000 --duration 10

cProfile slows every Python call down (roughly 2x here), so the shares are what to read, not the
absolute times; the suite's container runs give the real rates.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Only the standard library at the top: a child imports `node` from the checkout it measures.
ROOT = Path(__file__).resolve().parents[1]
IDS = ("node1", "node2", "node3")

# (label, how to combine, (file suffix or "~" for built-ins, function name prefix) ...). Times are
# cumulative, so a row includes the rows indented under it. "max" picks the outermost of several
# matches (a name prefix can match a function and the ones it calls); "sum" adds leaves.
PARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("whole tick (DeadlineTicker._fire)", "max", (("ticker.py", "_fire"),)),
    ("  log one line (EventLog.write)", "max", (("eventlog.py", "write"),)),
    ("    format: python-json-logger + json", "max", (("core.py", "format"),)),
    ("      json encoding", "max", (("encoder.py", "encode"),)),
    (
        "    write + flush (system calls)",
        "sum",
        (
            ("~", "<method 'write' of '_io.TextIOWrapper'"),
            ("~", "<method 'flush' of '_io.TextIOWrapper'"),
            ("~", "<built-in method posix.write>"),
        ),
    ),
    ("  model.tick (rule + draw)", "max", (("model.py", "tick"),)),
    ("  send frames (Network.send)", "max", (("network.py", "send"),)),
    ("receive frames (data_received)", "max", (("network.py", "data_received"),)),
    ("event loop: waiting in select()", "sum", (("~", "<built-in method select.select>"),)),
)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def profile_cluster(rate: int, duration: float, folder: Path, code: Path = ROOT) -> dict[str, Any]:
    """Run the three processes; return node1's profile shares and every node's rate ratio.

    `code`: the checkout whose `node` package runs (another worktree, for before/after)."""
    from bench.metrics import analyse_run  # noqa: PLC0415 (not in a child: see the imports)

    ports = dict(zip(IDS, free_ports(3), strict=True))
    processes = []
    for node in IDS:
        env = {
            **os.environ,
            "NODE_ID": node,
            "PEERS": ",".join(f"{p}@127.0.0.1:{ports[p]}" for p in IDS if p != node),
            "PORT": str(ports[node]),
            "LOG_DIR": str(folder),
            "RUN_ID": "profile",
            "CLOCK_RATE": str(rate),
            "DURATION": str(duration),
            "SEED": "1",
            "PYTHONPATH": str(code),
        }
        command, cwd = [sys.executable, "-m", "node"], code
        if node == "node1":  # bench from here, `node` from `code` (node_child)
            command = [
                sys.executable,
                "-m",
                "bench.profile",
                "--child",
                str(folder / "node1.prof"),
                "--code",
                str(code),
            ]
            env["PYTHONPATH"], cwd = str(ROOT), ROOT
        processes.append(subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL))
    codes = [p.wait(timeout=duration + 120) for p in processes]
    stats = pstats.Stats(str(folder / "node1.prof"))
    timing = analyse_run(folder / "profile", duration)
    ratios = {node: round(t.ratio, 5) for node, t in timing.nodes.items()}
    return {"rate": rate, "duration": duration, "exit_codes": codes, "ratios": ratios, "parts": shares(stats)}


def shares(stats: pstats.Stats) -> list[dict[str, Any]]:
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = max(float(stats.total_tt), 1e-9)  # type: ignore[attr-defined]
    rows = []
    for label, combine, keys in PARTS:
        matches = [
            (ct, nc)
            for (filename, _line, function), (_cc, nc, _tt, ct, _callers) in table.items()
            if any(
                (filename == suffix or filename.endswith("/" + suffix)) and function.startswith(name)
                for suffix, name in keys
            )
        ]
        if combine == "max":
            seconds, calls = max(matches, default=(0.0, 0))
        else:
            seconds, calls = sum(m[0] for m in matches), sum(m[1] for m in matches)
        rows.append({"part": label, "seconds": round(seconds, 3), "share": round(seconds / total, 4), "calls": calls})
    rows.append({"part": "total profiled", "seconds": round(total, 3), "share": 1.0, "calls": 0})
    return rows


def node_child(code: Path, before_exit: Callable[[], None]) -> int:
    """Run `python -m node` of the checkout `code` in this process; `before_exit` runs just before
    it ends its process (with os._exit, which skips every `finally` and atexit handler)."""
    sys.path.insert(0, str(code))
    from node import __main__ as entry  # noqa: PLC0415 (the node package of `code`)

    real_exit = os._exit

    def exit_after(status: int) -> None:
        before_exit()
        real_exit(status)

    setattr(os, "_exit", exit_after)  # noqa: B010 - os._exit is what the node calls
    return entry.main()


def _child(out: str, code: Path) -> int:
    """node1 under cProfile, its profile written when it exits."""
    profiler = cProfile.Profile()

    def dump() -> None:
        profiler.disable()
        profiler.dump_stats(out)

    profiler.enable()
    return node_child(code, dump)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose node package to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.code)
    with tempfile.TemporaryDirectory(prefix="lamport-profile-") as tmp:
        result = profile_cluster(args.rate, args.duration, Path(tmp), args.code.resolve())
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run invariants for the tests: read a run (a folder's JSON-lines logs, or a simulation's records)
and check it with analysis.invariants, the one set of checks the tests and the chaos runs share.

Each check returns a list of human-readable problems; an empty list means the invariant holds.
Tests assert on these so that a failure says which node, link or line broke which rule.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.invariants import (
    TICK_EVENTS,
    Record,
    check_clock_rules,
    check_fields,
    check_internal_share,
    check_links,
    check_run,
    check_tick_counts,
    delays_ms,
    internal_share,
    links,
    tick_records,
)
from node.simulation import Simulation, run_simulation

__all__ = [
    "TICK_EVENTS",
    "Record",
    "check_clock_rules",
    "check_fields",
    "check_internal_share",
    "check_links",
    "check_run",
    "check_tick_counts",
    "delays_ms",
    "internal_share",
    "links",
    "load_run",
    "simulated_run",
    "tick_records",
]


def simulated_run(sim: Simulation) -> dict[str, list[Record]]:
    """Every node's records of a simulated run, as load_run gives a folder's; the run must end cleanly."""
    run: dict[str, list[Record]] = {}
    outcome = run_simulation(sim, lambda node, record: run.setdefault(node, []).append(record))
    assert outcome.ok, outcome.errors
    return run


def load_run(folder: Path) -> dict[str, list[Record]]:
    """Every node's records, by node id, in file order. A line cut short by a kill (it ends an
    incarnation: a `start` or the end of the file follows) is left out; any other bad line fails."""
    run: dict[str, list[Record]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            lines = f.read().splitlines()
        records: list[Record] = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except ValueError:
                following = lines[number] if number < len(lines) else ""
                if following and '"event": "start"' not in following:
                    raise ValueError(f"{path}:{number}: not JSON, and not where a kill leaves a cut line") from None
        run[path.stem] = records
    return run

"""What a run must show after each fault, the same for containers (tests/integration/test_faults.py)
and for the simulator (tests/unit/test_sim_faults.py): both call these checks on their logs.

Each check returns human-readable problems (empty when the fault left the documented trace).
`run` is tests.logcheck.load_run's (node -> records); `summary` is the analysis' summary.json.
"""

from __future__ import annotations

from typing import Any

from tests import logcheck

Run = dict[str, list[dict[str, Any]]]


def events(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


def others_unaffected(run: Run, victim: str, duration: float) -> list[str]:
    """The nodes that were not touched kept their exact tick count: no stall, no hang."""
    healthy = {n: r for n, r in run.items() if n != victim}
    problems = logcheck.check_tick_counts(healthy, duration)
    for node, records in healthy.items():
        if events(records, "stall"):
            problems.append(f"{node} stalled although only {victim} was touched")
        if records[-1].get("reason") != "duration":
            problems.append(f"{node} stopped with {records[-1].get('reason')!r}, not 'duration'")
    return problems


def check_paused(run: Run, summary: Any, victim: str, rate: int, seconds: float, duration: float) -> list[str]:
    problems = others_unaffected(run, victim, duration)
    records = run[victim]
    stalls = events(records, "stall")
    if len(stalls) != 1:
        return [*problems, f"{victim}: {len(stalls)} stall lines, expected 1"]
    skipped = stalls[0]["skipped"]
    if abs(skipped - rate * seconds) > 4:
        problems.append(f"{victim}: skipped {skipped} ticks in a {seconds:g} s pause at {rate}/s")
    ticks = len(logcheck.tick_records(records))
    if abs(ticks + skipped - rate * duration) > 1:
        problems.append(f"{victim}: {ticks} ticks + {skipped} skipped != {rate} x {duration:g}")
    problems += logcheck.check_clock_rules(run) + logcheck.check_links(run)  # waited, none lost
    if summary["messages"]["unaccounted"] != 0:
        problems.append(f"{summary['messages']['unaccounted']} messages unaccounted")
    if summary["nodes"][victim]["queue"]["max"] < 10:
        problems.append(f"{victim}: no backlog built up during the pause")
    if summary["nodes"][victim]["events"].get("stall") != 1:
        problems.append(f"{victim}: the analysis does not count its stall")
    return problems


def check_killed(run: Run, summary: Any, victim: str, duration: float) -> list[str]:
    problems = others_unaffected(run, victim, duration)
    # The others saw it go, dropped (and logged) what they sent meanwhile, and saw it return.
    for node, records in run.items():
        if node == victim:
            continue
        gone = [r for r in events(records, "disconnected") if r["peer"] == victim]
        drops = [r for r in events(records, "drop") if r["to"] == victim]
        back = [r for r in events(records, "connected") if r["peer"] == victim and gone and r["ts"] > gone[0]["ts"]]
        if not gone or not drops or not back:
            problems.append(f"{node}: disconnected {len(gone)}, drop {len(drops)}, connected again {len(back)}")
        if not all(isinstance(r["value"], int) and r["reason"] for r in drops):
            problems.append(f"{node}: a drop without its value or reason")
    # It started twice in the same run, its clock resumed where its log left off ...
    records = run[victim]
    starts = [i for i, r in enumerate(records) if r["event"] == "start"]
    if len(starts) != 2:
        return [*problems, f"{victim}: {len(starts)} start lines, expected 2"]
    second = records[starts[1]]
    if not second["resumed_clock"] == records[starts[1] - 1]["clock"] == second["clock"]:
        problems.append(
            f"{victim}: resumed at {second['resumed_clock']}, its log said {records[starts[1] - 1]['clock']}"
        )
    problems += logcheck.check_clock_rules(run)
    # ... and it ended with the run, not a full DURATION after its restart.
    last = {n: logcheck.tick_records(r)[-1]["ts"] for n, r in run.items()}
    if any(abs(last[victim] - t) >= 1.0 for n, t in last.items() if n != victim):
        problems.append(f"{victim}'s last tick at {last[victim]:.3f}, the others' at {last}")
    problems += _links_accounted(run, summary, victim)
    if summary["nodes"][victim]["incarnations"] != 2:
        problems.append(f"{victim}: {summary['nodes'][victim]['incarnations']} incarnations in the summary")
    return problems


def check_cut_off(run: Run, summary: Any, victim: str, duration: float) -> list[str]:
    """Every node, the cut one included, kept ticking at its rate: no tick loop hung."""
    problems = logcheck.check_tick_counts(run, duration) + logcheck.check_clock_rules(run)
    for node, records in run.items():
        if records[-1]["event"] != "stop":
            problems.append(f"{node}: no stop line at the end")
        if not events(records, "drop"):
            problems.append(f"{node} dropped nothing while the link was cut")
    other = next(n for n in sorted(run) if n != victim)
    cut_at = min((r["ts"] for r in events(run[other], "disconnected") if r["peer"] == victim), default=None)
    if cut_at is None or not any(r["peer"] == victim and r["ts"] > cut_at for r in events(run[other], "connected")):
        problems.append(f"{other} never saw {victim} go and come back")
    return problems + _links_accounted(run, summary, victim)


def _links_accounted(run: Run, summary: Any, victim: str) -> list[str]:
    """Only links touching the victim may miss messages, and the analysis flags each one as lost."""
    problems = []
    raw = {
        link: len(v["sent"]) - len(v["dropped"]) - len(v["received"]) - sum(v["left"])
        for link, v in logcheck.links(run).items()
    }
    for link in summary["links"]:
        key = (link["from"], link["to"])
        if link["unaccounted"] != raw.get(key, 0):
            problems.append(f"{key}: the analysis says {link['unaccounted']} unaccounted, the logs {raw.get(key, 0)}")
        if victim not in key and link["unaccounted"] != 0:
            problems.append(f"{key}: {link['unaccounted']} unaccounted on a link the fault did not touch")
        if link["lost"] != link["unaccounted"]:
            problems.append(f"{key}: {link['unaccounted']} unaccounted but {link['lost']} flagged lost")
    return problems

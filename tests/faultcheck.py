"""What a run must show after each fault, the same for containers (tests/integration/test_faults.py,
test_nemesis.py) and for the simulator (tests/unit/test_sim_faults.py): all call these checks on their logs.

Each check returns human-readable problems (empty when the fault left the documented trace).
`run` is tests.logcheck.load_run's (node -> records); `summary` is the analysis' summary.json.

What a fault may lose is bounded message by message (`check_loss`): a message may be lost only if
it was in flight at a kill, a network cut or a SIGTERM of one of its link's ends, and then only
while LOSS_BOUND allows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from node.linkrules import NOT_CONNECTED
from tests import logcheck

Run = dict[str, list[dict[str, Any]]]
Link = tuple[str, str]  # (sender, receiver)

# The share of the messages in flight at a fault (LossyFault) that may be lost. Under reliable
# delivery (the default: links acknowledge and send again, node.channel) nothing may be lost;
# at most once, up to all of them (1.0). The one bound of every fault test, containers and
# simulator, and of the nemesis.
LOSS_BOUND = 0.0


@dataclass(frozen=True)
class LossyFault:
    """A fault that may lose messages on the links of `node`: a "kill", a network "cut" (or
    isolation) or a "term" (SIGTERM). `start` is a time (as the logs' `ts`: the host's clock, or
    virtual time) at or before the fault began: just before the docker command."""

    kind: str
    node: str
    start: float


def events(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


def at_most_once(run: Run) -> bool:
    """Whether the nodes dropped (and logged) what they could not send at once, as with
    DELIVERY=at-most-once and in every run before it existed, rather than keeping it to send
    again once the link is back (reliable delivery: no `drop` for a peer that is down)."""
    starts = [r for records in run.values() for r in records if r["event"] == "start"]
    return any(r["config"].get("delivery", "at-most-once") == "at-most-once" for r in starts)


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
    problems += logcheck.check_clock_rules(run) + check_loss(run, summary, [])  # waited: none lost
    if summary["messages"]["unaccounted"] != 0:
        problems.append(f"{summary['messages']['unaccounted']} messages unaccounted")
    if summary["nodes"][victim]["queue"]["max"] < 10:
        problems.append(f"{victim}: no backlog built up during the pause")
    if summary["nodes"][victim]["events"].get("stall") != 1:
        problems.append(f"{victim}: the analysis does not count its stall")
    return problems


def check_killed(run: Run, summary: Any, killed: LossyFault, duration: float) -> list[str]:
    victim = killed.node
    problems = others_unaffected(run, victim, duration)
    # The others saw it go, dropped (and logged) what they sent meanwhile, and saw it return.
    dropping = at_most_once(run)
    for node, records in run.items():
        if node == victim:
            continue
        gone = [r for r in events(records, "disconnected") if r["peer"] == victim]
        drops = [r for r in events(records, "drop") if r["to"] == victim]
        back = [r for r in events(records, "connected") if r["peer"] == victim and gone and r["ts"] > gone[0]["ts"]]
        if not gone or (dropping and not drops) or not back:
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
    problems += check_loss(run, summary, [killed])
    if summary["nodes"][victim]["incarnations"] != 2:
        problems.append(f"{victim}: {summary['nodes'][victim]['incarnations']} incarnations in the summary")
    return problems


def check_cut_off(run: Run, summary: Any, cut: LossyFault, duration: float) -> list[str]:
    """Every node, the cut one included, kept ticking at its rate: no tick loop hung."""
    victim = cut.node
    problems = logcheck.check_tick_counts(run, duration) + logcheck.check_clock_rules(run)
    for node, records in run.items():
        if records[-1]["event"] != "stop":
            problems.append(f"{node}: no stop line at the end")
        if at_most_once(run) and not events(records, "drop"):
            problems.append(f"{node} dropped nothing while the link was cut")
    other = next(n for n in sorted(run) if n != victim)
    cut_at = min((r["ts"] for r in events(run[other], "disconnected") if r["peer"] == victim), default=None)
    if cut_at is None or not any(r["peer"] == victim and r["ts"] > cut_at for r in events(run[other], "connected")):
        problems.append(f"{other} never saw {victim} go and come back")
    return problems + check_loss(run, summary, [cut])


def _final_stops(run: Run) -> dict[str, dict[str, Any]]:
    """Each node's stop line of its last incarnation, if it wrote one (a killed one did not)."""
    final = {}
    for node, records in run.items():
        last_start = max((i for i, r in enumerate(records) if r["event"] == "start"), default=-1)
        stops = [r for r in records[last_start + 1 :] if r["event"] == "stop"]
        if stops:
            final[node] = stops[-1]
    return final


def lost_values(run: Run) -> dict[Link, list[int]]:
    """Per directed link, the values lost: they left the sender (sent, not dropped), were never
    received, are not in the receiver's queue at its last stop and were not still unacknowledged
    at the sender's last stop (`unacked`, log format 3: on the wire when the run ended). The
    newest unreceived values are the ones in the queue or on the wire, as analysis.matching counts them."""
    stops = _final_stops(run)
    lost: dict[Link, list[int]] = {}
    for link, v in logcheck.links(run).items():
        dropped = set(v["dropped"])
        departed = [x for x in v["sent"] if x not in dropped]
        received = set(v["received"])
        last = max((i for i, x in enumerate(departed) if x in received), default=-1)
        left = v["left"][-1] if v["left"] else 0  # the receiver's last stop
        unacked = stops.get(link[0], {}).get("unacked", {}).get(link[1], 0)
        tail = departed[last + 1 :]
        lost[link] = [x for x in departed[: last + 1] if x not in received] + tail[: max(0, len(tail) - left - unacked)]
    return lost


def exposed(run: Run, faults: Iterable[LossyFault]) -> dict[Link, set[int]]:
    """Per directed link A->B, the values exposed to a fault of A or B: in flight when it struck,
    the only ones it may lose.

    Such a value was not yet taken by B when the fault began (B took neither it nor any later value
    on the link before `start`), and it left A on the connection the fault broke: before A's log
    shows that connection gone, by the first of its lines from `start` on that is a `drop` to B
    for want of a connection, `connected` to B again (a new connection), or, when the fault is
    A's own, its restart's `start` (kill) or its `stop` (term). With no such line the connection
    never broke, and only what was sent before `start` was in flight."""
    faults = list(faults)
    sent_at: dict[tuple[str, int], float] = {}
    taken_at: dict[Link, dict[int, float]] = {}
    gone: dict[Link, list[tuple[float, str]]] = {}  # A's lines that show its connection to B gone
    for node, records in run.items():
        for r in records:
            event = r["event"]
            if event == "send":
                sent_at.setdefault((node, r["value"]), r["ts"])
            elif event == "receive":
                taken_at.setdefault((r["from"], node), {}).setdefault(r["value"], r["ts"])
            elif event == "connected" or (event == "drop" and r["reason"] == NOT_CONNECTED):
                gone.setdefault((node, r["peer"] if event == "connected" else r["to"]), []).append((r["ts"], "link"))
            elif event in ("start", "stop"):
                for peer in run:
                    gone.setdefault((node, peer), []).append((r["ts"], event))
    own = {"kill": "start", "term": "stop"}  # the sender's own line that ends its connections
    result: dict[Link, set[int]] = {}
    for link, v in logcheck.links(run).items():
        mine = [f for f in faults if f.node in link]
        if not mine:
            continue
        back = {}
        for f in mine:
            ends = ("link", own.get(f.kind, "link")) if f.node == link[0] else ("link",)
            back[f] = min((t for t, what in gone.get(link, []) if t >= f.start and what in ends), default=f.start)
        dropped = set(v["dropped"])
        taken = taken_at.get(link, {})
        next_taken = math.inf  # when B took this value or the first later one it took
        values = set()
        for value in reversed([x for x in v["sent"] if x not in dropped]):
            next_taken = taken.get(value, next_taken)
            if any(next_taken > f.start and sent_at[(link[0], value)] <= back[f] for f in mine):
                values.add(value)
        result[link] = values
    return result


def check_loss(run: Run, summary: Any, faults: Iterable[LossyFault]) -> list[str]:
    """Per directed link: FIFO order, nothing received twice or never sent, the clock condition
    (logcheck.check_links); the analysis' lost count is the logs' own; and what was lost is
    bounded: only messages exposed to a LossyFault of one of the link's ends (`exposed`), and at
    most LOSS_BOUND of those."""
    at_risk = exposed(run, faults)
    lossy = {link for link, values in at_risk.items() if values} if LOSS_BOUND > 0 else set()
    problems = logcheck.check_links(run, lossy)
    lost = lost_values(run)
    for link in summary["links"]:
        key = (link["from"], link["to"])
        if link["lost"] != len(lost.get(key, [])):
            problems.append(
                f"{key[0]}->{key[1]}: the analysis says {link['lost']} lost, the logs {len(lost.get(key, []))}"
            )
    for link, values in sorted(lost.items()):
        if not values:
            continue
        name = f"{link[0]}->{link[1]}"
        risk = at_risk.get(link, set())
        stray = [x for x in values if x not in risk]
        if stray:
            problems.append(
                f"{name}: lost {len(stray)} message(s) not in flight at any kill, cut or SIGTERM of "
                f"{link[0]} or {link[1]}, e.g. value {stray[0]}"
            )
        allowed = math.floor(LOSS_BOUND * len(risk))
        if len(values) > allowed:
            problems.append(
                f"{name}: lost {len(values)}, at most {allowed} allowed "
                f"(LOSS_BOUND {LOSS_BOUND:g} x {len(risk)} in flight at a fault)"
            )
    return problems

"""A run as a ShiViz log (https://bestchai.bitbucket.io/shiviz/): every event with its vector clock.

`shiviz.log` has ShiViz's file-upload layout: line 1 is the parser RegExp (`REGEX`), line 2 the
multiple-executions delimiter (empty: one execution), then one line per event, e.g.

    node1 {"node1":3,"node2":1} send 3 to node2 (Lamport 3, t 0.500 s)

host, vector clock as JSON (zero entries left out, the host's own entry always present: 1 for its
first event, one more for each next one, as ShiViz requires), then the event text with the
Lamport clock and the time since the first tick. Upload the file on ShiViz's input page; or
paste the lines from the third on into the log box, line 1 into "Log parser RegExp" and leave the
delimiter empty. `(?<name>...)` is ShiViz's (JavaScript's) named group; `python_regex()` is the
same expression for Python's `re`. Lines are in time order (per node, file order).

ShiViz draws in the browser and slows down past a few thousand events, so a run with more than
`MAX_EVENTS` events is cut: the first MAX_EVENTS events in time, closed under happens-before (a
consistent cut: every send of a receive in the file is in the file); summary.json says how many
(`causality.shiviz`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from analysis.causality import Causality
from analysis.files import write_text
from analysis.loader import RECEIVE, SEND, NodeLog

FILE = "shiviz.log"
MAX_EVENTS = 10_000
REGEX = r"^(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)$"


def python_regex() -> re.Pattern[str]:
    """`REGEX` for Python: named groups spelled (?P<name>...), ^ and $ at every line."""
    return re.compile(REGEX.replace("(?<", "(?P<"), re.MULTILINE)


def _host(node: str) -> str:
    return re.sub(r"\s+", "_", node) or "_"


def cut(causality: Causality, max_events: int) -> list[int]:
    """How many events of each line to export: all, or a consistent cut of about `max_events`."""
    sizes = [line.ts.size for line in causality.lines]
    if sum(sizes) <= max_events:
        return sizes
    stamps = [np.maximum.accumulate(line.ts) if line.ts.size else line.ts for line in causality.lines]
    every = np.concatenate(stamps)
    limit = np.partition(every, max(0, max_events - 1))[max(0, max_events - 1)]
    counts = [int(np.searchsorted(ts, limit, side="right")) for ts in stamps]
    # Close the cut: the last chosen event of a line knows everything before it (vector clocks).
    closed = list(counts)
    for line, count in zip(causality.lines, counts, strict=True):
        if count:
            closed = [max(c, int(v)) for c, v in zip(closed, line.vc[count - 1], strict=True)]
    return closed


def shiviz_lines(
    causality: Causality, logs: dict[str, NodeLog], origin: float, max_events: int = MAX_EVENTS
) -> tuple[list[str], int]:
    """The event lines (without the header) and how many events the run has in all."""
    counts = cut(causality, max_events)
    hosts = [_host(node) for node in causality.nodes]
    keys = [json.dumps(host) for host in hosts]
    rows = []
    for i, (line, count) in enumerate(zip(causality.lines, counts, strict=True)):
        log = logs[line.node]
        stamps = np.maximum.accumulate(line.ts[:count]) if count else line.ts[:0]
        kinds = line.kind[:count].tolist()
        clocks = line.clock[:count].tolist()
        seconds = (line.ts[:count] - origin).tolist()
        vcs = line.vc[:count].tolist()
        received = zip(log.receive_value, log.receive_from, strict=False)
        sent = zip(log.send_value, log.send_peers, strict=False)
        for k in range(count):
            kind = kinds[k]
            if kind == RECEIVE:
                value, sender = next(received)
                what = f"receive {value} from {_host(sender)}"
            elif kind == SEND:
                value, peers = next(sent)
                what = f"send {value} to {','.join(_host(t) for t in log.peer_sets[peers])}"
            else:
                what = "internal"
            clock = ",".join(f"{keys[j]}:{v}" for j, v in enumerate(vcs[k]) if v)
            text = f"{hosts[i]} {{{clock}}} {what} (Lamport {clocks[k]}, t {seconds[k]:.3f} s)"
            rows.append((float(stamps[k]), i, k, text))
    rows.sort()
    return [row[3] for row in rows], sum(line.ts.size for line in causality.lines)


def write_shiviz(
    causality: Causality, logs: dict[str, NodeLog], origin: float, folder: Path, max_events: int = MAX_EVENTS
) -> tuple[Path, int, int]:
    """Write shiviz.log into `folder`; returns the path, the events written and the events in the run."""
    lines, total = shiviz_lines(causality, logs, origin, max_events)
    path = write_text(folder, FILE, "\n".join([REGEX, "", *lines]) + "\n")
    return path, len(lines), total

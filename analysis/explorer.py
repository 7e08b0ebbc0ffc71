"""explorer.html: a run as one self-contained interactive page (and comparison.html for two runs).

Python gathers what the page shows, from the analysis's own results (its columns, message
matching, vector clocks and violations; nothing computed a second way), and writes it as JSON
into the page next to the page's code (analysis/web/explorer.js and .css, inlined): the page opens
from disk (file://) with no server and no network. The JSON sits in a `<script
type="application/json">` element with `<`, `>` and `&` written as \\u escapes, so no text taken from
a log can close the element or open markup; the page puts text into the document only as text.

Runs with more than `MAX_EVENTS` tick events are shown in part: the events of a chosen window
(`--explorer START:END`), else the run's first events closed under happens-before (the cut
shiviz.log uses); the page says which part it holds.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from analysis.columns import Columns
from analysis.compare import HEADER as COMPARE_HEADER
from analysis.compare import Parting, comparison_rows, parting
from analysis.files import write_output
from analysis.loader import NodeLog
from analysis.metrics import Analysis, clock_at
from analysis.report import HEADLINE, headline_rows
from analysis.shiviz import cut
from analysis.violations import KINDS, RULES
from analysis.window import Window

FILE = "explorer.html"
COMPARISON_FILE = "comparison.html"
MAX_EVENTS = 100_000
WEB = Path(__file__).parent / "web"
DATA_FORMAT = 1  # of the embedded JSON; explorer.js checks it


@dataclass(frozen=True)
class Part:
    """The events the page holds: per line, tick events [lo, hi)."""

    lo: list[int]
    hi: list[int]
    complete: bool
    note: str

    @property
    def events(self) -> int:
        return sum(h - lo for lo, h in zip(self.lo, self.hi, strict=True))


def choose_part(analysis: Analysis, window: Window | None, max_events: int = MAX_EVENTS) -> Part:
    """All events if there are at most `max_events`, else a window's or the first ones (module docstring)."""
    assert analysis.causality is not None
    lines = analysis.causality.lines
    origin = analysis.summary["run"]["first_tick_ts"] or 0.0
    total = sum(line.ts.size for line in lines)
    # Times along a line may step back (system time); positions are found on their running maximum.
    stamps = [np.maximum.accumulate(line.ts - origin) if line.ts.size else line.ts for line in lines]
    if window is not None:
        start = window[0] if window[0] is not None else -np.inf
        end = window[1] if window[1] is not None else np.inf
        lo = [int(np.searchsorted(s, start, side="left")) for s in stamps]
        hi = [int(np.searchsorted(s, end, side="right")) for s in stamps]
        inside = sum(h - low for low, h in zip(lo, hi, strict=True))
        if inside > max_events:
            chosen = np.concatenate([s[low:h] for s, low, h in zip(stamps, lo, hi, strict=True)])
            limit = float(np.partition(chosen, max_events - 1)[max_events - 1])
            hi = [min(h, int(np.searchsorted(s, limit, side="right"))) for s, h in zip(stamps, hi, strict=True)]
        shown = sum(h - low for low, h in zip(lo, hi, strict=True))
        bounds = f"{window[0] or 0:g}:{'' if window[1] is None else f'{window[1]:g}'}"
        note = f"the window {bounds} s: {shown:,} of {total:,} events"
        if inside > max_events:
            note += f" (the window holds {inside:,}; its first {shown:,} are shown)"
        return Part(lo, hi, shown == total, note)
    if total <= max_events:
        return Part([0] * len(lines), [line.ts.size for line in lines], True, f"all {total:,} events")
    counts = cut(analysis.causality, max_events)
    shown = sum(counts)
    last = max(float(s[c - 1]) for s, c in zip(stamps, counts, strict=True) if c)
    note = (
        f"the first {shown:,} of {total:,} events (to {last:.3f} s, closed under happens-before); "
        "choose another window with `python -m analysis RUN --explorer START:END` (seconds)"
    )
    return Part([0] * len(lines), counts, False, note)


def _rounded(values: np.ndarray, digits: int) -> np.ndarray:
    """Rounded float64: orjson writes it as it writes Python floats, without a float object per value."""
    return np.round(values.astype(np.float64), digits)


def _node_data(log: NodeLog, c: Columns, vc: np.ndarray, lo: int, hi: int, gap: np.ndarray, origin: float) -> Any:
    """One line's events in [lo, hi) as columns (vector clock: one column per node)."""
    names: dict[str, int] = {}
    who = np.full(hi - lo, -1, dtype=np.int64)  # the peer(s) a send went to, or a receive came from
    first, last = np.searchsorted(c.sends, (lo, hi))  # only the part's sends and receives
    for k in range(int(first), int(last)):
        who[c.sends[k] - lo] = names.setdefault(",".join(log.peer_sets[int(c.send_peers[k])]), len(names))
    first, last = np.searchsorted(c.receives, (lo, hi))
    for k in range(int(first), int(last)):
        who[c.receives[k] - lo] = names.setdefault(log.receive_from[k], len(names))
    return {
        "name": log.node,
        "rate": log.rate,
        "offset": lo,
        "total": int(c.clock.size),
        "t": _rounded(c.ts[lo:hi] - origin, 6),
        "clock": c.clock[lo:hi],
        "kind": c.kind[lo:hi],
        "queue": c.queue[lo:hi],
        "late": _rounded(c.late_ms[lo:hi], 3),
        "inc": c.incarnation[lo:hi],
        "gap": gap,
        "who": who,
        "names": list(names),
        "vc": [np.ascontiguousarray(vc[lo:hi, j]) for j in range(vc.shape[1])],
    }


def explorer_data(analysis: Analysis, window: Window | None = None, max_events: int = MAX_EVENTS) -> dict[str, Any]:
    """What explorer.html shows, as one JSON-ready dict (numpy arrays allowed)."""
    causality, summary = analysis.causality, analysis.summary
    assert causality is not None
    assert analysis.violations is not None  # found once, by analysis.metrics.analyse
    run = summary["run"]
    origin = run["first_tick_ts"] or 0.0
    part = choose_part(analysis, window, max_events)
    cols, logs = analysis.columns, analysis.logs
    index = {node: i for i, node in enumerate(causality.nodes)}
    nodes = []
    for i, line in enumerate(causality.lines):
        c, log = cols[line.node], logs[line.node]
        times = c.ts[part.lo[i] : part.hi[i]]
        clocks = [clock_at(logs[n], times, cols[n]) for n in causality.nodes if cols[n].ts.size]
        gap = (np.max(np.vstack(clocks), axis=0) - c.clock[part.lo[i] : part.hi[i]]).astype(np.int64)
        nodes.append(_node_data(log, c, line.vc, part.lo[i], part.hi[i], gap, origin))
    # Matched messages with both ends in the part, positions relative to it.
    lo = np.array(part.lo, dtype=np.int64)
    hi = np.array(part.hi, dtype=np.int64)
    a, s, b, r = causality.sender, causality.send, causality.receiver, causality.receive
    keep = (s >= lo[a]) & (s < hi[a]) & (r >= lo[b]) & (r < hi[b])
    a, s, b, r = a[keep], s[keep], b[keep], r[keep]
    value = np.zeros(a.size, dtype=np.int64)
    enqueued = np.zeros(a.size, dtype=np.float64)
    for i, node in enumerate(causality.nodes):
        c = cols[node]
        mine = a == i
        value[mine] = c.send_value[np.searchsorted(c.sends, s[mine])]
        theirs = b == i
        enqueued[theirs] = c.receive_enq_ts[np.searchsorted(c.receives, r[theirs])] - origin
    found = analysis.violations
    return {
        "format": DATA_FORMAT,
        "run": {
            "id": run["run_id"],
            "simulated": run["simulated"],
            "max_event_num": run["max_event_num"],
            "span": run["span_s"],
            "origin": origin,
            "events": summary["causality"]["events"],
            "clock_bug": run.get("clock_bug"),
        },
        "part": {"complete": part.complete, "events": part.events, "note": part.note},
        "nodes": nodes,
        "messages": {
            "from": a,
            "send": s - lo[a],
            "to": b,
            "take": r - lo[b],
            "value": value,
            "enq": _rounded(enqueued, 6),
        },
        "violations": {
            "counts": found.counts,
            "kinds": list(KINDS),
            "rules": RULES,
            "listed": [
                {"kind": v.kind, "node": index[v.node], "pos": v.position, "text": v.text} for v in found.listed
            ],
        },
        "table": {"header": HEADLINE, "rows": headline_rows(summary)},
        "facts": _facts(summary),
        "problems": summary["problems"][:500],
        "problem_count": len(summary["problems"]),
    }


def _facts(summary: Any) -> list[list[str]]:
    """The run's headline figures beyond the table, as label/value pairs."""
    m, c = summary["messages"], summary["causality"]
    pairs = [
        ("messages sent", m["sent"]),
        ("received", m["received"]),
        ("in queues at the end", m["left"]),
        ("in flight at the end", m.get("in_flight", 0)),
        ("lost", m["lost"]),
        ("duplicated", m["duplicated"]),
        ("events", c["events"]),
        ("concurrent pairs", c["concurrent_pairs"]),
        ("concurrent share of cross-node pairs", c["cross_node_concurrent_share"]),
        ("Lamport clocks consistent with happens-before", "yes" if c["lamport_consistent"] else "NO"),
    ]
    return [[label, f"{value:,}" if isinstance(value, int) else str(value)] for label, value in pairs]


def _json(data: Any) -> bytes:
    """JSON safe inside a <script> element: no '<', '>' or '&' left to end it or start markup."""
    raw = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def page_parts(title: str, kind: str, data: Any) -> tuple[bytes, bytes, bytes]:
    """The whole page, UTF-8, in three parts written one after the other: the markup and style up
    to the data, the data, the code and the end (`kind`: explorer or comparison). The data of
    100,000 events is tens of MB: not copied into one string."""
    style = (WEB / "explorer.css").read_text()
    code = (WEB / "explorer.js").read_text()
    body = (WEB / f"{kind}.html").read_text()
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<style>\n{style}</style>\n</head>\n<body data-page="{kind}">\n{body}\n'
        '<script type="application/json" id="explorer-data">'
    )
    tail = f"</script>\n<script>\n{code}</script>\n</body>\n</html>\n"
    return head.encode(), _json(data), tail.encode()


def page(title: str, kind: str, data: Any) -> str:
    """The whole page as text."""
    return b"".join(page_parts(title, kind, data)).decode()


def _write_page(folder: Path, name: str, parts: tuple[bytes, bytes, bytes]) -> Path:
    return write_output(folder, name, lambda out: [out.write(part) for part in parts])


def write_explorer(analysis: Analysis, folder: Path, window: Window | None = None) -> Path | None:
    """Write explorer.html into `folder`; None if the run has no tick events."""
    if analysis.causality is None or not any(line.ts.size for line in analysis.causality.lines):
        return None
    data = explorer_data(analysis, window)
    title = f"Run {data['run']['id']}: explorer"
    return _write_page(folder, FILE, page_parts(title, "explorer", data))


def write_comparison_page(analyses: list[Analysis], folder: Path, window: Window | None = None) -> Path:
    """Write comparison.html into `folder`: two runs on one time axis, where they part marked."""
    runs = [explorer_data(a, window) for a in analyses[:2]]
    data = {
        "format": DATA_FORMAT,
        "runs": runs,
        "parting": _parting_data(parting(analyses[0], analyses[1])),
        "table": {"header": COMPARE_HEADER, "rows": comparison_rows([a.summary for a in analyses[:2]])},
    }
    title = f"Runs {runs[0]['run']['id']} and {runs[1]['run']['id']} compared"
    return _write_page(folder, COMPARISON_FILE, page_parts(title, "comparison", data))


def _parting_data(found: Parting | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"node": found.node, "lines": found.lines, "pos": found.pos, "t": round(found.t, 6), "text": found.text}

"""spacetime.png: a space-time diagram of one time window of a run (matplotlib, headless).

One horizontal line per node (labelled with its rate), time since the first tick on the x axis,
each tick event a mark (receive: filled circle, send: triangle, internal: small open circle) and
each matched message an arrow from its send event to its receive event: the tick that took it
from the queue, not the moment it entered the queue, so the wait at a slow node shows as a long
arrow. With at most LABEL_LIMIT events in the window each event carries its Lamport clock, in
bold red where a receive made the clock jump by more than one. The window is the first
DEFAULT_SECONDS seconds (the whole run if shorter; in a fast run, only its first DEFAULT_EVENTS
events, said under the figure) unless one is given (`--spacetime 20:30`), which is drawn whatever
it holds.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from analysis.columns import FloatArray
from analysis.loader import INTERNAL, RECEIVE, SEND
from analysis.metrics import Analysis
from analysis.plots import node_colours, save_figure, title
from analysis.window import Window

FILE = "spacetime.png"
DEFAULT_SECONDS = 10.0
LABEL_LIMIT = 150  # Lamport clocks written next to the events up to this many events in the window
ARROW_LIMIT = 600  # messages drawn as arrows with heads up to this many; as thin lines beyond
DENSE = 3000  # events in the window beyond which marks get small and the plot is rasterized
DEFAULT_EVENTS = 500  # the default window ends earlier than DEFAULT_SECONDS if it holds more events
MAX_LINES_HEIGHT = 14.0  # inches for the nodes' lines: 1.05 between two, closer past 13 nodes


def resolve_window(window: Window | None, span: float, times: FloatArray | None = None) -> tuple[float, float, bool]:
    """The window in seconds and whether the default was shortened.

    Given: open sides are the start and the end of the run. Default: the first DEFAULT_SECONDS
    (the whole run if shorter), cut at the DEFAULT_EVENTS-th event of `times` when a fast run
    holds more in that time, so the default figure stays readable and quick to draw.
    """
    if window is not None:
        start = window[0] if window[0] is not None else 0.0
        end = window[1] if window[1] is not None else max(span, start + 1e-3)
        return start, end, False
    end = min(DEFAULT_SECONDS, span) if span > 0 else DEFAULT_SECONDS
    if times is not None:
        early = times[(times >= 0) & (times <= end)]
        if early.size > DEFAULT_EVENTS:
            return 0.0, max(float(np.partition(early, DEFAULT_EVENTS - 1)[DEFAULT_EVENTS - 1]), 1e-6), True
    return 0.0, end, False


def write_spacetime(analysis: Analysis, folder: Path, window: Window | None = None) -> Path | None:
    """Draw spacetime.png into `folder`; None if there is nothing to draw (no events at all)."""
    causality = analysis.causality
    if causality is None or not any(line.ts.size for line in causality.lines):
        return None
    run = analysis.summary["run"]
    origin = run["first_tick_ts"] or 0.0
    times = [line.ts - origin for line in causality.lines]
    start, end, shortened = resolve_window(window, run["span_s"], np.concatenate(times))
    colours = node_colours(analysis)
    n = len(causality.nodes)
    height = {i: n - 1 - i for i in range(n)}  # the first node on top
    inside = [(t >= start) & (t <= end) for t in times]
    events = int(sum(int(m.sum()) for m in inside))
    dense = events > DENSE

    # Messages overlapping the window: sent before its end and received after its start.
    sent_at = np.zeros(causality.sender.size)
    received_at = np.zeros(causality.sender.size)
    for i in range(n):
        mine = causality.sender == i
        sent_at[mine] = times[i][causality.send[mine]]
        mine = causality.receiver == i
        received_at[mine] = times[i][causality.receive[mine]]
    shown = np.flatnonzero((sent_at <= end) & (received_at >= start))

    spacing = min(1.05, MAX_LINES_HEIGHT / n)  # inches between two nodes' lines
    fig, ax = plt.subplots(figsize=(12, 1.9 + spacing * n))
    pad = (end - start) * 0.01
    ax.set_xlim(start - pad, end + pad)
    ax.set_ylim(-0.6, n - 0.35)
    for i, line in enumerate(causality.lines):
        colour = colours.get(line.node, "#555555")
        y = height[i]
        ax.hlines(y, start - pad, end + pad, color=colour, linewidth=1.2, alpha=0.55, zorder=1)
        for kind, marker, size, face in (
            (RECEIVE, "o", 26, colour),
            (SEND, "^", 30, colour),
            (INTERNAL, "o", 14, "white"),
        ):
            chosen = inside[i] & (line.kind == kind)
            ax.scatter(
                times[i][chosen],
                np.full(int(chosen.sum()), y),
                s=size / 4 if dense else size,
                marker=marker,
                facecolors=face,
                edgecolors=colour,
                linewidths=0.4 if dense else 0.9,
                zorder=3,
                rasterized=dense,
            )
    senders = causality.sender[shown]
    x0, x1 = sent_at[shown], received_at[shown]
    y0 = np.array([height[int(a)] for a in senders], dtype=np.float64)
    y1 = np.array([height[int(b)] for b in causality.receiver[shown]], dtype=np.float64)
    arrow_colours = [colours.get(causality.nodes[int(a)], "#555555") for a in senders]
    if shown.size <= ARROW_LIMIT:
        for k in range(shown.size):  # add_artist, not add_patch: the limits are set, and it is 4x faster
            arrow = FancyArrowPatch(
                (x0[k], y0[k]),
                (x1[k], y1[k]),
                arrowstyle="-|>",
                mutation_scale=9,
                shrinkA=0,
                shrinkB=0,
                color=arrow_colours[k],
                linewidth=0.9,
                alpha=0.8,
                zorder=2,
            )
            arrow.set_clip_path(ax.patch)
            ax.add_artist(arrow)
    else:
        segments = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
        ax.add_collection(
            LineCollection(list(segments), colors=arrow_colours, linewidths=0.5, alpha=0.35, zorder=2, rasterized=dense)
        )
    if events <= LABEL_LIMIT:
        # Above the mark, or below it where the label would run into the previous one above.
        points_per_second = fig.get_figwidth() * 72 * 0.86 / (end - start + 2 * pad)
        for i, line in enumerate(causality.lines):
            jumps = np.diff(line.clock, prepend=line.clock[:1] - 1)
            free = {6: -math.inf, -7: -math.inf}  # offset -> where the last label there ends, in points
            for k in np.flatnonzero(inside[i]).tolist():
                text = str(int(line.clock[k]))
                x = float(times[i][k])
                half = 0.6 * 7 * len(text) / 2 + 1
                centre = x * points_per_second
                offset = 6 if free[6] <= centre - half or free[-7] > centre - half else -7
                free[offset] = centre + half
                jumped = bool(line.kind[k] == RECEIVE and jumps[k] > 1)
                ax.annotate(
                    text,
                    (x, height[i]),
                    xytext=(0, offset),
                    textcoords="offset points",
                    ha="center",
                    va="bottom" if offset > 0 else "top",
                    fontsize=7,
                    fontweight="bold" if jumped else "normal",
                    color="#b00020" if jumped else "#333333",
                    zorder=4,
                )
    if not events:
        ax.text(0.5, 0.5, "no events in this window", transform=ax.transAxes, ha="center", va="center", color="gray")

    labels = [
        analysis.series[line.node].label if line.node in analysis.series else line.node for line in causality.lines
    ]
    points = min(10.0, max(4.0, spacing * 72 * 0.7))  # node labels fit their line's spacing
    ax.set_yticks([height[i] for i in range(n)], labels, fontsize=points)
    for tick, line in zip(ax.get_yticklabels(), causality.lines, strict=True):
        tick.set_color(colours.get(line.node, "#555555"))
    ax.set_xlabel("time since the first tick (s)")
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.grid(alpha=0.25, axis="x")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    what = f"Space-time diagram, {start:.4g} to {end:.4g} s"
    ax.set_title(title(analysis, what), loc="left", fontsize=11)
    notes = f"{events} events, {shown.size} messages; arrows go from the send to the receive event"
    notes += (
        f"; the default {DEFAULT_SECONDS:g} s cut to {DEFAULT_EVENTS} events (--spacetime START:END)"
        if shortened
        else ""
    )
    notes += "; numbers are Lamport clocks (bold red: a jump)" if events <= LABEL_LIMIT and events else ""
    notes += "; dense: narrow the window with --spacetime START:END" if dense else ""
    fig.text(0.01, 0.01, notes, fontsize=8, color="#555555", ha="left", va="bottom")
    grey = "#444444"
    handles = [
        Line2D([], [], marker="o", linestyle="", color=grey, markerfacecolor=grey, label="receive"),
        Line2D([], [], marker="^", linestyle="", color=grey, markerfacecolor=grey, label="send"),
        Line2D([], [], marker="o", linestyle="", color=grey, markerfacecolor="white", markersize=5, label="internal"),
        Line2D([], [], color=grey, linewidth=0.9, label="message"),
    ]
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=8, frameon=False)
    path = folder / FILE
    # Margins from the widest node label (the other texts are known): no tight_layout, which
    # measured every text by drawing the figure once more.
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    font = ax.get_yticklabels()[0].get_fontproperties()
    widest = max(renderer.get_text_width_height_descent(label, font, ismath=False)[0] for label in labels)
    save_figure(fig, path, margins=(widest / fig.dpi + 0.25, 0.2, 0.85, 0.45))
    return path

"""The run's figures as PNG files (matplotlib, headless), readable at a glance.

clock.png (logical clock against time, all nodes), gap.png (distance to the fastest node's
clock), queue.png (queue length seen at each tick), jumps.png (jump-size histogram per node).
Nodes are labelled with their rates and keep one colour across all figures. Long series are
thinned to at most MAX_POINTS per line, keeping each bin's largest value so peaks stay visible;
the jump histogram has a bar per jump size up to MAX_BARS sizes, then MAX_BARS equal ranges.
Figures are written by analysis.files (never through a link planted in the run folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.columns import FloatArray, IntArray
from analysis.files import write_output
from analysis.metrics import Analysis, NodeSeries, jump_counts

MAX_POINTS = 20_000
MAX_BARS = 100  # a bar per jump size up to this many sizes (runs have at most a few dozen); ranges beyond
DPI = 110
FILES = ("clock.png", "gap.png", "queue.png", "jumps.png")


def _thin(t: FloatArray, y: np.ndarray) -> tuple[FloatArray, np.ndarray]:
    if t.size <= MAX_POINTS:
        return t, y
    starts = np.linspace(0, t.size, MAX_POINTS // 2, endpoint=False).astype(np.int64)
    return t[starts], np.maximum.reduceat(y, starts)


def node_colours(analysis: Analysis) -> dict[str, str]:
    """One colour per node, the same in every figure."""
    palette = [plt.get_cmap("tab10")(i) for i in range(10)]
    return {node: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, node in enumerate(sorted(analysis.series))}


def title(analysis: Analysis, what: str) -> str:
    run = analysis.summary["run"]
    extras = [f"MAX_EVENT_NUM={run['max_event_num']}"] if run["max_event_num"] is not None else []
    run_id = run["run_id"].replace("$", r"\$")  # a name with two $ would be parsed as (maybe bad) math
    return f"{what} - run {run_id}" + (f" ({', '.join(extras)})" if extras else "")


def save_figure(fig: Figure, path: Path, rect: tuple[float, float, float, float] | None = None) -> None:
    """Lay out, write as PNG at the project's resolution, and free the figure."""
    try:
        fig.tight_layout(rect=rect)
        write_output(path.parent, path.name, lambda out: fig.savefig(out, dpi=DPI, format="png"))
    finally:
        plt.close(fig)


def _time_plot(
    analysis: Analysis, path: Path, what: str, ylabel: str, draw: Callable[[Axes], None], height: float = 4.6
) -> None:
    """One line per node against seconds since the first tick, labelled alike in every figure."""
    fig, ax = plt.subplots(figsize=(10, height))
    draw(ax)
    ax.set_xlabel("time since the first tick (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title(analysis, what))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    save_figure(fig, path)


def plot_clock(analysis: Analysis, colours: dict[str, str], path: Path) -> None:
    def draw(ax: Axes) -> None:
        for node, s in sorted(analysis.series.items()):
            t, clock = _thin(s.t, s.clock)
            ax.step(t, clock, where="post", color=colours[node], label=s.label, linewidth=1.3)

    _time_plot(analysis, path, "Logical clock against system time", "logical clock", draw, height=5.2)


def plot_gap(analysis: Analysis, colours: dict[str, str], path: Path) -> None:
    def draw(ax: Axes) -> None:
        for node, s in sorted(analysis.series.items()):
            ax.plot(analysis.grid, s.gap, color=colours[node], label=s.label, linewidth=1.2)

    _time_plot(analysis, path, "Gap to the fastest logical clock", "fastest node's clock - this clock", draw)


def plot_queue(analysis: Analysis, colours: dict[str, str], path: Path) -> None:
    def draw(ax: Axes) -> None:
        for node, s in sorted(analysis.series.items()):
            t, queue = _thin(s.t, s.queue_seen)
            ax.step(t, queue, where="post", color=colours[node], label=s.label, linewidth=1.2)

    _time_plot(analysis, path, "Network queue length", "messages waiting (seen at each tick)", draw)


def jump_bars(jumps: IntArray) -> tuple[FloatArray, IntArray, float]:
    """The jump histogram's bars: centres, heights and width. One per jump size that occurs, or,
    past MAX_BARS sizes (a corrupt log: clocks anywhere in 0..2^32-1), MAX_BARS equal ranges."""
    sizes, counts = jump_counts(jumps)
    if sizes.size <= MAX_BARS:
        return sizes.astype(np.float64), counts, 0.8
    edges = np.linspace(float(sizes[0]), float(sizes[-1]) + 1, MAX_BARS + 1)
    heights = np.histogram(sizes, bins=edges, weights=counts)[0].astype(np.int64)
    width = float(edges[1] - edges[0])
    keep = heights > 0
    return (edges[:-1] + width / 2)[keep], heights[keep], 0.9 * width


def plot_jumps(analysis: Analysis, colours: dict[str, str], path: Path) -> None:
    series: list[NodeSeries] = [s for _, s in sorted(analysis.series.items())]
    fig, axes = plt.subplots(1, max(1, len(series)), figsize=(3.6 * max(1, len(series)), 3.8), squeeze=False)
    for ax, s in zip(axes[0], series, strict=False):
        centres, heights, width = jump_bars(s.jumps)
        ax.bar(centres, heights, color=colours[s.node], width=width)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.set_xlabel("jump (clock - previous clock)")
        ax.set_title(s.label)
        ax.grid(alpha=0.3, axis="y")
        mean = float(s.jumps.mean()) if s.jumps.size else 0.0
        ax.text(
            0.97,
            0.95,
            f"mean {mean:.2f}\nmax {int(s.jumps.max()) if s.jumps.size else 0}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
        )
    axes[0][0].set_ylabel("tick events (log scale)")
    fig.suptitle(title(analysis, "Clock jump sizes"))
    save_figure(fig, path)


def write_plots(analysis: Analysis, folder: Path) -> list[Path]:
    """Draw every figure into `folder`; returns the files written (none if nothing ticked)."""
    if not analysis.series:
        return []
    colours = node_colours(analysis)
    paths = [folder / name for name in FILES]
    plot_clock(analysis, colours, paths[0])
    plot_gap(analysis, colours, paths[1])
    plot_queue(analysis, colours, paths[2])
    plot_jumps(analysis, colours, paths[3])
    return paths

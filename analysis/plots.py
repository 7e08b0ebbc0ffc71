"""The run's figures as PNG files (matplotlib, headless), readable at a glance.

clock.png (logical clock against time, all nodes), gap.png (distance to the fastest node's
clock), queue.png (queue length seen at each tick), jumps.png (jump-size histogram per node).
Nodes are labelled with their rates and keep one colour across all figures; past MAX_LEGEND
nodes the colour is the node's rate (a colour bar in place of the legend) and jumps.png is one
heat map (a row per node). Long series are drawn in bins about a pixel column wide (at most
MAX_POINTS // 2), each bin's largest value as the line so peaks stay visible, and in queue.png
down to its smallest value shaded; the jump histogram has a bar per jump size up to MAX_BARS
sizes, then MAX_BARS equal ranges. These figures have margins fixed in inches (their texts are
known): tight_layout measured every text by drawing each figure twice. Figures are written by
analysis.files (never through a link planted in the run folder).
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

MAX_POINTS = 4_000  # longer series in 2,000 bins, about a pixel column each in the 10-inch figures
MAX_BARS = 100  # a bar per jump size up to this many sizes (runs have at most a few dozen); ranges beyond
MAX_LEGEND = 10  # nodes named in a legend (tab10's colours); beyond, coloured by rate
DPI = 110
FILES = ("clock.png", "gap.png", "queue.png", "jumps.png")
# Margins in inches: left (y tick labels up to 6 digits, larger values are written 1e6, and the
# axis label), right, bottom, top; a colour bar takes COLOUR_BAR more on the right.
TIME_MARGINS = (1.05, 0.15, 0.6, 0.4)
JUMP_MARGINS = (1.05, 0.15, 0.6, 0.7)
JUMP_GAP = 0.75  # between two histograms (the right one's tick labels)
COLOUR_BAR = 1.0


def _thin(t: FloatArray, y: np.ndarray) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """At most MAX_POINTS // 2 bins (about a pixel column each): each bin's first time, largest and
    smallest value; a short series as it is (its own smallest and largest)."""
    if t.size <= MAX_POINTS:
        return t, y, y
    starts = np.linspace(0, t.size, MAX_POINTS // 2, endpoint=False).astype(np.int64)
    return t[starts], np.maximum.reduceat(y, starts), np.minimum.reduceat(y, starts)


def by_rate(analysis: Analysis) -> bool:
    """Whether nodes are coloured by their rate: past MAX_LEGEND nodes (tab10 repeats, a legend overflows)."""
    return len(analysis.series) > MAX_LEGEND


def _rate_scale(analysis: Analysis) -> tuple[matplotlib.colors.Colormap, matplotlib.colors.Normalize]:
    rates = [r for r in analysis.summary["run"]["rates"].values() if r is not None] or [0]
    low = min(rates)
    # viridis without its lightest yellows, which vanish on white
    cmap = matplotlib.colors.ListedColormap(plt.get_cmap("viridis")(np.linspace(0.0, 0.85, 256)))
    return cmap, matplotlib.colors.Normalize(low, max(*rates, low + 1))


def node_colours(analysis: Analysis) -> dict[str, str]:
    """One colour per node, the same in every figure: tab10's, or past MAX_LEGEND nodes the node's rate's."""
    nodes = sorted(analysis.series)
    if by_rate(analysis):
        cmap, norm = _rate_scale(analysis)
        rates = analysis.summary["run"]["rates"]
        return {node: matplotlib.colors.to_hex(cmap(norm(float(rates.get(node) or 0)))) for node in nodes}
    palette = [plt.get_cmap("tab10")(i) for i in range(10)]
    return {node: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, node in enumerate(nodes)}


def title(analysis: Analysis, what: str) -> str:
    run = analysis.summary["run"]
    extras = [f"MAX_EVENT_NUM={run['max_event_num']}"] if run["max_event_num"] is not None else []
    run_id = run["run_id"].replace("$", r"\$")  # a name with two $ would be parsed as (maybe bad) math
    return f"{what} - run {run_id}" + (f" ({', '.join(extras)})" if extras else "")


def save_figure(
    fig: Figure,
    path: Path,
    rect: tuple[float, float, float, float] | None = None,
    margins: tuple[float, float, float, float] | None = None,
) -> None:
    """Lay out (tight_layout within `rect`, or `margins` in inches: left, right, bottom, top), write
    as PNG at the project's resolution, and free the figure."""
    try:
        if margins is None:
            fig.tight_layout(rect=rect)
        else:
            width, height = fig.get_size_inches()
            left, right, bottom, top = margins
            fig.subplots_adjust(
                left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
            )
        # zlib's level 1: a third of level 6's time (PNG's default), for files about a fifth larger
        png = {"compress_level": 1}
        write_output(path.parent, path.name, lambda out: fig.savefig(out, dpi=DPI, format="png", pil_kwargs=png))
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
    left, right, bottom, top = TIME_MARGINS
    if by_rate(analysis):
        rate_bar(analysis, fig, ax)
        right += COLOUR_BAR
    else:
        ax.legend(loc="upper left")
    save_figure(fig, path, margins=(left, right, bottom, top))


def rate_bar(analysis: Analysis, fig: Figure, ax: Axes) -> None:
    """The colour bar that stands for the legend when nodes are coloured by rate."""
    cmap, norm = _rate_scale(analysis)
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02, fraction=0.05)
    bar.set_label(f"node's rate (ticks/s), {len(analysis.series)} nodes")


def plot_clock(analysis: Analysis, colours: dict[str, str], path: Path) -> None:
    def draw(ax: Axes) -> None:
        for node, s in sorted(analysis.series.items()):
            t, clock, _ = _thin(s.t, s.clock)  # rising: a bin's largest is its last
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
            t, most, least = _thin(s.t, s.queue_seen)
            ax.step(t, most, where="post", color=colours[node], label=s.label, linewidth=1.2)
            if t.size < s.t.size:  # thinned: what each bin held, down to its smallest, shaded
                ax.fill_between(t, least, most, step="post", color=colours[node], alpha=0.3, linewidth=0)

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
    if by_rate(analysis):
        _jump_map(analysis, series, path)
        return
    count = max(1, len(series))
    fig, axes = plt.subplots(1, count, figsize=(3.6 * count, 3.8), squeeze=False)
    for ax, s in zip(axes[0], series, strict=False):
        jumps = s.jumps  # computed when read: once
        centres, heights, width = jump_bars(jumps)
        ax.bar(centres, heights, color=colours[s.node], width=width)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(ticker.NullLocator())  # unlabelled, and half the figure's time
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.set_xlabel("jump (clock - previous clock)")
        ax.set_title(s.label)
        ax.grid(alpha=0.3, axis="y")
        mean = float(jumps.mean()) if jumps.size else 0.0
        ax.text(
            0.97,
            0.95,
            f"mean {mean:.2f}\nmax {int(jumps.max()) if jumps.size else 0}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
        )
    axes[0][0].set_ylabel("tick events (log scale)")
    fig.suptitle(title(analysis, "Clock jump sizes"))
    left, right, _, _ = JUMP_MARGINS
    fig.subplots_adjust(wspace=JUMP_GAP * count / (3.6 * count - left - right - JUMP_GAP * (count - 1)))
    save_figure(fig, path, margins=JUMP_MARGINS)


def _jump_map(analysis: Analysis, series: list[NodeSeries], path: Path) -> None:
    """jumps.png past MAX_LEGEND nodes: a row per node, a column per jump size (or range), colour the count."""
    jumps = [s.jumps for s in series]
    sizes, _ = jump_counts(np.concatenate(jumps))
    if sizes.size > MAX_BARS:  # corrupt clocks: MAX_BARS equal ranges, as the bars
        edges = np.linspace(float(sizes[0]), float(sizes[-1]) + 1, MAX_BARS + 1)
    else:
        edges = np.arange(sizes[0], sizes[-1] + 2, dtype=np.float64) - 0.5 if sizes.size else np.array([0.5, 1.5])
    counts = np.array([np.histogram(j[j >= 0], bins=edges)[0] for j in jumps], dtype=np.float64)
    height = min(12.0, 1.6 + 0.12 * len(series))
    fig, ax = plt.subplots(figsize=(10, height))
    mesh = ax.pcolormesh(
        edges,
        np.arange(len(series) + 1) - 0.5,
        np.ma.masked_equal(counts, 0),
        cmap="viridis",
        norm=matplotlib.colors.LogNorm(vmin=1, vmax=max(1.0, float(counts.max()))),
    )
    ax.set_yticks(range(len(series)), [s.label for s in series], fontsize=max(4, min(9, int(500 / len(series)))))
    ax.invert_yaxis()
    ax.set_xlabel("jump (clock - previous clock)")
    ax.set_title(title(analysis, "Clock jump sizes"))
    bar = fig.colorbar(mesh, ax=ax, pad=0.02, fraction=0.05)
    bar.set_label("tick events (log scale; blank: none)")
    save_figure(fig, path, rect=None)


def write_plots(analysis: Analysis, folder: Path, after_each: Callable[[], None] | None = None) -> list[Path]:
    """Draw every figure into `folder`, calling `after_each` after each; returns the files written
    (none if nothing ticked)."""
    if not analysis.series:
        return []
    colours = node_colours(analysis)
    paths = [folder / name for name in FILES]
    for plot, path in zip((plot_clock, plot_gap, plot_queue, plot_jumps), paths, strict=True):
        plot(analysis, colours, path)
        if after_each is not None:
            after_each()
    return paths

"""The analysis as functions: one run folder in, its summary (and files) out.

`analyse_folder` is what `python -m analysis` does for each run: read, analyse, write summary.json,
summary.md, the figures, explorer.html and shiviz.log into the folder, print the report
(`analyse_and_write` is the same, returning the whole analysis, not only the summary). `load_and_analyse` only
computes, writing nothing. Experiments, benchmarks and tests call these, not the command line.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
import threading
import time
from pathlib import Path

from analysis.explorer import write_explorer
from analysis.files import regular_size
from analysis.loader import load_run
from analysis.markdown import write_markdown
from analysis.metrics import Analysis, analyse
from analysis.report import terminal_report
from analysis.shiviz import write_shiviz
from analysis.summaryfile import write_summary
from analysis.window import Window
from node.schema import Summary

PROGRESS_BYTES = 10_000_000  # show progress for runs larger than this
FIGURES = "analysis.spacetime"  # the figures' modules (with analysis.plots): matplotlib, imported apart


def _give_back_memory() -> None:
    """Hand the heap's free pages back to the system between two steps. glibc's malloc keeps what
    numpy frees (arrays of a few MB, freed in another order than made): a million-line run peaked
    15 MB higher without this (measured with VmHWM). Nothing where malloc is not glibc's."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


_LIBC = ctypes.CDLL(None)  # the process's own C library (the symbols already loaded)


def _import_meanwhile(name: str) -> threading.Thread:
    """Import module `name` in a thread while the caller goes on: matplotlib takes a third of a
    second to import, time the loader spends mostly waiting on pyarrow's threads. Join the thread
    before using the module; an error it raised is raised again by the import that follows."""
    thread = threading.Thread(target=lambda: importlib.import_module(name), name=f"import {name}", daemon=True)
    thread.start()
    return thread


def load_and_analyse(folder: Path) -> Analysis:
    """The analysis of the run in `folder`, nothing written (its problems are in the summary)."""
    return analyse(load_run(folder))


def analyse_folder(
    folder: Path,
    *,
    plots: bool = True,
    shiviz: bool = True,
    window: Window | None = None,
    quiet: bool = False,
    where: str | None = None,
) -> Summary | None:
    """Analyse one run folder, write its outputs and print its report (only its problems, on
    stderr, when `quiet`); None if there was nothing to analyse. `where` names the folder in the
    report's last line; `window` is spacetime.png's (default: the first 10 s)."""
    analysis = analyse_and_write(folder, plots=plots, shiviz=shiviz, window=window, quiet=quiet, where=where)
    return None if analysis is None else analysis.summary


def analyse_and_write(
    folder: Path,
    *,
    plots: bool = True,
    shiviz: bool = True,
    window: Window | None = None,
    explorer: bool | None = None,
    explorer_window: Window | None = None,
    quiet: bool = False,
    where: str | None = None,
) -> Analysis | None:
    """`analyse_folder`, returning the analysis. explorer.html is written when `explorer` (default:
    with the plots), holding the events of `explorer_window` in a run too big to hold them all."""
    size = sum(regular_size(p) for p in folder.glob("*.jsonl"))  # the loader reads nothing else

    def progress(text: str) -> None:
        if size > PROGRESS_BYTES:
            print(f"[analysis] {text}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    figures = _import_meanwhile(FIGURES) if plots and FIGURES not in sys.modules else None
    progress(f"{folder.name}: reading {size / 1e6:.0f} MB of logs")
    run = load_run(folder)
    _give_back_memory()
    if not any(log.tick_ts.size for log in run.nodes.values()):
        for problem in run.problems:
            print(f"{folder.name}: {problem}", file=sys.stderr)
        print(f"{folder.name}: nothing to analyse (no tick events in any *.jsonl)", file=sys.stderr)
        return None
    progress(f"{folder.name}: computing ({time.perf_counter() - started:.1f} s)")
    analysis = analyse(run)
    _give_back_memory()
    summary = analysis.summary
    exports: list[Path] = []
    if shiviz and analysis.causality is not None:
        origin = summary["run"]["first_tick_ts"] or 0.0
        path, exported, total = write_shiviz(analysis.causality, run.nodes, origin, folder)
        summary["causality"]["shiviz"] = {"file": path.name, "events": exported, "complete": exported == total}
        exports.append(path)
        _give_back_memory()
    drawn: list[Path] = []
    if plots:
        progress(f"{folder.name}: plotting ({time.perf_counter() - started:.1f} s)")
        if figures is not None:
            figures.join()
        from analysis.plots import write_plots  # noqa: PLC0415 - imported meanwhile (above)
        from analysis.spacetime import write_spacetime  # noqa: PLC0415

        drawn = write_plots(analysis, folder, after_each=_give_back_memory)
        spacetime = write_spacetime(analysis, folder, window)
        drawn += [spacetime] if spacetime else []
        _give_back_memory()
    page = None
    with_explorer = plots if explorer is None else explorer
    if with_explorer:
        progress(f"{folder.name}: writing the explorer ({time.perf_counter() - started:.1f} s)")
        page = write_explorer(analysis, folder, explorer_window)
        exports += [page] if page else []
    written = [write_summary(summary, folder), write_markdown(summary, folder, drawn), *drawn, *exports]
    progress(f"{folder.name}: done in {time.perf_counter() - started:.1f} s")
    if quiet:
        for line in summary["problems"]:
            print(f"{folder.name}: {line}", file=sys.stderr)
    else:
        print(terminal_report(summary, written, where), flush=True)
        if page is not None:
            print(f"explore the run: open {Path(where or folder) / page.name} in a browser", flush=True)
    return analysis

"""`python -m analysis [RUN ...]`: analyse runs, write their summaries and plots, compare them.

RUN is a run folder, or a run name under LOG_DIR (default: $LOG_DIR, else ./logs); with no RUN,
the newest run (LOG_DIR/latest). Each run gets summary.json, summary.md, PNG plots (spacetime.png
for the window `--spacetime START:END`, default the first 10 s) and shiviz.log in its own folder
and a headline table on the terminal; with several runs, a comparison table follows.

Exit codes: 0 every run analysed (problems in the input are reported, not fatal); 1 a run had
nothing that could be analysed; 2 a run folder does not exist or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from analysis.compare import comparison_text, write_comparison
from analysis.identity import take_log_owner_identity
from analysis.loader import load_run
from analysis.metrics import analyse
from analysis.plots import write_plots
from analysis.report import terminal_report, write_json, write_markdown
from analysis.shiviz import write_shiviz
from analysis.spacetime import Window, parse_window, write_spacetime

EXIT_OK, EXIT_NOTHING, EXIT_USAGE = 0, 1, 2
PROGRESS_BYTES = 10_000_000  # show progress for runs larger than this


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Analyse Lamport-clock model runs: summary.json, summary.md and plots in each run folder.",
    )
    parser.add_argument("runs", nargs="*", help="run folders or names under LOG_DIR (default: the newest run)")
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path(os.environ.get("LOG_DIR") or "logs"),
        help="where run names are looked up (default: $LOG_DIR or ./logs)",
    )
    parser.add_argument("--compare-out", type=Path, help="also write comparison.md/.json into this folder")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--spacetime",
        metavar="START:END",
        help="seconds since the first tick shown in spacetime.png, e.g. 20:30 (default: the first 10 s)",
    )
    parser.add_argument("--no-shiviz", action="store_true", help="skip shiviz.log (the ShiViz export)")
    parser.add_argument("--quiet", action="store_true", help="print only problems and the comparison")
    return parser.parse_args(argv)


def resolve(name: str, log_dir: Path) -> Path | None:
    for candidate in (Path(name), log_dir / name):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def shown(folder: Path, log_dir: Path) -> str:
    """A run folder as the user knows it: logs/<run> for runs under LOG_DIR (also in a container)."""
    try:
        return str(Path(log_dir.resolve().name) / folder.relative_to(log_dir.resolve()))
    except ValueError:
        return str(folder)


def analyse_folder(
    folder: Path,
    plots: bool,
    quiet: bool,
    where: str | None = None,
    *,
    window: Window | None = None,
    shiviz: bool = True,
) -> dict[str, Any] | None:
    """Analyse one run folder and write its outputs; None if there was nothing to analyse."""
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))

    def progress(text: str) -> None:
        if size > PROGRESS_BYTES:
            print(f"[analysis] {text}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    progress(f"{folder.name}: reading {size / 1e6:.0f} MB of logs")
    run = load_run(folder)
    if not any(log.tick_ts for log in run.nodes.values()):
        for problem in run.problems:
            print(f"{folder.name}: {problem}", file=sys.stderr)
        print(f"{folder.name}: nothing to analyse (no tick events in any *.jsonl)", file=sys.stderr)
        return None
    progress(f"{folder.name}: computing ({time.perf_counter() - started:.1f} s)")
    analysis = analyse(run)
    exports: list[Path] = []
    if shiviz and analysis.causality is not None:
        origin = analysis.summary["run"]["first_tick_ts"] or 0.0
        path, exported, total = write_shiviz(analysis.causality, run.nodes, origin, folder)
        analysis.summary["causality"]["shiviz"] = {"file": path.name, "events": exported, "complete": exported == total}
        exports.append(path)
    figures: list[Path] = []
    if plots:
        progress(f"{folder.name}: plotting ({time.perf_counter() - started:.1f} s)")
        figures = write_plots(analysis, folder)
        spacetime = write_spacetime(analysis, folder, window)
        figures += [spacetime] if spacetime else []
    written = [
        write_json(analysis.summary, folder),
        write_markdown(analysis.summary, folder, figures),
        *figures,
        *exports,
    ]
    progress(f"{folder.name}: done in {time.perf_counter() - started:.1f} s")
    if quiet:
        for problem in analysis.summary["problems"]:
            print(f"{folder.name}: {problem}", file=sys.stderr)
    else:
        print(terminal_report(analysis.summary, written, where), flush=True)
    return analysis.summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    window = None
    if args.spacetime is not None:
        try:
            window = parse_window(args.spacetime)
        except ValueError as error:
            print(f"analysis: --spacetime {args.spacetime!r}: {error}", file=sys.stderr)
            return EXIT_USAGE
    take_log_owner_identity(args.log_dir)
    names = args.runs or ["latest"]
    folders = []
    for name in names:
        folder = resolve(name, args.log_dir)
        if folder is None:
            hint = "no runs yet: start one with `docker compose up`" if name == "latest" else "no such run folder"
            print(f"analysis: {name}: {hint} (looked in . and {args.log_dir})", file=sys.stderr)
            return EXIT_USAGE
        folders.append(folder)
    summaries = []
    code = EXIT_OK
    for folder in folders:
        if len(folders) > 1 and not args.quiet:
            print(f"\n== {folder.name} ==")
        try:
            summary = analyse_folder(
                folder,
                not args.no_plots,
                args.quiet,
                shown(folder, args.log_dir),
                window=window,
                shiviz=not args.no_shiviz,
            )
        except OSError as error:  # unreadable folder or files, full disk: say so, go on
            print(f"{folder.name}: cannot analyse: {error}", file=sys.stderr)
            summary = None
        if summary is None:
            code = EXIT_NOTHING
        else:
            summaries.append(summary)
    if len(summaries) > 1 or args.compare_out:
        print("\n" + comparison_text(summaries))
        if args.compare_out:
            for path in write_comparison(summaries, args.compare_out):
                print(f"wrote {path}")
    return code


if __name__ == "__main__":
    sys.exit(main())

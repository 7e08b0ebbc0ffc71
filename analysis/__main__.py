"""`python -m analysis [RUN ...]`: the command line; the work is analysis.api's `analyse_and_write`.

RUN is a run folder, or a run name under LOG_DIR (default: $LOG_DIR, else ./logs); with no RUN,
the newest run (LOG_DIR/latest). Each run gets summary.json, summary.md, PNG plots (spacetime.png
for the window `--spacetime START:END`, default the first 10 s), explorer.html (the interactive
explorer; a run of more than 100,000 events shows the window `--explorer START:END`) and
shiviz.log in its own folder and a headline table on the terminal; with several runs, a
comparison table follows, and comparison.html shows the first two on one time axis (in
`--compare-out`, default LOG_DIR).

Exit codes: 0 every run analysed (problems in the input are reported, not fatal); 1 a run had
nothing that could be analysed, or could not be (one line says why, never a traceback); 2 a run
folder does not exist, is a link to a folder outside LOG_DIR, or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from analysis.api import analyse_and_write
from analysis.compare import comparison_text, write_comparison
from analysis.explorer import write_comparison_page
from analysis.window import Window, parse_window
from node.identity import take_log_owner_identity

EXIT_OK, EXIT_NOTHING, EXIT_USAGE = 0, 1, 2


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
    parser.add_argument(
        "--explorer",
        metavar="START:END",
        help="seconds since the first tick explorer.html holds, for runs of more than 100,000 events "
        "(default: the first 100,000)",
    )
    parser.add_argument("--no-explorer", action="store_true", help="skip explorer.html (and comparison.html)")
    parser.add_argument("--no-shiviz", action="store_true", help="skip shiviz.log (the ShiViz export)")
    parser.add_argument("--quiet", action="store_true", help="print only problems and the comparison")
    return parser.parse_args(argv)


def resolve(name: str, log_dir: Path) -> Path | None:
    """The run folder `name` names (itself, or under `log_dir`); None if neither is a folder.

    A symbolic link is followed only to a folder inside `log_dir` (`latest` is one): the analysis
    writes into the folder, and a link planted as a run must not lead it to write elsewhere.
    Raises ValueError (one line) for a link that leads out.
    """
    for candidate in (Path(name), log_dir / name):
        if candidate.is_dir():
            folder = candidate.resolve()
            if candidate.is_symlink() and not folder.is_relative_to(log_dir.resolve()):
                raise ValueError(f"a link to {folder}, outside {log_dir}: not analysed (name the folder itself)")
            return folder
    return None


def shown(folder: Path, log_dir: Path) -> str:
    """A run folder as the user knows it: logs/<run> for runs under LOG_DIR (also in a container)."""
    try:
        return str(Path(log_dir.resolve().name) / folder.relative_to(log_dir.resolve()))
    except ValueError:
        return str(folder)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    windows: dict[str, Window | None] = {}
    for option in ("spacetime", "explorer"):
        text = getattr(args, option)
        try:
            windows[option] = None if text is None else parse_window(text)
        except ValueError as error:
            print(f"analysis: --{option} {text!r}: {error}", file=sys.stderr)
            return EXIT_USAGE
    take_log_owner_identity(args.log_dir)
    names = args.runs or ["latest"]
    folders = []
    for name in names:
        try:
            folder = resolve(name, args.log_dir)
        except ValueError as error:
            print(f"analysis: {name}: {error}", file=sys.stderr)
            return EXIT_USAGE
        if folder is None:
            hint = "no runs yet: start one with `docker compose up`" if name == "latest" else "no such run folder"
            print(f"analysis: {name}: {hint} (looked in . and {args.log_dir})", file=sys.stderr)
            return EXIT_USAGE
        folders.append(folder)
    analyses = []
    code = EXIT_OK
    for folder in folders:
        if len(folders) > 1 and not args.quiet:
            print(f"\n== {folder.name} ==")
        try:
            analysis = analyse_and_write(
                folder,
                plots=not args.no_plots,
                shiviz=not args.no_shiviz,
                window=windows["spacetime"],
                explorer=not args.no_explorer,
                explorer_window=windows["explorer"],
                quiet=args.quiet,
                where=shown(folder, args.log_dir),
            )
        except OSError as error:  # unreadable folder or files, full disk: say so, go on
            print(f"{folder.name}: cannot analyse: {error}", file=sys.stderr)
            analysis = None
        except Exception as error:  # a bug the input found: one line, not a traceback, and go on
            what = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            print(f"{folder.name}: cannot analyse (a bug of the analysis, please report): {what}", file=sys.stderr)
            analysis = None
        if analysis is None:
            code = EXIT_NOTHING
        else:
            analyses.append(analysis)
    summaries = [a.summary for a in analyses]
    if len(summaries) > 1 or args.compare_out:
        print("\n" + comparison_text(summaries))
        if args.compare_out:
            for path in write_comparison(summaries, args.compare_out):
                print(f"wrote {path}")
    if len(analyses) > 1 and not args.no_explorer:
        out = args.compare_out or args.log_dir
        try:
            page = write_comparison_page(analyses, out, windows["explorer"])
        except OSError as error:
            print(f"analysis: cannot write comparison.html into {out}: {error}", file=sys.stderr)
            return EXIT_NOTHING
        print(f"compare the runs: open {shown(page, args.log_dir)} in a browser")
    return code


if __name__ == "__main__":
    sys.exit(main())

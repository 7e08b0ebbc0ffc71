"""The explorer's speed: writing explorer.html, then opening it and clicking events in headless Chromium.

`python -m bench.explorer` simulates three-node runs of about 10,000, 100,000 and 300,000 tick
events (the last is more than the page holds: it opens on the first 100,000), writes each one's
explorer.html with the analysis, and opens it RUNS times from disk in Debian's Chromium (bench.browser):

- time to first paint: from the navigation's start to the first frame after the page has parsed
  its data and drawn every view (`performance.now()` in the first requestAnimationFrame);
- click to highlight: from the mouse button going down on an event (a real click through
  WebDriver) to the frame after the causal past, future and concurrent sets are drawn in every
  view, CLICKS events per load zoomed to 0.4 s around the event, then one with the whole run in
  view (every event and series point drawn again);
- the page's size and the analysis's time to write it (data gathering and JSON included).

Medians with min and max; the figures go to bench/raw/explorer.json and the terminal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from typing import Any

from selenium.webdriver import Chrome

from analysis.api import load_and_analyse
from analysis.explorer import explorer_data, page
from bench.browser import chromium, click_event, open_page, zoom_around
from bench.options import RAW
from bench.progress import say
from node.simulation import cluster, write_simulation

RUNS = 3
CLICKS = 5
# ticks/s per node and seconds: about 10k, 100k and 300k tick events in all
SIZES = {"10k": ((40, 50, 60), 66.6), "100k": ((400, 500, 600), 66.6), "300k": ((1200, 1500, 1800), 66.6)}


def spread(values: list[float], digits: int = 1) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def timed_click(driver: Chrome, node: int, k: int) -> float:
    """Click the event; the page's own click-to-highlight time, ms (bench.browser's click, timed in the page)."""
    driver.execute_script("window.explorer.highlightMs = null")
    click_event(driver, node, k)
    deadline = time.monotonic() + 30
    while (ms := driver.execute_script("return window.explorer.highlightMs")) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no highlight 30 s after clicking event {k + 1} of line {node + 1}")
        time.sleep(0.01)
    return float(ms)


def measure(name: str, rates: tuple[int, ...], duration: float, runs: int = RUNS) -> dict[str, Any]:
    folder = RAW / f"explorer-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    sim = cluster(len(rates), seed=1, rates={f"node{i + 1}": r for i, r in enumerate(rates)}, duration=duration)
    write_simulation(sim, folder)
    analysis = load_and_analyse(folder)
    writes = []
    for _ in range(runs):
        started = time.perf_counter()
        data = explorer_data(analysis)
        text = page(f"Run {name}", "explorer", data)
        writes.append(time.perf_counter() - started)
    path = folder / "explorer.html"
    path.write_text(text)
    paints: list[float] = []
    clicks: list[float] = []
    whole: list[float] = []
    with chromium() as driver:
        for _ in range(runs):
            open_page(driver, path)
            paints.append(float(driver.execute_script("return window.explorer.firstPaintMs")))
            nodes = len(data["nodes"])
            for c in range(CLICKS):
                i = c % nodes
                k = (c + 1) * len(data["nodes"][i]["t"]) // (CLICKS + 2)
                zoom_around(driver, i, k, seconds=0.2)
                clicks.append(timed_click(driver, i, k))
            # Once more with the whole run in view: every event and series drawn again.
            driver.execute_script("window.explorer.all()")
            whole.append(timed_click(driver, 1, len(data["nodes"][1]["t"]) // 2))
    return {
        "events": analysis.summary["causality"]["events"],
        "shown": data["part"]["events"],
        "page_mb": round(path.stat().st_size / 1e6, 2),
        "write_s": spread(writes, 2),
        "first_paint_ms": spread(paints),
        "click_to_highlight_ms": spread(clicks),
        "click_whole_run_ms": spread(whole),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explorer", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"which runs (default {','.join(SIZES)})")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"page loads per run (default {RUNS})")
    args = parser.parse_args(argv)
    RAW.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in chosen if s not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r} (known: {', '.join(SIZES)})")
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "runs": args.runs, "clicks_per_load": CLICKS}
    for n, name in enumerate(chosen, 1):
        say(f"[{n}/{len(chosen)}] explorer for the {name} run: simulate, write, open {args.runs} times")
        row = measure(name, *SIZES[name], runs=args.runs)
        results[name] = row
        say(
            f"{name}: {row['events']:,} events ({row['shown']:,} shown), {row['page_mb']} MB, written in "
            f"{row['write_s']['median']} s; first paint {row['first_paint_ms']['median']} ms, "
            f"click to highlight {row['click_to_highlight_ms']['median']} ms "
            f"(min {row['click_to_highlight_ms']['min']}, max {row['click_to_highlight_ms']['max']}), "
            f"with the whole run in view {row['click_whole_run_ms']['median']} ms"
        )
    out = RAW / "explorer.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure which browser rendering approach can draw an interactive space-time diagram of a large run.

One job: write the same space-time diagram of one run (a horizontal line per node, every event a
marker at (time, node row), every matched message a segment from send to receive) as a
self-contained HTML file per candidate (Plotly SVG, Plotly WebGL, Bokeh canvas, a hand-written
2D canvas), load each in headless Chromium via Selenium, and report file size, time to first
paint, the latency of recolouring all markers (what a click-to-highlight does), the JS heap after
load and the console messages, as JSON and a Markdown table in --out.

Timings are taken in the page with performance.now(), whose zero is the navigation start:
`ready` is the moment the library says the chart is drawn (Plotly: the newPlot promise resolves;
Bokeh: its DocumentReady event, emitted when every root view has finished its first paint; canvas:
the draw call returns), `frame1`/`frame2` the first/second requestAnimationFrame callback after
it. frame2 starts only after the frame holding the chart went through style, layout and paint on
the main thread, so it is the headline figure. An update is timed from the call (colours computed
in JS included) to the second animation frame after the library's redraw (Plotly: restyle promise;
Bokeh: the plot view's `repainted` signal; canvas: redraw returns).

Plotly, Bokeh and Selenium are imported inside functions: they live in a separate venv, not the
project's (the explorer needs neither library). To measure again, from the repository root:

    python3 -m venv /tmp/render && /tmp/render/bin/pip install numpy orjson selenium plotly==7.1.0 bokeh==3.9.2
    python -m node.simulate --rates 500,400,300 --duration 84 --seed 7 --out /tmp/run100k
    PYTHONPATH=. /tmp/render/bin/python -m bench.render_choice /tmp/run100k --out /tmp/render-out
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from analysis.loader import load_run
from analysis.metrics import analyse

KIND_COLOURS = ("#1f77b4", "#ff7f0e", "#7f7f7f")  # receive, send, internal (analysis.loader codes 0, 1, 2)
WIDTH, HEIGHT = 1200, 400
REPEATS = 3
UPDATES = 5
LOAD_TIMEOUT_S = 300.0

# Common page-side harness: window.__bench holds the timings; __benchReady(t) is called by each page
# when its library says the chart is drawn; __benchUpdate(k) recolours and resolves with timings.
HARNESS_JS = """
window.__bench = {ready: null, frame1: null, frame2: null};
window.__benchReady = function (t) {
  if (window.__bench.ready !== null) return;
  window.__bench.ready = t;
  requestAnimationFrame(function () {
    window.__bench.frame1 = performance.now();
    requestAnimationFrame(function () { window.__bench.frame2 = performance.now(); });
  });
};
window.__highlight = function (x, k) {
  // the colours of a click-to-highlight: the events of a 10 s window red, the rest grey
  var lo = (k % 8) * 10, hi = lo + 10, out = new Array(x.length);
  for (var i = 0; i < x.length; i++) out[i] = (x[i] >= lo && x[i] < hi) ? "#d62728" : "#c7c7c7";
  return out;
};
window.__frames = function (t0, tApplied) {
  return new Promise(function (resolve) {
    requestAnimationFrame(function () {
      var f1 = performance.now();
      requestAnimationFrame(function () {
        var f2 = performance.now();
        resolve({applied: tApplied - t0, frame1: f1 - t0, frame2: f2 - t0});
      });
    });
  });
};
"""

PLOTLY_POST_JS = """
var gd = document.getElementById('{plot_id}');
window.__benchReady(performance.now());
window.__benchUpdate = function (k) {
  var t0 = performance.now();
  var x = gd._fullData[1].x;
  var colours = window.__highlight(x, k);
  return Plotly.restyle(gd, {'marker.color': [colours]}, [1]).then(function () {
    return window.__frames(t0, performance.now());
  });
};
"""

BOKEH_JS = """
window.__benchUpdate = function (k) {
  var t0 = performance.now();
  var doc = Bokeh.documents[0];
  var source = doc.get_model_by_name('events');
  var view = Bokeh.index.get(doc.roots()[0]);
  return new Promise(function (resolve) {
    var done = false;
    var slot = function () {
      if (done) return;
      done = true;
      view.repainted.disconnect(slot);
      resolve(window.__frames(t0, performance.now()));
    };
    view.repainted.connect(slot);
    var data = Object.assign({}, source.data);
    data.color = window.__highlight(data.x, k);
    source.data = data;
  });
};
"""

CANVAS_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>space-time (canvas)</title>
<script>__HARNESS__</script>
<style>body{margin:0;font:12px sans-serif} canvas{display:block}</style></head>
<body>
<canvas id="c" width="__W__" height="__H__"></canvas>
<script type="application/json" id="data">__DATA__</script>
<script>
(function () {
  var d = JSON.parse(document.getElementById('data').textContent);
  var x = d.x, row = d.row, seg = d.seg, n = x.length, nodes = d.nodes;
  var palette = ["#1f77b4", "#ff7f0e", "#7f7f7f", "#d62728", "#c7c7c7"];
  var colour = new Uint8Array(n);
  for (var i = 0; i < n; i++) colour[i] = d.kind[i];
  var canvas = document.getElementById('c'), ctx = canvas.getContext('2d');
  var W = canvas.width, H = canvas.height, left = 70, right = 10, top = 10, bottom = 30;
  var x0 = d.x_min, x1 = d.x_max, rows = nodes.length;
  function px(t) { return left + (t - x0) / (x1 - x0) * (W - left - right); }
  function py(r) { return top + (r + 0.5) / rows * (H - top - bottom); }
  function draw() {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    ctx.strokeStyle = "#ddd"; ctx.lineWidth = 1; ctx.fillStyle = "#000"; ctx.textBaseline = "middle";
    for (var r = 0; r < rows; r++) {
      ctx.beginPath(); ctx.moveTo(left, py(r)); ctx.lineTo(W - right, py(r)); ctx.stroke();
      ctx.fillText(nodes[r], 5, py(r));
    }
    ctx.textBaseline = "top";
    for (var t = Math.ceil(x0 / 10) * 10; t <= x1; t += 10) ctx.fillText(String(t), px(t) - 5, H - bottom + 8);
    var p = new Path2D();
    for (var s = 0; s < seg.length; s += 4) {
      p.moveTo(px(seg[s]), py(seg[s + 1]));
      p.lineTo(px(seg[s + 2]), py(seg[s + 3]));
    }
    ctx.strokeStyle = "rgba(0,0,0,0.25)"; ctx.stroke(p);
    for (var c = 0; c < palette.length; c++) {
      ctx.fillStyle = palette[c];
      for (var i = 0; i < n; i++) if (colour[i] === c) ctx.fillRect(px(x[i]) - 1.5, py(row[i]) - 1.5, 3, 3);
    }
  }
  function recolour(k) {
    var lo = (k % 8) * 10, hi = lo + 10;
    for (var i = 0; i < n; i++) colour[i] = (x[i] >= lo && x[i] < hi) ? 3 : 4;
  }
  draw();
  window.__benchReady(performance.now());
  window.__benchUpdate = function (k) {
    var t0 = performance.now();
    recolour(k);
    draw();
    return window.__frames(t0, performance.now());
  };
})();
</script></body></html>
"""


@dataclass
class Diagram:
    """The diagram's data: events (time since the first tick, node row, kind) and message segments."""

    nodes: list[str]
    x: np.ndarray[Any, np.dtype[np.float64]]
    row: np.ndarray[Any, np.dtype[np.int64]]
    kind: np.ndarray[Any, np.dtype[np.int64]]
    seg_x0: np.ndarray[Any, np.dtype[np.float64]]
    seg_y0: np.ndarray[Any, np.dtype[np.float64]]
    seg_x1: np.ndarray[Any, np.dtype[np.float64]]
    seg_y1: np.ndarray[Any, np.dtype[np.float64]]

    @property
    def colours(self) -> list[str]:
        return [KIND_COLOURS[k] for k in self.kind.tolist()]

    def gapped(self) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
        """Segments as one polyline broken by NaN gaps (x0, x1, nan, ...), as Plotly draws many segments."""
        n = self.seg_x0.size
        xs = np.full(3 * n, np.nan)
        ys = np.full(3 * n, np.nan)
        xs[0::3], xs[1::3] = self.seg_x0, self.seg_x1
        ys[0::3], ys[1::3] = self.seg_y0, self.seg_y1
        return xs, ys


def load_diagram(folder: Path) -> Diagram:
    """The events and matched messages of the run in `folder`, from the project's analysis."""
    a = analyse(load_run(folder))
    c = a.causality
    if c is None:
        raise SystemExit(f"{folder}: no causality analysis (no events?)")
    origin = a.summary["run"]["first_tick_ts"] or 0.0
    xs = [line.ts - origin for line in c.lines]
    starts = np.cumsum([0] + [v.size for v in xs])
    x = np.concatenate(xs)
    row = np.concatenate([np.full(v.size, i, dtype=np.int64) for i, v in enumerate(xs)])
    kind = np.concatenate([line.kind for line in c.lines]).astype(np.int64)
    send = starts[c.sender] + c.send
    receive = starts[c.receiver] + c.receive
    return Diagram(
        nodes=[line.node for line in c.lines],
        x=x,
        row=row,
        kind=kind,
        seg_x0=x[send],
        seg_y0=row[send].astype(np.float64),
        seg_x1=x[receive],
        seg_y1=row[receive].astype(np.float64),
    )


def write_plotly(d: Diagram, path: Path, *, webgl: bool) -> None:
    import plotly.graph_objects as go  # type: ignore[import-not-found]  # noqa: PLC0415 (optional venv)

    trace = go.Scattergl if webgl else go.Scatter
    sx, sy = d.gapped()
    fig = go.Figure(
        [
            trace(x=sx, y=sy, mode="lines", line={"color": "rgba(0,0,0,0.25)", "width": 1}, hoverinfo="skip"),
            trace(x=d.x, y=d.row, mode="markers", marker={"color": d.colours, "size": 4}),
        ]
    )
    fig.update_layout(
        width=WIDTH,
        height=HEIGHT,
        showlegend=False,
        margin={"l": 70, "r": 10, "t": 10, "b": 30},
        yaxis={"tickvals": list(range(len(d.nodes))), "ticktext": d.nodes, "autorange": "reversed"},
    )
    html = fig.to_html(include_plotlyjs=True, full_html=True, post_script=PLOTLY_POST_JS, config={"responsive": False})
    html = html.replace("<head>", f"<head><script>{HARNESS_JS}</script>", 1)
    path.write_text(html, encoding="utf-8")


def write_bokeh(d: Diagram, path: Path) -> None:
    from bokeh.document import Document  # type: ignore[import-not-found]  # noqa: PLC0415 (optional venv)
    from bokeh.embed import file_html  # type: ignore[import-not-found]  # noqa: PLC0415 (optional venv)
    from bokeh.models import ColumnDataSource, CustomJS  # type: ignore[import-not-found]  # noqa: PLC0415 (optional venv)
    from bokeh.plotting import figure  # type: ignore[import-not-found]  # noqa: PLC0415 (optional venv)
    from bokeh.resources import INLINE  # type: ignore[import-not-found]  # noqa: PLC0415 (optional venv)

    p = figure(width=WIDTH, height=HEIGHT, tools="pan,xwheel_zoom,box_zoom,reset,tap", output_backend="canvas")
    p.y_range.flipped = True
    p.yaxis.ticker = list(range(len(d.nodes)))
    p.yaxis.major_label_overrides = dict(enumerate(d.nodes))
    segments = ColumnDataSource({"x0": d.seg_x0, "y0": d.seg_y0, "x1": d.seg_x1, "y1": d.seg_y1})
    events = ColumnDataSource({"x": d.x, "y": d.row.astype(np.float64), "color": d.colours}, name="events")
    p.segment("x0", "y0", "x1", "y1", source=segments, line_color="black", line_alpha=0.25, line_width=1)
    p.scatter("x", "y", source=events, color="color", size=4, marker="circle")
    doc = Document()
    doc.add_root(p)
    # DocumentReady: emitted by Document.notify_idle once every root view has finished its first paint
    doc.js_on_event("document_ready", CustomJS(code="window.__benchReady(performance.now());"))
    html = file_html(doc, resources=INLINE, title="space-time (bokeh)")
    html = html.replace("<head>", f"<head><script>{HARNESS_JS}{BOKEH_JS}</script>", 1)
    path.write_text(html, encoding="utf-8")


def write_canvas(d: Diagram, path: Path) -> None:
    seg = np.column_stack([d.seg_x0, d.seg_y0, d.seg_x1, d.seg_y1]).ravel()
    data = {
        "nodes": d.nodes,
        "x_min": 0.0,
        "x_max": float(d.x.max()),
        "x": d.x,
        "row": d.row,
        "kind": d.kind,
        "seg": seg,
    }
    text = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("</", "<\\/")
    html = (
        CANVAS_HTML.replace("__HARNESS__", HARNESS_JS)
        .replace("__W__", str(WIDTH))
        .replace("__H__", str(HEIGHT))
        .replace("__DATA__", text)
    )
    path.write_text(html, encoding="utf-8")


WRITERS: dict[str, Callable[[Diagram, Path], None]] = {
    "plotly-svg": lambda d, p: write_plotly(d, p, webgl=False),
    "plotly-webgl": lambda d, p: write_plotly(d, p, webgl=True),
    "bokeh-canvas": write_bokeh,
    "canvas2d": write_canvas,
}

WEBGL_PROBE_JS = """
var c = document.createElement('canvas'), gl = c.getContext('webgl');
if (!gl) return null;
var ext = gl.getExtension('WEBGL_debug_renderer_info');
return ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
"""

UPDATE_JS = """
var done = arguments[arguments.length - 1];
window.__benchUpdate(arguments[0]).then(done, function (e) { done({error: String(e)}); });
"""


def new_driver(extra_args: list[str]) -> Any:
    from selenium import webdriver  # noqa: PLC0415 (optional venv)
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 (optional venv)

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--enable-precise-memory-info",
        *extra_args,
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(LOAD_TIMEOUT_S)
    driver.set_script_timeout(LOAD_TIMEOUT_S)
    return driver


def measure(path: Path, extra_args: list[str], shot: Path | None) -> dict[str, Any]:
    """One fresh browser: load `path`, wait for the first paint, time UPDATES recolourings."""
    driver = new_driver(extra_args)
    try:
        start = time.monotonic()
        driver.get(path.resolve().as_uri())
        bench: dict[str, Any] = {}
        while time.monotonic() - start < LOAD_TIMEOUT_S:
            bench = driver.execute_script("return window.__bench || {};")
            if bench.get("frame2") is not None:
                break
            time.sleep(0.05)
        else:
            return {"error": "no first paint", "bench": bench, "log": driver.get_log("browser")}
        nav = driver.execute_script(
            "var n = performance.getEntriesByType('navigation')[0];"
            "return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd};"
        )
        heap = driver.execute_script("return performance.memory.usedJSHeapSize;")
        if shot is not None:
            driver.save_screenshot(str(shot))
        updates = [driver.execute_async_script(UPDATE_JS, k + 1) for k in range(UPDATES)]
        return {
            "ready_ms": bench["ready"],
            "frame1_ms": bench["frame1"],
            "frame2_ms": bench["frame2"],
            "dcl_ms": nav["dcl"],
            "load_ms": nav["load"],
            "heap_mb": heap / 1e6,
            "updates": updates,
            "update_frame2_ms": statistics.median(u["frame2"] for u in updates if "frame2" in u)
            if all("frame2" in u for u in updates)
            else None,
            "log": driver.get_log("browser"),  # before the probe below, which logs a WebGL warning of its own
            "webgl": driver.execute_script(WEBGL_PROBE_JS),
        }
    finally:
        driver.quit()


def med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(v: float | None, digits: int = 0) -> str:
    return "fail" if v is None else f"{v:,.{digits}f}"


def short(entry: dict[str, Any]) -> str:
    """A console entry without its URL, line and WebGL context address, cut to 80 characters."""
    text = re.sub(r"^\S+ (\d+(:\d+)?|-) ", "", entry["message"])
    text = re.sub(r"\[\.?WebGL-0x[0-9a-f]+\]|\[\]", "", text)
    return f"{entry['level']}: {text[:80]}"


def table(results: dict[str, Any]) -> str:
    head = (
        "| candidate | file MB | first paint ms (ready / +1 rAF / +2 rAF) | update ms (applied / +2 rAF) "
        "| JS heap MB | console warnings/errors |\n|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, r in results["candidates"].items():
        runs = r["runs"]
        ups = [u for run in runs for u in run.get("updates", []) if "frame2" in u]
        applied = statistics.median(u["applied"] for u in ups) if ups else None
        msgs = sorted({short(m) for run in runs for m in run.get("log", []) if m["level"] != "INFO"})
        rows.append(
            f"| {name} | {r['size_mb']:.1f} | {fmt(med(runs, 'ready_ms'))} / {fmt(med(runs, 'frame1_ms'))} / "
            f"{fmt(med(runs, 'frame2_ms'))} | {fmt(applied)} / {fmt(med(runs, 'update_frame2_ms'))} | "
            f"{fmt(med(runs, 'heap_mb'), 1)} | {'; '.join(msgs) or 'none'} |"
        )
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("run", type=Path, help="run folder (node logs)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the HTML files, results.json, table.md")
    parser.add_argument("--only", default="", help="comma-separated candidates (default: all)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--chrome-arg", action="append", default=[], help="extra Chromium flag (repeatable)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or list(WRITERS)
    d = load_diagram(args.run)
    print(f"{d.x.size:,} events, {d.seg_x0.size:,} messages, {len(d.nodes)} nodes", file=sys.stderr)
    results: dict[str, Any] = {
        "run": str(args.run),
        "events": int(d.x.size),
        "messages": int(d.seg_x0.size),
        "chrome_args": args.chrome_arg,
        "candidates": {},
    }
    for name in names:
        path = args.out / f"{name}.html"
        t = time.perf_counter()
        WRITERS[name](d, path)
        results["candidates"][name] = {
            "file": str(path),
            "size_mb": path.stat().st_size / 1e6,
            "write_s": time.perf_counter() - t,
            "runs": [],
        }
    for rep in range(args.repeats):  # round-robin, so a load spike on the shared machine hits all alike
        for name in names:
            c = results["candidates"][name]
            shot = args.out / f"{name}.png" if rep == 0 else None
            run = measure(Path(c["file"]), args.chrome_arg, shot)
            c["runs"].append(run)
            print(
                f"{name} #{rep + 1}: first paint {run.get('frame2_ms')} ms, update {run.get('update_frame2_ms')} ms",
                file=sys.stderr,
            )
    (args.out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    md = table(results)
    (args.out / "table.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

// explorer.html / comparison.html: draws a run on 2D canvases and answers hovers, clicks and keys.
// The data comes from analysis/explorer.py as JSON in #explorer-data; nothing is fetched.
// Text from the logs is only ever put into the page with textContent (never as markup).
"use strict";
(function () {
  const KINDS = ["receive", "send", "internal"];
  const RECEIVE = 0, SEND = 1;
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  const NODE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"];
  const PAST = "#0072B2", FUTURE = "#E69F00", FALSE_ORDER = "#CC79A7", CONCURRENT = "#b8b8b8", BAD = "#D55E00";
  const PLAIN = "#3a3a3a", ARROW = "rgba(90,90,90,0.55)";
  const NONE = 0, IN_PAST = 1, IN_FUTURE = 2, IS_CONCURRENT = 3, IS_FALSE = 4, SELECTED = 5;
  const HEAVY = 30000; // events held beyond which the time cursor is not drawn (a redraw per mouse move)
  const MAX_ARROWS = 4000; // messages drawn at once; beyond, the page asks to zoom in
  const LEFT = 118, RIGHT = 14, TOP = 10, AXIS = 26, ROW = 56;

  const $ = (id) => document.getElementById(id);
  const fmtInt = (n) => Number(n).toLocaleString("en-US");

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  // Index of the first element of sorted `arr` >= v (arr: any array-like, nondecreasing).
  function lowerBound(arr, v, lo, hi) {
    lo = lo === undefined ? 0 : lo;
    hi = hi === undefined ? arr.length : hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (arr[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // ---------------------------------------------------------------- the data, as typed arrays
  function prepare(data) {
    const nodes = data.nodes.map((n, i) => {
      const t = Float64Array.from(n.t);
      // Times may step back (system time): searches use the running maximum.
      const tMax = new Float64Array(t.length);
      let m = -Infinity;
      for (let k = 0; k < t.length; k++) { m = Math.max(m, t[k]); tMax[k] = m; }
      return {
        index: i, name: n.name, rate: n.rate, offset: n.offset, total: n.total,
        label: n.rate === null ? n.name : `${n.name} (${n.rate}/s)`,
        colour: NODE_COLOURS[i % NODE_COLOURS.length],
        t, tMax, clock: Float64Array.from(n.clock), kind: Uint8Array.from(n.kind),
        queue: Float64Array.from(n.queue), late: Float64Array.from(n.late), inc: Int32Array.from(n.inc),
        gap: Float64Array.from(n.gap), who: Int32Array.from(n.who), names: n.names,
        vc: n.vc.map((col) => Float64Array.from(col)),
        state: new Uint8Array(n.t.length), bad: new Uint8Array(n.t.length),
        msgOfSend: new Map(), msgOfTake: new Map(),
      };
    });
    const msg = data.messages;
    const messages = {
      from: Int32Array.from(msg.from), send: Int32Array.from(msg.send), to: Int32Array.from(msg.to),
      take: Int32Array.from(msg.take), value: Float64Array.from(msg.value), enq: Float64Array.from(msg.enq),
    };
    for (let m = 0; m < messages.from.length; m++) {
      const s = nodes[messages.from[m]].msgOfSend;
      const key = messages.send[m];
      if (!s.has(key)) s.set(key, []);
      s.get(key).push(m);
      nodes[messages.to[m]].msgOfTake.set(messages.take[m], m);
    }
    let t0 = Infinity, t1 = -Infinity;
    for (const n of nodes) {
      if (n.t.length) { t0 = Math.min(t0, n.t[0]); t1 = Math.max(t1, n.tMax[n.t.length - 1]); }
    }
    if (!(t1 > t0)) { t0 = isFinite(t0) ? t0 - 0.5 : 0; t1 = t0 + 1; }
    const run = { data, nodes, messages, t0, t1, selected: null, hoverMsg: -1 };
    for (const v of (data.violations ? data.violations.listed : [])) {
      const n = nodes[v.node], p = v.pos - n.offset;
      if (p >= 0 && p < n.t.length) n.bad[p] = 1;
    }
    return run;
  }

  // ---------------------------------------------------------------- causality from vector clocks
  // Event p of line i against every event shown: the page's answer to a click (analysis.causality.relation).
  function relate(run, i, p) {
    const e = run.nodes[i];
    const own = e.offset + p + 1; // its own entry in its vector clock
    const clock = e.clock[p];
    const out = { past: 0, future: 0, concurrent: 0, falseBefore: 0, falseAfter: 0 };
    for (const n of run.nodes) {
      const size = n.t.length;
      if (n === e) {
        n.state.fill(IN_PAST, 0, p); n.state.fill(IN_FUTURE, p + 1, size); n.state[p] = SELECTED;
        out.past += p; out.future += size - p - 1;
        continue;
      }
      const before = Math.min(Math.max(e.vc[n.index][p] - n.offset, 0), size);
      const after = Math.max(before, lowerBound(n.vc[i], own));
      n.state.fill(IN_PAST, 0, before); n.state.fill(IN_FUTURE, after, size);
      out.past += before; out.future += size - after;
      for (let k = before; k < after; k++) {
        const c = n.clock[k];
        if (c < clock) { out.falseBefore++; n.state[k] = IS_FALSE; }
        else if (c > clock) { out.falseAfter++; n.state[k] = IS_FALSE; }
        else n.state[k] = IS_CONCURRENT;
      }
      out.concurrent += after - before;
    }
    return out;
  }

  // ---------------------------------------------------------------- shared time axis
  class Axis {
    constructor(t0, t1) { this.full = [t0, t1]; this.x0 = t0; this.x1 = t1; this.views = []; this.onchange = []; }
    set(a, b) {
      const span = this.full[1] - this.full[0];
      const min = Math.max(span * 1e-7, 1e-6);
      if (b - a < min) { const mid = (a + b) / 2; a = mid - min / 2; b = mid + min / 2; }
      const pad = span * 0.02;
      if (b - a > span + 2 * pad) { a = this.full[0] - pad; b = this.full[1] + pad; }
      this.x0 = a; this.x1 = b;
      this.redraw();
      for (const f of this.onchange) f();
    }
    zoom(factor, centre) {
      const c = centre === undefined ? (this.x0 + this.x1) / 2 : centre;
      this.set(c - (c - this.x0) * factor, c + (this.x1 - c) * factor);
    }
    all() { const pad = (this.full[1] - this.full[0]) * 0.02; this.set(this.full[0] - pad, this.full[1] + pad); }
    show(t) { // keep time t in view, moving as little as possible
      const w = this.x1 - this.x0, margin = w * 0.05;
      if (t < this.x0 + margin) this.set(t - margin, t - margin + w);
      else if (t > this.x1 - margin) this.set(t + margin - w, t + margin);
    }
    redraw() { for (const v of this.views) v.draw(); }
  }

  function niceTicks(a, b, count, minStep) {
    const span = b - a;
    if (!(span > 0)) return [];
    const raw = Math.max(span / count, minStep || 0), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((s) => s * mag).find((s) => s >= raw) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(a / step) * step; v <= b; v += step) out.push(v);
    return out;
  }

  function fmtSeconds(v, span) {
    const digits = Math.max(0, Math.min(6, Math.ceil(-Math.log10(span / 10))));
    return `${v.toFixed(digits)} s`;
  }

  function setupCanvas(canvas, height) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.parentElement.clientWidth || 800;
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx, width, height };
  }

  function drawTimeAxis(ctx, axis, width, y) {
    const ticks = niceTicks(axis.x0, axis.x1, Math.max(2, Math.floor((width - LEFT) / 110)));
    ctx.fillStyle = "#555"; ctx.strokeStyle = "#ccc"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center";
    ctx.beginPath(); ctx.moveTo(LEFT, y); ctx.lineTo(width - RIGHT, y); ctx.stroke();
    for (const v of ticks) {
      const x = LEFT + (v - axis.x0) / (axis.x1 - axis.x0) * (width - LEFT - RIGHT);
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, y + 4); ctx.stroke();
      ctx.fillText(fmtSeconds(v, axis.x1 - axis.x0), x, y + 15);
    }
  }

  // ---------------------------------------------------------------- a canvas on the shared time axis
  // What the diagram and the linked views have in common: x <-> time, redrawn with the axis, wheel zoom.
  class TimeView {
    constructor(canvas, run, axis, ui) {
      this.canvas = canvas; this.run = run; this.axis = axis; this.ui = ui;
      axis.views.push(this);
      canvas.addEventListener("wheel", (ev) => {
        ev.preventDefault();
        const r = canvas.getBoundingClientRect();
        this.axis.zoom(ev.deltaY > 0 ? 1.25 : 0.8, this.time(ev.clientX - r.left));
      }, { passive: false });
    }
    x(t) { return LEFT + (t - this.axis.x0) / (this.axis.x1 - this.axis.x0) * (this.w - LEFT - RIGHT); }
    time(x) { return this.axis.x0 + (x - LEFT) / (this.w - LEFT - RIGHT) * (this.axis.x1 - this.axis.x0); }
  }

  // ---------------------------------------------------------------- the space-time diagram
  class Diagram extends TimeView {
    constructor(canvas, run, axis, ui) {
      super(canvas, run, axis, ui);
      this.focus = null; // [node, position] the keys move
      this.mark = null; // a time marked with a dashed line (where two runs part)
      this.arrowsDrawn = false;
      this.listen();
    }
    y(i) { return TOP + (i + 0.5) * ROW; }
    visible(n) {
      const a = lowerBound(n.tMax, this.axis.x0 - 1e-9);
      const b = lowerBound(n.tMax, this.axis.x1 + 1e-9);
      return [a, b];
    }
    draw() {
      const run = this.run;
      const { ctx, width, height } = setupCanvas(this.canvas, TOP + ROW * run.nodes.length + AXIS);
      this.w = width; this.h = height;
      ctx.clearRect(0, 0, width, height);
      ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (const n of run.nodes) {
        const y = this.y(n.index);
        ctx.fillStyle = n.colour; ctx.fillRect(6, y - 5, 10, 10);
        ctx.fillStyle = "#222"; ctx.fillText(n.label, LEFT - 8, y);
        ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(LEFT, y); ctx.lineTo(width - RIGHT, y); ctx.stroke();
      }
      ctx.textBaseline = "alphabetic";
      drawTimeAxis(ctx, this.axis, width, height - AXIS + 4);
      ctx.save();
      ctx.beginPath(); ctx.rect(LEFT - 6, 0, width - LEFT - RIGHT + 12, height - AXIS + 2); ctx.clip();
      const ranges = run.nodes.map((n) => this.visible(n));
      const shown = ranges.reduce((s, [a, b]) => s + b - a, 0);
      this.drawMessages(ctx, shown);
      this.drawEvents(ctx, ranges, shown);
      if (this.mark !== null) {
        const x = this.x(this.mark);
        ctx.strokeStyle = BAD; ctx.setLineDash([5, 4]); ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, height - AXIS); ctx.stroke(); ctx.setLineDash([]);
      }
      ctx.restore();
      if (this.ui.cursor !== null) {
        const x = this.x(this.ui.cursor);
        ctx.strokeStyle = "rgba(0,0,0,0.25)"; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, height - AXIS); ctx.stroke();
      }
    }
    drawMessages(ctx, shown) {
      const run = this.run, m = run.messages, nodes = run.nodes;
      const heads = shown < 1500;
      const x0 = this.axis.x0, x1 = this.axis.x1;
      ctx.lineWidth = 1;
      ctx.strokeStyle = ARROW;
      ctx.beginPath();
      const headsAt = [];
      let count = 0;
      for (let k = 0; k < m.from.length; k++) {
        const a = nodes[m.from[k]], b = nodes[m.to[k]];
        const ts = a.t[m.send[k]], tt = b.t[m.take[k]];
        if ((ts < x0 && tt < x0) || (ts > x1 && tt > x1)) continue;
        const xs = this.x(ts), ys = this.y(a.index), xt = this.x(tt), yt = this.y(b.index);
        count++;
        if (count > MAX_ARROWS) continue;
        ctx.moveTo(xs, ys); ctx.lineTo(xt, yt);
        if (heads) headsAt.push([xs, ys, xt, yt]);
      }
      this.arrowsDrawn = count <= MAX_ARROWS;
      if (this.arrowsDrawn) {
        ctx.stroke();
        ctx.fillStyle = ARROW;
        for (const [xs, ys, xt, yt] of headsAt) arrowHead(ctx, xs, ys, xt, yt);
      } else { // a solid grey band says nothing: ask to zoom in instead
        ctx.fillStyle = "#666"; ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = "left";
        ctx.fillText(`${fmtInt(count)} messages in view: zoom in (scroll, or drag across a view below) to draw them`, LEFT + 4, TOP + 2 + ROW * nodes.length - 6);
      }
      if (run.hoverMsg >= 0) {
        const k = run.hoverMsg, a = nodes[m.from[k]], b = nodes[m.to[k]];
        const xs = this.x(a.t[m.send[k]]), ys = this.y(a.index), xt = this.x(b.t[m.take[k]]), yt = this.y(b.index);
        ctx.strokeStyle = "#000"; ctx.fillStyle = "#000"; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(xs, ys); ctx.lineTo(xt, yt); ctx.stroke();
        arrowHead(ctx, xs, ys, xt, yt);
        ctx.lineWidth = 1;
      }
    }
    drawEvents(ctx, ranges, shown) {
      const run = this.run, sel = run.selected !== null;
      const size = shown > 20000 ? 2 : shown > 3000 ? 3 : 4.5;
      const widest = Math.max(...ranges.map(([a, b]) => b - a));
      const labels = widest <= (this.w - LEFT - RIGHT) / 22; // room for a clock number per event
      const colourOf = [PLAIN, PAST, FUTURE, CONCURRENT, FALSE_ORDER, "#000"];
      ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "center";
      for (const n of run.nodes) {
        const [a, b] = ranges[n.index];
        const y = this.y(n.index);
        for (let k = a; k < b; k++) {
          const x = this.x(n.t[k]);
          const state = sel ? n.state[k] : NONE;
          ctx.fillStyle = colourOf[state];
          const kind = n.kind[k];
          if (size <= 2) { ctx.fillRect(x - 1, y - 1, 2, 2); }
          else if (kind === RECEIVE) { ctx.beginPath(); ctx.arc(x, y, size, 0, 2 * Math.PI); ctx.fill(); }
          else if (kind === SEND) { ctx.beginPath(); ctx.moveTo(x - size, y + size); ctx.lineTo(x + size, y + size); ctx.lineTo(x, y - size); ctx.closePath(); ctx.fill(); }
          else { ctx.fillRect(x - size * 0.6, y - size * 0.6, size * 1.2, size * 1.2); }
          if (state === IS_FALSE && size > 2) {
            ctx.strokeStyle = FALSE_ORDER; ctx.lineWidth = 2;
            ctx.beginPath(); ctx.arc(x, y, size + 3, 0, 2 * Math.PI); ctx.stroke(); ctx.lineWidth = 1;
          }
          if (n.bad[k]) {
            ctx.strokeStyle = BAD; ctx.lineWidth = 2;
            ctx.strokeRect(x - size - 3, y - size - 3, 2 * size + 6, 2 * size + 6); ctx.lineWidth = 1;
          }
          if (labels) {
            const jump = k > 0 ? n.clock[k] - n.clock[k - 1] : 1;
            ctx.fillStyle = jump > 1 ? BAD : "#333";
            ctx.font = jump > 1 ? "bold 11px system-ui, sans-serif" : "10px system-ui, sans-serif";
            ctx.fillText(String(n.clock[k]), x, y - size - 5);
          }
        }
      }
      const f = this.focus;
      if (f !== null) {
        const n = run.nodes[f[0]];
        if (f[1] < n.t.length) {
          const x = this.x(n.t[f[1]]), y = this.y(f[0]);
          ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
          ctx.beginPath(); ctx.arc(x, y, Math.max(size, 3) + 5, 0, 2 * Math.PI); ctx.stroke(); ctx.lineWidth = 1;
        }
      }
    }
    // The event within 9 px of (x, y), else the message line within 4 px: ["event", i, k] / ["message", m] / null.
    hit(x, y) {
      const run = this.run;
      const i = Math.floor((y - TOP) / ROW);
      let best = null, bestD = 9;
      if (i >= 0 && i < run.nodes.length && Math.abs(y - this.y(i)) < 12) {
        const n = run.nodes[i], t = this.time(x), slack = (this.axis.x1 - this.axis.x0) * 9 / (this.w - LEFT - RIGHT);
        const a = lowerBound(n.tMax, t - slack);
        for (let k = a; k < n.t.length && n.t[k] <= t + slack; k++) {
          const d = Math.abs(this.x(n.t[k]) - x);
          if (d < bestD) { bestD = d; best = ["event", i, k]; }
        }
      }
      if (best || !this.arrowsDrawn) return best;
      const m = run.messages, nodes = run.nodes;
      let msgD = 4, found = -1;
      for (let k = 0; k < m.from.length; k++) {
        const a = nodes[m.from[k]], b = nodes[m.to[k]];
        const xs = this.x(a.t[m.send[k]]), xt = this.x(b.t[m.take[k]]);
        if (Math.max(xs, xt) < x - 4 || Math.min(xs, xt) > x + 4) continue;
        const d = segmentDistance(x, y, xs, this.y(a.index), xt, this.y(b.index));
        if (d < msgD) { msgD = d; found = k; }
      }
      return found >= 0 ? ["message", found] : null;
    }
    point(i, k) { // the event's position in the page (CSS pixels), for tests and the keyboard
      const r = this.canvas.getBoundingClientRect();
      return { x: r.left + this.x(this.run.nodes[i].t[k]), y: r.top + this.y(i) };
    }
    listen() {
      const c = this.canvas;
      let drag = null;
      c.addEventListener("mousedown", (ev) => {
        drag = { x: ev.clientX, x0: this.axis.x0, x1: this.axis.x1, moved: false, stamp: ev.timeStamp };
      });
      window.addEventListener("mousemove", (ev) => {
        if (drag && Math.abs(ev.clientX - drag.x) > 3) {
          drag.moved = true;
          c.style.cursor = "grabbing";
          const dt = (ev.clientX - drag.x) / (this.w - LEFT - RIGHT) * (drag.x1 - drag.x0);
          this.axis.set(drag.x0 - dt, drag.x1 - dt);
        }
      });
      window.addEventListener("mouseup", (ev) => {
        if (!drag) return;
        const wasDrag = drag.moved, stamp = drag.stamp;
        drag = null; c.style.cursor = "";
        if (wasDrag || ev.target !== c) return;
        const r = c.getBoundingClientRect();
        const h = this.hit(ev.clientX - r.left, ev.clientY - r.top);
        if (h && h[0] === "event") { this.select(h[1], h[2], stamp); c.focus({ preventScroll: true }); }
      });
      c.addEventListener("mousemove", (ev) => {
        if (drag && drag.moved) return;
        const r = c.getBoundingClientRect();
        const x = ev.clientX - r.left, y = ev.clientY - r.top;
        const h = this.hit(x, y);
        const before = this.run.hoverMsg;
        this.run.hoverMsg = h && h[0] === "message" ? h[1] : -1;
        this.ui.cursor = x >= LEFT ? this.time(x) : null;
        if (h && h[0] === "event") this.ui.tooltip(eventFields(this.run, h[1], h[2]), ev.clientX, ev.clientY);
        else if (h) this.ui.tooltip(messageFields(this.run, h[1]), ev.clientX, ev.clientY);
        else this.ui.tooltip(null);
        this.ui.redrawAll(before !== this.run.hoverMsg);
      });
      c.addEventListener("mouseleave", () => {
        this.ui.tooltip(null); this.ui.cursor = null;
        const changed = this.run.hoverMsg >= 0;
        this.run.hoverMsg = -1;
        this.ui.redrawAll(changed);
      });
      c.addEventListener("keydown", (ev) => this.key(ev));
    }
    select(i, k, stamp) {
      const run = this.run;
      const counts = relate(run, i, k);
      run.selected = [i, k];
      this.focus = [i, k];
      this.axis.show(run.nodes[i].t[k]);
      this.axis.redraw();
      this.ui.selected(this, i, k, counts);
      if (stamp !== undefined) {
        requestAnimationFrame(() => { window.explorer.highlightMs = performance.now() - stamp; });
      }
    }
    clear() {
      this.run.selected = null; this.focus = null;
      this.axis.redraw();
      this.ui.selected(this, -1, -1, null);
    }
    key(ev) {
      const run = this.run;
      let [i, k] = this.focus || run.selected || [0, -1];
      const n = run.nodes[i];
      let handled = true;
      switch (ev.key) {
        case "ArrowRight": k = Math.min(k + 1, n.t.length - 1); break;
        case "ArrowLeft": k = Math.max(k - 1, 0); break;
        case "ArrowUp": case "ArrowDown": {
          const j = Math.min(Math.max(i + (ev.key === "ArrowUp" ? -1 : 1), 0), run.nodes.length - 1);
          const t = k >= 0 && k < n.t.length ? n.t[k] : this.axis.x0;
          const m = run.nodes[j];
          let c = Math.min(lowerBound(m.tMax, t), m.t.length - 1);
          if (c > 0 && Math.abs(m.t[c - 1] - t) <= Math.abs(m.t[c] - t)) c -= 1;
          i = j; k = c; break;
        }
        case "m": case "M": { // follow the message: from a send to its receive, from a receive to its send
          const ms = run.messages;
          const sends = n.msgOfSend.get(k);
          const taken = n.msgOfTake.get(k);
          if (sends && sends.length) { const q = sends[0]; i = ms.to[q]; k = ms.take[q]; }
          else if (taken !== undefined) { i = ms.from[taken]; k = ms.send[taken]; }
          break;
        }
        case "Home": this.axis.all(); return;
        case "+": case "=": this.axis.zoom(0.5); break;
        case "-": this.axis.zoom(2); break;
        case "Escape": this.clear(); return;
        default: handled = false;
      }
      if (!handled) return;
      ev.preventDefault();
      if (k >= 0 && k < run.nodes[i].t.length && !["+", "=", "-"].includes(ev.key)) this.select(i, k);
    }
  }

  function arrowHead(ctx, xs, ys, xt, yt) {
    const angle = Math.atan2(yt - ys, xt - xs), len = 7;
    ctx.beginPath();
    ctx.moveTo(xt, yt);
    ctx.lineTo(xt - len * Math.cos(angle - 0.4), yt - len * Math.sin(angle - 0.4));
    ctx.lineTo(xt - len * Math.cos(angle + 0.4), yt - len * Math.sin(angle + 0.4));
    ctx.closePath(); ctx.fill();
  }

  function segmentDistance(px, py, ax, ay, bx, by) {
    const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    const u = len2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
    return Math.hypot(px - (ax + u * dx), py - (ay + u * dy));
  }

  function systemTime(run, t) {
    const seconds = run.data.run.origin + t;
    const iso = new Date(Math.floor(seconds * 1000)).toISOString();
    const micro = String(Math.round((seconds * 1e6) % 1000)).padStart(3, "0");
    return `${iso.slice(0, 23)}${micro}Z`;
  }

  function eventFields(run, i, k) {
    const n = run.nodes[i], kind = n.kind[k];
    let what = KINDS[kind];
    if (n.who[k] >= 0) what += kind === RECEIVE ? ` from ${n.names[n.who[k]]}` : ` to ${n.names[n.who[k]]}`;
    const vc = n.vc.map((col, j) => `${run.nodes[j].name}: ${col[k]}`).join(", ");
    const jump = k > 0 ? n.clock[k] - n.clock[k - 1] : null;
    return [
      ["node", n.label], ["event", what], ["tick", `#${fmtInt(n.offset + k + 1)} of ${fmtInt(n.total)}` + (n.inc[k] ? ` (after restart ${n.inc[k]})` : "")],
      ["time", `${n.t[k].toFixed(6)} s after the first tick`], ["system time", systemTime(run, n.t[k])],
      ["Lamport clock", `${n.clock[k]}` + (jump !== null && jump > 1 ? ` (jumped by ${jump})` : "")],
      ["vector clock", `[${vc}]`], ["queue length", String(n.queue[k])], ["tick lateness", `${n.late[k].toFixed(3)} ms`],
    ];
  }

  function messageFields(run, m) {
    const ms = run.messages, a = run.nodes[ms.from[m]], b = run.nodes[ms.to[m]];
    const sent = a.t[ms.send[m]], enq = ms.enq[m], taken = b.t[ms.take[m]];
    return [
      ["message", `value ${ms.value[m]}, ${a.name} → ${b.name}`],
      ["sent", `${sent.toFixed(6)} s (tick #${fmtInt(a.offset + ms.send[m] + 1)} of ${a.name})`],
      ["enqueued", `${enq.toFixed(6)} s (on the wire ${((enq - sent) * 1000).toFixed(3)} ms)`],
      ["taken", `${taken.toFixed(6)} s (tick #${fmtInt(b.offset + ms.take[m] + 1)} of ${b.name})`],
      ["waited in the queue", `${((taken - enq) * 1000).toFixed(3)} ms`],
    ];
  }

  // ---------------------------------------------------------------- linked views (per node, against time)
  class SeriesView extends TimeView {
    constructor(canvas, run, axis, field, ui) {
      super(canvas, run, axis, ui);
      this.field = field;
      this.brush = null;
      this.listen();
    }
    draw() {
      const { ctx, width, height } = setupCanvas(this.canvas, 150);
      this.w = width;
      ctx.clearRect(0, 0, width, height);
      const plotH = height - AXIS - TOP;
      const ranges = this.run.nodes.map((n) => {
        const a = Math.max(0, lowerBound(n.tMax, this.axis.x0) - 1);
        const b = Math.min(n.t.length, lowerBound(n.tMax, this.axis.x1) + 1);
        return [a, b];
      });
      let lo = Infinity, hi = -Infinity;
      this.run.nodes.forEach((n, i) => {
        const v = n[this.field];
        for (let k = ranges[i][0]; k < ranges[i][1]; k++) { if (v[k] < lo) lo = v[k]; if (v[k] > hi) hi = v[k]; }
      });
      if (!isFinite(lo)) { lo = 0; hi = 1; }
      if (hi - lo < 1) hi = lo + 1;
      const y = (v) => TOP + plotH - (v - lo) / (hi - lo) * plotH;
      ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#555"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (const v of niceTicks(lo, hi, 3, 1)) { // clocks, gaps and queues are whole numbers
        ctx.fillText(fmtInt(Math.round(v * 100) / 100), LEFT - 8, y(v));
        ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(LEFT, y(v)); ctx.lineTo(width - RIGHT, y(v)); ctx.stroke();
      }
      ctx.textBaseline = "alphabetic";
      drawTimeAxis(ctx, this.axis, width, height - AXIS + 4);
      ctx.save();
      ctx.beginPath(); ctx.rect(LEFT, 0, width - LEFT - RIGHT, height - AXIS + 2); ctx.clip();
      this.run.nodes.forEach((n, i) => {
        const v = n[this.field];
        const [a, b] = ranges[i];
        ctx.strokeStyle = n.colour; ctx.lineWidth = 1.5;
        ctx.beginPath();
        let lastX = -Infinity, started = false;
        for (let k = a; k < b; k++) { // a step line, at most a few points per pixel column
          const x = this.x(n.t[k]);
          if (!started) { ctx.moveTo(x, y(v[k])); started = true; continue; }
          if (x - lastX < 0.5 && k + 1 < b) continue;
          ctx.lineTo(x, y(v[k - 1])); ctx.lineTo(x, y(v[k])); lastX = x;
        }
        ctx.stroke();
      });
      if (this.brush) {
        ctx.fillStyle = "rgba(0,114,178,0.15)";
        ctx.fillRect(Math.min(this.brush[0], this.brush[1]), 0, Math.abs(this.brush[1] - this.brush[0]), height - AXIS);
      }
      if (this.ui.cursor !== null) {
        const x = this.x(this.ui.cursor);
        ctx.strokeStyle = "rgba(0,0,0,0.25)"; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, height - AXIS); ctx.stroke();
      }
      ctx.restore();
      this.run.nodes.forEach((n, i) => { // legend
        ctx.fillStyle = n.colour; ctx.fillRect(8, TOP + 4 + i * 14, 9, 9);
        ctx.fillStyle = "#333"; ctx.textAlign = "left"; ctx.font = "11px system-ui, sans-serif";
        ctx.fillText(n.name, 21, TOP + 12 + i * 14);
      });
    }
    listen() {
      const c = this.canvas;
      c.style.cursor = "crosshair";
      c.addEventListener("mousedown", (ev) => {
        const r = c.getBoundingClientRect();
        this.brush = [ev.clientX - r.left, ev.clientX - r.left];
      });
      window.addEventListener("mousemove", (ev) => {
        if (!this.brush) return;
        const r = c.getBoundingClientRect();
        this.brush[1] = ev.clientX - r.left;
        this.draw();
      });
      window.addEventListener("mouseup", () => {
        if (!this.brush) return;
        const [a, b] = this.brush;
        this.brush = null;
        if (Math.abs(b - a) > 3) this.axis.set(this.time(Math.min(a, b)), this.time(Math.max(a, b)));
        else this.draw();
      });
      c.addEventListener("mousemove", (ev) => {
        const r = c.getBoundingClientRect();
        const x = ev.clientX - r.left;
        this.ui.cursor = x >= LEFT ? this.time(x) : null;
        this.ui.redrawAll(false);
      });
      c.addEventListener("mouseleave", () => { this.ui.cursor = null; this.ui.redrawAll(false); });
    }
  }

  // ---------------------------------------------------------------- page furniture
  function makeUi(axis) {
    const tip = $("tooltip");
    let pending = false;
    const ui = {
      cursor: null,
      heavy: false, // set when the page holds so many events that a redraw per mouse move would lag
      tooltip(fields, x, y) {
        if (!fields) { tip.hidden = true; return; }
        const dl = el("dl");
        for (const [k, v] of fields) { dl.append(el("dt", k), el("dd", v)); }
        tip.replaceChildren(dl);
        tip.hidden = false;
        const w = tip.offsetWidth, h = tip.offsetHeight;
        tip.style.left = `${Math.min(x + 14, window.innerWidth - w - 8)}px`;
        tip.style.top = `${y + 14 + h > window.innerHeight ? y - h - 10 : y + 14}px`;
      },
      redrawAll(now) { // the cursor line: at most once a frame, and only while redrawing is cheap
        if (now) { axis.redraw(); return; }
        if (ui.heavy) { ui.cursor = null; return; }
        if (pending) return;
        pending = true;
        requestAnimationFrame(() => { pending = false; axis.redraw(); });
      },
      selected() {},
    };
    return ui;
  }

  function showSelection(box, run, i, k, counts) {
    box.replaceChildren();
    if (counts === null) {
      box.append(el("span", "Click an event (or focus the diagram and use the arrow keys) to see its causal past and future.", { class: "muted" }));
      return;
    }
    const n = run.nodes[i];
    const head = el("div");
    head.append(el("strong", `${n.name} ${KINDS[n.kind[k]]} #${fmtInt(n.offset + k + 1)}`), document.createTextNode(` at ${n.t[k].toFixed(6)} s, Lamport clock ${n.clock[k]}`));
    const line = el("div");
    const part = (label, id, value, colour) => {
      if (colour) line.append(el("span", null, { class: "swatch", style: `background:${colour}` }));
      line.append(document.createTextNode(`${label} `), el("span", fmtInt(value), { class: "count", id }), document.createTextNode("  "));
    };
    part("causal past", "count-past", counts.past, PAST);
    part("causal future", "count-future", counts.future, FUTURE);
    part("concurrent", "count-concurrent", counts.concurrent, CONCURRENT);
    part("false orders", "count-false", counts.falseBefore + counts.falseAfter, FALSE_ORDER);
    line.append(document.createTextNode("(Lamport clock below it: "), el("span", fmtInt(counts.falseBefore), { id: "count-false-before" }),
      document.createTextNode(", above it: "), el("span", fmtInt(counts.falseAfter), { id: "count-false-after" }), document.createTextNode(")"));
    box.append(head, line);
    if (!run.data.part.complete) box.append(el("div", "Counted among the events this page holds (see the note at the top).", { class: "muted" }));
  }

  const HELP = [
    ["A line", "One node, left to right in real time since the run's first tick; its label gives the node's clock rate (ticks per second)."],
    ["Marks", "▲ a send, ● a receive (a tick that took a message from the queue), ■ an internal event. Zoomed in far enough, each mark shows its Lamport clock; a red number is a jump (the clock rose by more than one on a receive)."],
    ["An arrow", "A message, from the tick that sent it to the tick that took it from the receiver's queue. A long slanted arrow is a message that waited in the queue: the wait shows as its length. Hover it for the times."],
    ["Causal past and future", "Click an event: blue events happen before it (a chain of line steps and messages leads from them to it), orange ones after it; grey ones are concurrent: neither could have influenced the other."],
    ["A false order", "A concurrent event whose Lamport clock differs from the selected one's (ringed in purple). Lamport clocks order every such pair although nothing orders them: C(a) < C(b) does not mean a happened before b."],
    ["Gap", "The largest Lamport clock of any node at that moment minus this node's clock: how far behind the fastest clock it is."],
    ["Violations", "A red square marks an event that breaks a rule (listed under Violations; click one to go there)."],
    ["Keys", "Focus the diagram (click it or Tab): ← → previous/next event on the node, ↑ ↓ the nearest event on the node above/below, M follows the message, + − zoom, Home the whole run, Esc clears."],
  ];

  function fillHelp() {
    const box = $("help"), dl = el("dl");
    for (const [k, v] of HELP) dl.append(el("dt", k), el("dd", v));
    box.replaceChildren(el("h2", "How to read this"), dl);
    const btn = $("btn-help");
    btn.addEventListener("click", () => {
      box.hidden = !box.hidden;
      btn.setAttribute("aria-expanded", String(!box.hidden));
    });
  }

  function fillTable(table, header, rows) {
    const thead = el("thead"), tr = el("tr");
    for (const h of header) tr.append(el("th", h));
    thead.append(tr);
    const tbody = el("tbody");
    for (const row of rows) {
      const r = el("tr");
      for (const cell of row) r.append(el("td", cell));
      tbody.append(r);
    }
    table.replaceChildren(thead, tbody);
  }

  function rangeText(axis) {
    const r = $("range");
    if (r) r.textContent = `showing ${axis.x0.toFixed(3)} s to ${axis.x1.toFixed(3)} s`;
  }

  function toolbar(axis, diagrams) {
    $("btn-all").addEventListener("click", () => axis.all());
    $("btn-out").addEventListener("click", () => axis.zoom(2));
    $("btn-in").addEventListener("click", () => axis.zoom(0.5));
    const clear = $("btn-clear");
    if (clear) clear.addEventListener("click", () => diagrams.forEach((d) => d.clear()));
    axis.onchange.push(() => rangeText(axis));
    window.addEventListener("resize", () => axis.redraw());
  }

  function subtitle(run) {
    const r = run.data.run;
    const bits = [r.simulated ? "simulated (virtual time)" : "containers (real time)", `${fmtInt(r.events)} events`, `${r.span} s`];
    if (r.max_event_num !== null) bits.push(`MAX_EVENT_NUM=${r.max_event_num}`);
    return bits.join(" · ");
  }

  // ---------------------------------------------------------------- the two pages
  function explorerPage(data) {
    const run = prepare(data);
    const axis = new Axis(run.t0, run.t1);
    const ui = makeUi(axis);
    ui.heavy = data.part.events > HEAVY;
    $("title").textContent = `Run ${data.run.id}`;
    $("subtitle").textContent = subtitle(run);
    $("part-note").textContent = data.part.complete ? "" : `This page holds ${data.part.note}.`;
    if (data.run.clock_bug) {
      $("bug-note").textContent = `Planted clock bug: ${data.run.clock_bug} (CLOCK_BUG). This run breaks Lamport's rules on purpose; the violations below are what the checks caught.`;
    }
    const diagram = new Diagram($("diagram"), run, axis, ui);
    for (const c of document.querySelectorAll("canvas[data-field]")) new SeriesView(c, run, axis, c.dataset.field, ui);
    ui.selected = (d, i, k, counts) => showSelection($("selection"), run, i, k, counts);
    showSelection($("selection"), run, -1, -1, null);
    fillHelp();
    toolbar(axis, [diagram]);
    fillViolations(run, diagram, axis);
    fillTable($("summary"), data.table.header, data.table.rows);
    fillTable($("facts"), ["figure", "value"], data.facts);
    const problems = $("problems");
    for (const p of data.problems) problems.append(el("li", p));
    if (!data.problems.length) problems.append(el("li", "none"));
    else if (data.problem_count > data.problems.length) problems.append(el("li", `… and ${fmtInt(data.problem_count - data.problems.length)} more (summary.json lists all)`));
    axis.all();
    return { run, axis, diagrams: [diagram] };
  }

  function fillViolations(run, diagram, axis) {
    const v = run.data.violations;
    const total = Object.values(v.counts).reduce((a, b) => a + b, 0);
    $("violation-counts").textContent = total
      ? v.kinds.filter((k) => v.counts[k]).map((k) => `${k}: ${fmtInt(v.counts[k])}`).join(" · ")
      : "None: every clock condition, clock rule and message checks out.";
    const list = $("violations");
    for (const item of v.listed) {
      const n = run.nodes[item.node], p = item.pos - n.offset;
      const inside = p >= 0 && p < n.t.length;
      const btn = el("button", `${item.kind}: ${item.text}`, { type: "button", title: `rule: ${v.rules ? v.rules[item.kind] : item.kind}` });
      if (inside) {
        btn.addEventListener("click", () => {
          const t = n.t[p], w = Math.max((axis.x1 - axis.x0) / 50, 1e-3);
          axis.set(t - w, t + w);
          diagram.select(item.node, p);
          diagram.canvas.scrollIntoView({ block: "center" });
          diagram.canvas.focus({ preventScroll: true });
        });
      } else {
        btn.disabled = true;
        btn.title = "outside the part of the run this page holds";
      }
      const li = el("li");
      li.append(btn);
      list.append(li);
    }
  }

  function comparisonPage(data) {
    const runs = data.runs.map(prepare);
    const t0 = Math.min(...runs.map((r) => r.t0)), t1 = Math.max(...runs.map((r) => r.t1));
    const axis = new Axis(t0, t1);
    const ui = makeUi(axis);
    const diagrams = runs.map((run, i) => {
      $(`title-${i}`).textContent = `Run ${run.data.run.id}: ${subtitle(run)}`;
      $(`part-note-${i}`).textContent = run.data.part.complete ? "" : `Shows ${run.data.part.note}.`;
      return new Diagram($(`diagram-${i}`), run, axis, ui);
    });
    $("title").textContent = `Run ${runs[0].data.run.id} against run ${runs[1].data.run.id}`;
    ui.selected = (d, i, k, counts) => showSelection($(`selection-${diagrams.indexOf(d)}`), d.run, i, k, counts);
    diagrams.forEach((d) => ui.selected(d, -1, -1, null));
    const parting = data.parting;
    const note = $("parting");
    const go = $("btn-parting");
    if (parting) {
      note.textContent = `The runs part at ${parting.t.toFixed(6)} s: ${parting.text}.`;
      for (const d of diagrams) d.mark = parting.t;
      go.addEventListener("click", () => {
        const w = Math.max((axis.full[1] - axis.full[0]) / 200, 1e-3);
        axis.set(parting.t - w, parting.t + w);
        diagrams.forEach((d, i) => {
          const n = d.run.nodes[parting.lines[i]];
          const p = parting.pos - n.offset;
          if (p >= 0 && p < n.t.length) d.select(parting.lines[i], p);
        });
      });
    } else {
      note.textContent = "The runs never part: on every node one run's events are the start of the other's (same kinds, same clocks).";
      go.disabled = true;
    }
    fillHelp();
    toolbar(axis, diagrams);
    fillTable($("summary"), data.table.header, data.table.rows);
    axis.all();
    return { runs, axis, diagrams };
  }

  function main() {
    const data = JSON.parse($("explorer-data").textContent);
    if (data.format !== 1) throw new Error(`explorer data format ${data.format}: this page reads format 1`);
    const page = document.body.dataset.page;
    const view = page === "comparison" ? comparisonPage(data) : explorerPage(data);
    window.explorer = {
      ready: false, highlightMs: null, firstPaintMs: null,
      // For tests and benchmarks: where an event is drawn, and selecting one as a click does.
      point: (d, i, k) => view.diagrams[d].point(i, k),
      select: (d, i, k) => view.diagrams[d].select(i, k),
      setRange: (a, b) => view.axis.set(a, b),
      range: () => [view.axis.x0, view.axis.x1],
      all: () => view.axis.all(),
      time: (d, i, k) => view.diagrams[d].run.nodes[i].t[k],
      relate: (d, i, k) => relate(view.diagrams[d].run, i, k),
    };
    requestAnimationFrame(() => {
      window.explorer.firstPaintMs = performance.now();
      window.explorer.ready = true;
    });
  }

  main();
})();

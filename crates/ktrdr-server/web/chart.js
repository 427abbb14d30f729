// The candlestick chart of a stored series: a window of it at the canvas's resolution from
// GET /data/{symbol}/{timeframe}/candles (so years of bars are never loaded at once), volume
// below, gaps shaded by class with patterns and findings marked over their candles. Drawn on a
// canvas; the summary line and the findings list say in words what the canvas shows.

import { api } from "./api.js";
import { formatCount, formatPrice, formatSpan, formatTime, isoSeconds } from "./format.js";

/** Pixels per candle the chart asks for at most: thin enough to see structure, wide enough to see bodies. */
const PIXELS_PER_CANDLE = 2;
const AXIS_WIDTH = 64;
const AXIS_HEIGHT = 22;
const VOLUME_SHARE = 0.22;
const GAP_LABELS = {
  missing: "missing",
  holiday: "holiday",
  weekend: "weekend",
  outside_hours: "outside hours",
  before_head: "before the source's first bar",
};

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** A repeating pattern for a gap class: the class reads from the texture, not only the colour. */
function pattern(ctx, kind, colour) {
  const tile = document.createElement("canvas");
  const size = 8;
  tile.width = tile.height = size;
  const t = tile.getContext("2d");
  t.strokeStyle = colour;
  t.fillStyle = colour;
  t.lineWidth = 1.5;
  switch (kind) {
    case "missing":
      t.beginPath();
      t.moveTo(0, size);
      t.lineTo(size, 0);
      t.moveTo(-2, 2);
      t.lineTo(2, -2);
      t.moveTo(size - 2, size + 2);
      t.lineTo(size + 2, size - 2);
      t.stroke();
      break;
    case "holiday":
      t.beginPath();
      t.arc(size / 2, size / 2, 1.4, 0, 2 * Math.PI);
      t.fill();
      break;
    case "before_head":
      t.fillRect(0, 0, 1, size);
      break;
    default:
      t.globalAlpha = 0.28;
      t.fillRect(0, 0, size, size);
  }
  return ctx.createPattern(tile, "repeat");
}

export class Chart {
  constructor(figure) {
    this.figure = figure;
    this.canvas = figure.querySelector("canvas");
    this.summary = figure.querySelector("#chart-summary");
    this.findingsList = figure.querySelector("#chart-findings ul");
    this.series = null;
    this.view = null;
    this.data = null;
    this.request = null;
    this.timer = null;
    this.drag = null;
    this.bind();
    new ResizeObserver(() => this.draw()).observe(this.canvas);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
  }

  /** Shows the series `symbol` `timeframe`, all of it. */
  async open(symbol, timeframe) {
    this.series = { symbol, timeframe };
    this.view = null;
    this.data = null;
    this.figure.hidden = false;
    this.figure.querySelector("#chart-title").textContent = `${symbol} ${timeframe}`;
    this.canvas.setAttribute("aria-label", `Candlestick chart of ${symbol} ${timeframe}`);
    await this.fetch();
    this.canvas.focus();
  }

  bind() {
    for (const button of this.figure.querySelectorAll(".chart-tools button")) {
      button.addEventListener("click", () => this.act(button.dataset.action));
    }
    this.canvas.addEventListener("keydown", (event) => {
      const action = { ArrowLeft: "left", ArrowRight: "right", "+": "in", "=": "in", "-": "out", Home: "all" }[event.key];
      if (action) {
        event.preventDefault();
        this.act(action);
      }
    });
    this.canvas.addEventListener(
      "wheel",
      (event) => {
        if (!this.view) return;
        event.preventDefault();
        const at = this.timeAt(event.offsetX);
        this.zoom(event.deltaY < 0 ? 0.8 : 1.25, at);
      },
      { passive: false },
    );
    this.canvas.addEventListener("pointerdown", (event) => {
      if (!this.view) return;
      this.canvas.setPointerCapture(event.pointerId);
      this.drag = { x: event.clientX, view: { ...this.view } };
      this.canvas.style.cursor = "grabbing";
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!this.drag) return;
      const width = this.plotWidth();
      const span = this.drag.view.end - this.drag.view.start;
      const shift = ((this.drag.x - event.clientX) / width) * span;
      this.setView(this.drag.view.start + shift, this.drag.view.end + shift);
    });
    const end = () => {
      this.drag = null;
      this.canvas.style.cursor = "";
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  act(action) {
    if (!this.view || !this.data) return;
    const span = this.view.end - this.view.start;
    const middle = this.view.start + span / 2;
    if (action === "left") this.setView(this.view.start - span * 0.25, this.view.end - span * 0.25);
    else if (action === "right") this.setView(this.view.start + span * 0.25, this.view.end + span * 0.25);
    else if (action === "in") this.zoom(0.5, middle);
    else if (action === "out") this.zoom(2, middle);
    else if (action === "all") this.setView(this.data.first_bar, this.data.last_bar);
  }

  zoom(factor, at) {
    const { start, end } = this.view;
    const bar = this.data ? this.data.bucket_seconds / Math.max(1, this.data.bucket_seconds / this.barSeconds()) : 60;
    const span = Math.max((end - start) * factor, bar * 20);
    const share = (at - start) / (end - start);
    this.setView(at - span * share, at - span * share + span);
  }

  barSeconds() {
    const units = { m: 60, h: 3600, d: 86400, w: 604800 };
    const tf = this.series.timeframe;
    return parseInt(tf, 10) * units[tf.slice(-1)];
  }

  /** Moves the view (kept within the series, give or take a tenth), redraws, and asks for its candles. */
  setView(start, end) {
    const first = this.data.first_bar;
    const last = this.data.last_bar;
    const span = Math.min(end - start, (last - first) * 1.2 + this.barSeconds());
    const margin = span * 0.1;
    start = Math.max(first - margin, Math.min(start, last + margin - span));
    this.view = { start: Math.round(start), end: Math.round(start + span) };
    this.draw();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fetch(), 120);
  }

  plotWidth() {
    return Math.max(50, this.canvas.clientWidth - AXIS_WIDTH);
  }

  timeAt(x) {
    return this.view.start + (x / this.plotWidth()) * (this.view.end - this.view.start);
  }

  /** Reads the candles of the view (all of the series at first), then draws them. */
  async fetch() {
    if (!this.series) return;
    if (this.request) this.request.abort();
    const request = new AbortController();
    this.request = request;
    const { symbol, timeframe } = this.series;
    const query = new URLSearchParams({
      max_points: String(Math.max(10, Math.floor(this.plotWidth() / PIXELS_PER_CANDLE))),
    });
    if (this.view) {
      query.set("start_date", isoSeconds(Math.max(0, this.view.start)));
      query.set("end_date", isoSeconds(Math.max(0, this.view.end)));
    }
    performance.mark("chart-fetch");
    try {
      const path = `/data/${encodeURIComponent(symbol)}/${encodeURIComponent(timeframe)}/candles?${query}`;
      const answer = await api(path, { signal: request.signal });
      if (this.request !== request) return;
      this.data = answer.data;
      if (!this.view && this.data.first_bar !== null) {
        this.view = { start: this.data.first_bar, end: this.data.last_bar + this.barSeconds() };
      }
      this.draw();
      performance.measure("chart-ready", "chart-fetch");
      this.describe();
    } catch (error) {
      if (error.name !== "AbortError") this.summary.textContent = "Cannot read the candles: " + error.message;
    }
  }

  /** Says in words what the chart shows, and marks the figure for tests and assistive tools. */
  describe() {
    const d = this.data;
    const counts = {};
    for (const gap of d.gaps) counts[gap.kind] = (counts[gap.kind] || 0) + 1;
    for (const kind of Object.keys(GAP_LABELS)) this.figure.dataset["gaps_" + kind] = String(counts[kind] || 0);
    this.figure.dataset.candles = String(d.candles.length);
    this.figure.dataset.bucket = String(d.bucket_seconds);
    const gaps = Object.entries(counts).map(([kind, n]) => `${formatCount(n)} ${GAP_LABELS[kind] || kind}`).join(", ");
    const missingBars = d.gaps.filter((g) => g.kind === "missing").reduce((n, g) => n + g.missing_bars, 0);
    this.summary.textContent =
      `${formatTime(d.start)} → ${formatTime(d.end)} · ${formatCount(d.bars)} bars in ${formatCount(d.candles.length)} candles of ${formatSpan(d.bucket_seconds)}` +
      ` · gaps: ${gaps || "none"}${missingBars ? ` (${formatCount(missingBars)} bars missing)` : ""}` +
      ` · findings on ${formatCount(d.findings.length)} candles` +
      (d.gaps_error ? ` · gaps not analysed: ${d.gaps_error}` : "");
    this.findingsList.replaceChildren();
    for (const finding of d.findings.slice(0, 100)) {
      const li = document.createElement("li");
      li.textContent = `${formatTime(finding.t)}: ${finding.kinds.join(", ")} (${finding.severity}, ${finding.bars} bar${finding.bars === 1 ? "" : "s"})`;
      this.findingsList.append(li);
    }
  }

  draw() {
    if (!this.data || !this.view) return;
    const started = performance.now();
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const plotW = this.plotWidth();
    const plotH = height - AXIS_HEIGHT;
    const volumeH = Math.round(plotH * VOLUME_SHARE);
    const priceH = plotH - volumeH - 6;
    const { start, end } = this.view;
    const x = (t) => ((t - start) / (end - start)) * plotW;
    const inView = this.data.candles.filter((c) => c.t + this.data.bucket_seconds >= start && c.t <= end);

    let low = Infinity;
    let high = -Infinity;
    let maxVolume = 0;
    for (const c of inView) {
      low = Math.min(low, c.l);
      high = Math.max(high, c.h);
      maxVolume = Math.max(maxVolume, c.v);
    }
    if (!Number.isFinite(low)) {
      low = 0;
      high = 1;
    }
    const pad = (high - low) * 0.06 || 1;
    low -= pad;
    high += pad;
    const y = (p) => priceH - ((p - low) / (high - low)) * priceH;
    const vy = (v) => plotH - (maxVolume ? (v / maxVolume) * volumeH : 0);

    // Grid and price axis.
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = css("--muted");
    ctx.strokeStyle = css("--grid");
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const price = low + ((high - low) * i) / 4;
      const py = Math.round(y(price)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, py);
      ctx.lineTo(plotW, py);
      ctx.stroke();
      ctx.fillText(formatPrice(price), plotW + 6, Math.min(Math.max(py, 8), priceH - 2));
    }
    ctx.textBaseline = "top";
    for (let i = 0; i <= 4; i++) {
      const t = start + ((end - start) * i) / 4;
      const label = formatTime(t).slice(0, end - start > 5 * 86400 ? 10 : 16);
      const lx = Math.min(Math.max(0, x(t) - 30), plotW - 70);
      ctx.fillText(label, lx, plotH + 5);
    }

    // Gaps under the candles, over the price and volume panes.
    const patterns = {};
    const colours = { missing: "--gap-missing", holiday: "--gap-holiday", before_head: "--gap-head" };
    const painted = Object.fromEntries(Object.keys(GAP_LABELS).map((kind) => [kind, 0]));
    for (const gap of this.data.gaps) {
      if (gap.end < start || gap.start > end) continue;
      painted[gap.kind] = (painted[gap.kind] || 0) + 1;
      const x0 = Math.max(0, x(gap.start));
      const x1 = Math.min(plotW, Math.max(x(gap.end), x0 + 1.5));
      const fill = (patterns[gap.kind] ||= pattern(ctx, gap.kind, css(colours[gap.kind] || "--gap-outside")));
      ctx.fillStyle = fill;
      ctx.fillRect(x0, 0, x1 - x0, plotH);
    }

    // Candles: up hollow, down filled, so direction reads without colour.
    const bucketW = (this.data.bucket_seconds / (end - start)) * plotW;
    const bodyW = Math.max(1, Math.min(14, bucketW * 0.7));
    const up = css("--up");
    const down = css("--down");
    const volumeFill = css("--gap-outside");
    for (const c of inView) {
      const cx = x(c.t + this.data.bucket_seconds / 2);
      const rising = c.c >= c.o;
      const colour = rising ? up : down;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.moveTo(Math.round(cx) + 0.5, y(c.h));
      ctx.lineTo(Math.round(cx) + 0.5, y(c.l));
      ctx.stroke();
      const top = y(Math.max(c.o, c.c));
      const bodyH = Math.max(1, Math.abs(y(c.o) - y(c.c)));
      if (rising && bodyW >= 3) ctx.strokeRect(Math.round(cx - bodyW / 2) + 0.5, top + 0.5, Math.round(bodyW) - 1, bodyH - 1);
      else ctx.fillRect(cx - bodyW / 2, top, bodyW, bodyH);
      ctx.fillStyle = volumeFill;
      ctx.fillRect(cx - bodyW / 2, vy(c.v), bodyW, plotH - vy(c.v));
    }

    // Findings above their candles: ▲ error, △ warning, a dot for info.
    const byTime = new Map(inView.map((c) => [c.t, c]));
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.font = "12px system-ui, sans-serif";
    for (const finding of this.data.findings) {
      const c = byTime.get(finding.t);
      if (!c) continue;
      const cx = x(c.t + this.data.bucket_seconds / 2);
      const mark = finding.severity === "error" ? "▲" : finding.severity === "warning" ? "△" : "·";
      ctx.fillStyle = finding.severity === "info" ? css("--muted") : css("--bad");
      ctx.fillText(mark, cx, Math.max(12, y(c.h) - 2));
    }
    ctx.textAlign = "start";

    // The pane border.
    ctx.strokeStyle = css("--line");
    ctx.strokeRect(0.5, 0.5, plotW - 1, plotH - 1);
    // What was painted, for tests and for anyone inspecting the page.
    for (const [kind, n] of Object.entries(painted)) this.figure.dataset["painted_" + kind] = String(n);
    this.lastDrawMs = performance.now() - started;
    this.figure.dataset.drawMs = this.lastDrawMs.toFixed(2);
  }
}

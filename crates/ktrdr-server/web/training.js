// The Training tab: the training operations (from the same feed as the Operations tab), the
// loss and accuracy curves per epoch of the one selected (GET /trainings/{id}/history, read
// again when the feed says it changed), and the stored models' metrics side by side
// (GET /models).

import { api } from "./api.js";
import { formatCount, formatTime } from "./format.js";
import { onOperationChange } from "./operations.js";

const ACTIVE = new Set(["pending", "running", "cancelling"]);
const SVG = "http://www.w3.org/2000/svg";
/** The curves: train solid with circles, validation dashed with squares, so they read without colour. */
const SERIES = [
  { key: "train", label: "train", dash: "", marker: "circle", colour: "--accent" },
  { key: "val", label: "validation", dash: "6 4", marker: "square", colour: "--warn" },
];

const trainings = new Map();
let selected = null;
let reading = null;
let again = false;

function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content === null || content === undefined || content === "" ? "—" : String(content);
  if (className) element.className = className;
  return element;
}

function percent(x) {
  return Number.isFinite(x) ? (x * 100).toFixed(1) + "%" : "—";
}

function describe(op) {
  const meta = (op.info && op.info.metadata) || {};
  const params = meta.parameters || {};
  const strategy = params.strategy_name || params.strategy || "";
  const symbols = (params.symbols || []).join(",") || op.symbol || meta.symbol || "";
  const timeframes = (params.timeframes || []).join(",") || op.timeframe || meta.timeframe || "";
  return { strategy, series: [symbols, timeframes].filter(Boolean).join(" ") };
}

function renderList() {
  const body = document.querySelector("#training-table tbody");
  const sorted = [...trainings.values()].sort((a, b) => (a.created + a.id < b.created + b.id ? 1 : -1));
  body.replaceChildren();
  for (const op of sorted) {
    const { strategy, series } = describe(op);
    const row = document.createElement("tr");
    row.dataset.id = op.id;
    row.dataset.status = op.status;
    row.classList.toggle("selected", op.id === selected);
    const status = text("span", op.status, "status status-" + op.status);
    const statusCell = document.createElement("td");
    statusCell.append(status);
    row.append(text("td", strategy), text("td", series), statusCell, text("td", (op.percent || 0).toFixed(1) + "%", "num"), text("td", op.message, "step"), text("td", formatTime(op.started || op.created)));
    const cell = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Curves";
    button.className = "curves";
    button.setAttribute("aria-label", `Curves of ${strategy || op.id} ${series}`);
    button.addEventListener("click", () => select(op.id));
    cell.append(button);
    row.append(cell);
    body.append(row);
  }
  document.getElementById("training-empty").hidden = trainings.size > 0;
}

function select(id) {
  selected = id;
  renderList();
  document.getElementById("curves").hidden = false;
  document.getElementById("curves-title").textContent = `Curves of ${id}`;
  readHistory();
}

/** Reads the selected training's history; a read asked for while one is in flight runs after it. */
async function readHistory() {
  if (!selected) return;
  if (reading) {
    again = true;
    return;
  }
  const id = selected;
  reading = api(`/trainings/${encodeURIComponent(id)}/history`)
    .then((answer) => {
      if (selected === id) drawCurves(answer);
    })
    .catch((error) => {
      document.getElementById("curves-summary").textContent = "Cannot read the history: " + error.message;
    });
  await reading;
  reading = null;
  if (again) {
    again = false;
    readHistory();
  }
}

function drawCurves(answer) {
  const history = answer.history || {};
  const loss = { train: history.train_loss || [], val: history.val_loss || [] };
  const accuracy = { train: history.train_accuracy || [], val: history.val_accuracy || [] };
  const epochs = Math.max(loss.train.length, loss.val.length);
  const figure = document.getElementById("curves");
  figure.dataset.epochs = String(epochs);
  document.getElementById("curves-summary").textContent =
    `Epoch ${answer.epoch} of ${answer.total_epochs}` +
    (epochs ? ` · last validation loss ${fixed(last(loss.val))}, accuracy ${percent(last(accuracy.val))}` : " · no epoch finished yet");
  plot(document.getElementById("loss-chart"), "Loss per epoch", loss, answer.total_epochs, false);
  plot(document.getElementById("accuracy-chart"), "Accuracy per epoch", accuracy, answer.total_epochs, true);
  const body = document.querySelector("#curves-table tbody");
  body.replaceChildren();
  for (let i = 0; i < epochs; i++) {
    const row = document.createElement("tr");
    row.append(text("td", i + 1, "num"), text("td", fixed(loss.train[i]), "num"), text("td", fixed(loss.val[i]), "num"), text("td", percent(accuracy.train[i]), "num"), text("td", percent(accuracy.val[i]), "num"));
    body.append(row);
  }
}

const last = (values) => values[values.length - 1];
const fixed = (x) => (Number.isFinite(x) ? x.toFixed(4) : "—");

/** A line chart of `lines` (train and val arrays) into the svg element, epochs 1..total on x. */
function plot(svg, title, lines, total, isShare) {
  const width = 460;
  const height = 220;
  const left = 52;
  const bottom = 28;
  const top = 12;
  const right = 12;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const values = [...lines.train, ...lines.val].filter(Number.isFinite);
  let low = isShare ? 0 : Math.min(...values, Infinity);
  let high = isShare ? 1 : Math.max(...values, -Infinity);
  if (!Number.isFinite(low) || !Number.isFinite(high)) {
    low = 0;
    high = 1;
  }
  if (high === low) high = low + 1;
  const n = Math.max(total || 0, lines.train.length, lines.val.length, 2);
  const x = (i) => left + (i / (n - 1)) * (width - left - right);
  const y = (v) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
  const add = (tag, attrs, content) => {
    const element = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) element.setAttribute(k, v);
    if (content !== undefined) element.textContent = content;
    svg.append(element);
    return element;
  };
  add("title", {}, title);
  for (let i = 0; i <= 4; i++) {
    const v = low + ((high - low) * i) / 4;
    add("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" });
    add("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, isShare ? Math.round(v * 100) + "%" : v.toFixed(3));
  }
  const step = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += step) add("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "tick" }, String(i + 1));
  for (const series of SERIES) {
    const points = lines[series.key].map((v, i) => [x(i), y(v)]).filter(([, py]) => Number.isFinite(py));
    if (!points.length) continue;
    const colour = `var(${series.colour})`;
    add("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: colour, "stroke-width": 2, "stroke-dasharray": series.dash, class: "curve-" + series.key });
    for (const [px, py] of points) {
      if (series.marker === "circle") add("circle", { cx: px, cy: py, r: 3, fill: colour });
      else add("rect", { x: px - 3, y: py - 3, width: 6, height: 6, fill: "none", stroke: colour, "stroke-width": 1.5 });
    }
  }
}

/** The stored models, their metrics side by side; the best of each column marked in words. */
async function readModels() {
  const answer = await api("/models");
  const body = document.querySelector("#models-table tbody");
  body.replaceChildren();
  const rows = answer.models.map((model) => {
    const meta = model.metadata || {};
    const summary = meta.training_summary || {};
    const info = meta.model_info || {};
    return {
      model,
      created: meta.created_at,
      epochs: summary.epochs,
      train: summary.final_accuracy,
      val: summary.best_val_accuracy,
      bestEpoch: summary.best_epoch,
      test: summary.test_accuracy,
      parameters: info.parameters_count,
    };
  });
  const best = (key) => Math.max(...rows.map((r) => r[key]).filter(Number.isFinite));
  const bests = { train: best("train"), val: best("val"), test: best("test") };
  for (const r of rows) {
    const row = document.createElement("tr");
    row.dataset.model = r.model.name;
    const share = (key) => {
      const cell = text("td", percent(r[key]), "num");
      if (rows.length > 1 && r[key] === bests[key]) {
        cell.classList.add("best");
        cell.append(text("span", " ▲ best", "best-mark"));
      }
      return cell;
    };
    row.append(
      text("td", r.model.name),
      text("td", r.model.latest ? "latest" : ""),
      text("td", formatTime(r.created)),
      text("td", r.epochs, "num"),
      share("train"),
      share("val"),
      text("td", r.bestEpoch, "num"),
      share("test"),
      text("td", formatCount(r.parameters), "num"),
    );
    body.append(row);
  }
  document.getElementById("models-empty").hidden = rows.length > 0;
}

/** Wires the tab: trainings from the feed, models when the tab opens and when a training ends. */
export function startTraining() {
  const refreshModels = () =>
    readModels().catch((error) => {
      document.getElementById("models-empty").hidden = false;
      document.getElementById("models-empty").textContent = "Cannot read the models: " + error.message;
    });
  document.getElementById("tab-training").addEventListener("click", refreshModels);
  onOperationChange((op, previous) => {
    if (op.type !== "training") return;
    trainings.set(op.id, op);
    renderList();
    if (op.id === selected && (!previous || previous.message !== op.message || previous.status !== op.status)) readHistory();
    // Ended now: seen active before, or first seen ended on the feed (which only sends what
    // changed since the page opened), not from the listing.
    const endedNow = !ACTIVE.has(op.status) && (previous ? ACTIVE.has(previous.status) : op.info !== null);
    if (endedNow) refreshModels();
  });
}

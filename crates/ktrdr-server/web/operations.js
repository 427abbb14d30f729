// The Operations tab: the live table (fed by GET /operations/events, one stream for every
// operation, so nothing polls), its filters, the detail view, cancel and retry, and the form
// that starts a data load.

import { api, ApiError, followEvents } from "./api.js";
import { formatDuration, formatEta, formatTime, formatCount } from "./format.js";

const ACTIVE = new Set(["pending", "running", "cancelling"]);
const RETRYABLE = new Set(["failed", "cancelled", "interrupted"]);
const LIST_LIMIT = 200;

/** Every operation the page knows, by id, in one shape for listing rows and whole records. */
const operations = new Map();
const rows = new Map();
let filters = { status: "", type: "" };
let selected = null;
const listeners = [];

/** `op` (an OperationSummary or an OperationInfo) as the table's row model. */
function model(op, previous) {
  const info = op.progress !== undefined;
  const progress = info ? op.progress : {};
  const meta = info ? op.metadata || {} : {};
  return {
    id: op.operation_id,
    type: op.operation_type,
    status: op.status,
    symbol: info ? meta.symbol : op.symbol,
    timeframe: info ? meta.timeframe : op.timeframe,
    percent: info ? progress.percentage : op.progress_percentage,
    message: info ? progress.current_step : op.current_step,
    eta: info ? progress.eta_seconds : op.eta_seconds,
    etaLow: info ? progress.eta_low_seconds : op.eta_low_seconds,
    etaHigh: info ? progress.eta_high_seconds : op.eta_high_seconds,
    created: op.created_at,
    started: op.started_at,
    completed: info ? op.completed_at : previous ? previous.completed : null,
    duration: op.duration_seconds,
    // What the duration was measured against, so that an active row's clock can tick.
    seenAt: Date.now(),
    info: info ? op : previous ? previous.info : null,
  };
}

function matches(op) {
  return (!filters.status || op.status === filters.status) && (!filters.type || op.type === filters.type);
}

/** Learns `op`, from the list or the feed; updates its row, the detail view and listeners. */
function learn(op) {
  const previous = operations.get(op.operation_id);
  const next = model(op, previous);
  // A listing read before a feed event must not take the row back.
  if (previous && previous.info && !next.info && ACTIVE.has(next.status) && !ACTIVE.has(previous.status)) return;
  operations.set(next.id, next);
  render(next);
  if (selected === next.id && next.info) renderDetail(next.info);
  for (const listener of listeners) listener(next, previous);
}

/** Calls `listener(model, previousModel)` after each change of an operation (the data tab refreshes on loads). */
export function onOperationChange(listener) {
  listeners.push(listener);
}

function cell(row, name) {
  return row.querySelector("." + name);
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function newRow(op) {
  const row = document.createElement("tr");
  row.dataset.id = op.id;
  row.innerHTML = `
    <td class="type"></td>
    <td class="series"></td>
    <td><span class="status"></span></td>
    <td><div class="progress"><progress max="100" value="0"></progress><span class="pct"></span></div></td>
    <td class="step"></td>
    <td class="eta"></td>
    <td class="elapsed"></td>
    <td class="started"></td>
    <td><div class="actions">
      <button type="button" class="details">Details</button>
      <button type="button" class="cancel">Cancel</button>
      <button type="button" class="retry">Retry</button>
    </div></td>`;
  const label = `${op.type} ${op.symbol || ""} ${op.timeframe || ""}`.trim();
  cell(row, "details").setAttribute("aria-label", `Details of ${label} (${op.id})`);
  cell(row, "cancel").setAttribute("aria-label", `Cancel ${label} (${op.id})`);
  cell(row, "retry").setAttribute("aria-label", `Retry ${label} (${op.id})`);
  cell(row, "details").addEventListener("click", () => openDetail(op.id));
  cell(row, "cancel").addEventListener("click", () => cancel(op.id));
  cell(row, "retry").addEventListener("click", () => retry(op.id));
  return row;
}

/** The elapsed seconds of `op` now: its duration, ticking on while it is active. */
function elapsed(op) {
  if (op.duration === null || op.duration === undefined) return null;
  return ACTIVE.has(op.status) ? op.duration + (Date.now() - op.seenAt) / 1000 : op.duration;
}

function render(op) {
  let row = rows.get(op.id);
  if (!matches(op)) {
    if (row) {
      row.remove();
      rows.delete(op.id);
    }
    updateCount();
    return;
  }
  if (!row) {
    row = newRow(op);
    rows.set(op.id, row);
    insertInOrder(row, op);
  }
  setText(cell(row, "type"), op.type);
  setText(cell(row, "series"), [op.symbol, op.timeframe].filter(Boolean).join(" ") || "—");
  const status = cell(row, "status");
  setText(status, op.status);
  status.className = "status status-" + op.status;
  row.dataset.status = op.status;
  const percent = Math.max(0, Math.min(100, op.percent || 0));
  const bar = row.querySelector("progress");
  if (Number(bar.value) !== percent) bar.value = percent;
  bar.setAttribute("aria-label", `${percent.toFixed(1)}% done`);
  setText(cell(row, "pct"), percent.toFixed(1) + "%");
  setText(cell(row, "step"), op.message || "");
  cell(row, "step").title = op.message || "";
  setText(cell(row, "eta"), ACTIVE.has(op.status) ? formatEta(op.eta, op.etaLow, op.etaHigh) : "—");
  setText(cell(row, "elapsed"), formatDuration(elapsed(op)));
  setText(cell(row, "started"), formatTime(op.started || op.created));
  cell(row, "cancel").disabled = op.status !== "pending" && op.status !== "running";
  cell(row, "retry").disabled = !RETRYABLE.has(op.status);
  row.classList.toggle("selected", selected === op.id);
  updateCount();
}

/** Rows newest first (by creation time, then id). */
function insertInOrder(row, op) {
  const body = document.querySelector("#ops-table tbody");
  const key = op.created + op.id;
  for (const other of body.children) {
    const them = operations.get(other.dataset.id);
    if (them && them.created + them.id < key) {
      body.insertBefore(row, other);
      return;
    }
  }
  body.appendChild(row);
}

function updateCount() {
  const shown = rows.size;
  const active = [...operations.values()].filter((op) => ACTIVE.has(op.status)).length;
  setText(document.getElementById("ops-count"), `${formatCount(shown)} shown · ${formatCount(active)} active`);
  document.getElementById("ops-empty").hidden = shown > 0;
}

/** Reads the newest operations matching the filters (at start, on a filter change, after a reconnect). */
async function readList() {
  const query = new URLSearchParams({ limit: String(LIST_LIMIT) });
  if (filters.status) query.set("status", filters.status);
  if (filters.type) query.set("operation_type", filters.type);
  const list = await api("/operations?" + query);
  for (const summary of list.data.slice().reverse()) learn(summary);
}

function rebuild() {
  for (const row of rows.values()) row.remove();
  rows.clear();
  const sorted = [...operations.values()].sort((a, b) => (a.created + a.id < b.created + b.id ? -1 : 1));
  for (const op of sorted) render(op);
}

async function cancel(id) {
  const row = rows.get(id);
  if (row) cell(row, "cancel").disabled = true;
  try {
    const answer = await api("/operations/" + encodeURIComponent(id), {
      method: "DELETE",
      body: { reason: "cancelled from the web page" },
    });
    const op = operations.get(id);
    // The API answers `cancelling` until the work has stopped; the feed brings `cancelled`.
    if (op && ACTIVE.has(op.status)) {
      op.status = answer.data.status;
      render(op);
    }
    announce(`Cancel requested for ${id}: ${answer.data.status}.`);
  } catch (error) {
    announce(`Cannot cancel ${id}: ${error.message}`);
    if (row) render(operations.get(id));
  }
}

async function retry(id) {
  try {
    const answer = await api("/operations/" + encodeURIComponent(id) + "/retry", { method: "POST" });
    const newId = (answer.data && (answer.data.operation_id || answer.data.new_operation_id)) || "a new operation";
    announce(`Retrying ${id} as ${newId}.`);
  } catch (error) {
    announce(`Cannot retry ${id}: ${error.message}`);
  }
}

function announce(text) {
  setText(document.getElementById("load-result"), text);
}

// ---- detail view -------------------------------------------------------------------------

async function openDetail(id) {
  selected = id;
  for (const [rowId, row] of rows) row.classList.toggle("selected", rowId === id);
  const section = document.getElementById("detail");
  section.hidden = false;
  setText(document.getElementById("detail-title"), id);
  try {
    const answer = await api("/operations/" + encodeURIComponent(id));
    if (selected === id) renderDetail(answer.data);
  } catch (error) {
    setText(document.getElementById("detail-errors"), error.message);
  }
  section.focus();
}

function closeDetail() {
  const id = selected;
  selected = null;
  document.getElementById("detail").hidden = true;
  const row = id && rows.get(id);
  if (row) {
    row.classList.remove("selected");
    cell(row, "details").focus();
  }
}

function field(list, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  list.append(dt, dd);
}

function renderDetail(info) {
  const p = info.progress;
  const meta = info.metadata || {};
  const fields = document.getElementById("detail-fields");
  fields.replaceChildren();
  field(fields, "Type", info.operation_type);
  field(fields, "Status", info.status);
  field(fields, "Series", [meta.symbol, meta.timeframe].filter(Boolean).join(" "));
  field(fields, "Mode", meta.mode);
  field(fields, "Range", [meta.start_date || "…", meta.end_date || "…"].join(" → "));
  field(fields, "Progress", `${p.percentage.toFixed(1)}% · ${p.current_step || ""}`);
  if (p.items_total || p.items_processed) field(fields, "Items", `${formatCount(p.items_processed)} of ${p.items_total === null ? "?" : formatCount(p.items_total)}`);
  field(fields, "ETA", formatEta(p.eta_seconds, p.eta_low_seconds, p.eta_high_seconds));
  field(fields, "Created", formatTime(info.created_at));
  field(fields, "Started", formatTime(info.started_at));
  field(fields, "Ended", formatTime(info.completed_at));
  field(fields, "Duration", formatDuration(info.duration_seconds));
  if (info.cancel_reason) field(fields, "Cancel reason", info.cancel_reason);
  const params = meta.parameters || {};
  for (const key of Object.keys(params)) field(fields, key, typeof params[key] === "object" ? JSON.stringify(params[key]) : params[key]);

  const steps = document.getElementById("detail-steps");
  steps.replaceChildren();
  const plan = info.step_plan || (p.step_name ? Array.from({ length: p.step_count }, (_, i) => (i === p.step_index ? p.step_name : `step ${i + 1}`)) : []);
  plan.forEach((name, i) => {
    const li = document.createElement("li");
    li.textContent = name;
    const finished = info.status === "completed" || i < p.steps_completed || i < p.step_index;
    if (finished) li.className = "done";
    else if (i === p.step_index) li.className = ACTIVE.has(info.status) ? "now" : "stopped";
    steps.append(li);
  });

  const errors = document.getElementById("detail-errors");
  errors.replaceChildren();
  const problems = [info.error_message, ...(info.errors || [])].filter(Boolean);
  const warnings = [...(info.warnings || []), ...((info.result_summary && info.result_summary.warnings) || [])];
  if (problems.length) {
    const h = document.createElement("h3");
    h.textContent = "Errors";
    const ul = document.createElement("ul");
    ul.className = "errors";
    for (const text of problems) ul.append(Object.assign(document.createElement("li"), { textContent: text }));
    errors.append(h, ul);
  }
  if (warnings.length) {
    const h = document.createElement("h3");
    h.textContent = "Warnings";
    const ul = document.createElement("ul");
    for (const text of warnings) ul.append(Object.assign(document.createElement("li"), { textContent: String(text) }));
    errors.append(h, ul);
  }

  const result = document.getElementById("detail-result");
  result.replaceChildren();
  const summary = info.result_summary;
  if (!summary) {
    result.textContent = ACTIVE.has(info.status) ? "Not yet: it is still running." : "None recorded.";
    return;
  }
  const list = document.createElement("dl");
  list.className = "fields";
  const nested = {};
  for (const [key, value] of Object.entries(summary)) {
    if (value !== null && typeof value === "object") nested[key] = value;
    else field(list, key, typeof value === "number" ? (Number.isInteger(value) ? formatCount(value) : value.toFixed(3)) : value);
  }
  result.append(list);
  if (Object.keys(nested).length) {
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(nested, null, 2);
    result.append(pre);
  }
}

// ---- the load form -------------------------------------------------------------------------

const SYMBOL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** The form's request, or the problems by field name. */
function readForm(form) {
  const value = (name) => form.elements[name].value.trim();
  const problems = {};
  const body = { symbol: value("symbol").toUpperCase(), timeframe: value("timeframe"), mode: value("mode") };
  if (!body.symbol) problems.symbol = "Give a symbol, e.g. AAPL.";
  else if (!SYMBOL.test(body.symbol)) problems.symbol = "Letters, digits, '.', '-' and '_' only, starting with a letter or digit, at most 32.";
  const start = value("start_date");
  const end = value("end_date");
  const today = new Date().toISOString().slice(0, 10);
  if (start) body.start_date = start;
  if (end) body.end_date = end;
  if (start && start > today) problems.start_date = "The start is in the future.";
  if (start && end && start > end) problems.end_date = "The end is before the start.";
  const source = value("source");
  if (source) body.source = source;
  else if (body.mode !== "local") problems.source = "This server has no data source: only mode local works.";
  return { body, problems };
}

function showProblems(form, problems) {
  for (const element of form.querySelectorAll("input, select")) {
    const problem = problems[element.name] || "";
    element.setAttribute("aria-invalid", problem ? "true" : "false");
    setText(document.getElementById(`load-${element.name}-error`), problem);
  }
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

async function submitLoad(event) {
  event.preventDefault();
  const form = event.target;
  const { body, problems } = readForm(form);
  showProblems(form, problems);
  if (Object.keys(problems).length) {
    announce("Not sent: fix the marked fields.");
    return;
  }
  const button = document.getElementById("load-submit");
  button.disabled = true;
  try {
    const answer = await api("/data/load?async_mode=true", { method: "POST", body });
    announce(`Started ${body.symbol} ${body.timeframe} (${body.mode}) as ${answer.data.operation_id}.`);
  } catch (error) {
    const name = error instanceof ApiError && error.details.field;
    if (name && form.elements[name]) showProblems(form, { [name]: error.message });
    announce(`Refused: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

/** Fills the source choice with the server's data source. */
export function setSource(name) {
  const select = document.getElementById("load-source");
  select.replaceChildren();
  if (name) {
    const kind = name.split(/\s+/)[0];
    select.append(new Option(name, kind, true, true));
  }
  select.append(new Option(name ? "none (local only)" : "none configured", "", false, !name));
}

// ---- start -----------------------------------------------------------------------------------

/** Wires the tab and starts following the operations. */
export function startOperations(setConnection) {
  document.getElementById("load-form").addEventListener("submit", submitLoad);
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  document.getElementById("detail").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDetail();
  });
  for (const [id, key] of [["filter-status", "status"], ["filter-type", "type"]]) {
    document.getElementById(id).addEventListener("change", (event) => {
      filters = { ...filters, [key]: event.target.value };
      rebuild();
      readList().catch((error) => announce("Cannot read the operations: " + error.message));
    });
  }
  // The running clocks of active rows tick here, from the last state the feed sent: a display
  // timer, not a request.
  setInterval(() => {
    for (const op of operations.values()) {
      if (ACTIVE.has(op.status) && rows.has(op.id)) setText(cell(rows.get(op.id), "elapsed"), formatDuration(elapsed(op)));
    }
  }, 1000);
  const onEvent = (event) => {
    try {
      learn(JSON.parse(event.data));
    } catch (error) {
      console.warn("an unreadable event", error);
    }
  };
  followEvents("/operations/events", onEvent, {
    onState: setConnection,
    // The list is read once the feed is open, so that nothing starting in between is missed.
    onOpen: () => readList().catch((error) => announce("Cannot read the operations: " + error.message)),
  });
}

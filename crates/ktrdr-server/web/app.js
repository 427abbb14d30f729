// The page: three tabs (Operations, Data, Training), the connection line, and the series list that opens
// the chart. Everything it shows comes from /api/v1.

import { api } from "./api.js";
import { Chart } from "./chart.js";
import { formatCount, formatTime } from "./format.js";
import { onOperationChange, setSource, startOperations } from "./operations.js";
import { startTraining } from "./training.js";

function setConnection(state) {
  document.getElementById("connection").textContent = state === "live" ? "● live" : state;
}

/** Tabs as the ARIA pattern has them: arrow keys move between tabs, the panel follows. */
function startTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", String(on));
      other.tabIndex = on ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
    }
    tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) select(tabs[(i + step + tabs.length) % tabs.length]);
    });
  });
}

let chart = null;

async function readSeries() {
  const answer = await api("/data/info");
  const info = answer.data;
  setSource(info.data_source);
  document.getElementById("data-source").textContent = info.data_source
    ? `Loads fetch from ${info.data_source}.`
    : "This server has no data source: it reads the store only.";
  const body = document.querySelector("#series-table tbody");
  body.replaceChildren();
  for (const series of info.series) {
    const row = document.createElement("tr");
    row.dataset.series = `${series.symbol}_${series.timeframe}`;
    const cells = [series.symbol, series.timeframe, formatCount(series.rows), formatTime(series.first_bar), formatTime(series.last_bar)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = "num";
      row.append(td);
    });
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Chart";
    button.setAttribute("aria-label", `Chart of ${series.symbol} ${series.timeframe}`);
    button.disabled = !series.first_bar;
    button.addEventListener("click", () => chart.open(series.symbol, series.timeframe));
    td.append(button);
    row.append(td);
    body.append(row);
  }
  document.getElementById("series-empty").hidden = info.series.length > 0;
}

function start() {
  startTabs();
  chart = new Chart(document.getElementById("chart"));
  startTraining();
  startOperations(setConnection);
  const refresh = () => readSeries().catch((error) => {
    document.getElementById("data-source").textContent = "Cannot read the store: " + error.message;
  });
  refresh();
  // A load this page saw end may have stored a new series or new bars: read the list again.
  let pending = null;
  onOperationChange((op, previous) => {
    const active = (status) => ["pending", "running", "cancelling"].includes(status);
    if (op.type !== "data_load" || !previous || !active(previous.status) || active(op.status)) return;
    clearTimeout(pending);
    pending = setTimeout(refresh, 200);
  });
}

start();

//! The web page at `/` of a real `ktrdr serve`, used in headless chromium as a user would:
//! start a simulated load from the form, watch it advance with its ETA, cancel it, retry it,
//! and chart the series it stored with its gaps shaded. Screenshots go to
//! `target/tmp/web-page/` (see `web::SCREENSHOTS`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;
mod web;

use std::time::Duration;

use serde_json::Value;
use support::Server;
use web::Browser;

const MINUTE: Duration = Duration::from_secs(60);

/// The first row of the operations table (the newest operation), as a script expression.
const NEWEST: &str = "document.querySelector('#ops-table tbody tr')";

#[tokio::test(flavor = "multi_thread")]
async fn a_load_from_the_form_advances_cancels_retries_and_charts_with_its_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", server.base))
        .await
        .unwrap();
    browser
        .until(
            "the feed connects",
            "return document.getElementById('connection').textContent.includes('live') && 'ok';",
            MINUTE,
        )
        .await;

    // The form checks before sending: no symbol, an end before the start.
    browser
        .js(
            "document.getElementById('load-start').value = '2024-03-01';
             document.getElementById('load-end').value = '2024-02-01';",
            vec![],
        )
        .await;
    browser.click("#load-submit").await;
    let problems = browser
        .js(
            "return ['symbol', 'end_date'].map(f => document.getElementById('load-' + f + '-error').textContent);",
            vec![],
        )
        .await;
    assert!(
        problems[0].as_str().unwrap().contains("symbol"),
        "{problems}"
    );
    assert!(
        problems[1].as_str().unwrap().contains("before the start"),
        "{problems}"
    );
    let invalid = browser
        .js(
            "return document.getElementById('load-symbol').getAttribute('aria-invalid');",
            vec![],
        )
        .await;
    assert_eq!(invalid, "true");
    let listed = server.get("/operations").await;
    assert_eq!(listed.body["total_count"], 0, "nothing was sent");

    // Six months of AAPL minute bars from the simulated broker: seconds of work, a holiday
    // or five.
    browser.type_into("#load-symbol", "aapl").await;
    browser.choose("#load-timeframe", "1m").await;
    browser.choose("#load-mode", "full").await;
    browser
        .js(
            "document.getElementById('load-start').value = '2023-10-01';
             document.getElementById('load-end').value = '2024-03-31';",
            vec![],
        )
        .await;
    browser.click("#load-submit").await;

    let first = browser
        .until(
            "the load runs with some progress",
            &format!(
                "const row = {NEWEST}; if (!row || row.dataset.status !== 'running') return null;
                 const pct = parseFloat(row.querySelector('.pct').textContent);
                 return pct > 0 && pct < 100 && pct;"
            ),
            MINUTE,
        )
        .await;
    let first = first.as_f64().unwrap();
    let later = browser
        .until(
            "the progress advances",
            &format!(
                "const row = {NEWEST}; const pct = parseFloat(row.querySelector('.pct').textContent);
                 return row.dataset.status === 'running' && pct > {first} && pct;"
            ),
            MINUTE,
        )
        .await;
    assert!(later.as_f64().unwrap() > first);
    let eta = browser
        .until(
            "the ETA appears",
            &format!("const eta = {NEWEST}.querySelector('.eta').textContent; return eta !== '—' && eta;"),
            MINUTE,
        )
        .await;
    let eta = eta.as_str().unwrap();
    assert!(
        eta.contains('(') && eta.contains('–'),
        "an ETA with its range: {eta}"
    );
    let row_text = browser
        .js(&format!("return {NEWEST}.textContent;"), vec![])
        .await;
    let row_text = row_text.as_str().unwrap();
    assert!(
        row_text.contains("data_load") && row_text.contains("AAPL 1m"),
        "{row_text}"
    );
    browser.screenshot("1-running").await;

    // Cancel: the row says `cancelling`, then `cancelled` once the load has stopped.
    browser
        .js(
            &format!(
                "const row = {NEWEST}; window.seenStatuses = [row.dataset.status];
                 new MutationObserver(() => {{
                     const s = row.dataset.status;
                     if (window.seenStatuses[window.seenStatuses.length - 1] !== s) window.seenStatuses.push(s);
                 }}).observe(row, {{ attributes: true, subtree: true, childList: true, characterData: true }});"
            ),
            vec![],
        )
        .await;
    browser.click("#ops-table tbody tr .cancel").await;
    browser
        .until(
            "the row says cancelled",
            &format!("return {NEWEST}.dataset.status === 'cancelled' && 'ok';"),
            MINUTE,
        )
        .await;
    let seen = browser.js("return window.seenStatuses;", vec![]).await;
    let seen: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(seen, ["running", "cancelling", "cancelled"]);
    browser.screenshot("2-cancelled").await;

    // Its details: the step plan, where it stopped, and why.
    browser.click("#ops-table tbody tr .details").await;
    let detail = browser
        .until(
            "the detail view shows the cancel",
            "const d = document.getElementById('detail'); return !d.hidden && d.textContent.includes('Cancel reason') && d.textContent;",
            MINUTE,
        )
        .await;
    let detail = detail.as_str().unwrap();
    assert!(detail.contains("Fetch segments"), "the step plan: {detail}");
    assert!(detail.contains("cancelled from the web page"), "{detail}");
    browser.screenshot("2-detail").await;

    // Retry: a new operation with the same request runs to the end.
    let cancelled_id = browser
        .js(&format!("return {NEWEST}.dataset.id;"), vec![])
        .await;
    browser.click("#ops-table tbody tr .retry").await;
    let retried = browser
        .until(
            "the retry completes",
            &format!(
                "const row = {NEWEST}; return row.dataset.id !== {cancelled_id} && row.dataset.status === 'completed' && row.dataset.id;"
            ),
            3 * MINUTE,
        )
        .await;
    let record = server.operation(retried.as_str().unwrap()).await;
    assert_eq!(record["metadata"]["symbol"], "AAPL");
    assert_eq!(record["metadata"]["parameters"]["retry_of"], cancelled_id);

    // The filters: only the cancelled one, then only trainings (none), then all again.
    let shown = |status: &str| {
        format!(
            "const rows = [...document.querySelectorAll('#ops-table tbody tr')];
             return rows.length > 0 && rows.every(r => r.dataset.status === '{status}') && rows.length;"
        )
    };
    browser.choose("#filter-status", "cancelled").await;
    let cancelled_rows = browser
        .until("only cancelled rows", &shown("cancelled"), MINUTE)
        .await;
    assert_eq!(cancelled_rows, 1);
    browser.choose("#filter-status", "").await;
    browser.choose("#filter-type", "training").await;
    browser
        .until(
            "no training rows",
            "return document.querySelectorAll('#ops-table tbody tr').length === 0
                 && !document.getElementById('ops-empty').hidden && 'ok';",
            MINUTE,
        )
        .await;
    browser.choose("#filter-type", "").await;
    browser
        .until(
            "both rows again",
            "return document.querySelectorAll('#ops-table tbody tr').length === 2 && 'ok';",
            MINUTE,
        )
        .await;

    // The chart of the series it stored, its closures shaded.
    browser.click("#tab-data").await;
    browser
        .until(
            "the series is listed",
            "return document.querySelector('tr[data-series=\"AAPL_1m\"] button') && 'ok';",
            MINUTE,
        )
        .await;
    browser.click("tr[data-series=\"AAPL_1m\"] button").await;
    let painted = browser
        .until(
            "the chart shades its gaps",
            "const f = document.getElementById('chart').dataset;
             return Number(f.candles) > 0 && Number(f.painted_holiday) > 0 && Number(f.painted_weekend) > 0
                 && JSON.stringify(f);",
            MINUTE,
        )
        .await;
    let painted: Value = serde_json::from_str(painted.as_str().unwrap()).unwrap();
    let summary = browser
        .js(
            "return document.getElementById('chart-summary').textContent;",
            vec![],
        )
        .await;
    let summary = summary.as_str().unwrap();
    assert!(
        summary.contains("holiday") && summary.contains("weekend"),
        "{summary}"
    );
    browser.screenshot("3-chart").await;

    // Zoom in from the keyboard: a shorter window at a finer resolution, fetched anew.
    let coarse: i64 = painted["bucket"].as_str().unwrap().parse().unwrap();
    browser.click("#chart-canvas").await;
    browser.type_into("#chart-canvas", "+++").await;
    let fine = browser
        .until(
            "the zoomed window arrives",
            &format!("const b = Number(document.getElementById('chart').dataset.bucket); return b < {coarse} && b;"),
            MINUTE,
        )
        .await;
    assert!(fine.as_i64().unwrap() < coarse);
    browser.screenshot("4-chart-zoomed").await;
    browser.close().await;
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_the_page_asks_for_it_and_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[("KTRDR_API_TOKEN", "s3cret-page")]);
    // The page itself is open; the API is not.
    let page = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(server.get("/operations").await.status, 401);

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", server.base))
        .await
        .unwrap();
    browser
        .until(
            "the token dialog opens",
            "return document.getElementById('token-dialog').open && 'ok';",
            MINUTE,
        )
        .await;
    browser.type_into("#token-input", "s3cret-page").await;
    browser.click("#token-form button").await;
    browser
        .until(
            "the feed connects with the token",
            "return document.getElementById('connection').textContent.includes('live') && 'ok';",
            MINUTE,
        )
        .await;
    let open = browser
        .js(
            "return document.getElementById('token-dialog').open;",
            vec![],
        )
        .await;
    assert_eq!(open, false);
    browser.close().await;
    server.terminate();
}

/// The strategies of `../shared/data/strategies`.
const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

#[tokio::test(flavor = "multi_thread")]
async fn a_training_shows_its_curves_and_its_model_is_listed_with_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let server = Server::start(
        dir.path(),
        &[
            "--source",
            "sim",
            "--strategies-dir",
            STRATEGIES,
            "--models-dir",
            models.to_str().unwrap(),
        ],
        &[],
    );
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", server.base))
        .await
        .unwrap();
    browser
        .until(
            "the feed connects",
            "return document.getElementById('connection').textContent.includes('live') && 'ok';",
            MINUTE,
        )
        .await;
    browser.click("#tab-training").await;

    let start = r#"{"symbols": ["AAPL"], "timeframes": ["1h"],
        "strategy_name": "rsi_mean_reversion", "start_date": "2024-03-01",
        "end_date": "2024-10-31", "epochs": 3}"#;
    let started = server.call("POST", "/trainings/start", Some(start)).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let id = started.body["task_id"].as_str().unwrap().to_owned();

    // The training appears in the tab from the feed; its curves open from the keyboard.
    let row = format!("#training-table tr[data-id=\"{id}\"]");
    browser
        .until(
            "the training is listed",
            &format!("return document.querySelector('{row} .curves') && 'ok';"),
            MINUTE,
        )
        .await;
    browser.click(&format!("{row} .curves")).await;
    let drawn = browser
        .until(
            "three epochs drawn as curves",
            "const c = document.getElementById('curves');
             return !c.hidden && Number(c.dataset.epochs) === 3
                 && document.querySelectorAll('#loss-chart polyline').length === 2
                 && document.querySelectorAll('#accuracy-chart polyline').length === 2
                 && document.querySelectorAll('#curves-table tbody tr').length;",
            3 * MINUTE,
        )
        .await;
    assert_eq!(drawn, 3);
    let summary = browser
        .js(
            "return document.getElementById('curves-summary').textContent;",
            vec![],
        )
        .await;
    assert!(
        summary.as_str().unwrap().contains("Epoch 3 of 3"),
        "{summary}"
    );

    // Once it completed, its model is listed with its metrics.
    let model = browser
        .until(
            "the model is listed",
            "const row = document.querySelector('#models-table tbody tr[data-model=\"rsi_mean_reversion/AAPL_1h_v1\"]');
             return row && row.textContent.includes('%') && row.textContent;",
            3 * MINUTE,
        )
        .await;
    assert!(model.as_str().unwrap().contains("latest"), "{model}");
    browser.screenshot("5-training").await;
    browser.close().await;
    server.terminate();
}

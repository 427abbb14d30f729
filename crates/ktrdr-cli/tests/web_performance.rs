//! The web page's figures of docs/PERFORMANCE.md, measured in headless chromium against a real
//! `ktrdr serve`: the operations page's first paint with 200 operations listed, 20 of them
//! updating; the page's JavaScript heap and DOM size while they update; the time to read and
//! draw 20 years of hourly bars. The figures are printed and written to
//! `target/tmp/web-page/performance.json`; the test asserts what the page shows, never a time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;
mod web;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Server;
use web::{Browser, SCREENSHOTS};

const MINUTE: Duration = Duration::from_secs(60);

/// Starts a simulated load through the API; its operation id.
async fn start_load(
    server: &Server,
    symbol: &str,
    timeframe: &str,
    start: &str,
    end: &str,
) -> String {
    let body = json!({"symbol": symbol, "timeframe": timeframe, "mode": "full",
                      "start_date": start, "end_date": end})
    .to_string();
    let reply = server
        .call("POST", "/data/load?async_mode=true", Some(&body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["data"]["operation_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_with_200_operations_20_updating_and_a_chart_of_20_years_of_hours() {
    let dir = tempfile::tempdir().unwrap();
    let (home, data) = (dir.path().join("home"), dir.path().join("data"));
    // 20 years of SPY hourly bars from the simulated broker (its history starts in 2001).
    let seeded = Instant::now();
    let output = support::cli(&home, &data)
        .args([
            "data",
            "load",
            "SPY",
            "1h",
            "--mode",
            "full",
            "--start",
            "2005-01-01",
        ])
        .args(["--end", "2024-12-31", "--source", "sim", "--json", "-q"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seeded = seeded.elapsed();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);

    // 180 quick loads that end, then 20 long ones that keep updating.
    for i in 0..180 {
        start_load(
            &server,
            &format!("Q{i:03}"),
            "1d",
            "2024-01-01",
            "2024-03-31",
        )
        .await;
    }
    let deadline = Instant::now() + 3 * MINUTE;
    loop {
        let list = server.get("/operations?active_only=true&limit=1").await;
        if list.body["active_count"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the quick loads do not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..20 {
        start_load(
            &server,
            &format!("L{i:02}"),
            "1m",
            "2019-01-01",
            "2024-12-31",
        )
        .await;
    }

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", server.base))
        .await
        .unwrap();
    let listed = browser
        .until(
            "200 operations listed, 20 running with progress",
            "const rows = document.querySelectorAll('#ops-table tbody tr');
             const running = [...rows].filter(r => r.dataset.status === 'running'
                 && parseFloat(r.querySelector('.pct').textContent) > 0).length;
             return rows.length === 200 && running === 20 && performance.now();",
            3 * MINUTE,
        )
        .await;
    let paint = browser
        .js(
            "const paint = {};
             for (const e of performance.getEntriesByType('paint')) paint[e.name] = e.startTime;
             const nav = performance.getEntriesByType('navigation')[0];
             return { paint, dom_content_loaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };",
            vec![],
        )
        .await;

    // Ten seconds' worth of updates of the 20 rows: count the changes the table shows.
    let updates = browser
        .until(
            "the running rows update",
            "if (!window.rowUpdates) {
                 window.rowUpdates = 0;
                 window.updatesFrom = performance.now();
                 new MutationObserver((changes) => { window.rowUpdates += changes.length; })
                     .observe(document.querySelector('#ops-table tbody'),
                              { subtree: true, characterData: true, childList: true });
             }
             return performance.now() - window.updatesFrom > 10000
                 && { changes: window.rowUpdates, ms: performance.now() - window.updatesFrom };",
            MINUTE,
        )
        .await;
    let memory = browser
        .js(
            "return { js_heap_used: performance.memory.usedJSHeapSize,
                      js_heap_total: performance.memory.totalJSHeapSize,
                      dom_nodes: document.getElementsByTagName('*').length };",
            vec![],
        )
        .await;
    browser.screenshot("perf-200-operations").await;

    // The chart of the 20 years: fetch, aggregate on the server, draw.
    browser.click("#tab-data").await;
    browser
        .until(
            "the 20-year series is listed",
            "return document.querySelector('tr[data-series=\"SPY_1h\"] button') && 'ok';",
            MINUTE,
        )
        .await;
    browser.click("tr[data-series=\"SPY_1h\"] button").await;
    let chart = browser
        .until(
            "the 20 years are drawn",
            "const f = document.getElementById('chart').dataset;
             const ready = performance.getEntriesByName('chart-ready');
             return Number(f.candles) > 0 && ready.length > 0 && {
                 candles: Number(f.candles), bucket_seconds: Number(f.bucket),
                 fetch_to_drawn_ms: ready[ready.length - 1].duration, draw_ms: Number(f.drawMs),
                 summary: document.getElementById('chart-summary').textContent };",
            MINUTE,
        )
        .await;
    browser.screenshot("perf-20-years").await;
    let range = server
        .call(
            "POST",
            "/data/range",
            Some(r#"{"symbol":"SPY","timeframe":"1h"}"#),
        )
        .await;
    let rows = range.body["data"]["point_count"].as_u64().unwrap();
    assert!(rows > 30_000, "20 years of hours: {rows} bars");
    let candles = chart["candles"].as_u64().unwrap();
    assert!(
        candles > 100 && candles < rows,
        "{candles} candles for {rows} bars"
    );

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned());
    let figures = json!({
        "operations_page": { "listed_at_ms": listed, "navigation": paint,
                             "updates_while_20_run": updates, "memory": memory },
        "chart_20_years_1h": { "bars": rows, "chart": chart },
        "seed_20_years_seconds": seeded.as_secs_f64(),
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
                     "cpu": cpu,
                     "loadavg": std::fs::read_to_string("/proc/loadavg").ok() },
    });
    std::fs::create_dir_all(SCREENSHOTS).unwrap();
    let text = serde_json::to_string_pretty(&figures).unwrap();
    std::fs::write(format!("{SCREENSHOTS}/performance.json"), &text).unwrap();
    println!("{text}");
    browser.close().await;
    server.terminate();
}

//! The gap filler of a `ktrdr serve` child: `--gap-filler` fills a hole punched into a stored
//! sim series with a tail load the API lists; `/api/v1/gap-filler` reports it, and stop and
//! start answer with their status codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, BarSeries, Symbol, Timeframe};
use serde_json::Value;
use support::Server;

fn aapl() -> Symbol {
    "AAPL".parse().unwrap()
}

/// Loads ten days of AAPL 1h from the simulator into `root/data`, then removes three bars in a
/// row of one session; returns the bars loaded.
fn seed_with_a_hole(root: &std::path::Path) -> BarSeries {
    let start = chrono::Utc::now().timestamp() - 10 * 86_400;
    let load = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args([
            "data", "load", "AAPL", "1h", "--source", "sim", "--mode", "full",
        ])
        .args(["--start", &format_timestamp(start), "--quiet"])
        .env("KTRDR_HOME", root.join("home"))
        .env("KTRDR_DATA_DIR", root.join("data"))
        .env_remove("KTRDR_DATA_SOURCE")
        .output()
        .unwrap();
    assert!(load.status.success(), "{load:?}");
    let store = BarStore::new(root.join("data"));
    let series = store.load(&aapl(), Timeframe::H1).unwrap();
    let ts = series.ts();
    let day = |t: i64| t.div_euclid(86_400);
    let first = (ts.len() / 2..ts.len() - 3)
        .find(|&i| day(ts[i]) == day(ts[i + 2]) && ts[i + 2] - ts[i] <= 2 * 3600)
        .expect("a session with three bars in a row");
    let hole = &ts[first..first + 3];
    let kept: Vec<_> = series.iter().filter(|b| !hole.contains(&b.ts)).collect();
    store
        .replace_series(&aapl(), Timeframe::H1, &BarSeries::from_bars(kept).unwrap())
        .unwrap();
    series
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::get(server.api(path)).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn post(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.api(path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Polls `GET /gap-filler` until its first cycle is recorded (a child process: there is no
/// clock to pause).
async fn first_cycle(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(server, "/gap-filler").await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["stats"]["cycles"].as_u64() >= Some(1) {
            return body["data"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no cycle within a minute: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_gap_filler_fills_a_punched_hole_and_answers_start_stop_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = seed_with_a_hole(dir.path());
    let server = Server::start(dir.path(), &["--source", "sim", "--gap-filler"], &[]);

    let status = first_cycle(&server).await;
    assert_eq!(status["running"], true, "{status:#}");
    assert_eq!(status["config"]["interval_secs"], 3600.0);
    let stats = &status["stats"];
    assert_eq!(stats["loads_started"], 1, "{status:#}");
    assert_eq!(stats["loads_completed"], 1, "{status:#}");
    assert!(stats["bars_filled"].as_u64().unwrap() >= 3, "{status:#}");
    assert!(stats["skipped_by_class"]["weekend"].as_u64().unwrap() >= 1);
    let load = &stats["last_cycle"]["loads"][0];
    let id = load["operation_id"].as_str().unwrap();

    // The load is an ordinary operation of the registry.
    let (code, operation) = get(&server, &format!("/operations/{id}")).await;
    assert_eq!(code, 200, "{operation}");
    assert_eq!(operation["data"]["status"], "completed");
    assert_eq!(operation["data"]["operation_type"], "data_load");
    assert_eq!(
        operation["data"]["metadata"]["parameters"]["started_by"], "gap_filler",
        "{operation:#}"
    );
    let filled = BarStore::new(&server.data)
        .load(&aapl(), Timeframe::H1)
        .unwrap();
    for t in loaded.ts() {
        assert!(filled.ts().binary_search(t).is_ok(), "bar {t} is back");
    }

    let (code, again) = post(&server, "/gap-filler/start").await;
    assert_eq!(code, 409, "{again}");
    assert_eq!(again["error"]["code"], "GAPFILLER-AlreadyRunning");

    let (code, stopped) = post(&server, "/gap-filler/stop").await;
    assert_eq!(code, 200, "{stopped}");
    assert_eq!(stopped["data"]["running"], false);
    assert_eq!(stopped["data"]["stats"]["cycles"], 1);
    let (_, status) = get(&server, "/gap-filler").await;
    assert_eq!(
        status["data"]["running"], false,
        "the stats stay after a stop"
    );
    assert_eq!(status["data"]["stats"]["loads_started"], 1);

    let (code, again) = post(&server, "/gap-filler/stop").await;
    assert_eq!(code, 409, "{again}");
    assert_eq!(again["error"]["code"], "GAPFILLER-NotRunning");

    // Settings out of range are refused, naming the field.
    for (query, field) in [
        ("interval_secs=0", "interval_secs"),
        ("recent_days=-1", "recent_days"),
        ("request_budget=0", "request_budget"),
        ("timeframes=1h,7x", "timeframes"),
    ] {
        let (code, refused) = post(&server, &format!("/gap-filler/start?{query}")).await;
        assert_eq!(code, 422, "{query}: {refused}");
        assert_eq!(refused["error"]["details"]["field"], field, "{refused}");
    }
    let (_, status) = get(&server, "/gap-filler").await;
    assert_eq!(
        status["data"]["running"], false,
        "a refused start starts nothing"
    );

    let (code, started) = post(
        &server,
        "/gap-filler/start?request_budget=5&symbols=aapl&timeframes=1h,1d",
    )
    .await;
    assert_eq!(code, 200, "{started}");
    let config = &started["data"]["config"];
    assert_eq!(config["request_budget"], 5, "{config}");
    assert_eq!(config["symbols"], serde_json::json!(["AAPL"]));
    assert_eq!(config["timeframes"], serde_json::json!(["1h", "1d"]));
    assert_eq!(config["interval_secs"], 3600.0, "the others are kept");
    assert_eq!(started["data"]["running"], true);

    // SIGTERM stops the running gap filler with the server.
    let exit = server.terminate();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn without_a_source_the_gap_filler_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (code, status) = get(&server, "/gap-filler").await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["data"]["running"], false);
    assert_eq!(status["data"]["stats"]["cycles"], 0);
    let (code, refused) = post(&server, "/gap-filler/start").await;
    assert_eq!(code, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "GAPFILLER-NoSource");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--source"),
        "{refused}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--gap-filler"])
        .env("KTRDR_HOME", dir.path().join("home2"))
        .env("KTRDR_DATA_DIR", dir.path().join("data"))
        .env_remove("KTRDR_DATA_SOURCE")
        .env_remove("USE_IB_HOST_SERVICE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--gap-filler: the gap filler needs a data source"),
        "{stderr}"
    );
}

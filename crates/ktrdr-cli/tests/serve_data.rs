//! The data routes of `ktrdr serve`, black-box: a child server on a random loopback port, the
//! real IB files of `../shared/data/ib` in its store, `--source sim` for the fetching modes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use ktrdr_data::types::format_timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{seed_ib_files, Server};

/// Rows of `MSFT_1h.csv` (its README).
const MSFT_1H_ROWS: u64 = 20_758;

async fn get(url: &str) -> (StatusCode, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn post(url: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Asserts the error shape with `code`.
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

/// Polls `GET /operations/{id}` until the operation has ended; returns every answer's `data`.
async fn follow(server: &Server, id: &str) -> Vec<Value> {
    let url = server.api(&format!("/operations/{id}"));
    let mut seen = Vec::new();
    loop {
        let (status, body) = get(&url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let data = body["data"].clone();
        let done = matches!(
            data["status"].as_str(),
            Some("completed" | "failed" | "cancelled" | "interrupted")
        );
        seen.push(data);
        if done {
            return seen;
        }
    }
}

fn server_with(root: &Path, files: &[&str], args: &[&str]) -> Server {
    seed_ib_files(root, files);
    Server::start(root, args, &[])
}

#[tokio::test]
async fn the_catalogue_lists_what_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(
        dir.path(),
        &["MSFT_1h.csv", "MSFT_1d.csv", "EURUSD_1h.csv"],
        &[],
    );

    let (status, body) = get(&server.api("/symbols")).await;
    assert_eq!(status, StatusCode::OK);
    let symbols = body["data"].as_array().unwrap();
    let names: Vec<&str> = symbols
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["EURUSD", "MSFT"]);
    assert_eq!(symbols[0]["type"], "forex");
    assert_eq!(symbols[0]["exchange"], "FX");
    assert_eq!(symbols[1]["available_timeframes"], json!(["1h", "1d"]));
    assert_eq!(symbols[1]["trading_hours"]["timezone"], "America/New_York");

    let (status, body) = get(&server.api("/timeframes")).await;
    assert_eq!(status, StatusCode::OK);
    let stored: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["stored"] == true)
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ["1h", "1d"]);
    assert_eq!(body["data"].as_array().unwrap().len(), 9);

    let (status, body) = get(&server.api("/data/info")).await;
    assert_eq!(status, StatusCode::OK);
    let info = &body["data"];
    assert_eq!(info["total_symbols"], 2);
    assert_eq!(info["total_series"], 3);
    let msft = info["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "MSFT" && s["timeframe"] == "1h")
        .unwrap();
    assert_eq!(msft["rows"], MSFT_1H_ROWS);
    assert_eq!(msft["first_bar"], "2013-12-31T00:30:00Z");
    assert_eq!(msft["last_bar"], "2025-06-06T23:00:00Z");
}

#[tokio::test]
async fn an_empty_store_has_an_empty_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (status, body) = get(&server.api("/symbols")).await;
    assert_eq!((status, body["data"].clone()), (StatusCode::OK, json!([])));
    let (_, body) = get(&server.api("/data/info")).await;
    assert_eq!(body["data"]["total_series"], 0);
}

#[tokio::test]
async fn bars_of_a_stored_series_in_the_python_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);

    let url = server.api("/data/msft/1h?start_date=2025-06-02&end_date=2025-06-02");
    let (status, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    let dates = data["dates"].as_array().unwrap();
    assert!(!dates.is_empty());
    assert!(dates
        .iter()
        .all(|d| d.as_str().unwrap().starts_with("2025-06-02T")));
    assert_eq!(
        dates[0].as_str().unwrap().len(),
        "2025-06-02T08:00:00".len()
    );
    let ohlcv = data["ohlcv"].as_array().unwrap();
    assert_eq!(ohlcv.len(), dates.len());
    assert!(ohlcv.iter().all(|bar| bar.as_array().unwrap().len() == 5));
    let meta = &data["metadata"];
    assert_eq!(meta["symbol"], "MSFT");
    assert_eq!(meta["timeframe"], "1h");
    assert_eq!(meta["point_count"], dates.len());
    assert_eq!(meta["start_date"], dates[0]);
    assert_eq!(meta["end_date"], *dates.last().unwrap());

    // The whole series without bounds.
    let (_, body) = get(&server.api("/data/MSFT/1h")).await;
    assert_eq!(body["data"]["metadata"]["point_count"], MSFT_1H_ROWS);

    // A range with no bars is an empty answer, not an error.
    let (status, body) = get(&server.api("/data/MSFT/1h?start_date=2030-01-01")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["dates"], json!([]));
    assert_eq!(body["data"]["metadata"]["point_count"], 0);
    assert_eq!(body["data"]["metadata"]["start_date"], "");
}

#[tokio::test]
async fn the_trading_hours_filter_really_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);
    let day = "start_date=2025-06-03&end_date=2025-06-03";
    let count = |body: &Value| body["data"]["metadata"]["point_count"].as_u64().unwrap();

    let (_, all) = get(&server.api(&format!("/data/MSFT/1h?{day}"))).await;
    let (_, regular) =
        get(&server.api(&format!("/data/MSFT/1h?{day}&trading_hours_only=true"))).await;
    let (_, extended) = get(&server.api(&format!(
        "/data/MSFT/1h?{day}&trading_hours_only=true&include_extended=true"
    )))
    .await;
    // The file has extended hours (IB useRTH=False): the regular session is a part of them.
    assert!(count(&regular) < count(&extended), "{regular} {extended}");
    assert!(count(&extended) <= count(&all));
    assert_eq!(
        regular["data"]["metadata"]["filtered_out"]
            .as_u64()
            .unwrap(),
        count(&all) - count(&regular)
    );
    // 2025-06-03 is on New York daylight time: the regular session is 13:30-20:00 UTC.
    for date in regular["data"]["dates"].as_array().unwrap() {
        let time = &date.as_str().unwrap()[11..16];
        assert!(
            ("13:30".."20:00").contains(&time),
            "{time} is outside regular hours"
        );
    }
}

#[tokio::test]
async fn bars_answer_404_400_and_422_with_the_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);

    let (status, body) = get(&server.api("/data/NOPE/1h")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "DATA-NotFound");
    // Another timeframe of a stored symbol: 404, naming what is stored.
    let (status, body) = get(&server.api("/data/MSFT/1d")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["details"]["available_timeframes"],
        json!(["1h"])
    );

    let (status, body) = get(&server.api("/data/MSFT/1h?start_date=June")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Invalid start_date format. Use YYYY-MM-DD"
    );
    let (status, body) = get(&server.api("/data/MSFT/1h?end_date=2025-02-30")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Invalid end_date format. Use YYYY-MM-DD"
    );

    let (status, body) = get(&server.api("/data/MSFT/7x")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "timeframe");
    let (status, body) = get(&server.api("/data/MSFT/1h?trading_hours_only=maybe")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "REQUEST-InvalidQuery");
}

#[tokio::test]
async fn range_gives_the_real_row_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);

    let (status, body) = post(
        &server.api("/data/range"),
        &json!({"symbol": " msft", "timeframe": "60m"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "symbol": "MSFT", "timeframe": "1h",
            "start_date": "2013-12-31T00:30:00Z", "end_date": "2025-06-06T23:00:00Z",
            "point_count": MSFT_1H_ROWS, "unreadable_rows": 0, "out_of_order": 0,
        })
    );

    let (status, body) = post(
        &server.api("/data/range"),
        &json!({"symbol": "AAPL", "timeframe": "1h"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "DATA-NotFound");
    let (status, body) = post(&server.api("/data/range"), &json!({"symbol": "AAPL"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "REQUEST-InvalidBody");
}

#[tokio::test]
async fn gaps_of_a_stored_series_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);

    let url = server.api("/data/MSFT/1h/gaps?start_date=2025-05-01&end_date=2025-05-31");
    let (status, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gaps = &body["data"];
    assert_eq!(gaps["calendar"], "XNYS");
    // The file has pre-market and after-hours bars, so extended hours are expected.
    assert_eq!(gaps["session"], "extended");
    assert!(gaps["expected_bars"].as_u64().unwrap() > 0);
    let kinds: Vec<&str> = gaps["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"missing") && kinds.contains(&"weekend"),
        "{kinds:?}"
    );
    // Without include_closures only missing-type intervals are listed; with it, weekends too.
    let listed = |body: &Value, kind: &str| {
        body["data"]["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["kind"] == kind)
            .count()
    };
    assert_eq!(listed(&body, "weekend"), 0);
    let (_, all) = get(&format!("{url}&include_closures=true")).await;
    assert_eq!(listed(&all, "weekend"), 3, "{all}");
    assert_eq!(listed(&all, "holiday"), 1, "Memorial Day: {all}");

    let (status, body) = get(&server.api("/data/NOPE/1h/gaps")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "DATA-NotFound");
    let (status, body) = get(&server.api("/data/MSFT/1h/gaps?session=night")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["details"]["allowed"],
        json!(["regular", "extended"])
    );
}

#[tokio::test]
async fn a_load_is_refused_with_the_field_and_what_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);
    let url = server.api("/data/load");

    let (status, body) = post(
        &url,
        &json!({"symbol": "MSFT", "timeframe": "1h", "mode": "fast"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "mode");
    assert_eq!(
        body["error"]["details"]["allowed"],
        json!(["local", "tail", "backfill", "full"])
    );
    let (status, body) = post(&url, &json!({"symbol": "MSFT", "timeframe": "3h"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "timeframe");

    // No source configured: a fetching mode names the flags and variables that configure one.
    let (status, body) = post(
        &url,
        &json!({"symbol": "MSFT", "timeframe": "1h", "mode": "tail"}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "DATA-NoSource");
    let message = body["error"]["message"].as_str().unwrap();
    for hint in ["--source", "KTRDR_DATA_SOURCE", "USE_IB_HOST_SERVICE"] {
        assert!(message.contains(hint), "{message}");
    }

    // A local load of a series that is not stored: 404, not an empty success.
    let (status, body) = post(&url, &json!({"symbol": "AAPL", "timeframe": "1h"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "DATA-NotFound");

    // Nothing was started by any of these.
    let (_, list) = get(&server.api("/operations")).await;
    assert_eq!(list["total_count"], 0, "{list}");
}

#[tokio::test]
async fn a_local_load_runs_as_an_operation_with_real_counts() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);

    let (status, body) = post(
        &server.api("/data/load"),
        &json!({"symbol": " msft ", "timeframe": "1h"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(body["success"], true);
    assert_eq!(data["status"], "success");
    assert_eq!(data["fetched_bars"], MSFT_1H_ROWS);
    assert_eq!(data["cached_before"], true);
    assert_eq!(data["merged_file"], "MSFT_1h.csv");
    assert_eq!(data["ib_requests_made"], 0);
    assert!(data["gaps_analyzed"].as_u64().unwrap() > 0);
    assert!(data["execution_time_seconds"].as_f64().unwrap() > 0.0);

    // The same load is an operation in the registry, completed, with the same summary.
    let id = data["operation_id"].as_str().unwrap();
    let (_, op) = get(&server.api(&format!("/operations/{id}"))).await;
    let op = &op["data"];
    assert_eq!(op["operation_type"], "data_load");
    assert_eq!(op["status"], "completed");
    assert_eq!(op["metadata"]["symbol"], "MSFT");
    assert_eq!(op["metadata"]["mode"], "local");
    assert_eq!(op["result_summary"]["fetched_bars"], MSFT_1H_ROWS);
    assert_eq!(op["result_summary"]["bars_in_window"], MSFT_1H_ROWS);
    assert_eq!(op["progress"]["percentage"], 100.0);
}

/// Each mode with a window the simulated broker serves in well under a second; `local` last,
/// once the others have stored the series.
const MODES: [(&str, Option<&str>, Option<&str>); 4] = [
    ("tail", Some("2024-05-01"), None),
    ("backfill", Some("2024-01-01"), None),
    ("full", Some("2023-10-01"), Some("2024-06-30")),
    ("local", None, None),
];

#[tokio::test]
async fn every_mode_loads_sync_and_async_to_completed_with_a_real_summary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    for async_mode in [false, true] {
        // Each pass loads its own symbol, so the sync pass leaves nothing for the async one.
        let symbol = if async_mode { "MSFT" } else { "AAPL" };
        for (mode, start, end) in MODES {
            let body = json!({
                "symbol": symbol, "timeframe": "1d", "mode": mode,
                "start_date": start, "end_date": end,
            });
            let url = server.api(&format!("/data/load?async_mode={async_mode}"));
            let (status, answer) = post(&url, &body).await;
            let context = format!("{mode} async={async_mode}: {answer}");
            assert_eq!(status, StatusCode::OK, "{context}");
            let id = answer["data"]["operation_id"].as_str().unwrap().to_owned();
            let expected = if async_mode { "started" } else { "success" };
            assert_eq!(answer["data"]["status"], expected, "{context}");

            let last = follow(&server, &id).await.pop().unwrap();
            assert_eq!(last["status"], "completed", "{context} → {last}");
            let summary = &last["result_summary"];
            assert_eq!(summary["status"], "success", "{context}");
            assert_eq!(summary["mode"], mode);
            assert_eq!(summary["ib_requests_made"], summary["requests_sent"]);
            if mode == "local" {
                assert_eq!(summary["requests_sent"], 0, "{context}");
                assert!(summary["bars_in_window"].as_u64().unwrap() > 0, "{context}");
                assert_eq!(
                    summary["fetched_bars"], summary["bars_in_window"],
                    "{context}"
                );
            } else {
                assert!(summary["requests_sent"].as_u64().unwrap() > 0, "{context}");
                assert!(summary["bars_fetched"].as_u64().unwrap() > 0, "{context}");
                assert_eq!(
                    summary["fetched_bars"], summary["bars_fetched"],
                    "{context}"
                );
            }
            if !async_mode {
                // The sync answer is the operation's summary, in the Python names.
                for field in [
                    "fetched_bars",
                    "cached_before",
                    "merged_file",
                    "gaps_analyzed",
                    "segments_fetched",
                    "ib_requests_made",
                    "execution_time_seconds",
                ] {
                    assert_eq!(answer["data"][field], summary[field], "{field}: {context}");
                }
            }
        }
    }
}

#[tokio::test]
async fn an_async_load_shows_progress_moving_forward_and_ends_completed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let body = json!({
        "symbol": "AAPL", "timeframe": "1m", "mode": "full",
        "start_date": "2024-01-01", "end_date": "2024-03-31",
    });
    let (status, answer) = post(&server.api("/data/load?async_mode=true"), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["data"]["operation_id"].as_str().unwrap();
    let seen = follow(&server, id).await;

    let running: Vec<&Value> = seen.iter().filter(|op| op["status"] == "running").collect();
    let percent = |op: &Value| op["progress"]["percentage"].as_f64().unwrap();
    let items = |op: &Value| op["progress"]["items_processed"].as_u64().unwrap();
    eprintln!("{} answers, {} while running", seen.len(), running.len());
    assert!(
        seen.windows(2).all(|w| percent(&w[0]) <= percent(&w[1])),
        "the percentage never falls"
    );
    assert!(
        seen.windows(2)
            .all(|w| items(&w[0]) <= items(&w[1]) || w[1]["status"] != "running"),
        "items_processed never falls while it runs"
    );
    // While it fetched: a message, a total of items, and items that moved.
    let fetching: Vec<&&Value> = running
        .iter()
        .filter(|op| {
            op["progress"]["items_total"]
                .as_u64()
                .is_some_and(|t| t > 0)
        })
        .collect();
    assert!(!fetching.is_empty(), "no answer while fetching: {seen:?}");
    assert!(fetching.iter().all(|op| op["progress"]["current_step"]
        .as_str()
        .is_some_and(|s| !s.is_empty())));
    let distinct: std::collections::BTreeSet<u64> = fetching.iter().map(|op| items(op)).collect();
    assert!(distinct.len() >= 2, "items did not move: {distinct:?}");

    let last = seen.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(percent(last), 100.0);
    let summary = &last["result_summary"];
    assert!(
        summary["fetched_bars"].as_u64().unwrap() > 1000,
        "{summary}"
    );
    assert_eq!(summary["fetched_bars"], summary["bars_fetched"]);
    assert_eq!(summary["merged_file"], "AAPL_1m.csv");
}

/// Writes `{data}/BIG_1m.csv`: a decade of one-minute bars, 14:30-21:00 UTC on weekdays
/// (about a million rows).
fn write_decade_of_minutes(root: &Path) -> u64 {
    use std::io::Write as _;
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = std::fs::File::create(data.join("BIG_1m.csv")).unwrap();
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "timestamp,open,high,low,close,volume").unwrap();
    let first_day = 1_420_070_400; // 2015-01-01
    let mut rows = 0;
    for day in 0..3653 {
        let midnight = first_day + day * 86_400;
        // 1970-01-01 was a Thursday: weekday 0 is Sunday, 6 Saturday.
        if matches!((midnight / 86_400 + 4) % 7, 0 | 6) {
            continue;
        }
        for minute in 0..390 {
            let ts = midnight + 14 * 3600 + 30 * 60 + minute * 60;
            writeln!(out, "{},10.0,10.5,9.5,10.25,100", format_timestamp(ts)).unwrap();
            rows += 1;
        }
    }
    out.flush().unwrap();
    rows
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn time_health(client: &reqwest::Client, server: &Server) -> Duration {
    let started = Instant::now();
    let response = client.get(server.api("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    started.elapsed()
}

#[tokio::test]
async fn a_load_of_a_decade_of_bars_does_not_block_health() {
    const LOADS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let rows = write_decade_of_minutes(dir.path());
    let server = Server::start(dir.path(), &[], &[]);
    let client = reqwest::Client::new();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(time_health(&client, &server).await);
    }

    // Three times as many loads as the server has runtime workers (2): loads that held
    // workers would leave none for /health.
    let body = json!({"symbol": "BIG", "timeframe": "1m", "mode": "local"});
    let mut ops = Vec::new();
    for _ in 0..LOADS {
        let (status, answer) = post(&server.api("/data/load?async_mode=true"), &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let id = answer["data"]["operation_id"].as_str().unwrap();
        ops.push(server.api(&format!("/operations/{id}")));
    }
    // A /health answer counts when a load was still running after it arrived: the loads
    // were started before the request was sent, so the answer came while one ran.
    let mut during = Vec::new();
    let shortest_load = loop {
        let took = time_health(&client, &server).await;
        let mut running = false;
        let mut durations = Vec::new();
        for url in &ops {
            let (_, op) = get(url).await;
            match op["data"]["status"].as_str() {
                Some("running" | "pending") => running = true,
                _ => {
                    assert_eq!(op["data"]["status"], "completed", "{op}");
                    assert_eq!(op["data"]["result_summary"]["fetched_bars"], rows);
                    durations.push(op["data"]["duration_seconds"].as_f64().unwrap());
                }
            }
        }
        if !running {
            break durations.into_iter().fold(f64::INFINITY, f64::min);
        }
        during.push(took);
    };
    assert!(
        during.len() >= 3,
        "/health answered {} times while {rows} bars loaded",
        during.len()
    );
    let slowest = during.iter().max().copied().unwrap_or_default();
    let (idle, busy) = (median(idle), median(during.clone()));
    let ratio = busy.as_secs_f64() / idle.as_secs_f64();
    // Measured against the loads themselves, not wall time, so that a busy machine slows both
    // sides alike. Loads that read the file on a runtime worker (checked by breaking them so)
    // made an answer wait ~80 % of a load; off the runtime the slowest waits ~1.5 % of one.
    let share = slowest.as_secs_f64() / shortest_load;
    assert!(
        share < 0.15,
        "a /health answer waited {slowest:?}, {:.0} % of a load ({shortest_load:.2} s)",
        share * 100.0
    );
    eprintln!(
        "/health: idle median {idle:?}, median {busy:?} ({ratio:.1}x idle) over {} answers \
         during {LOADS} loads of {rows} bars each; slowest {slowest:?} ({:.1} % of a load)",
        during.len(),
        share * 100.0
    );
}

#[tokio::test]
async fn a_sync_load_the_source_refuses_answers_its_status_and_is_recorded_failed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    // The simulated broker knows no symbol starting with ZZ.
    let body = json!({"symbol": "ZZTOP", "timeframe": "1d", "mode": "tail"});
    let (status, answer) = post(&server.api("/data/load"), &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["success"], false);
    assert_eq!(answer["error"]["code"], "DATA-SymbolNotFound");
    assert_eq!(answer["data"]["status"], "failed");
    assert_eq!(answer["data"]["fetched_bars"], 0);
    let id = answer["data"]["operation_id"].as_str().unwrap();
    let (_, op) = get(&server.api(&format!("/operations/{id}"))).await;
    assert_eq!(op["data"]["status"], "failed", "{op}");
    assert!(op["data"]["error_message"]
        .as_str()
        .unwrap()
        .contains("ZZTOP"));
}

#[tokio::test]
async fn candles_aggregate_a_window_to_at_most_max_points_with_its_gaps_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["MSFT_1h.csv"], &[]);

    // The whole series in at most 100 candles: every bar counted once.
    let (status, body) = get(&server.api("/data/msft/1h/candles?max_points=100")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    let candles = data["candles"].as_array().unwrap();
    assert!(
        !candles.is_empty() && candles.len() <= 100,
        "{}",
        candles.len()
    );
    let bars: u64 = candles.iter().map(|c| c["bars"].as_u64().unwrap()).sum();
    assert_eq!(bars, MSFT_1H_ROWS);
    assert_eq!(data["bars"], MSFT_1H_ROWS);
    assert!(data["bucket_seconds"].as_i64().unwrap() > 3600);
    assert!(candles.iter().all(|c| c["l"].as_f64() <= c["h"].as_f64()));
    // The IB file has missing bars; the validation findings are per candle.
    let gaps = data["gaps"].as_array().unwrap();
    assert!(gaps.iter().any(|g| g["kind"] == "missing"), "{gaps:?}");
    assert!(!data["findings"].as_array().unwrap().is_empty());

    // One day at the bar size: a candle per bar, the closures of that day listed.
    let day = "/data/MSFT/1h/candles?start_date=2025-06-02&end_date=2025-06-02&max_points=1000";
    let (_, body) = get(&server.api(day)).await;
    let data = &body["data"];
    assert_eq!(data["bucket_seconds"], 3600);
    assert_eq!(data["candles"].as_array().unwrap().len(), data["bars"]);

    let (status, body) = get(&server.api("/data/MSFT/1h/candles?max_points=0")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "max_points");
    let (status, body) = get(&server.api("/data/MSFT/5m/candles")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "DATA-NotFound");
}

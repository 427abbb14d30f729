//! The Python ktrdr CLI's data commands work against `ktrdr serve` unchanged: each test sends
//! the exact requests `ktrdr data show|load|range` sends (`../shared/research/ktrdr-spec.md`
//! §4.1: routes, query parameters, bodies, httpx's spelling of booleans) and checks that every
//! field the CLI reads is there with the type it expects.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{seed_ib_files, Server};

/// The field at `path` (`a.b.c`) of `value`, failing with the path when it is missing.
fn field<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("the Python CLI reads {path}; missing in {value}"))
    })
}

fn is_int(v: &Value) -> bool {
    v.as_u64().is_some()
}

fn is_str_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

#[tokio::test]
async fn data_show_reads_dates_ohlcv_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    seed_ib_files(dir.path(), &["MSFT_1h.csv"]);
    let server = Server::start(dir.path(), &[], &[]);
    let client = reqwest::Client::new();

    // `ktrdr data show msft -t 1h --start 2025-06-02 --end 2025-06-03 --trading-hours`
    let response = client
        .get(server.api("/data/msft/1h"))
        .query(&[
            ("start_date", "2025-06-02"),
            ("end_date", "2025-06-03"),
            ("trading_hours_only", "true"),
            ("include_extended", "false"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(field(&body, "success"), true);
    let dates = field(&body, "data.dates").as_array().unwrap();
    let ohlcv = field(&body, "data.ohlcv").as_array().unwrap();
    assert!(!dates.is_empty() && dates.len() == ohlcv.len());
    // pandas parses the dates; each row is [open, high, low, close, volume] numbers.
    for (date, row) in dates.iter().zip(ohlcv) {
        let date = date.as_str().unwrap();
        assert!(
            chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok()
                && date.len() == 19,
            "{date} is not %Y-%m-%dT%H:%M:%S"
        );
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 5);
        assert!(row.iter().all(Value::is_number));
    }
    // The table header reads metadata.start/end (the Python backend sent only
    // start_date/end_date, so it printed N/A); JSON output copies the whole metadata.
    for key in ["start", "end", "start_date", "end_date"] {
        assert!(field(&body, &format!("data.metadata.{key}")).is_string());
    }
    assert!(is_int(field(&body, "data.metadata.point_count")));

    // A series that is not stored: 404, which the CLI shows as "No cached data found".
    let response = client
        .get(server.api("/data/AAPL/1d"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn data_range_reads_the_range_and_point_count() {
    let dir = tempfile::tempdir().unwrap();
    seed_ib_files(dir.path(), &["EURUSD_1h.csv"]);
    let server = Server::start(dir.path(), &[], &[]);

    // `ktrdr data range EURUSD -t 1h`
    let response = reqwest::Client::new()
        .post(server.api("/data/range"))
        .json(&json!({"symbol": "EURUSD", "timeframe": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    for key in ["symbol", "timeframe", "start_date", "end_date"] {
        assert!(field(&body, &format!("data.{key}")).is_string(), "{key}");
    }
    // The real row count (2,591 bars, `../shared/data/ib/README.md`), not an estimate.
    assert_eq!(field(&body, "data.point_count"), 2591);
}

#[tokio::test]
async fn data_load_starts_async_polls_progress_and_reads_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    let client = reqwest::Client::new();

    // `ktrdr data load aapl -t 1d --start 2024-01-01 --end 2024-06-30` (mode tail by default,
    // always async_mode=true, the filters always sent).
    let response = client
        .post(server.api("/data/load"))
        .query(&[("async_mode", "true")])
        .json(&json!({
            "symbol": "aapl", "timeframe": "1d", "mode": "tail",
            "start_date": "2024-01-01", "end_date": "2024-06-30",
            "filters": {"trading_hours_only": false, "include_extended": false},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let id = field(&body, "data.operation_id")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("op_data_load_"), "{id}");

    // Polling `GET /operations/{id}` until completed, failed or cancelled; each poll reads the
    // progress fields into a GenericProgressState and prints warnings and errors.
    let url = server.api(&format!("/operations/{id}"));
    let op = loop {
        let body: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        let op = field(&body, "data").clone();
        assert!(field(&op, "progress.percentage").is_number());
        assert!(is_str_or_null(field(&op, "progress.current_step")));
        for key in ["steps_completed", "steps_total", "items_processed"] {
            assert!(
                is_int(field(&op, &format!("progress.{key}"))),
                "{key}: {op}"
            );
        }
        let items_total = field(&op, "progress.items_total");
        assert!(is_int(items_total) || items_total.is_null());
        assert!(field(&op, "warnings").is_array() && field(&op, "errors").is_array());
        let status = field(&op, "status").as_str().unwrap().to_owned();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
            break op;
        }
    };

    // The final report: status, and the real bar count in result_summary.fetched_bars.
    assert_eq!(field(&op, "status"), "completed");
    assert!(field(&op, "result_summary.fetched_bars").as_u64().unwrap() > 100);
    assert!(field(&op, "result_summary.execution_time_seconds").is_number());
    assert!(field(&op, "duration_seconds").is_number());
    assert_eq!(field(&op, "metadata.symbol"), "AAPL");
}

//! `GET /metrics` of a `ktrdr serve` child: the OpenMetrics text with the operations of every
//! process sharing the registry, the requests it answered, and the data manager's counters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::process::Command;

use support::Server;

/// The value of the sample `name{labels}` (labels as written, in order), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_operations_of_other_processes_requests_and_pacing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--source", "sim"], &[]);
    // A load run by another process, in the same registry.
    let load = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args([
            "data", "load", "AAPL", "1d", "--source", "sim", "--mode", "full",
        ])
        .args(["--start", "2024-01-01", "--end", "2024-03-01", "--quiet"])
        .env("KTRDR_HOME", &server.home)
        .env("KTRDR_DATA_DIR", &server.data)
        .output()
        .unwrap();
    assert!(load.status.success(), "{load:?}");
    for _ in 0..3 {
        reqwest::get(server.api("/operations")).await.unwrap();
    }

    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    assert_eq!(
        sample(
            &text,
            r#"ktrdr_operations{operation_type="data_load",status="completed"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"ktrdr_http_requests_total{method="GET",route="/api/v1/operations",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"ktrdr_http_request_duration_seconds_count{route="/api/v1/operations"}"#
        ),
        Some(3.0),
        "{text}"
    );
    // This server has run nothing yet: its own counters are there, at zero.
    assert_eq!(sample(&text, "ktrdr_data_loads_total"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "ktrdr_pacing_grants_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(sample(&text, "ktrdr_event_streams"), Some(0.0), "{text}");
}

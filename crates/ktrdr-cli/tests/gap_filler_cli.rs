//! `ktrdr gap-filler run-once` as a child process: a hole punched into a stored sim series is
//! filled by a tail load that is recorded in the registry like any other.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;
use std::process::Command;

use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, BarSeries, Symbol, Timeframe};
use ktrdr_ops::registry::{OperationStatus, Registry, SqliteRegistry};

fn ktrdr(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ktrdr"));
    cmd.env("KTRDR_HOME", home.join("home"))
        .env("KTRDR_DATA_DIR", home.join("data"))
        .env_remove("KTRDR_DATA_SOURCE")
        .env_remove("USE_IB_HOST_SERVICE")
        .env_remove("IB_HOST_SERVICE_URL")
        .env_remove("KTRDR_OPERATIONS_RETENTION_DAYS")
        .env("RUST_LOG", "error");
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn aapl() -> Symbol {
    "AAPL".parse().unwrap()
}

/// Removes three consecutive bars of one session in the middle of the series; returns their
/// timestamps.
fn punch_a_hole(store: &BarStore) -> Vec<i64> {
    let series = store.load(&aapl(), Timeframe::H1).unwrap();
    let ts = series.ts();
    let day = |t: i64| t.div_euclid(86_400);
    // The first bar after the series' middle that has two more bars of its session after it.
    let first = (ts.len() / 2..ts.len() - 3)
        .find(|&i| day(ts[i]) == day(ts[i + 2]) && ts[i + 2] - ts[i] <= 2 * 3600)
        .expect("a session with three bars in a row");
    let hole = ts[first..first + 3].to_vec();
    let kept: Vec<_> = series.iter().filter(|b| !hole.contains(&b.ts)).collect();
    store
        .replace_series(&aapl(), Timeframe::H1, &BarSeries::from_bars(kept).unwrap())
        .unwrap();
    hole
}

#[test]
fn run_once_fills_a_punched_hole_with_a_tail_load_in_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let start = chrono::Utc::now().timestamp() - 10 * 86_400;
    let out = ktrdr(dir.path())
        .args([
            "data", "load", "AAPL", "1h", "--source", "sim", "--mode", "full",
        ])
        .args(["--start", &format_timestamp(start), "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = BarStore::new(dir.path().join("data"));
    let loaded = store.load(&aapl(), Timeframe::H1).unwrap();
    let hole = punch_a_hole(&store);

    let out = ktrdr(dir.path())
        .args(["gap-filler", "run-once", "--source", "sim", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let loads = report["loads"].as_array().unwrap();
    assert_eq!(loads.len(), 1, "{report:#}");
    let load = &loads[0];
    assert_eq!(load["status"], "completed", "{report:#}");
    assert_eq!(load["start"], hole[0], "the load starts at the hole");
    // An hour may have ended since the first load: its bar is filled too.
    assert!(load["bars_filled"].as_u64().unwrap() >= 3, "{report:#}");
    assert!(report["gaps_found"].as_u64().unwrap() >= 1);
    assert!(
        report["skipped_by_class"]["outside_hours"]
            .as_u64()
            .unwrap()
            > 0
    );

    let filled = store.load(&aapl(), Timeframe::H1).unwrap();
    for t in loaded.ts() {
        assert!(filled.ts().binary_search(t).is_ok(), "bar {t} is back");
    }

    let registry = SqliteRegistry::open(dir.path().join("home/ktrdr.db")).unwrap();
    let id = load["operation_id"].as_str().unwrap();
    let record = registry
        .get(id)
        .unwrap()
        .expect("the load is in the registry");
    assert_eq!(record.operation_type, "data_load");
    assert_eq!(record.status, OperationStatus::Completed);
    assert_eq!(record.metadata["mode"], "tail");

    // The text report.
    let out = ktrdr(dir.path())
        .args(["gap-filler", "run-once", "--source", "sim"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Scanned 1 series: "), "{stdout}");
    assert!(stdout.contains("Closed, not fetched: weekend"), "{stdout}");
}

#[test]
fn run_once_without_a_source_is_a_usage_error_naming_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = ktrdr(dir.path())
        .args(["gap-filler", "run-once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--source sim"),
        "{}",
        text(&out.stderr)
    );
}

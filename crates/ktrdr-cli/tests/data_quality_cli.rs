//! Runs the built `ktrdr` binary: `data gaps` and `data validate` on the real IB files
//! (read-only; repaired copies go to a temporary directory).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::process::{Command, Output};

const IB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");

fn ktrdr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["--data-dir", IB_DIR])
        .args(args)
        .env_remove("KTRDR_DATA_DIR")
        // An empty home: the built-in symbol → calendar mapping, whatever the user has.
        .env(
            "KTRDR_HOME",
            std::env::temp_dir().join("ktrdr-cli-test-no-home"),
        )
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn gaps_table_lists_missing_bars_and_a_summary() {
    let o = ktrdr(&["data", "gaps", "AAPL", "5m"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = text(&o);
    assert!(out.starts_with("AAPL 5m · XNYS · extended hours"), "{out}");
    assert!(
        out.contains("2025-06-05 08:00:00  2025-06-06 00:00:00  missing            192"),
        "{out}"
    );
    assert!(out.contains("unplaced bars 0"), "{out}");
    let summary = out.lines().find(|l| l.starts_with("missing ")).unwrap();
    assert_eq!(
        summary.split_whitespace().collect::<Vec<_>>()[..3],
        ["missing", "1", "192"]
    );
}

#[test]
fn gaps_json_respects_session_and_range() {
    let o = ktrdr(&[
        "data",
        "gaps",
        "MSFT",
        "1h",
        "--session",
        "regular",
        "--start",
        "2025-03-03",
        "--end",
        "2025-03-07",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["session"], "regular");
    assert_eq!(doc["calendar"], "XNYS");
    // Five regular sessions of 7 hourly bars each.
    assert_eq!(doc["expected_bars"], 35);
    let gaps = doc["gaps"].as_array().unwrap();
    assert!(gaps
        .iter()
        .all(|g| g["kind"] == "missing" || g["kind"] == "outside_hours"));
    let missing: u64 = gaps
        .iter()
        .filter(|g| g["kind"] == "missing")
        .map(|g| g["missing_bars"].as_u64().unwrap())
        .sum();
    assert_eq!(missing, 35 - doc["present_bars"].as_u64().unwrap());
}

#[test]
fn gaps_name_what_the_calendar_does_not_cover_and_honour_a_head_timestamp() {
    let range = ["--start", "1979-12-01", "--end", "1980-01-31"];
    let o = ktrdr(&[&["data", "gaps", "MSFT", "1d"][..], &range].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("note: XNYS sessions are known for 1980-01-01 to 2199-12-31; nothing is expected from 1979-12-01 00:00:00 to 1980-01-01 00:00:00"),
        "{out}"
    );

    let o = ktrdr(
        &[
            &["data", "gaps", "MSFT", "1d", "--format", "json"][..],
            &range,
            &["--head", "2025-01-01"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["uncovered"][0][0], "1979-12-01T00:00:00Z", "{doc}");
    let kinds: Vec<&str> = doc["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap())
        .collect();
    // January 1980 trading days were before MSFT's (given) first bar: not missing.
    assert!(kinds.contains(&"before_head"), "{kinds:?}");
    assert!(!kinds.contains(&"missing"), "{kinds:?}");
}

#[test]
fn gaps_errors_are_clear() {
    let o = ktrdr(&["data", "gaps", "MSFT", "1h", "--session", "overnight"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("regular, extended"), "{err}");
    let o = ktrdr(&["data", "gaps", "NOPE", "1h"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOPE"));
}

#[test]
fn validate_reports_affected_bars_and_exits_3() {
    let o = ktrdr(&["data", "validate", "MSFT", "1h"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = text(&o);
    let row = |kind: &str| {
        out.lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row in {out}"))
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(row("outside_session "), "13244");
    assert_eq!(row("misaligned "), "2800");
    // Examples carry the file line: the file's first data row is line 2.
    assert!(out.contains("line      2  2013-12-31 00:30:00"), "{out}");
}

#[test]
fn validate_clean_file_exits_0() {
    let o = ktrdr(&["data", "validate", "MSFT", "1d", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["rows"], 11);
    assert_eq!(doc["has_problems"], false);
    assert_eq!(doc["issues"].as_array().unwrap().len(), 0);
}

#[test]
fn validate_repair_writes_a_clean_copy_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("MSFT_1h.csv");
    let o = ktrdr(&[
        "data",
        "validate",
        "MSFT",
        "1h",
        "--repair",
        "--drop-outside-session",
        "--drop-misaligned",
        "--output",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["repair"]["output_bars"], 4714);
    // The repaired copy validates clean of session problems.
    let o = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["data", "validate", "MSFT", "1h", "--format", "json"])
        .env("KTRDR_HOME", dir.path())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["rows"], 4714);
    let kinds: Vec<&str> = doc["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.contains(&"outside_session") && !kinds.contains(&"misaligned"),
        "{kinds:?}"
    );
}

#[test]
fn validate_output_needs_repair() {
    let o = ktrdr(&["data", "validate", "MSFT", "1h", "--output", "/tmp/x.csv"]);
    // A usage error (clap's status 2), not "issues found".
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--repair"));
}

#[test]
fn gaps_with_one_bound_outside_the_stored_bars_says_which() {
    for (bound, date, says) in [
        (
            "--start",
            "2026-01-01",
            "--start 2026-01-01 00:00:00 is after the last stored bar (2025-06-06 23:00:00)",
        ),
        (
            "--end",
            "2010-01-01",
            "--end 2010-01-01 23:59:59 is before the first stored bar (2013-12-31 00:30:00)",
        ),
    ] {
        let o = ktrdr(&["data", "gaps", "MSFT", "1h", bound, date]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn validate_shows_a_corrupt_value_in_scientific_notation() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = std::fs::read_to_string(format!("{IB_DIR}/MSFT_1d.csv")).unwrap();
    csv.push_str("2025-06-09 00:00:00+00:00,1e308,1e308,1e308,1e308,1000.0\n");
    std::fs::write(dir.path().join("MSFT_1d.csv"), csv).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["data", "validate", "MSFT", "1d"])
        .env("KTRDR_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let out = text(&o);
    assert!(out.contains("implausible"), "{out}");
    assert!(
        out.contains(
            "o 1e308 h 1e308 l 1e308 c 1e308 v 1000  value 1e308 is beyond any real market"
        ),
        "{out}"
    );
    assert!(out.lines().all(|l| l.len() < 200), "{out}");
}

#[test]
fn validate_flags_a_row_dated_after_now() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = std::fs::read_to_string(format!("{IB_DIR}/MSFT_1d.csv")).unwrap();
    csv.push_str("9999-12-31 00:00:00+00:00,470.0,471.0,469.0,470.5,1000.0\n");
    std::fs::write(dir.path().join("MSFT_1d.csv"), csv).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["data", "validate", "MSFT", "1d", "--format", "json"])
        .env("KTRDR_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let after = doc["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "after_now")
        .expect("an after_now issue");
    assert_eq!(after["affected"], 1);
    let detail = after["examples"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("9999-12-31 00:00:00"), "{detail}");
    assert_eq!(doc["example_lines"][0]["line"], 13);
}

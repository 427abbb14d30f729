//! Runs the built `ktrdr` binary: `data show` and `data range` on the real IB files, and the
//! error paths a user hits first.

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
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn failure(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "unexpected success: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn show_prints_the_last_bars_as_a_table() {
    let out = stdout(&ktrdr(&["data", "show", "MSFT", "1h"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 12, "{out}");
    assert!(lines[0].contains("20758 bars stored"), "{out}");
    assert!(
        lines[11].starts_with("2025-06-06 23:00:00") && lines[11].contains("470.38"),
        "{out}"
    );
}

#[test]
fn show_accepts_user_spellings_and_formats() {
    let out = stdout(&ktrdr(&[
        "data", "show", "msft", "60m", "--rows", "2", "--format", "csv",
    ]));
    assert_eq!(
        out,
        "timestamp,open,high,low,close,volume\n\
         2025-06-06T22:00:00Z,470.01,470.2,470,470.2,1755\n\
         2025-06-06T23:00:00Z,470.32,470.57,470.32,470.38,971\n"
    );
    let out = stdout(&ktrdr(&[
        "data", "show", "EURUSD", "1H", "-n", "3", "-f", "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["symbol"], "EURUSD");
    assert_eq!(v["total_rows"], 2591);
    assert_eq!(v["displayed_rows"], 3);
    assert_eq!(v["data"][2]["timestamp"], "2025-06-06T20:00:00Z");
    assert_eq!(v["data"][2]["close"], 1.13911);
}

#[test]
fn show_filters_by_inclusive_dates() {
    let out = stdout(&ktrdr(&[
        "data",
        "show",
        "MSFT",
        "1d",
        "--start",
        "2025-06-02",
        "--end",
        "2025-06-03",
        "-f",
        "csv",
    ]));
    let days: Vec<&str> = out.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(days, ["2025-06-02", "2025-06-03"]);
    // A date-only --end covers the whole day.
    let out = stdout(&ktrdr(&[
        "data",
        "show",
        "AAPL",
        "5m",
        "--start",
        "2025-06-06",
        "--end",
        "2025-06-06",
        "--all",
        "-f",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["end"], "2025-06-06T23:55:00Z");
    assert_eq!(v["start"], "2025-06-06T08:00:00Z");
}

#[test]
fn range_reports_first_last_and_the_real_row_count() {
    let out = stdout(&ktrdr(&["data", "range", "MSFT", "1h"]));
    assert!(out.contains("first      2013-12-31T00:30:00Z"), "{out}");
    assert!(out.contains("last       2025-06-06T23:00:00Z"), "{out}");
    assert!(out.contains("rows       20758"), "{out}");
    let out = stdout(&ktrdr(&["data", "range", "AAPL", "5m", "-f", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["rows"].as_u64(), v["first"].as_str()),
        (Some(1536), Some("2025-05-27T08:00:00Z"))
    );
}

#[test]
fn the_data_dir_comes_from_the_environment_too() {
    let o = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["data", "range", "MSFT", "1d"])
        .env("KTRDR_DATA_DIR", IB_DIR)
        .output()
        .unwrap();
    assert!(stdout(&o).contains("rows       11"));
}

#[test]
fn a_missing_series_says_where_it_looked_and_what_exists() {
    let err = failure(&ktrdr(&["data", "show", "MSFT", "4h"]));
    assert!(err.contains("MSFT_4h.csv does not exist"), "{err}");
    assert!(err.contains("1m, 1h, 1d"), "{err}");
    let err = failure(&ktrdr(&["data", "range", "TSLA", "1h"]));
    assert!(err.contains("no files for TSLA"), "{err}");
}

#[test]
fn bad_arguments_are_explained() {
    let err = failure(&ktrdr(&["data", "show", "MSFT", "3h"]));
    assert!(
        err.contains("allowed: 1m 5m 15m 30m 1h 2h 4h 1d 1w"),
        "{err}"
    );
    let err = failure(&ktrdr(&["data", "show", "EUR/USD", "1h"]));
    assert!(err.contains("'/'"), "{err}");
    let err = failure(&ktrdr(&[
        "data",
        "show",
        "MSFT",
        "1h",
        "--start",
        "2025-02-30",
    ]));
    assert!(err.contains("day out of range"), "{err}");
    let err = failure(&ktrdr(&[
        "data",
        "show",
        "MSFT",
        "1h",
        "--start",
        "2025-06-02",
        "--end",
        "2025-06-01",
    ]));
    assert!(err.contains("--start is after --end"), "{err}");
}

#[test]
fn a_malformed_file_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("BAD_1h.csv"),
        "timestamp,open,high,low,close,volume\n2025-01-01T00:00:00Z,1,2,0.5,1.5,10\n2025-01-01T01:00:00Z,1,2,x,1.5,10\n",
    )
    .unwrap();
    let o = in_dir(dir.path(), &["data", "show", "BAD", "1h"])
        .output()
        .unwrap();
    let err = failure(&o);
    assert!(err.contains("BAD_1h.csv:3: field 'low'"), "{err}");
}

/// Hostile files: every command answers with a result or a clear error, never a panic.
#[test]
fn nasty_files_never_panic_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let h = "timestamp,open,high,low,close,volume\n";
    let files: [(&str, String, Option<&str>); 7] = [
        (
            "EMPTY",
            String::new(),
            Some("EMPTY_1h.csv:1: bad header: the file is empty"),
        ),
        ("HDR", h.to_string(), None),
        (
            "NAN",
            format!("{h}2025-06-02T14:00:00Z,NaN,1,1,1,1\n"),
            Some("NAN_1h.csv:2: field 'open': not a finite number"),
        ),
        (
            "HUGE",
            format!("{h}2025-06-02T14:00:00Z,1,1e309,1,1,1\n"),
            Some("HUGE_1h.csv:2: field 'high': not a finite number"),
        ),
        (
            "BOMCRLF",
            format!(
                "\u{feff}{}2025-06-02 14:00:00+00:00,1,2,0.5,1.5,10\r\n",
                h.replace('\n', "\r\n")
            ),
            None,
        ),
        (
            "NONL",
            format!("{h}2025-06-02T14:00:00Z,1,2,0.5,1.5,10"),
            None,
        ),
        (
            "BIN",
            format!("{h}\u{fffe},1,2,3,4,5\n"),
            Some("BIN_1h.csv:2: field 'timestamp'"),
        ),
    ];
    for (sym, text, _) in &files {
        std::fs::write(dir.path().join(format!("{sym}_1h.csv")), text).unwrap();
    }
    for (sym, _, want_err) in &files {
        for cmd in ["show", "range", "gaps", "validate"] {
            let o = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
                .args([
                    "--data-dir",
                    dir.path().to_str().unwrap(),
                    "data",
                    cmd,
                    sym,
                    "1h",
                ])
                .env("KTRDR_HOME", dir.path().join("home"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!err.contains("panicked"), "{cmd} {sym}: {err}");
            match want_err {
                Some(w) => {
                    assert_eq!(o.status.code(), Some(1), "{cmd} {sym}: {err}");
                    assert!(err.contains(w), "{cmd} {sym}: {err}");
                }
                // A header-only series has nothing to analyse: gaps says so and fails.
                None if *sym == "HDR" && cmd == "gaps" => {
                    assert_eq!(o.status.code(), Some(1), "{cmd} {sym}: {err}");
                    assert!(err.contains("HDR 1h has no bars stored"), "{err}");
                }
                None => assert_eq!(o.status.code(), Some(0), "{cmd} {sym}: {err}"),
            }
        }
    }
}

fn in_dir(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ktrdr"));
    c.args(["--data-dir", dir.to_str().unwrap()])
        .args(args)
        .env_remove("KTRDR_DATA_DIR")
        .env("KTRDR_HOME", dir.join("home"));
    c
}

/// `show` parses the whole file, `range` reads its head and tail: both name the same line, the
/// one an editor shows, blank lines included.
#[test]
fn show_and_range_name_the_same_line_past_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("BAD_1h.csv"),
        "timestamp,open,high,low,close,volume\n2025-01-01T00:00:00Z,1,2,0.5,1.5,10\n\n2025-01-01T01:00:00Z,1,2,x,1.5,10\n",
    )
    .unwrap();
    for cmd in ["show", "range"] {
        let err = failure(
            &in_dir(dir.path(), &["data", cmd, "BAD", "1h"])
                .output()
                .unwrap(),
        );
        assert!(err.contains("BAD_1h.csv:4: field 'low'"), "{cmd}: {err}");
    }
}

#[test]
fn a_missing_series_does_not_offer_files_the_store_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = "timestamp,open,high,low,close,volume\n2025-01-02,1,2,0.5,1.5,10\n";
    std::fs::write(dir.path().join("msft_1h.csv"), text).unwrap();
    std::fs::write(dir.path().join("MSFT_60m.csv"), text).unwrap();
    let err = failure(
        &in_dir(dir.path(), &["data", "show", "MSFT", "1h"])
            .output()
            .unwrap(),
    );
    assert!(!err.contains("exists there for"), "{err}");
    assert!(
        err.contains("MSFT_60m.csv and msft_1h.csv are there but the store reads only MSFT_1h.csv"),
        "{err}"
    );
}

/// `validate --repair --output` naming the store's own file (by another spelling of its path)
/// waits for the series lock, and leaves no journal of an earlier torn append behind to cut the
/// new, longer file back to the old length.
#[test]
fn repairing_the_stores_own_file_goes_through_the_series_lock() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("J_1d.csv");
    // Date-only rows: the canonical rewrite is longer than the file the journal describes.
    let text = "timestamp,open,high,low,close,volume\n2025-01-03,1,2,0.5,1.5,10\n2025-01-02,1,2,0.5,1.5,10\n";
    std::fs::write(&file, text).unwrap();
    std::fs::write(
        dir.path().join(".J_1d.csv.append"),
        format!("{}\n", text.len()),
    )
    .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"2025-01-0").unwrap();
    drop(f);
    let lock = std::fs::File::create(dir.path().join(".J_1d.csv.lock")).unwrap();
    lock.lock().unwrap();

    let spelled = dir.path().join("home/../J_1d.csv");
    std::fs::create_dir(dir.path().join("home")).unwrap();
    let mut child = in_dir(
        dir.path(),
        &[
            "data",
            "validate",
            "J",
            "1d",
            "--repair",
            "--output",
            spelled.to_str().unwrap(),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Wall-clock on purpose: the repair must really wait on the OS lock.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "wrote while the lock was held"
    );
    assert!(std::fs::read(&file).unwrap().starts_with(text.as_bytes()));
    drop(lock);
    let o = child.wait_with_output().unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.path().join(".J_1d.csv.append").exists());
    let out = stdout(
        &in_dir(dir.path(), &["data", "show", "J", "1d", "-f", "csv"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        out,
        "timestamp,open,high,low,close,volume\n\
         2025-01-02T00:00:00Z,1,2,0.5,1.5,10\n\
         2025-01-03T00:00:00Z,1,2,0.5,1.5,10\n"
    );
}

/// Any other path is a standalone file: written atomically, no store sidecars beside it, the
/// store's file untouched.
#[test]
fn repairing_to_another_path_leaves_the_store_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let text = "timestamp,open,high,low,close,volume\n2025-01-03,1,2,0.5,1.5,10\n2025-01-02,1,2,0.5,1.5,10\n";
    std::fs::write(dir.path().join("J_1d.csv"), text).unwrap();
    let out = out_dir.path().join("J_1d.csv");
    let o = in_dir(
        dir.path(),
        &[
            "data",
            "validate",
            "J",
            "1d",
            "--repair",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("J_1d.csv")).unwrap(),
        text
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "timestamp,open,high,low,close,volume\n\
         2025-01-02T00:00:00Z,1,2,0.5,1.5,10\n\
         2025-01-03T00:00:00Z,1,2,0.5,1.5,10\n"
    );
    let names: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["J_1d.csv"]);
}

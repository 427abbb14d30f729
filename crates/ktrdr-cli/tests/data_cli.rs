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

/// An unsorted file used to get the ends of the file as its range, with exit 0 and no word.
#[test]
fn range_of_an_unsorted_file_is_its_true_range_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("U_1h.csv"),
        "timestamp,open,high,low,close,volume\n\
         2025-01-02T10:00:00Z,1,2,0.5,1.5,10\n\
         2025-01-01T09:00:00Z,1,2,0.5,1.5,10\n\
         2025-01-02T12:00:00Z,1,2,0.5,1.5,10\n",
    )
    .unwrap();
    let o = in_dir(dir.path(), &["data", "range", "U", "1h", "-f", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["first"], "2025-01-01T09:00:00Z");
    assert_eq!(v["last"], "2025-01-02T12:00:00Z");
    assert_eq!(
        (v["rows"].as_u64(), v["out_of_order"].as_u64()),
        (Some(3), Some(1))
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is not in time order (1 row dated at or before"),
        "{err}"
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
    let o = in_dir(dir.path(), &["data", "range", "BAD", "1h"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("rows       2"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("1 unreadable row of") && err.contains("line 3: field 'low'"),
        "{err}"
    );
}

/// Hostile files: every command answers with a result or a clear error, never a panic. A bad
/// header fails every command; a bad row is read past and named.
#[test]
fn nasty_files_never_panic_any_command() {
    enum Want {
        Fine,
        BadHeader(&'static str),
        /// The skipped row, as the commands name it.
        BadRow(&'static str),
    }
    let dir = tempfile::tempdir().unwrap();
    let h = "timestamp,open,high,low,close,volume\n";
    let files: [(&str, String, Want); 7] = [
        (
            "EMPTY",
            String::new(),
            Want::BadHeader("EMPTY_1h.csv:1: bad header: the file is empty"),
        ),
        ("HDR", h.to_string(), Want::Fine),
        (
            "NAN",
            format!("{h}2025-06-02T14:00:00Z,NaN,1,1,1,1\n"),
            Want::BadRow("line 2: field 'open': not a finite number"),
        ),
        (
            "HUGE",
            format!("{h}2025-06-02T14:00:00Z,1,1e309,1,1,1\n"),
            Want::BadRow("line 2: field 'high': not a finite number"),
        ),
        (
            "BOMCRLF",
            format!(
                "\u{feff}{}2025-06-02 14:00:00+00:00,1,2,0.5,1.5,10\r\n",
                h.replace('\n', "\r\n")
            ),
            Want::Fine,
        ),
        (
            "NONL",
            format!("{h}2025-06-02T14:00:00Z,1,2,0.5,1.5,10"),
            Want::Fine,
        ),
        (
            "BIN",
            format!("{h}\u{fffe},1,2,3,4,5\n"),
            Want::BadRow("line 2: field 'timestamp'"),
        ),
    ];
    for (sym, text, _) in &files {
        std::fs::write(dir.path().join(format!("{sym}_1h.csv")), text).unwrap();
    }
    for (sym, _, want) in &files {
        for cmd in ["show", "range", "gaps", "validate"] {
            let o = in_dir(dir.path(), &["data", cmd, sym, "1h"])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(!err.contains("panicked"), "{cmd} {sym}: {err}");
            match (want, cmd) {
                (Want::BadHeader(e), _) => {
                    assert_eq!(o.status.code(), Some(1), "{cmd} {sym}: {err}");
                    assert!(err.contains(e), "{cmd} {sym}: {err}");
                }
                (Want::BadRow(row), _) => {
                    let (status, said) = match cmd {
                        "validate" => (3, &out),
                        // The only row is unreadable: nothing is left to analyse.
                        "gaps" => (1, &err),
                        _ => (0, &err),
                    };
                    assert_eq!(o.status.code(), Some(status), "{cmd} {sym}: {err}");
                    assert!(said.contains(row), "{cmd} {sym}: {said}");
                }
                // A header-only series has nothing to analyse: gaps says so and fails.
                (Want::Fine, "gaps") if *sym == "HDR" => {
                    assert_eq!(o.status.code(), Some(1), "{cmd} {sym}: {err}");
                    assert!(err.contains("HDR 1h has no bars stored"), "{err}");
                }
                (Want::Fine, _) => assert_eq!(o.status.code(), Some(0), "{cmd} {sym}: {err}"),
            }
        }
    }
}

/// The Python demo file's defect, five empty closes: `show` and `gaps` work on the readable
/// rows and say how many they skipped; `validate` lists every bad row by line and fails;
/// `--repair` drops them and nothing else.
#[test]
fn rows_with_empty_cells_are_read_past_named_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    // 2025-06-02 is a Monday: four weeks of weekdays, five of them with an empty close.
    let empty = [3, 7, 8, 12, 19];
    for i in 0..20 {
        let day = [
            2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 20, 23, 24, 25, 26, 27, 30,
        ][i];
        let close = if empty.contains(&i) { "" } else { "10" };
        text.push_str(&format!("2025-06-{day:02},10,11,9,{close},100\n"));
    }
    std::fs::write(dir.path().join("DEMO_1d.csv"), &text).unwrap();
    let run = |args: &[&str]| in_dir(dir.path(), args).output().unwrap();

    let o = run(&["data", "show", "DEMO", "1d", "--all"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(stdout(&o).contains("DEMO 1d: 15 bars stored"));
    assert!(
        err.contains("skipped 5 unreadable rows") && err.contains("line 5: field 'close': empty"),
        "{err}"
    );

    let o = run(&["data", "gaps", "DEMO", "1d", "--calendar", "XNYS"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("skipped 5 unreadable rows"), "{err}");

    let o = run(&["data", "validate", "DEMO", "1d", "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lines: Vec<u64> = doc["unreadable_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [5, 9, 10, 14, 21]);
    assert_eq!(doc["has_problems"], true);
    let o = run(&["data", "validate", "DEMO", "1d"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("5 unreadable rows"), "{table}");
    for line in [5, 9, 10, 14, 21] {
        assert!(
            table.contains(&format!("line {line}: field 'close': empty")),
            "{table}"
        );
    }

    let store_file = dir.path().join("DEMO_1d.csv");
    let o = run(&[
        "data",
        "validate",
        "DEMO",
        "1d",
        "--repair",
        "--output",
        store_file.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("dropped 5 × unreadable"));
    let repaired = std::fs::read_to_string(&store_file).unwrap();
    assert_eq!(repaired.lines().count(), 16, "{repaired}");
    let o = run(&["data", "validate", "DEMO", "1d"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
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
        let o = in_dir(dir.path(), &["data", cmd, "BAD", "1h"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("(first: line 4: field 'low'"), "{cmd}: {err}");
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

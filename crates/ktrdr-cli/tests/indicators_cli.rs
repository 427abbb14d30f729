//! Runs the built `ktrdr` binary: `indicators compute` on the real IB files, its formats, its
//! warm-up rows and the errors for a bad spec or a missing series.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::process::{Command, Output};

use ktrdr_indicators::registry::INDICATORS;

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

fn failure(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn table_shows_the_last_rows_with_one_column_per_output() {
    let out = stdout(&ktrdr(&[
        "indicators",
        "compute",
        "MSFT",
        "1h",
        "-i",
        "rsi",
        "-i",
        "macd",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 12, "{out}");
    assert!(lines[0].contains("20758 bars stored"), "{out}");
    for col in [
        "rsi_14",
        "macd_12_26",
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
    ] {
        assert!(lines[1].contains(col), "{out}");
    }
    assert!(lines[11].starts_with("2025-06-06 23:00:00"), "{out}");
    assert!(
        !out.contains("NaN"),
        "the last rows are past every warm-up: {out}"
    );
}

#[test]
fn csv_rows_from_the_first_bar_show_the_warm_up_as_nan_and_sma_is_the_window_mean() {
    let out = stdout(&ktrdr(&[
        "indicators",
        "compute",
        "EURUSD",
        "1h",
        "-i",
        "rsi:period=3",
        "-i",
        "sma:period=2",
        "--start",
        "2025-01-02",
        "--tail",
        "5",
        "-f",
        "csv",
        "--end",
        "2025-01-02T04:00:00Z",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,close,rsi_3,sma_2");
    assert_eq!(lines.len(), 6, "{out}");
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][0], "2025-01-02T00:00:00Z");
    // RSI(3) needs 3 changes: NaN on bars 0..2; SMA(2) on bar 0 only.
    let rsi: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(&rsi[..3], ["NaN"; 3]);
    assert!(rsi[3].parse::<f64>().unwrap().is_finite());
    assert_eq!(rows[0][3], "NaN");
    let close: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    for i in 1..rows.len() {
        let sma: f64 = rows[i][3].parse().unwrap();
        assert!(
            (sma - (close[i] + close[i - 1]) / 2.0).abs() < 1e-12,
            "{out}"
        );
    }
}

#[test]
fn json_lists_the_columns_and_writes_warm_up_as_null() {
    let out = stdout(&ktrdr(&[
        "indicators",
        "compute",
        "MSFT",
        "1d",
        "-i",
        "BollingerBands:period=5,std_dev=1.5",
        "--all",
        "-f",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total_rows"], 11);
    assert_eq!(v["displayed_rows"], 11);
    assert_eq!(v["indicators"][0]["type"], "BollingerBands");
    assert_eq!(v["columns"][1], "bb_middle_5_1.5");
    assert!(v["data"][3]["bb_middle_5_1.5"].is_null());
    assert!(v["data"][4]["bb_middle_5_1.5"].is_f64());
}

#[test]
fn a_bad_spec_is_a_usage_error_naming_the_parameter_and_the_allowed_ones() {
    let err = failure(
        &ktrdr(&["indicators", "compute", "MSFT", "1h", "-i", "rsi:perod=3"]),
        2,
    );
    assert!(
        err.contains("perod") && err.contains("period, source"),
        "{err}"
    );
    let err = failure(
        &ktrdr(&["indicators", "compute", "MSFT", "1h", "-i", "supertrendy"]),
        2,
    );
    assert!(
        err.contains("unknown indicator") && err.contains("BollingerBands"),
        "{err}"
    );
    let err = failure(
        &ktrdr(&[
            "indicators",
            "compute",
            "MSFT",
            "1h",
            "-i",
            "rsi",
            "-i",
            "RSI:period=14",
        ]),
        2,
    );
    assert!(err.contains("rsi_14 would appear twice"), "{err}");
}

#[test]
fn a_missing_series_says_so() {
    let err = failure(
        &ktrdr(&["indicators", "compute", "NOPE", "1h", "-i", "rsi"]),
        1,
    );
    assert!(err.contains("no data for NOPE 1h"), "{err}");
}

#[test]
fn help_lists_every_indicator_with_its_parameters() {
    let out = stdout(&ktrdr(&["indicators", "compute", "--help"]));
    for info in INDICATORS {
        assert!(out.contains(info.name), "{} missing from --help", info.name);
        for p in info.params {
            assert!(
                out.contains(&format!("{}={}", p.name, p.default)),
                "{}",
                p.name
            );
        }
    }
}

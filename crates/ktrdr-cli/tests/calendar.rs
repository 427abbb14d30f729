//! `ktrdr calendar …` through the built binary: the sessions CSV diffs empty against the
//! exchange_calendars reference files, and bad input gives a clear error and a non-zero exit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::process::{Command, Output};

const REFERENCE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/calendars"
);

fn ktrdr(args: &[&str], home: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(args)
        .env("KTRDR_HOME", home)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ktrdr")
}

/// `ktrdr calendar sessions CALENDAR --from FROM --to TO [EXTRA…]` with an empty home.
fn sessions(calendar: &str, from: &str, to: &str, extra: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let args = [
        &["calendar", "sessions", calendar, "--from", from, "--to", to][..],
        extra,
    ]
    .concat();
    ktrdr(&args, home.path())
}

fn check_reference(exchange: &str) {
    let out = sessions(exchange, "2000-01-01", "2030-12-31", &[]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = std::fs::read(format!("{REFERENCE_DIR}/{exchange}_sessions.csv")).unwrap();
    // Guard against a vacuous pass on a truncated reference.
    assert_eq!(reference.iter().filter(|&&b| b == b'\n').count(), 7795);
    if out.stdout != reference {
        let ours = String::from_utf8_lossy(&out.stdout);
        let theirs = String::from_utf8_lossy(&reference);
        let first = ours
            .lines()
            .zip(theirs.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1);
        panic!(
            "{exchange}: output differs from the reference (first differing line {first:?}, \
             {} vs {} lines)",
            ours.lines().count(),
            theirs.lines().count()
        );
    }
}

#[test]
fn xnys_sessions_diff_empty_against_reference() {
    check_reference("XNYS");
}

#[test]
fn xnas_sessions_diff_empty_against_reference() {
    check_reference("XNAS");
}

#[test]
fn extended_hours_and_lowercase_names() {
    let out = sessions("xnys", "2024-11-29", "2024-12-02", &["--hours", "extended"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "session,open_utc,close_utc\n\
         2024-11-29,2024-11-29T09:00:00Z,2024-11-29T22:00:00Z\n\
         2024-12-02,2024-12-02T09:00:00Z,2024-12-03T01:00:00Z\n"
    );
}

#[test]
fn unknown_exchange_lists_known_calendars() {
    let out = sessions("NYSE", "2024-01-01", "2024-01-31", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown calendar `NYSE`"), "{err}");
    assert!(err.contains("XNYS, XNAS, FX, CRYPTO"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_dates_fail_clearly() {
    let out = sessions("XNYS", "2024-13-01", "2024-12-31", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));

    let out = sessions("XNYS", "2024-12-31", "2024-01-01", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid date range"));

    let out = sessions("XNYS", "1970-01-01", "1979-12-31", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("covers 1980-01-01"));
}

#[test]
fn a_range_straddling_the_coverage_lists_the_covered_part_with_a_warning() {
    let out = sessions("XNYS", "1979-12-20", "1980-01-03", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "session,open_utc,close_utc\n\
         1980-01-02,1980-01-02T14:30:00Z,1980-01-02T21:00:00Z\n\
         1980-01-03,1980-01-03T14:30:00Z,1980-01-03T21:00:00Z\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: XNYS covers 1980-01-01 to 2199-12-31; listing 1980-01-01 to 1980-01-03"
        ),
        "{err}"
    );
}

#[test]
fn sessions_before_2000_are_listed() {
    let out = sessions("XNYS", "1995-01-01", "1995-01-04", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "session,open_utc,close_utc\n\
         1995-01-03,1995-01-03T14:30:00Z,1995-01-03T21:00:00Z\n\
         1995-01-04,1995-01-04T14:30:00Z,1995-01-04T21:00:00Z\n"
    );
}

#[test]
fn calendar_for_symbol_uses_rules_and_user_config() {
    let home = tempfile::tempdir().unwrap();
    let stdout = |args: &[&str]| {
        let out = ktrdr(args, home.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        stdout(&["calendar", "for", "eurusd"]),
        "EURUSD\tFX\t(currency pair)\n"
    );
    assert_eq!(
        stdout(&["calendar", "for", "MSFT"]),
        "MSFT\tXNYS\t(default)\n"
    );

    let config = home.path().join("calendars.toml");
    std::fs::write(&config, "[symbols]\nQQQ = \"XNAS\"\n").unwrap();
    assert_eq!(
        stdout(&["calendar", "for", "QQQ"]),
        format!("QQQ\tXNAS\t(listed in {})\n", config.display())
    );

    std::fs::write(&config, "[symbols]\nQQQ = \"NASDAQ\"\n").unwrap();
    let out = ktrdr(&["calendar", "for", "QQQ"], home.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("calendars.toml:2"), "{err}");
    assert!(err.contains("unknown calendar `NASDAQ`"), "{err}");
}

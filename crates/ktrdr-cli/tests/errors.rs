//! How `ktrdr` fails: usage errors exit 2 (clap's and our own checks of option values alike),
//! an OS error is printed once, and a damaged `ktrdr.db` comes with the way out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;
use std::process::{Command, Output};

fn ktrdr(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .env("KTRDR_HOME", home.join("home"))
        .env("KTRDR_DATA_DIR", home.join("data"))
        .env_remove("KTRDR_DATA_SOURCE")
        .env_remove("USE_IB_HOST_SERVICE")
        .env("RUST_LOG", "error")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_option_values_exit_2_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    for (args, named) in [
        (
            &[
                "data",
                "load",
                "AAPL",
                "1h",
                "--source",
                "sim",
                "--start",
                "2024-02-01",
                "--end",
                "2024-01-01",
            ][..],
            "--start is after --end",
        ),
        (
            &[
                "data",
                "gaps",
                "AAPL",
                "1h",
                "--start",
                "2024-02-01",
                "--end",
                "2024-01-01",
            ],
            "--start is after --end",
        ),
        (
            &[
                "data",
                "load",
                "AAPL",
                "1h",
                "--source",
                "sim",
                "--max-in-flight",
                "0",
            ],
            "--max-in-flight",
        ),
        (
            &["host-service", "--provider", "sim", "--now", "soon"],
            "--now",
        ),
        (
            &[
                "host-service",
                "--provider",
                "sim",
                "--fault-error-rate",
                "2",
            ],
            "--fault-error-rate",
        ),
        (
            &[
                "calendar",
                "sessions",
                "XNYS",
                "--from",
                "2025-02-01",
                "--to",
                "2025-01-01",
            ],
            "--from 2025-02-01 is after --to 2025-01-01",
        ),
        (
            &["data", "load", "AAPL", "1h", "--mode", "sideways"],
            "--mode",
        ),
    ] {
        let out = ktrdr(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn an_os_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory that is a file: the series' lock file cannot be made under it.
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let data_dir = not_a_dir.to_str().unwrap();
    let out = ktrdr(
        dir.path(),
        &["--data-dir", data_dir, "data", "show", "AAPL", "1h"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    let os_error = std::io::Error::from_raw_os_error(20).to_string();
    assert_eq!(text.matches(&os_error).count(), 1, "{text}");
}

#[test]
fn a_damaged_database_is_named_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("home/ktrdr.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let out = ktrdr(
        dir.path(),
        &["data", "load", "AAPL", "1d", "--mode", "local"],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("mv {0} {0}.damaged", db.display())),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        vec![0x5a; 8192],
        "the file is untouched"
    );
}

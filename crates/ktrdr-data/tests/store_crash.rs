//! Crash tests: a writer process is SIGKILLed at arbitrary moments while it rewrites or appends
//! to a series; the file must stay whole and readable afterwards, holding exactly one of the
//! versions the writer committed (never a mix, never a torn row).
//!
//! The writer is this test binary re-executed with `CHILD_ENV` set: the same test function then
//! runs the writer loop instead of the checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ktrdr_data::store::BarStore;
use ktrdr_data::types::{Bar, BarSeries, Symbol, Timeframe};

const CHILD_ENV: &str = "KTRDR_STORE_CRASH_CHILD_DIR";
const BARS: i64 = 40_000;
const BATCH: i64 = 500;

fn sym() -> Symbol {
    "CRASH".parse().unwrap()
}

/// Version `v` of the rewrite test: every value equals `v`, so a mix of versions is visible.
fn version(v: u32, n: i64) -> BarSeries {
    let x = f64::from(v);
    BarSeries::from_bars((0..n).map(|i| Bar {
        ts: i * 60,
        open: x,
        high: x,
        low: x,
        close: x,
        volume: x,
    }))
    .unwrap()
}

fn batch(k: i64) -> BarSeries {
    BarSeries::from_bars((k * BATCH..(k + 1) * BATCH).map(|i| Bar {
        ts: i * 60,
        open: i as f64,
        high: i as f64 + 1.0,
        low: i as f64 - 1.0,
        close: i as f64,
        volume: 7.0,
    }))
    .unwrap()
}

/// Runs forever (until killed), announcing on stdout once the first version is durable.
fn child(dir: &str, mode: &str) -> ! {
    let store = BarStore::new(dir);
    let mut v = 0u32;
    loop {
        let series = if mode == "rewrite" {
            version(v, BARS)
        } else {
            batch(i64::from(v))
        };
        store
            .merge_and_save(&sym(), Timeframe::M1, &series)
            .unwrap();
        if v == 0 {
            println!("ready");
        }
        v += 1;
    }
}

/// Starts the writer, kills it after `delay`, and reports whether it died mid-operation
/// (a temp file or a journal was left behind).
fn run_and_kill(test: &str, dir: &Path, mode: &str, delay: Duration) -> bool {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{mode}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    let ready = lines.find(|l| l.as_deref().is_ok_and(|l| l.contains("ready")));
    assert!(ready.is_some(), "the writer never became ready");
    std::thread::sleep(delay);
    c.kill().unwrap();
    c.wait().unwrap();
    std::fs::read_dir(dir).unwrap().any(|e| {
        let n = e.unwrap().file_name().into_string().unwrap();
        n.contains(".tmp-") || n.ends_with(".append")
    })
}

fn child_mode() -> Option<(String, String)> {
    let v = std::env::var(CHILD_ENV).ok()?;
    let (dir, mode) = v.split_once('|')?;
    Some((dir.to_owned(), mode.to_owned()))
}

/// Delays spread over the writer's cycle (a fixed list, so a failure can be replayed).
const DELAYS_MS: [u64; 12] = [3, 170, 41, 260, 97, 13, 333, 61, 211, 127, 29, 389];

#[test]
fn killing_a_rewriter_leaves_one_whole_version() {
    if let Some((dir, mode)) = child_mode() {
        child(&dir, &mode);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let mut mid_write = 0;
    for ms in DELAYS_MS {
        mid_write += usize::from(run_and_kill(
            "killing_a_rewriter_leaves_one_whole_version",
            dir.path(),
            "rewrite",
            Duration::from_millis(ms),
        ));
        let s = store.load(&sym(), Timeframe::M1).unwrap();
        assert_eq!(s.len() as i64, BARS);
        let v = s.close()[0];
        assert!(
            s.close()
                .iter()
                .chain(s.open())
                .chain(s.volume())
                .all(|&x| x == v),
            "a mix of versions"
        );
    }
    assert!(
        mid_write > 0,
        "no kill landed inside a write; the test proved nothing"
    );
    // The next writer cleans up what the killed ones left.
    store
        .merge_and_save(&sym(), Timeframe::M1, &version(1000, BARS))
        .unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn killing_an_appender_leaves_whole_batches() {
    if let Some((dir, mode)) = child_mode() {
        child(&dir, &mode);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::new(dir.path());
    let mut mid_append = 0;
    for ms in DELAYS_MS {
        // Each round starts a fresh series so batch 0 is the first save again.
        let _ = std::fs::remove_file(store.path(&sym(), Timeframe::M1));
        mid_append += usize::from(run_and_kill(
            "killing_an_appender_leaves_whole_batches",
            dir.path(),
            "append",
            Duration::from_millis(ms),
        ));
        let s = store.load(&sym(), Timeframe::M1).unwrap();
        let n = s.len() as i64;
        assert!(
            n > 0 && n % BATCH == 0,
            "{n} bars: a partial batch is visible"
        );
        let want =
            BarSeries::from_bars((0..n / BATCH).flat_map(|k| batch(k).iter().collect::<Vec<_>>()))
                .unwrap();
        assert_eq!(s, want);
        assert_eq!(
            store.series_info(&sym(), Timeframe::M1).unwrap().rows as i64,
            n
        );
        // The next writer rolls back any torn tail and appends cleanly.
        let rep = store
            .merge_and_save(&sym(), Timeframe::M1, &batch(n / BATCH))
            .unwrap();
        assert_eq!(rep.total as i64, n + BATCH);
        assert!(!dir.path().join(".CRASH_1m.csv.append").exists());
    }
    assert!(
        mid_append > 0,
        "no kill landed inside an append; the test proved nothing"
    );
}

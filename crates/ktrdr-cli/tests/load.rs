//! `ktrdr data load` as a child process with the in-process simulated source: source
//! selection, the summary, JSON, the registry, Ctrl-C (SIGINT) with resume, and SIGTERM/SIGHUP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ktrdr_data::store::BarStore;
use ktrdr_data::types::{BarSeries, Timeframe};
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::eta::{EtaHistory, EtaKey, SqliteEtaHistory};
use ktrdr_ops::registry::{
    OperationFilter, OperationRecord, OperationStatus, Registry, SqliteRegistry,
};

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

fn stored(home: &Path, tf: Timeframe) -> BarSeries {
    BarStore::new(home.join("data"))
        .load(&"AAPL".parse().unwrap(), tf)
        .unwrap()
}

const WINDOW: [&str; 4] = ["--start", "2023-01-01", "--end", "2024-06-30"];

#[test]
fn a_fetching_load_without_a_source_names_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = ktrdr(dir.path())
        .args(["data", "load", "AAPL", "1h", "--mode", "tail"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no source is a usage error");
    let err = text(&out.stderr);
    for option in [
        "--source sim",
        "--source host",
        "--source ib",
        "KTRDR_DATA_SOURCE",
        "USE_IB_HOST_SERVICE=true",
    ] {
        assert!(err.contains(option), "{err}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing simulated was written"
    );

    let out = ktrdr(dir.path())
        .env("KTRDR_DATA_SOURCE", "carrier-pigeon")
        .args(["data", "load", "AAPL", "1h"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown source is a usage error"
    );
    assert!(
        text(&out.stderr).contains("KTRDR_DATA_SOURCE=\"carrier-pigeon\" is not a data source (possible values: sim, host, ib)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_sim_load_prints_its_summary_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let out = ktrdr(dir.path())
        .env("KTRDR_DATA_SOURCE", "sim")
        .args(["data", "load", "AAPL", "1h", "--mode", "full"])
        .args(WINDOW)
        .args(["--progress-interval", "0.05"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bars = stored(dir.path(), Timeframe::H1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "AAPL 1h (full): {} bars fetched",
            group(bars.len())
        )),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("from sim (simulated data)"), "{stderr}");
    assert!(stderr.contains("Fetching AAPL 1h: segment"), "{stderr}");
    assert!(dir.path().join("home/ktrdr.db").exists());

    // The sim trades regular hours by default, and `data gaps` judges that from the bars: a
    // complete load has nothing missing, not every pre-market and after-hours slot.
    let out = ktrdr(dir.path())
        .args(["data", "gaps", "AAPL", "1h", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let gaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(gaps["session"], "regular");
    assert_eq!(gaps["present_bars"], gaps["expected_bars"], "{gaps}");
    assert_eq!(gaps["present_bars"], bars.len());

    // JSON: the recorded outcome, with real counts; a second run fetches nothing.
    let out = ktrdr(dir.path())
        .args([
            "data", "load", "AAPL", "1h", "--source", "sim", "--mode", "full", "--json", "-q",
        ])
        .args(WINDOW)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result_summary"]["requests_sent"], 0);
    assert_eq!(v["result_summary"]["bars_in_window"], bars.len());
    assert!(
        text(&out.stderr).is_empty() || !text(&out.stderr).contains('%'),
        "quiet"
    );
}

#[test]
fn local_mode_needs_no_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = ktrdr(dir.path())
        .args(["data", "load", "AAPL", "1d", "--mode", "local"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("AAPL 1d (local): 0 bars"),
        "{}",
        text(&out.stdout)
    );
    // A source in the environment is not used, nor even opened, by a local load.
    let out = ktrdr(dir.path())
        .env("KTRDR_DATA_SOURCE", "ib")
        .args(["data", "load", "AAPL", "1d", "--mode", "local"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("from the local store"),
        "{}",
        text(&out.stderr)
    );
}

/// The ids in the registry under `home`, sorted.
fn recorded_ids(home: &Path) -> Vec<String> {
    let registry = SqliteRegistry::open(home.join("home/ktrdr.db")).unwrap();
    let list = registry.list(&OperationFilter::default()).unwrap();
    let mut ids: Vec<String> = list.operations.into_iter().map(|r| r.id).collect();
    ids.sort();
    ids
}

#[test]
fn a_load_drops_operations_older_than_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    {
        let registry = SqliteRegistry::open(dir.path().join("home/ktrdr.db")).unwrap();
        for (id, days) in [("op_old", 120), ("op_recent", 10)] {
            let mut record = OperationRecord::pending(id, "data_load", serde_json::json!({}));
            record.status = OperationStatus::Completed;
            record.created_at -= chrono::Duration::days(days);
            record.finished_at = Some(record.created_at);
            registry.insert(&record).unwrap();
        }
    }
    let load = |retention: Option<&str>| {
        let mut cmd = ktrdr(dir.path());
        if let Some(days) = retention {
            cmd.env("KTRDR_OPERATIONS_RETENTION_DAYS", days);
        }
        cmd.args(["data", "load", "AAPL", "1d", "--mode", "local", "-q"])
            .output()
            .unwrap()
    };
    let out = load(Some("banana"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("KTRDR_OPERATIONS_RETENTION_DAYS") && stderr.contains("banana"),
        "{stderr}"
    );
    let out = load(Some("0"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(recorded_ids(dir.path()).len(), 3, "0 keeps everything");

    // The default (90 days) drops the old one and keeps the rest, including this run's.
    let out = load(None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ids = recorded_ids(dir.path());
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(!ids.contains(&"op_old".to_owned()), "{ids:?}");
    assert!(ids.contains(&"op_recent".to_owned()), "{ids:?}");
}

#[test]
fn load_multi_loads_every_timeframe_and_a_failed_one_makes_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let multi = |timeframes: &str| {
        ktrdr(dir.path())
            .args(["data", "load-multi", "AAPL", "--timeframes", timeframes])
            .args(["--source", "sim", "--mode", "full"])
            .args(["--start", "2024-01-01", "--end", "2024-03-31"])
            .output()
            .unwrap()
    };
    let out = multi("1h,1d");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("common coverage 2024-01-02"), "{stdout}");
    let (h1, d1) = (
        stored(dir.path(), Timeframe::H1),
        stored(dir.path(), Timeframe::D1),
    );
    assert!(
        h1.len() > 7 * d1.len() - 20 && !d1.is_empty(),
        "{} {}",
        h1.len(),
        d1.len()
    );

    // A 4h file the store cannot read: 4h fails, 1h (the base) is still loaded.
    let broken = dir.path().join("data/AAPL_4h.csv");
    std::fs::write(&broken, "timestamp,open,high,low,close,volume\nnot a row\n").unwrap();
    let out = multi("1h,4h");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("AAPL 4h: failed:"), "{stdout}");
    assert!(stdout.contains("AAPL_4h.csv:2"), "{stdout}");
    assert!(stdout.contains("AAPL 1h (full)"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "timestamp,open,high,low,close,volume\nnot a row\n",
        "an unreadable file is left as it was"
    );
}

const LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/legacy");

#[test]
fn the_python_systems_learned_durations_are_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("home/cache");
    std::fs::create_dir_all(&cache).unwrap();
    for name in ["time_estimation.pkl", "progress_time_estimation.pkl"] {
        std::fs::copy(Path::new(LEGACY).join(name), cache.join(name)).unwrap();
    }
    let load = || {
        ktrdr(dir.path())
            .env("RUST_LOG", "warn")
            .args(["data", "load", "AAPL", "1d", "--source", "sim"])
            .args(["--start", "2024-01-01", "--end", "2024-03-31"])
            .output()
            .unwrap()
    };
    let out = load();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for line in [
        "Imported 20 learned durations (4 keys) from the Python system's",
        "Imported 14 learned durations (2 keys) from the Python system's",
    ] {
        assert!(stderr.contains(line), "{stderr}");
    }
    let history = SqliteEtaHistory::open(&dir.path().join("home/ktrdr.db")).unwrap();
    let key: EtaKey = "data_load|size:medium".parse().unwrap();
    assert!(!history.durations(&key).unwrap().is_empty());

    let again = load();
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(!text(&again.stderr).contains("Imported"), "imported twice");

    // An unreadable cache is moved aside with a warning; the load goes on.
    std::fs::write(cache.join("time_estimation.pkl"), b"not a pickle").unwrap();
    let out = load();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot be read"),
        "{}",
        text(&out.stderr)
    );
    let kept: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        kept.iter()
            .any(|n| n.starts_with("time_estimation.pkl.corrupt-")),
        "{kept:?}"
    );
}

/// A running load whose standard error is read line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to `limit`) for a line matching `pred`.
    fn wait_for(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    fn interrupt(&self) {
        self.signal("INT");
    }

    /// Sends signal `name` (`INT`, `TERM`, `HUP`) to the process.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn finish(mut self) -> (Output, Vec<String>) {
        let out = self.child.wait_with_output().unwrap();
        self.seen.extend(self.lines.try_iter());
        (out, self.seen)
    }
}

#[test]
fn ctrl_c_cancels_keeps_the_bars_and_the_next_run_resumes() {
    let reference = {
        let dir = tempfile::tempdir().unwrap();
        let out = ktrdr(dir.path())
            .args([
                "data", "load", "AAPL", "1h", "--source", "sim", "--mode", "full", "-q",
            ])
            .args(WINDOW)
            .output()
            .unwrap();
        assert!(out.status.success());
        stored(dir.path(), Timeframe::H1)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ktrdr(dir.path());
    cmd.args([
        "data",
        "load",
        "AAPL",
        "1h",
        "--source",
        "sim",
        "--mode",
        "full",
        "--max-in-flight",
        "1",
    ])
    .args(WINDOW)
    .args(["--progress-interval", "0.01"]);
    let mut run = Running::start(cmd);
    assert!(
        run.wait_for(Duration::from_secs(20), |l| segment_of(l)
            .is_some_and(|k| k >= 1)),
        "no progress line"
    );
    let sent = Instant::now();
    run.interrupt();
    let (out, lines) = run.finish();
    let latency = sent.elapsed();
    assert_eq!(out.status.code(), Some(130), "{lines:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Cancelled (cancelled by the user): AAPL 1h: cancelled after segment"),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Ctrl-C again exits at once")),
        "{lines:?}"
    );
    assert!(
        latency < Duration::from_secs(2),
        "cancel to exit took {latency:?}"
    );

    let kept = stored(dir.path(), Timeframe::H1);
    assert!(!kept.is_empty() && kept.len() < reference.len());
    assert!(
        stdout.contains(&format!("{} bars saved", group(kept.len()))),
        "{stdout}"
    );

    let out = ktrdr(dir.path())
        .args([
            "data", "load", "AAPL", "1h", "--source", "sim", "--mode", "full", "--json", "-q",
        ])
        .args(WINDOW)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["result_summary"]["bars_new"],
        reference.len() - kept.len()
    );
    assert_eq!(stored(dir.path(), Timeframe::H1), reference);
}

#[test]
fn sigterm_and_sighup_cancel_save_record_and_exit_with_the_signal_status() {
    for (signal, code, reason) in [
        ("TERM", 143, CancelReason::Shutdown),
        ("HUP", 129, CancelReason::User),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = ktrdr(dir.path());
        cmd.args([
            "data", "load", "AAPL", "1h", "--source", "sim", "--mode", "full",
        ])
        .args(["--max-in-flight", "1", "--progress-interval", "0.01"])
        .args(WINDOW);
        let mut run = Running::start(cmd);
        assert!(
            run.wait_for(Duration::from_secs(20), |l| segment_of(l)
                .is_some_and(|k| k >= 1)),
            "SIG{signal}: no progress line"
        );
        run.signal(signal);
        let (out, lines) = run.finish();
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("SIG{signal}: saving what was fetched"))),
            "SIG{signal}: {lines:?}"
        );

        let kept = stored(dir.path(), Timeframe::H1);
        assert!(!kept.is_empty(), "SIG{signal}: the bars fetched were saved");
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("{} bars saved", group(kept.len()))),
            "SIG{signal}: {stdout}"
        );
        let registry = SqliteRegistry::open(dir.path().join("home/ktrdr.db")).unwrap();
        let record = registry
            .list(&OperationFilter::default())
            .unwrap()
            .operations
            .pop()
            .unwrap();
        assert_eq!(record.status, OperationStatus::Cancelled, "SIG{signal}");
        assert_eq!(record.cancel_reason, Some(reason), "SIG{signal}");
    }
}

/// `k` of a "segment k/n" progress line.
fn segment_of(line: &str) -> Option<u64> {
    let rest = &line[line.find("segment ")? + "segment ".len()..];
    rest.split('/').next()?.parse().ok()
}

fn group(n: usize) -> String {
    ktrdr_data::render::group_thousands(n as u64)
}

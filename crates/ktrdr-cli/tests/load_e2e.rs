//! End to end: `ktrdr data load` as a child process against `ktrdr host-service --provider sim`
//! on loopback. Full load, resume after SIGINT at random points, injected faults, zero pacing
//! violations, and the cancel-to-exit latency.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ktrdr_data::store::BarStore;
use ktrdr_data::types::{BarSeries, Timeframe};

const BIN: &str = env!("CARGO_BIN_EXE_ktrdr");
/// Six months of AAPL 1h: six requests.
const WINDOW: [&str; 4] = ["--start", "2024-01-01", "--end", "2024-06-30"];

/// A `ktrdr host-service --provider sim` on a free loopback port, killed on drop.
struct HostService {
    child: Child,
    url: String,
}

impl HostService {
    fn start(extra: &[&str]) -> HostService {
        let mut child = Command::new(BIN)
            .args(["host-service", "--provider", "sim", "--port", "0"])
            .args(["--now", "2025-01-01T00:00:00Z"])
            .args(extra)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        HostService { child, url }
    }

    /// `connection_pool_status.sim_pacing_violations` of `/health/detailed`.
    fn violations(&self) -> u64 {
        let host = self.url.trim_start_matches("http://").trim_end_matches('/');
        let mut s = TcpStream::connect(host).unwrap();
        write!(
            s,
            "GET /health/detailed HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["connection_pool_status"]["sim_pacing_violations"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for HostService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load(home: &Path, url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("KTRDR_HOME", home.join("home"))
        .env("KTRDR_DATA_DIR", home.join("data"))
        .env_remove("KTRDR_DATA_SOURCE")
        .env_remove("USE_IB_HOST_SERVICE")
        .env("RUST_LOG", "error")
        .args(["data", "load", "AAPL", "1h", "--mode", "full"])
        .args(["--source", "host", "--host-url", url, "--pacing", "fast"])
        .args(WINDOW);
    cmd
}

fn stored(home: &Path) -> Option<BarSeries> {
    match BarStore::new(home.join("data")).load(&"AAPL".parse().unwrap(), Timeframe::H1) {
        Ok(s) => Some(s),
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("the file is not valid: {e}"),
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn assert_subset(part: &BarSeries, whole: &BarSeries) {
    for bar in part.iter() {
        let i = whole.position_at_or_after(bar.ts);
        assert_eq!(
            whole.bar(i),
            Some(bar),
            "bar at {} differs or is extra",
            bar.ts
        );
    }
}

/// The series a clean load over the host service produces.
/// The series a clean load over the host service produces, and how long the process took.
fn reference_timed() -> (BarSeries, Duration) {
    let service = HostService::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = load(dir.path(), &service.url).arg("-q").output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(service.violations(), 0);
    (stored(dir.path()).unwrap(), took)
}

fn reference() -> BarSeries {
    reference_timed().0
}

#[test]
fn a_full_load_over_the_host_service_matches_the_simulated_broker() {
    let service = HostService::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = load(dir.path(), &service.url)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["status"], "completed");
    let s = &v["result_summary"];
    let bars = stored(dir.path()).unwrap();
    assert_eq!(s["bars_new"], bars.len());
    assert_eq!(s["requests_sent"], s["requests_planned"]);
    assert_eq!(
        s["provider"],
        format!(
            "host (IB host service at {}/)",
            service.url.trim_end_matches('/')
        )
    );
    assert_eq!(service.violations(), 0);

    // The same bars as the in-process simulated broker serves.
    let direct = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env("KTRDR_HOME", direct.path().join("home"))
        .env("KTRDR_DATA_DIR", direct.path().join("data"))
        .args([
            "data", "load", "AAPL", "1h", "--mode", "full", "--source", "sim", "-q",
        ])
        .args(WINDOW)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stored(direct.path()).unwrap(), bars);
}

#[test]
fn resume_after_sigint_at_random_points_loses_nothing() {
    let (full, took) = reference_timed();
    // Cancel points spread over a whole run, whatever the machine's speed.
    let span_ms = (took.as_millis() as u64).max(50);
    let mut latencies = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut cancelled = 0;
    for trial in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let service = HostService::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let child = load(dir.path(), &service.url)
            .args(["--json", "-q"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(seed % span_ms));
        let sent = Instant::now();
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let first = child.wait_with_output().unwrap();
        let latency = sent.elapsed();
        let kept = stored(dir.path());
        let mut saved_segments = 0;
        if let Some(kept) = &kept {
            assert_subset(kept, &full);
        }
        match first.status.code() {
            Some(130) => {
                cancelled += 1;
                latencies.push(latency);
                let v = json(&first);
                assert_eq!(v["status"], "cancelled", "trial {trial}");
                let saved = v["result_summary"]["bars_saved"].as_u64();
                // Cancelled before the load started: nothing to report.
                if let Some(saved) = saved {
                    assert_eq!(
                        saved as usize,
                        kept.as_ref().map_or(0, BarSeries::len),
                        "trial {trial}"
                    );
                    saved_segments = v["result_summary"]["segments_saved"].as_u64().unwrap();
                }
            }
            Some(0) => assert_eq!(kept.as_ref(), Some(&full), "trial {trial}: finished first"),
            // SIGINT before the process installed its Ctrl-C handler (its first milliseconds):
            // the default action ended it before it wrote anything but a valid file or nothing.
            None if std::os::unix::process::ExitStatusExt::signal(&first.status) == Some(2) => {}
            other => panic!(
                "trial {trial}: exit {other:?}: {}",
                String::from_utf8_lossy(&first.stderr)
            ),
        }

        // Re-run at once: the new process's pacing gate knows nothing of the old one's, so it
        // may repeat the request the cancel cut short within the broker's identical-request
        // cooldown; the host service answers that with a pacing wait, never the broker.
        let second = load(dir.path(), &service.url)
            .args(["--json", "-q"])
            .output()
            .unwrap();
        assert!(
            second.status.success(),
            "trial {trial}: {}",
            String::from_utf8_lossy(&second.stderr)
        );
        let s = &json(&second)["result_summary"];
        assert_eq!(stored(dir.path()).as_ref(), Some(&full), "trial {trial}");
        let have = kept.as_ref().map_or(0, BarSeries::len);
        assert_eq!(
            s["bars_new"].as_u64().unwrap() as usize,
            full.len() - have,
            "trial {trial}"
        );
        assert_eq!(
            s["retries"], s["pacing_waits"],
            "trial {trial}: only pacing waits are sent again: {s}"
        );
        assert_eq!(
            s["requests_sent"].as_u64().unwrap(),
            s["requests_planned"].as_u64().unwrap() + s["retries"].as_u64().unwrap(),
            "trial {trial}: {s}"
        );
        // Only what is missing: no more than the segments not saved (the windows left still
        // cover every missing bar, and the planner is minimal).
        assert!(
            s["requests_planned"].as_u64().unwrap() <= 6 - saved_segments.min(6),
            "trial {trial}: {s}"
        );
        if have == full.len() {
            assert_eq!(
                s["requests_sent"], 0,
                "trial {trial}: nothing left to fetch"
            );
        }
        assert_eq!(service.violations(), 0, "trial {trial}");
    }
    assert!(
        cancelled >= 10,
        "only {cancelled} of 20 trials were cancelled mid-way"
    );
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "cancel-to-exit over {} SIGINTs: p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    assert!(pct(0.99) < Duration::from_secs(1), "{latencies:?}");
}

#[test]
fn injected_faults_are_retried_and_the_load_completes() {
    let full = reference();
    let service = HostService::start(&[
        "--seed",
        "5",
        "--fault-error-rate",
        "0.2",
        "--fault-timeout-rate",
        "0.05",
        "--fault-hang-ms",
        "1500",
        "--fault-pacing-rate",
        "0.1",
        "--fault-pacing-retry-ms",
        "200",
        "--fault-empty-rate",
        "0.1",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut runs = 0;
    let mut retries = 0;
    loop {
        runs += 1;
        let out = load(dir.path(), &service.url)
            .args(["--json", "-q"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {runs}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        retries += json(&out)["result_summary"]["retries"].as_u64().unwrap();
        // Empty answers leave holes that the next run fills.
        if stored(dir.path()).as_ref() == Some(&full) {
            break;
        }
        assert!(runs < 8, "still incomplete after {runs} runs");
    }
    assert!(retries > 0, "faults were injected and retried");
    assert_eq!(service.violations(), 0);
}

#[test]
fn a_source_that_always_fails_ends_with_a_clear_error() {
    let service = HostService::start(&["--fault-error-rate", "1.0"]);
    let dir = tempfile::tempdir().unwrap();
    let out = load(dir.path(), &service.url).arg("-q").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requests failed"), "{err}");
    assert!(err.contains("run the load again"), "{err}");
    assert_eq!(service.violations(), 0);

    // No service at all: a clear connection error, not a hang.
    drop(service);
    let out = load(dir.path(), "http://127.0.0.1:9")
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

#[test]
fn a_password_in_the_host_url_shows_nowhere() {
    const SECRET: &str = "hunter2";
    let service = HostService::start(&[]);
    let with_password = |url: &str| url.replacen("http://", &format!("http://ib:{SECRET}@"), 1);
    let dir = tempfile::tempdir().unwrap();
    // A load that works: the start line, progress lines, the summary, the registry's record.
    let worked = load(dir.path(), &with_password(&service.url))
        .args(["--progress-interval", "0.01"])
        .output()
        .unwrap();
    assert!(
        worked.status.success(),
        "{}",
        String::from_utf8_lossy(&worked.stderr)
    );
    // A load that fails: the connection error and its log lines.
    drop(service);
    let failed = load(dir.path(), &with_password("http://127.0.0.1:9"))
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));

    for out in [&worked, &failed] {
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(!text.contains(SECRET), "{text}");
        }
    }
    let shown = String::from_utf8_lossy(&worked.stderr);
    assert!(
        shown.contains("IB host service at http://***@127.0.0.1:"),
        "{shown}"
    );
    let failure = String::from_utf8_lossy(&failed.stderr);
    assert!(failure.contains("http://***@127.0.0.1:9"), "{failure}");

    let registry =
        ktrdr_ops::registry::SqliteRegistry::open(dir.path().join("home/ktrdr.db")).unwrap();
    let records = ktrdr_ops::registry::Registry::list(&registry, &Default::default()).unwrap();
    assert_eq!(records.operations.len(), 2);
    for record in &records.operations {
        let stored = serde_json::to_string(record).unwrap();
        assert!(!stored.contains(SECRET), "{stored}");
        assert!(stored.contains("***@127.0.0.1"), "{stored}");
    }
}

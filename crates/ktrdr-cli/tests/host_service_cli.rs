//! `ktrdr host-service` as a child process: it starts, prints its URL, answers `/health`, serves
//! historical data, and stops cleanly on SIGINT; bad settings are clear errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .arg("host-service")
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ktrdr host-service")
}

/// One HTTP/1.1 exchange over a fresh connection; returns (status line, body).
fn http(addr: &str, request: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ktrdr host-service did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn starts_answers_and_stops_on_sigint() {
    let mut child = spawn(&["--provider", "sim", "--port", "0", "--now", "2025-01-01"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("ktrdr host-service: serving sim (simulated data) on http://127.0.0.1:"),
        "{first}"
    );
    let addr = first.trim().rsplit("http://").next().unwrap().to_owned();

    let (status, body) = http(
        &addr,
        "GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains("200"), "{status}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["healthy"], true);
    assert_eq!(health["service"], "ib-connector");

    let request = r#"{"symbol":"AAPL","timeframe":"1d","start":"2024-03-04T00:00:00Z","end":"2024-03-08T23:59:59Z","instrument_type":null}"#;
    let (status, body) = http(
        &addr,
        &format!(
            "POST /data/historical HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{request}",
            request.len()
        ),
    );
    assert!(status.contains("200"), "{status}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["rows"], 5);

    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}; stderr: {stderr}");
    assert!(
        stderr.contains("stopped after 1 requests (0 errors)"),
        "{stderr}"
    );
}

#[test]
fn bad_settings_are_clear_errors() {
    for (args, needle) in [
        (
            &[
                "--provider",
                "sim",
                "--port",
                "0",
                "--fault-error-rate",
                "1.5",
            ][..],
            "invalid value '1.5' for '--fault-error-rate <RATE>': 1.5 is not a rate between 0 and 1",
        ),
        #[cfg(not(feature = "ib"))]
        (
            &["--provider", "ib", "--port", "0"][..],
            "--provider ib needs a ktrdr built with the `ib` feature",
        ),
        // Nothing listens on port 9 (discard): the connection is refused.
        #[cfg(feature = "ib")]
        (
            &[
                "--provider",
                "ib",
                "--port",
                "0",
                "--ib-address",
                "127.0.0.1:9",
            ][..],
            "cannot connect to IB at 127.0.0.1:9",
        ),
        (&["--port", "0"][..], "--provider"),
        (
            &["--provider", "sim", "--now", "tomorrow"][..],
            "invalid timestamp \"tomorrow\"",
        ),
    ] {
        let mut child = spawn(args);
        let status = wait_exit(&mut child, Duration::from_secs(10));
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

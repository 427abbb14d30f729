//! `GET /operations/{id}/events` and `/wait` of a `ktrdr serve` child, following a load that
//! a CLI process runs on the same registry: the current state at once, progress that never
//! falls, exactly one terminal event, the end of the stream; a reconnect with
//! `Last-Event-ID`; the long poll.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::time::Duration;

use ktrdr_server::api::wire::EventKind;
use ktrdr_server::client::ApiClient;
use support::{cli, Running, Server, SimHost};

#[tokio::test]
async fn the_stream_of_another_process_s_load_from_its_state_to_its_one_terminal_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let host = SimHost::start(&[]);
    host.pause();
    let mut load = cli(&server.home, &server.data);
    load.env_remove("KTRDR_API_URL")
        .args(["data", "load", "AAPL", "1h", "--mode", "full"])
        .args(["--start", "2024-01-01", "--end", "2024-06-30"])
        .args(host.source());
    let load = Running::spawn(load);
    let client = ApiClient::new(&server.base, None).unwrap();

    let waited = client.wait(&load.id, Duration::ZERO).await.unwrap();
    assert!(!waited.terminal, "the load waits for the frozen host");
    let mut events = client.events(&load.id).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(
        first.kind,
        EventKind::Progress,
        "the current state, at once"
    );
    host.resume();
    let mut seen = vec![first];
    while let Some(event) = events.next().await {
        seen.push(event.unwrap());
    }
    let terminal: Vec<_> = seen.iter().filter(|e| e.kind.is_terminal()).collect();
    assert_eq!(terminal.len(), 1, "{seen:?}");
    let last = seen.last().unwrap();
    assert_eq!(last.kind, EventKind::Completed);
    assert_eq!(last.operation.progress.percentage, 100.0);
    for pair in seen.windows(2) {
        let (a, b) = (&pair[0].operation.progress, &pair[1].operation.progress);
        assert!(
            b.percentage >= a.percentage,
            "{} then {}",
            a.percentage,
            b.percentage
        );
        assert_ne!(pair[0].id, pair[1].id);
    }
    let (status, _, _) = load.finish();
    assert!(status.success());

    // Reconnecting: with the terminal event's id there is nothing more (204); with an older
    // one, the current state (the terminal event) and the end.
    let url = server.api(&format!(
        "/operations/{}/events",
        last.operation.operation_id
    ));
    let http = reqwest::Client::new();
    let after_end = http
        .get(&url)
        .header("last-event-id", &last.id)
        .send()
        .await
        .unwrap();
    assert_eq!(after_end.status(), 204);
    let resumed = http
        .get(&url)
        .header("last-event-id", &seen[0].id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    assert_eq!(resumed.headers()["content-type"], "text/event-stream");
    let body = resumed.text().await.unwrap();
    let names: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names, ["completed"], "{body}");
    assert!(body.contains(&format!("id: {}\n", last.id)), "{body}");

    let waited = client
        .wait(&load_id(last), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(waited.terminal);
    let unknown = http
        .get(server.api("/operations/op_nope/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let too_long = http
        .get(server.api(&format!("/operations/{}/wait?timeout=301", load_id(last))))
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 422);
}

fn load_id(event: &ktrdr_server::api::wire::OperationEvent) -> String {
    event.operation.operation_id.clone()
}

#[tokio::test]
async fn a_stream_ends_without_a_terminal_event_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let host = SimHost::start(&[]);
    host.pause();
    let mut load = cli(&server.home, &server.data);
    load.env_remove("KTRDR_API_URL")
        .args(["data", "load", "MSFT", "1h", "--mode", "full"])
        .args(["--start", "2024-01-01", "--end", "2024-06-30"])
        .args(host.source());
    let load = Running::spawn(load);
    let mut stream = reqwest::get(server.api(&format!("/operations/{}/events", load.id)))
        .await
        .unwrap();
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: progress\n"), "{first:?}");
    let stopped = tokio::task::spawn_blocking(move || server.terminate());
    // A stream that outlived the server's shutdown would hold its exit up for good.
    let rest = tokio::time::timeout(Duration::from_secs(60), stream.text())
        .await
        .expect("the stream ends when the server stops")
        .unwrap();
    assert!(
        !rest.contains("event: "),
        "no terminal event of a load still running: {rest}"
    );
    assert!(stopped.await.unwrap().success());
    host.resume();
    let (status, _, _) = load.finish();
    assert!(
        status.success(),
        "the CLI's load is not the server's to stop"
    );
}

//! `ktrdr_server::client` against an in-process server (and, for a dropped stream, a fake one
//! that hangs up): answers in the wire types, the server's error messages, the bearer token,
//! and an event stream followed to its terminal event across a reconnect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::Arc;
use std::time::Duration;

use ktrdr_data::manager::DataManager;
use ktrdr_data::store::BarStore;
use ktrdr_ops::operations::Operations;
use ktrdr_ops::progress::StepPlan;
use ktrdr_ops::registry::{MemoryRegistry, OperationRecord, OperationStatus};
use ktrdr_server::api::wire::{EventKind, OperationInfo, OperationQuery};
use ktrdr_server::api::{ApiConfig, ApiServer, ApiState, ApiToken};
use ktrdr_server::client::{ApiClient, ClientError};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// An API server on a loopback port, stopped when dropped.
struct Api {
    url: String,
    ops: Operations,
    _stop: oneshot::Sender<()>,
}

impl Api {
    async fn start(token: Option<&str>) -> Api {
        let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
        let manager = DataManager::builder()
            .store(BarStore::new("/nonexistent/ktrdr-client-test"))
            .build()
            .unwrap();
        let config = ApiConfig {
            token: token.and_then(ApiToken::new),
            ..ApiConfig::default()
        };
        let server = ApiServer::new(ApiState::new(ops.clone(), manager), config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Api {
            url,
            ops,
            _stop: stop,
        }
    }

    /// Runs an operation that counts to ten, a step every `every`.
    fn count(&self, every: Duration) -> String {
        let plan = StepPlan::single("Count");
        let handle = self
            .ops
            .run(
                "data_load",
                json!({"symbol": "AAPL"}),
                plan,
                move |ctx| async move {
                    for done in 1..=10 {
                        tokio::time::sleep(every).await;
                        ctx.progress.set_sub_progress(done, 10);
                    }
                    Ok(json!({"counted": 10}))
                },
            )
            .unwrap();
        handle.id().to_owned()
    }
}

#[tokio::test]
async fn follows_an_operation_from_its_state_to_its_end() {
    let api = Api::start(None).await;
    let client = ApiClient::new(&api.url, None).unwrap();
    let id = api.count(Duration::from_millis(40));
    let mut events = client.events(&id).await.unwrap();
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event.unwrap());
    }
    let (last, before) = seen.split_last().unwrap();
    assert_eq!(last.kind, EventKind::Completed);
    assert_eq!(last.operation.result_summary, Some(json!({"counted": 10})));
    assert!(before.iter().all(|e| e.kind == EventKind::Progress));
    for pair in seen.windows(2) {
        let (a, b) = (&pair[0].operation.progress, &pair[1].operation.progress);
        assert!(b.percentage >= a.percentage);
    }
    assert_eq!(events.last_event_id(), Some(last.id.as_str()));
    assert!(
        events.next().await.is_none(),
        "nothing after the terminal event"
    );

    let waited = client.wait(&id, Duration::from_secs(5)).await.unwrap();
    assert!(waited.terminal);
    assert_eq!(waited.data, client.operation(&id).await.unwrap());
    assert_eq!(waited.data.status, OperationStatus::Completed);

    let running = api.count(Duration::from_secs(60));
    let all = client.operations(&OperationQuery::default()).await.unwrap();
    assert_eq!((all.total_count, all.active_count), (2, 1));
    assert_eq!(all.data[0].operation_id, running, "newest first");
    let query = OperationQuery {
        status: Some("completed".into()),
        ..OperationQuery::default()
    };
    let completed = client.operations(&query).await.unwrap();
    let ids: Vec<_> = completed.data.iter().map(|o| &o.operation_id).collect();
    assert_eq!(ids, [&id]);
    let query = OperationQuery {
        status: Some("done".into()),
        ..OperationQuery::default()
    };
    let error = client.operations(&query).await.unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert!(error.to_string().contains("\"done\""), "{error}");
}

#[tokio::test]
async fn a_wait_that_times_out_says_the_operation_has_not_ended() {
    let api = Api::start(None).await;
    let client = ApiClient::new(&api.url, None).unwrap();
    let id = api.count(Duration::from_secs(60));
    let waited = client.wait(&id, Duration::ZERO).await.unwrap();
    assert!(!waited.terminal);
    assert!(waited.data.status.is_active());
}

#[tokio::test]
async fn errors_carry_the_server_s_message_and_code() {
    let api = Api::start(Some("s3cret")).await;
    let anonymous = ApiClient::new(&api.url, None).unwrap();
    let error = anonymous.operation("op_nope").await.unwrap_err();
    assert_eq!(error.status(), Some(401), "{error}");
    assert!(error.to_string().contains("Bearer"), "{error}");

    let client = ApiClient::new(&format!("{}/api/v1/", api.url), Some("s3cret")).unwrap();
    let error = client.operation("op_nope").await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(
        error.to_string(),
        "no operation op_nope (HTTP 404, OPERATIONS-NotFound)"
    );
    let ClientError::Api { details, .. } = client
        .wait("op_nope", Duration::from_secs(301))
        .await
        .unwrap_err()
    else {
        panic!("an API error");
    };
    assert_eq!(details["field"], "timeout");
    let error = client.events("op_nope").await.unwrap_err();
    assert!(error.is_not_found(), "{error}");

    // Nothing listens on port 9 of this machine (discard) in a test environment.
    let nowhere = ApiClient::new("http://127.0.0.1:9", None).unwrap();
    let error = nowhere.operation("op_x").await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
}

/// Reads one request head from `stream`.
async fn request_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

/// Answers one stream of `events` (`(name, id, status)`) and hangs up.
async fn answer(stream: &mut tokio::net::TcpStream, events: &[(&str, &str, OperationStatus)]) {
    let mut body = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n: hi\n\n",
    );
    for (name, id, status) in events {
        let mut record = OperationRecord::pending("op_x", "data_load", json!({}));
        record.status = *status;
        let data = serde_json::to_string(&OperationInfo::from(&record)).unwrap();
        body.push_str(&format!("event: {name}\nid: {id}\ndata: {data}\n\n"));
    }
    stream.write_all(body.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dropped_stream_resumes_after_the_last_event_received() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use OperationStatus::{Completed, Running};
        let (mut first, _) = listener.accept().await.unwrap();
        let first_head = request_head(&mut first).await;
        // Two events, then the connection drops without a terminal event.
        answer(
            &mut first,
            &[("progress", "t1", Running), ("progress", "t2", Running)],
        )
        .await;
        let (mut second, _) = listener.accept().await.unwrap();
        let second_head = request_head(&mut second).await;
        answer(&mut second, &[("completed", "t3", Completed)]).await;
        (first_head, second_head)
    });
    let client = ApiClient::new(&url, None).unwrap();
    let mut events = client.events("op_x").await.unwrap();
    let mut ids = Vec::new();
    while let Some(event) = events.next().await {
        ids.push(event.unwrap().id);
    }
    assert_eq!(ids, ["t1", "t2", "t3"]);
    let (first, second) = server.await.unwrap();
    assert!(
        first.starts_with("get /api/v1/operations/op_x/events "),
        "{first}"
    );
    assert!(!first.contains("last-event-id"), "{first}");
    assert!(second.contains("\r\nlast-event-id: t2\r\n"), "{second}");
}

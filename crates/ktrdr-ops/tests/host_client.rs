//! Black-box tests of `ktrdr_ops::host` against local servers on 127.0.0.1:0: an axum app that
//! fails on request (5xx, 4xx, delays, hangs, bad JSON), and raw TCP servers that drop the
//! connection or trickle a body.
//!
//! Backoff and timeout sequencing run on tokio's paused clock (the server's delays are tokio
//! timers too, so virtual time covers both sides); only the cancel latency runs on the wall
//! clock, because that latency is what is measured.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::host::{EndpointStats, HostClient, HostError, HostRequest, RequestOptions};
use ktrdr_ops::retry::Backoff;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// The scripted axum server

#[derive(Default)]
struct Script {
    /// Hits per request path.
    hits: Mutex<HashMap<String, u32>>,
    /// `Idempotency-Key` header of every hit, in order.
    keys: Mutex<Vec<Option<String>>>,
    /// Signalled when `/hang` starts / when its handler is dropped (the connection closed).
    hang_started: Mutex<Option<mpsc::UnboundedSender<()>>>,
    hang_dropped: Mutex<Option<mpsc::UnboundedSender<()>>>,
}

impl Script {
    fn hit(&self, path: &str, headers: &HeaderMap) -> u32 {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.keys.lock().unwrap().push(key);
        let mut hits = self.hits.lock().unwrap();
        let n = hits.entry(path.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn keys(&self) -> Vec<Option<String>> {
        self.keys.lock().unwrap().clone()
    }
}

struct DropSignal(mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Answers `code` (with body "try again") for the first `failures` hits, then 200.
async fn fail_then_ok(
    State(script): State<Arc<Script>>,
    Path((failures, code)): Path<(u32, u16)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/fail-then-ok/{failures}/{code}");
    let n = script.hit(&path, &headers);
    if n <= failures {
        (StatusCode::from_u16(code).unwrap(), "try again").into_response()
    } else {
        Json(json!({"ok": true, "hit": n})).into_response()
    }
}

async fn sleep_then_ok(
    State(script): State<Arc<Script>>,
    Path(ms): Path<u64>,
    headers: HeaderMap,
) -> Json<Value> {
    script.hit(&format!("/sleep/{ms}"), &headers);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({"slept_ms": ms}))
}

async fn hang(State(script): State<Arc<Script>>, headers: HeaderMap) -> &'static str {
    script.hit("/hang", &headers);
    let dropped = script.hang_dropped.lock().unwrap().clone();
    let _guard = dropped.map(DropSignal);
    if let Some(started) = script.hang_started.lock().unwrap().as_ref() {
        let _ = started.send(());
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "too late"
}

async fn not_json(State(script): State<Arc<Script>>, headers: HeaderMap) -> &'static str {
    script.hit("/not-json", &headers);
    "<html>surprise</html>"
}

async fn ok(State(script): State<Arc<Script>>, headers: HeaderMap) -> Json<Value> {
    script.hit("/ok", &headers);
    Json(json!({"ok": true}))
}

/// `n` bytes of JSON (a string), with status `code`.
async fn big(Path((n, code)): Path<(usize, u16)>) -> Response {
    let body = format!("\"{}\"", "x".repeat(n.saturating_sub(2)));
    (StatusCode::from_u16(code).unwrap(), body).into_response()
}

async fn start_server() -> (SocketAddr, Arc<Script>) {
    let script = Arc::new(Script::default());
    let app = Router::new()
        .route(
            "/fail-then-ok/{failures}/{code}",
            get(fail_then_ok).post(fail_then_ok),
        )
        .route("/sleep/{ms}", get(sleep_then_ok))
        .route("/hang", get(hang))
        .route("/not-json", get(not_json))
        .route("/ok", get(ok))
        .route("/big/{n}/{code}", get(big))
        .with_state(script.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, script)
}

// ---------------------------------------------------------------------------------------------
// Raw TCP servers

/// Accepts connections and closes each at once, counting them.
async fn start_resetting_server() -> (SocketAddr, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU32::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (addr, accepted)
}

/// Answers one request with a JSON body of `chunks` pieces sent `interval` apart; reports on
/// `closed` when the client has closed the connection.
async fn start_trickling_server(
    chunks: usize,
    interval: Duration,
) -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (mut reader, mut writer) = socket.into_split();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed before sending its request");
            head.extend_from_slice(&buf[..n]);
        }
        // After the request, the client sends nothing more: a read ending means it hung up.
        tokio::spawn(async move {
            let _ = reader.read(&mut buf).await;
            let _ = closed_tx.send(());
        });
        // A JSON array of `chunks` numbers, e.g. "[0,1,2]" for 3, one element per write.
        let pieces: Vec<String> = (0..chunks)
            .map(|i| {
                let open = if i == 0 { "[" } else { "," };
                let close = if i + 1 == chunks { "]" } else { "" };
                format!("{open}{i}{close}")
            })
            .collect();
        let length: usize = pieces.iter().map(String::len).sum();
        let header = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        if writer.write_all(header.as_bytes()).await.is_err() {
            return;
        }
        for piece in pieces {
            tokio::time::sleep(interval).await;
            if writer.write_all(piece.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (addr, closed_rx)
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn exact_policy(max_attempts: u32, base_ms: u64, max_ms: u64) -> Backoff {
    Backoff {
        max_attempts,
        base_delay: Duration::from_millis(base_ms),
        max_delay: Duration::from_millis(max_ms),
        jitter: 0.0,
    }
}

fn client(addr: SocketAddr, policy: Backoff) -> HostClient {
    HostClient::builder(format!("http://{addr}"))
        .retry_policy(policy)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn stats_for(client: &HostClient, endpoint: &str) -> EndpointStats {
    client
        .stats()
        .into_iter()
        .find(|s| s.endpoint == endpoint)
        .unwrap_or_else(|| panic!("no stats for {endpoint}: {:?}", client.stats()))
}

fn assert_between(elapsed: Duration, low_ms: u64, high_ms: u64) {
    assert!(
        elapsed >= Duration::from_millis(low_ms) && elapsed < Duration::from_millis(high_ms),
        "elapsed {elapsed:?}, expected {low_ms}..{high_ms} ms"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test(start_paused = true)]
async fn retries_5xx_with_exponential_backoff_then_succeeds() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(4, 100, 10_000));
    let token = CancellationToken::new();

    let started = Instant::now();
    let answer: Value = client
        .get_json("/fail-then-ok/3/503", &token)
        .await
        .unwrap();
    // Three 503s, then the fourth attempt succeeds after waits of 100, 200 and 400 ms.
    assert_eq!(answer, json!({"ok": true, "hit": 4}));
    assert_eq!(script.hits("/fail-then-ok/3/503"), 4);
    assert_between(started.elapsed(), 700, 710);

    let stats = stats_for(&client, "GET /fail-then-ok/3/503");
    assert_eq!((stats.requests, stats.successes, stats.retries), (1, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn backoff_waits_are_capped_by_max_delay() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(4, 100, 150));
    let started = Instant::now();
    let response = client
        .send(
            HostRequest::get("/fail-then-ok/3/502"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(response.attempts(), 4);
    assert_eq!(script.hits("/fail-then-ok/3/502"), 4);
    assert_between(started.elapsed(), 400, 410); // 100 + 150 + 150
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_status() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(3, 10, 100));
    let err = client
        .get_json::<Value>("/fail-then-ok/99/500", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_status() && err.is_retryable(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.body(), Some("try again"));
    assert_eq!(script.hits("/fail-then-ok/99/500"), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "GET http://{addr}/fail-then-ok/99/500: host service answered \
             500 Internal Server Error (after 3 attempts)"
        )
    );
    let stats = stats_for(&client, "GET /fail-then-ok/99/500");
    assert_eq!((stats.requests, stats.errors, stats.retries), (1, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn never_retries_4xx() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(5, 10, 100));
    for code in [400u16, 404, 409, 422, 429] {
        let path = format!("/fail-then-ok/1/{code}");
        let err = client
            .get_json::<Value>(&path, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(err.is_status() && !err.is_retryable(), "{err:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(code));
        assert_eq!(err.attempts(), 1);
        assert_eq!(script.hits(&path), 1, "{code} was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn never_retries_501() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(5, 10, 100));
    let err = client
        .get_json::<Value>("/fail-then-ok/1/501", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_status() && !err.is_retryable());
    assert_eq!(script.hits("/fail-then-ok/1/501"), 1);
}

#[tokio::test(start_paused = true)]
async fn post_without_idempotency_key_is_not_retried() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(4, 10, 100));
    let err = client
        .post_json::<_, Value>(
            "/fail-then-ok/1/503",
            &json!({"symbol": "AAPL"}),
            RequestOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    // The failure is transient in kind, but a repeated POST could start a second load.
    assert!(err.is_status() && err.is_retryable());
    assert_eq!(err.attempts(), 1);
    assert_eq!(script.hits("/fail-then-ok/1/503"), 1);
    assert_eq!(script.keys(), [None]);
}

#[tokio::test(start_paused = true)]
async fn post_with_idempotency_key_is_retried_with_the_same_key() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(4, 10, 100));
    let options = RequestOptions {
        idempotency_key: Some("load-AAPL-1h-42".into()),
        ..RequestOptions::default()
    };
    let answer: Value = client
        .post_json(
            "/fail-then-ok/2/503",
            &json!({"symbol": "AAPL"}),
            options,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(answer["hit"], 3);
    let key = Some("load-AAPL-1h-42".to_owned());
    assert_eq!(script.keys(), [key.clone(), key.clone(), key]);
}

// ---------------------------------------------------------------------------------------------
// Transport failures

#[tokio::test(start_paused = true)]
async fn connection_resets_are_retried_for_get_only() {
    let (addr, accepted) = start_resetting_server().await;
    let client = client(addr, exact_policy(3, 10, 100));

    let err = client
        .get_json::<Value>("/health", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_transport() && err.is_retryable(), "{err:?}");
    assert!(!err.is_connect() && !err.is_status());
    assert_eq!(err.attempts(), 3);
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    let err = client
        .post_json::<_, Value>(
            "/data/historical",
            &json!({}),
            RequestOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_transport());
    assert_eq!(err.attempts(), 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn refused_connection_is_a_retried_connect_error() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let client = client(addr, exact_policy(3, 100, 1000));
    let started = Instant::now();
    let err = client
        .get_json::<Value>("/health", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        err.is_connect() && err.is_retryable() && !err.is_timeout(),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 3);
    assert_between(started.elapsed(), 300, 310);
    assert!(
        err.to_string()
            .contains("could not connect to the host service (after 3 attempts)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_password_in_the_url_shows_in_no_error() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let client = HostClient::builder(format!("http://ib:hunter2@{addr}"))
        .retry_policy(Backoff::none())
        .build()
        .unwrap();
    let err = client
        .get_json::<Value>("/health", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let mut shown = vec![err.to_string(), format!("{err:?}")];
    shown.extend(err.url().map(|u| u.to_string()));
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        shown.push(c.to_string());
        cause = c.source();
    }
    for text in shown {
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(
        err.to_string()
            .contains(&format!("GET http://***@{addr}/health")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_response_times_out_per_attempt() {
    let (addr, script) = start_server().await;
    let client = HostClient::builder(format!("http://{addr}"))
        .timeout(Duration::from_secs(1))
        .retry_policy(exact_policy(2, 100, 1000))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .get_json::<Value>("/sleep/10000", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        err.is_timeout() && err.is_retryable() && !err.is_connect(),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 2);
    assert_eq!(script.hits("/sleep/10000"), 2);
    assert_between(started.elapsed(), 2100, 2110); // two 1 s attempts and one 100 ms wait

    // A per-request timeout overrides the client's; a fast enough answer succeeds.
    let err = client
        .send(
            HostRequest::get("/sleep/500").timeout(Duration::from_millis(50)),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(
        err.to_string().contains("no complete response within 50ms"),
        "{err}"
    );
    let answer: Value = client
        .get_json("/sleep/500", &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(answer, json!({"slept_ms": 500}));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_covers_a_slow_body() {
    // Headers at once, then ten pieces of body 100 ms apart: 1 s for the whole response.
    let (addr, _closed) = start_trickling_server(10, Duration::from_millis(100)).await;
    let client = HostClient::builder(format!("http://{addr}"))
        .timeout(Duration::from_millis(500))
        .retry_policy(Backoff::none())
        .build()
        .unwrap();
    let err = client
        .get_json::<Value>("/data/historical", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    let (addr, _closed) = start_trickling_server(10, Duration::from_millis(100)).await;
    let client = HostClient::builder(format!("http://{addr}"))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let answer: Vec<u32> = client
        .get_json("/data/historical", &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(answer, (0..10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn an_unexpected_body_is_a_decode_error_not_retried() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(4, 10, 100));
    let err = client
        .get_json::<Value>("/not-json", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.is_decode() && !err.is_retryable(), "{err:?}");
    assert_eq!(err.attempts(), 1);
    assert_eq!(script.hits("/not-json"), 1);
    let source = std::error::Error::source(&err).expect("serde error as source");
    assert!(source.to_string().contains("line 1"), "{source}");
    let stats = stats_for(&client, "GET /not-json");
    assert_eq!((stats.requests, stats.successes, stats.errors), (1, 0, 1));
}

#[tokio::test]
async fn a_body_larger_than_the_limit_is_refused_not_buffered() {
    let (addr, _) = start_server().await;
    let client = HostClient::builder(format!("http://{addr}"))
        .retry_policy(exact_policy(4, 10, 100))
        .max_body_bytes(64 * 1024)
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let fits: Value = client.get_json("/big/65536/200", &token).await.unwrap();
    assert_eq!(fits.as_str().map(str::len), Some(65_534));
    let err = client
        .get_json::<Value>("/big/65537/200", &token)
        .await
        .unwrap_err();
    assert!(err.is_body_too_large() && !err.is_retryable(), "{err:?}");
    assert_eq!(err.attempts(), 1);
    assert!(err.to_string().contains("65536 bytes"), "{err}");
    // Of an error answer, only the excerpt is read, however large the body.
    let err = client
        .get_json::<Value>("/big/10000000/404", &token)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(err.body().map(str::len), Some(1024));
}

// ---------------------------------------------------------------------------------------------
// Cancellation

/// Wall clock on purpose: the latency from `cancel()` to the call returning is the measure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_in_flight_request_returns_at_once_and_drops_the_connection() {
    let (addr, script) = start_server().await;
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let (dropped_tx, mut dropped_rx) = mpsc::unbounded_channel();
    *script.hang_started.lock().unwrap() = Some(started_tx);
    *script.hang_dropped.lock().unwrap() = Some(dropped_tx);

    let client = client(addr, Backoff::default());
    let token = CancellationToken::new();
    let call = {
        let (client, token) = (client.clone(), token.clone());
        tokio::spawn(async move {
            let result = client.get_json::<Value>("/hang", &token).await;
            (result, std::time::Instant::now())
        })
    };
    tokio::time::timeout(Duration::from_secs(5), started_rx.recv())
        .await
        .expect("the server handler started")
        .unwrap();

    let cancelled_at = std::time::Instant::now();
    token.cancel(CancelReason::User);
    let (result, returned_at) = call.await.unwrap();
    let latency = returned_at.duration_since(cancelled_at);

    let err = result.unwrap_err();
    assert!(err.is_cancelled() && !err.is_retryable(), "{err:?}");
    assert_eq!(err.cancel_reason(), Some(&CancelReason::User));
    assert_eq!(err.attempts(), 1);
    assert!(
        latency < Duration::from_millis(50),
        "cancel took {latency:?}"
    );

    // The server's handler is dropped because the connection was closed under it.
    tokio::time::timeout(Duration::from_secs(2), dropped_rx.recv())
        .await
        .expect("the server saw the connection dropped")
        .unwrap();
    assert_eq!(script.hits("/hang"), 1);

    let stats = stats_for(&client, "GET /hang");
    assert_eq!((stats.requests, stats.cancelled, stats.errors), (1, 1, 0));
    assert!(
        stats.latency.is_none(),
        "a cancelled call has no service latency"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_a_slow_body_drops_the_download() {
    let (addr, mut closed) = start_trickling_server(1000, Duration::from_millis(50)).await;
    let client = client(addr, Backoff::default());
    let token = CancellationToken::new();
    let call = {
        let (client, token) = (client.clone(), token.clone());
        tokio::spawn(async move { client.get_json::<Value>("/bars", &token).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // a few pieces are in
    token.cancel(CancelReason::Shutdown);
    let err = tokio::time::timeout(Duration::from_secs(1), call)
        .await
        .expect("cancel returned")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.cancel_reason(), Some(&CancelReason::Shutdown));
    tokio::time::timeout(Duration::from_secs(2), closed.recv())
        .await
        .expect("the server saw the connection closed")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_backoff_stops_waiting() {
    let (addr, script) = start_server().await;
    let client = client(addr, exact_policy(5, 10_000, 60_000));
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        canceller.cancel(CancelReason::User);
    });
    let started = Instant::now();
    let err = client
        .get_json::<Value>("/fail-then-ok/9/503", &token)
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(err.attempts(), 1);
    assert_eq!(script.hits("/fail-then-ok/9/503"), 1);
    assert_between(started.elapsed(), 1000, 1010); // not the 10 s backoff
                                                   // What was being waited out stays visible.
    let source = std::error::Error::source(&err).expect("the last failure");
    let last = source.downcast_ref::<HostError>().expect("a HostError");
    assert_eq!(last.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
}

#[tokio::test(start_paused = true)]
async fn an_already_cancelled_token_sends_nothing() {
    let (addr, script) = start_server().await;
    let client = client(addr, Backoff::default());
    let token = CancellationToken::new();
    token.cancel(CancelReason::Timeout);
    let err = client.get_json::<Value>("/ok", &token).await.unwrap_err();
    assert_eq!(err.cancel_reason(), Some(&CancelReason::Timeout));
    assert_eq!(err.attempts(), 0);
    assert_eq!(script.hits("/ok"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_child_token_deadline_bounds_the_whole_call() {
    let (addr, _script) = start_server().await;
    let client = client(addr, exact_policy(10, 500, 500));
    let parent = CancellationToken::new();
    let started = Instant::now();
    let err = client
        .get_json::<Value>(
            "/fail-then-ok/99/503",
            &parent.with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.cancel_reason(), Some(&CancelReason::Timeout));
    assert!(err.attempts() >= 4, "{err:?}");
    assert_between(started.elapsed(), 2000, 2010);
    assert!(!parent.is_cancelled());
}

// ---------------------------------------------------------------------------------------------
// Statistics

#[tokio::test(start_paused = true)]
async fn stats_reflect_calls_per_endpoint() {
    let (addr, _script) = start_server().await;
    let client = client(addr, exact_policy(3, 10, 100));
    let token = CancellationToken::new();
    for _ in 0..5 {
        let _: Value = client.get_json("/ok", &token).await.unwrap();
    }
    for ms in [100, 200, 300] {
        let request = HostRequest::get(format!("/sleep/{ms}")).endpoint("GET /sleep/{ms}");
        let _: Value = client.send_json(request, &token).await.unwrap();
    }
    let _ = client
        .get_json::<Value>("/fail-then-ok/9/404", &token)
        .await
        .unwrap_err();

    let stats = client.stats();
    let labels: Vec<&str> = stats.iter().map(|s| s.endpoint.as_str()).collect();
    assert_eq!(
        labels,
        ["GET /fail-then-ok/9/404", "GET /ok", "GET /sleep/{ms}"]
    );

    let ok = stats_for(&client, "GET /ok");
    assert_eq!(
        (ok.requests, ok.successes, ok.errors, ok.retries),
        (5, 5, 0, 0)
    );
    assert_eq!(ok.latency.as_ref().unwrap().samples, 5);

    let sleep = stats_for(&client, "GET /sleep/{ms}");
    let latency = sleep.latency.as_ref().unwrap();
    assert_eq!((sleep.requests, latency.samples), (3, 3));
    assert!((200.0..210.0).contains(&latency.p50_ms), "{latency:?}");
    assert!((300.0..310.0).contains(&latency.p99_ms), "{latency:?}");
    assert!((300.0..310.0).contains(&latency.max_ms), "{latency:?}");

    let failed = stats_for(&client, "GET /fail-then-ok/9/404");
    assert_eq!((failed.requests, failed.errors, failed.retries), (1, 1, 0));

    // The snapshot is plain serde data.
    let json = serde_json::to_value(&sleep).unwrap();
    assert_eq!(json["endpoint"], "GET /sleep/{ms}");
    assert_eq!(json["latency"]["samples"], 3);
    let back: EndpointStats = serde_json::from_value(json).unwrap();
    assert_eq!(back, sleep);
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_pool_and_the_statistics() {
    let (addr, _script) = start_server().await;
    let client = client(addr, Backoff::default());
    let clone = client.clone();
    let token = CancellationToken::new();
    let (a, b) = tokio::join!(
        client.get_json::<Value>("/ok", &token),
        clone.get_json::<Value>("/ok", &token)
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(stats_for(&client, "GET /ok").requests, 2);
}

//! The host client on loopback, against an axum server in the same process: a JSON GET
//! through `HostClient` next to the same GET through a bare `reqwest::Client` (the floor: our
//! retry loop, timeout, cancel race and statistics are the difference), and the latency from
//! `cancel()` to the return of a call whose request is in flight (figures of
//! docs/PERFORMANCE.md).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::host::HostClient;
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

async fn ok() -> Json<Value> {
    Json(json!({"healthy": true, "service": "ib-connector", "status": "operational"}))
}

async fn hang(State(started): State<Arc<Notify>>) -> &'static str {
    started.notify_one();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "too late"
}

fn start_server(rt: &Runtime) -> (SocketAddr, Arc<Notify>) {
    let started = Arc::new(Notify::new());
    let app = Router::new()
        .route("/health", get(ok))
        .route("/hang", get(hang))
        .with_state(started.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, started)
}

fn get_json(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, started) = start_server(&rt);
    let client = HostClient::new(format!("http://{addr}")).unwrap();
    let bare = reqwest::Client::new();
    let url = format!("http://{addr}/health");
    let token = CancellationToken::new();

    let mut g = c.benchmark_group("host GET /health (loopback, keep-alive)");
    g.bench_function("ktrdr HostClient::get_json", |b| {
        b.iter(|| {
            rt.block_on(async {
                let v: Value = client.get_json("/health", &token).await.unwrap();
                black_box(v)
            })
        })
    });
    g.bench_function("bare reqwest get().json() (floor)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let v: Value = bare.get(&url).send().await.unwrap().json().await.unwrap();
                black_box(v)
            })
        })
    });
    g.finish();

    c.bench_function("host cancel in-flight request -> call returns", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let token = CancellationToken::new();
                let call = {
                    let (client, token) = (client.clone(), token.clone());
                    rt.spawn(async move {
                        let result = client.get_json::<Value>("/hang", &token).await;
                        (result.is_err(), Instant::now())
                    })
                };
                rt.block_on(started.notified());
                let cancelled_at = Instant::now();
                token.cancel(CancelReason::User);
                let (failed, returned_at) = rt.block_on(call).unwrap();
                assert!(failed);
                total += returned_at.duration_since(cancelled_at);
            }
            total
        })
    });
}

criterion_group!(benches, get_json);
criterion_main!(benches);

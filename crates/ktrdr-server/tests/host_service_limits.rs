//! The host service against hostile clients: idle and slow connections are closed after their
//! time limits, and a crowd of idle connections does not keep `/health` from answering.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ktrdr_data::provider::sim::SimProvider;
use ktrdr_server::host_service::{HostService, ServeLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Limits short enough for a test; the defaults are seconds.
const LIMITS: ServeLimits = ServeLimits {
    max_connections: 1024,
    header_timeout: Duration::from_millis(300),
    body_timeout: Duration::from_millis(300),
};

/// How long a test waits for something the server must do before calling it a failure: far
/// above every limit above, so it is never what decides a passing run.
const GUARD: Duration = Duration::from_secs(30);

async fn serve(limits: ServeLimits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = HostService::for_sim(Arc::new(SimProvider::default())).with_limits(limits);
    tokio::spawn(async move { service.serve(listener, std::future::pending()).await });
    addr
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut seen))
        .await
        .expect("the server never closed the connection")
        .unwrap_or_default();
    String::from_utf8_lossy(&seen).into_owned()
}

async fn health(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    until_closed(&mut s).await
}

#[tokio::test]
async fn health_answers_with_300_idle_connections_open_and_idle_ones_are_closed() {
    let addr = serve(LIMITS).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let answer = health(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Every idle connection is closed once its time to send a request has passed.
    for stream in &mut idle {
        assert_eq!(until_closed(stream).await, "");
    }
}

#[tokio::test]
async fn a_client_that_sends_half_a_header_is_dropped() {
    let addr = serve(LIMITS).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = until_closed(&mut slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // A keep-alive connection that goes quiet after a request is closed too.
    let mut quiet = TcpStream::connect(addr).await.unwrap();
    quiet
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut quiet).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_and_closed() {
    let addr = serve(LIMITS).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /data/historical HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"symbol\":",
    )
    .await
    .unwrap();
    let answer = until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let addr = serve(ServeLimits {
        max_connections: 2,
        ..LIMITS
    })
    .await;
    let a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    // The third waits in the kernel's backlog and is served once an idle one is closed.
    let answer = health(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // So by the time it was answered, one of the first two had been closed (a server closes
    // the socket before it frees the slot, and loopback delivers that close at once).
    let closed = |s: &TcpStream| matches!(s.try_read(&mut [0; 1]), Ok(0));
    assert!(closed(&a) || closed(&b), "served beyond the limit");
}

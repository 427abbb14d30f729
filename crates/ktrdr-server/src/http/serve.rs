//! The connection loop of both servers (the API and the host service): a bounded number of
//! connections, each held to time limits, so that slow or idle clients cannot hold the sockets.
//!
//! `axum::serve` has neither a header timeout nor a connection limit, so the loop is ours, on
//! hyper's HTTP/1 server (the protocol is HTTP/1.1):
//!
//! - **Connection limit**: a connection is accepted only with a permit of a semaphore of
//!   [`ServeLimits::max_connections`]; at the limit, new clients wait in the kernel's listen
//!   backlog until a connection ends, and the accept loop never runs the process out of file
//!   descriptors (which stops every accept, `/health` included).
//! - **Header timeout**: hyper closes a connection that has not sent a whole request head within
//!   [`ServeLimits::header_timeout`]. The clock starts when the connection waits for a request,
//!   so a connection that sends nothing, or goes quiet between requests (keep-alive), is closed
//!   after it too: it is also the idle timeout.
//! - **Body timeout**: a request whose body has not fully arrived within
//!   [`ServeLimits::body_timeout`] of its head is answered `408 Request Timeout` and the
//!   connection closed. The protocol's bodies are a few hundred bytes of JSON, read whole
//!   before the route runs; a route's own time (a slow broker) is not limited here.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::LengthLimitError;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::ApiError;

/// Largest request body read (axum's default limit for JSON bodies).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// How long the accept loop pauses after an error that is not one connection's (out of file
/// descriptors, say), so it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The limits the server holds its clients to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a connection has to send a whole request head, from when it starts waiting for a
    /// request (so also how long a connection may stay idle).
    pub header_timeout: Duration,
    /// Time a request has to send its whole body once its head has arrived.
    pub body_timeout: Duration,
}

impl Default for ServeLimits {
    /// 1024 connections, 10 s for a request head (and for idleness), 30 s for a body: far
    /// above what a client on the same network needs, low enough that a crowd of idle clients
    /// is gone within seconds.
    fn default() -> Self {
        ServeLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, lets the connections finish their requests in flight, and returns once every
/// one is closed.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let body_timeout = limits.body_timeout;
    let router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
        read_body_within(body_timeout, req, next)
    }));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
        };
        let (stream, remote) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after(&error).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client that timed out or went away: its business, not the server's.
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection (reset before it was accepted) cost nothing; any other (out of
/// file descriptors) is logged and waited out.
async fn pause_after(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept connections; retrying in a second");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// Reads the request body whole within `limit` before the route runs; a body that does not
/// arrive in time is answered 408, one too large 413 (declared so or not), one broken off
/// 400, each in the API's error shape; each closes the connection.
async fn read_body_within(limit: Duration, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return closing(too_large());
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        // Larger than the limit without saying so up front (a chunked body).
        Ok(Err(error)) if is_over_limit(&error) => closing(too_large()),
        Ok(Err(error)) => closing(ApiError::bad_request(
            "REQUEST-InvalidBody",
            format!("cannot read the request body: {error}"),
        )),
        Err(_) => closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST-Timeout",
            format!("the request body did not arrive within {limit:?}"),
        )),
    }
}

/// 413: the body passed [`MAX_BODY`].
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "REQUEST-TooLarge",
        format!("request bodies are limited to {MAX_BODY} bytes"),
    )
}

/// Whether reading a body failed because it passed the limit.
fn is_over_limit(error: &axum::Error) -> bool {
    std::error::Error::source(error).is_some_and(|cause| cause.is::<LengthLimitError>())
}

/// `response` with `Connection: close`: after a refused body the connection's state is unknown.
fn closing(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

//! The one HTTP client base for host services (the Python system's `AsyncHostService`).
//!
//! A [`HostClient`] talks JSON to one host service (the IB gateway bridge, a GPU trainer) over
//! a pooled `reqwest` client. Every call takes the caller's
//! [`CancellationToken`](crate::cancel::CancellationToken):
//!
//! - **Cancellation is immediate.** Each attempt races the token; when it is cancelled the
//!   in-flight request (connection, upload, body download) is dropped at once, which closes the
//!   connection, and the call returns an error with [`HostError::is_cancelled`]. Backoff waits
//!   are cancellable too. (The Python client only checked between attempts.)
//! - **Timeouts are per attempt** ([`HostClientBuilder::timeout`], overridable per request with
//!   [`RequestOptions::timeout`]) and cover the whole response, body included. For a deadline
//!   on the call as a whole, pass `token.with_timeout(d)`.
//! - **Retries** ([`Backoff`](crate::retry::Backoff), the kernel's one retry schedule) happen
//!   only when the failure is transient ([`HostError::is_retryable`]: connect errors, timeouts, connections lost
//!   before a complete response, 5xx) *and* the request is safe to repeat: an idempotent
//!   method (GET, HEAD, PUT, DELETE, OPTIONS, TRACE), or any method carrying an idempotency key
//!   ([`RequestOptions::idempotency_key`], sent as the `Idempotency-Key` header). A 4xx is never
//!   retried, nor a POST without a key: a retried POST could start a second data load.
//! - **Statistics** per endpoint ([`HostClient::stats`]): calls, successes, errors, cancels,
//!   retries and latency percentiles over a bounded window of recent calls.
//!
//! The host-service protocol answers domain errors with HTTP 200 and `success: false`; reading
//! that field is the protocol client's job, not this transport's.

mod builder;
mod client;
mod error;
mod redact;
mod repeat;
mod request;
mod stats;

pub use builder::{BuildError, HostClientBuilder};
pub use client::{HostClient, IDEMPOTENCY_KEY_HEADER};
pub use error::HostError;
pub use redact::{redact_url, REDACTED};
pub use request::{HostRequest, HostResponse, RequestOptions};
pub use stats::{EndpointStats, LatencySummary, OVERFLOW_ENDPOINT};

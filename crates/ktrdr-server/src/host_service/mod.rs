//! `ktrdr host-service`: a server of the IB host-service protocol
//! (`../shared/contracts/host-service.md`), backed by any
//! [`DataProvider`](ktrdr_data::provider::DataProvider) (the simulated broker today, the direct
//! IB provider later). It is interchangeable with the Python IB host
//! service: same routes, same JSON field names, the same JSON-in-JSON `data` encoding; the
//! wire types are shared with the `host` provider ([`ktrdr_data::provider::host::wire`]).
//!
//! The *client* paces through its [`PacingGate`](ktrdr_data::pacing::PacingGate) and the broker
//! enforces its rules. The server adds one rule no single client can keep: a request identical
//! to one forwarded within the broker's cooldown (a load re-run at once by another process) is
//! refused by the service itself, before the broker sees it (`identical`). A pacing refusal,
//! ours or the provider's, is answered `success:false` with IB's pacing text (error 162), plus
//! our `error_kind` and `retry_after_seconds` extensions, which clients honour as a wait.
//!
//! Errors of the broker (not found, pacing, gateway timeouts) are answered with HTTP 200 and
//! `success:false`, as the Python service does; the client must not repeat them blindly
//! (see the `host` provider's note on retries). HTTP 503 is reserved for the service itself:
//! requests cut short because it is shutting down.
//!
//! A request's `instrument_type` is accepted and ignored: the provider knows each symbol's
//! asset class (the Python service used it to skip a validation round trip to IB).
//!
//! Clients are held to [`ServeLimits`] (`crate::http`): a bounded number of connections, a time
//! limit to send a request's head (which also closes idle keep-alive connections) and one to
//! send its body, so slow or idle clients cannot hold the service's sockets.
//!
//! Shutdown is graceful: [`HostService::serve`] stops accepting connections when its
//! `shutdown` future completes, cancels the requests in flight (reason
//! [`CancelReason::Shutdown`](ktrdr_ops::cancel::CancelReason::Shutdown)) so that none holds
//! the process up, and returns once they are answered.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ktrdr_data::provider::sim::SimProvider;
//! use ktrdr_server::host_service::{shutdown_signal, HostService};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let service = HostService::for_sim(Arc::new(SimProvider::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5001").await?;
//! service.serve(listener, shutdown_signal()).await
//! # }
//! ```

mod counters;
mod identical;
mod routes;
mod service;
mod shutdown;

pub use crate::http::ServeLimits;
pub use counters::ServiceStats;
pub use service::{HostService, StatusFn};
pub use shutdown::shutdown_signal;

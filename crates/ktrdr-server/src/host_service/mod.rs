//! `ktrdr host-service`: a server of the IB host-service protocol
//! (`../shared/contracts/host-service.md`), backed by any [`DataProvider`] (the simulated
//! broker today, the direct IB provider later). It is interchangeable with the Python IB host
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
//! Shutdown is graceful: [`HostService::serve`] stops accepting connections when its
//! `shutdown` future completes, cancels the requests in flight (reason
//! [`CancelReason::Shutdown`]) so that none holds the process up, and returns once they are
//! answered.
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

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use ktrdr_data::provider::sim::SimProvider;
use ktrdr_data::provider::DataProvider;
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use serde_json::{Map, Value};

pub use counters::ServiceStats;

use self::counters::Counters;
use self::identical::IdenticalGuard;

/// Extra status shown under `connection_pool_status` in `/health/detailed`.
pub type StatusFn = dyn Fn() -> Map<String, Value> + Send + Sync;

/// The host-service server. Cheap to clone (one `Arc`); all clones share the counters.
#[derive(Clone)]
pub struct HostService {
    state: Arc<State>,
}

struct State {
    provider: Arc<dyn DataProvider>,
    provider_name: String,
    counters: Counters,
    /// IB's identical-request rule across all clients.
    identical: IdenticalGuard,
    /// Parent of every request's token; cancelled (reason `Shutdown`) when the server stops.
    requests: CancellationToken,
    status: Option<Arc<StatusFn>>,
}

impl HostService {
    /// A server of `provider`.
    pub fn new(provider: Arc<dyn DataProvider>) -> Self {
        Self::build(provider, None)
    }

    /// A server of `provider` whose `/health/detailed` also shows `status()` under
    /// `connection_pool_status`.
    pub fn with_status(
        provider: Arc<dyn DataProvider>,
        status: impl Fn() -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        Self::build(provider, Some(Arc::new(status)))
    }

    /// A server of the simulated broker, showing its counters (`sim_requests`,
    /// `sim_pacing_violations`, `sim_faults_injected`, `sim_bars_served`) in
    /// `/health/detailed`, so a test driving the service over HTTP can check that its client
    /// caused no pacing violation.
    pub fn for_sim(sim: Arc<SimProvider>) -> Self {
        let provider: Arc<dyn DataProvider> = sim.clone();
        Self::with_status(provider, move || {
            let s = sim.stats();
            let mut m = Map::new();
            m.insert("simulated".into(), Value::Bool(true));
            m.insert("sim_requests".into(), s.requests.into());
            m.insert("sim_pacing_violations".into(), s.violations.into());
            m.insert("sim_faults_injected".into(), s.faults_injected.into());
            m.insert("sim_bars_served".into(), s.bars_served.into());
            m
        })
    }

    fn build(provider: Arc<dyn DataProvider>, status: Option<Arc<StatusFn>>) -> Self {
        let info = provider.describe();
        HostService {
            state: Arc::new(State {
                provider,
                provider_name: info.name,
                counters: Counters::new(),
                identical: IdenticalGuard::new(info.pacing),
                requests: CancellationToken::new(),
                status,
            }),
        }
    }

    /// The provider's name, e.g. `sim (simulated data)`.
    pub fn provider_name(&self) -> &str {
        &self.state.provider_name
    }

    /// The routes of the protocol, for embedding in another server or for tests.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Counters since start.
    pub fn stats(&self) -> ServiceStats {
        self.state.counters.snapshot()
    }

    /// Serves on `listener` until `shutdown` completes, then cancels the requests in flight
    /// and returns once every connection is closed.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let requests = self.state.requests.clone();
        let name = self.state.provider_name.clone();
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, provider = %name, "host service listening");
        }
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("host service shutting down");
                requests.cancel(CancelReason::Shutdown);
            })
            .await
    }
}

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

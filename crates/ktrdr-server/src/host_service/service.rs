//! [`HostService`]: the server's state and its entry points.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use ktrdr_data::provider::sim::SimProvider;
use ktrdr_data::provider::DataProvider;
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use serde_json::{Map, Value};

use super::counters::{Counters, ServiceStats};
use super::identical::IdenticalGuard;
use super::routes;
use crate::http::{serve_connections, ServeLimits};

/// Extra status shown under `connection_pool_status` in `/health/detailed`.
pub type StatusFn = dyn Fn() -> Map<String, Value> + Send + Sync;

/// The host-service server. Cheap to clone (one `Arc`); all clones share the counters.
#[derive(Clone)]
pub struct HostService {
    state: Arc<State>,
    limits: ServeLimits,
}

pub(super) struct State {
    pub(super) provider: Arc<dyn DataProvider>,
    pub(super) provider_name: String,
    pub(super) counters: Counters,
    /// IB's identical-request rule across all clients.
    pub(super) identical: IdenticalGuard,
    /// Parent of every request's token; cancelled (reason `Shutdown`) when the server stops.
    pub(super) requests: CancellationToken,
    pub(super) status: Option<Arc<StatusFn>>,
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
            limits: ServeLimits::default(),
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

    /// The same server with other connection limits (the default is [`ServeLimits::default`]).
    pub fn with_limits(mut self, limits: ServeLimits) -> Self {
        self.limits = limits;
        self
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
    /// and returns once every connection is closed. Clients are held to the server's
    /// [`ServeLimits`]: at most so many connections at once, a time limit to send a request's
    /// head (which also closes idle keep-alive connections) and one to send its body.
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
        let stopping = async move {
            shutdown.await;
            tracing::info!("host service shutting down");
            requests.cancel(CancelReason::Shutdown);
        };
        serve_connections(listener, self.router(), self.limits, stopping).await
    }
}

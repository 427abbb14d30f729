//! [`ApiServer`]: the router with its middleware, served on the shared connection loop, with
//! the orphan sweep while it runs and the shutdown that stops the operations this process runs.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::auth::{require_token, ApiToken};
use super::orphans::{sweep_orphans, DEFAULT_SWEEP_EVERY};
use super::request_id::{tag_requests, REQUEST_ID_HEADER};
use super::routes::routes;
use super::ApiState;
use crate::http::{serve_connections, ServeLimits};

/// How the server treats its clients.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The bearer token every route but `/health` requires; none: no authentication.
    pub token: Option<ApiToken>,
    /// Origins a browser may call the API from (CORS); empty: CORS off.
    pub cors_origins: Vec<HeaderValue>,
    /// Connection limits and timeouts.
    pub limits: ServeLimits,
    /// How long a shutdown waits for running operations to stop before aborting them (they are
    /// recorded cancelled by shutdown either way).
    pub shutdown_grace: Duration,
    /// How often the registry is swept for operations whose owner process died.
    pub orphan_sweep: Duration,
}

impl Default for ApiConfig {
    /// No token, no CORS, the default limits, 5 s of grace, a sweep every 2 s.
    fn default() -> Self {
        ApiConfig {
            token: None,
            cors_origins: Vec::new(),
            limits: ServeLimits::default(),
            shutdown_grace: Duration::from_secs(5),
            orphan_sweep: DEFAULT_SWEEP_EVERY,
        }
    }
}

/// The `/api/v1` server.
#[derive(Debug, Clone)]
pub struct ApiServer {
    state: ApiState,
    config: ApiConfig,
}

impl ApiServer {
    /// A server of `state` treating clients as `config` says.
    pub fn new(state: ApiState, config: ApiConfig) -> Self {
        ApiServer { state, config }
    }

    /// The state its handlers share.
    pub fn state(&self) -> &ApiState {
        &self.state
    }

    /// Every route with its middleware: request ids and logs outermost (so a refused request
    /// is logged too), then CORS when configured, then the token check.
    pub fn router(&self) -> Router {
        let mut router = routes(&self.state)
            .layer(middleware::from_fn_with_state(
                self.config.token.clone(),
                require_token,
            ))
            .with_state(self.state.clone());
        if !self.config.cors_origins.is_empty() {
            router = router.layer(cors(&self.config.cors_origins));
        }
        router.layer(middleware::from_fn(tag_requests))
    }

    /// Serves on `listener` until `shutdown` completes, sweeping the registry for orphans
    /// meanwhile; then stops the gap filler and the runner (its operations are cancelled with
    /// reason `shutdown` and given the grace to save what they fetched, then aborted), ends the
    /// event streams, and returns once every connection is closed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let state = self.state.clone();
        let grace = self.config.shutdown_grace;
        tokio::spawn(sweep_orphans(state.clone(), self.config.orphan_sweep));
        let stopping = async move {
            shutdown.await;
            // First, so that it starts no load after the others are cancelled.
            state.gap_filler().shutdown().await;
            let report = state.operations().shutdown(grace).await;
            if report.stopped + report.forced > 0 {
                tracing::info!(
                    stopped = report.stopped,
                    forced = report.forced,
                    ?grace,
                    "shutting down: the running operations are cancelled"
                );
            }
            state.close();
        };
        serve_connections(listener, self.router(), self.config.limits, stopping).await
    }
}

fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)])
}

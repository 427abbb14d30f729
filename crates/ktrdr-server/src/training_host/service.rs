//! [`TrainingHostService`]: the server's state and its entry points.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::operations::Operations;
use ktrdr_train::host::request::StrategyFiles;
use ktrdr_train::pipeline::TrainingService;

use super::routes;
use super::sessions::Sessions;
use crate::http::{serve_connections, ServeLimits};

/// How long a shutdown waits for the running session to save its checkpoint.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The training host service. Cheap to clone; clones share the sessions.
#[derive(Clone)]
pub struct TrainingHostService {
    state: Arc<State>,
    limits: ServeLimits,
}

pub(super) struct State {
    pub(super) training: TrainingService,
    pub(super) operations: Operations,
    pub(super) sessions: Sessions,
    /// Which strategy files a request may name by path.
    pub(super) strategy_files: StrategyFiles,
}

impl TrainingHostService {
    /// A service that runs `training` as operations of `operations`, reading the strategy files
    /// `strategy_files` allows when a request names one by path.
    pub fn new(
        training: TrainingService,
        operations: Operations,
        strategy_files: StrategyFiles,
    ) -> Self {
        TrainingHostService {
            state: Arc::new(State {
                training,
                operations,
                sessions: Sessions::default(),
                strategy_files,
            }),
            limits: ServeLimits::default(),
        }
    }

    /// The routes of the protocol, for embedding or tests.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes; then stops the running session (it
    /// keeps its best checkpoint, reason `shutdown`) and returns once connections are closed.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "training host service listening");
        }
        let state = self.state.clone();
        let stopping = async move {
            shutdown.await;
            tracing::info!("training host service shutting down");
            state.operations.cancel_all(CancelReason::Shutdown);
        };
        let served = serve_connections(listener, self.router(), self.limits, stopping).await;
        // A cancelled training stops between two batches; the grace only bounds a stuck one.
        let report = self.state.operations.shutdown(SHUTDOWN_GRACE).await;
        tracing::info!(?report, "training sessions stopped");
        served
    }
}

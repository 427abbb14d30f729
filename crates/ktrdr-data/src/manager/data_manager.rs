//! [`DataManager`]: the handle callers hold, and a load's entry points (as an operation, or
//! awaited directly). The steps themselves are run by [`Run`](super::run).

use std::sync::Arc;

use ktrdr_ops::cancel::CancellationToken;
use ktrdr_ops::operations::{OperationError, OperationHandle, Operations, OperationsError};
use ktrdr_ops::progress::{ProgressHandle, StepPlan};
use tokio::time::Instant;

use super::builder::DataManagerBuilder;
use super::fetch::{Landed, Stop};
use super::run::Run;
use super::stats::{ManagerStats, Totals};
use super::{LoadError, LoadRequest, LoadSummary, RetryPolicy, OPERATION_KIND};
use crate::calendar::CalendarMap;
use crate::pacing::PacingGate;
use crate::provider::{DataProvider, ProviderInfo};
use crate::render::steps;
use crate::render::DataProgressRenderer;
use crate::store::BarStore;
use crate::types::LoadMode;

/// Loads series into the local store. Cheap to clone; share one per process (its pacing gate
/// is the provider connection's, shared by every load).
#[derive(Clone)]
pub struct DataManager {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: BarStore,
    pub(super) provider: Option<Arc<dyn DataProvider>>,
    pub(super) gate: Option<PacingGate>,
    pub(super) calendars: CalendarMap,
    pub(super) retry: RetryPolicy,
    pub(super) max_in_flight: usize,
    pub(super) now: Option<i64>,
    pub(super) totals: Totals,
}

impl Inner {
    pub(super) fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| chrono::Utc::now().timestamp())
    }
}

impl std::fmt::Debug for DataManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataManager")
            .field("data_dir", &self.inner.store.dir())
            .field(
                "provider",
                &self.inner.provider.as_ref().map(|p| p.describe().name),
            )
            .field("paced", &self.inner.gate.is_some())
            .field("max_in_flight", &self.inner.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl DataManager {
    /// A builder.
    pub fn builder() -> DataManagerBuilder {
        DataManagerBuilder::default()
    }

    /// The step plan of a load in `mode`; create the load's [`ProgressHandle`] with it.
    pub fn plan(mode: LoadMode) -> StepPlan {
        let steps: &[(&str, u32)] = match mode {
            LoadMode::Local => &[(steps::RANGE, 5), (steps::READ, 65), (steps::GAPS, 30)],
            // The fetch dominates every real load; the other steps are a read and some
            // arithmetic, weighted by what they cost on a large series.
            LoadMode::Tail | LoadMode::Backfill | LoadMode::Full => &[
                (steps::VALIDATE, 2),
                (steps::RANGE, 1),
                (steps::READ, 4),
                (steps::GAPS, 3),
                (steps::REQUESTS, 1),
                (steps::FETCH, 85),
                (steps::SAVE, 4),
            ],
        };
        match StepPlan::new(steps.iter().copied()) {
            Ok(plan) => plan,
            // The weights above sum to 100; a test keeps it so.
            Err(_) => StepPlan::single(steps::FETCH),
        }
    }

    /// The store loads go into.
    pub fn store(&self) -> &BarStore {
        &self.inner.store
    }

    /// The pacing gate every request of this manager's loads goes through, if it has one.
    pub fn pacing_gate(&self) -> Option<&PacingGate> {
        self.inner.gate.as_ref()
    }

    /// The symbol → calendar mapping its gap analysis uses.
    pub fn calendars(&self) -> &CalendarMap {
        &self.inner.calendars
    }

    /// "Now" as this manager's loads see it (unix seconds): the instant it was built with
    /// ([`DataManagerBuilder::now`]), else the wall clock.
    pub fn now(&self) -> i64 {
        self.inner.now()
    }

    /// What the provider says about itself, if there is one.
    pub fn provider_info(&self) -> Option<ProviderInfo> {
        self.inner.provider.as_ref().map(|p| p.describe())
    }

    /// What this manager's loads (and its pacing gate) have done so far.
    pub fn stats(&self) -> ManagerStats {
        ManagerStats {
            pacing: self.inner.gate.as_ref().map(PacingGate::stats),
            ..self.inner.totals.get()
        }
    }

    /// The metadata a load of `request` is recorded with: `symbol`, `timeframe`, `mode`,
    /// `start`, `end` (the canonical time form, `null` for the mode's default) and `provider`.
    pub fn operation_metadata(&self, request: &LoadRequest) -> serde_json::Value {
        serde_json::json!({
            "symbol": request.symbol.as_str(),
            "timeframe": request.timeframe.as_str(),
            "mode": request.mode.as_str(),
            "start": request.start.map(crate::types::format_timestamp),
            "end": request.end.map(crate::types::format_timestamp),
            "provider": self.provider_info().map(|p| p.name),
        })
    }

    /// Starts a load as an operation of `ops` (type [`OPERATION_KIND`], recorded in its
    /// registry) and returns at once. The operation's result summary is the [`LoadSummary`]
    /// as JSON; a cancelled load is recorded `cancelled` with that summary as what it kept.
    ///
    /// # Errors
    ///
    /// What [`Operations::run`] refuses with (no runtime, registry failure).
    pub fn start(
        &self,
        ops: &Operations,
        request: LoadRequest,
    ) -> Result<OperationHandle, OperationsError> {
        let metadata = self.operation_metadata(&request);
        self.start_with_metadata(ops, request, metadata)
    }

    /// [`start`](Self::start), recording `metadata` (the
    /// [`operation_metadata`](Self::operation_metadata) of the request, with what the caller
    /// adds: who started the load, say) instead of the request's own.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn start_with_metadata(
        &self,
        ops: &Operations,
        request: LoadRequest,
        metadata: serde_json::Value,
    ) -> Result<OperationHandle, OperationsError> {
        let manager = self.clone();
        let renderer = Arc::new(DataProgressRenderer::new(
            request.symbol.clone(),
            Some(request.timeframe),
            request.mode,
        ));
        let handle = ops.run(
            OPERATION_KIND,
            metadata,
            Self::plan(request.mode),
            move |ctx| async move {
                let summary = manager
                    .load(&request, &ctx.token, &ctx.progress)
                    .await
                    .map_err(|e| failure(&e, e.summary()))?;
                serde_json::to_value(&summary).map_err(OperationError::failed)
            },
        )?;
        // Also set here, so a watcher that reads before the work starts sees our messages.
        handle.progress().set_renderer(renderer);
        Ok(handle)
    }

    /// Loads one series, reporting on `progress` (created with [`plan`](Self::plan) for the
    /// request's mode) and stopping promptly when `token` is cancelled.
    ///
    /// A cancelled load is not an error: it returns its summary with
    /// [`LoadSummary::cancelled`] set, after saving every bar it had received.
    ///
    /// # Errors
    ///
    /// [`LoadError`]: no provider for a fetching mode, unknown symbol, invalid window, a store
    /// or provider failure, or segments that failed after their retries (with the summary of
    /// everything else, which was saved).
    pub async fn load(
        &self,
        request: &LoadRequest,
        token: &CancellationToken,
        progress: &ProgressHandle,
    ) -> Result<LoadSummary, LoadError> {
        let started = Instant::now();
        progress.set_renderer(Arc::new(DataProgressRenderer::new(
            request.symbol.clone(),
            Some(request.timeframe),
            request.mode,
        )));
        let mut run = Run {
            manager: &self.inner,
            request,
            token,
            progress,
            summary: LoadSummary::new(request.symbol.clone(), request.timeframe, request.mode),
            landed: Landed::new(),
            in_window_before: 0,
        };
        let result = run.steps().await;
        // Invariant 1 of `fetch`: whatever happened, what landed is saved.
        let flushed = run.flush().await;
        let mut summary = run.summary;
        summary.bars_in_window = run.in_window_before + summary.bars_new as usize;
        summary.elapsed_secs = started.elapsed().as_secs_f64();
        self.inner.totals.add(&summary);
        match (result, flushed) {
            (Err(Stop::Failed(e)), _) | (_, Err(e)) => Err(e.after(summary)),
            (Err(Stop::Cancelled(reason)), Ok(())) => {
                summary.cancelled = Some(reason);
                tracing::info!(%summary, "load cancelled");
                Ok(summary)
            }
            (Ok(()), Ok(())) => match summary.failures.last() {
                Some(last) => Err(LoadError::SegmentsFailed {
                    failed: summary.segments_failed,
                    total: summary.requests_planned,
                    last_error: last.error.clone(),
                    summary: Box::new(summary),
                }),
                None => Ok(summary),
            },
        }
    }
}

/// The operation's failure, keeping the summary of what was saved before it when there is one.
pub(crate) fn failure(
    error: &dyn std::fmt::Display,
    saved: Option<&LoadSummary>,
) -> OperationError {
    match saved.map(serde_json::to_value) {
        Some(Ok(partial)) => OperationError::failed_with(error, partial),
        _ => OperationError::failed(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_declared_with_weights_summing_to_100() {
        for mode in LoadMode::ALL {
            let plan = DataManager::plan(mode);
            let sum: u32 = plan.steps().map(|(_, w)| w).sum();
            assert_eq!(sum, 100, "{mode}");
            assert!(plan.len() > 1, "{mode} has a real plan, not the fallback");
        }
        let names: Vec<_> = DataManager::plan(LoadMode::Full)
            .steps()
            .map(|(n, _)| n.to_owned())
            .collect();
        assert_eq!(
            names,
            [
                steps::VALIDATE,
                steps::RANGE,
                steps::READ,
                steps::GAPS,
                steps::REQUESTS,
                steps::FETCH,
                steps::SAVE
            ]
        );
    }
}

//! The DataManager: loads a series from a provider into the local store, as an operation with a
//! declared step plan, live progress, retries, pacing and a prompt cancel that keeps every
//! fetched bar (the Python `DataManager`, `DataLoadingOrchestrator` and `SegmentManager`).
//!
//! A load goes through the steps of [`DataManager::plan`]:
//!
//! 1. **Validate symbol**: the provider knows the symbol; its head timestamp (earliest bar).
//! 2. **Plan range**: the mode's window ([`LoadMode`]), the user's bounds, clamped to the head
//!    timestamp and to complete bars.
//! 3. **Read local data**: the stored series.
//! 4. **Analyse gaps**: the exchange calendar's expected bars missing from the store, as the
//!    timestamp ranges those bars would carry (see `targets`).
//! 5. **Plan requests**: the minimal set of requests under the provider's span limit.
//! 6. **Fetch segments**: several requests in flight as the pacing gate allows, each retried
//!    per [`RetryPolicy`], each reported (segment k/n, bars) after it lands and saved to the
//!    store in plan order through its atomic merge, so a crash or a cancel keeps every bar.
//! 7. **Merge and save**: whatever landed out of order is saved; the counts are final.
//!
//! Because the gaps are computed against the store, a load that was cancelled, failed or
//! crashed is resumed by running it again: only what is still missing is requested.
//!
//! ```
//! use std::sync::Arc;
//! use ktrdr_data::manager::{DataManager, LoadMode, LoadRequest};
//! use ktrdr_data::provider::sim::{SimConfig, SimProvider};
//! use ktrdr_ops::cancel::CancellationToken;
//! use ktrdr_ops::progress::ProgressHandle;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let now = 1_735_689_600; // 2025-01-01
//! let sim = SimProvider::new(SimConfig { now: Some(now), ..SimConfig::default() })?;
//! let manager = DataManager::builder()
//!     .data_dir(dir.path())
//!     .provider(Arc::new(sim))
//!     .now(now)
//!     .build()?;
//! // The first week of December 2024.
//! let request = LoadRequest::new("AAPL".parse()?, "1h".parse()?, LoadMode::Full)
//!     .with_start(1_733_011_200)
//!     .with_end(1_733_615_999);
//! let progress = ProgressHandle::new("load-1", DataManager::plan(LoadMode::Full));
//! let summary = manager.load(&request, &CancellationToken::new(), &progress).await?;
//! assert_eq!(summary.bars_new, 5 * 7); // five sessions of seven 1h bars
//! assert_eq!(summary.requests_sent, 1);
//! # Ok(())
//! # }
//! ```

mod error;
mod fetch;
mod mode;
mod retry;
mod summary;
mod targets;
mod window;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::operations::{OperationError, OperationHandle, Operations, OperationsError};
use ktrdr_ops::progress::{ProgressHandle, StepPlan};
use tokio::time::Instant;

pub use error::LoadError;
pub use mode::{LoadMode, LoadRequest, UnknownMode};
pub use retry::RetryPolicy;
pub use summary::{LoadSummary, SegmentFailure};

use self::fetch::{record_save, take_all, FetchStep, Job, Landed, Stop};
use self::window::{resolve, Window, WindowInput};
use crate::calendar::{CalendarMap, SessionHours};
use crate::gaps::{analyze, GapKind, GapOptions, GapReport};
use crate::pacing::{InvalidPacingRules, PacingGate};
use crate::planner::plan_requests;
use crate::provider::{DataProvider, ProviderError, ProviderInfo};
use crate::render::{group_thousands, DataProgressRenderer};
use crate::store::BarStore;
use crate::types::BarSeries;

/// The names of the steps of a load, as they appear in [`ProgressState::step_name`].
///
/// [`ProgressState::step_name`]: ktrdr_ops::progress::ProgressState::step_name
pub mod steps {
    /// Step 1 of a fetching load.
    pub const VALIDATE: &str = "Validate symbol";
    /// Resolving the window.
    pub const RANGE: &str = "Plan range";
    /// Reading the stored series.
    pub const READ: &str = "Read local data";
    /// Gap analysis.
    pub const GAPS: &str = "Analyse gaps";
    /// Request planning.
    pub const REQUESTS: &str = "Plan requests";
    /// Fetching and saving segments.
    pub const FETCH: &str = "Fetch segments";
    /// Final save and counts.
    pub const SAVE: &str = "Merge and save";
    /// The last step of a multi-timeframe load.
    pub const COVERAGE: &str = "Common coverage";
}

/// The operation type recorded in the registry for a load.
pub const OPERATION_KIND: &str = "data_load";

/// Loads series into the local store. Cheap to clone; share one per process (its pacing gate
/// is the provider connection's, shared by every load).
#[derive(Clone)]
pub struct DataManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: BarStore,
    provider: Option<Arc<dyn DataProvider>>,
    gate: Option<PacingGate>,
    calendars: CalendarMap,
    retry: RetryPolicy,
    max_in_flight: usize,
    now: Option<i64>,
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

/// Builds a [`DataManager`] (the Python `DataManagerBuilder`).
#[derive(Default)]
pub struct DataManagerBuilder {
    store: Option<BarStore>,
    provider: Option<Arc<dyn DataProvider>>,
    gate: GateChoice,
    calendars: Option<CalendarMap>,
    retry: RetryPolicy,
    max_in_flight: Option<usize>,
    now: Option<i64>,
}

#[derive(Default)]
enum GateChoice {
    /// A new gate from the provider's announced rules.
    #[default]
    FromProvider,
    Shared(PacingGate),
    None,
}

/// A configuration the manager cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The provider announces pacing rules no schedule can satisfy.
    #[error("the provider's pacing rules are invalid: {0}")]
    Pacing(#[from] InvalidPacingRules),
    /// `max_in_flight` of 0.
    #[error("max_in_flight must be at least 1")]
    NoConcurrency,
    /// A retry policy that never sends a request.
    #[error("retry.max_attempts must be at least 1")]
    NoAttempts,
}

/// Requests in flight at once when nothing else is said: enough to hide the answer latency
/// behind the pacing gate's spacing, few enough to be polite to a gateway.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

impl DataManagerBuilder {
    /// The store to load into (default: [`BarStore::from_env`]).
    pub fn store(mut self, store: BarStore) -> Self {
        self.store = Some(store);
        self
    }

    /// A store at `dir`.
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.store(BarStore::new(dir))
    }

    /// Where bars come from. Without a provider only [`LoadMode::Local`] works.
    pub fn provider(mut self, provider: Arc<dyn DataProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Sends requests through `gate` (shared with other managers on the same connection)
    /// instead of a new gate built from the provider's rules.
    pub fn pacing_gate(mut self, gate: PacingGate) -> Self {
        self.gate = GateChoice::Shared(gate);
        self
    }

    /// Sends requests without a gate: only for a provider that paces itself (one already
    /// wrapped in [`Paced`](crate::provider::Paced)).
    pub fn unpaced(mut self) -> Self {
        self.gate = GateChoice::None;
        self
    }

    /// The symbol → calendar mapping for gap analysis (default: [`CalendarMap::builtin`]).
    pub fn calendars(mut self, calendars: CalendarMap) -> Self {
        self.calendars = Some(calendars);
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Requests in flight at once (default [`DEFAULT_MAX_IN_FLIGHT`]); the gate still decides
    /// when each may be sent.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// A fixed "now" (unix seconds) instead of the wall clock, for reproducible windows.
    pub fn now(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// The manager.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for invalid pacing rules, a zero `max_in_flight` or a retry policy
    /// without attempts.
    pub fn build(self) -> Result<DataManager, BuildError> {
        let max_in_flight = self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
        if max_in_flight == 0 {
            return Err(BuildError::NoConcurrency);
        }
        if self.retry.max_attempts == 0 {
            return Err(BuildError::NoAttempts);
        }
        let gate = match (self.gate, &self.provider) {
            (GateChoice::Shared(gate), _) => Some(gate),
            (GateChoice::FromProvider, Some(p)) => Some(PacingGate::new(p.describe().pacing)?),
            (GateChoice::FromProvider, None) | (GateChoice::None, _) => None,
        };
        Ok(DataManager {
            inner: Arc::new(Inner {
                store: self.store.unwrap_or_else(BarStore::from_env),
                provider: self.provider,
                gate,
                calendars: self.calendars.unwrap_or_default(),
                retry: self.retry,
                max_in_flight,
                now: self.now,
            }),
        })
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

    /// What the provider says about itself, if there is one.
    pub fn provider_info(&self) -> Option<ProviderInfo> {
        self.inner.provider.as_ref().map(|p| p.describe())
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
        let metadata = serde_json::json!({
            "symbol": request.symbol.as_str(),
            "timeframe": request.timeframe.as_str(),
            "mode": request.mode.as_str(),
            "start": request.start.map(crate::types::format_timestamp),
            "end": request.end.map(crate::types::format_timestamp),
            "provider": self.provider_info().map(|p| p.name),
        });
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

/// The state of one load in progress.
struct Run<'a> {
    manager: &'a Inner,
    request: &'a LoadRequest,
    token: &'a CancellationToken,
    progress: &'a ProgressHandle,
    summary: LoadSummary,
    landed: Landed,
    /// Stored bars inside the window before the load.
    in_window_before: usize,
}

impl Run<'_> {
    async fn steps(&mut self) -> Result<(), Stop> {
        let req = self.request;
        let fetching = req.mode.fetches();
        let mut step = 0usize;
        let mut next_step = |run: &Self| -> Result<(), Stop> {
            run.token.check().map_err(|c| Stop::Cancelled(c.reason))?;
            if let Err(error) = run.progress.start_step(step) {
                tracing::debug!(%error, "progress plan does not match the load's steps");
            }
            step += 1;
            Ok(())
        };

        let mut provider_info = None;
        let mut head = None;
        if fetching {
            next_step(self)?; // Validate symbol
            let provider = self
                .manager
                .provider
                .clone()
                .ok_or(Stop::Failed(LoadError::NoProvider { mode: req.mode }))?;
            let info = provider.describe();
            self.summary.provider = Some(info.name.clone());
            self.summary.simulated = info.simulated;
            if info.spans.max_span(req.timeframe).is_none() {
                let supported: Vec<&str> = info.spans.timeframes().map(|t| t.as_str()).collect();
                return Err(Stop::Failed(LoadError::UnsupportedTimeframe {
                    timeframe: req.timeframe,
                    provider: info.name,
                    supported: supported.join(" "),
                }));
            }
            self.progress.set_step_detail(info.name.clone());
            head = self.validate_and_head(provider.as_ref(), &info).await?;
            provider_info = Some(info);
        }

        next_step(self)?; // Plan range
        let stored = self
            .read_blocking("store task", {
                let (store, symbol, tf) = self.series();
                move || match store.date_range(&symbol, tf) {
                    Err(e) if e.is_not_found() => Ok(None),
                    other => other,
                }
            })
            .await?;
        let window = resolve(WindowInput {
            mode: req.mode,
            timeframe: req.timeframe,
            start: req.start,
            end: req.end,
            now: self.now(),
            stored,
            head,
        })
        .map_err(Stop::Failed)?;
        self.summary.window = Some((window.start, window.end));
        self.summary.head_timestamp = head;
        self.summary.clamped_to_head = window.clamped_to_head;
        if !window.is_empty() {
            self.progress
                .set_step_detail(crate::render::span_label(window.start, window.end));
        }

        next_step(self)?; // Read local data
        let existing = self
            .read_blocking("store task", {
                let (store, symbol, tf) = self.series();
                move || match store.load(&symbol, tf) {
                    Err(e) if e.is_not_found() => Ok(BarSeries::new()),
                    other => other,
                }
            })
            .await?;
        self.summary.bars_stored = existing.len();
        self.in_window_before = if window.is_empty() {
            0
        } else {
            existing
                .index_range(Some(window.start), Some(window.end - 1))
                .len()
        };
        self.progress.set_step_detail(format!(
            "{} bars stored",
            group_thousands(existing.len() as u64)
        ));

        next_step(self)?; // Analyse gaps
        let hours = provider_info
            .as_ref()
            .map_or(SessionHours::Regular, |i| i.session_hours);
        let (report, to_fill) = self.gaps(existing, window, head, hours).await?;
        if let Some(report) = &report {
            self.summary.gaps = report.of_kind(GapKind::Missing).count();
            self.summary.missing_bars = report
                .of_kind(GapKind::Missing)
                .map(|g| g.missing_bars)
                .sum();
            self.progress.set_step_detail(format!(
                "{} gaps, {} missing bars",
                group_thousands(self.summary.gaps as u64),
                group_thousands(self.summary.missing_bars as u64)
            ));
        }
        let Some(info) = provider_info else {
            return Ok(()); // local: nothing to fetch
        };

        next_step(self)?; // Plan requests
        let max_span =
            info.spans
                .max_span(req.timeframe)
                .ok_or(Stop::Failed(LoadError::Internal(
                    "span checked above".into(),
                )))?;
        let plan = plan_requests(to_fill, max_span, req.mode.plan_order())
            .map_err(|e| Stop::Failed(e.into()))?;
        self.summary.requests_planned = plan.len();
        self.progress
            .set_step_detail(format!("{} requests", plan.len()));

        next_step(self)?; // Fetch segments
        let provider = self
            .manager
            .provider
            .clone()
            .ok_or(Stop::Failed(LoadError::NoProvider { mode: req.mode }))?;
        self.progress.set_sub_progress(0, plan.len() as u64);
        self.progress
            .set_items(0, Some(self.summary.missing_bars as u64));
        let fetch = FetchStep {
            job: Arc::new(Job {
                provider,
                gate: self.manager.gate.clone(),
                retry: self.manager.retry,
                symbol: req.symbol.clone(),
                timeframe: req.timeframe,
                sent: AtomicU64::new(0),
            }),
            store: &self.manager.store,
            token: self.token,
            progress: self.progress,
            max_in_flight: self.manager.max_in_flight,
            expected_bars: self.summary.missing_bars as u64,
        };
        fetch
            .run(&plan.requests, &mut self.summary, &mut self.landed)
            .await?;

        next_step(self)?; // Merge and save
        self.flush().await.map_err(Stop::Failed)?;
        self.progress.set_step_detail(format!(
            "{} bars stored",
            group_thousands(self.summary.bars_stored as u64)
        ));
        Ok(())
    }

    /// Validates the symbol (retrying transient errors) and finds the head timestamp.
    async fn validate_and_head(
        &mut self,
        provider: &dyn DataProvider,
        info: &ProviderInfo,
    ) -> Result<Option<i64>, Stop> {
        let req = self.request;
        let symbol_info = self
            .with_retry(|| provider.validate_symbol(&req.symbol, self.token))
            .await
            .map_err(|e| self.provider_stop(e, "symbol validation", info))?;
        if let Some(head) = symbol_info.head_timestamp_for(req.timeframe) {
            return Ok(Some(head));
        }
        match self
            .with_retry(|| provider.head_timestamp(&req.symbol, req.timeframe, self.token))
            .await
        {
            Ok(head) => Ok(head),
            Err(e) if e.is_cancelled() => Err(self.provider_stop(e, "head timestamp", info)),
            Err(error) => {
                // Without a head the window is only not clamped; backfill and full then ask
                // for an explicit start (window resolution says so).
                tracing::warn!(symbol = %req.symbol, %error, "no head timestamp");
                Ok(None)
            }
        }
    }

    fn provider_stop(&self, e: ProviderError, what: &'static str, info: &ProviderInfo) -> Stop {
        if e.is_cancelled() {
            return Stop::Cancelled(
                self.token
                    .reason()
                    .or_else(|| e.cancel_reason().cloned())
                    .unwrap_or(CancelReason::User),
            );
        }
        if e.is_not_found() {
            return Stop::Failed(LoadError::SymbolNotFound {
                symbol: self.request.symbol.clone(),
                provider: info.name.clone(),
                message: e.message().to_owned(),
            });
        }
        Stop::Failed(LoadError::Provider {
            what,
            provider: info.name.clone(),
            source: e,
        })
    }

    /// A provider call other than a fetch, retried on transient errors and pacing per policy.
    async fn with_retry<T, F, Fut>(&self, mut call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let policy = self.manager.retry;
        let (mut transient, mut pacing) = (0u32, 0u32);
        loop {
            let answer = match policy.request_timeout {
                Some(limit) => tokio::time::timeout(limit, call())
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::transient(format!(
                            "no answer within {limit:?}"
                        )))
                    }),
                None => call().await,
            };
            let delay = match &answer {
                Err(e) if e.is_pacing() && pacing < policy.max_pacing_retries => {
                    pacing += 1;
                    e.retry_after().unwrap_or(policy.base_delay)
                }
                Err(e) if e.is_transient() && transient + 1 < policy.max_attempts => {
                    transient += 1;
                    policy.backoff(transient, 0x5EED)
                }
                _ => return answer,
            };
            self.token
                .run_until_cancelled(tokio::time::sleep(delay))
                .await?;
        }
    }

    async fn gaps(
        &self,
        existing: BarSeries,
        window: Window,
        head: Option<i64>,
        hours: SessionHours,
    ) -> Result<(Option<GapReport>, Vec<std::ops::Range<i64>>), Stop> {
        if window.is_empty() {
            return Ok((None, Vec::new()));
        }
        let calendar = self.manager.calendars.calendar_for(&self.request.symbol);
        let tf = self.request.timeframe;
        let opts = GapOptions {
            hours,
            start: Some(window.start),
            end: Some(window.end),
            head,
        };
        let (report, to_fill) = self
            .read_blocking("gap analysis task", move || {
                let report = analyze(&existing, calendar, tf, &opts)?;
                let to_fill = targets::missing_bar_ranges(&report, calendar, tf, hours)
                    .map_err(crate::gaps::GapError::from)?;
                Ok::<_, crate::gaps::GapError>((report, to_fill))
            })
            .await?;
        Ok((Some(report), to_fill))
    }

    /// Saves every landed segment not saved yet (in one merge).
    async fn flush(&mut self) -> Result<(), LoadError> {
        let Some((batch, segments)) = take_all(&mut self.landed) else {
            return Ok(());
        };
        let (store, symbol, tf) = self.series();
        let report = tokio::task::spawn_blocking(move || store.merge_and_save(&symbol, tf, &batch))
            .await
            .map_err(|e| LoadError::Internal(format!("save task: {e}")))??;
        record_save(&report, segments, &mut self.summary);
        Ok(())
    }

    /// Runs a read-only task (a store read, the gap analysis) on a blocking thread. A cancel
    /// returns at once: the task cannot be interrupted, but it changes nothing, so it is left
    /// to finish and its answer dropped (a large file no longer delays the cancel).
    async fn read_blocking<T: Send + 'static, E: Into<LoadError> + Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, Stop> {
        self.token
            .run_until_cancelled(tokio::task::spawn_blocking(f))
            .await
            .map_err(|c| Stop::Cancelled(c.reason))?
            .map_err(|e| Stop::Failed(LoadError::Internal(format!("{what}: {e}"))))?
            .map_err(|e| Stop::Failed(e.into()))
    }

    fn series(&self) -> (BarStore, crate::types::Symbol, crate::types::Timeframe) {
        (
            self.manager.store.clone(),
            self.request.symbol.clone(),
            self.request.timeframe,
        )
    }

    fn now(&self) -> i64 {
        self.manager
            .now
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
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

    #[test]
    fn builder_rejects_unusable_settings() {
        assert_eq!(
            DataManager::builder().max_in_flight(0).build().unwrap_err(),
            BuildError::NoConcurrency
        );
        let retry = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(
            DataManager::builder().retry(retry).build().unwrap_err(),
            BuildError::NoAttempts
        );
    }
}

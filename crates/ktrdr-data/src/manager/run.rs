//! [`Run`]: the driver of one load, step by step (see the [module docs](super)).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::eta::TimeEstimator;
use ktrdr_ops::progress::{format_duration, ProgressHandle};
use tokio::time::Instant;

use super::data_manager::Inner;
use super::eta::PacedEta;
use super::fetch::{record_save, take_all, warn_when_slow, FetchStep, Job, Landed, Stop};
use super::mode::plan_order;
use super::screen::Screen;
use super::targets;
use super::window::{resolve, Window, WindowInput};
use super::{LoadError, LoadRequest, LoadSummary};
use crate::calendar::SessionHours;
use crate::gaps::{analyze, GapKind, GapOptions, GapReport};
use crate::planner::plan_requests;
use crate::provider::{DataProvider, ProviderError, ProviderInfo};
use crate::render::detail;
use crate::store::{BarStore, DateRange};
use crate::types::{format_timestamp, BarSeries};
use crate::validate::is_after_now;

/// The state of one load in progress.
pub(super) struct Run<'a> {
    pub(super) manager: &'a Inner,
    pub(super) request: &'a LoadRequest,
    pub(super) token: &'a CancellationToken,
    pub(super) progress: &'a ProgressHandle,
    pub(super) summary: LoadSummary,
    pub(super) landed: Landed,
    /// Stored bars inside the window before the load.
    pub(super) in_window_before: usize,
}

impl Run<'_> {
    pub(super) async fn steps(&mut self) -> Result<(), Stop> {
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

        // Before the first request: a series we cannot write fails now, not after the fetch,
        // and a second load of the series waits here (the guard lives to the end of the load).
        let _load_lock = if fetching {
            let (store, symbol, tf) = self.series();
            Some(
                self.read_blocking("store task", move || store.prepare_load(&symbol, tf))
                    .await?,
            )
        } else {
            None
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
        let now = self.now();
        let stored = match stored {
            Some(range) if is_after_now(range.last, now) => self.trusted_range(range, now).await?,
            other => other,
        };
        let window = resolve(WindowInput {
            mode: req.mode,
            timeframe: req.timeframe,
            start: req.start,
            end: req.end,
            now,
            stored,
            head,
        })
        .map_err(Stop::Failed)?;
        self.summary.window = Some((window.start, window.end));
        self.summary.head_timestamp = head;
        self.summary.clamped_to_head = window.clamped_to_head;
        if !window.is_empty() {
            self.progress
                .set_step_detail(detail::span(window.start, window.end));
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
        self.progress
            .set_step_detail(detail::bars_stored(existing.len()));

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
            self.progress
                .set_step_detail(detail::gaps(self.summary.gaps, self.summary.missing_bars));
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
        let plan = plan_requests(to_fill, max_span, plan_order(req.mode))
            .map_err(|e| Stop::Failed(e.into()))?;
        self.summary.requests_planned = plan.len();
        self.progress.set_step_detail(detail::requests(plan.len()));

        next_step(self)?; // Fetch segments
        let provider = self
            .manager
            .provider
            .clone()
            .ok_or(Stop::Failed(LoadError::NoProvider { mode: req.mode }))?;
        self.progress.set_sub_progress(0, plan.len() as u64);
        self.progress
            .set_items(0, Some(self.summary.missing_bars as u64));
        let sent = Arc::new(AtomicU64::new(0));
        self.expect_the_pacing_schedule(plan.len(), &sent);
        let fetch = FetchStep {
            job: Arc::new(Job {
                provider,
                gate: self.manager.gate.clone(),
                retry: self.manager.retry,
                symbol: req.symbol.clone(),
                timeframe: req.timeframe,
                screen: Screen {
                    calendar: self.manager.calendars.calendar_for(&req.symbol),
                    timeframe: req.timeframe,
                    hours: info.session_hours,
                    now: self.now(),
                },
                sent,
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
        self.progress
            .set_step_detail(detail::bars_stored(self.summary.bars_stored));
        Ok(())
    }

    /// The stored range without the bars dated after `now` (a corrupt `9999-12-31` row would
    /// otherwise start a tail load in the future and fetch nothing, every time): the last bar
    /// not after now ends it, and the load says how many it ignored. `None` when every stored
    /// bar is after now.
    async fn trusted_range(
        &mut self,
        range: DateRange,
        now: i64,
    ) -> Result<Option<DateRange>, Stop> {
        let series = self
            .read_blocking("store task", {
                let (store, symbol, tf) = self.series();
                move || store.load(&symbol, tf)
            })
            .await?;
        let trusted = series.index_range(None, Some(now)).len();
        let after = series.len() - trusted;
        self.summary.bars_after_now = after;
        let last = trusted
            .checked_sub(1)
            .and_then(|i| series.bar(i))
            .map(|b| b.ts);
        tracing::warn!(
            symbol = %self.request.symbol,
            timeframe = %self.request.timeframe,
            "{after} stored bars are dated after now (the first at {}); they are not trusted: the \
             window starts from the last bar not after now ({})",
            format_timestamp(series.bar(trusted).map_or(range.last, |b| b.ts)),
            last.map_or_else(|| "none".to_owned(), format_timestamp),
        );
        Ok(last.map(|last| DateRange {
            first: range.first.min(last),
            last,
        }))
    }

    /// Without a learned prior (a first run), the live rate alone mistakes a burst of requests
    /// for the pace of the whole load: the ETA comes from the gate's schedule instead (see
    /// `eta`). With history, the runner's estimator (seeded from earlier runs) stays.
    fn expect_the_pacing_schedule(&self, planned: usize, sent: &Arc<AtomicU64>) {
        let Some(gate) = &self.manager.gate else {
            return;
        };
        if planned == 0 || self.progress.eta_has_prior() {
            return;
        }
        self.progress.set_eta_source(Box::new(PacedEta {
            gate: gate.clone(),
            symbol: self.request.symbol.clone(),
            timeframe: self.request.timeframe,
            planned: planned as u64,
            sent: Arc::clone(sent),
            live: TimeEstimator::new(None),
        }));
    }

    /// Validates the symbol (retrying transient errors) and finds the head timestamp.
    async fn validate_and_head(
        &mut self,
        provider: &dyn DataProvider,
        info: &ProviderInfo,
    ) -> Result<Option<i64>, Stop> {
        let req = self.request;
        let symbol_info = self
            .with_retry("symbol validation", || {
                provider.validate_symbol(&req.symbol, self.token)
            })
            .await
            .map_err(|e| self.provider_stop(e, "symbol validation", info))?;
        if let Some(head) = symbol_info.head_timestamp_for(req.timeframe) {
            return Ok(Some(head));
        }
        match self
            .with_retry("head timestamp", || {
                provider.head_timestamp(&req.symbol, req.timeframe, self.token)
            })
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
    async fn with_retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let policy = self.manager.retry;
        let (mut transient, mut pacing) = (0u32, 0u32);
        // The same total deadline as a segment's: waiting for answers and backing off.
        let mut spent = Duration::ZERO;
        let out_of_time = |spent: Duration| policy.segment_deadline.is_some_and(|d| spent >= d);
        loop {
            let left = policy.segment_deadline.map(|d| d.saturating_sub(spent));
            let limit = match (policy.request_timeout, left) {
                (Some(t), Some(l)) => Some(t.min(l)),
                (t, l) => t.or(l),
            };
            let started = Instant::now();
            let slow = warn_when_slow(call(), policy.slow_answer_warning, || {
                format!("{what} of {}", self.request.symbol)
            });
            let answer = match limit {
                Some(limit) => tokio::time::timeout(limit, slow).await.unwrap_or_else(|_| {
                    Err(ProviderError::transient(format!(
                        "{what}: no answer within {}",
                        format_duration(limit.as_secs_f64())
                    )))
                }),
                None => slow.await,
            };
            spent += started.elapsed();
            let delay = match &answer {
                Err(e) if e.is_pacing() && pacing < policy.max_pacing_retries => {
                    pacing += 1;
                    e.retry_after().unwrap_or(policy.backoff.base_delay)
                }
                Err(e) if e.is_transient() && policy.backoff.allows_another(transient + 1) => {
                    let delay = policy.backoff.seeded_delay(transient + 1, 0x5EED);
                    if out_of_time(spent + delay) {
                        return answer;
                    }
                    transient += 1;
                    spent += delay;
                    delay
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
    pub(super) async fn flush(&mut self) -> Result<(), LoadError> {
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
        self.manager.now()
    }
}

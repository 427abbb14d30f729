//! The fetch step: segments fetched with bounded concurrency through the pacing gate, retried
//! per policy, and saved to the store in plan order as they land.
//!
//! # Invariants
//!
//! 1. Every bar received is either saved or still in `Landed` when this module returns; the
//!    caller saves what is left (`flush`), on success, failure and cancel alike. So a cancel
//!    keeps every fetched bar.
//! 2. Segments are saved in plan order: a batch is the run of resolved segments starting at
//!    `next_save`. With the oldest-first plans of backfill and full loads, every save extends
//!    the series and the store appends instead of rewriting the file.
//! 3. At most one save runs at a time (the store locks the series anyway), and no segment
//!    starts more than `reorder_window` positions after `next_save`, which bounds the bars
//!    held in memory while an early segment is slow.
//! 4. Fetch tasks own clones of everything they use; dropping the `JoinSet` aborts them, and
//!    they also stop on the token, so a cancel stops every request at its current await.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::progress::{format_duration, ProgressHandle};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::screen::{Rejected, Screen};
use super::{LoadError, LoadSummary, RetryPolicy, SegmentFailure};
use crate::pacing::{PacingGate, RequestKey};
use crate::planner::FetchRequest;
use crate::provider::{DataProvider, ProviderError};
use crate::render::detail;
use crate::store::{BarStore, SaveReport, StoreError};
use crate::types::TimeRange;
use crate::types::{BarSeries, Symbol, Timeframe};

/// Everything a fetch task needs, shared by the tasks of one load.
pub(crate) struct Job {
    pub(crate) provider: Arc<dyn DataProvider>,
    pub(crate) gate: Option<PacingGate>,
    pub(crate) retry: RetryPolicy,
    pub(crate) symbol: Symbol,
    pub(crate) timeframe: Timeframe,
    /// What the answers are checked against before they are kept.
    pub(crate) screen: Screen,
    /// Requests sent to the provider, counted as they go out, so requests of segments cut
    /// short by a cancel count too.
    pub(crate) sent: Arc<AtomicU64>,
}

/// How the step ended when it did not simply finish.
pub(crate) enum Stop {
    Cancelled(CancelReason),
    Failed(LoadError),
}

/// Segments that were fetched but not saved yet, by plan position (`None`: nothing to save,
/// the segment failed or came back empty).
pub(crate) type Landed = BTreeMap<usize, Option<BarSeries>>;

/// What one segment's task reports.
struct SegmentOutcome {
    index: usize,
    request: FetchRequest,
    attempts: u32,
    pacing_waits: u32,
    result: Result<BarSeries, ProviderError>,
    /// Bars of the answer that were dropped (see `screen`).
    rejected: Rejected,
}

/// Where the step reports, and the knobs it runs with.
pub(crate) struct FetchStep<'a> {
    pub(crate) job: Arc<Job>,
    pub(crate) store: &'a BarStore,
    pub(crate) token: &'a CancellationToken,
    pub(crate) progress: &'a ProgressHandle,
    pub(crate) max_in_flight: usize,
    /// Bars expected in the gaps, the items total shown with progress.
    pub(crate) expected_bars: u64,
}

impl FetchStep<'_> {
    /// Fetches `requests`, saving landed segments in order. On return (whatever the result),
    /// `landed` holds the segments fetched but not yet saved (invariant 1).
    pub(crate) async fn run(
        &self,
        requests: &[FetchRequest],
        summary: &mut LoadSummary,
        landed: &mut Landed,
    ) -> Result<(), Stop> {
        let result = self.fetch_all(requests, summary, landed).await;
        summary.requests_sent = self.job.sent.load(Ordering::Relaxed);
        result
    }

    async fn fetch_all(
        &self,
        requests: &[FetchRequest],
        summary: &mut LoadSummary,
        landed: &mut Landed,
    ) -> Result<(), Stop> {
        let n = requests.len();
        let reorder_window = self.max_in_flight.saturating_mul(4).max(8);
        let mut tasks: JoinSet<SegmentOutcome> = JoinSet::new();
        let mut saving: Option<(JoinHandle<Result<SaveReport, StoreError>>, usize)> = None;
        let (mut next_start, mut next_save, mut resolved) = (0usize, 0usize, 0usize);
        let mut failures_in_a_row = 0u32;
        let mut stop_starting = false;
        loop {
            if saving.is_none() {
                if let Some((batch, segments)) = take_ready(landed, &mut next_save) {
                    saving = Some((self.spawn_save(batch), segments));
                }
            }
            while !stop_starting
                && tasks.len() < self.max_in_flight
                && next_start < n
                && next_start < next_save + reorder_window
            {
                let job = Arc::clone(&self.job);
                let token = self.token.clone();
                let (index, request) = (next_start, requests[next_start]);
                tasks.spawn(async move { fetch_segment(job, index, request, token).await });
                next_start += 1;
            }
            if tasks.is_empty() && saving.is_none() {
                return Ok(());
            }
            tokio::select! {
                biased;
                reason = self.token.cancelled() => {
                    self.wind_down(&mut tasks, &mut saving, summary, landed).await.map_err(Stop::Failed)?;
                    return Err(Stop::Cancelled(reason));
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    let outcome = match joined {
                        Ok(outcome) => outcome,
                        Err(e) => {
                            // A bug, not a provider error: stop, but keep what the others got.
                            tracing::error!(symbol = %self.job.symbol, error = %e, "a fetch task failed");
                            let failed = LoadError::Internal(format!("a fetch task failed: {e}"));
                            return Err(Stop::Failed(
                                match self.wind_down(&mut tasks, &mut saving, summary, landed).await {
                                    Ok(()) => failed,
                                    Err(save_error) => save_error,
                                },
                            ));
                        }
                    };
                    resolved += 1;
                    if let Err(error) = &outcome.result {
                        if error.is_cancelled() && self.token.is_cancelled() {
                            // Seen by the cancel branch on the next turn.
                            continue;
                        }
                    }
                    let ok = self.account_segment(outcome, summary, landed);
                    if ok {
                        failures_in_a_row = 0;
                    } else {
                        failures_in_a_row += 1;
                        if failures_in_a_row >= self.job.retry.max_consecutive_failures {
                            stop_starting = true;
                        }
                    }
                    self.progress.set_sub_progress(resolved as u64, n as u64);
                }
                saved = async {
                    match saving.as_mut() {
                        Some((save, _)) => save.await,
                        None => std::future::pending().await,
                    }
                }, if saving.is_some() => {
                    let segments = saving.take().map_or(0, |(_, s)| s);
                    if let Err(e) = self.account_save(saved, segments, summary) {
                        // The store refuses writes: keep the answers already in for the
                        // caller's last save attempt, and stop.
                        self.drain(&mut tasks, summary, landed).await;
                        return Err(Stop::Failed(e));
                    }
                }
            }
            if stop_starting && next_start < n {
                tracing::warn!(
                    symbol = %self.job.symbol,
                    failed_in_a_row = failures_in_a_row,
                    not_started = n - next_start,
                    "too many segments failed in a row; not starting the rest"
                );
                summary.segments_skipped = n - next_start;
                next_start = n;
            }
        }
    }

    /// Records a finished segment; returns false if it failed.
    fn account_segment(
        &self,
        outcome: SegmentOutcome,
        summary: &mut LoadSummary,
        landed: &mut Landed,
    ) -> bool {
        let SegmentOutcome {
            index,
            request,
            attempts,
            pacing_waits,
            result,
            rejected,
        } = outcome;
        summary.retries += u64::from(attempts.saturating_sub(1));
        if rejected.count > 0 {
            tracing::warn!(
                symbol = %self.job.symbol, timeframe = %self.job.timeframe,
                segment = index + 1, dropped = rejected.count,
                first = rejected.example.as_deref().unwrap_or_default(),
                "dropped bars the provider sent that break the data rules"
            );
            summary.bars_rejected += rejected.count as u64;
            // Received, even if not kept.
            summary.bars_fetched += rejected.count as u64;
        }
        summary.pacing_waits += u64::from(pacing_waits);
        match result {
            Ok(bars) => {
                summary.segments_done += 1;
                summary.bars_fetched += bars.len() as u64;
                if bars.is_empty() {
                    summary.empty_answers += 1;
                    landed.insert(index, None);
                } else {
                    landed.insert(index, Some(bars));
                }
                self.progress
                    .set_step_detail(detail::span(request.start, request.end));
                self.progress
                    .set_items(summary.bars_fetched, Some(self.expected_bars));
                true
            }
            Err(error) => {
                tracing::warn!(
                    symbol = %self.job.symbol, timeframe = %self.job.timeframe,
                    segment = index + 1, attempts, %error, "segment failed"
                );
                summary.segments_failed += 1;
                summary.failures.push(SegmentFailure {
                    segment: index + 1,
                    start: request.start,
                    end: request.end,
                    attempts,
                    error: error.to_string(),
                });
                landed.insert(index, None);
                false
            }
        }
    }

    fn spawn_save(&self, batch: BarSeries) -> JoinHandle<Result<SaveReport, StoreError>> {
        let store = self.store.clone();
        let (symbol, tf) = (self.job.symbol.clone(), self.job.timeframe);
        tokio::task::spawn_blocking(move || store.merge_and_save(&symbol, tf, &batch))
    }

    fn account_save(
        &self,
        joined: Result<Result<SaveReport, StoreError>, tokio::task::JoinError>,
        segments: usize,
        summary: &mut LoadSummary,
    ) -> Result<(), LoadError> {
        let report =
            joined.map_err(|e| LoadError::Internal(format!("a save task failed: {e}")))??;
        record_save(&report, segments, summary);
        Ok(())
    }

    /// Stops the fetch tasks, keeps the answers already in, and waits for the save in
    /// progress (it runs on a blocking thread and cannot be interrupted; it takes milliseconds,
    /// and waiting keeps its counts true).
    async fn wind_down(
        &self,
        tasks: &mut JoinSet<SegmentOutcome>,
        saving: &mut Option<(JoinHandle<Result<SaveReport, StoreError>>, usize)>,
        summary: &mut LoadSummary,
        landed: &mut Landed,
    ) -> Result<(), LoadError> {
        self.drain(tasks, summary, landed).await;
        match saving.take() {
            Some((save, segments)) => self.account_save(save.await, segments, summary),
            None => Ok(()),
        }
    }

    /// Stops the fetch tasks and keeps the answers that were already in.
    async fn drain(
        &self,
        tasks: &mut JoinSet<SegmentOutcome>,
        summary: &mut LoadSummary,
        landed: &mut Landed,
    ) {
        tasks.abort_all();
        while let Some(joined) = tasks.join_next().await {
            // Aborted tasks end with a JoinError; those that had finished keep their bars.
            if let Ok(outcome) = joined {
                if outcome.result.is_ok() {
                    self.account_segment(outcome, summary, landed);
                }
            }
        }
    }
}

/// Adds a save's counts to the summary.
pub(crate) fn record_save(report: &SaveReport, segments: usize, summary: &mut LoadSummary) {
    summary.segments_saved += segments;
    summary.bars_new += report.added as u64;
    summary.bars_replaced += report.replaced as u64;
    summary.bars_saved += (report.added + report.replaced) as u64;
    summary.bars_stored = report.total;
}

/// Takes the run of resolved segments starting at `next_save` and merges their bars into one
/// batch; `None` when the run holds no bars (its positions are still consumed).
fn take_ready(landed: &mut Landed, next_save: &mut usize) -> Option<(BarSeries, usize)> {
    let mut batch: Option<BarSeries> = None;
    let mut segments = 0;
    while let Some(entry) = landed.remove(next_save) {
        *next_save += 1;
        if let Some(bars) = entry {
            segments += 1;
            batch = Some(match batch {
                None => bars,
                Some(acc) => acc.merge(&bars),
            });
        }
    }
    batch.map(|b| (b, segments))
}

/// Merges everything still in `landed` (in any order) into one batch.
pub(crate) fn take_all(landed: &mut Landed) -> Option<(BarSeries, usize)> {
    let mut batch: Option<BarSeries> = None;
    let mut segments = 0;
    for bars in std::mem::take(landed).into_values().flatten() {
        segments += 1;
        batch = Some(match batch {
            None => bars,
            Some(acc) => acc.merge(&bars),
        });
    }
    batch.map(|b| (b, segments))
}

/// Fetches one segment, retrying per policy, until it succeeds, fails for good, runs out of
/// its deadline or the token is cancelled.
async fn fetch_segment(
    job: Arc<Job>,
    index: usize,
    request: FetchRequest,
    token: CancellationToken,
) -> SegmentOutcome {
    let mut outcome = SegmentOutcome {
        index,
        request,
        attempts: 0,
        pacing_waits: 0,
        result: Ok(BarSeries::new()),
        rejected: Rejected::default(),
    };
    // The planner's requests are half-open and non-empty; the provider's ranges are closed.
    let range = match TimeRange::new(request.start, request.end - 1) {
        Ok(r) => r,
        Err(e) => {
            outcome.result = Err(e.into());
            return outcome;
        }
    };
    let policy = &job.retry;
    let salt = (index as u64) ^ (request.start as u64).rotate_left(17);
    let mut transient_failures = 0u32;
    // Time spent waiting for answers and backing off, against `segment_deadline`.
    let mut spent = Duration::ZERO;
    loop {
        outcome.attempts += 1;
        let left = policy.segment_deadline.map(|d| d.saturating_sub(spent));
        let limit = match (policy.request_timeout, left) {
            (Some(t), Some(l)) => Some(t.min(l)),
            (t, l) => t.or(l),
        };
        let sent = Sent {
            segment: index + 1,
            attempt: outcome.attempts,
            range,
        };
        let (answer, took) = attempt(&job, &sent, limit, &token).await;
        spent += took;
        let out_of_time = |spent: Duration| policy.segment_deadline.is_some_and(|d| spent >= d);
        let wait = match &answer {
            Ok(_) => None,
            Err(e) if e.is_cancelled() => None,
            Err(e) if e.is_pacing() && outcome.pacing_waits < policy.max_pacing_retries => {
                outcome.pacing_waits += 1;
                Some((e.retry_after().unwrap_or(policy.backoff.base_delay), false))
            }
            Err(e) if e.is_transient() => {
                transient_failures += 1;
                let delay = policy.backoff.seeded_delay(transient_failures, salt);
                (policy.backoff.allows_another(transient_failures) && !out_of_time(spent + delay))
                    .then_some((delay, true))
            }
            Err(_) => None,
        };
        match wait {
            None => {
                outcome.result = match answer {
                    Ok(bars) => {
                        let (kept, rejected) = job.screen.apply(bars, &request);
                        outcome.rejected = rejected;
                        Ok(kept)
                    }
                    Err(e) if e.is_transient() && out_of_time(spent) => {
                        Err(deadline_error(policy, outcome.attempts, &e))
                    }
                    other => other,
                };
                return outcome;
            }
            Some((delay, counts)) => {
                tracing::debug!(segment = index + 1, ?delay, error = ?answer.err(), "retrying segment");
                if let Err(c) = token.run_until_cancelled(tokio::time::sleep(delay)).await {
                    outcome.result = Err(c.into());
                    return outcome;
                }
                if counts {
                    spent += delay;
                }
            }
        }
    }
}

/// The error of a segment that ran out of its deadline: says so, and what the last try met.
fn deadline_error(policy: &RetryPolicy, attempts: u32, last: &ProviderError) -> ProviderError {
    let deadline = policy.segment_deadline.unwrap_or_default();
    ProviderError::transient(format!(
        "no answer within the segment deadline of {} ({attempts} attempts); last: {last}",
        format_duration(deadline.as_secs_f64())
    ))
}

/// Which send of which segment, for the logs.
struct Sent {
    segment: usize,
    attempt: u32,
    range: TimeRange,
}

/// One send, through the gate when there is one: the provider call under `limit`, with a
/// warning when the answer is slow. Returns the answer and the time the call took (the pacing
/// wait excluded).
async fn attempt(
    job: &Job,
    sent: &Sent,
    limit: Option<Duration>,
    token: &CancellationToken,
) -> (Result<BarSeries, ProviderError>, Duration) {
    let mut took = Duration::ZERO;
    let send = async {
        let started = Instant::now();
        job.sent.fetch_add(1, Ordering::Relaxed);
        let call = warn_when_slow(
            job.provider
                .fetch_bars(&job.symbol, job.timeframe, sent.range, token),
            job.retry.slow_answer_warning,
            || {
                format!(
                    "{} {} segment {} {}, attempt {}, from {}",
                    job.symbol,
                    job.timeframe,
                    sent.segment,
                    sent.range,
                    sent.attempt,
                    job.provider.describe().name
                )
            },
        );
        let answer = match limit {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer,
                // Dropping the call dropped the in-flight request.
                Err(_) => Err(ProviderError::transient(format!(
                    "no answer within {} for {}",
                    format_duration(limit.as_secs_f64()),
                    sent.range
                ))),
            },
            None => call.await,
        };
        took = started.elapsed();
        answer
    };
    let answer = match &job.gate {
        Some(gate) => {
            let key = RequestKey::new(job.symbol.clone(), job.timeframe, sent.range);
            gate.send(&key, token, send).await
        }
        None => send.await,
    };
    (answer, took)
}

/// Awaits `call`, logging a warning once (`what` names the request) if it has not answered
/// after `after`.
pub(super) async fn warn_when_slow<T>(
    call: impl std::future::Future<Output = Result<T, ProviderError>>,
    after: Duration,
    what: impl FnOnce() -> String,
) -> Result<T, ProviderError> {
    tokio::pin!(call);
    tokio::select! {
        answer = &mut call => return answer,
        () = tokio::time::sleep(after) => {}
    }
    tracing::warn!(
        "no answer for {} ({}); still waiting",
        format_duration(after.as_secs_f64()),
        what()
    );
    call.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Bar;

    fn series(ts: &[i64]) -> BarSeries {
        BarSeries::from_bars(ts.iter().map(|&ts| Bar {
            ts,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        }))
        .unwrap()
    }

    #[test]
    fn ready_batches_follow_plan_order_and_skip_empty_segments() {
        let mut landed = Landed::new();
        let mut next = 0;
        landed.insert(1, Some(series(&[20, 30])));
        assert!(
            take_ready(&mut landed, &mut next).is_none(),
            "segment 0 not in yet"
        );
        assert_eq!(next, 0);
        landed.insert(0, None);
        landed.insert(3, Some(series(&[50])));
        let (batch, segments) = take_ready(&mut landed, &mut next).unwrap();
        assert_eq!((batch.ts(), segments, next), (&[20, 30][..], 1, 2));
        landed.insert(2, Some(series(&[40])));
        let (batch, segments) = take_ready(&mut landed, &mut next).unwrap();
        assert_eq!((batch.ts(), segments, next), (&[40, 50][..], 2, 4));
        assert!(landed.is_empty());
    }

    #[test]
    fn take_all_keeps_out_of_order_segments() {
        let mut landed = Landed::new();
        landed.insert(5, Some(series(&[50])));
        landed.insert(2, Some(series(&[10])));
        landed.insert(3, None);
        let (batch, segments) = take_all(&mut landed).unwrap();
        assert_eq!((batch.ts(), segments), (&[10, 50][..], 2));
        assert!(take_all(&mut landed).is_none());
    }
}

//! Several timeframes of one symbol as one operation (the Python `MultiTimeframeCoordinator`).
//!
//! The operation's steps are the timeframes (base first), each running a full load as a nested
//! sub-operation, so progress reads "[2/3] Fetching AAPL 4h: segment 3/5 …". A failed base
//! timeframe fails the operation; a failed other timeframe is recorded and the rest go on. At
//! the end the common coverage window (the span every loaded timeframe covers) is reported with
//! each timeframe's bar count inside it. Unlike the Python coordinator, nothing is sliced or
//! resampled: the store keeps every bar, and consumers align timeframes themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::operations::{OperationError, OperationHandle, Operations, OperationsError};
use ktrdr_ops::progress::{ProgressHandle, StepPlan};
use serde::{Deserialize, Serialize};

use super::{failure, DataManager, LoadError, LoadRequest, LoadSummary};
use crate::render::{steps, DataProgressRenderer};
use crate::types::{format_timestamp, LoadMode, Symbol, Timeframe};

/// The operation type recorded for a multi-timeframe load.
pub const OPERATION_KIND: &str = "data_load_multi";

/// Several timeframes of one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiLoadRequest {
    /// The instrument.
    pub symbol: Symbol,
    /// The timeframes, at least one, no duplicates.
    pub timeframes: Vec<Timeframe>,
    /// The timeframe that must load (default: the first of `timeframes`).
    pub base: Option<Timeframe>,
    /// The mode of every load.
    pub mode: LoadMode,
    /// First second wanted (inclusive), for every timeframe.
    pub start: Option<i64>,
    /// Last second wanted (inclusive).
    pub end: Option<i64>,
}

/// What happened to one timeframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeframeOutcome {
    /// The timeframe.
    pub timeframe: Timeframe,
    /// Its load's summary (for a failure after segments were saved, what was saved).
    pub summary: Option<LoadSummary>,
    /// Its error, if it failed.
    pub error: Option<String>,
}

/// The span every loaded timeframe covers, with each one's bars inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Latest first bar over the timeframes (unix seconds).
    pub start: i64,
    /// Earliest last bar over the timeframes.
    pub end: i64,
    /// Bars inside `[start, end]`, per timeframe.
    pub bars: BTreeMap<Timeframe, usize>,
}

/// The outcome of a multi-timeframe load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiLoadSummary {
    /// The instrument.
    pub symbol: Symbol,
    /// The base timeframe.
    pub base: Timeframe,
    /// Every timeframe attempted, in load order (base first).
    pub loads: Vec<TimeframeOutcome>,
    /// The common coverage of the timeframes that have data; `None` if they do not overlap or
    /// fewer than one has data.
    pub coverage: Option<Coverage>,
    /// Set when the operation was cancelled; `loads` says what each timeframe kept.
    pub cancelled: Option<CancelReason>,
}

impl MultiLoadSummary {
    /// The timeframes that failed.
    pub fn failed(&self) -> impl Iterator<Item = &TimeframeOutcome> + '_ {
        self.loads.iter().filter(|l| l.error.is_some())
    }
}

impl std::fmt::Display for MultiLoadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for load in &self.loads {
            match (&load.summary, &load.error) {
                (_, Some(error)) => {
                    writeln!(f, "{} {}: failed: {error}", self.symbol, load.timeframe)?
                }
                (Some(summary), None) => writeln!(f, "{summary}")?,
                (None, None) => writeln!(f, "{} {}: not loaded", self.symbol, load.timeframe)?,
            }
        }
        match &self.coverage {
            Some(c) => {
                let counts: Vec<String> =
                    c.bars.iter().map(|(tf, n)| format!("{tf} {n}")).collect();
                write!(
                    f,
                    "common coverage {} → {} ({})",
                    format_timestamp(c.start),
                    format_timestamp(c.end),
                    counts.join(", ")
                )
            }
            None => write!(f, "no common coverage"),
        }
    }
}

/// Why a multi-timeframe load failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultiLoadError {
    /// No timeframe was given.
    #[error("no timeframes given; give at least one (e.g. 1h,4h,1d)")]
    NoTimeframes,
    /// A timeframe appears twice.
    #[error("timeframe {0} is listed twice")]
    Duplicate(Timeframe),
    /// The base is not one of the timeframes.
    #[error("base timeframe {base} is not among the timeframes ({listed})")]
    BaseNotListed {
        /// The base asked for.
        base: Timeframe,
        /// The timeframes given.
        listed: String,
    },
    /// The base timeframe failed; the other timeframes were not loaded.
    #[error("base timeframe {timeframe} failed: {source}")]
    BaseFailed {
        /// The base.
        timeframe: Timeframe,
        /// Its error.
        #[source]
        source: LoadError,
    },
    /// Reading the stored series for the coverage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A background task was lost (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl MultiLoadError {
    /// What the failed base timeframe saved before failing, if it got that far.
    pub fn partial(&self) -> Option<&LoadSummary> {
        match self {
            MultiLoadError::BaseFailed { source, .. } => source.summary(),
            _ => None,
        }
    }
}

impl MultiLoadRequest {
    /// The timeframes in load order (base first), after checking the request.
    fn order(&self) -> Result<(Timeframe, Vec<Timeframe>), MultiLoadError> {
        let first = *self
            .timeframes
            .first()
            .ok_or(MultiLoadError::NoTimeframes)?;
        for (i, tf) in self.timeframes.iter().enumerate() {
            if self.timeframes[..i].contains(tf) {
                return Err(MultiLoadError::Duplicate(*tf));
            }
        }
        let base = self.base.unwrap_or(first);
        if !self.timeframes.contains(&base) {
            let listed: Vec<&str> = self.timeframes.iter().map(|t| t.as_str()).collect();
            return Err(MultiLoadError::BaseNotListed {
                base,
                listed: listed.join(","),
            });
        }
        let mut order = vec![base];
        order.extend(self.timeframes.iter().copied().filter(|t| *t != base));
        Ok((base, order))
    }
}

impl DataManager {
    /// The step plan of a multi-timeframe load of `timeframes` (in load order): one step per
    /// timeframe, equal weights, then the coverage (weight 0).
    pub fn multi_plan(timeframes: &[Timeframe]) -> StepPlan {
        let n = timeframes.len().max(1) as u32;
        let mut plan: Vec<(String, u32)> = timeframes
            .iter()
            .enumerate()
            .map(|(i, tf)| {
                (
                    tf.as_str().to_owned(),
                    100 / n + u32::from((i as u32) < 100 % n),
                )
            })
            .collect();
        plan.push((steps::COVERAGE.to_owned(), 0));
        StepPlan::new(plan).unwrap_or_else(|_| StepPlan::single(steps::COVERAGE))
    }

    /// Starts a multi-timeframe load as an operation of `ops` (type [`OPERATION_KIND`]).
    ///
    /// # Errors
    ///
    /// An invalid request (as [`OperationsError`] cannot say it, it is checked first and
    /// reported by the operation itself as its failure), or what [`Operations::run`] refuses.
    pub fn start_multi(
        &self,
        ops: &Operations,
        request: MultiLoadRequest,
    ) -> Result<OperationHandle, OperationsError> {
        let order = request.order().map(|(_, o)| o).unwrap_or_default();
        let names: Vec<&str> = request.timeframes.iter().map(|t| t.as_str()).collect();
        let metadata = serde_json::json!({
            "symbol": request.symbol.as_str(),
            "timeframe": names.join(","),
            "mode": request.mode.as_str(),
        });
        let manager = self.clone();
        ops.run(
            OPERATION_KIND,
            metadata,
            Self::multi_plan(&order),
            move |ctx| async move {
                let summary = manager
                    .load_multi(&request, &ctx.token, &ctx.progress)
                    .await
                    .map_err(|e| failure(&e, e.partial()))?;
                serde_json::to_value(&summary).map_err(OperationError::failed)
            },
        )
    }

    /// Loads every timeframe of `request` in turn (base first), each as a nested sub-operation
    /// of `progress` (created with [`multi_plan`](Self::multi_plan) of the load order).
    ///
    /// A cancel stops at the current timeframe, which keeps what it fetched; the summary says
    /// what each timeframe kept.
    ///
    /// # Errors
    ///
    /// An invalid request, or the base timeframe failing ([`MultiLoadError::BaseFailed`]).
    pub async fn load_multi(
        &self,
        request: &MultiLoadRequest,
        token: &CancellationToken,
        progress: &ProgressHandle,
    ) -> Result<MultiLoadSummary, MultiLoadError> {
        let (base, order) = request.order()?;
        progress.set_renderer(Arc::new(DataProgressRenderer::new(
            request.symbol.clone(),
            None,
            request.mode,
        )));
        let mut summary = MultiLoadSummary {
            symbol: request.symbol.clone(),
            base,
            loads: Vec::with_capacity(order.len()),
            coverage: None,
            cancelled: None,
        };
        for (i, &tf) in order.iter().enumerate() {
            if let Err(c) = token.check() {
                summary.cancelled = Some(c.reason);
                return Ok(summary);
            }
            if let Err(error) = progress.start_step(i) {
                tracing::debug!(%error, "progress plan does not match the timeframes");
            }
            let nested = progress.nested(DataManager::plan(request.mode));
            let load = LoadRequest {
                symbol: request.symbol.clone(),
                timeframe: tf,
                mode: request.mode,
                start: request.start,
                end: request.end,
            };
            let result = self.load(&load, token, &nested).await;
            match &result {
                Ok(LoadSummary {
                    cancelled: Some(reason),
                    ..
                }) => nested.mark_cancelled(reason.to_string()),
                Ok(_) => nested.complete(),
                Err(e) => nested.fail(e.to_string()),
            }
            drop(nested);
            match result {
                Ok(s) => {
                    let cancelled = s.cancelled.clone();
                    summary.loads.push(TimeframeOutcome {
                        timeframe: tf,
                        summary: Some(s),
                        error: None,
                    });
                    if let Some(reason) = cancelled {
                        summary.cancelled = Some(reason);
                        return Ok(summary);
                    }
                }
                Err(source) if tf == base => {
                    return Err(MultiLoadError::BaseFailed {
                        timeframe: tf,
                        source,
                    })
                }
                Err(error) => {
                    tracing::warn!(symbol = %request.symbol, timeframe = %tf, %error, "timeframe failed; going on with the others");
                    summary.loads.push(TimeframeOutcome {
                        timeframe: tf,
                        summary: error.summary().cloned(),
                        error: Some(error.to_string()),
                    });
                }
            }
        }
        if let Err(error) = progress.start_step(order.len()) {
            tracing::debug!(%error, "progress plan has no coverage step");
        }
        // Over the timeframes that loaded: a failed one may not even be readable.
        let loaded: Vec<Timeframe> = summary
            .loads
            .iter()
            .filter(|l| l.error.is_none())
            .map(|l| l.timeframe)
            .collect();
        summary.coverage = self.coverage(request, &loaded).await?;
        Ok(summary)
    }

    async fn coverage(
        &self,
        request: &MultiLoadRequest,
        timeframes: &[Timeframe],
    ) -> Result<Option<Coverage>, MultiLoadError> {
        let store = self.store().clone();
        let symbol = request.symbol.clone();
        let (lo, hi) = (request.start, request.end);
        let order = timeframes.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut series = Vec::new();
            for tf in order {
                let bars = match store.load(&symbol, tf) {
                    Ok(b) => b.slice_time(lo, hi),
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(MultiLoadError::Store(e)),
                };
                if let (Some(first), Some(last)) = (bars.first_ts(), bars.last_ts()) {
                    series.push((tf, first, last, bars));
                }
            }
            let start = series.iter().map(|s| s.1).max();
            let end = series.iter().map(|s| s.2).min();
            let (Some(start), Some(end)) = (start, end) else {
                return Ok(None);
            };
            if start > end {
                return Ok(None);
            }
            let bars = series
                .iter()
                .map(|(tf, _, _, b)| (*tf, b.index_range(Some(start), Some(end)).len()))
                .collect();
            Ok(Some(Coverage { start, end, bars }))
        })
        .await
        .map_err(|e| MultiLoadError::Internal(format!("coverage task: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(tfs: &[&str], base: Option<&str>) -> MultiLoadRequest {
        MultiLoadRequest {
            symbol: "AAPL".parse().unwrap(),
            timeframes: tfs.iter().map(|t| t.parse().unwrap()).collect(),
            base: base.map(|b| b.parse().unwrap()),
            mode: LoadMode::Tail,
            start: None,
            end: None,
        }
    }

    #[test]
    fn the_base_loads_first_and_requests_are_checked() {
        let (base, order) = req(&["1d", "1h", "4h"], Some("1h")).order().unwrap();
        assert_eq!(base, Timeframe::H1);
        assert_eq!(order, [Timeframe::H1, Timeframe::D1, Timeframe::H4]);
        assert!(matches!(
            req(&[], None).order(),
            Err(MultiLoadError::NoTimeframes)
        ));
        assert!(matches!(
            req(&["1h", "1h"], None).order(),
            Err(MultiLoadError::Duplicate(Timeframe::H1))
        ));
        let e = req(&["1h", "4h"], Some("1d")).order().unwrap_err();
        assert_eq!(
            e.to_string(),
            "base timeframe 1d is not among the timeframes (1h,4h)"
        );
    }

    #[test]
    fn the_plan_has_a_step_per_timeframe_summing_to_100() {
        let plan = DataManager::multi_plan(&[Timeframe::H1, Timeframe::H4, Timeframe::D1]);
        let named: Vec<_> = plan.steps().map(|(n, w)| (n.to_owned(), w)).collect();
        assert_eq!(
            named,
            [
                ("1h".to_owned(), 34),
                ("4h".to_owned(), 33),
                ("1d".to_owned(), 33),
                (steps::COVERAGE.to_owned(), 0)
            ]
        );
    }
}

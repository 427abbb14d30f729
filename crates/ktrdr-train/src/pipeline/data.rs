//! The first step of a training: the bars of every symbol and timeframe, from the store, or
//! loaded through the data manager first when a series is missing and a source is configured.

use std::collections::BTreeMap;

use ktrdr_data::manager::{DataManager, LoadRequest};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{BarSeries, LoadMode, Symbol, Timeframe};
use ktrdr_ops::cancel::{CancellationToken, Cancelled};
use ktrdr_ops::operations::OperationError;
use ktrdr_ops::progress::ProgressHandle;

use super::PreparedTraining;

/// Every series of a training, keyed by symbol and timeframe, trimmed to its window.
pub(crate) type SeriesSet = BTreeMap<(Symbol, Timeframe), BarSeries>;

/// Reads every series `prepared` needs. When `manager` has a source, a missing series, or one
/// that does not span the window, is loaded first (mode `full` over the window: only what is
/// missing is fetched), with the load's progress nested under the step.
pub(super) async fn load_series(
    prepared: &PreparedTraining,
    store: &BarStore,
    manager: Option<&DataManager>,
    token: &CancellationToken,
    progress: &ProgressHandle,
) -> Result<SeriesSet, OperationError> {
    let (start, end) = (prepared.request.start, prepared.request.end);
    let wanted: Vec<(Symbol, Timeframe)> = prepared
        .symbols
        .iter()
        .flat_map(|s| prepared.timeframes.iter().map(move |tf| (s.clone(), *tf)))
        .collect();
    let total = wanted.len() as u64;
    let mut set = SeriesSet::new();
    for (done, (symbol, timeframe)) in wanted.into_iter().enumerate() {
        token.check()?;
        progress.set_sub_progress(done as u64, total);
        progress.set_step_detail(format!("{symbol} {timeframe}"));
        let stored = read(store, &symbol, timeframe).await?;
        let source = manager.filter(|m| m.provider_info().is_some());
        let series = match (stored, source) {
            (Some(series), Some(manager)) if !covers(&series, timeframe, start, end) => {
                load(manager, &symbol, timeframe, start, end, token, progress).await?;
                read(store, &symbol, timeframe).await?.unwrap_or(series)
            }
            (Some(series), _) => series,
            (None, Some(manager)) => {
                load(manager, &symbol, timeframe, start, end, token, progress).await?;
                read(store, &symbol, timeframe).await?.ok_or_else(|| {
                    OperationError::failed(format!(
                        "{symbol} {timeframe}: the source has no bars in the window"
                    ))
                })?
            }
            (None, None) => {
                return Err(OperationError::failed(format!(
                    "no stored bars for {symbol} {timeframe}: load them first \
                     (ktrdr data load {symbol} {timeframe} --source …), or give a source"
                )))
            }
        };
        let series = series.slice_time(start, end);
        if series.is_empty() {
            return Err(OperationError::failed(format!(
                "{symbol} {timeframe} has no bars in the requested window"
            )));
        }
        set.insert((symbol, timeframe), series);
    }
    progress.set_sub_progress(total, total);
    Ok(set)
}

/// Whether `series` spans the window `start..=end` (a bound left open is covered), give or take
/// a week, for the closures at its ends (a weekend, a holiday) that no load can fill.
fn covers(series: &BarSeries, timeframe: Timeframe, start: Option<i64>, end: Option<i64>) -> bool {
    let slack = 7 * 86_400 + timeframe.seconds();
    let (Some(first), Some(last)) = (series.first_ts(), series.last_ts()) else {
        return false;
    };
    start.is_none_or(|s| first <= s + slack) && end.is_none_or(|e| last >= e - slack)
}

/// Loads the window of one series through the manager (mode `full`: every missing bar of it),
/// its progress nested under the step.
async fn load(
    manager: &DataManager,
    symbol: &Symbol,
    timeframe: Timeframe,
    start: Option<i64>,
    end: Option<i64>,
    token: &CancellationToken,
    progress: &ProgressHandle,
) -> Result<(), OperationError> {
    let request = LoadRequest {
        symbol: symbol.clone(),
        timeframe,
        mode: LoadMode::Full,
        start,
        end,
    };
    let nested = progress.nested(DataManager::plan(LoadMode::Full));
    let summary = manager
        .load(&request, token, &nested)
        .await
        .map_err(|e| OperationError::failed(format!("loading {symbol} {timeframe}: {e}")))?;
    match summary.cancelled {
        Some(reason) => Err(Cancelled { reason }.into()),
        None => Ok(()),
    }
}

/// The stored series, `None` when there is none; read off the runtime (a decade of bars is a
/// large file).
async fn read(
    store: &BarStore,
    symbol: &Symbol,
    timeframe: Timeframe,
) -> Result<Option<BarSeries>, OperationError> {
    let (store, symbol) = (store.clone(), symbol.clone());
    let read = tokio::task::spawn_blocking(move || match store.load(&symbol, timeframe) {
        Ok(series) => Ok(Some(series)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(OperationError::failed(format!(
            "reading {symbol} {timeframe}: {e}"
        ))),
    });
    read.await.map_err(OperationError::failed)?
}

/// The number of base bars a training of `prepared` covers, for the ETA's size factor. With a
/// window it is the window's length in base bars for every symbol, whether or not they are
/// stored yet, so the same command keeps one ETA key before and after its data is loaded; without
/// one it is what is stored (series not stored count zero).
pub(super) fn base_bars(prepared: &PreparedTraining, store: &BarStore) -> u64 {
    let base = prepared.base_timeframe();
    if let (Some(start), Some(end)) = (prepared.request.start, prepared.request.end) {
        let per_symbol = (end - start).max(0) / base.seconds();
        return per_symbol.unsigned_abs() * prepared.symbols.len() as u64;
    }
    prepared
        .symbols
        .iter()
        .filter_map(|s| store.series_info(s, base).ok())
        .map(|info| info.rows as u64)
        .sum()
}

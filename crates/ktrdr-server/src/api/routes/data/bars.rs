//! `GET /data/{symbol}/{timeframe}`: stored bars (local store only, optionally only those in
//! trading hours), and `POST /data/range`: a series' first and last bar and real row count.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktrdr_data::calendar::{Calendar, SessionHours};
use ktrdr_data::types::{format_timestamp, BarSeries, Timeframe};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{date_bounds, off_runtime, parse_symbol, parse_timeframe, python_time, store_error};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::wire::{BarsData, BarsMetadata, DataRange, Envelope, RangeRequest};
use crate::api::ApiState;

/// The query of `GET /data/{symbol}/{timeframe}`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BarsQuery {
    /// First bar time to include: `YYYY-MM-DD` or a date-time (UTC unless an offset is given).
    start_date: Option<String>,
    /// Last bar time to include; a date alone includes that whole day.
    end_date: Option<String>,
    /// Only bars that start inside a session of the symbol's calendar (intraday bars; daily
    /// and weekly bars are whole sessions and always kept).
    #[serde(default)]
    trading_hours_only: bool,
    /// With `trading_hours_only`: extended hours (04:00–20:00 New York for US equities)
    /// count as sessions.
    #[serde(default)]
    include_extended: bool,
}

/// `GET /data/{symbol}/{timeframe}`: the stored bars in the range; 404 when the series is not
/// stored; 400 for a date that is not one.
#[utoipa::path(
    get,
    path = "/api/v1/data/{symbol}/{timeframe}",
    tag = "data",
    params(
        ("symbol" = String, Path, description = "The symbol (any case)"),
        ("timeframe" = String, Path, description = "The bar size: 1m 5m 15m 30m 1h 2h 4h 1d 1w"),
        BarsQuery,
    ),
    responses(
        (status = 200, description = "The bars", body = Envelope<BarsData>),
        (status = 400, description = "A date that is not one, or start after end", body = ErrorBody),
        (status = 404, description = "The series is not stored", body = ErrorBody),
        (status = 422, description = "Not a symbol or timeframe", body = ErrorBody),
    )
)]
pub(crate) async fn bars(
    State(state): State<ApiState>,
    Path((symbol, timeframe)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<BarsQuery>,
) -> Result<Response, ApiError> {
    let symbol = parse_symbol("symbol", &symbol)?;
    let timeframe = parse_timeframe("timeframe", &timeframe)?;
    let (lo, hi) = date_bounds(query.start_date.as_deref(), query.end_date.as_deref())?;
    let manager = state.manager().clone();
    // Serialised off the runtime too: a decade of minute bars is tens of megabytes of JSON.
    let json = off_runtime(move || {
        let store = manager.store();
        let (series, skipped) = store
            .load_lenient(&symbol, timeframe)
            .map_err(|e| store_error(e, &symbol, timeframe, &store.timeframes_of(&symbol)))?;
        let in_range = series.slice_time(lo, hi);
        let filter = query.trading_hours_only.then(|| HoursFilter {
            calendar: manager.calendars().calendar_for(&symbol),
            timeframe,
            hours: if query.include_extended {
                SessionHours::Extended
            } else {
                SessionHours::Regular
            },
        });
        let mut data = bars_data(&in_range, filter.as_ref());
        data.metadata = BarsMetadata {
            symbol: symbol.as_str().to_owned(),
            timeframe: timeframe.as_str().to_owned(),
            trading_hours_only: query.trading_hours_only,
            include_extended: query.include_extended,
            filtered_out: in_range.len() - data.dates.len(),
            unreadable_rows: skipped.len(),
            ..data.metadata
        };
        serde_json::to_vec(&Envelope::ok(data)).map_err(ApiError::internal)
    })
    .await?;
    Ok(([(CONTENT_TYPE, "application/json")], json).into_response())
}

/// Which bars count as "in trading hours".
struct HoursFilter {
    calendar: Calendar,
    timeframe: Timeframe,
    hours: SessionHours,
}

impl HoursFilter {
    /// Whether the bar opening at `ts` starts inside a session. Daily and weekly bars are
    /// sessions themselves; a bar the calendar cannot judge (outside its coverage, before
    /// 1980 for US equities) is kept rather than silently dropped.
    fn keeps(&self, ts: i64) -> bool {
        if !self.timeframe.is_intraday() {
            return true;
        }
        self.calendar.is_open(ts, self.hours).unwrap_or(true)
    }
}

/// The bars of `series` that pass `filter`, with the first/last/count metadata filled.
fn bars_data(series: &BarSeries, filter: Option<&HoursFilter>) -> BarsData {
    let mut dates = Vec::with_capacity(series.len());
    let mut ohlcv = Vec::with_capacity(series.len());
    for bar in series.iter() {
        if filter.is_some_and(|f| !f.keeps(bar.ts)) {
            continue;
        }
        dates.push(python_time(bar.ts));
        ohlcv.push([bar.open, bar.high, bar.low, bar.close, bar.volume]);
    }
    let first = dates.first().cloned().unwrap_or_default();
    let last = dates.last().cloned().unwrap_or_default();
    BarsData {
        metadata: BarsMetadata {
            symbol: String::new(),
            timeframe: String::new(),
            start_date: first.clone(),
            end_date: last.clone(),
            point_count: dates.len(),
            start: first,
            end: last,
            trading_hours_only: filter.is_some(),
            include_extended: false,
            filtered_out: 0,
            unreadable_rows: 0,
        },
        dates,
        ohlcv,
    }
}

/// `POST /data/range`: the first and last bar and the real row count of a stored series.
#[utoipa::path(
    post,
    path = "/api/v1/data/range",
    tag = "data",
    request_body = RangeRequest,
    responses(
        (status = 200, description = "The range and row count", body = Envelope<DataRange>),
        (status = 404, description = "The series is not stored", body = ErrorBody),
        (status = 422, description = "Not a symbol or timeframe", body = ErrorBody),
    )
)]
pub(crate) async fn range(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<RangeRequest>,
) -> Result<Json<Envelope<DataRange>>, ApiError> {
    let symbol = parse_symbol("symbol", &body.symbol)?;
    let timeframe = parse_timeframe("timeframe", &body.timeframe)?;
    let manager = state.manager().clone();
    let range = off_runtime(move || {
        let store = manager.store();
        let info = store
            .series_info(&symbol, timeframe)
            .map_err(|e| store_error(e, &symbol, timeframe, &store.timeframes_of(&symbol)))?;
        Ok(DataRange {
            symbol: symbol.as_str().to_owned(),
            timeframe: timeframe.as_str().to_owned(),
            start_date: info.range.map(|r| format_timestamp(r.first)),
            end_date: info.range.map(|r| format_timestamp(r.last)),
            point_count: info.rows,
            unreadable_rows: info.skipped.len(),
            out_of_order: info.out_of_order,
        })
    })
    .await?;
    Ok(Json(Envelope::ok(range)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::types::Bar;

    fn bar(ts: i64) -> Bar {
        Bar {
            ts,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
        }
    }

    #[test]
    fn the_trading_hours_filter_drops_bars_outside_the_session() {
        // Tuesday 2025-06-03, New York on daylight time (UTC-4): 08:00 and 14:00 and 21:00 UTC
        // are 04:00 (pre-market), 10:00 (regular) and 17:00 (after hours).
        let day = 1_748_908_800;
        let series = BarSeries::from_bars([
            bar(day + 8 * 3600),
            bar(day + 14 * 3600),
            bar(day + 21 * 3600),
        ])
        .unwrap();
        let regular = HoursFilter {
            calendar: Calendar::Xnys,
            timeframe: Timeframe::H1,
            hours: SessionHours::Regular,
        };
        let data = bars_data(&series, Some(&regular));
        assert_eq!(data.dates, ["2025-06-03T14:00:00"]);
        let extended = HoursFilter {
            hours: SessionHours::Extended,
            ..regular
        };
        assert_eq!(bars_data(&series, Some(&extended)).dates.len(), 3);
        assert_eq!(bars_data(&series, None).metadata.point_count, 3);
    }

    #[test]
    fn daily_bars_are_sessions_and_pass_the_filter() {
        let filter = HoursFilter {
            calendar: Calendar::Xnys,
            timeframe: Timeframe::D1,
            hours: SessionHours::Regular,
        };
        assert!(filter.keeps(1_748_908_800));
    }
}

//! `GET /data/{symbol}/{timeframe}/gaps`: the classified gaps of a stored series against its
//! exchange calendar (`ktrdr data gaps` over HTTP).

use axum::extract::{Path, State};
use axum::Json;
use ktrdr_data::calendar::SessionHours;
use ktrdr_data::gaps::{analyze, session_hours_of, GapOptions, GapReport};
use ktrdr_data::types::format_timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{date_bounds, off_runtime, parse_symbol, parse_timeframe, store_error};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiQuery;
use crate::api::wire::{Envelope, GapAnalysis, GapInterval, GapKindSummary};
use crate::api::ApiState;

/// The query of `GET /data/{symbol}/{timeframe}/gaps`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GapsQuery {
    /// Start of the analysed range (default: the first stored bar).
    start_date: Option<String>,
    /// End of the analysed range, inclusive; a date alone includes that day (default: the
    /// last stored bar).
    end_date: Option<String>,
    /// `regular` or `extended` (default: the hours the stored bars show).
    session: Option<String>,
    /// List closures (weekends, holidays, outside hours) too, not only missing bars.
    #[serde(default)]
    include_closures: bool,
}

/// `GET /data/{symbol}/{timeframe}/gaps`: expected, present and missing bars of the stored
/// series, with every interval classified.
#[utoipa::path(
    get,
    path = "/api/v1/data/{symbol}/{timeframe}/gaps",
    tag = "data",
    params(
        ("symbol" = String, Path, description = "The symbol (any case)"),
        ("timeframe" = String, Path, description = "The bar size"),
        GapsQuery,
    ),
    responses(
        (status = 200, description = "The gap analysis", body = Envelope<GapAnalysis>),
        (status = 400, description = "A bad date, or a range the calendar cannot judge", body = ErrorBody),
        (status = 404, description = "The series is not stored", body = ErrorBody),
        (status = 422, description = "Not a symbol, timeframe or session", body = ErrorBody),
    )
)]
pub(crate) async fn gaps(
    State(state): State<ApiState>,
    Path((symbol, timeframe)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<GapsQuery>,
) -> Result<Json<Envelope<GapAnalysis>>, ApiError> {
    let symbol = parse_symbol("symbol", &symbol)?;
    let timeframe = parse_timeframe("timeframe", &timeframe)?;
    let (lo, hi) = date_bounds(query.start_date.as_deref(), query.end_date.as_deref())?;
    let session = match query.session.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<SessionHours>().map_err(|e| {
            ApiError::invalid_field("session", e.to_string(), &["regular", "extended"])
        })?),
    };
    let manager = state.manager().clone();
    let analysis = off_runtime(move || {
        let store = manager.store();
        let (series, _) = store
            .load_lenient(&symbol, timeframe)
            .map_err(|e| store_error(e, &symbol, timeframe, &store.timeframes_of(&symbol)))?;
        let calendar = manager.calendars().calendar_for(&symbol);
        let hours = match session {
            Some(hours) => hours,
            None => session_hours_of(&series, calendar, timeframe).map_err(gap_error)?,
        };
        let start = lo.or(series.first_ts());
        let end = hi.map(|h| h + 1).or(series.last_ts().map(|t| t + 1));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(ApiError::bad_request(
                "DATA-Empty",
                format!("{symbol} {timeframe} has no bars stored; give start_date and end_date"),
            ));
        };
        let options = GapOptions {
            hours,
            start: Some(start),
            end: Some(end),
            head: None,
        };
        let report = analyze(&series, calendar, timeframe, &options).map_err(gap_error)?;
        Ok(gap_analysis(
            symbol.as_str(),
            &report,
            query.include_closures,
        ))
    })
    .await?;
    Ok(Json(Envelope::ok(analysis)))
}

/// A range the calendar cannot judge or an empty one is the request's problem (400).
fn gap_error(error: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("DATA-GapAnalysis", error.to_string())
}

fn gap_analysis(symbol: &str, report: &GapReport, include_closures: bool) -> GapAnalysis {
    let coverage_percent = if report.expected_bars == 0 {
        100.0
    } else {
        100.0 * report.present_bars as f64 / report.expected_bars as f64
    };
    GapAnalysis {
        symbol: symbol.to_owned(),
        timeframe: report.timeframe.as_str().to_owned(),
        calendar: report.calendar.name().to_owned(),
        session: report.hours.to_string(),
        start_date: format_timestamp(report.start),
        end_date: format_timestamp(report.end),
        expected_bars: report.expected_bars,
        present_bars: report.present_bars,
        unplaced_bars: report.unplaced_bars,
        coverage_percent,
        summary: report
            .summary()
            .into_iter()
            .map(|(kind, s)| GapKindSummary {
                kind: kind.as_str().to_owned(),
                intervals: s.intervals,
                missing_bars: s.missing_bars,
                seconds: s.seconds,
            })
            .collect(),
        gaps: report
            .gaps
            .iter()
            .filter(|g| include_closures || !g.kind.is_closure())
            .map(|g| GapInterval {
                start: format_timestamp(g.start),
                end: format_timestamp(g.end),
                kind: g.kind.as_str().to_owned(),
                missing_bars: g.missing_bars,
            })
            .collect(),
    }
}

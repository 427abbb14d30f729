//! Data on the wire: the store's catalogue (symbols, timeframes, series), bars, ranges, gaps
//! and loads, in the Python backend's shapes plus ours.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::ErrorDetail;

/// One stored symbol (`GET /symbols`), in the Python `SymbolInfo` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SymbolInfo {
    /// The symbol, upper-case.
    pub symbol: String,
    /// Display name (the symbol: the store keeps no names).
    pub name: String,
    /// `forex` for FX-calendar symbols, `crypto` for crypto ones, else `stock`.
    #[serde(rename = "type")]
    pub instrument_type: String,
    /// The exchange calendar the symbol trades on (`XNYS`, `FX`, …).
    pub exchange: String,
    /// Quote currency when the symbol says it (a six-letter pair), else `USD`.
    pub currency: String,
    /// Timeframes stored for it, shortest first.
    pub available_timeframes: Vec<String>,
    /// When its market trades.
    pub trading_hours: TradingHours,
}

/// The trading hours of a symbol's calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TradingHours {
    /// The exchange time zone (`America/New_York`).
    pub timezone: String,
    /// The calendar (`XNYS`, `XNAS`, `FX`, `CRYPTO`).
    pub calendar: String,
}

/// One bar size (`GET /timeframes`), in the Python `TimeframeInfo` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimeframeInfo {
    /// The canonical spelling (`1h`).
    pub id: String,
    /// Display name (`1 Hour`).
    pub name: String,
    /// What one bar covers.
    pub description: String,
    /// Seconds per bar (a day and a week are sessions, given here as their nominal length).
    pub seconds: i64,
    /// Whether some stored series has this bar size.
    pub stored: bool,
}

/// What the store holds (`GET /data/info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataInfo {
    /// How many symbols have at least one series.
    pub total_symbols: usize,
    /// How many series are stored.
    pub total_series: usize,
    /// The stored symbols, sorted.
    pub available_symbols: Vec<String>,
    /// The stored timeframes, shortest first.
    pub timeframes_available: Vec<String>,
    /// Every stored series.
    pub series: Vec<SeriesSummary>,
    /// The data source loads fetch from (`sim (simulated data)`, …); `null` when the server
    /// has none (mode `local` only).
    pub data_source: Option<String>,
}

/// One stored series in [`DataInfo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesSummary {
    /// The symbol.
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// Data rows in its file (readable or not).
    pub rows: usize,
    /// The earliest readable bar (`2025-05-22T08:00:00Z`), `null` without one.
    pub first_bar: Option<String>,
    /// The latest readable bar.
    pub last_bar: Option<String>,
    /// Rows that could not be read (`ktrdr data validate` lists them).
    pub unreadable_rows: usize,
    /// File size in bytes.
    pub bytes: u64,
    /// Set when the series could not be read at all (a bad header); the other fields are
    /// then empty.
    pub error: Option<String>,
}

/// The bars of a stored series (`GET /data/{symbol}/{timeframe}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BarsData {
    /// Bar open times, UTC, `%Y-%m-%dT%H:%M:%S`.
    pub dates: Vec<String>,
    /// `[open, high, low, close, volume]` per bar.
    pub ohlcv: Vec<[f64; 5]>,
    /// What was asked and what came back.
    pub metadata: BarsMetadata,
}

/// The `metadata` of [`BarsData`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BarsMetadata {
    /// The symbol.
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// The first bar returned (`%Y-%m-%dT%H:%M:%S`), `""` when none.
    pub start_date: String,
    /// The last bar returned, `""` when none.
    pub end_date: String,
    /// Bars returned.
    pub point_count: usize,
    /// Same as `start_date` (the Python CLI reads this name).
    pub start: String,
    /// Same as `end_date` (the Python CLI reads this name).
    pub end: String,
    /// Whether bars outside the calendar's sessions were dropped.
    pub trading_hours_only: bool,
    /// Whether extended hours counted as sessions for that filter.
    pub include_extended: bool,
    /// Bars the trading-hours filter dropped.
    pub filtered_out: usize,
    /// Unreadable rows of the file that were left out.
    pub unreadable_rows: usize,
}

/// The body of `POST /data/range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RangeRequest {
    /// The symbol (any case, surrounding blanks ignored).
    pub symbol: String,
    /// The bar size (`1h`, `60m`, `1 hour`, …).
    pub timeframe: String,
}

/// The answer of `POST /data/range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataRange {
    /// The symbol.
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// The earliest readable bar (`2025-05-22T08:00:00Z`), `null` for an empty file.
    pub start_date: Option<String>,
    /// The latest readable bar.
    pub end_date: Option<String>,
    /// The real number of data rows in the file (the Python backend estimated it).
    pub point_count: usize,
    /// Rows that could not be read (counted in `point_count`, not in the dates).
    pub unreadable_rows: usize,
    /// Rows dated at or before the row above them (0: the file is in order).
    pub out_of_order: usize,
}

/// The classified gaps of a stored series (`GET /data/{symbol}/{timeframe}/gaps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapAnalysis {
    /// The symbol.
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// The calendar the bars were judged by.
    pub calendar: String,
    /// `regular` or `extended`.
    pub session: String,
    /// Start of the analysed range (inclusive).
    pub start_date: String,
    /// End of the analysed range (exclusive).
    pub end_date: String,
    /// Bar slots the calendar expects in the range.
    pub expected_bars: usize,
    /// Expected slots that have a bar.
    pub present_bars: usize,
    /// Bars that sit in no expected slot.
    pub unplaced_bars: usize,
    /// `present_bars / expected_bars` in percent (100 when nothing is expected).
    pub coverage_percent: f64,
    /// Per kind: intervals, bars and seconds.
    pub summary: Vec<GapKindSummary>,
    /// The intervals (closures only with `include_closures=true`).
    pub gaps: Vec<GapInterval>,
}

/// One kind's totals in a [`GapAnalysis`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapKindSummary {
    /// `missing`, `before_head`, `weekend`, `holiday`, `outside_hours`, …
    pub kind: String,
    /// How many intervals.
    pub intervals: usize,
    /// Expected bars in them.
    pub missing_bars: usize,
    /// Their total length.
    pub seconds: i64,
}

/// One interval of a [`GapAnalysis`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapInterval {
    /// First second of the interval.
    pub start: String,
    /// First second after it.
    pub end: String,
    /// Its kind.
    pub kind: String,
    /// Expected bars in it.
    pub missing_bars: usize,
}

/// The body of `POST /data/load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoadBody {
    /// The symbol (trimmed and upper-cased).
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// `local` (default), `tail`, `backfill` or `full`.
    pub mode: Option<String>,
    /// First bar wanted: a date or a date-time (UTC unless an offset is given).
    pub start_date: Option<String>,
    /// Last bar wanted (a date covers that whole day).
    pub end_date: Option<String>,
    /// Recorded with the operation; a load stores every bar the source sends (filter when
    /// reading, with `GET /data/{symbol}/{timeframe}?trading_hours_only=true`).
    pub filters: Option<LoadFilters>,
    /// The data source the client expects the load to fetch from (`sim`, `host`, `ib`): a
    /// server configured with another answers 422 naming its own, rather than load from a
    /// source the client did not mean. Absent: the server's source, whichever it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The `filters` of a [`LoadBody`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoadFilters {
    /// Only bars inside the calendar's sessions.
    #[serde(default)]
    pub trading_hours_only: bool,
    /// Count extended hours as sessions.
    #[serde(default)]
    pub include_extended: bool,
}

/// What a load did (`POST /data/load`), with real values: the Python names, mapped from our
/// load summary. Also merged into the operation's `result_summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataLoadOperationResponse {
    /// `started` (async), else `success`, `partial` (failed after saving bars), `failed` or
    /// `cancelled`.
    pub status: String,
    /// The operation that runs (ran) the load.
    pub operation_id: Option<String>,
    /// Bars received from the source; for a `local` load, the bars read from the store.
    pub fetched_bars: u64,
    /// Whether the store held bars of the series before the load.
    pub cached_before: bool,
    /// The series' file name in the data directory (`MSFT_1h.csv`).
    pub merged_file: String,
    /// Intervals of missing bars found in the load's window.
    pub gaps_analyzed: usize,
    /// Requests to the source that got an answer.
    pub segments_fetched: usize,
    /// Requests sent to the source, retries included.
    pub ib_requests_made: u64,
    /// Same as `ib_requests_made` (the newer Python name).
    pub external_requests_made: u64,
    /// Bars written to the store (new and replaced).
    pub bars_saved: u64,
    /// Wall-clock seconds of the load.
    pub execution_time_seconds: f64,
    /// Why it failed or stopped.
    pub error_message: Option<String>,
}

/// The answer of `POST /data/load`: `{success, data}`, and on a failed synchronous load also
/// `error` (the error shape), beside what the load did before failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoadAnswer {
    /// `true` when the load started (async) or completed (sync).
    pub success: bool,
    /// What the load did.
    pub data: DataLoadOperationResponse,
    /// Why it did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

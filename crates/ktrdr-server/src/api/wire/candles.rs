//! A window of a stored series at a resolution (`GET /data/{symbol}/{timeframe}/candles`): the
//! bars aggregated into candles a chart can draw, the gaps of the window and the validation
//! findings, each at the same resolution. Times are unix seconds (UTC).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The bars of one bucket as one candle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candle {
    /// The first bar's time.
    pub t: i64,
    /// The first bar's open.
    pub o: f64,
    /// The highest high.
    pub h: f64,
    /// The lowest low.
    pub l: f64,
    /// The last bar's close.
    pub c: f64,
    /// The volume of all its bars.
    pub v: f64,
    /// How many bars it stands for.
    pub bars: usize,
}

/// An interval without bars, at the answer's resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandleGap {
    /// First second.
    pub start: i64,
    /// First second after it.
    pub end: i64,
    /// `missing`, `before_head`, `weekend`, `holiday` or `outside_hours`.
    pub kind: String,
    /// Expected bars inside it (0 for closures).
    pub missing_bars: usize,
}

/// The validation findings on the bars of one candle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandleFinding {
    /// The candle's time (its `t`).
    pub t: i64,
    /// The kinds found (`ohlc_inconsistent`, `outlier`, …), as `ktrdr data validate` names
    /// them.
    pub kinds: Vec<String>,
    /// The worst severity among them: `info`, `warning` or `error`.
    pub severity: String,
    /// How many of the candle's bars have a finding.
    pub bars: usize,
}

/// The answer of `GET /data/{symbol}/{timeframe}/candles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candles {
    /// The symbol.
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// The series' first bar (whole file), for a chart's pan limits.
    pub first_bar: Option<i64>,
    /// The series' last bar.
    pub last_bar: Option<i64>,
    /// The window's start (the first bar when not asked).
    pub start: Option<i64>,
    /// The window's end, inclusive (the last bar when not asked).
    pub end: Option<i64>,
    /// Seconds one candle spans: the bar size, or a multiple of it when the window holds more
    /// bars than `max_points`.
    pub bucket_seconds: i64,
    /// Bars in the window.
    pub bars: usize,
    /// The candles, oldest first; a bucket without bars has none.
    pub candles: Vec<Candle>,
    /// The window's gaps, closures included; at a resolution coarser than the bar size,
    /// closures shorter than a bucket are left out (they would not show) and missing
    /// intervals less than a bucket apart are merged.
    pub gaps: Vec<CandleGap>,
    /// Why there are no gaps, when the calendar could not judge the window.
    pub gaps_error: Option<String>,
    /// The candles with validation findings.
    pub findings: Vec<CandleFinding>,
}

//! Market-data providers: where bars come from.
//!
//! A provider is anything that implements [`DataProvider`]: the simulated broker
//! [`sim::SimProvider`], the `host` provider (a client of the IB host-service protocol) and the
//! `ib` provider (feature `ib`). Callers hold one as `Arc<dyn DataProvider>` and never know which
//! it is; what differs between providers is in [`ProviderInfo`] (name, span per request,
//! pacing rules, session hours).
//!
//! # Contract for implementors
//!
//! - Every call takes the operation's [`CancellationToken`] and returns
//!   [`ProviderError`] with [`is_cancelled`](ProviderError::is_cancelled) promptly once it is
//!   cancelled, dropping any in-flight work (an HTTP request, a latency wait).
//! - Errors are classified, never left to their text: not found, invalid request, pacing
//!   (with the retry delay), transient, fatal, cancelled.
//! - `fetch_bars` returns the bars whose timestamps lie in the closed range `[start, end]` (the
//!   host-service protocol's semantics), sorted, possibly none: an empty answer for a closed
//!   period is a success, not an error. A range longer than the provider's
//!   [`SpanLimits`] for the timeframe is an invalid request.
//! - A provider does not pace itself: the caller sends requests through a
//!   [`PacingGate`](crate::pacing::PacingGate), most simply by wrapping the provider in
//!   [`Paced`], which holds the gate of the connection.
//!
//! ```
//! use std::sync::Arc;
//! use ktrdr_data::provider::{sim::SimProvider, DataProvider, Paced, TimeRange};
//! use ktrdr_ops::cancel::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider: Arc<dyn DataProvider> = Arc::new(Paced::new(SimProvider::default())?);
//! let token = CancellationToken::new();
//! let aapl = "AAPL".parse()?;
//! // 2024-03-04 (a Monday) to 2024-03-08 23:59:59 UTC.
//! let week = TimeRange::new(1_709_510_400, 1_709_942_399)?;
//! let bars = provider.fetch_bars(&aapl, "1h".parse()?, week, &token).await?;
//! assert_eq!(bars.len(), 5 * 7); // five regular sessions of seven 1h bars (09:30, 10:00 … 15:00)
//! # Ok(())
//! # }
//! ```

mod error;
pub mod host;
pub mod ib;
mod info;
mod paced;
pub mod sim;
pub mod source;

use std::fmt;

use async_trait::async_trait;
use ktrdr_ops::cancel::CancellationToken;
use serde::{Deserialize, Serialize};

pub use error::{ProviderError, MAX_RETRY_AFTER};
pub use info::{AssetType, HoursSpan, ProviderInfo, SpanLimits, SymbolInfo, TradingHours};
pub use paced::Paced;

use crate::types::{format_timestamp, BarSeries, Symbol, Timeframe};

/// A closed range of unix seconds `[start, end]`, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRange")]
pub struct TimeRange {
    start: i64,
    end: i64,
}

#[derive(Deserialize)]
struct RawRange {
    start: i64,
    end: i64,
}

impl TryFrom<RawRange> for TimeRange {
    type Error = ProviderError;
    fn try_from(r: RawRange) -> Result<Self, ProviderError> {
        TimeRange::new(r.start, r.end)
    }
}

impl TimeRange {
    /// `[start, end]`; an invalid-request error if `start > end`.
    pub fn new(start: i64, end: i64) -> Result<Self, ProviderError> {
        if start > end {
            return Err(ProviderError::invalid_request(format!(
                "time range starts after it ends ({} > {})",
                format_timestamp(start),
                format_timestamp(end)
            )));
        }
        Ok(TimeRange { start, end })
    }

    /// The closed range of the half-open `[start, end)` (the planner's requests): `[start,
    /// end - 1]`, since timestamps are whole seconds.
    pub fn half_open(start: i64, end: i64) -> Result<Self, ProviderError> {
        if start >= end {
            return Err(ProviderError::invalid_request(format!(
                "time range [{}, {}) is empty",
                format_timestamp(start),
                format_timestamp(end)
            )));
        }
        Self::new(start, end - 1)
    }

    /// First second of the range.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Last second of the range (inclusive).
    pub fn end(&self) -> i64 {
        self.end
    }

    /// `end - start`, in seconds.
    pub fn span(&self) -> i64 {
        self.end - self.start
    }

    /// `start <= ts <= end`.
    pub fn contains(&self, ts: i64) -> bool {
        self.start <= ts && ts <= self.end
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}]",
            format_timestamp(self.start),
            format_timestamp(self.end)
        )
    }
}

/// A source of historical bars. Object-safe: hold it as `Arc<dyn DataProvider>`.
///
/// See the [module documentation](self) for the contract every implementation keeps.
#[async_trait]
pub trait DataProvider: Send + Sync {
    /// The provider's name and limits. Cheap; no I/O.
    fn describe(&self) -> ProviderInfo;

    /// Checks that `symbol` exists and returns its contract details and trading hours.
    /// Unknown symbols are [`ProviderError::is_not_found`].
    async fn validate_symbol(
        &self,
        symbol: &Symbol,
        token: &CancellationToken,
    ) -> Result<SymbolInfo, ProviderError>;

    /// The timestamp of the earliest bar the provider has for `symbol` at `timeframe`, or
    /// `None` if the provider cannot tell.
    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError>;

    /// The bars of `symbol` at `timeframe` whose timestamps lie in `range` (closed), sorted.
    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range_rejects_reversed_bounds_and_reads_back_from_json() {
        let e = TimeRange::new(10, 9).unwrap_err();
        assert!(e.is_invalid_request());
        assert!(e.to_string().contains("starts after it ends"), "{e}");

        let r: TimeRange = serde_json::from_str(r#"{"start":5,"end":7}"#).unwrap();
        assert_eq!((r.start(), r.end(), r.span()), (5, 7, 2));
        assert!(r.contains(5) && r.contains(7) && !r.contains(8));
        assert!(serde_json::from_str::<TimeRange>(r#"{"start":8,"end":7}"#).is_err());

        let h = TimeRange::half_open(0, 3600).unwrap();
        assert_eq!((h.start(), h.end()), (0, 3599));
        assert!(TimeRange::half_open(5, 5).unwrap_err().is_invalid_request());
    }
}

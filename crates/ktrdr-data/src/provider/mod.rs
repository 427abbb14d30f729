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
//! - A provider does not pace itself: the caller sends requests through the connection's
//!   [`PacingGate`](crate::pacing::PacingGate) with [`PacingGate::send`](crate::pacing::PacingGate::send), the one
//!   pacing path
//!   (the [`DataManager`](crate::manager::DataManager) does so for every segment).
//!
//! ```
//! use std::sync::Arc;
//! use ktrdr_data::pacing::{PacingGate, RequestKey};
//! use ktrdr_data::provider::{sim::SimProvider, DataProvider};
//! use ktrdr_data::types::{Symbol, TimeRange, Timeframe};
//! use ktrdr_ops::cancel::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider: Arc<dyn DataProvider> = Arc::new(SimProvider::default());
//! let gate = PacingGate::new(provider.describe().pacing)?;
//! let token = CancellationToken::new();
//! let (aapl, h1): (Symbol, Timeframe) = ("AAPL".parse()?, "1h".parse()?);
//! // 2024-03-04 (a Monday) to 2024-03-08 23:59:59 UTC.
//! let week = TimeRange::new(1_709_510_400, 1_709_942_399)?;
//! let key = RequestKey::new(aapl.clone(), h1, week);
//! let bars = gate.send(&key, &token, provider.fetch_bars(&aapl, h1, week, &token)).await?;
//! assert_eq!(bars.len(), 5 * 7); // five regular sessions of seven 1h bars (09:30, 10:00 … 15:00)
//! # Ok(())
//! # }
//! ```

mod error;
pub mod host;
pub mod ib;
mod info;
pub mod sim;
pub mod source;

use std::sync::Arc;

use async_trait::async_trait;
use ktrdr_ops::cancel::CancellationToken;

pub use error::{ProviderError, MAX_RETRY_AFTER};
pub use info::{AssetType, HoursSpan, ProviderInfo, SpanLimits, SymbolInfo, TradingHours};

use crate::types::{BarSeries, Symbol, TimeRange, Timeframe};

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

/// A shared provider is a provider (the manager holds one as `Arc<dyn DataProvider>`).
#[async_trait]
impl<T: DataProvider + ?Sized> DataProvider for Arc<T> {
    fn describe(&self) -> ProviderInfo {
        (**self).describe()
    }

    async fn validate_symbol(
        &self,
        symbol: &Symbol,
        token: &CancellationToken,
    ) -> Result<SymbolInfo, ProviderError> {
        (**self).validate_symbol(symbol, token).await
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        (**self).head_timestamp(symbol, timeframe, token).await
    }

    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        (**self).fetch_bars(symbol, timeframe, range, token).await
    }
}

//! [`Paced`]: a provider whose historical requests go through the connection's
//! [`PacingGate`], so no caller can forget the gate.

use std::sync::Arc;

use async_trait::async_trait;
use ktrdr_ops::cancel::CancellationToken;

use super::{DataProvider, ProviderError, ProviderInfo, SymbolInfo, TimeRange};
use crate::pacing::{InvalidPacingRules, PacingGate, RequestKey};
use crate::types::{BarSeries, Symbol, Timeframe};

/// Wraps a provider so that every `fetch_bars` first takes a permit from the connection's
/// [`PacingGate`] and holds it until the answer is in. A pacing error from the provider anyway
/// (another client on the same account) holds the whole gate for the error's `retry_after`.
///
/// Symbol validation and head timestamps are not historical-data requests and pass straight
/// through.
pub struct Paced<P> {
    inner: P,
    gate: PacingGate,
}

impl<P: DataProvider> Paced<P> {
    /// Wraps `inner` with a new gate enforcing the rules `inner.describe()` announces.
    pub fn new(inner: P) -> Result<Self, InvalidPacingRules> {
        let gate = PacingGate::new(inner.describe().pacing)?;
        Ok(Paced { inner, gate })
    }

    /// Wraps `inner` with an existing gate: use this when several providers share one broker
    /// connection.
    pub fn with_gate(inner: P, gate: PacingGate) -> Self {
        Paced { inner, gate }
    }

    /// The gate (clone it to share the connection's schedule).
    pub fn gate(&self) -> &PacingGate {
        &self.gate
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

#[async_trait]
impl<P: DataProvider> DataProvider for Paced<P> {
    fn describe(&self) -> ProviderInfo {
        self.inner.describe()
    }

    async fn validate_symbol(
        &self,
        symbol: &Symbol,
        token: &CancellationToken,
    ) -> Result<SymbolInfo, ProviderError> {
        self.inner.validate_symbol(symbol, token).await
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        self.inner.head_timestamp(symbol, timeframe, token).await
    }

    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        let key = RequestKey::new(symbol.clone(), timeframe, range);
        let permit = self.gate.acquire(&key, token).await?;
        let answer = self.inner.fetch_bars(symbol, timeframe, range, token).await;
        drop(permit);
        if let Some(retry_after) = answer.as_ref().err().and_then(ProviderError::retry_after) {
            self.gate.report_violation(retry_after);
        }
        answer
    }
}

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

//! What a load can fail with.

use crate::gaps::GapError;
use crate::planner::PlanError;
use crate::provider::ProviderError;
use crate::store::StoreError;
use crate::types::{format_timestamp, Symbol, Timeframe};

use super::LoadSummary;
use crate::types::LoadMode;

/// Why a load failed. A cancelled load is not an error: it returns its [`LoadSummary`] with
/// [`LoadSummary::cancelled`] set, saying what was kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A fetching mode was asked of a manager built without a provider.
    #[error(
        "mode '{mode}' fetches from a data source, but none is configured \
         (choose sim, host or ib: see `provider::source`, or set KTRDR_DATA_SOURCE, or \
         USE_IB_HOST_SERVICE=true with IB_HOST_SERVICE_URL); mode 'local' reads the store \
         without one"
    )]
    NoProvider {
        /// The mode asked for.
        mode: LoadMode,
    },
    /// The provider does not know the symbol.
    #[error("{symbol} is not known to {provider}: {message}")]
    SymbolNotFound {
        /// The symbol.
        symbol: Symbol,
        /// The provider's name.
        provider: String,
        /// What the provider said.
        message: String,
    },
    /// The provider does not serve this bar size.
    #[error("{provider} does not serve {timeframe} bars (it serves: {supported})")]
    UnsupportedTimeframe {
        /// The timeframe asked for.
        timeframe: Timeframe,
        /// The provider's name.
        provider: String,
        /// The timeframes it serves, space-separated.
        supported: String,
    },
    /// A call to the provider other than a segment fetch failed (symbol validation, head
    /// timestamp), after retries where retrying made sense.
    #[error("{what} failed at {provider}: {source}")]
    Provider {
        /// The call.
        what: &'static str,
        /// The provider's name.
        provider: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
    /// `start` is after `end`.
    #[error("the start {} is after the end {}", format_timestamp(*start), format_timestamp(*end))]
    InvalidRange {
        /// Requested start (unix seconds).
        start: i64,
        /// Requested end (unix seconds).
        end: i64,
    },
    /// A mode that starts at the head timestamp, with a provider that reports none.
    #[error(
        "mode '{mode}' starts at the provider's earliest bar (head timestamp), but the provider \
         reports none for this series; give the load a start time"
    )]
    NoHeadTimestamp {
        /// The mode.
        mode: LoadMode,
    },
    /// The local store failed (the message names the file and line).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Gap analysis failed.
    #[error("gap analysis failed: {0}")]
    Gaps(#[from] GapError),
    /// Request planning failed.
    #[error("request planning failed: {0}")]
    Plan(#[from] PlanError),
    /// Some segments could not be fetched; everything else was fetched and saved.
    #[error(
        "{failed} of {total} requests failed (last error: {last_error}); {summary}; \
         run the load again to fetch what is missing"
    )]
    SegmentsFailed {
        /// Segments that failed.
        failed: usize,
        /// Segments planned.
        total: usize,
        /// The last failure's message.
        last_error: String,
        /// What the load did, including what it saved.
        summary: Box<LoadSummary>,
    },
    /// A background task of the load panicked or was lost (a bug, not a data problem).
    #[error("internal error: {0}")]
    Internal(String),
    /// The load failed after it had started fetching; what it did until then, including the
    /// bars it saved, is in `summary`.
    #[error("{source}; before that: {summary}")]
    Partial {
        /// Why it failed.
        source: Box<LoadError>,
        /// What the load did, including what it saved.
        summary: Box<LoadSummary>,
    },
}

impl LoadError {
    /// The summary of what was done before the failure, when the failure came late enough to
    /// have one.
    pub fn summary(&self) -> Option<&LoadSummary> {
        match self {
            LoadError::SegmentsFailed { summary, .. } | LoadError::Partial { summary, .. } => {
                Some(summary)
            }
            _ => None,
        }
    }

    /// `self`, carrying `summary` if the load had sent requests or saved bars before failing
    /// (a failure before that has nothing to report but itself).
    pub(crate) fn after(self, summary: LoadSummary) -> Self {
        match self {
            e @ (LoadError::SegmentsFailed { .. } | LoadError::Partial { .. }) => e,
            e if summary.requests_sent == 0 && summary.bars_saved == 0 => e,
            source => LoadError::Partial {
                source: Box::new(source),
                summary: Box::new(summary),
            },
        }
    }
}

//! [`DataManagerBuilder`]: what a [`DataManager`] is made of, checked once.

use std::path::PathBuf;
use std::sync::Arc;

use ktrdr_ops::retry::InvalidBackoff;

use super::data_manager::Inner;
use super::stats::Totals;
use super::{DataManager, RetryPolicy};
use crate::calendar::CalendarMap;
use crate::pacing::{InvalidPacingRules, PacingGate};
use crate::provider::DataProvider;
use crate::store::BarStore;

/// Builds a [`DataManager`] (the Python `DataManagerBuilder`).
#[derive(Default)]
pub struct DataManagerBuilder {
    store: Option<BarStore>,
    provider: Option<Arc<dyn DataProvider>>,
    gate: GateChoice,
    calendars: Option<CalendarMap>,
    retry: RetryPolicy,
    max_in_flight: Option<usize>,
    now: Option<i64>,
}

#[derive(Default)]
enum GateChoice {
    /// A new gate from the provider's announced rules.
    #[default]
    FromProvider,
    Shared(PacingGate),
    None,
}

/// A configuration the manager cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The provider announces pacing rules no schedule can satisfy.
    #[error("the provider's pacing rules are invalid: {0}")]
    Pacing(#[from] InvalidPacingRules),
    /// `max_in_flight` of 0.
    #[error("max_in_flight must be at least 1")]
    NoConcurrency,
    /// A retry policy whose backoff is out of range (no attempts, say).
    #[error(transparent)]
    Retry(#[from] InvalidBackoff),
}

/// Requests in flight at once when nothing else is said: enough to hide the answer latency
/// behind the pacing gate's spacing, few enough to be polite to a gateway.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

impl DataManagerBuilder {
    /// The store to load into (default: [`BarStore::from_env`]).
    pub fn store(mut self, store: BarStore) -> Self {
        self.store = Some(store);
        self
    }

    /// A store at `dir`.
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.store(BarStore::new(dir))
    }

    /// Where bars come from. Without a provider only [`LoadMode::Local`](crate::types::LoadMode::Local) works.
    pub fn provider(mut self, provider: Arc<dyn DataProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Sends requests through `gate` (shared with other managers on the same connection)
    /// instead of a new gate built from the provider's rules.
    pub fn pacing_gate(mut self, gate: PacingGate) -> Self {
        self.gate = GateChoice::Shared(gate);
        self
    }

    /// Sends requests without a gate: only for a provider with no pacing rules to keep (a
    /// test double) or one whose broker paces on its own side.
    pub fn unpaced(mut self) -> Self {
        self.gate = GateChoice::None;
        self
    }

    /// The symbol → calendar mapping for gap analysis (default: [`CalendarMap::builtin`]).
    pub fn calendars(mut self, calendars: CalendarMap) -> Self {
        self.calendars = Some(calendars);
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Requests in flight at once (default [`DEFAULT_MAX_IN_FLIGHT`]); the gate still decides
    /// when each may be sent.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// A fixed "now" (unix seconds) instead of the wall clock, for reproducible windows.
    pub fn now(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// The manager.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for invalid pacing rules, a zero `max_in_flight` or a retry policy
    /// without attempts.
    pub fn build(self) -> Result<DataManager, BuildError> {
        let max_in_flight = self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
        if max_in_flight == 0 {
            return Err(BuildError::NoConcurrency);
        }
        self.retry.backoff.validate()?;
        let gate = match (self.gate, &self.provider) {
            (GateChoice::Shared(gate), _) => Some(gate),
            (GateChoice::FromProvider, Some(p)) => Some(PacingGate::new(p.describe().pacing)?),
            (GateChoice::FromProvider, None) | (GateChoice::None, _) => None,
        };
        Ok(DataManager {
            inner: Arc::new(Inner {
                store: self.store.unwrap_or_else(BarStore::from_env),
                provider: self.provider,
                gate,
                calendars: self.calendars.unwrap_or_default(),
                retry: self.retry,
                max_in_flight,
                now: self.now,
                totals: Totals::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_ops::retry::Backoff;

    #[test]
    fn builder_rejects_unusable_settings() {
        assert_eq!(
            DataManager::builder().max_in_flight(0).build().unwrap_err(),
            BuildError::NoConcurrency
        );
        let retry = RetryPolicy {
            backoff: Backoff {
                max_attempts: 0,
                ..Backoff::default()
            },
            ..RetryPolicy::default()
        };
        let err = DataManager::builder().retry(retry).build().unwrap_err();
        assert!(
            matches!(
                err,
                BuildError::Retry(InvalidBackoff {
                    field: "max_attempts",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}

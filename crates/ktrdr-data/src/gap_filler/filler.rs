//! [`GapFiller`]: what the service is made of, checked once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ktrdr_ops::operations::Operations;
use tokio::time::Instant;

use super::config::{GapFillerConfig, InvalidConfig};
use crate::manager::DataManager;
use crate::planner::FetchRequest;
use crate::types::{Symbol, Timeframe};

/// Finds stored series with recent in-session bars missing and fills them with ordinary tail
/// loads. Cheap to clone; one per process, sharing the process's [`DataManager`] (so its pacing
/// gate) and [`Operations`] runner (so its loads are in the registry like any other).
///
/// [`run_once`](Self::run_once) runs one cycle; [`spawn`](Self::spawn) runs the service.
#[derive(Clone)]
pub struct GapFiller {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) manager: DataManager,
    pub(super) ops: Operations,
    pub(super) config: GapFillerConfig,
    /// The last series a cycle started a load for: the next cycle starts after it, so a budget
    /// that does not reach every series still serves them all in turn.
    pub(super) cursor: Mutex<Option<SeriesKey>>,
    /// Holes a load asked for and the source had no bar for: the series' plan then, and when.
    pub(super) empty: Mutex<HashMap<SeriesKey, (Vec<FetchRequest>, Instant)>>,
}

/// A stored series.
pub(super) type SeriesKey = (Symbol, Timeframe);

/// A gap filler that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GapFillerError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] InvalidConfig),
    /// The manager has no data source to fill from.
    #[error(
        "the gap filler needs a data source to fill from, and the data manager has none \
         (choose sim, host or ib: see `provider::source`)"
    )]
    NoProvider,
}

impl GapFiller {
    /// A gap filler loading through `manager` as operations of `ops`.
    ///
    /// # Errors
    ///
    /// [`GapFillerError`]: an invalid `config`, or a manager without a provider.
    pub fn new(
        manager: DataManager,
        ops: Operations,
        config: GapFillerConfig,
    ) -> Result<Self, GapFillerError> {
        config.validate()?;
        if manager.provider_info().is_none() {
            return Err(GapFillerError::NoProvider);
        }
        Ok(GapFiller {
            inner: Arc::new(Inner {
                manager,
                ops,
                config,
                cursor: Mutex::new(None),
                empty: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Its settings.
    pub fn config(&self) -> &GapFillerConfig {
        &self.inner.config
    }

    /// The runner its loads are recorded by.
    pub fn operations(&self) -> &Operations {
        &self.inner.ops
    }
}

impl Inner {
    pub(super) fn cursor(&self) -> std::sync::MutexGuard<'_, Option<SeriesKey>> {
        // A plain value: a panic elsewhere cannot leave it half-written.
        self.cursor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `plan` is exactly what a load of the series asked for less than
    /// `recheck_empty` ago, finding nothing.
    pub(super) fn known_empty(&self, key: &SeriesKey, plan: &[FetchRequest]) -> bool {
        let empty = self.empty.lock().unwrap_or_else(PoisonError::into_inner);
        empty
            .get(key)
            .is_some_and(|(asked, at)| asked == plan && at.elapsed() < self.config.recheck_empty)
    }

    /// Remembers that a load asked for `plan` and found nothing, or forgets the series' entry
    /// once a load found bars.
    pub(super) fn remember_empty(&self, key: (Symbol, Timeframe), plan: Option<Vec<FetchRequest>>) {
        let mut empty = self.empty.lock().unwrap_or_else(PoisonError::into_inner);
        match plan {
            Some(plan) => empty.insert(key, (plan, Instant::now())),
            None => empty.remove(&key),
        };
    }
}

impl std::fmt::Debug for GapFiller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GapFiller")
            .field("manager", &self.inner.manager)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

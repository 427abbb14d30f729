//! Where finished runs' durations are kept, and how a prior is looked up.
//!
//! # Invariants
//!
//! 1. Records of one key are returned oldest first, ordered by `finished_at`, ties by insertion.
//! 2. Each key keeps at most `keep` records (the newest); older ones are pruned by the same
//!    write that adds a new one.
//! 3. An import marker and the records it brought are written together or not at all.
//!
//! # Lock order
//!
//! [`MemoryEtaHistory`] has a single mutex; no call holds it while calling out.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EtaError, EtaKey, Prior};

/// Records kept per key unless told otherwise.
///
/// Jenkins keeps 3 builds and users write plugins to get more; ten (the Python engine) leaves
/// the 10–90 % range resting on one run at each end. Fifty makes the percentiles meaningful and
/// still follows drift, since recent runs weigh more.
pub const DEFAULT_KEEP: usize = 50;

/// Widening of a prior's range per fallback level it had to climb (see [`EtaKey::fallbacks`]).
///
/// A prior from other symbols or modes is a weaker guide than one from this very kind of run,
/// and the range must say so; 25 % per level doubles the range three levels up.
const FALLBACK_WIDENING: f64 = 1.25;

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationRecord {
    /// How long the run took, in seconds (finite, positive).
    pub duration_secs: f64,
    /// When it finished. Stored to the microsecond.
    pub finished_at: DateTime<Utc>,
    /// Free-form facts about the run (item counts, host, ...), kept as they were given.
    pub context: serde_json::Map<String, serde_json::Value>,
}

impl DurationRecord {
    /// A run of `duration_secs` that finished now, with an empty context.
    pub fn now(duration_secs: f64) -> Self {
        DurationRecord {
            duration_secs,
            finished_at: Utc::now(),
            context: serde_json::Map::new(),
        }
    }

    /// Checks what a store relies on: a finite, positive duration.
    pub(crate) fn validate(&self, key: &EtaKey) -> Result<(), EtaError> {
        if self.duration_secs.is_finite() && self.duration_secs > 0.0 {
            Ok(())
        } else {
            Err(EtaError::InvalidRecord {
                key: key.to_string(),
                reason: format!(
                    "duration {} s is not finite and positive",
                    self.duration_secs
                ),
            })
        }
    }
}

/// A store of finished runs' durations, keyed by [`EtaKey`].
pub trait EtaHistory: Send + Sync {
    /// Appends a finished run, pruning the key to its newest records.
    fn record(&self, key: &EtaKey, record: DurationRecord) -> Result<(), EtaError>;

    /// The records of exactly `key`, oldest first.
    fn records(&self, key: &EtaKey) -> Result<Vec<DurationRecord>, EtaError>;

    /// The durations of exactly `key`, oldest first: what a prior needs. Stores override it to
    /// skip decoding the rest of each record.
    fn durations(&self, key: &EtaKey) -> Result<Vec<f64>, EtaError> {
        Ok(self.records(key)?.iter().map(|r| r.duration_secs).collect())
    }

    /// Writes `records` and the import `marker` in one transaction, unless the marker is already
    /// there; returns whether it wrote anything.
    fn import_once(
        &self,
        marker: &str,
        records: &[(EtaKey, DurationRecord)],
    ) -> Result<bool, EtaError>;

    /// The prior for `key`: from the first key of [`EtaKey::fallbacks`] that has records, its
    /// range widened by 25 % per level climbed; `None` when no level has any.
    fn prior(&self, key: &EtaKey) -> Result<Option<Prior>, EtaError> {
        for (level, candidate) in key.fallbacks().iter().enumerate() {
            if let Some(prior) = Prior::from_durations(self.durations(candidate)?) {
                return Ok(Some(prior.widened(FALLBACK_WIDENING.powi(level as i32))));
            }
        }
        Ok(None)
    }
}

/// An in-memory [`EtaHistory`], for tests and for runs that should not learn.
#[derive(Debug)]
pub struct MemoryEtaHistory {
    keep: usize,
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    records: HashMap<EtaKey, Vec<DurationRecord>>,
    markers: HashSet<String>,
}

impl MemoryEtaHistory {
    /// An empty history keeping [`DEFAULT_KEEP`] records per key.
    pub fn new() -> Self {
        Self::with_keep(DEFAULT_KEEP)
    }

    /// An empty history keeping `keep` (at least 1) records per key.
    pub fn with_keep(keep: usize) -> Self {
        MemoryEtaHistory {
            keep: keep.max(1),
            inner: Mutex::new(MemoryInner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // breaks an invariant worse than losing that one write, so poisoning is ignored.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for MemoryEtaHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryInner {
    fn insert(&mut self, key: &EtaKey, record: DurationRecord, keep: usize) {
        let list = self.records.entry(key.clone()).or_default();
        // Invariant 1: stable insertion after every record finished no later.
        let at = list.partition_point(|r| r.finished_at <= record.finished_at);
        list.insert(at, record);
        // Invariant 2.
        if list.len() > keep {
            list.drain(..list.len() - keep);
        }
    }
}

impl EtaHistory for MemoryEtaHistory {
    fn record(&self, key: &EtaKey, record: DurationRecord) -> Result<(), EtaError> {
        record.validate(key)?;
        self.lock().insert(key, record, self.keep);
        Ok(())
    }

    fn records(&self, key: &EtaKey) -> Result<Vec<DurationRecord>, EtaError> {
        Ok(self.lock().records.get(key).cloned().unwrap_or_default())
    }

    fn import_once(
        &self,
        marker: &str,
        records: &[(EtaKey, DurationRecord)],
    ) -> Result<bool, EtaError> {
        for (key, record) in records {
            record.validate(key)?;
        }
        let mut inner = self.lock();
        if !inner.markers.insert(marker.to_owned()) {
            return Ok(false);
        }
        for (key, record) in records {
            inner.insert(key, record.clone(), self.keep);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn at(secs: i64, duration: f64) -> DurationRecord {
        DurationRecord {
            duration_secs: duration,
            finished_at: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
            context: serde_json::Map::new(),
        }
    }

    #[test]
    fn keeps_the_newest_records_in_time_order() {
        let h = MemoryEtaHistory::with_keep(3);
        let key = EtaKey::new("op").unwrap();
        for (s, d) in [(5, 5.0), (1, 1.0), (3, 3.0), (4, 4.0), (2, 2.0)] {
            h.record(&key, at(s, d)).unwrap();
        }
        let got: Vec<f64> = h
            .records(&key)
            .unwrap()
            .iter()
            .map(|r| r.duration_secs)
            .collect();
        assert_eq!(got, [3.0, 4.0, 5.0]);
    }

    #[test]
    fn rejects_bad_durations() {
        let h = MemoryEtaHistory::new();
        let key = EtaKey::new("op").unwrap();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                h.record(&key, at(0, bad)),
                Err(EtaError::InvalidRecord { .. })
            ));
        }
        assert!(h.records(&key).unwrap().is_empty());
    }

    #[test]
    fn prior_falls_back_to_coarser_keys_and_widens() {
        let h = MemoryEtaHistory::new();
        let coarse = EtaKey::new("load").unwrap().with_items(5_000);
        let exact = coarse
            .clone()
            .with_symbol("AAPL")
            .unwrap()
            .with_timeframe("1h")
            .unwrap();
        assert_eq!(h.prior(&exact).unwrap(), None);
        for d in [10.0, 10.0, 10.0] {
            h.record(&coarse, at(0, d)).unwrap();
        }
        let borrowed = h.prior(&exact).unwrap().unwrap();
        let direct = h.prior(&coarse).unwrap().unwrap();
        assert_eq!(borrowed.duration_secs, 10.0);
        // Two levels up (drop symbol, drop timeframe): 1.25² wider.
        let ratio = (borrowed.high_secs - 10.0) / (direct.high_secs - 10.0);
        assert!((ratio - 1.5625).abs() < 1e-9, "{ratio}");
        h.record(&exact, at(1, 20.0)).unwrap();
        assert_eq!(h.prior(&exact).unwrap().unwrap().duration_secs, 20.0);
    }

    #[test]
    fn import_happens_once() {
        let h = MemoryEtaHistory::new();
        let key = EtaKey::new("op").unwrap();
        let batch = vec![(key.clone(), at(0, 1.0)), (key.clone(), at(1, 2.0))];
        assert!(h.import_once("m", &batch).unwrap());
        assert!(!h.import_once("m", &batch).unwrap());
        assert_eq!(h.records(&key).unwrap().len(), 2);
        let bad = vec![(key.clone(), at(2, -1.0))];
        assert!(h.import_once("other", &bad).is_err());
        assert!(
            h.import_once("other", &batch[..1]).unwrap(),
            "a rejected batch sets no marker"
        );
    }
}

//! Where finished runs' durations are kept, and how a prior is looked up.
//!
//! # Invariants
//!
//! 1. Records of one key are returned oldest first, ordered by `finished_at`, ties by insertion.
//! 2. Retention: [`EtaHistory::record`] prunes its key to the newest `keep` records in the same
//!    write that adds the new one. An import prunes nothing and stores every record it brings
//!    (the legacy import must lose nothing), so a key can hold more than `keep` records until
//!    the next run recorded under it brings it back to the newest `keep`.
//! 3. An import marker and the records it brought are written together or not at all.
//! 4. An import never stores a record twice: a record whose key, duration and original
//!    timestamp (`ktrdr_legacy.timestamp`, see [`super::LEGACY_CONTEXT_FIELD`]) equal those of
//!    a stored one is skipped, unless the import brings more copies of it than are stored.
//!
//! # Lock order
//!
//! [`MemoryEtaHistory`] has a single mutex; no call holds it while calling out.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EtaError, EtaKey, Prior, LEGACY_CONTEXT_FIELD};

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
    /// Whether a call may wait on something outside this process (a database lock, the
    /// disk), so that async code should make it off the runtime's worker threads. True unless
    /// the history lives in memory.
    fn may_block(&self) -> bool {
        true
    }

    /// Appends a finished run, pruning the key to its newest records.
    fn record(&self, key: &EtaKey, record: DurationRecord) -> Result<(), EtaError>;

    /// The records of exactly `key`, oldest first.
    fn records(&self, key: &EtaKey) -> Result<Vec<DurationRecord>, EtaError>;

    /// The durations of exactly `key`, oldest first: what a prior needs. Stores override it to
    /// skip decoding the rest of each record.
    fn durations(&self, key: &EtaKey) -> Result<Vec<f64>, EtaError> {
        Ok(self.records(key)?.iter().map(|r| r.duration_secs).collect())
    }

    /// Writes the import `marker` and those of `records` not already stored in one
    /// transaction, unless the marker is already there; returns `None` when it was, else how
    /// many records it wrote.
    ///
    /// A record is already stored when one of the same key has the same duration and the same
    /// original timestamp, `ktrdr_legacy.timestamp` in its context, which every imported record
    /// must carry: so a record met again in a later version of a cache is not written twice.
    /// An import prunes nothing; the next [`EtaHistory::record`] under a key prunes it to the
    /// newest `keep` (the history's retention policy).
    fn import_once(
        &self,
        marker: &str,
        records: &[(EtaKey, DurationRecord)],
    ) -> Result<Option<usize>, EtaError>;

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

/// The original timestamp an imported record carries (`ktrdr_legacy.timestamp`), which with its
/// key and duration identifies it across imports (invariant 4).
pub(crate) fn import_origin(record: &DurationRecord) -> Option<&str> {
    record
        .context
        .get(LEGACY_CONTEXT_FIELD)?
        .get("timestamp")?
        .as_str()
}

/// Checks an import batch and picks the records to write (invariant 4), in batch order, before
/// anything is written: every record needs a valid duration and an origin ([`import_origin`]).
/// `stored(key, duration, origin)` counts the matching records already stored, asked once per
/// distinct record. A record the batch holds n times while m are stored is written n − m times:
/// a cache that really holds two equal records keeps both, and a later version of it adds
/// neither again.
pub(crate) fn records_to_import<K: Eq + Hash>(
    records: &[(EtaKey, DurationRecord)],
    mut identity: impl FnMut(&EtaKey) -> K,
    mut stored: impl FnMut(&K, f64, &str) -> Result<usize, EtaError>,
) -> Result<Vec<&(EtaKey, DurationRecord)>, EtaError> {
    // (stored, met in this batch so far) per identity.
    let mut seen: HashMap<(K, u64, &str), (usize, usize)> = HashMap::new();
    let mut out = Vec::new();
    for entry in records {
        let (key, record) = entry;
        record.validate(key)?;
        let origin = import_origin(record).ok_or_else(|| EtaError::InvalidRecord {
            key: key.to_string(),
            reason: format!(
                "an imported record needs {LEGACY_CONTEXT_FIELD}.timestamp, its identity across \
                 imports"
            ),
        })?;
        let id = (identity(key), record.duration_secs.to_bits(), origin);
        let counts = match seen.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let n = stored(&e.key().0, record.duration_secs, origin)?;
                e.insert((n, 0))
            }
        };
        counts.1 += 1;
        if counts.1 > counts.0 {
            out.push(entry);
        }
    }
    Ok(out)
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
    /// Adds `record`; returns the key's records, for the caller to prune or not (invariant 2).
    fn insert(&mut self, key: &EtaKey, record: DurationRecord) -> &mut Vec<DurationRecord> {
        let list = self.records.entry(key.clone()).or_default();
        // Invariant 1: stable insertion after every record finished no later.
        let at = list.partition_point(|r| r.finished_at <= record.finished_at);
        list.insert(at, record);
        list
    }

    fn stored(&self, key: &EtaKey, duration_secs: f64, origin: &str) -> usize {
        self.records.get(key).map_or(0, |list| {
            list.iter()
                .filter(|r| {
                    r.duration_secs.to_bits() == duration_secs.to_bits()
                        && import_origin(r) == Some(origin)
                })
                .count()
        })
    }
}

impl EtaHistory for MemoryEtaHistory {
    fn may_block(&self) -> bool {
        false
    }

    fn record(&self, key: &EtaKey, record: DurationRecord) -> Result<(), EtaError> {
        record.validate(key)?;
        let mut inner = self.lock();
        let list = inner.insert(key, record);
        // Invariant 2.
        if list.len() > self.keep {
            list.drain(..list.len() - self.keep);
        }
        Ok(())
    }

    fn records(&self, key: &EtaKey) -> Result<Vec<DurationRecord>, EtaError> {
        Ok(self.lock().records.get(key).cloned().unwrap_or_default())
    }

    fn import_once(
        &self,
        marker: &str,
        records: &[(EtaKey, DurationRecord)],
    ) -> Result<Option<usize>, EtaError> {
        let mut inner = self.lock();
        if inner.markers.contains(marker) {
            return Ok(None);
        }
        let fresh = records_to_import(records, EtaKey::clone, |key, duration, origin| {
            Ok(inner.stored(key, duration, origin))
        })?;
        // Everything that can fail has: the marker and the records go in together.
        inner.markers.insert(marker.to_owned());
        for (key, record) in &fresh {
            inner.insert(key, record.clone());
        }
        Ok(Some(fresh.len()))
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
    fn import_happens_once_and_skips_stored_records() {
        fn legacy(secs: i64, duration: f64, origin: &str) -> DurationRecord {
            let mut r = at(secs, duration);
            r.context.insert(
                LEGACY_CONTEXT_FIELD.into(),
                serde_json::json!({ "timestamp": origin }),
            );
            r
        }
        let h = MemoryEtaHistory::with_keep(1);
        let key = EtaKey::new("op").unwrap();
        let batch = vec![
            (key.clone(), legacy(0, 1.0, "t0")),
            (key.clone(), legacy(1, 2.0, "t1")),
        ];
        assert_eq!(h.import_once("m", &batch).unwrap(), Some(2));
        assert_eq!(h.import_once("m", &batch).unwrap(), None);
        assert_eq!(
            h.records(&key).unwrap().len(),
            2,
            "an import prunes nothing"
        );

        // A later version: one record gone, one new, and an exact copy of a stored one taken
        // twice (one of the two is new). Same origin with another duration is another record.
        let later = vec![
            (key.clone(), legacy(1, 2.0, "t1")),
            (key.clone(), legacy(1, 2.0, "t1")),
            (key.clone(), legacy(1, 2.5, "t1")),
            (key.clone(), legacy(2, 3.0, "t2")),
        ];
        assert_eq!(h.import_once("m2", &later).unwrap(), Some(3));
        assert_eq!(h.records(&key).unwrap().len(), 5);

        let bad = vec![(key.clone(), legacy(3, -1.0, "t3"))];
        assert!(h.import_once("other", &bad).is_err());
        let no_origin = vec![(key.clone(), at(3, 1.0))];
        assert!(matches!(
            h.import_once("other", &no_origin),
            Err(EtaError::InvalidRecord { .. })
        ));
        assert_eq!(
            h.import_once("other", &batch[..1]).unwrap(),
            Some(0),
            "a rejected batch sets no marker"
        );
        assert_eq!(h.records(&key).unwrap().len(), 5);
    }
}

//! An in-memory [`Registry`], for tests and for processes that need no persistence.
//!
//! # Invariants
//!
//! 1. Every record lives in `Inner::records` under its id, with the sequence number it was
//!    inserted with; sequence numbers only grow, so they order records created in the same
//!    microsecond.
//! 2. An idempotency key in `Inner::keys` was stored together with the record it names, under
//!    the same lock; a key whose record is gone counts as free.
//! 3. The one mutex guards all of it, so a compare-and-set is a read and a write under one lock
//!    acquisition. No user code runs under the lock.
//!
//! # Lock order
//!
//! 1. `inner` is the only lock, taken once per call and never held while calling out
//!    (`interrupt_dead_owners` copies the owners out, judges them unlocked, and moves each
//!    operation with its own `transition`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::idempotency::check_key;
use super::record::now;
use super::store::{check_record, check_transition, cleanup_cutoff, interrupt_dead};
use super::{
    CancelRequest, KeyClaim, OperationFilter, OperationList, OperationRecord, OperationStatus,
    Registry, RegistryError, TransitionPatch,
};
use crate::progress::ProgressState;

/// A [`Registry`] in memory. Records vanish with it.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    records: HashMap<String, (u64, OperationRecord)>,
    /// Idempotency key → (fingerprint, operation id, created at).
    keys: HashMap<String, StoredKey>,
}

#[derive(Debug)]
struct StoredKey {
    fingerprint: String,
    operation_id: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl Inner {
    fn insert(&mut self, record: &OperationRecord) -> Result<(), RegistryError> {
        if self.records.contains_key(&record.id) {
            return Err(RegistryError::Duplicate {
                id: record.id.clone(),
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.records
            .insert(record.id.clone(), (seq, record.clone()));
        Ok(())
    }
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below completes before anything can panic, so a poisoned map is
        // still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Registry for MemoryRegistry {
    fn may_block(&self) -> bool {
        false
    }

    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        check_record(record)?;
        self.lock().insert(record)
    }

    fn insert_idempotent(
        &self,
        record: &OperationRecord,
        key: &str,
        fingerprint: &str,
    ) -> Result<KeyClaim, RegistryError> {
        check_key(key)?;
        check_record(record)?;
        let mut inner = self.lock();
        if let Some(stored) = inner.keys.get(key) {
            // A key whose operation was deleted is free again.
            if inner.records.contains_key(&stored.operation_id) {
                let operation_id = stored.operation_id.clone();
                return Ok(if stored.fingerprint == fingerprint {
                    KeyClaim::Existing { operation_id }
                } else {
                    KeyClaim::Conflict { operation_id }
                });
            }
        }
        inner.insert(record)?;
        let stored = StoredKey {
            fingerprint: fingerprint.to_owned(),
            operation_id: record.id.clone(),
            created_at: record.created_at,
        };
        inner.keys.insert(key.to_owned(), stored);
        Ok(KeyClaim::Inserted)
    }

    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError> {
        check_transition(expected, to)?;
        let mut inner = self.lock();
        let (_, record) = inner
            .records
            .get_mut(id)
            .ok_or_else(|| RegistryError::NotFound { id: id.to_owned() })?;
        if !expected.contains(&record.status) {
            return Err(RegistryError::Conflict {
                id: id.to_owned(),
                actual: record.status,
                expected: expected.to_vec(),
                to,
            });
        }
        let now = now();
        record.status = to;
        record.updated_at = now;
        if to == OperationStatus::Running && record.started_at.is_none() {
            record.started_at = Some(now);
        }
        if to.is_terminal() {
            record.finished_at = Some(now);
        }
        if let Some(progress) = &patch.progress {
            record.progress = Some(progress.clone());
        }
        if let Some(summary) = &patch.result_summary {
            record.result_summary = Some(summary.clone());
        }
        if let Some(error) = &patch.error {
            record.error = Some(error.clone());
        }
        if let Some(reason) = &patch.cancel_reason {
            record.cancel_reason = Some(reason.clone());
        }
        Ok(())
    }

    fn update_progress(&self, id: &str, progress: &ProgressState) -> Result<bool, RegistryError> {
        let mut inner = self.lock();
        let (_, record) = inner
            .records
            .get_mut(id)
            .ok_or_else(|| RegistryError::NotFound { id: id.to_owned() })?;
        if record.status.is_terminal() {
            return Ok(false);
        }
        record.progress = Some(progress.clone());
        record.updated_at = now();
        Ok(true)
    }

    fn get(&self, id: &str) -> Result<Option<OperationRecord>, RegistryError> {
        Ok(self
            .lock()
            .records
            .get(id)
            .map(|(_, record)| record.clone()))
    }

    fn list(&self, filter: &OperationFilter) -> Result<OperationList, RegistryError> {
        let inner = self.lock();
        let active_count = inner
            .records
            .values()
            .filter(|(_, r)| r.status.is_active())
            .count();
        let mut matching: Vec<&(u64, OperationRecord)> = inner
            .records
            .values()
            .filter(|(_, r)| filter.matches(r))
            .collect();
        matching.sort_unstable_by(|(sa, a), (sb, b)| {
            b.created_at.cmp(&a.created_at).then_with(|| sb.cmp(sa))
        });
        let total_count = matching.len();
        let operations = matching
            .into_iter()
            .skip(filter.offset)
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(|(_, r)| r.clone())
            .collect();
        Ok(OperationList {
            operations,
            total_count,
            active_count,
        })
    }

    fn cancel_requests(&self, ids: &[String]) -> Result<Vec<CancelRequest>, RegistryError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| inner.records.get(id))
            .filter(|(_, r)| r.status == OperationStatus::Cancelling)
            .map(|(_, r)| CancelRequest {
                id: r.id.clone(),
                reason: r.cancel_reason.clone(),
            })
            .collect())
    }

    fn interrupt_dead_owners(&self) -> Result<Vec<String>, RegistryError> {
        let active = self
            .lock()
            .records
            .values()
            .filter(|(_, r)| r.status.is_active())
            .map(|(_, r)| (r.id.clone(), r.status, r.owner.clone()))
            .collect();
        interrupt_dead(self, active)
    }

    fn cleanup(&self, older_than: Duration) -> Result<usize, RegistryError> {
        let Some(cutoff) = cleanup_cutoff(older_than) else {
            return Ok(0);
        };
        let mut inner = self.lock();
        let before = inner.records.len();
        inner.records.retain(|_, (_, r)| {
            !(r.status.is_terminal() && r.finished_at.is_some_and(|f| f <= cutoff))
        });
        let removed = before - inner.records.len();
        // A key stays while its operation exists and is active or younger than the cut-off.
        let Inner { records, keys, .. } = &mut *inner;
        keys.retain(|_, key| {
            records
                .get(&key.operation_id)
                .is_some_and(|(_, r)| r.status.is_active() || key.created_at > cutoff)
        });
        Ok(removed)
    }
}

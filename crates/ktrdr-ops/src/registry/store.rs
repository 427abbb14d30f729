//! The [`Registry`] trait every store implements, and the argument checks they share.

use std::time::Duration;

use super::{
    CancelRequest, KeyClaim, Liveness, OperationCount, OperationFilter, OperationList,
    OperationRecord, OperationStatus, Owner, RegistryError, TransitionPatch,
};
use crate::progress::ProgressState;

/// Storage of operation records. Implementations are shared between threads and tasks.
///
/// Calls are short and synchronous (a SQLite statement takes microseconds); under another
/// process's write they may wait up to the database's busy timeout, so async code makes them
/// through `tokio::task::spawn_blocking` (as the runner does).
pub trait Registry: Send + Sync {
    /// Records a new operation. Fails with [`RegistryError::Duplicate`] if the id exists.
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError>;

    /// Records `record` (a new operation) as the one started for idempotency `key`, unless the
    /// key already names an operation. In one transaction, the key is looked up and either its
    /// operation's id is returned ([`KeyClaim::Existing`] when `fingerprint`, which identifies
    /// the request, say a hash of its body, is the one stored; [`KeyClaim::Conflict`]
    /// otherwise) and nothing is written, or the record and the key are inserted together
    /// ([`KeyClaim::Inserted`]). A key whose operation was deleted (retention) is free again.
    ///
    /// Fails like [`Registry::insert`], and with [`RegistryError::InvalidIdempotencyKey`] for
    /// a key that is empty, longer than [`MAX_KEY_LEN`](super::MAX_KEY_LEN) bytes or holds
    /// control characters.
    fn insert_idempotent(
        &self,
        record: &OperationRecord,
        key: &str,
        fingerprint: &str,
    ) -> Result<KeyClaim, RegistryError>;

    /// Compare-and-set: moves operation `id` to `to` if its status is one of `expected`, and
    /// applies `patch`. Every `expected → to` must be legal ([`OperationStatus::can_become`]),
    /// else [`RegistryError::IllegalTransition`]; a status outside `expected` gives
    /// [`RegistryError::Conflict`] and changes nothing.
    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError>;

    /// Stores the latest progress of an active operation. Returns `false`, storing nothing, if
    /// the operation is already terminal (its final progress came with the terminal write).
    fn update_progress(&self, id: &str, progress: &ProgressState) -> Result<bool, RegistryError>;

    /// The record of `id`, if any.
    fn get(&self, id: &str) -> Result<Option<OperationRecord>, RegistryError>;

    /// The records matching `filter`, newest first (creation time, then insertion order).
    ///
    /// A stored row that cannot be decoded (damaged, or written by a newer build) is left out
    /// of the page with a warning naming it, so one bad record does not hide the others; the
    /// counts still include it, and [`Registry::get`] of its id reports what is wrong.
    fn list(&self, filter: &OperationFilter) -> Result<OperationList, RegistryError>;

    /// The operations among `ids` that are `cancelling`, with the reason stored for each, in
    /// one query whatever the number of ids (a runner asks this every 250 ms about all the
    /// operations it runs, to act on cancels requested by other processes). Unknown ids are
    /// left out.
    fn cancel_requests(&self, ids: &[String]) -> Result<Vec<CancelRequest>, RegistryError>;

    /// Marks `interrupted` every active operation whose owner is provably dead
    /// ([`Owner::liveness`] is [`Liveness::Dead`]: a process of this host and PID namespace
    /// that has ended, or one of an earlier boot) and returns their ids. An owner that cannot
    /// be judged (another host or namespace) is left alone.
    ///
    /// [`SqliteRegistry::open`](super::SqliteRegistry::open) calls it; a long-lived process
    /// (the API server) calls it now and then to notice CLI processes that died since. Each
    /// operation moves by compare-and-set, so one that ends meanwhile keeps its own status.
    fn interrupt_dead_owners(&self) -> Result<Vec<String>, RegistryError>;

    /// How many operations there are of each type and status (pairs with none are left out),
    /// ordered by type, then status name. The default reads every record; a store that can
    /// count without decoding them (SQL's `GROUP BY`) overrides it.
    fn counts(&self) -> Result<Vec<OperationCount>, RegistryError> {
        let all = self.list(&OperationFilter::default())?;
        let mut counts = std::collections::BTreeMap::<(String, &str), OperationCount>::new();
        for record in all.operations {
            counts
                .entry((record.operation_type.clone(), record.status.as_str()))
                .or_insert_with(|| OperationCount {
                    operation_type: record.operation_type,
                    status: record.status,
                    count: 0,
                })
                .count += 1;
        }
        Ok(counts.into_values().collect())
    }

    /// Deletes terminal records that finished at least `older_than` ago; returns how many.
    /// `Duration::ZERO` deletes every terminal record; active records are never deleted.
    ///
    /// Idempotency keys go too: those whose operation is gone, and those created at least
    /// `older_than` ago whose operation has ended (a running operation keeps its key, so a
    /// retry does not start it twice).
    fn cleanup(&self, older_than: Duration) -> Result<usize, RegistryError>;

    /// Whether a call may wait on something outside this process (a database lock held by
    /// another process, the disk), so that async code should make it off the runtime's worker
    /// threads. True unless the store lives in memory.
    fn may_block(&self) -> bool {
        true
    }
}

/// Checks a record given to [`Registry::insert`] against the invariants the stores rely on.
pub(super) fn check_record(record: &OperationRecord) -> Result<(), RegistryError> {
    match record.invariant_violation() {
        Some(reason) => Err(RegistryError::InvalidRecord {
            id: record.id.clone(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Validates the arguments of [`Registry::transition`], shared by the stores.
pub(super) fn check_transition(
    expected: &[OperationStatus],
    to: OperationStatus,
) -> Result<(), RegistryError> {
    if expected.is_empty() {
        return Err(RegistryError::NoExpectedStatus { to });
    }
    match expected.iter().find(|from| !from.can_become(to)) {
        Some(&from) => Err(RegistryError::IllegalTransition { from, to }),
        None => Ok(()),
    }
}

/// The patch that marks an operation of a dead `owner` `interrupted`, found `status`.
pub(crate) fn owner_ended(owner: &Owner, status: OperationStatus) -> TransitionPatch {
    let Owner { pid, host, .. } = owner;
    TransitionPatch {
        error: Some(format!(
            "process {pid} on {host} ended while the operation was {status}"
        )),
        ..TransitionPatch::default()
    }
}

/// The sweep of [`Registry::interrupt_dead_owners`] over the `(id, status, owner)` of the
/// active operations a store read, judging the owners with no store lock held.
pub(super) fn interrupt_dead<R: Registry + ?Sized>(
    registry: &R,
    active: Vec<(String, OperationStatus, Owner)>,
) -> Result<Vec<String>, RegistryError> {
    let mut interrupted = Vec::new();
    for (id, status, owner) in active {
        if owner.liveness() != Liveness::Dead {
            continue;
        }
        let patch = owner_ended(&owner, status);
        match registry.transition(
            &id,
            &OperationStatus::ACTIVE,
            OperationStatus::Interrupted,
            &patch,
        ) {
            Ok(()) => {
                let Owner { pid, host, .. } = &owner;
                tracing::warn!(%id, pid, %host, "owner process ended; marked interrupted");
                interrupted.push(id);
            }
            // Finished by someone else in the meantime.
            Err(RegistryError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(interrupted)
}

/// The cut-off of [`Registry::cleanup`]; a duration too large to subtract keeps everything.
pub(super) fn cleanup_cutoff(older_than: Duration) -> Option<chrono::DateTime<chrono::Utc>> {
    let age = chrono::Duration::from_std(older_than).ok()?;
    super::record::now().checked_sub_signed(age)
}

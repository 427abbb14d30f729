//! [`Operations`], the runner: starts operations and awaits them.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::cancel_poll::{ensure_polling, Polling};
use super::live::LiveOperations;
use super::supervisor::{supervise, Supervised};
use super::{history, OperationContext, OperationError, OperationHandle, OperationsError, Started};
use crate::cancel::{CancelReason, CancellationCoordinator, Registration};
use crate::eta::{EtaHistory, TimeEstimator};
use crate::progress::{ProgressHandle, StepPlan};
use crate::registry::OperationStatus::{Cancelled, Pending};
use crate::registry::{KeyClaim, OperationRecord, Registry, RegistryError, TransitionPatch};

/// Runs operations and records them in a [`Registry`]. One per process; cheap to clone.
///
/// The work of an operation must check its token: the runner reflects a cancel in the
/// registry at once, but the work decides when it has stopped.
///
/// While it runs anything, a runner also asks the registry every 250 ms (one query for all its
/// operations) whether someone moved one of them to `cancelling` through the registry, which
/// is how [`Operations::cancel`] in another process reaches it, and cancels that operation's
/// token with the stored reason.
#[derive(Clone)]
pub struct Operations {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) registry: Arc<dyn Registry>,
    pub(super) history: Option<Arc<dyn EtaHistory>>,
    pub(super) coordinator: CancellationCoordinator,
    /// How many supervisors are running, for [`Operations::wait_idle`] and the cancel poll.
    pub(super) active: watch::Sender<usize>,
    /// The handles of the operations running now, for [`Operations::live`].
    pub(super) live: LiveOperations,
    /// Whether the cancel-request poll task runs (see `cancel_poll`).
    pub(super) polling: Mutex<Polling>,
}

impl Operations {
    /// A runner recording into `registry`, learning durations into `history` when given.
    pub fn new(registry: Arc<dyn Registry>, history: Option<Arc<dyn EtaHistory>>) -> Self {
        let inner = Inner {
            registry,
            history,
            coordinator: CancellationCoordinator::new(),
            active: watch::Sender::new(0),
            live: LiveOperations::default(),
            polling: Mutex::new(Polling::Idle),
        };
        Operations {
            inner: Arc::new(inner),
        }
    }

    /// The registry this runner records into.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.inner.registry
    }

    /// Starts an operation of type `kind` and returns at once with its handle.
    ///
    /// The metadata factors `symbol`, `timeframe`, `mode` (strings), `items` (the expected
    /// item count, for the size bucket) and the entries of `eta_factors` (a domain's own cost
    /// factors, strings or numbers), when present, select the ETA history this run learns from
    /// and adds to. Must be called inside a tokio runtime. Refused with
    /// [`OperationsError::ShuttingDown`] once [`Operations::shutdown`] has begun.
    ///
    /// Unlike the writes that follow, the `pending` insert (and the read of the ETA prior)
    /// happens on the calling thread, before this returns: the record must exist by then, so
    /// that `cancel` or a lookup of the returned id finds it and an id collision is redrawn
    /// rather than surfacing later. It is one short write; a caller on a runtime that cannot
    /// afford even that wait under another process's lock can call `run` from
    /// `tokio::task::spawn_blocking`, which still has the runtime it needs.
    pub fn run<F, Fut>(
        &self,
        kind: impl Into<String>,
        metadata: Value,
        plan: StepPlan,
        work: F,
    ) -> Result<OperationHandle, OperationsError>
    where
        F: FnOnce(OperationContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, OperationError>> + Send + 'static,
    {
        match self.run_keyed(kind.into(), metadata, plan, None, work)? {
            Started::New(handle) => Ok(handle),
            // Only a key can name an operation that exists already.
            Started::Existing(id) => Err(RegistryError::Duplicate { id }.into()),
        }
    }

    /// [`Operations::run`], or [`Operations::run_idempotent`] when `key` (key, fingerprint)
    /// is given.
    pub(super) fn run_keyed<F, Fut>(
        &self,
        kind: String,
        metadata: Value,
        plan: StepPlan,
        key: Option<(&str, &str)>,
        work: F,
    ) -> Result<Started, OperationsError>
    where
        F: FnOnce(OperationContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, OperationError>> + Send + 'static,
    {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| OperationsError::NoRuntime)?;
        if self.inner.live.is_closed() {
            return Err(OperationsError::ShuttingDown);
        }
        match self.register_new(&kind, &metadata, key)? {
            Registered::New(id, registration) => self
                .start(&runtime, id, registration, &kind, metadata, plan, work)
                .map(Started::New),
            Registered::Existing(id) => Ok(Started::Existing(id)),
        }
    }

    /// The handle of operation `id` if this runner is running it now (from its `pending`
    /// record until its terminal status is recorded), `None` otherwise: another runner or
    /// process runs it, or it has ended. Through it a server follows its own operations live
    /// ([`OperationHandle::progress`] and its watch channel); for anything else the
    /// registry's record is the source.
    pub fn live(&self, id: &str) -> Option<OperationHandle> {
        self.inner.live.get(id)
    }

    /// The ids of the operations this runner is running now, sorted.
    pub fn running_ids(&self) -> Vec<String> {
        self.inner.live.ids()
    }

    /// Seeds the ETA, spawns the supervisor of the registered, recorded operation `id` and
    /// returns its handle; if shutdown began since the caller checked, records it cancelled
    /// (reason shutdown, never run) instead and refuses.
    #[allow(
        clippy::too_many_arguments,
        reason = "one private call site per way to start"
    )]
    fn start<F, Fut>(
        &self,
        runtime: &tokio::runtime::Handle,
        id: String,
        registration: Registration,
        kind: &str,
        metadata: Value,
        plan: StepPlan,
        work: F,
    ) -> Result<OperationHandle, OperationsError>
    where
        F: FnOnce(OperationContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, OperationError>> + Send + 'static,
    {
        let progress = ProgressHandle::new(id.clone(), plan);
        let eta_key = history::eta_key(kind, &metadata)
            .inspect_err(|error| tracing::warn!(%id, %error, "no ETA history for this operation"))
            .ok();
        let prior = match (&self.inner.history, &eta_key) {
            (Some(history), Some(key)) => history::prior(history.as_ref(), key),
            _ => None,
        };
        progress.set_eta_source(Box::new(TimeEstimator::new(prior)));

        let (outcome_tx, outcome_rx) = watch::channel(None);
        let handle = OperationHandle {
            id: id.clone(),
            token: registration.token().clone(),
            progress: progress.clone(),
            outcome: outcome_rx,
        };
        let (force_tx, force_rx) = oneshot::channel();
        if self.inner.live.insert(handle.clone(), force_tx).is_err() {
            self.refuse_for_shutdown(&id);
            return Err(OperationsError::ShuttingDown);
        }
        let supervised = Supervised {
            registration,
            progress,
            eta_key,
            metadata,
            outcome: outcome_tx,
            force: force_rx,
        };
        let inner = Arc::clone(&self.inner);
        inner.active.send_modify(|n| *n += 1);
        ensure_polling(&inner, runtime);
        runtime.spawn(async move {
            let _running = RunningGuard {
                inner: Arc::clone(&inner),
                id,
            };
            supervise(inner, supervised, work).await;
        });
        Ok(handle)
    }

    /// Records `pending` operation `id`, refused by a shutdown that began while it was being
    /// recorded, as cancelled by that shutdown, so no record is left pending.
    fn refuse_for_shutdown(&self, id: &str) {
        let patch = TransitionPatch {
            cancel_reason: Some(CancelReason::Shutdown),
            error: Some("refused: the runner is shutting down".to_owned()),
            ..TransitionPatch::default()
        };
        let recorded = self
            .inner
            .registry
            .transition(id, &[Pending], Cancelled, &patch);
        if let Err(error) = recorded {
            tracing::error!(%id, %error, "could not record an operation refused at shutdown");
        }
    }

    /// Draws a fresh id, registers it with the coordinator and records the operation `pending`
    /// (with its idempotency key, if given, unless the key names an operation already).
    ///
    /// The id has 32 random bits per second (the Python format), so at thousands of operations
    /// a second two can collide (seen in the runner bench); a collision draws again instead of
    /// failing the run. Another process's record with the same id is a collision too.
    fn register_new(
        &self,
        kind: &str,
        metadata: &Value,
        key: Option<(&str, &str)>,
    ) -> Result<Registered, OperationsError> {
        let mut attempt = 1;
        loop {
            let id = new_operation_id(kind);
            let registered = self
                .inner
                .coordinator
                .register(id.clone())
                .map_err(OperationsError::from)
                .and_then(|registration| {
                    let record = OperationRecord::pending(&id, kind, metadata.clone());
                    let registry = &self.inner.registry;
                    let Some((key, fingerprint)) = key else {
                        registry.insert(&record)?;
                        return Ok(Registered::New(id.clone(), registration));
                    };
                    match registry.insert_idempotent(&record, key, fingerprint)? {
                        KeyClaim::Inserted => Ok(Registered::New(id.clone(), registration)),
                        KeyClaim::Existing { operation_id } => {
                            Ok(Registered::Existing(operation_id))
                        }
                        KeyClaim::Conflict { operation_id } => {
                            Err(OperationsError::IdempotencyConflict {
                                key: key.to_owned(),
                                operation_id,
                            })
                        }
                    }
                });
            match registered {
                Ok(registered) => return Ok(registered),
                Err(
                    OperationsError::Duplicate(_)
                    | OperationsError::Registry(RegistryError::Duplicate { .. }),
                ) if attempt < ID_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Waits until every operation started by this runner has recorded its terminal status.
    pub async fn wait_idle(&self) {
        let mut active = self.inner.active.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = active.wait_for(|n| *n == 0).await;
    }
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations")
            .field("running", &*self.inner.active.borrow())
            .field("history", &self.inner.history.is_some())
            .finish_non_exhaustive()
    }
}

/// What `register_new` did.
enum Registered {
    /// Recorded `pending` under a fresh id, registered with the coordinator.
    New(String, Registration),
    /// The idempotency key names this operation already; nothing was recorded.
    Existing(String),
}

/// Forgets the live handle and decrements the active count once the supervisor has ended,
/// even if it is dropped mid-way (its runtime shut down).
struct RunningGuard {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.inner.live.remove(&self.id);
        self.inner.active.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How many fresh ids [`Operations::run`] draws before reporting a collision; with 32 random
/// bits, a fourth collision in a row means something else is wrong.
const ID_ATTEMPTS: u32 = 4;

/// `op_{type}_{YYYYMMDD_HHMMSS}_{8 hex}`, the Python system's id format.
fn new_operation_id(kind: &str) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S");
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("op_{kind}_{stamp}_{}", &random[..8])
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_follow_the_python_format() {
        let id = super::new_operation_id("data_load");
        let rest = id.strip_prefix("op_data_load_").unwrap();
        let (stamp, hex) = rest.rsplit_once('_').unwrap();
        assert_eq!(stamp.len(), "YYYYMMDD_HHMMSS".len());
        assert!(chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S").is_ok());
        assert_eq!(hex.len(), 8);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

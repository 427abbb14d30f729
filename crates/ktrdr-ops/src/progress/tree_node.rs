//! The node of shared state behind a progress handle: one per operation, linked to the node of
//! its current sub-operation, so the nodes of nested operations form a tree.
//!
//! [`super::ProgressHandle`] (the producer side, in `handle.rs`) and
//! [`super::ProgressSubscriber`] (the read side) both hold an `Arc<Node>`. Everything that must
//! hold whoever writes lives here: the state and its lock, the coalesced wake-up flag, the ETA
//! slot, and the read that renders a [`ProgressState`].
//!
//! # Invariants
//!
//! 1. `RawState::percent` never decreases and stays in 0..=100: it is only written by
//!    [`raise`], which ignores non-finite and lower candidates and caps at 100.
//! 2. Starting a step clears the step-scoped fields (`detail`, `sub`, `child`).
//! 3. Once `phase` is finished the state never changes again (the first terminal call wins);
//!    the renderer is read-side configuration and may still be replaced.
//! 4. Wake-ups are coalesced. A writer changes the state under `state`, releases it, then sends
//!    on the watch channel only if it turns `dirty` from false to true. A subscriber read marks
//!    the channel version seen, then clears `dirty`, then locks `state`. Every change is
//!    therefore either visible to a read that cleared `dirty` after it, or followed by a send
//!    that read has not seen: no subscriber misses the latest state, and between two reads the
//!    writer pays for one send at most (the watch sender takes eight mutexes per send).
//! 5. No user code (renderer, ETA source, a `Drop` of either) runs while `state` is held:
//!    readers copy what they need and release it first; writers move replaced values out and
//!    drop them after unlocking.
//!
//! # Lock order
//!
//! 1. `state` locks of different nodes are never held together. A child releases its own before
//!    telling its parent (propagation walks upwards one lock at a time), and a snapshot releases
//!    the parent's before reading the nested child's.
//! 2. `eta` is taken only with `state` released, and nothing is taken under it; it is held
//!    only to move the source out and back, never while the source runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{
    Counter, DefaultRenderer, EtaSource, ProgressPhase, ProgressRenderer, ProgressState, StepPlan,
};
use crate::eta::Eta;

/// State shared by the handles and subscribers of one operation.
pub(super) struct Node {
    pub(super) operation_id: String,
    pub(super) plan: StepPlan,
    started_at: DateTime<Utc>,
    started: Instant,
    state: Mutex<RawState>,
    /// Invariant 4: true while a send is outstanding that no subscriber read has cleared.
    dirty: AtomicBool,
    eta: Mutex<EtaSlot>,
    pub(super) subscriber_errors: AtomicU64,
}

/// The ETA source and its last answer. A read takes the source out, samples it with no lock
/// held (invariant 5), and puts it back; a read meanwhile gets the last answer.
#[derive(Default)]
pub(super) struct EtaSlot {
    /// `None` while a reader samples it, when none was set, or after it panicked.
    pub(super) source: Option<Box<dyn EtaSource>>,
    last: Option<Eta>,
}

/// What updates write: numbers and a few strings, never rendered text.
pub(super) struct RawState {
    pub(super) phase: ProgressPhase,
    pub(super) step_index: usize,
    pub(super) detail: Option<String>,
    pub(super) sub: Option<Counter>,
    pub(super) items: Option<Counter>,
    pub(super) percent: f64,
    pub(super) error: Option<String>,
    pub(super) finished_at: Option<Instant>,
    pub(super) renderer: Arc<dyn ProgressRenderer>,
    pub(super) child: Option<Arc<Node>>,
}

impl RawState {
    /// Percent as the parent should count it: a finished sub-operation's range is done.
    pub(super) fn reported_percent(&self) -> f64 {
        if self.phase.is_finished() {
            100.0
        } else {
            self.percent
        }
    }
}

/// Invariant 1: the only writer of `percent`.
pub(super) fn raise(percent: &mut f64, candidate: f64) {
    if candidate.is_finite() && candidate > *percent {
        *percent = candidate.min(100.0);
    }
}

impl Node {
    /// A running node in step 0 at 0 %, started now.
    pub(super) fn new(
        operation_id: String,
        plan: StepPlan,
        renderer: Arc<dyn ProgressRenderer>,
    ) -> Node {
        Node {
            operation_id,
            plan,
            started_at: Utc::now(),
            started: Instant::now(),
            state: Mutex::new(RawState {
                phase: ProgressPhase::Running,
                step_index: 0,
                detail: None,
                sub: None,
                items: None,
                percent: 0.0,
                error: None,
                finished_at: None,
                renderer,
                child: None,
            }),
            dirty: AtomicBool::new(false),
            eta: Mutex::new(EtaSlot::default()),
            subscriber_errors: AtomicU64::new(0),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RawState> {
        // Only this module's short critical sections run under the lock (invariant 5) and each
        // leaves the state consistent at every step, so a poisoned lock still holds valid data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Invariant 4, writer side: true if this call turned `dirty` from false to true, so the
    /// caller must send.
    #[inline]
    pub(super) fn mark_dirty(&self) -> bool {
        // The plain load keeps the common case (a send already outstanding) free of a write to
        // the shared cache line; the `state` mutex orders it against a reader's clear.
        !self.dirty.load(Ordering::Acquire) && !self.dirty.swap(true, Ordering::AcqRel)
    }

    /// Invariant 4, reader side: the caller has already marked the channel version seen.
    pub(super) fn read_for_subscriber(&self) -> ProgressState {
        self.dirty.store(false, Ordering::Release);
        self.read()
    }

    /// Builds the rendered state; locks are taken one at a time (lock order 1, 2).
    pub(super) fn read(&self) -> ProgressState {
        let (raw, renderer, child) = {
            let s = self.lock();
            let raw = ProgressState {
                operation_id: self.operation_id.clone(),
                phase: s.phase,
                step_index: s.step_index,
                step_count: self.plan.len(),
                step_name: self.plan.name(s.step_index).unwrap_or_default().to_owned(),
                step_detail: s.detail.clone(),
                sub_progress: s.sub,
                items: s.items,
                percent: s.percent,
                message: String::new(),
                started_at: self.started_at,
                elapsed_secs: 0.0,
                eta: None,
                error: s.error.clone(),
                nested: None,
            };
            (
                (raw, s.finished_at),
                Arc::clone(&s.renderer),
                s.child.clone(),
            )
        };
        let (mut state, finished_at) = raw;
        let elapsed = finished_at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(self.started);
        state.elapsed_secs = elapsed.as_secs_f64();
        state.nested = child.map(|c| Box::new(c.read()));
        if !state.phase.is_finished() {
            state.eta = self.estimate(elapsed, state.percent / 100.0);
        }
        state.message = self.render(&*renderer, &state);
        state
    }

    pub(super) fn eta_slot(&self) -> MutexGuard<'_, EtaSlot> {
        self.eta.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Samples the ETA source outside any lock (invariant 5): a source may be slow, or even
    /// read the handle it estimates for. A read while another samples gets the last answer.
    fn estimate(&self, elapsed: std::time::Duration, fraction: f64) -> Option<Eta> {
        let mut source = {
            let mut slot = self.eta_slot();
            match slot.source.take() {
                Some(source) => source,
                None => return slot.last,
            }
        };
        let sampled = catch_unwind(AssertUnwindSafe(|| {
            source.observe(elapsed, fraction);
            source.estimate(elapsed)
        }));
        let Ok(estimate) = sampled else {
            // A source that panicked mid-update may hold anything; stop asking it (it stays
            // out of the slot unless a new source is set).
            drop(source);
            self.eta_slot().last = None;
            self.count_error("ETA source panicked; ETA disabled for this operation");
            return None;
        };
        let replaced = {
            let mut slot = self.eta_slot();
            slot.last = estimate;
            if slot.source.is_none() {
                slot.source = Some(source);
                None
            } else {
                Some(source) // a new source was set meanwhile: it wins
            }
        };
        drop(replaced);
        estimate
    }

    pub(super) fn render(&self, renderer: &dyn ProgressRenderer, state: &ProgressState) -> String {
        catch_unwind(AssertUnwindSafe(|| renderer.render(state))).unwrap_or_else(|_| {
            self.count_error("progress renderer panicked; used the default message");
            DefaultRenderer.render(state)
        })
    }

    pub(super) fn count_error(&self, what: &str) {
        let count = self.subscriber_errors.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(operation_id = %self.operation_id, errors = count, "{what}");
    }

    pub(super) fn operation_id(&self) -> &str {
        &self.operation_id
    }
}

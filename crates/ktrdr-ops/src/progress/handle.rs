//! The progress handle: the producer side of an operation's progress.
//!
//! A [`ProgressHandle`] is a thin `Arc` to a `HandleInner` (the watch sender and the link to a
//! parent), which points at a [`Node`] (`tree_node.rs`: the state every reader shares, and the
//! invariants and lock order that protect it). Subscribers hold only the `Node`, so when the
//! last handle is dropped the sender goes with it and subscribers see the channel close.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::tree_node::{raise, Node, RawState};
use super::{
    Counter, DefaultRenderer, EtaSource, ProgressError, ProgressPhase, ProgressRenderer,
    ProgressState, ProgressSubscriber, StepPlan,
};

/// The producer side of an operation's progress.
///
/// Cheap to clone (one `Arc`), `Send + Sync`; every clone drives the same state. Updates are a
/// short critical section that stores numbers; rendering and ETA estimation happen when
/// someone reads ([`snapshot`](Self::snapshot), [`ProgressSubscriber::latest`]).
///
/// A new handle is in step 0. [`next_step`](Self::next_step) finishes the current step and
/// starts the following one; [`start_step`](Self::start_step) jumps to any step. Updates after
/// [`complete`](Self::complete) or [`fail`](Self::fail) are ignored.
///
/// ```
/// use ktrdr_ops::progress::{ProgressHandle, StepPlan};
///
/// let plan = StepPlan::new([("Load", 20), ("Fetch", 80)])?;
/// let progress = ProgressHandle::new("op-7", plan);
/// progress.set_step_detail("reading MSFT_1h.csv");
/// progress.next_step()?;
/// progress.set_sub_progress(1, 4);
/// let state = progress.snapshot();
/// assert_eq!(state.percent, 40.0);
/// assert_eq!(state.step_detail, None); // step-scoped: cleared by next_step
/// assert_eq!(state.message, "[2/2] Fetch (1/4)");
/// # Ok::<(), ktrdr_ops::progress::ProgressError>(())
/// ```
#[derive(Clone)]
pub struct ProgressHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    node: Arc<Node>,
    tx: watch::Sender<()>,
    parent: Option<ParentLink>,
}

/// Where a nested handle reports: a step of its parent.
struct ParentLink {
    handle: ProgressHandle,
    step_index: usize,
}

impl ProgressHandle {
    /// Starts tracking operation `operation_id`, in step 0 of `plan`, at 0 %.
    pub fn new(operation_id: impl Into<String>, plan: StepPlan) -> ProgressHandle {
        Self::with_parent(operation_id.into(), plan, Arc::new(DefaultRenderer), None)
    }

    fn with_parent(
        operation_id: String,
        plan: StepPlan,
        renderer: Arc<dyn ProgressRenderer>,
        parent: Option<ParentLink>,
    ) -> ProgressHandle {
        let node = Arc::new(Node::new(operation_id, plan, renderer));
        let (tx, _) = watch::channel(());
        ProgressHandle {
            inner: Arc::new(HandleInner { node, tx, parent }),
        }
    }

    /// The operation id given at creation.
    pub fn operation_id(&self) -> &str {
        &self.inner.node.operation_id
    }

    /// The declared plan.
    pub fn plan(&self) -> &StepPlan {
        &self.inner.node.plan
    }

    /// Makes step `index` current and clears the step-scoped fields (detail, sub-progress,
    /// nested sub-operation). Percent rises to the step's start if it was below; going back to
    /// an earlier step never lowers it.
    ///
    /// # Errors
    ///
    /// [`ProgressError::StepOutOfRange`] if the plan has no step `index`.
    pub fn start_step(&self, index: usize) -> Result<(), ProgressError> {
        self.check_step(index)?;
        self.update(|node, s| Self::enter_step(node, s, index));
        Ok(())
    }

    /// Finishes the current step and starts the next one (see [`start_step`](Self::start_step)).
    ///
    /// # Errors
    ///
    /// [`ProgressError::StepOutOfRange`] when the current step is the last one.
    pub fn next_step(&self) -> Result<(), ProgressError> {
        let count = self.inner.node.plan.len();
        let mut out_of_range = None;
        self.update(|node, s| {
            let index = s.step_index + 1;
            if index < count {
                Self::enter_step(node, s, index)
            } else {
                out_of_range = Some(index);
                None
            }
        });
        match out_of_range {
            Some(index) => Err(ProgressError::StepOutOfRange { index, count }),
            None => Ok(()),
        }
    }

    fn check_step(&self, index: usize) -> Result<(), ProgressError> {
        let count = self.inner.node.plan.len();
        if index < count {
            Ok(())
        } else {
            Err(ProgressError::StepOutOfRange { index, count })
        }
    }

    /// Invariant 2. Returns the detached child so it is dropped after unlocking (invariant 5).
    fn enter_step(node: &Node, s: &mut RawState, index: usize) -> Option<Arc<Node>> {
        s.step_index = index;
        s.detail = None;
        s.sub = None;
        raise(&mut s.percent, node.plan.bounds(index).0);
        s.child.take()
    }

    /// Sets the free-text detail of the current step (cleared when a step starts).
    pub fn set_step_detail(&self, detail: impl Into<String>) {
        let detail = detail.into();
        self.update(|_, s| s.detail.replace(detail));
    }

    /// Reports progress within the current step: `done` of `total` units (`total` may be
    /// unknown). Percent moves within the step's range as `done/total` grows; `done > total`
    /// counts as the whole step and a `total` of 0 as nothing left to do.
    pub fn set_sub_progress(&self, done: u64, total: impl Into<Option<u64>>) {
        let sub = Counter {
            done,
            total: total.into(),
        };
        self.update(|node, s| {
            s.sub = Some(sub);
            if let Some(fraction) = sub.fraction() {
                let (start, weight) = node.plan.bounds(s.step_index);
                raise(&mut s.percent, start + weight * fraction);
            }
        });
    }

    /// Sets the operation's item count (e.g. bars fetched). Items are operation-wide: they are
    /// kept across steps and do not move the percent.
    pub fn set_items(&self, done: u64, total: impl Into<Option<u64>>) {
        let items = Counter {
            done,
            total: total.into(),
        };
        self.update(|_, s| s.items = Some(items));
    }

    /// Adds `delta` to the item count, keeping its total (for workers that each report their
    /// own share).
    pub fn add_items(&self, delta: u64) {
        self.update(|_, s| {
            let items = s.items.get_or_insert(Counter {
                done: 0,
                total: None,
            });
            items.done = items.done.saturating_add(delta);
        });
    }

    /// Marks the operation completed: percent 100, elapsed time frozen. Later updates, and a
    /// later `fail`, are ignored.
    pub fn complete(&self) {
        self.update(|_, s| {
            s.phase = ProgressPhase::Completed;
            s.percent = 100.0;
            s.finished_at = Some(Instant::now());
        });
    }

    /// Marks the operation failed with `error`; percent stays where it was. Later updates, and
    /// a later `complete`, are ignored.
    pub fn fail(&self, error: impl Into<String>) {
        self.stop(ProgressPhase::Failed, error.into());
    }

    /// Marks the operation cancelled (it has stopped), with the reason; percent stays where it
    /// was. Later updates, and a later `complete` or `fail`, are ignored.
    pub fn mark_cancelled(&self, reason: impl Into<String>) {
        self.stop(ProgressPhase::Cancelled, reason.into());
    }

    /// Ends the operation short of completion, saying why; percent stays where it was.
    fn stop(&self, phase: ProgressPhase, why: String) {
        self.update(|_, s| {
            s.phase = phase;
            s.error = Some(why);
            s.finished_at = Some(Instant::now());
        });
    }

    /// True once [`complete`](Self::complete), [`fail`](Self::fail) or
    /// [`mark_cancelled`](Self::mark_cancelled) was called.
    pub fn is_finished(&self) -> bool {
        self.inner.node.lock().phase.is_finished()
    }

    /// Replaces the renderer (the default is [`DefaultRenderer`]). Nested handles created
    /// afterwards inherit it.
    pub fn set_renderer(&self, renderer: Arc<dyn ProgressRenderer>) {
        let old = std::mem::replace(&mut self.inner.node.lock().renderer, renderer);
        drop(old); // invariant 5: a renderer's Drop runs unlocked
        self.inner.signal();
    }

    /// Attaches the estimator sampled on each read of a running operation.
    pub fn set_eta_source(&self, source: Box<dyn EtaSource>) {
        let old = { self.inner.node.eta_slot().source.replace(source) };
        drop(old); // invariant 5: a source's Drop runs unlocked
        self.inner.signal();
    }

    /// Whether the attached ETA source has a prior ([`EtaSource::has_prior`]); false without a
    /// source, and while a reader samples it.
    pub fn eta_has_prior(&self) -> bool {
        self.inner
            .node
            .eta_slot()
            .source
            .as_ref()
            .is_some_and(|s| s.has_prior())
    }

    /// The current state, rendered, with a fresh ETA sample.
    pub fn snapshot(&self) -> ProgressState {
        self.inner.node.read()
    }

    /// The state as [`complete`](Self::complete) would leave it, rendered, without completing:
    /// for the runner, which must write the final state before it knows the write wins (a
    /// cancel may overtake the success, and then the operation ends cancelled instead).
    pub(crate) fn snapshot_completed(&self) -> ProgressState {
        let node = &self.inner.node;
        let mut state = node.read();
        if state.phase.is_finished() {
            return state;
        }
        state.phase = ProgressPhase::Completed;
        state.percent = 100.0;
        state.eta = None;
        let renderer = Arc::clone(&node.lock().renderer);
        state.message = node.render(&*renderer, &state);
        state
    }

    /// A watcher of this operation's progress. Its first [`changed`] returns at once, so a
    /// display loop shows the current state before the next update.
    ///
    /// [`changed`]: ProgressSubscriber::changed
    pub fn subscribe(&self) -> ProgressSubscriber {
        let mut rx = self.inner.tx.subscribe();
        rx.mark_changed();
        ProgressSubscriber::new(Arc::clone(&self.inner.node), rx)
    }

    /// Calls `callback` with the latest state after changes, on a tokio task, until every
    /// handle is dropped (the final state is delivered). Changes that arrive while the callback
    /// runs are coalesced into the next call. An `Err` or a panic from the callback is counted
    /// in [`subscriber_errors`](Self::subscriber_errors) and logged, and the callback keeps
    /// being called. Keep callbacks short: they run on a runtime worker.
    ///
    /// # Errors
    ///
    /// [`ProgressError::NoRuntime`] when called outside a tokio runtime.
    pub fn on_update<F, E>(&self, callback: F) -> Result<tokio::task::JoinHandle<()>, ProgressError>
    where
        F: FnMut(&ProgressState) -> Result<(), E> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ProgressError::NoRuntime)?;
        Ok(runtime.spawn(self.subscribe().run_callback(callback)))
    }

    /// Failures of user code on this operation's read side so far: callback subscribers that
    /// returned an error or panicked, and panics of the renderer or the ETA source.
    pub fn subscriber_errors(&self) -> u64 {
        self.inner.node.subscriber_errors.load(Ordering::Relaxed)
    }

    /// A sub-operation with its own `plan`, reporting into the current step of this one.
    ///
    /// The sub-operation's 0..100 maps onto the current step's range of this operation's
    /// percent, and its state shows as [`ProgressState::nested`] until this operation starts
    /// another step. When the sub-operation completes, fails, or is dropped unfinished (an
    /// early return, an error), the step's whole range counts as done. The nested handle's id
    /// is `"{operation id}/{step name}"`; it inherits this handle's renderer.
    ///
    /// One sub-operation per step: a second one replaces the first as the step's `nested`, and
    /// whichever finishes first completes the step's range. Work that runs several parts at
    /// once inside one step reports them as the step's sub-progress or items instead.
    ///
    /// ```
    /// use ktrdr_ops::progress::{ProgressHandle, StepPlan};
    ///
    /// let load = ProgressHandle::new("mtf", StepPlan::new([("1h", 50), ("1m", 50)])?);
    /// let one_hour = load.nested(StepPlan::new([("Read", 20), ("Fetch", 80)])?);
    /// one_hour.next_step()?;
    /// one_hour.set_sub_progress(1, 2); // 60 % of "1h" = 30 % overall
    /// assert_eq!(load.snapshot().percent, 30.0);
    /// drop(one_hour);                  // abandoned: "1h" counts as done
    /// assert_eq!(load.snapshot().percent, 50.0);
    /// # Ok::<(), ktrdr_ops::progress::ProgressError>(())
    /// ```
    pub fn nested(&self, plan: StepPlan) -> ProgressHandle {
        let node = &self.inner.node;
        let mut s = node.lock();
        let step_index = s.step_index;
        let step_name = node.plan.name(step_index).unwrap_or_default();
        let child = Self::with_parent(
            format!("{}/{}", node.operation_id, step_name),
            plan,
            Arc::clone(&s.renderer),
            Some(ParentLink {
                handle: self.clone(),
                step_index,
            }),
        );
        let replaced = if s.phase.is_finished() {
            None
        } else {
            s.child.replace(Arc::clone(&child.inner.node))
        };
        drop(s);
        drop(replaced);
        self.inner.signal();
        child
    }

    /// Applies `f` to a running state, then wakes subscribers and tells the parent. Whatever
    /// `f` returns is dropped after the lock is released (invariant 5).
    #[inline]
    fn update<R>(&self, f: impl FnOnce(&Node, &mut RawState) -> R) {
        let inner = &*self.inner;
        let (reported, out) = {
            let mut s = inner.node.lock();
            if s.phase.is_finished() {
                tracing::debug!(
                    operation_id = %inner.node.operation_id,
                    "progress update after the operation finished, ignored"
                );
                return;
            }
            let out = f(&inner.node, &mut s);
            (s.reported_percent(), out)
        };
        drop(out);
        inner.signal();
        if let Some(link) = &inner.parent {
            link.absorb(reported);
        }
    }
}

impl ParentLink {
    /// Moves the parent's percent to `child_percent` of the linked step's range.
    fn absorb(&self, child_percent: f64) {
        let step = self.step_index;
        self.handle.update(|node, s| {
            let (start, weight) = node.plan.bounds(step);
            raise(&mut s.percent, start + weight * child_percent / 100.0);
        });
    }
}

impl HandleInner {
    /// Invariant 4, writer side.
    #[inline]
    fn signal(&self) {
        if self.node.mark_dirty() {
            self.tx.send_replace(());
        }
    }
}

impl Drop for HandleInner {
    /// The last handle of a nested operation is gone: its range of the parent's step is done,
    /// whether it finished or was abandoned, and it no longer shows as the parent's `nested`.
    fn drop(&mut self) {
        let Some(link) = &self.parent else { return };
        let own = &self.node;
        let step = link.step_index;
        link.handle.update(|node, s| {
            let (start, weight) = node.plan.bounds(step);
            raise(&mut s.percent, start + weight);
            match &s.child {
                Some(child) if Arc::ptr_eq(child, own) => s.child.take(),
                _ => None,
            }
        });
    }
}

impl std::fmt::Debug for ProgressHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.node.lock();
        f.debug_struct("ProgressHandle")
            .field("operation_id", &self.inner.node.operation_id)
            .field("phase", &s.phase)
            .field("step_index", &s.step_index)
            .field("percent", &s.percent)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eta::Eta;
    use std::time::Duration;

    fn plan3() -> StepPlan {
        StepPlan::new([("Load", 10), ("Fetch", 80), ("Save", 10)]).unwrap()
    }

    fn percent(h: &ProgressHandle) -> f64 {
        h.snapshot().percent
    }

    #[test]
    fn handles_and_subscribers_cross_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<ProgressHandle>();
        assert_send_sync::<ProgressSubscriber>();
    }

    #[test]
    fn a_new_handle_is_in_step_zero_at_zero_percent() {
        let h = ProgressHandle::new("op", plan3());
        let s = h.snapshot();
        assert_eq!((s.step_index, s.step_count), (0, 3));
        assert_eq!(s.step_name, "Load");
        assert_eq!(s.percent, 0.0);
        assert_eq!(s.phase, ProgressPhase::Running);
        assert_eq!(s.message, "[1/3] Load");
    }

    #[test]
    fn sub_progress_moves_within_the_step_range() {
        let h = ProgressHandle::new("op", plan3());
        h.next_step().unwrap();
        assert_eq!(percent(&h), 10.0);
        h.set_sub_progress(1, 4);
        assert_eq!(percent(&h), 30.0);
        h.set_sub_progress(9, 4); // done > total: the whole step, not beyond
        assert_eq!(percent(&h), 90.0);
        h.next_step().unwrap();
        h.set_sub_progress(0, 0); // nothing to do: step done
        assert_eq!(percent(&h), 100.0);
    }

    #[test]
    fn unknown_totals_do_not_move_percent() {
        let h = ProgressHandle::new("op", plan3());
        h.next_step().unwrap();
        h.set_sub_progress(500, None);
        let s = h.snapshot();
        assert_eq!(s.percent, 10.0);
        assert_eq!(
            s.sub_progress,
            Some(Counter {
                done: 500,
                total: None
            })
        );
    }

    #[test]
    fn step_scoped_fields_are_cleared_items_are_kept() {
        let h = ProgressHandle::new("op", plan3());
        h.next_step().unwrap();
        h.set_step_detail("segment 3/10");
        h.set_sub_progress(3, 10);
        h.set_items(1500, None);
        let _child = h.nested(StepPlan::single("inner"));
        assert!(h.snapshot().nested.is_some());
        h.next_step().unwrap();
        let s = h.snapshot();
        assert_eq!(s.step_name, "Save");
        assert_eq!(s.step_detail, None);
        assert_eq!(s.sub_progress, None);
        assert_eq!(s.nested, None);
        assert_eq!(
            s.items,
            Some(Counter {
                done: 1500,
                total: None
            })
        );
    }

    #[test]
    fn add_items_accumulates_and_keeps_the_total() {
        let h = ProgressHandle::new("op", plan3());
        h.add_items(5);
        h.set_items(10, 100);
        h.add_items(7);
        assert_eq!(
            h.snapshot().items,
            Some(Counter {
                done: 17,
                total: Some(100)
            })
        );
        h.add_items(u64::MAX);
        assert_eq!(h.snapshot().items.unwrap().done, u64::MAX);
    }

    #[test]
    fn going_back_a_step_never_lowers_percent() {
        let h = ProgressHandle::new("op", plan3());
        h.start_step(2).unwrap();
        assert_eq!(percent(&h), 90.0);
        h.start_step(1).unwrap();
        h.set_sub_progress(1, 2);
        let s = h.snapshot();
        assert_eq!(s.step_name, "Fetch");
        assert_eq!(s.percent, 90.0);
    }

    #[test]
    fn out_of_range_steps_are_typed_errors() {
        let h = ProgressHandle::new("op", plan3());
        assert_eq!(
            h.start_step(3),
            Err(ProgressError::StepOutOfRange { index: 3, count: 3 })
        );
        h.start_step(2).unwrap();
        assert_eq!(
            h.next_step(),
            Err(ProgressError::StepOutOfRange { index: 3, count: 3 })
        );
        assert_eq!(h.snapshot().step_index, 2);
    }

    #[test]
    fn first_terminal_call_wins_and_freezes_the_state() {
        let h = ProgressHandle::new("op", plan3());
        h.next_step().unwrap();
        h.set_sub_progress(1, 2);
        h.fail("gateway down");
        h.complete();
        h.set_sub_progress(2, 2);
        h.next_step().unwrap();
        let s = h.snapshot();
        assert_eq!(s.phase, ProgressPhase::Failed);
        assert_eq!(s.error.as_deref(), Some("gateway down"));
        assert_eq!(s.percent, 50.0);
        assert_eq!(s.step_index, 1);
        assert!(h.is_finished());

        let h = ProgressHandle::new("op", plan3());
        h.complete();
        h.fail("late");
        let s = h.snapshot();
        assert_eq!(
            (s.phase, s.percent, s.error),
            (ProgressPhase::Completed, 100.0, None)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn elapsed_runs_then_freezes_at_finish() {
        let h = ProgressHandle::new("op", plan3());
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(h.snapshot().elapsed_secs, 3.0);
        h.complete();
        tokio::time::advance(Duration::from_secs(10)).await;
        let s = h.snapshot();
        assert_eq!(s.elapsed_secs, 3.0);
        assert_eq!(s.message, "Completed in 3s");
    }

    #[test]
    fn nested_maps_into_the_parent_step_and_completes_its_range() {
        let parent = ProgressHandle::new("mtf", StepPlan::new([("1h", 40), ("1m", 60)]).unwrap());
        parent.next_step().unwrap();
        let child = parent.nested(StepPlan::new([("Read", 50), ("Fetch", 50)]).unwrap());
        assert_eq!(child.operation_id(), "mtf/1m");
        child.next_step().unwrap();
        child.set_sub_progress(1, 2); // child 75 % → 40 + 0.75 * 60
        let s = parent.snapshot();
        assert_eq!(s.percent, 85.0);
        let nested = s.nested.expect("child shows while the step runs");
        assert_eq!(nested.percent, 75.0);
        assert_eq!(nested.step_name, "Fetch");
        assert_eq!(s.message, "[2/2] 1m › [2/2] Fetch (1/2)");
        child.complete();
        assert_eq!(percent(&parent), 100.0);
        assert_eq!(parent.snapshot().phase, ProgressPhase::Running);
    }

    #[test]
    fn a_failed_child_counts_its_range_as_done() {
        let parent = ProgressHandle::new("p", StepPlan::new([("a", 30), ("b", 70)]).unwrap());
        let child = parent.nested(StepPlan::single("x"));
        child.fail("no data");
        assert_eq!(percent(&parent), 30.0);
        assert_eq!(parent.snapshot().phase, ProgressPhase::Running);
    }

    #[test]
    fn dropping_a_child_clone_keeps_it_alive_dropping_the_last_finishes_its_range() {
        let parent = ProgressHandle::new("p", StepPlan::new([("a", 30), ("b", 70)]).unwrap());
        let child = parent.nested(StepPlan::single("x"));
        let clone = child.clone();
        drop(child);
        assert_eq!(percent(&parent), 0.0);
        assert!(parent.snapshot().nested.is_some());
        drop(clone);
        let s = parent.snapshot();
        assert_eq!(s.percent, 30.0);
        assert_eq!(s.nested, None);
    }

    #[test]
    fn nesting_three_levels_deep_propagates_to_the_root() {
        let root = ProgressHandle::new("r", StepPlan::new([("a", 50), ("b", 50)]).unwrap());
        let mid = root.nested(StepPlan::new([("c", 50), ("d", 50)]).unwrap());
        let leaf = mid.nested(StepPlan::single("e"));
        leaf.set_sub_progress(1, 2); // leaf 50 → mid 25 → root 12.5
        assert_eq!(percent(&root), 12.5);
        let s = root.snapshot();
        assert_eq!(s.nested.unwrap().nested.unwrap().operation_id, "r/a/c");
        drop(leaf); // mid step c done → mid 50 → root 25
        assert_eq!(percent(&root), 25.0);
    }

    #[test]
    fn a_newer_child_replaces_the_shown_one_and_the_old_drop_does_not_unlink_it() {
        let parent = ProgressHandle::new("p", StepPlan::new([("a", 30), ("b", 70)]).unwrap());
        let first = parent.nested(StepPlan::single("first"));
        let second = parent.nested(StepPlan::single("second"));
        drop(first);
        let s = parent.snapshot();
        assert_eq!(s.nested.map(|n| n.step_name), Some("second".to_owned()));
        assert_eq!(s.percent, 30.0);
        drop(second);
    }

    #[test]
    fn a_child_of_a_finished_parent_is_detached() {
        let parent = ProgressHandle::new("p", StepPlan::single("a"));
        parent.fail("stop");
        let child = parent.nested(StepPlan::single("x"));
        child.complete();
        drop(child);
        let s = parent.snapshot();
        assert_eq!(
            (s.phase, s.percent, s.nested),
            (ProgressPhase::Failed, 0.0, None)
        );
    }

    #[test]
    fn a_panicking_renderer_falls_back_and_is_counted() {
        struct Broken;
        impl ProgressRenderer for Broken {
            fn render(&self, _: &ProgressState) -> String {
                panic!("renderer bug")
            }
        }
        let h = ProgressHandle::new("op", plan3());
        h.set_renderer(Arc::new(Broken));
        assert_eq!(h.snapshot().message, "[1/3] Load");
        assert_eq!(h.subscriber_errors(), 1);
    }

    #[test]
    fn a_panicking_eta_source_is_disabled_and_counted() {
        struct Broken;
        impl EtaSource for Broken {
            fn observe(&mut self, _: Duration, _: f64) {
                panic!("estimator bug")
            }
            fn estimate(&self, _: Duration) -> Option<Eta> {
                None
            }
        }
        let h = ProgressHandle::new("op", plan3());
        h.set_eta_source(Box::new(Broken));
        assert_eq!(h.snapshot().eta, None);
        assert_eq!(h.snapshot().eta, None);
        assert_eq!(h.subscriber_errors(), 1, "the broken source is asked once");
    }

    #[test]
    fn an_eta_source_may_read_its_own_handle() {
        // Sampling under the ETA lock would deadlock here.
        type Seen = Arc<std::sync::Mutex<Vec<Option<Eta>>>>;
        struct Curious(Arc<std::sync::Mutex<Option<ProgressHandle>>>, Seen);
        impl EtaSource for Curious {
            fn observe(&mut self, _: Duration, _: f64) {}
            fn estimate(&self, _: Duration) -> Option<Eta> {
                let handle = self.0.lock().unwrap().clone()?;
                // The inner read finds the source out and answers with the last estimate.
                self.1.lock().unwrap().push(handle.snapshot().eta);
                Some(Eta {
                    remaining_secs: 5.0,
                    low_secs: 4.0,
                    high_secs: 6.0,
                })
            }
        }
        let cell = Arc::new(std::sync::Mutex::new(None));
        let seen: Seen = Arc::default();
        let h = ProgressHandle::new("op", plan3());
        h.set_eta_source(Box::new(Curious(Arc::clone(&cell), Arc::clone(&seen))));
        *cell.lock().unwrap() = Some(h.clone());
        assert_eq!(h.snapshot().eta.map(|e| e.remaining_secs), Some(5.0));
        assert_eq!(h.snapshot().eta.map(|e| e.remaining_secs), Some(5.0));
        cell.lock().unwrap().take(); // break the cycle
        let inner: Vec<Option<f64>> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.map(|e| e.remaining_secs))
            .collect();
        assert_eq!(inner, [None, Some(5.0)]);
    }

    #[test]
    fn user_code_runs_without_the_state_lock() {
        // A renderer that writes to the same handle would deadlock if rendering held the lock.
        struct Reentrant(std::sync::Mutex<Option<ProgressHandle>>);
        impl ProgressRenderer for Reentrant {
            fn render(&self, s: &ProgressState) -> String {
                if let Some(h) = self.0.lock().unwrap().as_ref() {
                    h.set_step_detail("touched by the renderer");
                }
                s.step_name.clone()
            }
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let h = ProgressHandle::new("op", plan3());
            let renderer = Arc::new(Reentrant(std::sync::Mutex::new(Some(h.clone()))));
            h.set_renderer(renderer.clone());
            h.snapshot();
            let detail = h.snapshot().step_detail;
            renderer.0.lock().unwrap().take(); // break the handle ↔ renderer cycle
            let _ = done_tx.send(detail);
        });
        let detail = done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("rendering deadlocked on the state lock");
        assert_eq!(detail.as_deref(), Some("touched by the renderer"));
    }
}

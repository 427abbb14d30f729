//! The cancellation token and its tree.
//!
//! # Invariants
//!
//! 1. `reason` is set at most once (first cancel wins) and always *before* `cancelled` is stored
//!    with `Release`; a reader that sees `cancelled == true` with `Acquire` therefore sees the
//!    reason.
//! 2. Once `cancelled` is true it never becomes false.
//! 3. A child registered in `children` is cancelled when its parent is; a child created after
//!    its parent was cancelled starts cancelled. Both hold because `child_token` reads the
//!    parent's flag *under* the `children` lock, and `cancel` sets the flag *before* taking that
//!    lock to drain the list.
//! 4. Cancellation flows downwards only. Links are strong upwards (a child keeps its parent
//!    alive) and weak downwards, so a dropped intermediate token still carries cancellation to
//!    the descendants that hold it, there are no cycles, and dropped leaves are pruned.
//!
//! # Lock order
//!
//! 1. At most one `children` lock is held at any time: `cancel` drains the list, releases the
//!    lock, then cancels each child. No lock is held while waking waiters.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::{CancelReason, Cancelled};

/// Child lists are pruned of dropped children when they reach this length, and again each time
/// they double, so a long-lived parent with many short-lived children stays small (amortised O(1)).
const PRUNE_AT: usize = 16;

/// A cancellation signal that can be shared across tasks and threads.
///
/// Cloning is cheap (one `Arc`). All clones observe the same state. [`child_token`] derives a
/// token that is cancelled with its parent but can be cancelled alone.
///
/// ```
/// use ktrdr_ops::cancel::{CancelReason, CancellationToken};
///
/// let op = CancellationToken::new();
/// let fetch = op.child_token();
/// op.cancel(CancelReason::User);
/// assert!(fetch.is_cancelled());
/// assert_eq!(fetch.reason(), Some(CancelReason::Parent(Box::new(CancelReason::User))));
/// assert!(fetch.check().is_err());
/// ```
///
/// [`child_token`]: CancellationToken::child_token
#[derive(Clone, Default)]
pub struct CancellationToken {
    node: Arc<Node>,
}

#[derive(Default)]
struct Node {
    cancelled: AtomicBool,
    reason: OnceLock<CancelReason>,
    /// Wakes `cancelled().await` waiters; used standalone, never as a tree.
    waiters: tokio_util::sync::CancellationToken,
    children: Mutex<Children>,
    /// Keeps the chain to the root alive for invariant 4; never read.
    _parent: Option<Arc<Node>>,
    /// The deadline task of a [`CancellationToken::with_timeout`] token, stopped when the
    /// token goes.
    timer: Timer,
}

/// Aborts the deadline task when its token is dropped: the task holds the token only weakly,
/// so a token used for one short call leaves nothing behind until its deadline.
#[derive(Default)]
struct Timer(OnceLock<tokio::task::AbortHandle>);

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}

#[derive(Default)]
struct Children {
    nodes: Vec<Weak<Node>>,
    prune_at: usize,
}

impl std::fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .field("reason", &self.reason())
            .finish()
    }
}

impl CancellationToken {
    /// A new, live token with no parent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the token has been cancelled: one atomic load, cheap enough for per-item loops.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.load(Ordering::Acquire)
    }

    /// Cancels this token and all its descendants.
    ///
    /// The first reason wins; later calls change nothing and return `false`.
    pub fn cancel(&self, reason: CancelReason) -> bool {
        self.node.cancel(reason)
    }

    /// Why the token was cancelled, or `None` while it is live.
    pub fn reason(&self) -> Option<CancelReason> {
        if self.is_cancelled() {
            self.node.reason.get().cloned()
        } else {
            None
        }
    }

    /// `Err(Cancelled)` once cancelled, for `?` propagation at checkpoints.
    #[inline]
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled {
                reason: self.node.reason_or_user(),
            })
        } else {
            Ok(())
        }
    }

    /// A token cancelled whenever this one is (with reason [`CancelReason::Parent`]), which can
    /// also be cancelled on its own without affecting this one.
    pub fn child_token(&self) -> CancellationToken {
        let child = Arc::new(Node {
            _parent: Some(Arc::clone(&self.node)),
            ..Node::default()
        });
        let mut children = lock(&self.node.children);
        // Invariant 3: the flag is read under the lock.
        if self.is_cancelled() {
            drop(children);
            child.cancel(CancelReason::Parent(Box::new(self.node.reason_or_user())));
        } else {
            children.push(Arc::downgrade(&child));
        }
        CancellationToken { node: child }
    }

    /// Completes with the reason once the token is cancelled, at once if it already is,
    /// whichever thread (async or not) cancels it.
    pub async fn cancelled(&self) -> CancelReason {
        self.node.waiters.cancelled().await;
        self.node.reason_or_user()
    }

    /// A child token that is also cancelled with [`CancelReason::Timeout`] after `after`.
    ///
    /// Must be called inside a tokio runtime (the deadline is a spawned timer task, which ends
    /// as soon as the child is cancelled by any means or dropped).
    pub fn with_timeout(&self, after: Duration) -> CancellationToken {
        let child = self.child_token();
        let node = Arc::downgrade(&child.node);
        let waiters = child.node.waiters.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(after) => {
                    if let Some(node) = node.upgrade() {
                        node.cancel(CancelReason::Timeout);
                    }
                }
                _ = waiters.cancelled() => {}
            }
        });
        // A fresh node: the slot is empty.
        let _ = child.node.timer.0.set(task.abort_handle());
        child
    }

    /// Runs `fut` to completion unless the token is cancelled first, in which case `fut` is
    /// dropped at its current await point and `Err(Cancelled)` is returned.
    pub async fn run_until_cancelled<F: Future>(&self, fut: F) -> Result<F::Output, Cancelled> {
        tokio::select! {
            biased;
            reason = self.cancelled() => Err(Cancelled { reason }),
            out = fut => Ok(out),
        }
    }
}

impl Node {
    fn cancel(&self, reason: CancelReason) -> bool {
        let parent_reason = CancelReason::Parent(Box::new(reason.clone()));
        if self.reason.set(reason).is_err() {
            return false;
        }
        // Invariant 1: reason first, then the flag.
        self.cancelled.store(true, Ordering::Release);
        // Invariant 3 and lock order 1: drain under the lock, cancel outside it.
        let children = std::mem::take(&mut lock(&self.children).nodes);
        self.waiters.cancel();
        for child in children.iter().filter_map(Weak::upgrade) {
            child.cancel(parent_reason.clone());
        }
        true
    }

    /// The reason of a cancelled node. Only `cancel` sets the flag, after the reason, so the
    /// fallback is unreachable; it exists to avoid a panic path.
    fn reason_or_user(&self) -> CancelReason {
        self.reason.get().cloned().unwrap_or(CancelReason::User)
    }
}

impl Children {
    fn push(&mut self, child: Weak<Node>) {
        if self.nodes.len() >= self.prune_at.max(PRUNE_AT) {
            self.nodes.retain(|c| c.strong_count() > 0);
            self.prune_at = self.nodes.len() * 2;
        }
        self.nodes.push(child);
    }
}

/// A poisoned lock only means another thread panicked while pushing a `Weak`; the list is
/// still valid, so recover it rather than propagate the panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn first_reason_wins() {
        let t = CancellationToken::new();
        assert!(t.reason().is_none());
        assert!(t.cancel(CancelReason::Timeout));
        assert!(!t.cancel(CancelReason::User));
        assert_eq!(t.reason(), Some(CancelReason::Timeout));
        assert_eq!(t.check().unwrap_err().reason, CancelReason::Timeout);
    }

    #[test]
    fn clones_share_state() {
        let t = CancellationToken::new();
        let c = t.clone();
        c.cancel(CancelReason::Shutdown);
        assert!(t.is_cancelled());
    }

    #[test]
    fn parent_cancel_reaches_three_levels_never_upwards() {
        let root = CancellationToken::new();
        let a = root.child_token();
        let b = a.child_token();
        let c = b.child_token();
        let sibling = root.child_token();

        b.cancel(CancelReason::Error("disk full".into()));
        assert!(c.is_cancelled() && b.is_cancelled());
        assert!(!a.is_cancelled() && !root.is_cancelled() && !sibling.is_cancelled());

        root.cancel(CancelReason::User);
        assert!(a.is_cancelled() && sibling.is_cancelled());
        let parent_user = CancelReason::Parent(Box::new(CancelReason::User));
        assert_eq!(a.reason(), Some(parent_user));
        // c keeps the reason it got first, from b.
        assert_eq!(
            c.reason(),
            Some(CancelReason::Parent(Box::new(CancelReason::Error(
                "disk full".into()
            ))))
        );
    }

    #[test]
    fn three_level_tree_from_root() {
        let root = CancellationToken::new();
        let leaves: Vec<_> = (0..3)
            .map(|_| root.child_token().child_token().child_token())
            .collect();
        root.cancel(CancelReason::Shutdown);
        for leaf in &leaves {
            assert!(leaf.is_cancelled());
            assert!(matches!(leaf.reason(), Some(CancelReason::Parent(_))));
        }
    }

    #[test]
    fn child_of_cancelled_parent_starts_cancelled() {
        let root = CancellationToken::new();
        root.cancel(CancelReason::User);
        let child = root.child_token();
        assert!(child.is_cancelled());
        assert_eq!(
            child.reason(),
            Some(CancelReason::Parent(Box::new(CancelReason::User)))
        );
    }

    #[test]
    fn dropped_children_are_pruned() {
        let root = CancellationToken::new();
        for _ in 0..10_000 {
            let _ = root.child_token();
        }
        let live = root.child_token();
        assert!(lock(&root.node.children).nodes.len() <= 2 * PRUNE_AT);
        root.cancel(CancelReason::User);
        assert!(live.is_cancelled());
    }

    #[test]
    fn concurrent_child_creation_and_cancel_never_leaves_a_live_child() {
        for _ in 0..200 {
            let root = CancellationToken::new();
            let r = root.clone();
            let creator =
                std::thread::spawn(move || (0..50).map(|_| r.child_token()).collect::<Vec<_>>());
            root.cancel(CancelReason::User);
            let children = creator.join().unwrap();
            assert!(children.iter().all(CancellationToken::is_cancelled));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancel_from_std_thread_wakes_awaiting_task_quickly() {
        let token = CancellationToken::new();
        let waiter = {
            let token = token.clone();
            tokio::spawn(async move {
                let reason = token.cancelled().await;
                (reason, Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sent = std::thread::spawn({
            let token = token.clone();
            move || {
                let at = Instant::now();
                token.cancel(CancelReason::Remote("api".into()));
                at
            }
        })
        .join()
        .unwrap();
        let (reason, woke) = waiter.await.unwrap();
        assert_eq!(reason, CancelReason::Remote("api".into()));
        let latency = woke.saturating_duration_since(sent);
        assert!(
            latency < Duration::from_millis(10),
            "woke after {latency:?}"
        );
    }

    #[tokio::test]
    async fn cancelled_returns_at_once_when_already_cancelled() {
        let token = CancellationToken::new();
        token.cancel(CancelReason::User);
        assert_eq!(token.cancelled().await, CancelReason::User);
    }

    #[tokio::test(start_paused = true)]
    async fn with_timeout_cancels_with_timeout_reason() {
        let root = CancellationToken::new();
        let timed = root.with_timeout(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert!(!timed.is_cancelled());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(timed.reason(), Some(CancelReason::Timeout));
        assert!(!root.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_timed_token_leaves_nothing_behind() {
        let root = CancellationToken::new();
        let timed = root.with_timeout(Duration::from_secs(3600));
        let grandchild = timed.child_token();
        assert_eq!(
            Arc::strong_count(&root.node),
            2,
            "the timed child holds its parent"
        );
        drop((timed, grandchild));
        tokio::task::yield_now().await;
        // Neither the timer task nor anything else keeps the chain alive until the deadline.
        assert_eq!(Arc::strong_count(&root.node), 1);
        assert!(!root.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn parent_cancel_beats_timeout() {
        let root = CancellationToken::new();
        let timed = root.with_timeout(Duration::from_secs(30));
        root.cancel(CancelReason::User);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            timed.reason(),
            Some(CancelReason::Parent(Box::new(CancelReason::User)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_until_cancelled_drops_the_future() {
        let token = CancellationToken::new();
        let t = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            t.cancel(CancelReason::User);
        });
        let out = token
            .run_until_cancelled(tokio::time::sleep(Duration::from_secs(3600)))
            .await;
        assert_eq!(out.unwrap_err().reason, CancelReason::User);

        let live = CancellationToken::new();
        assert_eq!(live.run_until_cancelled(async { 7 }).await.unwrap(), 7);
    }

    #[test]
    fn token_is_send_sync_unwind_safe() {
        fn assert_traits<T: Send + Sync + Clone + std::panic::UnwindSafe>() {}
        assert_traits::<CancellationToken>();
    }
}

//! loom model of the cancellation token's protocol (`src/cancel/token.rs`), checking its
//! documented invariants under every interleaving loom explores:
//!
//! 1. the first cancel reason wins, and a reader that sees the token cancelled sees its reason;
//! 2. cancelling a parent reaches every child, also one created concurrently;
//! 3. cancellation never flows upwards.
//!
//! loom can only run `loom::sync` types, so this is a model of the token's state machine, built
//! step for step on the same protocol with loom's types: the reason is set once (the real
//! `OnceLock`: a compare-and-set with release, read with acquire), *then* the flag is stored with
//! `Release`; `child_token` reads the parent's flag under the parent's `children` lock, and
//! `cancel` sets the flag before it takes that lock to drain the list. Keep it in step with
//! `token.rs`. Run with
//! `RUSTFLAGS="--cfg ktrdr_loom" cargo test -p ktrdr-ops --test loom_cancel --release`.

#![cfg(ktrdr_loom)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use loom::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// A reason: the root cause in the low byte, how many `Parent` wrappers in the high byte.
type Reason = u16;
const USER: Reason = 1;
const TIMEOUT: Reason = 2;
const ERROR: Reason = 3;
/// No reason yet (the empty `OnceLock`).
const UNSET: Reason = 0;

fn parent(r: Reason) -> Reason {
    r + 0x100
}

#[derive(Default)]
struct Node {
    cancelled: AtomicBool,
    reason: AtomicU16,
    children: Mutex<Vec<Arc<Node>>>,
}

impl Node {
    /// `Node::cancel`: reason first (first wins), then the flag, then drain and recurse.
    fn cancel(&self, reason: Reason) -> bool {
        if self
            .reason
            .compare_exchange(UNSET, reason, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.cancelled.store(true, Ordering::Release);
        let children = std::mem::take(&mut *self.children.lock().unwrap());
        for child in children {
            child.cancel(parent(reason));
        }
        true
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// `CancellationToken::reason`.
    fn reason(&self) -> Option<Reason> {
        if self.is_cancelled() {
            Some(self.reason.load(Ordering::Acquire))
        } else {
            None
        }
    }
}

/// `CancellationToken::child_token` of `node`: its flag is read under its `children` lock.
fn child_of(node: &Arc<Node>) -> Arc<Node> {
    let child = Arc::new(Node::default());
    let mut children = node.children.lock().unwrap();
    if node.is_cancelled() {
        drop(children);
        child.cancel(parent(node.reason.load(Ordering::Acquire)));
    } else {
        children.push(Arc::clone(&child));
    }
    child
}

#[test]
fn the_first_reason_wins_and_a_cancelled_token_has_its_reason() {
    loom::model(|| {
        let token = Arc::new(Node::default());
        let cancel = |reason| {
            let token = Arc::clone(&token);
            thread::spawn(move || token.cancel(reason).then_some(reason))
        };
        let (a, b) = (cancel(USER), cancel(TIMEOUT));
        let reader = {
            let token = Arc::clone(&token);
            thread::spawn(move || token.reason())
        };
        let winners: Vec<Reason> = [a, b]
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one cancel wins");
        assert_eq!(token.reason(), Some(winners[0]));
        match reader.join().unwrap() {
            None => {}
            Some(seen) => assert_eq!(seen, winners[0], "seen cancelled, so seen the reason"),
        }
    });
}

#[test]
fn a_parent_cancel_reaches_a_child_created_concurrently() {
    loom::model(|| {
        let root = Arc::new(Node::default());
        let maker = {
            let root = Arc::clone(&root);
            thread::spawn(move || child_of(&root))
        };
        let canceller = {
            let root = Arc::clone(&root);
            thread::spawn(move || root.cancel(USER))
        };
        let child = maker.join().unwrap();
        assert!(canceller.join().unwrap());
        assert_eq!(child.reason(), Some(parent(USER)), "the child was missed");
    });
}

#[test]
fn cancellation_flows_down_to_every_descendant_and_never_up() {
    loom::model(|| {
        let root = Arc::new(Node::default());
        let mid = child_of(&root);
        let leaf = child_of(&mid);
        let sibling = child_of(&root);
        let below = {
            let mid = Arc::clone(&mid);
            thread::spawn(move || mid.cancel(ERROR))
        };
        let above = {
            let root = Arc::clone(&root);
            thread::spawn(move || root.cancel(USER))
        };
        below.join().unwrap();
        assert!(
            above.join().unwrap(),
            "a child's cancel never reaches its parent"
        );
        assert_eq!(root.reason(), Some(USER));
        assert_eq!(sibling.reason(), Some(parent(USER)));
        // The middle token keeps whichever reason came first; its child follows it.
        let mid_reason = mid.reason().unwrap();
        assert!(
            mid_reason == ERROR || mid_reason == parent(USER),
            "{mid_reason:#x}"
        );
        assert_eq!(leaf.reason(), Some(parent(mid_reason)));
    });
}

#[test]
fn a_child_cancel_alone_leaves_the_parent_live() {
    loom::model(|| {
        let root = Arc::new(Node::default());
        let child = child_of(&root);
        let t = {
            let child = Arc::clone(&child);
            thread::spawn(move || child.cancel(TIMEOUT))
        };
        let late = child_of(&root);
        assert!(t.join().unwrap());
        assert_eq!(root.reason(), None);
        assert_eq!(late.reason(), None);
        assert_eq!(child.reason(), Some(TIMEOUT));
    });
}

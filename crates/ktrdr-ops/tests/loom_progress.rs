//! loom model of the progress tree's protocol (`src/progress/tree_node.rs` and `handle.rs`),
//! checking its documented invariants under every interleaving loom explores:
//!
//! 1. percent never decreases, whatever updates race (a nested operation's progress flowing up
//!    into its parent's step, the parent moving to another step, direct updates);
//! 2. (invariant 4 of `tree_node.rs`) no subscriber misses the latest state: after a writer's
//!    change, either a read that cleared `dirty` after it sees it, or a send that read has not
//!    seen is outstanding.
//!
//! loom can only run `loom::sync` types, so this is a model built step for step on the same
//! protocol with loom's types: each node's state under its own mutex, written only through
//! `raise`; a child releases its lock before it updates its parent (lock order 1); a writer
//! sends on the watch channel (here a version counter) only when it turns `dirty` from false to
//! true, after releasing the state; a subscriber marks the version seen, clears `dirty`, then
//! locks the state. Keep it in step with the real code. Run with
//! `RUSTFLAGS="--cfg ktrdr_loom" cargo test -p ktrdr-ops --test loom_progress --release`.

#![cfg(ktrdr_loom)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Percent in hundredths, so the model's arithmetic is exact.
type Percent = u32;
const FULL: Percent = 10_000;

/// A plan of two steps: (start, weight) in hundredths of the whole.
const STEPS: [(Percent, Percent); 2] = [(0, 4_000), (4_000, 6_000)];

struct State {
    step: usize,
    percent: Percent,
}

/// `RawState` and the `Node` around it; `parent` is the nested handle's `ParentLink`.
struct Node {
    state: Mutex<State>,
    dirty: AtomicBool,
    /// The watch channel's version: one more per send.
    version: AtomicUsize,
    parent: Option<(Arc<Node>, usize)>,
}

/// Invariant 1: the only writer of `percent`.
fn raise(percent: &mut Percent, candidate: Percent) {
    if candidate > *percent {
        *percent = candidate.min(FULL);
    }
}

impl Node {
    fn new(parent: Option<(Arc<Node>, usize)>) -> Arc<Node> {
        Arc::new(Node {
            state: Mutex::new(State {
                step: 0,
                percent: 0,
            }),
            dirty: AtomicBool::new(false),
            version: AtomicUsize::new(0),
            parent,
        })
    }

    /// `ProgressHandle::update`: change under the lock, release it, signal, tell the parent.
    fn update(&self, f: &dyn Fn(&mut State)) {
        let reported = {
            let mut s = self.state.lock().unwrap();
            f(&mut s);
            s.percent
        };
        self.signal();
        if let Some((parent, step)) = &self.parent {
            let (start, weight) = STEPS[*step];
            parent.update(&|s| raise(&mut s.percent, start + weight * reported / FULL));
        }
    }

    /// `HandleInner::signal` (invariant 4, writer side).
    fn signal(&self) {
        if !self.dirty.load(Ordering::Acquire) && !self.dirty.swap(true, Ordering::AcqRel) {
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// `set_sub_progress(done, total)` on a one-step plan: the fraction of the whole.
    fn set_fraction(&self, done: Percent, total: Percent) {
        self.update(&|s| raise(&mut s.percent, FULL * done / total));
    }

    /// `start_step`: percent rises to the step's start if below, never lowers.
    fn start_step(&self, index: usize) {
        self.update(&|s| {
            s.step = index;
            raise(&mut s.percent, STEPS[index].0);
        });
    }

    fn percent(&self) -> Percent {
        self.state.lock().unwrap().percent
    }

    /// `ProgressSubscriber::latest`: mark the version seen, clear `dirty`, read.
    fn read_for_subscriber(&self) -> (usize, Percent) {
        let seen = self.version.load(Ordering::Acquire);
        self.dirty.store(false, Ordering::Release);
        (seen, self.percent())
    }
}

/// loom's exhaustive search, bounded to three preemptions per run (loom's advice: bugs need
/// few), which keeps both models within seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn percent_never_decreases_under_concurrent_updates() {
    model(|| {
        let root = Node::new(None);
        let child = Node::new(Some((Arc::clone(&root), 0)));
        let worker = {
            let child = Arc::clone(&child);
            thread::spawn(move || child.set_fraction(3, 4))
        };
        let stepper = {
            let root = Arc::clone(&root);
            thread::spawn(move || root.start_step(1))
        };
        let first = root.percent();
        let second = root.percent();
        assert!(second >= first, "percent went back: {first} then {second}");
        worker.join().unwrap();
        stepper.join().unwrap();
        // The child's 75 % of step 0 is 30 %, below step 1's start: step 1's 40 % stands.
        assert_eq!(root.percent(), 4_000);
        assert_eq!(child.percent(), 7_500);
        assert!(root.percent() >= second);
    });
}

#[test]
fn a_subscriber_never_misses_the_latest_state() {
    model(|| {
        let node = Node::new(None);
        let writer = {
            let node = Arc::clone(&node);
            thread::spawn(move || {
                node.set_fraction(1, 2);
                node.set_fraction(2, 2);
            })
        };
        let reader = {
            let node = Arc::clone(&node);
            thread::spawn(move || node.read_for_subscriber())
        };
        writer.join().unwrap();
        let (seen, read) = reader.join().unwrap();
        let latest = node.percent();
        assert_eq!(latest, FULL);
        if read != latest {
            // The subscriber's next `changed()` must return: a send it has not seen.
            assert!(
                node.version.load(Ordering::Acquire) > seen,
                "read {read} of {latest} and no wake-up pending"
            );
        }
    });
}

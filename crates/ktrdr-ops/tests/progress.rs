//! Black-box tests of `ktrdr_ops::progress`: monotonic percent under arbitrary call sequences
//! (flat and nested), subscribers, lazy rendering and ETA sampling, callback errors, the wire
//! shape.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ktrdr_ops::eta::Eta;
use ktrdr_ops::progress::{
    Counter, DefaultRenderer, EtaSource, ProgressError, ProgressHandle, ProgressPhase,
    ProgressRenderer, ProgressState, StepPlan,
};
use proptest::prelude::*;

fn plan3() -> StepPlan {
    StepPlan::new([("Load", 10), ("Fetch", 80), ("Save", 10)]).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Property: percent stays in 0..=100 and never decreases, whatever the calls.

#[derive(Debug, Clone)]
enum Call {
    Start(usize),
    Next,
    Sub(u64, Option<u64>),
    Items(u64, Option<u64>),
    AddItems(u64),
    Detail,
    Complete,
    Fail,
    Nest(StepPlan),
    Child(Box<Call>),
    DropChild,
    Read,
}

fn plan_strategy() -> impl Strategy<Value = StepPlan> {
    // n − 1 cut points in 0..=100 give n weights summing to 100 (zero weights included).
    prop::collection::vec(0u32..=100, 0..5).prop_map(|mut cuts| {
        cuts.sort_unstable();
        let mut prev = 0;
        let mut steps: Vec<(String, u32)> = cuts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let w = c - prev;
                prev = c;
                (format!("s{i}"), w)
            })
            .collect();
        steps.push(("last".into(), 100 - prev));
        StepPlan::new(steps).unwrap()
    })
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..20, Just(u64::MAX)]
}

fn flat_call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => (0usize..7).prop_map(Call::Start),
        4 => Just(Call::Next),
        8 => (count(), prop::option::of(count())).prop_map(|(d, t)| Call::Sub(d, t)),
        2 => (count(), prop::option::of(count())).prop_map(|(d, t)| Call::Items(d, t)),
        1 => count().prop_map(Call::AddItems),
        1 => Just(Call::Detail),
        1 => Just(Call::Complete),
        1 => Just(Call::Fail),
        2 => Just(Call::Read),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        10 => flat_call(),
        2 => plan_strategy().prop_map(Call::Nest),
        8 => flat_call().prop_map(|c| Call::Child(Box::new(c))),
        1 => Just(Call::DropChild),
    ]
}

fn apply(h: &ProgressHandle, call: &Call, sub: &mut ktrdr_ops::progress::ProgressSubscriber) {
    match call {
        Call::Start(i) => {
            let r = h.start_step(*i);
            assert_eq!(r.is_ok(), *i < h.plan().len(), "{r:?}");
        }
        Call::Next => {
            let _ = h.next_step();
        }
        Call::Sub(d, t) => h.set_sub_progress(*d, *t),
        Call::Items(d, t) => h.set_items(*d, *t),
        Call::AddItems(d) => h.add_items(*d),
        Call::Detail => h.set_step_detail("detail"),
        Call::Complete => h.complete(),
        Call::Fail => h.fail("boom"),
        Call::Read => {
            sub.latest();
        }
        Call::Nest(_) | Call::Child(_) | Call::DropChild => unreachable!("handled by the caller"),
    }
}

/// Checks the invariant on a fresh read and returns the percent read.
fn check(state: &ProgressState, previous: f64) -> f64 {
    let p = state.percent;
    assert!((0.0..=100.0).contains(&p), "percent {p} out of range");
    assert!(p >= previous, "percent went back from {previous} to {p}");
    assert!(state.step_index < state.step_count);
    if state.phase == ProgressPhase::Completed {
        assert_eq!(p, 100.0);
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn percent_is_monotonic_and_bounded(plan in plan_strategy(), calls in prop::collection::vec(flat_call(), 0..60)) {
        let h = ProgressHandle::new("op", plan);
        let mut sub = h.subscribe();
        let mut last = 0.0;
        for c in &calls {
            apply(&h, c, &mut sub);
            last = check(&h.snapshot(), last);
        }
        h.complete();
        let end = h.snapshot();
        check(&end, last);
        prop_assert!(end.phase.is_finished());
    }

    #[test]
    fn nested_percent_is_monotonic_and_bounded(plan in plan_strategy(), calls in prop::collection::vec(call(), 0..80)) {
        let h = ProgressHandle::new("op", plan);
        let mut sub = h.subscribe();
        let mut child: Option<(ProgressHandle, f64)> = None; // (child, its last percent)
        let mut last = 0.0;
        for c in &calls {
            match c {
                Call::Nest(p) => {
                    child = Some((h.nested(p.clone()), 0.0));
                }
                Call::DropChild => child = None,
                Call::Child(inner) => {
                    if let Some((c, child_last)) = child.as_mut() {
                        let mut csub = c.subscribe();
                        apply(c, inner, &mut csub);
                        *child_last = check(&c.snapshot(), *child_last);
                    }
                }
                flat => apply(&h, flat, &mut sub),
            }
            let state = h.snapshot();
            last = check(&state, last);
            if let Some(nested) = &state.nested {
                check(nested, 0.0);
                prop_assert!(nested.operation_id.starts_with("op/"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Subscribers.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_always_reaches_the_latest_state() {
    const N: u64 = 20_000;
    for round in 0..20u64 {
        let h = ProgressHandle::new("op", StepPlan::single("work"));
        let mut sub = h.subscribe();
        let reader = tokio::spawn(async move {
            let mut reads = 0u64;
            loop {
                sub.changed().await.expect("the writer keeps its handle");
                reads += 1;
                let s = sub.latest();
                if s.items.map(|i| i.done) == Some(round) {
                    return (s, reads);
                }
            }
        });
        let writer = {
            let h = h.clone();
            std::thread::spawn(move || {
                for i in 0..=N {
                    h.set_sub_progress(i, N);
                }
                h.set_items(round, None);
            })
        };
        writer.join().unwrap();
        // A lost wake-up leaves the reader waiting for ever: the handle is still alive here.
        let (state, reads) = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .expect("the subscriber missed the final update")
            .unwrap();
        assert_eq!(
            state.sub_progress,
            Some(Counter {
                done: N,
                total: Some(N)
            })
        );
        assert_eq!(state.percent, 100.0);
        assert!(reads <= N + 2, "wake-ups are coalesced, not one per update");
        drop(h);
    }
}

#[tokio::test]
async fn subscribers_see_the_final_state_then_close() {
    let h = ProgressHandle::new("op", plan3());
    let mut sub = h.subscribe();
    sub.changed().await.unwrap(); // the first call returns at once
    assert_eq!(sub.latest().step_index, 0);

    h.next_step().unwrap();
    h.set_sub_progress(1, 2);
    let child = h.nested(StepPlan::single("inner"));
    child.set_sub_progress(1, 4);
    drop(child); // a child keeps the parent's channel open until it goes
    h.complete();
    drop(h);

    sub.changed().await.unwrap();
    let s = sub.latest();
    assert_eq!((s.phase, s.percent), (ProgressPhase::Completed, 100.0));
    assert_eq!(sub.changed().await, Err(ProgressError::Closed));
}

#[tokio::test]
async fn a_live_child_keeps_the_parent_channel_open() {
    let h = ProgressHandle::new("op", plan3());
    let mut sub = h.subscribe();
    sub.latest();
    let child = h.nested(StepPlan::single("inner"));
    drop(h);
    sub.changed().await.unwrap(); // attaching the child
    sub.latest();
    child.set_sub_progress(1, 2);
    sub.changed().await.unwrap();
    assert_eq!(sub.latest().percent, 5.0);
    drop(child);
    sub.changed().await.unwrap();
    assert_eq!(sub.latest().percent, 10.0);
    assert_eq!(sub.changed().await, Err(ProgressError::Closed));
}

#[tokio::test]
async fn callback_errors_and_panics_are_counted_and_do_not_stop_delivery() {
    let h = ProgressHandle::new("op", plan3());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = h
        .on_update(move |s: &ProgressState| {
            let n = s.items.map_or(0, |i| i.done);
            let _ = tx.send(n);
            match n {
                1 => Err("the registry is locked"),
                2 => panic!("subscriber bug"),
                _ => Ok(()),
            }
        })
        .unwrap();
    for n in 1..=3 {
        h.set_items(n, None);
        while rx.recv().await != Some(n) {}
    }
    assert_eq!(h.subscriber_errors(), 2);
    drop(h);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the callback task ends when the handles are gone")
        .unwrap();
}

#[test]
fn on_update_outside_a_runtime_is_a_typed_error() {
    let h = ProgressHandle::new("op", plan3());
    let err = h.on_update(|_| Ok::<(), String>(())).unwrap_err();
    assert_eq!(err, ProgressError::NoRuntime);
}

// ---------------------------------------------------------------------------------------------
// Lazy rendering, renderer purity, ETA sampling.

#[derive(Default)]
struct CountingRenderer(AtomicUsize);

impl ProgressRenderer for CountingRenderer {
    fn render(&self, s: &ProgressState) -> String {
        self.0.fetch_add(1, Ordering::Relaxed);
        format!("{:.1}%", s.percent)
    }
}

#[test]
fn rendering_happens_on_read_not_on_update() {
    let h = ProgressHandle::new("op", plan3());
    let renderer = Arc::new(CountingRenderer::default());
    h.set_renderer(renderer.clone());
    let _sub = h.subscribe();
    h.next_step().unwrap();
    for i in 0..10_000 {
        h.set_sub_progress(i, 10_000);
    }
    assert_eq!(renderer.0.load(Ordering::Relaxed), 0);
    assert_eq!(h.snapshot().message, "90.0%");
    assert_eq!(renderer.0.load(Ordering::Relaxed), 1);
}

#[test]
fn the_message_is_a_pure_function_of_the_state() {
    // Two different histories that end in the same state.
    let a = ProgressHandle::new("op", plan3());
    a.start_step(1).unwrap();
    a.set_step_detail("segment 3/10");
    a.set_sub_progress(3, 10);
    a.set_items(1500, None);

    let b = ProgressHandle::new("op", plan3());
    b.set_step_detail("stale detail from step 1");
    b.set_sub_progress(7, 9);
    b.set_items(1500, None);
    b.next_step().unwrap();
    b.set_step_detail("segment 2/10");
    b.set_sub_progress(2, 10);
    b.set_step_detail("segment 3/10");
    b.set_sub_progress(3, 10);
    for _ in 0..3 {
        b.snapshot(); // earlier renders leave no trace
    }

    let (sa, sb) = (a.snapshot(), b.snapshot());
    assert_eq!(sa.message, "[2/3] Fetch: segment 3/10 (3/10) · 1500 items");
    assert_eq!(sa.message, sb.message);
    // And the message depends on nothing but the other fields.
    let mut blank = sb.clone();
    blank.message = "⚡ Starting load_data_AAPL_1h (AAPL 1h, tail mode) [0/10]".into();
    assert_eq!(DefaultRenderer.render(&blank), sb.message);
}

/// Linear ETA that logs every sample it is given.
struct Recorder(Arc<Mutex<Vec<(Duration, f64)>>>);

impl EtaSource for Recorder {
    fn observe(&mut self, elapsed: Duration, fraction: f64) {
        self.0.lock().unwrap().push((elapsed, fraction));
    }
    fn estimate(&self, elapsed: Duration) -> Option<Eta> {
        let &(_, fraction) = self.0.lock().unwrap().last()?;
        (fraction > 0.0).then(|| {
            let rest = elapsed.as_secs_f64() * (1.0 / fraction - 1.0);
            Eta {
                remaining_secs: rest,
                low_secs: rest * 0.5,
                high_secs: rest * 2.0,
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_eta_source_is_sampled_once_per_read() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let h = ProgressHandle::new("op", StepPlan::new([("a", 50), ("b", 50)]).unwrap());
    h.set_eta_source(Box::new(Recorder(log.clone())));
    let mut sub = h.subscribe();

    for i in 0..1000 {
        h.set_sub_progress(i, 2000);
    }
    assert!(
        log.lock().unwrap().is_empty(),
        "updates never sample the ETA"
    );

    tokio::time::advance(Duration::from_secs(10)).await;
    h.set_sub_progress(1, 2); // 25 %
    let s = h.snapshot();
    assert_eq!(*log.lock().unwrap(), [(Duration::from_secs(10), 0.25)]);
    assert_eq!(
        s.eta,
        Some(Eta {
            remaining_secs: 30.0,
            low_secs: 15.0,
            high_secs: 60.0
        })
    );
    assert_eq!(s.message, "[1/2] a (1/2) · ETA 30s");

    tokio::time::advance(Duration::from_secs(10)).await;
    h.next_step().unwrap(); // 50 %
    assert_eq!(sub.latest().eta.map(|e| e.remaining_secs), Some(20.0));
    assert_eq!(log.lock().unwrap().len(), 2);

    h.complete();
    assert_eq!(h.snapshot().eta, None, "nothing remains once finished");
    assert_eq!(
        log.lock().unwrap().len(),
        2,
        "a finished operation is not sampled"
    );
}

// ---------------------------------------------------------------------------------------------
// Wire shape.

#[test]
fn the_state_round_trips_through_json_with_typed_fields() {
    let h = ProgressHandle::new("load-AAPL-1h", plan3());
    h.next_step().unwrap();
    h.set_step_detail("segment 3/10");
    h.set_sub_progress(3, 10);
    h.set_items(1500, 5000);
    let child = h.nested(StepPlan::single("inner"));
    child.set_sub_progress(1, 2);
    let state = h.snapshot();

    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["operation_id"], "load-AAPL-1h");
    assert_eq!(json["phase"], "running");
    assert_eq!(json["step_index"], 1);
    assert_eq!(json["step_count"], 3);
    assert_eq!(json["step_name"], "Fetch");
    assert_eq!(
        json["sub_progress"],
        serde_json::json!({"done": 3, "total": 10})
    );
    assert_eq!(
        json["items"],
        serde_json::json!({"done": 1500, "total": 5000})
    );
    assert_eq!(json["nested"]["operation_id"], "load-AAPL-1h/Fetch");
    assert!(json["eta"].is_null());

    let back: ProgressState = serde_json::from_value(json).unwrap();
    assert_eq!(back, state);
}

//! The pacing gate against an independent checker: whatever the schedule of acquires, the
//! recorded grants break no rule; and a long backfill runs at the allowed rate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ktrdr_data::pacing::{HardRulesScope, PacingGate, PacingRules, RateLimit, RequestKey};
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::Timeframe;
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use proptest::prelude::*;
use tokio::time::Instant;

fn key(symbol: &str, tf: Timeframe, start: i64) -> RequestKey {
    RequestKey::new(
        symbol.parse().unwrap(),
        tf,
        TimeRange::new(start, start + 86_400).unwrap(),
    )
}

/// What happened, in the order it happened (pushed under one lock, so that a release and a
/// grant at the same instant are ordered as they really were).
#[derive(Debug, Clone)]
enum Event {
    Grant {
        task: usize,
        at: Instant,
        key: RequestKey,
    },
    Release,
}

/// Checks `events` against `rules` written out the obvious way, O(n²), sharing no code with the
/// gate. Windows and cooldowns include the safety margin, which the gate promises too.
fn violations(rules: &PacingRules, events: &[Event]) -> Vec<String> {
    let mut found = Vec::new();
    let grants: Vec<(usize, Instant, &RequestKey)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Grant { task, at, key } => Some((*task, *at, key)),
            Event::Release => None,
        })
        .collect();
    let hard = |k: &RequestKey| rules.hard_rules.covers(k.timeframe);
    for (i, &(_, t, k)) in grants.iter().enumerate() {
        let earlier = &grants[..i];
        if let Some(&(_, prev, _)) = earlier.last() {
            if t < prev {
                found.push(format!("grant {i} recorded before the previous one"));
            }
            if t.duration_since(prev) < rules.min_spacing {
                found.push(format!("grant {i}: spacing {:?}", t.duration_since(prev)));
            }
        }
        if !hard(k) {
            continue;
        }
        let count_within = |per: Duration, same: &dyn Fn(&RequestKey) -> bool| {
            earlier
                .iter()
                .filter(|(_, u, k2)| hard(k2) && same(k2) && t.duration_since(*u) < per)
                .count()
        };
        if let Some(l) = rules.max_requests {
            let n = count_within(l.per + rules.safety_margin, &|_| true);
            if n >= l.requests as usize {
                found.push(format!("grant {i}: {} others within the window", n));
            }
        }
        if let Some(l) = rules.per_contract {
            let n = count_within(l.per + rules.safety_margin, &|k2| k2.symbol == k.symbol);
            if n >= l.requests as usize {
                found.push(format!(
                    "grant {i}: {} for {} within the window",
                    n, k.symbol
                ));
            }
        }
        if let Some(c) = rules.identical_cooldown {
            if count_within(c + rules.safety_margin, &|k2| k2 == k) > 0 {
                found.push(format!("grant {i}: identical request within {c:?}"));
            }
        }
    }
    if let Some(max) = rules.max_concurrent {
        let mut held = 0u32;
        for e in events {
            match e {
                Event::Grant { .. } => {
                    held += 1;
                    if held > max {
                        found.push(format!("{held} permits held at once"));
                    }
                }
                Event::Release => held -= 1,
            }
        }
    }
    found
}

/// One task of a schedule: wait, acquire, hold the permit, release.
#[derive(Debug, Clone)]
struct Step {
    delay_ms: u64,
    symbol: usize,
    timeframe: Timeframe,
    range: i64,
    hold_ms: u64,
}

fn run_schedule(rules: PacingRules, steps: Vec<Step>) -> Vec<Event> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let gate = PacingGate::new(rules).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (task, step) in steps.into_iter().enumerate() {
            let gate = gate.clone();
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(step.delay_ms)).await;
                let symbols = ["AAPL", "MSFT", "EURUSD"];
                let k = key(symbols[step.symbol], step.timeframe, step.range * 86_400);
                let token = CancellationToken::new();
                let permit = gate.acquire(&k, &token).await.unwrap();
                log.lock().unwrap().push(Event::Grant {
                    task,
                    at: Instant::now(),
                    key: k,
                });
                tokio::time::sleep(Duration::from_millis(step.hold_ms)).await;
                log.lock().unwrap().push(Event::Release);
                drop(permit);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let events = log.lock().unwrap().clone();
        events
    })
}

/// Tight rules, so that random schedules hit every one of them.
fn tight_rules(scope: HardRulesScope) -> PacingRules {
    PacingRules {
        name: "tight",
        max_requests: Some(RateLimit::new(5, Duration::from_millis(1000))),
        per_contract: Some(RateLimit::new(2, Duration::from_millis(300))),
        identical_cooldown: Some(Duration::from_millis(500)),
        max_concurrent: Some(3),
        min_spacing: Duration::from_millis(10),
        hard_rules: scope,
        safety_margin: Duration::from_millis(5),
    }
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u64..3000,
        0usize..3,
        prop::sample::select(vec![Timeframe::M1, Timeframe::H1, Timeframe::D1]),
        0i64..3,
        0u64..400,
    )
        .prop_map(|(delay_ms, symbol, timeframe, range, hold_ms)| Step {
            delay_ms,
            symbol,
            timeframe,
            range,
            hold_ms,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_schedule_breaks_a_rule(steps in prop::collection::vec(step(), 1..40)) {
        let rules = tight_rules(HardRulesScope::AllBarSizes);
        let n = steps.len();
        let events = run_schedule(rules.clone(), steps);
        prop_assert_eq!(events.len(), 2 * n, "every task got its permit");
        let found = violations(&rules, &events);
        prop_assert!(found.is_empty(), "{:?}", found);
    }

    #[test]
    fn no_schedule_breaks_a_rule_when_hard_rules_cover_small_bars_only(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        // 1m and up are not covered: only spacing and concurrency apply to them.
        let rules = tight_rules(HardRulesScope::BarsUpTo(Duration::from_secs(60)));
        let events = run_schedule(rules.clone(), steps);
        let found = violations(&rules, &events);
        prop_assert!(found.is_empty(), "{:?}", found);
    }
}

/// The checker must be able to fail: a schedule granted without the gate breaks the rules.
#[test]
fn the_checker_catches_an_unpaced_burst() {
    let rules = tight_rules(HardRulesScope::AllBarSizes);
    let t0 = Instant::now();
    let events: Vec<Event> = (0..4)
        .map(|task| Event::Grant {
            task,
            at: t0,
            key: key("AAPL", Timeframe::H1, 0),
        })
        .collect();
    let found = violations(&rules, &events);
    assert!(found.iter().any(|v| v.contains("spacing")), "{found:?}");
    assert!(found.iter().any(|v| v.contains("identical")), "{found:?}");
    assert!(found.iter().any(|v| v.contains("for AAPL")), "{found:?}");
    assert!(
        found.iter().any(|v| v.contains("permits held")),
        "{found:?}"
    );
}

/// Sends `requests` distinct requests from `loads` concurrent loads and returns the instants
/// of the grants relative to the first.
async fn backfill(
    rules: PacingRules,
    loads: usize,
    requests: usize,
    answer: Duration,
) -> Vec<Duration> {
    let gate = PacingGate::new(rules).unwrap();
    let t0 = Instant::now();
    let grants = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for load in 0..loads {
        let gate = gate.clone();
        let grants = grants.clone();
        tasks.push(tokio::spawn(async move {
            let symbol = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN"][load % 5];
            let token = CancellationToken::new();
            for i in 0..requests / loads {
                // 30-day 1h requests walking back five years.
                let k = RequestKey::new(
                    symbol.parse().unwrap(),
                    Timeframe::H1,
                    TimeRange::new(i as i64 * 30 * 86_400, (i as i64 + 1) * 30 * 86_400).unwrap(),
                );
                let permit = gate.acquire(&k, &token).await.unwrap();
                grants.lock().unwrap().push(permit.granted_at() - t0);
                // The broker's answer takes a while.
                tokio::time::sleep(answer).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut g = grants.lock().unwrap().clone();
    g.sort();
    g
}

/// `achieved / allowed` request rate: the earliest instant the rate rule allows for the last
/// of `n` requests, divided by the instant it was actually sent.
fn rate_ratio(rules: &PacingRules, grants: &[Duration]) -> f64 {
    let l = rules.max_requests.unwrap();
    let n = grants.len();
    let lower_bound = ((n - 1) / l.requests as usize) as f64 * l.per.as_secs_f64();
    lower_bound / grants[n - 1].as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn a_five_year_1h_backfill_runs_at_the_allowed_rate() {
    // Five years of 1h bars in 30-day requests: 61 requests; the 61st waits for the window.
    let rules = PacingRules::ib_conservative();
    let grants = backfill(rules.clone(), 1, 61, Duration::from_millis(800)).await;
    let ratio = rate_ratio(&rules, &grants);
    assert!(
        ratio >= 0.9,
        "ratio {ratio}, last grant at {:?}",
        grants[60]
    );
    assert!(ratio <= 1.0, "faster than the rules allow: {ratio}");
}

#[tokio::test(start_paused = true)]
async fn concurrent_loads_share_the_window_at_the_allowed_rate() {
    // Five loads of 60 requests each: 300 requests, five windows.
    let rules = PacingRules::ib_conservative();
    let grants = backfill(rules.clone(), 5, 300, Duration::from_millis(800)).await;
    let ratio = rate_ratio(&rules, &grants);
    assert!((0.9..=1.0).contains(&ratio), "ratio {ratio}");
    let fast = PacingRules::fast();
    let grants = backfill(fast.clone(), 5, 300, Duration::from_millis(50)).await;
    let ratio = rate_ratio(&fast, &grants);
    assert!((0.9..=1.0).contains(&ratio), "fast rules: ratio {ratio}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_returns_at_once_and_takes_no_slot() {
    let rules = PacingRules {
        max_requests: Some(RateLimit::new(1, Duration::from_secs(60))),
        safety_margin: Duration::ZERO,
        min_spacing: Duration::ZERO,
        ..PacingRules::ib_conservative()
    };
    let gate = PacingGate::new(rules).unwrap();
    let token = CancellationToken::new();
    let t0 = Instant::now();
    let _first = gate
        .acquire(&key("AAPL", Timeframe::H1, 0), &token)
        .await
        .unwrap();

    let waiter_token = CancellationToken::new();
    let canceller = waiter_token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        canceller.cancel(CancelReason::User);
    });
    let second = gate
        .acquire(&key("MSFT", Timeframe::H1, 0), &waiter_token)
        .await
        .unwrap_err();
    assert_eq!(second.reason, CancelReason::User);
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(5),
        "returned at the cancel"
    );

    // The cancelled waiter recorded nothing: the next request goes at exactly 60 s.
    let third = gate
        .acquire(&key("NVDA", Timeframe::H1, 0), &token)
        .await
        .unwrap();
    assert_eq!(third.granted_at() - t0, Duration::from_secs(60));
    assert_eq!(third.waited(), Duration::from_secs(55));

    // The stats count the two grants, the one that waited and its wait, not the cancelled one.
    gate.report_violation(Duration::from_secs(1));
    let stats = gate.stats();
    assert_eq!((stats.granted, stats.waited, stats.violations), (2, 1, 1));
    assert!((stats.waited_secs - 55.0).abs() < 1e-3, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_token_gets_no_permit() {
    let gate = PacingGate::new(PacingRules::fast()).unwrap();
    let token = CancellationToken::new();
    token.cancel(CancelReason::Shutdown);
    let err = gate
        .acquire(&key("AAPL", Timeframe::H1, 0), &token)
        .await
        .unwrap_err();
    assert_eq!(err.reason, CancelReason::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_reported_violation_holds_every_request() {
    let gate = PacingGate::new(PacingRules::fast()).unwrap();
    let token = CancellationToken::new();
    let t0 = Instant::now();
    assert_eq!(gate.stats().violations, 0);
    gate.report_violation(Duration::from_secs(30));
    assert_eq!(
        gate.clone().stats().violations,
        1,
        "counted, and shared by clones"
    );
    let p = gate
        .acquire(&key("AAPL", Timeframe::H1, 0), &token)
        .await
        .unwrap();
    assert_eq!(p.granted_at() - t0, Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_permit_frees_its_slot() {
    let rules = PacingRules {
        max_concurrent: Some(1),
        min_spacing: Duration::ZERO,
        ..PacingRules::fast()
    };
    let gate = PacingGate::new(rules).unwrap();
    let token = CancellationToken::new();
    let t0 = Instant::now();
    let first = gate
        .acquire(&key("AAPL", Timeframe::H1, 0), &token)
        .await
        .unwrap();
    let g = gate.clone();
    let t = token.clone();
    let second = tokio::spawn(async move {
        g.acquire(&key("MSFT", Timeframe::H1, 0), &t)
            .await
            .unwrap()
            .granted_at()
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(first);
    assert_eq!(second.await.unwrap() - t0, Duration::from_secs(3));
}

#[test]
fn impossible_rules_are_refused_with_the_field_named() {
    let rules = PacingRules {
        per_contract: Some(RateLimit::new(0, Duration::from_secs(2))),
        ..PacingRules::ib_conservative()
    };
    let err = PacingGate::new(rules).unwrap_err();
    assert_eq!(err.field, "per_contract");
    assert!(err.to_string().contains("at least 1"), "{err}");
    let zero_window = PacingRules {
        max_requests: Some(RateLimit::new(5, Duration::ZERO)),
        ..PacingRules::ib_conservative()
    };
    assert_eq!(zero_window.validate().unwrap_err().field, "max_requests");
}

#[test]
fn presets_say_what_they_cover() {
    let small = PacingRules::ib_small_bars_only();
    assert!(Timeframe::ALL
        .iter()
        .all(|&tf| !small.hard_rules.covers(tf)));
    let conservative = PacingRules::ib_conservative();
    assert!(Timeframe::ALL
        .iter()
        .all(|&tf| conservative.hard_rules.covers(tf)));
    assert!(conservative
        .to_string()
        .starts_with("ib-conservative: 60/600s"));
}

/// `schedule_duration` predicts, without changing the gate, exactly when the last of `n`
/// requests will be granted: after a few grants already made, the same as sending them.
#[tokio::test(start_paused = true)]
async fn schedule_duration_is_the_time_the_requests_take_to_be_granted() {
    let gate = PacingGate::new(PacingRules::fast()).unwrap();
    let token = CancellationToken::new();
    let aapl = "AAPL".parse().unwrap();
    for i in 0..10 {
        drop(
            gate.acquire(&key("AAPL", Timeframe::M5, i), &token)
                .await
                .unwrap(),
        );
    }
    let n = 130;
    let predicted = gate.schedule_duration(&aapl, Timeframe::M5, n);
    assert_eq!(
        gate.schedule_duration(&aapl, Timeframe::M5, n),
        predicted,
        "asking changes nothing"
    );
    let started = Instant::now();
    for i in 0..n {
        drop(
            gate.acquire(&key("AAPL", Timeframe::M5, 1_000 + i as i64), &token)
                .await
                .unwrap(),
        );
    }
    let took = started.elapsed();
    // Two full windows are crossed: the schedule is no simple burst.
    assert!(predicted > Duration::from_secs(6), "{predicted:?}");
    // The timer's millisecond resolution, once per grant that waited.
    assert!(
        took.abs_diff(predicted) <= Duration::from_millis(n as u64),
        "predicted {predicted:?}, took {took:?}"
    );
}

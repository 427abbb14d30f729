//! DataManager against the in-process simulated broker: modes, resume after cancel, faults,
//! pacing, head timestamps, empty answers, summary counts and progress.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ktrdr_data::calendar::SessionHours;
use ktrdr_data::manager::{DataManager, LoadError, LoadRequest, LoadSummary, RetryPolicy};
use ktrdr_data::provider::sim::{FaultConfig, SimConfig, SimProvider};
use ktrdr_data::provider::{DataProvider, ProviderError};
use ktrdr_data::render::steps;
use ktrdr_data::store::BarStore;
use ktrdr_data::testing::{Scripted, Verdict};
use ktrdr_data::types::LoadMode;
use ktrdr_data::types::{parse_timestamp, Bar, BarSeries, Symbol, Timeframe};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::progress::{ProgressHandle, ProgressState};

/// 2025-01-01T00:00:00Z, the simulated "now".
const NOW: i64 = 1_735_689_600;

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn sim_with(faults: FaultConfig) -> Arc<SimProvider> {
    Arc::new(
        SimProvider::new(SimConfig {
            now: Some(NOW),
            faults,
            ..SimConfig::default()
        })
        .unwrap(),
    )
}

fn manager(dir: &std::path::Path, provider: Arc<dyn DataProvider>) -> DataManager {
    DataManager::builder()
        .data_dir(dir)
        .provider(provider)
        .now(NOW)
        .retry(RetryPolicy {
            request_timeout: Some(Duration::from_secs(5)),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

/// A manager of `provider` with at most `in_flight` requests at once and the default retries.
fn paced_manager(
    dir: &std::path::Path,
    provider: Arc<dyn DataProvider>,
    in_flight: usize,
) -> DataManager {
    DataManager::builder()
        .data_dir(dir)
        .provider(provider)
        .now(NOW)
        .max_in_flight(in_flight)
        .build()
        .unwrap()
}

/// AAPL 1h over the first half of 2024: 6 requests of at most 30 days.
fn half_year() -> LoadRequest {
    LoadRequest::new("AAPL".parse().unwrap(), Timeframe::H1, LoadMode::Full)
        .with_start(ts("2024-01-01"))
        .with_end(ts("2024-06-30T23:59:59Z"))
}

async fn run(m: &DataManager, req: &LoadRequest) -> Result<LoadSummary, LoadError> {
    let progress = ProgressHandle::new("test", DataManager::plan(req.mode));
    m.load(req, &CancellationToken::new(), &progress).await
}

fn stored(dir: &std::path::Path, req: &LoadRequest) -> BarSeries {
    BarStore::new(dir).load(&req.symbol, req.timeframe).unwrap()
}

/// Every bar of `part` is in `whole`, identical.
fn assert_subset(part: &BarSeries, whole: &BarSeries) {
    for bar in part.iter() {
        let i = whole.position_at_or_after(bar.ts);
        assert_eq!(
            whole.bar(i),
            Some(bar),
            "bar at {} differs or is extra",
            bar.ts
        );
    }
}

/// The series a fault-free load of `req` produces.
async fn reference(req: &LoadRequest) -> BarSeries {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), sim_with(FaultConfig::none()));
    run(&m, req).await.unwrap();
    stored(dir.path(), req)
}

#[tokio::test(start_paused = true)]
async fn full_load_fills_the_window_and_a_second_run_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig::none());
    let m = paced_manager(dir.path(), sim.clone(), 8);
    let req = half_year();
    let s = run(&m, &req).await.unwrap();
    let bars = stored(dir.path(), &req);

    assert!(!bars.is_empty());
    assert_eq!(s.bars_new as usize, bars.len());
    assert_eq!(s.bars_saved, s.bars_new);
    assert_eq!(s.bars_fetched, s.bars_new, "nothing fetched twice");
    assert_eq!(s.bars_stored, bars.len());
    assert_eq!(s.bars_in_window, bars.len());
    assert_eq!(
        s.missing_bars,
        bars.len(),
        "the calendar expected exactly the bars served"
    );
    // 2024-01-02 14:30 to 2024-06-28 20:00 is 178 days: six 30-day requests.
    assert_eq!(s.requests_planned, 6);
    assert_eq!(s.requests_sent, 6);
    assert_eq!((s.retries, s.segments_failed, s.empty_answers), (0, 0, 0));
    assert_eq!((s.segments_done, s.segments_saved), (6, 6));
    assert_eq!(s.provider.as_deref(), Some("sim (simulated data)"));
    assert!(s.simulated && s.cancelled.is_none());
    assert!(s.gaps >= 1);
    assert_eq!(
        sim.violations(),
        0,
        "zero pacing violations with 8 in flight"
    );
    assert_eq!(
        bars.first_ts(),
        Some(ts("2024-01-02T14:30:00Z")),
        "Jan 1 is a holiday"
    );

    let again = run(&m, &req).await.unwrap();
    assert_eq!(
        (
            again.gaps,
            again.requests_planned,
            again.requests_sent,
            again.bars_new
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(again.bars_in_window, bars.len());
    assert_eq!(stored(dir.path(), &req), bars);
    assert_eq!(sim.violations(), 0);
}

#[tokio::test(start_paused = true)]
async fn progress_is_monotonic_and_segments_are_reported_after_they_land() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), sim_with(FaultConfig::none()));
    let req = half_year();
    let progress = ProgressHandle::new("op", DataManager::plan(req.mode));
    let seen: Arc<Mutex<Vec<ProgressState>>> = Arc::default();
    let mut watcher = progress.subscribe();
    let collector = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while watcher.changed().await.is_ok() {
                seen.lock().unwrap().push(watcher.latest());
            }
        })
    };
    let s = m
        .load(&req, &CancellationToken::new(), &progress)
        .await
        .unwrap();
    progress.complete();
    drop(progress);
    collector.await.unwrap();
    let states = seen.lock().unwrap().clone();

    assert!(states.len() >= 5, "saw {} states", states.len());
    for pair in states.windows(2) {
        assert!(
            pair[1].percent >= pair[0].percent,
            "{} then {}",
            pair[0].percent,
            pair[1].percent
        );
    }
    assert_eq!(states.last().unwrap().percent, 100.0);
    let fetching: Vec<_> = states
        .iter()
        .filter(|s| s.step_name == steps::FETCH)
        .collect();
    assert!(!fetching.is_empty());
    for st in &fetching {
        let done = st.sub_progress.map_or(0, |c| c.done);
        let bars = st.items.map_or(0, |c| c.done);
        // A segment counts once its bars are in: never "segment 1/7" with 0 bars.
        assert_eq!(done == 0, bars == 0, "{}", st.message);
        assert!(
            st.message.starts_with("Fetching AAPL 1h: "),
            "{}",
            st.message
        );
        if done > 0 {
            let planned = s.requests_planned;
            assert!(
                st.message.contains(&format!("segment {done}/{planned} (")),
                "{}",
                st.message
            );
            assert!(st.message.contains(" bars"), "{}", st.message);
            assert!(st.percent > 11.0 && st.percent <= 96.0, "{}", st.percent);
        }
    }
    let last_fetch = fetching.last().unwrap();
    assert_eq!(last_fetch.items.unwrap().done, s.bars_fetched);
    assert_eq!(last_fetch.items.unwrap().total, Some(s.missing_bars as u64));
}

#[tokio::test(start_paused = true)]
async fn cancel_keeps_every_fetched_bar_and_the_next_run_fetches_only_the_rest() {
    let req = half_year();
    let full = reference(&req).await;
    for (after, in_flight) in [(1, 1), (3, 1), (5, 1), (2, 4), (4, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let token = CancellationToken::new();
        let sim = sim_with(FaultConfig::none());
        let provider = Arc::new(Scripted::new(sim.clone()).cancel_after(after, &token));
        let m = paced_manager(dir.path(), provider, in_flight);
        let progress = ProgressHandle::new("op", DataManager::plan(req.mode));
        let first = m.load(&req, &token, &progress).await.unwrap();
        assert_eq!(first.cancelled, Some(CancelReason::User), "after {after}");
        assert!(first.segments_done >= after, "{first:?}");
        assert!(first.segments_done < first.requests_planned, "{first:?}");
        let kept = stored(dir.path(), &req);
        assert_eq!(
            kept.len() as u64,
            first.bars_saved,
            "after {after}: the summary says what was kept"
        );
        assert_eq!(
            first.bars_saved, first.bars_fetched,
            "every fetched bar saved"
        );
        assert_subset(&kept, &full);
        assert!(
            first.to_string().contains(&format!(
                "cancelled after segment {}/{}, {} bars saved",
                first.segments_done,
                first.requests_planned,
                ktrdr_data::render::group_thousands(first.bars_saved)
            )),
            "{first}"
        );

        let m2 = manager(dir.path(), sim.clone());
        let second = run(&m2, &req).await.unwrap();
        assert_eq!(
            stored(dir.path(), &req),
            full,
            "after {after}: nothing lost, nothing extra"
        );
        assert_eq!(second.bars_new as usize, full.len() - kept.len());
        assert!(
            second.requests_planned <= first.requests_planned - first.segments_saved,
            "after {after}: {} requests for what was left",
            second.requests_planned
        );
        assert_eq!(sim.violations(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn transient_errors_timeouts_and_pacing_are_retried_until_the_load_completes() {
    let req = half_year();
    let full = reference(&req).await;
    let faults = FaultConfig {
        seed: 7,
        error_rate: 0.25,
        timeout_rate: 0.1,
        hang: Duration::from_secs(60),
        pacing_rate: 0.15,
        pacing_retry_after: Duration::from_secs(2),
        ..FaultConfig::none()
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(faults);
    let m = manager(dir.path(), sim.clone());
    let s = run(&m, &req).await.unwrap();
    assert_eq!(stored(dir.path(), &req), full);
    assert!(s.retries > 0, "{s:?}");
    assert_eq!(s.requests_sent, s.requests_planned as u64 + s.retries);
    assert_eq!(s.requests_sent, sim.stats().requests, "every send counted");
    assert!(sim.stats().faults_injected > 0);
    assert_eq!(
        sim.violations(),
        0,
        "injected pacing faults are not our violations"
    );
    assert_eq!(s.segments_failed, 0);

    // The manager's running totals are the load's, and its gate counted every send.
    let totals = m.stats();
    assert_eq!(totals.loads, 1);
    assert_eq!(
        (totals.requests_sent, totals.retries, totals.bars_saved),
        (s.requests_sent, s.retries, s.bars_saved)
    );
    let pacing = totals.pacing.expect("the sim provider is paced");
    assert_eq!(pacing.granted, s.requests_sent);
    assert!(
        pacing.violations > 0,
        "the injected pacing faults were reported"
    );
}

#[tokio::test(start_paused = true)]
async fn pacing_violations_wait_for_their_retry_after() {
    let req = half_year();
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig {
        seed: 3,
        pacing_rate: 0.5,
        pacing_retry_after: Duration::from_secs(30),
        ..FaultConfig::none()
    });
    let m = manager(dir.path(), sim.clone());
    let started = tokio::time::Instant::now();
    let s = run(&m, &req).await.unwrap();
    assert!(s.pacing_waits > 0, "{s:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "a pacing violation holds the request for its retry-after"
    );
    assert_eq!(stored(dir.path(), &req), reference(&req).await);
}

#[tokio::test(start_paused = true)]
async fn empty_answers_are_not_failures_and_later_runs_fill_them() {
    let req = half_year();
    let full = reference(&req).await;
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig {
        seed: 11,
        empty_rate: 0.5,
        ..FaultConfig::none()
    });
    let m = manager(dir.path(), sim.clone());
    let first = run(&m, &req).await.unwrap();
    assert!(first.empty_answers > 0, "{first:?}");
    assert_eq!(first.segments_failed, 0);
    let mut runs = 1;
    while stored(dir.path(), &req).len() < full.len() {
        let before = stored(dir.path(), &req).len();
        let s = run(&m, &req).await.unwrap();
        assert_eq!(s.bars_new as usize, stored(dir.path(), &req).len() - before);
        runs += 1;
        assert!(runs < 20, "empty answers keep coming");
    }
    assert_eq!(stored(dir.path(), &req), full);
}

#[tokio::test(start_paused = true)]
async fn a_failed_segment_fails_the_load_clearly_and_keeps_the_others() {
    let req = half_year();
    let full = reference(&req).await;
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig::none());
    let bad = ts("2024-03-15T15:00:00Z");
    let m = manager(
        dir.path(),
        Arc::new(Scripted::new(sim.clone()).script(move |call| {
            if call.range.contains(bad) {
                Verdict::Fail(ProviderError::fatal(
                    "contract has no market data permissions",
                ))
            } else {
                Verdict::Answer
            }
        })),
    );
    let err = run(&m, &req).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("1 of 6 requests failed"), "{msg}");
    assert!(msg.contains("no market data permissions"), "{msg}");
    assert!(msg.contains("run the load again"), "{msg}");
    let summary = err.summary().unwrap();
    assert_eq!((summary.segments_failed, summary.segments_saved), (1, 5));
    assert_eq!(
        summary.failures[0].attempts, 1,
        "fatal errors are not retried"
    );
    let kept = stored(dir.path(), &req);
    assert_eq!(kept.len() as u64, summary.bars_saved);
    assert_subset(&kept, &full);

    // The source recovers: only the failed segment is fetched.
    let s = run(&manager(dir.path(), sim.clone()), &req).await.unwrap();
    // Only the failed segment's gap is fetched. It can take a second, empty request: the
    // planner cut the first run's window inside an hourly slot (30 days of UTC seconds end at
    // 14:30 after the DST change, inside the 14:00 slot), and the slot's tail is re-asked.
    assert!(s.requests_sent <= 2, "{s:?}");
    assert_eq!(s.bars_new, s.bars_fetched);
    assert_eq!(stored(dir.path(), &req), full);
}

#[tokio::test(start_paused = true)]
async fn a_dead_source_stops_after_a_few_failed_segments() {
    let req = LoadRequest::new("AAPL".parse().unwrap(), Timeframe::M5, LoadMode::Full)
        .with_start(ts("2024-01-01"))
        .with_end(ts("2024-06-30"));
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig {
        error_rate: 1.0,
        ..FaultConfig::none()
    });
    let m = paced_manager(dir.path(), sim.clone(), 1);
    let err = run(&m, &req).await.unwrap_err();
    let s = err.summary().unwrap();
    assert!(s.requests_planned > 20, "{s:?}");
    assert_eq!(
        s.segments_failed, 3,
        "three failed in a row, then no new segment"
    );
    assert_eq!(s.requests_sent, 3 * 4, "each sent 4 times");
    assert_eq!(s.segments_skipped, s.requests_planned - 3);
    assert!(err.to_string().contains("503"), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "{} not started after too many failures in a row",
            s.segments_skipped
        )),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_load_is_recorded_with_what_it_saved() {
    use ktrdr_ops::operations::Operations;
    use ktrdr_ops::registry::{MemoryRegistry, OperationStatus};
    let dir = tempfile::tempdir().unwrap();
    let m = paced_manager(
        dir.path(),
        sim_with(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::none()
        }),
        1,
    );
    let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
    let handle = m.start(&ops, half_year()).unwrap();
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, OperationStatus::Failed);
    assert!(outcome
        .error
        .as_deref()
        .unwrap()
        .contains("requests failed"));
    let kept: LoadSummary = serde_json::from_value(outcome.result_summary.unwrap()).unwrap();
    assert_eq!(kept.segments_failed, 3);
    assert!(kept.requests_planned > 3);
}

#[tokio::test(start_paused = true)]
async fn unknown_symbols_and_missing_sources_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), sim_with(FaultConfig::none()));
    let req = LoadRequest::new("ZZFOO".parse().unwrap(), Timeframe::H1, LoadMode::Tail);
    let err = run(&m, &req).await.unwrap_err();
    assert!(matches!(err, LoadError::SymbolNotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("ZZFOO is not known to sim (simulated data)"),
        "{err}"
    );

    let local_only = DataManager::builder().data_dir(dir.path()).build().unwrap();
    let err = run(&local_only, &half_year()).await.unwrap_err();
    let msg = err.to_string();
    for option in [
        "sim, host or ib",
        "KTRDR_DATA_SOURCE",
        "USE_IB_HOST_SERVICE",
    ] {
        assert!(msg.contains(option), "{msg}");
    }
    assert!(
        !msg.contains("--"),
        "a library error names no CLI flag: {msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_head_timestamp_bounds_backfills() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig::none());
    let m = manager(dir.path(), sim.clone());
    let token = CancellationToken::new();
    let symbol: Symbol = "AAPL".parse().unwrap();
    let head = sim
        .head_timestamp(&symbol, Timeframe::D1, &token)
        .await
        .unwrap()
        .unwrap();
    let req = LoadRequest::new(symbol, Timeframe::D1, LoadMode::Backfill)
        .with_start(head - 3 * 365 * 86_400)
        .with_end(head + 200 * 86_400);
    let s = run(&m, &req).await.unwrap();
    assert!(s.clamped_to_head);
    assert_eq!(s.head_timestamp, Some(head));
    assert_eq!(s.window.unwrap().0, head);
    let bars = stored(dir.path(), &req);
    assert!(
        bars.first_ts().unwrap() >= head - 86_400,
        "nothing before the head"
    );
    assert!(bars.len() > 100);
    assert_eq!(s.requests_sent, 1, "one 365-day request from the head on");

    // Entirely before the head: nothing to do, and no failure.
    let before = LoadRequest::new(req.symbol.clone(), Timeframe::D1, LoadMode::Full)
        .with_start(head - 900 * 86_400)
        .with_end(head - 800 * 86_400);
    let s = run(&m, &before).await.unwrap();
    assert_eq!((s.requests_sent, s.bars_new), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn tail_fetches_after_the_last_stored_bar_and_local_reads_without_a_provider() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig::none());
    let m = manager(dir.path(), sim.clone());
    let first = LoadRequest::new("MSFT".parse().unwrap(), Timeframe::D1, LoadMode::Full)
        .with_start(ts("2024-06-01"))
        .with_end(ts("2024-09-30T23:59:59Z"));
    run(&m, &first).await.unwrap();
    let last_before = stored(dir.path(), &first).last_ts().unwrap();

    let tail = LoadRequest::new(first.symbol.clone(), Timeframe::D1, LoadMode::Tail);
    let s = run(&m, &tail).await.unwrap();
    assert_eq!(s.window.unwrap().0, last_before);
    assert!(s.bars_new > 60, "{s:?}");
    let after = stored(dir.path(), &first);
    assert_eq!(
        after.slice_time(None, Some(last_before)),
        stored_until(&after, last_before)
    );
    assert!(after.last_ts().unwrap() > ts("2024-12-30"));
    assert_eq!(sim.violations(), 0);

    let local = DataManager::builder().data_dir(dir.path()).build().unwrap();
    let req = LoadRequest::new(first.symbol.clone(), Timeframe::D1, LoadMode::Local);
    let s = run(&local, &req).await.unwrap();
    assert_eq!(s.bars_in_window, after.len());
    assert_eq!((s.requests_sent, s.gaps), (0, 0));
    assert!(s.provider.is_none());
    assert!(s.to_string().contains("(local):"), "{s}");
}

fn stored_until(series: &BarSeries, last: i64) -> BarSeries {
    series.slice_time(None, Some(last))
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_fails_the_load_but_every_landed_bar_is_saved_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let m = paced_manager(
        dir.path(),
        Arc::new(Scripted::new(sim_with(FaultConfig::none())).script(|call| {
            if call.index < 3 {
                Verdict::Answer
            } else {
                Verdict::Panic
            }
        })),
        1,
    );
    let req = half_year();
    let err = run(&m, &req).await.unwrap_err();
    let LoadError::Partial { source, summary } = &err else {
        panic!("expected a partial failure, got {err:?}");
    };
    assert!(matches!(**source, LoadError::Internal(_)), "{source:?}");
    assert_eq!(summary.segments_done, 3);
    assert!(summary.bars_saved > 0);
    assert_eq!(stored(dir.path(), &req).len() as u64, summary.bars_saved);
    assert!(
        err.to_string().contains("before that: AAPL 1h (full)"),
        "{err}"
    );
}

/// A cancel does not wait for the requests in flight, even ones that never end, and keeps every
/// bar that landed. (The latency itself, p50/p99 over 100 cancels, is measured by
/// `examples/backfill_bench.rs -- --cancel`; a wall-clock bound here would only be flaky.)
#[tokio::test(start_paused = true)]
async fn cancel_does_not_wait_for_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(Scripted::new(sim_with(FaultConfig::none())).script(|call| {
        if call.index < 2 {
            Verdict::Answer
        } else {
            Verdict::Hang
        }
    }));
    let m = paced_manager(dir.path(), provider.clone(), 3);
    let req = half_year();
    let token = CancellationToken::new();
    let progress = ProgressHandle::new("op", DataManager::plan(req.mode));
    let load = {
        let (m, req, token, progress) = (m.clone(), req.clone(), token.clone(), progress.clone());
        tokio::spawn(async move { m.load(&req, &token, &progress).await })
    };
    // Two answers landed and a request hangs.
    let landed = |p: &ProgressHandle| p.snapshot().sub_progress.map_or(0, |c| c.done);
    while provider.hanging() == 0 || landed(&progress) < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    token.cancel(CancelReason::User);
    let summary = tokio::time::timeout(Duration::from_secs(30), load)
        .await
        .expect("the cancel waited for a request that never ends")
        .unwrap()
        .unwrap();
    assert!(summary.is_cancelled());
    assert_eq!(summary.segments_done, 2);
    // Requests cut short count as sent.
    assert_eq!(summary.requests_sent, provider.started() as u64);
    assert!(summary.requests_sent > 2, "{summary:?}");
    assert!(summary.bars_saved > 0);
    assert_eq!(stored(dir.path(), &req).len() as u64, summary.bars_saved);
    assert!(
        summary.to_string().contains("cancelled after segment 2/"),
        "{summary}"
    );
}

#[tokio::test]
async fn start_runs_the_load_as_a_recorded_operation() {
    use ktrdr_ops::operations::Operations;
    use ktrdr_ops::registry::{MemoryRegistry, OperationStatus, Registry};

    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(MemoryRegistry::new());
    let ops = Operations::new(registry.clone(), None);
    let m = manager(dir.path(), sim_with(FaultConfig::none()));

    let handle = m.start(&ops, half_year()).unwrap();
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, OperationStatus::Completed);
    let summary: LoadSummary = serde_json::from_value(outcome.result_summary.unwrap()).unwrap();
    assert_eq!(
        summary.bars_new as usize,
        stored(dir.path(), &half_year()).len()
    );
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(record.operation_type, "data_load");
    assert_eq!(record.metadata["symbol"], "AAPL");
    assert_eq!(record.progress.unwrap().percent, 100.0);

    // Cancelled through the runner: recorded `cancelled`, with what was kept.
    let dir2 = tempfile::tempdir().unwrap();
    let slow = Arc::new(
        SimProvider::new(SimConfig {
            now: Some(NOW),
            latency: Duration::from_millis(50),
            ..SimConfig::default()
        })
        .unwrap(),
    );
    let m2 = manager(dir2.path(), slow);
    let handle = m2.start(&ops, half_year()).unwrap();
    let mut watcher = handle.progress().subscribe();
    while watcher.changed().await.is_ok() {
        if watcher.latest().sub_progress.is_some_and(|c| c.done >= 1) {
            break;
        }
    }
    ops.cancel(handle.id(), CancelReason::User).unwrap();
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, OperationStatus::Cancelled);
    assert_eq!(outcome.cancel_reason, Some(CancelReason::User));
    let kept: LoadSummary = serde_json::from_value(outcome.result_summary.unwrap()).unwrap();
    assert!(kept.bars_saved > 0);
    assert_eq!(
        stored(dir2.path(), &half_year()).len() as u64,
        kept.bars_saved
    );
}

/// A fault-free sim serving `hours`.
fn sim_serving(hours: SessionHours) -> Arc<SimProvider> {
    Arc::new(
        SimProvider::new(SimConfig {
            now: Some(NOW),
            session_hours: hours,
            ..SimConfig::default()
        })
        .unwrap(),
    )
}

/// A manager on a fault-free sim serving `hours`.
fn sim_manager(dir: &std::path::Path, hours: SessionHours, in_flight: usize) -> DataManager {
    paced_manager(dir, sim_serving(hours), in_flight)
}

/// One grid for the simulator and the gap analysis: after a full load over both 2024 DST
/// changes and the early closes (Jul 3, Nov 29, Dec 24), neither a second full load nor a
/// tail load asks for anything, at every intraday bar size that DST or a 13:00 close can put
/// off a UTC grid.
#[tokio::test(start_paused = true)]
async fn a_complete_series_needs_no_request_across_dst_and_early_closes() {
    for hours in [SessionHours::Regular, SessionHours::Extended] {
        for tf in [Timeframe::H4, Timeframe::H1, Timeframe::M30] {
            let dir = tempfile::tempdir().unwrap();
            let m = sim_manager(dir.path(), hours, 4);
            let full = LoadRequest::new("AAPL".parse().unwrap(), tf, LoadMode::Full)
                .with_start(ts("2024-02-20"));
            let first = run(&m, &full).await.unwrap();
            assert!(
                first.bars_new > 0 && first.requests_sent > 0,
                "{tf} {hours}"
            );
            for mode in [LoadMode::Full, LoadMode::Tail] {
                let again = LoadRequest {
                    mode,
                    ..full.clone()
                };
                let s = run(&m, &again).await.unwrap();
                assert_eq!(
                    (s.gaps, s.requests_planned, s.requests_sent, s.bars_new),
                    (0, 0, 0, 0),
                    "{tf} {hours} {mode}: {s:?}"
                );
            }
        }
    }
}

/// A load cancelled after any number of segments resumes with no more requests than the first
/// run had left, even where a request window ends inside a 4h slot after a DST change, and a
/// third run has nothing to do.
#[tokio::test(start_paused = true)]
async fn resumes_across_dst_need_only_the_requests_left() {
    for (tf, hours, mode, start) in [
        (
            Timeframe::H4,
            SessionHours::Extended,
            LoadMode::Tail,
            "2023-01-01",
        ),
        (
            Timeframe::H4,
            SessionHours::Regular,
            LoadMode::Tail,
            "2023-01-01",
        ),
        (
            Timeframe::H4,
            SessionHours::Extended,
            LoadMode::Full,
            "2023-01-01",
        ),
        (
            Timeframe::H1,
            SessionHours::Extended,
            LoadMode::Tail,
            "2024-01-01",
        ),
    ] {
        let req = LoadRequest::new("AAPL".parse().unwrap(), tf, mode).with_start(ts(start));
        let planned = {
            let dir = tempfile::tempdir().unwrap();
            run(&sim_manager(dir.path(), hours, 1), &req)
                .await
                .unwrap()
                .requests_planned
        };
        for (after, in_flight) in (1..planned).map(|k| (k, 1)).chain([(2, 3), (3, 4)]) {
            let what = format!("{tf} {hours} {mode} cancel after {after} of {planned}");
            let dir = tempfile::tempdir().unwrap();
            let token = CancellationToken::new();
            let sim = sim_serving(hours);
            let m = paced_manager(
                dir.path(),
                Arc::new(Scripted::new(sim).cancel_after(after, &token)),
                in_flight,
            );
            let progress = ProgressHandle::new("op", DataManager::plan(req.mode));
            let first = m.load(&req, &token, &progress).await.unwrap();
            assert!(first.is_cancelled(), "{what}");
            let m2 = sim_manager(dir.path(), hours, in_flight);
            let second = run(&m2, &req).await.unwrap();
            assert!(
                second.requests_sent as usize <= first.requests_planned - first.segments_saved,
                "{what}: {} requests for the {} left",
                second.requests_sent,
                first.requests_planned - first.segments_saved
            );
            assert_eq!(second.empty_answers, 0, "{what}");
            let third = run(&m2, &req).await.unwrap();
            assert_eq!(third.requests_planned, 0, "{what}");
        }
    }
}

/// The case that needs the planner to cover bar timestamps rather than slot intervals: a tail
/// load of exactly two 120-day windows, newest first, whose first window starts at 15:00 New
/// York on 2024-02-06, inside the 12:00–16:00 slot (the window end, 16:00, was summer time).
/// The 12:00 bar belongs to the second window; after a cancel that kept the first, the missing
/// 12:00 slot must not stretch the rest past one window.
#[tokio::test(start_paused = true)]
async fn a_window_ending_inside_a_slot_after_dst_costs_no_extra_request_on_resume() {
    let req = LoadRequest::new("AAPL".parse().unwrap(), Timeframe::H4, LoadMode::Tail)
        .with_start(ts("2023-10-09T20:00:00Z"))
        .with_end(ts("2024-06-05T19:59:59Z"));
    let dir = tempfile::tempdir().unwrap();
    let token = CancellationToken::new();
    let sim = sim_serving(SessionHours::Extended);
    let m = paced_manager(
        dir.path(),
        Arc::new(Scripted::new(sim).cancel_after(1, &token)),
        1,
    );
    let progress = ProgressHandle::new("op", DataManager::plan(req.mode));
    let first = m.load(&req, &token, &progress).await.unwrap();
    assert_eq!((first.requests_planned, first.segments_saved), (2, 1));
    let m2 = sim_manager(dir.path(), SessionHours::Extended, 1);
    let second = run(&m2, &req).await.unwrap();
    assert_eq!(second.requests_sent, 1, "{second:?}");
    assert_eq!(run(&m2, &req).await.unwrap().requests_planned, 0);
}

/// Log lines written while a test runs on this thread (the tests' runtime is current-thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures the warnings logged on this thread until the guard drops.
    fn warnings() -> (Captured, tracing::subscriber::DefaultGuard) {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A host that never answers fails a segment within the segment deadline (not after
/// `max_attempts × request_timeout`), and says so in a warning while it waits (warnings are
/// what the CLI prints under `-q`).
#[tokio::test(start_paused = true)]
async fn a_host_that_never_answers_fails_a_segment_at_its_deadline_with_a_warning() {
    let (logs, _guard) = Captured::warnings();

    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(Scripted::new(sim_with(FaultConfig::none())).script(|_| Verdict::Hang));
    let policy = RetryPolicy::default();
    let m = DataManager::builder()
        .data_dir(dir.path())
        .provider(provider.clone())
        .now(NOW)
        .retry(policy)
        .build()
        .unwrap();
    // One week: one segment.
    let req = LoadRequest::new("AAPL".parse().unwrap(), Timeframe::H1, LoadMode::Full)
        .with_start(ts("2024-03-04"))
        .with_end(ts("2024-03-08T23:59:59Z"));
    let started = tokio::time::Instant::now();
    let error = run(&m, &req).await.unwrap_err();
    let took = started.elapsed();

    let deadline = policy.segment_deadline.unwrap();
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(5),
        "failed after {took:?}, deadline {deadline:?}"
    );
    let LoadError::SegmentsFailed { last_error, .. } = &error else {
        panic!("{error}");
    };
    assert!(
        last_error.contains("segment deadline of 3m"),
        "{last_error}"
    );
    assert!(provider.hanging() >= 2, "it retried within the deadline");
    let logs = logs.text();
    assert!(
        logs.contains("WARN") && logs.contains("no answer for") && logs.contains("still waiting"),
        "{logs}"
    );
}

/// Bars a provider sends are checked with validate's per-bar rules and the requested range
/// before they are stored: the bad ones are dropped, counted in the summary (and so in the
/// registry's result summary) and the load says so.
#[tokio::test(start_paused = true)]
async fn bad_bars_from_the_provider_are_dropped_and_counted() {
    // One week: one segment of 35 bars.
    let req = LoadRequest::new("AAPL".parse().unwrap(), Timeframe::H1, LoadMode::Full)
        .with_start(ts("2024-03-04"))
        .with_end(ts("2024-03-08T23:59:59Z"));
    let good = reference(&req).await;
    assert_eq!(good.len(), 35);
    // The first five broken (high < low, a negative price, a negative volume, a price of
    // 1e308, a time off the grid) and one bar after the range.
    let mut bad: Vec<Bar> = good.iter().collect();
    bad[0].high = bad[0].low - 1.0;
    bad[1].open = -bad[1].open;
    bad[2].volume = -5.0;
    bad[3].close = 1e308;
    bad[3].high = 1e308;
    bad[4].ts += 60;
    let last = *bad.last().unwrap();
    bad.push(Bar {
        ts: req.end.unwrap() + 3_600,
        ..last
    });
    let bad = BarSeries::from_bars(bad).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(
        Scripted::new(sim_with(FaultConfig::none())).script(move |_| Verdict::Bars(bad.clone())),
    );
    let summary = run(&manager(dir.path(), provider), &req).await.unwrap();
    assert_eq!(summary.bars_rejected, 6, "{summary:?}");
    assert_eq!(summary.bars_fetched, 35 + 1);
    let saved = stored(dir.path(), &req);
    assert_eq!(saved.len(), 35 - 5);
    assert_subset(&saved, &good);
    assert!(
        summary.to_string().contains("6 bad bars dropped"),
        "{summary}"
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["bars_rejected"], 6);
}

/// Makes a file read-only for as long as it lives: by its mode, and where that binds nobody
/// (root) by the immutable attribute.
struct ReadOnly {
    path: std::path::PathBuf,
    immutable: bool,
}

impl ReadOnly {
    fn new(path: &std::path::Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let writable = std::fs::OpenOptions::new().append(true).open(path).is_ok();
        if writable {
            let made = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .unwrap();
            assert!(
                made.success(),
                "root needs `chattr +i` to make a file read-only"
            );
        }
        ReadOnly {
            path: path.to_owned(),
            immutable: writable,
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.path)
                .status();
        }
    }
}

/// A series the store cannot write used to be fetched whole and refused only at the save; the
/// load now checks before its first request.
#[tokio::test(start_paused = true)]
async fn a_series_that_cannot_be_written_fails_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let req = half_year();
    let store = BarStore::new(dir.path());
    let t = ts("2024-01-02T15:00:00Z");
    let one = ktrdr_data::types::Bar {
        ts: t,
        open: 1.0,
        high: 2.0,
        low: 0.5,
        close: 1.5,
        volume: 10.0,
    };
    store
        .merge_and_save(
            &req.symbol,
            req.timeframe,
            &BarSeries::from_bars([one]).unwrap(),
        )
        .unwrap();
    let _read_only = ReadOnly::new(&store.path(&req.symbol, req.timeframe));
    let sim = sim_with(FaultConfig::none());
    let err = run(&manager(dir.path(), sim.clone()), &req)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("open for writing"), "{err}");
    assert_eq!(sim.stats().requests, 0, "fetched before finding out: {err}");
}

/// One stored row dated in the future (9999-12-31) does not stop later tail loads: the load
/// does not trust bars after now, starts from the last bar not after now, and says so.
#[tokio::test(start_paused = true)]
async fn a_future_dated_row_does_not_stop_tail_loads() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with(FaultConfig::none());
    let m = manager(dir.path(), sim);
    let first = LoadRequest::new("MSFT".parse().unwrap(), Timeframe::D1, LoadMode::Full)
        .with_start(ts("2024-06-01"))
        .with_end(ts("2024-09-30T23:59:59Z"));
    run(&m, &first).await.unwrap();
    let last_before = stored(dir.path(), &first).last_ts().unwrap();
    let store = BarStore::new(dir.path());
    let bar = stored(dir.path(), &first).bar(0).unwrap();
    let future = BarSeries::from_bars([Bar {
        ts: ts("9999-12-31"),
        ..bar
    }])
    .unwrap();
    store
        .merge_and_save(&first.symbol, Timeframe::D1, &future)
        .unwrap();

    let tail = LoadRequest::new(first.symbol.clone(), Timeframe::D1, LoadMode::Tail);
    let s = run(&m, &tail).await.unwrap();
    assert_eq!(s.window.unwrap().0, last_before, "{s:?}");
    assert!(s.requests_sent > 0 && s.bars_new > 60, "{s:?}");
    assert_eq!(s.bars_after_now, 1);
    assert!(
        s.to_string()
            .contains("1 stored bars dated after now ignored"),
        "{s}"
    );
}

/// A first run (no history) of a paced load: its ETA comes from the gate's schedule of the
/// requests still to send, not from the rate of the first burst. Every read during the fetch
/// puts the end within 15 % of the real one (the live rate alone was off by about 70 %).
#[tokio::test(start_paused = true)]
async fn a_first_runs_eta_follows_the_pacing_schedule() {
    use ktrdr_data::pacing::PacingRules;
    use ktrdr_ops::eta::TimeEstimator;
    use ktrdr_ops::progress::ProgressPhase;

    let sim = Arc::new(
        SimProvider::new(SimConfig {
            now: Some(NOW),
            pacing: PacingRules::fast(),
            ..SimConfig::default()
        })
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let m = DataManager::builder()
        .data_dir(dir.path())
        .provider(sim)
        .now(NOW)
        .build()
        .unwrap();
    // Two years of 5m bars: more requests than one 60-request window allows.
    let req = LoadRequest::new("AAPL".parse().unwrap(), Timeframe::M5, LoadMode::Full)
        .with_start(ts("2023-01-01"))
        .with_end(ts("2024-12-31T23:59:59Z"));
    let progress = ProgressHandle::new("eta", DataManager::plan(req.mode));
    // What the runner attaches to an operation without history.
    progress.set_eta_source(Box::new(TimeEstimator::new(None)));
    let reader = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut reads = Vec::new();
            loop {
                let s = progress.snapshot();
                if s.phase != ProgressPhase::Running {
                    return reads;
                }
                if let (true, Some(eta)) = (s.step_name == steps::FETCH, s.eta) {
                    reads.push((s.elapsed_secs, s.percent, eta.remaining_secs));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let summary = m
        .load(&req, &CancellationToken::new(), &progress)
        .await
        .unwrap();
    progress.complete();
    assert!(summary.requests_sent > 60, "{summary:?}");
    let reads = reader.await.unwrap();
    let total = progress.snapshot().elapsed_secs;
    assert!(reads.len() > 20, "{} reads in {total} s", reads.len());
    for (t, percent, eta) in reads {
        let error = (t + eta - total).abs() / total;
        assert!(
            error < 0.15,
            "at {percent:.1} % ({t:.2} s) the ETA {eta:.2} s puts the end at {:.2} s, the load took {total:.2} s",
            t + eta
        );
    }
}

/// A provider whose symbol validation never answers (the first call of every load).
struct SilentValidation(Arc<SimProvider>);

#[async_trait::async_trait]
impl DataProvider for SilentValidation {
    fn describe(&self) -> ktrdr_data::provider::ProviderInfo {
        self.0.describe()
    }
    async fn validate_symbol(
        &self,
        _: &Symbol,
        _: &CancellationToken,
    ) -> Result<ktrdr_data::provider::SymbolInfo, ProviderError> {
        std::future::pending().await
    }
    async fn head_timestamp(
        &self,
        s: &Symbol,
        tf: Timeframe,
        t: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        self.0.head_timestamp(s, tf, t).await
    }
    async fn fetch_bars(
        &self,
        s: &Symbol,
        tf: Timeframe,
        r: ktrdr_data::types::TimeRange,
        t: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        self.0.fetch_bars(s, tf, r, t).await
    }
}

/// The calls before the fetch (symbol validation, head timestamp) have the same total deadline
/// and the same warning as a segment.
#[tokio::test(start_paused = true)]
async fn a_validation_that_never_answers_fails_at_the_deadline_with_a_warning() {
    let (logs, _guard) = Captured::warnings();

    let dir = tempfile::tempdir().unwrap();
    let policy = RetryPolicy::default();
    let m = DataManager::builder()
        .data_dir(dir.path())
        .provider(Arc::new(SilentValidation(sim_with(FaultConfig::none()))))
        .now(NOW)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = run(&m, &half_year()).await.unwrap_err();
    let took = started.elapsed();
    let deadline = policy.segment_deadline.unwrap();
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(5),
        "failed after {took:?}, deadline {deadline:?}: {error}"
    );
    let logs = logs.text();
    assert!(logs.contains("symbol validation of AAPL"), "{logs}");
}

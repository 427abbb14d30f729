//! The gap filler against the in-process simulated broker: a punched hole is filled by a tail
//! load recorded like any other, the budget spreads work over cycles, a pacing error ends a
//! cycle and backs the service off, and a stop cancels the load in flight as a shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::Arc;
use std::time::Duration;

use ktrdr_data::gap_filler::{CycleEnd, GapFiller, GapFillerConfig, GapFillerError};
use ktrdr_data::gaps::GapKind;
use ktrdr_data::manager::{DataManager, LoadRequest};
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::{DataProvider, ProviderError};
use ktrdr_data::store::BarStore;
use ktrdr_data::testing::{Scripted, Verdict};
use ktrdr_data::types::{parse_timestamp, BarSeries, LoadMode, Symbol, Timeframe};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::operations::Operations;
use ktrdr_ops::progress::ProgressHandle;
use ktrdr_ops::registry::{MemoryRegistry, OperationFilter, OperationStatus, Registry};
use ktrdr_ops::service::Shutdown;

/// 2025-01-01T00:00:00Z, the simulated "now".
const NOW: i64 = 1_735_689_600;

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn sym(s: &str) -> Symbol {
    s.parse().unwrap()
}

fn sim() -> Arc<SimProvider> {
    Arc::new(
        SimProvider::new(SimConfig {
            now: Some(NOW),
            ..SimConfig::default()
        })
        .unwrap(),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    manager: DataManager,
    ops: Operations,
    registry: Arc<MemoryRegistry>,
}

impl Fixture {
    fn new(provider: Arc<dyn DataProvider>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manager = DataManager::builder()
            .data_dir(dir.path())
            .provider(provider)
            .now(NOW)
            .build()
            .unwrap();
        let registry = Arc::new(MemoryRegistry::new());
        let ops = Operations::new(registry.clone(), None);
        Fixture {
            dir,
            manager,
            ops,
            registry,
        }
    }

    fn store(&self) -> BarStore {
        BarStore::new(self.dir.path())
    }

    /// Stores `symbol` 1h from `start` to now, loaded from the simulator.
    async fn seed(&self, symbol: &str, start: &str) -> BarSeries {
        let manager = DataManager::builder()
            .data_dir(self.dir.path())
            .provider(sim())
            .now(NOW)
            .build()
            .unwrap();
        let request =
            LoadRequest::new(sym(symbol), Timeframe::H1, LoadMode::Full).with_start(ts(start));
        let progress = ProgressHandle::new("seed", DataManager::plan(LoadMode::Full));
        manager
            .load(&request, &CancellationToken::new(), &progress)
            .await
            .unwrap();
        self.store().load(&sym(symbol), Timeframe::H1).unwrap()
    }

    /// Removes the stored bars of `symbol` 1h in `[from, to)`; returns how many.
    fn punch(&self, symbol: &str, from: &str, to: &str) -> usize {
        let store = self.store();
        let series = store.load(&sym(symbol), Timeframe::H1).unwrap();
        let (from, to) = (ts(from), ts(to));
        let kept: Vec<_> = series
            .iter()
            .filter(|b| b.ts < from || b.ts >= to)
            .collect();
        let punched = series.len() - kept.len();
        store
            .replace_series(
                &sym(symbol),
                Timeframe::H1,
                &BarSeries::from_bars(kept).unwrap(),
            )
            .unwrap();
        punched
    }

    fn filler(&self, config: GapFillerConfig) -> GapFiller {
        GapFiller::new(self.manager.clone(), self.ops.clone(), config).unwrap()
    }

    fn loads(&self) -> Vec<ktrdr_ops::registry::OperationRecord> {
        self.registry
            .list(&OperationFilter::default())
            .unwrap()
            .operations
    }
}

#[tokio::test]
async fn a_cycle_fills_a_punched_hole_with_a_tail_load_recorded_like_any_other() {
    let f = Fixture::new(sim());
    let original = f.seed("AAPL", "2024-12-09").await;
    // Tuesday 17 December 2024, 11:00 to 14:00 New York (EST): three in-session bars.
    let punched = f.punch("AAPL", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    assert_eq!(punched, 3);
    // A series that ended long ago is stale, not a hole to fill.
    f.seed("MSFT", "2024-06-03").await;
    let stale = f.punch("MSFT", "2024-06-15", "2025-01-01");
    assert!(stale > 0);

    let filler = f.filler(GapFillerConfig::default());
    let (_keep, shutdown) = Shutdown::channel();
    let report = filler.run_once(&shutdown).await;

    assert_eq!(report.ended, CycleEnd::Done, "{report:#?}");
    assert_eq!((report.series_scanned, report.stale), (2, 1));
    assert_eq!((report.gaps_found, report.missing_bars_found), (1, 3));
    assert_eq!(report.loads.len(), 1, "{report:#?}");
    let load = &report.loads[0];
    assert_eq!(
        (load.symbol.as_str(), load.timeframe),
        ("AAPL", Timeframe::H1)
    );
    assert_eq!(load.status, OperationStatus::Completed);
    assert_eq!(load.bars_filled, 3);
    assert_eq!(load.start, ts("2024-12-17T16:00:00Z"));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // The closed time of the window is counted by class, not filled.
    for kind in [GapKind::Weekend, GapKind::Holiday, GapKind::OutsideHours] {
        assert!(
            report.skipped_by_class.get(&kind).is_some_and(|n| *n > 0),
            "{kind:?}: {:?}",
            report.skipped_by_class
        );
    }
    assert_eq!(report.skipped_by_class.get(&GapKind::Missing), None);

    let filled = f.store().load(&sym("AAPL"), Timeframe::H1).unwrap();
    assert_eq!(
        filled.ts(),
        original.ts(),
        "the hole is filled, nothing else"
    );

    let records = f.loads();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.id, load.operation_id);
    assert_eq!(record.operation_type, "data_load");
    assert_eq!(record.status, OperationStatus::Completed);
    assert_eq!(record.metadata["mode"], "tail");
    assert_eq!(record.metadata["started_by"], "gap_filler");
    assert_eq!(record.result_summary.as_ref().unwrap()["bars_new"], 3);

    // Nothing left to do.
    let again = filler.run_once(&shutdown).await;
    assert!(again.loads.is_empty(), "{again:#?}");
    assert_eq!(again.up_to_date, 1);
}

#[tokio::test]
async fn the_budget_cuts_a_cycle_to_the_newest_bars_and_the_next_serves_the_series_after() {
    let f = Fixture::new(sim());
    f.seed("AAPL", "2024-10-01").await;
    // Two holes more than a 1h request's 30 days apart: two requests.
    f.punch("AAPL", "2024-10-15T15:00:00Z", "2024-10-15T18:00:00Z");
    f.punch("AAPL", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    f.seed("MSFT", "2024-12-09").await;
    f.punch("MSFT", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    let filler = f.filler(GapFillerConfig {
        request_budget: 1,
        recent: Duration::from_secs(120 * 86_400),
        ..GapFillerConfig::default()
    });
    let (_keep, shutdown) = Shutdown::channel();

    let first = filler.run_once(&shutdown).await;
    assert_eq!(first.ended, CycleEnd::BudgetSpent, "{first:#?}");
    assert_eq!(first.requests_planned, 1);
    assert_eq!(first.loads.len(), 1);
    let load = &first.loads[0];
    assert_eq!(load.symbol.as_str(), "AAPL");
    assert_eq!(
        (load.start, load.bars_filled),
        (ts("2024-12-17T16:00:00Z"), 3),
        "the newest hole first"
    );
    assert_eq!(first.deferred, 2, "AAPL's older hole and MSFT");

    let mut served = vec![];
    for _ in 0..2 {
        let report = filler.run_once(&shutdown).await;
        assert_eq!(report.loads.len(), 1, "{report:#?}");
        served.push((report.loads[0].symbol.to_string(), report.loads[0].start));
    }
    assert_eq!(
        served,
        [
            ("MSFT".to_owned(), ts("2024-12-17T16:00:00Z")),
            ("AAPL".to_owned(), ts("2024-10-15T15:00:00Z")),
        ],
        "the series after the last one served goes first"
    );
    assert!(filler.run_once(&shutdown).await.loads.is_empty());
}

#[tokio::test]
async fn a_filter_keeps_the_filler_to_its_series() {
    let f = Fixture::new(sim());
    for symbol in ["AAPL", "MSFT"] {
        f.seed(symbol, "2024-12-09").await;
        f.punch(symbol, "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    }
    let filler = f.filler(GapFillerConfig {
        symbols: Some([sym("MSFT")].into()),
        ..GapFillerConfig::default()
    });
    let (_keep, shutdown) = Shutdown::channel();
    let report = filler.run_once(&shutdown).await;
    assert_eq!(report.series_scanned, 1);
    assert_eq!(report.loads.len(), 1);
    assert_eq!(report.loads[0].symbol.as_str(), "MSFT");
}

/// A provider whose first fetch is answered with a pacing violation, then normally.
fn pacing_once() -> Arc<Scripted> {
    Arc::new(Scripted::new(sim()).script(|call| {
        if call.index == 0 {
            Verdict::Fail(ProviderError::pacing(
                "pacing violation (scripted)",
                Duration::from_secs(2),
            ))
        } else {
            Verdict::Answer
        }
    }))
}

#[tokio::test(start_paused = true)]
async fn a_pacing_error_ends_the_cycle_and_the_service_backs_off_then_recovers() {
    let provider = pacing_once();
    let f = Fixture::new(provider.clone());
    for symbol in ["AAPL", "MSFT"] {
        f.seed(symbol, "2024-12-09").await;
        f.punch(symbol, "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    }
    let config = GapFillerConfig {
        interval: Duration::from_secs(600),
        max_backoff: Duration::from_secs(3600),
        ..GapFillerConfig::default()
    };
    let handle = f.filler(config).spawn().unwrap();
    let mut stats = handle.subscribe();

    let first = stats.wait_for(|s| s.cycles == 1).await.unwrap().clone();
    let after_first = tokio::time::Instant::now();
    let cycle = first.last_cycle.as_ref().unwrap();
    assert_eq!(cycle.ended, CycleEnd::PacingError, "{cycle:#?}");
    assert_eq!(cycle.loads.len(), 1, "the second series waits");
    assert_eq!(cycle.deferred, 1);
    assert_eq!(
        cycle.loads[0].status,
        OperationStatus::Completed,
        "the load itself retried"
    );
    assert_eq!((first.pacing_errors, first.interval_secs), (1, 1200.0));

    let second = stats.wait_for(|s| s.cycles == 2).await.unwrap().clone();
    let cycle = second.last_cycle.as_ref().unwrap();
    let waited = after_first.elapsed() - Duration::from_secs_f64(cycle.duration_secs);
    assert!(
        waited >= Duration::from_secs(1200) && waited < Duration::from_secs(1201),
        "the second cycle came after the doubled interval: {waited:?}"
    );
    assert_eq!(cycle.ended, CycleEnd::Done, "{cycle:#?}");
    assert_eq!(cycle.loads[0].symbol.as_str(), "MSFT");
    assert_eq!(
        second.interval_secs, 600.0,
        "a clean cycle restores the interval"
    );
    assert_eq!((second.loads_completed, second.bars_filled), (2, 6));

    let last = handle.stop().await.unwrap();
    assert!(!last.running);
}

#[tokio::test(start_paused = true)]
async fn the_service_runs_a_cycle_per_interval_until_stopped() {
    let f = Fixture::new(sim());
    f.seed("AAPL", "2024-12-09").await;
    let started = tokio::time::Instant::now();
    let handle = f
        .filler(GapFillerConfig {
            interval: Duration::from_secs(3600),
            ..GapFillerConfig::default()
        })
        .spawn()
        .unwrap();
    assert!(handle.is_running());
    let mut stats = handle.subscribe();
    let third = stats.wait_for(|s| s.cycles == 3).await.unwrap().clone();
    assert_eq!(started.elapsed(), Duration::from_secs(2 * 3600));
    assert!(third.running && third.next_cycle_at.is_some());
    assert_eq!((third.series_scanned, third.loads_started), (3, 0));
    let last = handle.stop().await.unwrap();
    assert!(!last.running && last.next_cycle_at.is_none());
    assert_eq!(last.cycles, 3, "a stop does not run another cycle");
}

#[tokio::test]
async fn stopping_the_service_cancels_its_load_as_a_shutdown_not_a_user_cancel() {
    let (fetching_tx, mut fetching) = tokio::sync::mpsc::unbounded_channel();
    let provider = Arc::new(Scripted::new(sim()).script(move |_| {
        let _ = fetching_tx.send(());
        Verdict::Hang
    }));
    let f = Fixture::new(provider);
    f.seed("AAPL", "2024-12-09").await;
    f.punch("AAPL", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    let handle = f.filler(GapFillerConfig::default()).spawn().unwrap();
    fetching.recv().await.expect("the load started fetching");

    let stats = handle.stop().await.unwrap();
    assert_eq!((stats.loads_started, stats.loads_cancelled), (1, 1));
    let cycle = stats.last_cycle.as_ref().unwrap();
    assert_eq!(cycle.ended, CycleEnd::Shutdown);
    assert_eq!(cycle.loads[0].cancel_reason, Some(CancelReason::Shutdown));

    let records = f.loads();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, OperationStatus::Cancelled);
    assert_eq!(records[0].cancel_reason, Some(CancelReason::Shutdown));
}

#[tokio::test]
async fn a_filler_needs_a_source_and_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let local = DataManager::builder().data_dir(dir.path()).build().unwrap();
    let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
    let err = GapFiller::new(local, ops.clone(), GapFillerConfig::default()).unwrap_err();
    assert_eq!(err, GapFillerError::NoProvider);

    let f = Fixture::new(sim());
    let err = GapFiller::new(
        f.manager.clone(),
        ops,
        GapFillerConfig {
            request_budget: 0,
            ..GapFillerConfig::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("request_budget"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_busy_pacing_gate_defers_the_cycle_instead_of_queueing_behind_it() {
    let f = Fixture::new(sim());
    f.seed("AAPL", "2024-12-09").await;
    f.punch("AAPL", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    // Another load on the connection met a violation: the gate holds requests for a minute.
    let gate = f.manager.pacing_gate().unwrap();
    gate.report_violation(Duration::from_secs(60));

    let filler = f.filler(GapFillerConfig {
        max_gate_wait: Duration::from_secs(30),
        ..GapFillerConfig::default()
    });
    let (_keep, shutdown) = Shutdown::channel();
    let report = filler.run_once(&shutdown).await;
    assert_eq!(report.ended, CycleEnd::PacingGateBusy, "{report:#?}");
    assert!(report.loads.is_empty());
    assert_eq!((report.gaps_found, report.deferred), (1, 1));
    assert!(f.loads().is_empty(), "no operation was started");

    // A minute later the gate is free again.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let report = filler.run_once(&shutdown).await;
    assert_eq!(report.ended, CycleEnd::Done, "{report:#?}");
    assert_eq!(report.bars_filled(), 3);
}

#[tokio::test]
async fn an_unreadable_series_is_an_error_of_the_cycle_and_the_others_are_still_filled() {
    let f = Fixture::new(sim());
    f.seed("AAPL", "2024-12-09").await;
    f.punch("AAPL", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    let broken = f.store().path(&sym("MSFT"), Timeframe::H1);
    std::fs::write(
        &broken,
        "timestamp,open,high,low,close,volume\n2024-12-17T15:00:00Z,1,2,0.5,1.5,x\n",
    )
    .unwrap();

    let (_keep, shutdown) = Shutdown::channel();
    let report = f
        .filler(GapFillerConfig::default())
        .run_once(&shutdown)
        .await;
    assert_eq!(report.errors.len(), 1, "{report:#?}");
    assert!(
        report.errors[0].starts_with("MSFT 1h: ") && report.errors[0].contains("MSFT_1h.csv"),
        "{:?}",
        report.errors
    );
    assert_eq!(report.loads.len(), 1);
    assert_eq!(report.loads[0].bars_filled, 3);
}

#[tokio::test]
async fn a_store_that_cannot_be_listed_ends_the_cycle_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("bars");
    std::fs::write(&not_a_dir, "a file where the store should be").unwrap();
    let manager = DataManager::builder()
        .data_dir(&not_a_dir)
        .provider(sim())
        .now(NOW)
        .build()
        .unwrap();
    let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
    let filler = GapFiller::new(manager, ops, GapFillerConfig::default()).unwrap();
    let (_keep, shutdown) = Shutdown::channel();
    let report = filler.run_once(&shutdown).await;
    assert_eq!(report.ended, CycleEnd::StoreUnreadable);
    assert_eq!(report.errors.len(), 1, "{report:#?}");
    assert!(report.errors[0].contains("bars"), "{:?}", report.errors);
}

#[tokio::test(start_paused = true)]
async fn a_hole_the_source_has_no_bars_for_is_not_asked_again_until_the_recheck() {
    // A broker with no bar for the hole (a halt, a gap in its own data): every answer empty.
    let provider = Arc::new(Scripted::new(sim()).script(|_| Verdict::Bars(BarSeries::new())));
    let f = Fixture::new(provider.clone());
    f.seed("AAPL", "2024-12-09").await;
    f.punch("AAPL", "2024-12-17T16:00:00Z", "2024-12-17T19:00:00Z");
    let filler = f.filler(GapFillerConfig {
        recheck_empty: Duration::from_secs(86_400),
        ..GapFillerConfig::default()
    });
    let (_keep, shutdown) = Shutdown::channel();

    let first = filler.run_once(&shutdown).await;
    assert_eq!(first.loads.len(), 1, "{first:#?}");
    assert_eq!(first.loads[0].status, OperationStatus::Completed);
    assert_eq!(first.loads[0].bars_filled, 0);
    let asked = provider.started();

    let second = filler.run_once(&shutdown).await;
    assert!(second.loads.is_empty(), "{second:#?}");
    assert_eq!((second.gaps_found, second.known_empty), (1, 1));
    assert_eq!(
        provider.started(),
        asked,
        "no request for a known-empty hole"
    );

    // A new hole changes the plan: asked at once, the old one with it.
    f.punch("AAPL", "2024-12-19T16:00:00Z", "2024-12-19T17:00:00Z");
    let third = filler.run_once(&shutdown).await;
    assert_eq!(third.loads.len(), 1, "{third:#?}");
    assert_eq!(third.known_empty, 0);

    // A day later, the same hole is asked again.
    assert!(filler.run_once(&shutdown).await.loads.is_empty());
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    let later = filler.run_once(&shutdown).await;
    assert_eq!(later.loads.len(), 1, "{later:#?}");
}

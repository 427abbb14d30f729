//! Multi-timeframe loads: nested progress, a failed non-base timeframe, common coverage.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::{Arc, Mutex};

use ktrdr_data::manager::multi_timeframe::{MultiLoadError, MultiLoadRequest};
use ktrdr_data::manager::DataManager;
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::ProviderError;
use ktrdr_data::store::BarStore;
use ktrdr_data::testing::{Scripted, Verdict};
use ktrdr_data::types::LoadMode;
use ktrdr_data::types::{parse_timestamp, Timeframe};
use ktrdr_ops::cancel::CancellationToken;
use ktrdr_ops::progress::{ProgressHandle, ProgressState};

const NOW: i64 = 1_735_689_600;

fn setup(broken: Option<Timeframe>) -> (tempfile::TempDir, DataManager) {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProvider::new(SimConfig {
        now: Some(NOW),
        ..SimConfig::default()
    })
    .unwrap();
    let m = DataManager::builder()
        .data_dir(dir.path())
        .provider(Arc::new(Scripted::new(Arc::new(sim)).script(
            move |call| match broken {
                // The broker has no data of this timeframe for the contract: fails for good.
                Some(tf) if tf == call.timeframe => Verdict::Fail(ProviderError::fatal(format!(
                    "no {tf} data for this contract"
                ))),
                _ => Verdict::Answer,
            },
        )))
        .now(NOW)
        .build()
        .unwrap();
    (dir, m)
}

fn request(base: Option<Timeframe>) -> MultiLoadRequest {
    MultiLoadRequest {
        symbol: "MSFT".parse().unwrap(),
        timeframes: vec![Timeframe::H1, Timeframe::H4, Timeframe::D1],
        base,
        mode: LoadMode::Full,
        start: Some(parse_timestamp("2024-03-01").unwrap()),
        end: Some(parse_timestamp("2024-05-31T23:59:59Z").unwrap()),
    }
}

#[tokio::test(start_paused = true)]
async fn timeframes_load_as_nested_steps_and_report_their_common_coverage() {
    let (dir, m) = setup(None);
    let req = request(None);
    let progress = ProgressHandle::new("mtf", DataManager::multi_plan(&req.timeframes));
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
    let summary = m
        .load_multi(&req, &CancellationToken::new(), &progress)
        .await
        .unwrap();
    progress.complete();
    drop(progress);
    collector.await.unwrap();

    assert_eq!(summary.loads.len(), 3);
    assert!(summary.failed().next().is_none());
    let store = BarStore::new(dir.path());
    for load in &summary.loads {
        let s = load.summary.as_ref().unwrap();
        let stored = store.load(&req.symbol, load.timeframe).unwrap();
        assert_eq!(s.bars_new as usize, stored.len(), "{}", load.timeframe);
    }
    let cov = summary.coverage.clone().unwrap();
    assert!(cov.start >= req.start.unwrap() && cov.end <= req.end.unwrap());
    assert!(cov.bars[&Timeframe::H1] > cov.bars[&Timeframe::H4]);
    assert!(cov.bars[&Timeframe::H4] > cov.bars[&Timeframe::D1]);
    assert!(summary.to_string().contains("common coverage"), "{summary}");

    let states = seen.lock().unwrap().clone();
    for pair in states.windows(2) {
        assert!(pair[1].percent >= pair[0].percent);
    }
    let nested: Vec<_> = states.iter().filter(|s| s.nested.is_some()).collect();
    assert!(!nested.is_empty());
    assert!(
        nested.iter().any(
            |s| s.step_name == "4h" && s.message.starts_with("[2/4] Fetching MSFT 4h: segment")
        ),
        "{:?}",
        nested.iter().map(|s| &s.message).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_other_timeframe_is_recorded_and_the_rest_load() {
    let (dir, m) = setup(Some(Timeframe::H4));
    let req = request(None);
    let progress = ProgressHandle::new("mtf", DataManager::multi_plan(&req.timeframes));
    let summary = m
        .load_multi(&req, &CancellationToken::new(), &progress)
        .await
        .unwrap();
    let failed: Vec<_> = summary.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].timeframe, Timeframe::H4);
    assert!(failed[0].error.as_deref().unwrap().contains("no 4h data"));
    let store = BarStore::new(dir.path());
    assert!(!store.load(&req.symbol, Timeframe::H1).unwrap().is_empty());
    assert!(!store.load(&req.symbol, Timeframe::D1).unwrap().is_empty());
    let cov = summary.coverage.unwrap();
    assert_eq!(
        cov.bars.keys().copied().collect::<Vec<_>>(),
        [Timeframe::H1, Timeframe::D1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_base_fails_the_operation() {
    let (_dir, m) = setup(Some(Timeframe::D1));
    let req = request(Some(Timeframe::D1));
    let progress = ProgressHandle::new(
        "mtf",
        DataManager::multi_plan(&[Timeframe::D1, Timeframe::H1, Timeframe::H4]),
    );
    let err = m
        .load_multi(&req, &CancellationToken::new(), &progress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MultiLoadError::BaseFailed {
                timeframe: Timeframe::D1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("base timeframe 1d failed: 1 of 1 requests failed"),
        "{err}"
    );
}

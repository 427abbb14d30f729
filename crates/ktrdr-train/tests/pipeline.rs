//! A training as an operation, end to end on simulated bars: from a shared strategy file to a
//! stored model, a cancel that stops between batches and keeps a checkpoint, a resume that ends
//! where the uninterrupted run ends, and an ETA learned from the first run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ktrdr_data::manager::DataManager;
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::parse_timestamp;
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::eta::MemoryEtaHistory;
use ktrdr_ops::operations::{OperationOutcome, Operations};
use ktrdr_ops::registry::{MemoryRegistry, OperationStatus, Registry};
use ktrdr_train::pipeline::{StrategySource, TrainingRequest, TrainingService, OPERATION_KIND};
use ktrdr_train::render::steps;
use ktrdr_train::store::files;
use serde_json::Value;

const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

fn service(root: &Path) -> TrainingService {
    let sim = SimProvider::new(SimConfig {
        latency: Duration::ZERO,
        latency_jitter: Duration::ZERO,
        now: Some(parse_timestamp("2025-01-01").unwrap()),
        ..SimConfig::default()
    })
    .unwrap();
    let manager = DataManager::builder()
        .store(BarStore::new(root.join("data")))
        .provider(Arc::new(sim))
        .build()
        .unwrap();
    TrainingService::new(manager.store().clone(), root.join("models")).with_manager(manager)
}

fn request(epochs: u32, resume: bool) -> TrainingRequest {
    let path = Path::new(STRATEGIES).join("rsi_mean_reversion.yaml");
    TrainingRequest {
        strategy: StrategySource::read(&path).unwrap(),
        symbols: vec!["AAPL".to_owned(), "MSFT".to_owned()],
        timeframes: vec!["1h".to_owned()],
        start: Some(parse_timestamp("2024-03-01").unwrap()),
        end: Some(parse_timestamp("2024-12-31").unwrap()),
        epochs: Some(epochs),
        seed: 7,
        resume,
    }
}

fn runner() -> (Operations, Arc<MemoryRegistry>) {
    let registry = Arc::new(MemoryRegistry::new());
    let ops = Operations::new(registry.clone(), Some(Arc::new(MemoryEtaHistory::new())));
    (ops, registry)
}

async fn train(
    service: &TrainingService,
    ops: &Operations,
    request: TrainingRequest,
) -> OperationOutcome {
    let prepared = service.prepare(request).unwrap();
    service.start(ops, prepared).unwrap().handle.wait().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_file_becomes_a_stored_model_through_one_training_operation() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let (ops, registry) = runner();
    let prepared = service.prepare(request(3, false)).unwrap();
    let started = service.start(&ops, prepared).unwrap();
    let outcome = started.handle.wait().await;
    assert_eq!(outcome.status, OperationStatus::Completed, "{outcome:?}");

    let record = registry.get(&outcome.id).unwrap().unwrap();
    assert_eq!(record.operation_type, OPERATION_KIND);
    assert_eq!(
        record.metadata["eta_factors"]["strategy"],
        "rsi_mean_reversion"
    );
    let summary = outcome.result_summary.unwrap();
    let path = Path::new(summary["model_path"].as_str().unwrap());
    for file in [
        files::CONFIG,
        files::METRICS,
        files::FEATURES,
        files::METADATA,
        files::WEIGHTS,
    ] {
        assert!(
            path.join(file).is_file(),
            "{file} missing in {}",
            path.display()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(path.join(files::METADATA)).unwrap()).unwrap();
    assert_eq!(metadata["is_trained"], true);
    assert_eq!(summary["training_metrics"]["epochs_trained"], 3);
    assert_eq!(started.monitor.snapshot().history.val_loss.len(), 3);
    // Both symbols were loaded through the manager first, then trained on.
    assert!(dir.path().join("data/AAPL_1h.csv").is_file());
    let per_symbol = summary["per_symbol_metrics"].as_object().unwrap();
    assert_eq!(per_symbol.len(), 2, "{per_symbol:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_within_the_epoch_under_way_and_resume_ends_where_the_uninterrupted_run_ends(
) {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let (ops, _) = runner();
    let epochs = 12;

    let prepared = service.prepare(request(epochs, false)).unwrap();
    let started = service.start(&ops, prepared).unwrap();
    let mut progress = started.handle.progress().subscribe();
    // Into the third epoch: two epochs' checkpoints exist, the third is under way.
    loop {
        progress.changed().await.unwrap();
        let s = progress.latest();
        if s.step_name == steps::TRAIN && started.monitor.snapshot().epoch >= 2 {
            break;
        }
    }
    let epochs_before = started.monitor.snapshot().epoch;
    let asked = Instant::now();
    started.handle.token().cancel(CancelReason::User);
    let outcome = started.handle.wait().await;
    // How long it took is for the eye (the loop checks the token before every batch); what is
    // asserted is that it stopped within the epoch under way, not at the end of the run.
    eprintln!("cancel to recorded outcome: {:?}", asked.elapsed());
    assert_eq!(outcome.status, OperationStatus::Cancelled, "{outcome:?}");
    let kept = outcome.result_summary.unwrap();
    assert!(
        Path::new(kept["checkpoint"].as_str().unwrap()).is_file(),
        "{kept}"
    );
    let stopped_at = kept["epochs_completed"].as_u64().unwrap();
    assert!(
        stopped_at <= u64::from(epochs_before) + 1 && stopped_at < u64::from(epochs),
        "cancelled with {epochs_before} epochs done, stopped with {stopped_at}"
    );

    let resumed = train(&service, &ops, request(epochs, true)).await;
    assert_eq!(resumed.status, OperationStatus::Completed, "{resumed:?}");

    let other = tempfile::tempdir().unwrap();
    let whole = train(&self::service(other.path()), &ops, request(epochs, false)).await;
    let metrics = |o: &OperationOutcome| {
        let s = o.result_summary.as_ref().unwrap();
        (
            s["training_metrics"]["history"].clone(),
            s["test_metrics"].clone(),
        )
    };
    assert_eq!(metrics(&resumed), metrics(&whole));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_without_a_checkpoint_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let error = service(dir.path()).prepare(request(2, true)).unwrap_err();
    assert!(error.to_string().contains("nothing to resume"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_run_of_a_strategy_has_an_eta_from_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let (ops, _) = runner();
    let first = service
        .start(&ops, service.prepare(request(2, false)).unwrap())
        .unwrap();
    assert!(!first.handle.progress().eta_has_prior());
    assert_eq!(first.handle.wait().await.status, OperationStatus::Completed);
    let second = service
        .start(&ops, service.prepare(request(2, false)).unwrap())
        .unwrap();
    assert!(second.handle.progress().eta_has_prior());
    assert_eq!(
        second.handle.wait().await.status,
        OperationStatus::Completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_series_that_does_not_span_the_window_is_completed_from_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let (ops, _) = runner();
    let narrow = TrainingRequest {
        start: Some(parse_timestamp("2024-06-01").unwrap()),
        ..request(1, false)
    };
    assert_eq!(
        train(&service, &ops, narrow).await.status,
        OperationStatus::Completed
    );
    let store = BarStore::new(dir.path().join("data"));
    let first = |store: &BarStore| {
        let series = store.load(&"AAPL".parse().unwrap(), "1h".parse().unwrap());
        series.unwrap().first_ts().unwrap()
    };
    assert!(first(&store) >= parse_timestamp("2024-06-01").unwrap());
    // The wider window starts in March: the stored series is loaded back to it first.
    assert_eq!(
        train(&service, &ops, request(1, false)).await.status,
        OperationStatus::Completed
    );
    assert!(first(&store) < parse_timestamp("2024-03-08").unwrap());
}

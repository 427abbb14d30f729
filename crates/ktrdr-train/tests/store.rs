//! The model store: layout, versions under concurrency, `_latest` repair, loading back,
//! listing, checkpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test helper crate, outside #[test] functions

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::{dataset, params, spec, Rule};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_train::dataset::Dataset;
use ktrdr_train::progress::TrainProgress;
use ktrdr_train::store::{ModelStore, NewModel, SeriesKey, StoredModel};
use ktrdr_train::train::{train, TrainOutcome, TrainedModel};
use serde_json::{json, Value};

fn trained(data: &Dataset) -> TrainedModel {
    let mut ignore = |_: &TrainProgress| {};
    match train(
        data,
        &spec(data),
        &params(2),
        &CancellationToken::new(),
        &mut ignore,
        None,
    ) {
        Ok(TrainOutcome::Completed(m)) => *m,
        other => panic!("{other:?}"),
    }
}

fn key() -> SeriesKey {
    SeriesKey {
        strategy: "rsi_mean_reversion".into(),
        symbols: vec!["AAPL".into(), "MSFT".into(), "EURUSD".into()],
        timeframe: "1h".into(),
    }
}

fn strategy() -> Value {
    json!({"name": "rsi_mean_reversion", "model": {"type": "mlp", "architecture": {"hidden_layers": [16, 8]}}})
}

fn features(data: &Dataset) -> Value {
    json!({"model_version": "pure_fuzzy_v1", "fuzzy_features": data.feature_names, "feature_count": data.width()})
}

fn save(store: &ModelStore, data: &Dataset, m: &TrainedModel) -> StoredModel {
    let key = key();
    store
        .save(&NewModel {
            key: &key,
            timeframes: &["1h".into(), "4h".into()],
            strategy: &strategy(),
            features: &features(data),
            model: &m.model,
            metrics: &m.metrics,
        })
        .unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_saved_model_has_the_python_layout_and_loads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path().join("models"));
    let data = dataset(5, 60, Rule::Features, 1);
    let m = trained(&data);
    let stored = save(&store, &data, &m);
    assert_eq!(stored.name, "rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_v1");
    let v1 = dir
        .path()
        .join("models/rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_v1");
    assert_eq!(stored.path, v1);
    for f in [
        "config.json",
        "metrics.json",
        "features.json",
        "metadata.json",
        "model.safetensors",
    ] {
        assert!(v1.join(f).is_file(), "{f}");
    }
    let link = dir
        .path()
        .join("models/rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_latest");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("AAPL_MSFT_EURUSD_1h_v1")
    );

    let meta = read(&v1.join("metadata.json"));
    assert_eq!(meta["is_trained"], json!(true));
    for k in [
        "strategy_name",
        "symbol",
        "timeframe",
        "created_at",
        "model_type",
        "model_version",
        "architecture_type",
        "input_size",
        "training_summary",
        "feature_engineering",
    ] {
        assert!(meta.get(k).is_some(), "metadata lacks {k}");
    }
    let config = read(&v1.join("config.json"));
    assert_eq!(config["model"]["input_size"], json!(5));
    assert_eq!(config["model"]["num_symbols"], json!(3));
    assert_eq!(config["model"]["symbol_embedding_dim"], json!(4));
    assert_eq!(
        config["model"]["architecture"]["hidden_layers"],
        json!([16, 8])
    );
    assert_eq!(read(&v1.join("features.json")), features(&data));
    assert_eq!(
        read(&v1.join("metrics.json"))["best_epoch"],
        json!(m.metrics.best_epoch)
    );

    for name in [
        stored.name.as_str(),
        "rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_latest",
    ] {
        let loaded = store.load(name).unwrap();
        assert_eq!(loaded.features, features(&data));
        let rows = &data.test.features;
        assert_eq!(
            loaded.model.predict(rows, &data.test.symbol).unwrap(),
            m.model.predict(rows, &data.test.symbol).unwrap()
        );
    }
}

#[test]
fn concurrent_saves_get_distinct_versions_and_latest_ends_on_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ModelStore::new(dir.path()));
    let data = Arc::new(dataset(5, 40, Rule::Features, 2));
    let m = Arc::new(trained(&data));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (store, data, m) = (store.clone(), data.clone(), m.clone());
            std::thread::spawn(move || save(&store, &data, &m).version)
        })
        .collect();
    let mut versions: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    let link = dir
        .path()
        .join("rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_latest");
    assert_eq!(
        fs::read_link(link).unwrap(),
        Path::new("AAPL_MSFT_EURUSD_1h_v8")
    );
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|s| s.latest == (s.version == 8)));
    // Nothing temporary is left behind.
    let strays: Vec<_> = fs::read_dir(dir.path().join("rsi_mean_reversion"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
}

#[test]
fn a_dangling_latest_link_is_repaired_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let data = dataset(5, 40, Rule::Features, 3);
    let m = trained(&data);
    save(&store, &data, &m);
    let v2 = save(&store, &data, &m);
    fs::remove_dir_all(&v2.path).unwrap();
    let strategy_dir = dir.path().join("rsi_mean_reversion");
    let link = strategy_dir.join("AAPL_MSFT_EURUSD_1h_latest");
    assert!(!link.exists(), "the link dangles");

    let loaded = store
        .load("rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_latest")
        .unwrap();
    assert!(loaded.path.ends_with("AAPL_MSFT_EURUSD_1h_v1"));
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("AAPL_MSFT_EURUSD_1h_v1")
    );

    // Saving over a dangling link works too (the Python system raised here).
    fs::remove_dir_all(strategy_dir.join("AAPL_MSFT_EURUSD_1h_v1")).unwrap();
    let v3 = save(&store, &data, &m);
    assert_eq!(v3.version, 1, "numbering restarts above what exists");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("AAPL_MSFT_EURUSD_1h_v1")
    );
}

#[test]
fn an_interrupted_save_leaves_no_half_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let strategy_dir = dir.path().join("rsi_mean_reversion");
    // What a crash leaves: a claimed (empty) version and a temporary directory with some files.
    fs::create_dir_all(strategy_dir.join("AAPL_MSFT_EURUSD_1h_v1")).unwrap();
    fs::create_dir_all(strategy_dir.join(".incoming-x")).unwrap();
    fs::write(strategy_dir.join(".incoming-x/config.json"), "{}").unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(store
        .load("rsi_mean_reversion/AAPL_MSFT_EURUSD_1h_v1")
        .is_err());

    let data = dataset(5, 40, Rule::Features, 4);
    let stored = save(&store, &data, &trained(&data));
    assert_eq!(stored.version, 2);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn names_that_are_not_plain_path_components_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let data = dataset(5, 40, Rule::Features, 5);
    let m = trained(&data);
    let bad = SeriesKey {
        strategy: "../escape".into(),
        ..key()
    };
    let err = store
        .save(&NewModel {
            key: &bad,
            timeframes: &[],
            strategy: &strategy(),
            features: &features(&data),
            model: &m.model,
            metrics: &m.metrics,
        })
        .unwrap_err();
    assert!(err.to_string().contains("\"../escape\""), "{err}");
    assert!(store.load("../x/AAPL_1h_v1").is_err());
    assert!(store.load("no-slash").is_err());
}

#[test]
fn a_checkpoint_round_trips_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let data = dataset(5, 40, Rule::Features, 6);
    let token = CancellationToken::new();
    token.cancel(CancelReason::User);
    let mut ignore = |_: &TrainProgress| {};
    let Ok(TrainOutcome::Cancelled(cp)) =
        train(&data, &spec(&data), &params(2), &token, &mut ignore, None)
    else {
        panic!("expected a cancel");
    };
    assert_eq!(store.load_checkpoint(&key()).unwrap(), None);
    let path = store.save_checkpoint(&key(), &cp).unwrap();
    assert!(path.ends_with("rsi_mean_reversion/AAPL_MSFT_EURUSD_1h.checkpoint.json"));
    assert_eq!(store.load_checkpoint(&key()).unwrap().as_ref(), Some(&*cp));
    assert!(
        store.list().unwrap().is_empty(),
        "a checkpoint is not a model"
    );
    store.remove_checkpoint(&key()).unwrap();
    assert_eq!(store.load_checkpoint(&key()).unwrap(), None);
}

//! Models on disk, in the Python system's layout:
//! `<root>/<strategy>/<SYMBOLS joined by _>_<tf>_v<N>/` holding `config.json`, `metrics.json`,
//! `features.json`, `metadata.json` and `model.safetensors`, with the relative symlink
//! `<SYMBOLS>_<tf>_latest` beside the versions.
//!
//! A version is claimed with `create_dir` (a concurrent saver gets `AlreadyExists` and tries the
//! next number: the Python system's max + 1 raced), written complete into a temporary directory
//! and renamed over the claim, so a crash never leaves half a model. The `_latest` link is
//! replaced by a rename too, and a dangling one (its version deleted) is repaired, not fatal
//! (the Python system's `exists()` was false for it and re-linking raised).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::metrics::TrainingMetrics;
use crate::model::{Mlp, ModelError};

/// A failure reading or writing the model store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A JSON file is malformed or lacks a field.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A name that cannot be part of a path, or that names no model.
    #[error("{0}")]
    Name(String),
    /// The weights do not fit the stored spec.
    #[error(transparent)]
    Model(#[from] ModelError),
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// The file names of a stored version.
pub mod files {
    /// The strategy, plus the network's input size, symbol count and embedding width.
    pub const CONFIG: &str = "config.json";
    /// Training history, test and per-symbol metrics.
    pub const METRICS: &str = "metrics.json";
    /// The feature columns in training order.
    pub const FEATURES: &str = "features.json";
    /// What the model is, for listing and loading.
    pub const METADATA: &str = "metadata.json";
    /// The weights, named like the PyTorch state dict.
    pub const WEIGHTS: &str = "model.safetensors";
}

/// The series a model is trained on: strategy, symbols, base timeframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesKey {
    /// Strategy name (the file stem).
    pub strategy: String,
    /// Symbols in embedding order.
    pub symbols: Vec<String>,
    /// The base (first) timeframe.
    pub timeframe: String,
}

impl SeriesKey {
    /// `AAPL_MSFT_1h`: the prefix of the version directories and of the `_latest` link.
    pub fn series(&self) -> String {
        format!("{}_{}", self.symbols.join("_"), self.timeframe)
    }

    /// Refuses names that are not a single plain path component.
    fn check(&self) -> Result<(), StoreError> {
        check_component("strategy name", &self.strategy)?;
        if self.symbols.is_empty() {
            return Err(StoreError::Name("a model needs at least one symbol".into()));
        }
        for s in &self.symbols {
            check_component("symbol", s)?;
        }
        check_component("timeframe", &self.timeframe)
    }
}

pub(crate) fn check_component(what: &str, name: &str) -> Result<(), StoreError> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(StoreError::Name(format!(
            "{what} {name:?} cannot be a file name"
        )));
    }
    Ok(())
}

/// What a training run produced, to be stored.
#[derive(Debug, Clone, Copy)]
pub struct NewModel<'a> {
    /// Where it belongs.
    pub key: &'a SeriesKey,
    /// All timeframes it was trained on (base first).
    pub timeframes: &'a [String],
    /// The strategy file as JSON; `model.input_size`, `model.num_symbols` and
    /// `model.symbol_embedding_dim` are added to it in `config.json`.
    pub strategy: &'a Value,
    /// The content of `features.json` (built from the feature spec).
    pub features: &'a Value,
    /// The trained network.
    pub model: &'a Mlp,
    /// Its metrics.
    pub metrics: &'a TrainingMetrics,
}

/// Where a version was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModel {
    /// `<strategy>/<SERIES>_v<N>`, the name `ktrdr models show` takes.
    pub name: String,
    /// The version directory.
    pub path: PathBuf,
    /// N.
    pub version: u32,
}

/// The models directory (`models/` by default, relative to the working directory as in the
/// Python system).
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// A store rooted at `root` (created on the first save).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores a model as the next version of its series and points `_latest` at the newest.
    pub fn save(&self, new: &NewModel<'_>) -> Result<StoredModel, StoreError> {
        new.key.check()?;
        let dir = self.root.join(&new.key.strategy);
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let series = new.key.series();

        // The number is claimed first (it is written into metadata.json); everything is then
        // written beside it and renamed over the claim. A crash in between leaves an empty
        // claimed directory, which listing skips: it costs a number, never a model.
        let tmp = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempdir_in(&dir)
            .map_err(io_err("create a temporary directory in", &dir))?;
        let (version, final_path) = claim_version(&dir, &series)?;
        let written = write_version(tmp.path(), new, version).and_then(|()| {
            fs::rename(tmp.path(), &final_path).map_err(io_err("rename into", &final_path))
        });
        if let Err(e) = written {
            // Give the number back; the temporary directory is removed on drop.
            let _ = fs::remove_dir(&final_path);
            return Err(e);
        }
        // The rename moved it; nothing is left for the guard to delete.
        let _ = tmp.keep();
        sync_dir(&dir)?;
        point_latest(&dir, &series)?;
        Ok(StoredModel {
            name: format!("{}/{series}_v{version}", new.key.strategy),
            path: final_path,
            version,
        })
    }
}

/// Claims `<series>_v<N>` for the smallest N above every existing version: `create_dir` fails
/// with `AlreadyExists` for all but one of concurrent savers, who move on to N + 1.
fn claim_version(dir: &Path, series: &str) -> Result<(u32, PathBuf), StoreError> {
    let mut version = versions(dir, series)?.into_iter().max().unwrap_or(0) + 1;
    loop {
        let path = dir.join(format!("{series}_v{version}"));
        match fs::create_dir(&path) {
            Ok(()) => return Ok((version, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => version += 1,
            Err(e) => return Err(io_err("create", &path)(e)),
        }
    }
}

/// Version numbers of `<series>_v<N>` directories (complete or merely claimed).
pub(crate) fn versions(dir: &Path, series: &str) -> Result<Vec<u32>, StoreError> {
    let prefix = format!("{series}_v");
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix(&prefix)
            .and_then(|v| v.parse::<u32>().ok())
        {
            found.push(n);
        }
    }
    Ok(found)
}

/// Whether a version directory holds a complete model: a version appears by one rename with all
/// its files, so an empty directory is a claim still being written (or left by a crash).
pub(crate) fn is_complete(path: &Path) -> bool {
    path.join(files::METADATA).is_file()
}

/// Points `<series>_latest` at the highest complete version, replacing the link by a rename
/// (which also repairs a dangling one), or removes it when no version is left. Re-checks after
/// replacing it, so a slower concurrent saver cannot leave it on an older version.
pub(crate) fn point_latest(dir: &Path, series: &str) -> Result<Option<u32>, StoreError> {
    let link = dir.join(format!("{series}_latest"));
    let mut pointed = None;
    loop {
        let mut complete: Vec<u32> = versions(dir, series)?
            .into_iter()
            .filter(|n| is_complete(&dir.join(format!("{series}_v{n}"))))
            .collect();
        complete.sort_unstable();
        let newest = complete.last().copied();
        if newest == pointed {
            return Ok(newest);
        }
        match newest {
            None => match fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &link)(e)),
            },
            Some(n) => replace_link(dir, &link, &format!("{series}_v{n}"))?,
        }
        pointed = newest;
    }
}

fn replace_link(dir: &Path, link: &Path, target: &str) -> Result<(), StoreError> {
    let tmp = dir.join(format!(
        ".link-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::os::unix::fs::symlink(target, &tmp).map_err(io_err("create link", &tmp))?;
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("replace link", link)(e)
    })
}

fn write_version(dir: &Path, new: &NewModel<'_>, version: u32) -> Result<(), StoreError> {
    let spec = new.model.spec();
    let mut config = new.strategy.clone();
    if !config.is_object() {
        return Err(StoreError::Name(
            "the strategy must be a JSON object".into(),
        ));
    }
    let model = &mut config["model"];
    if !model.is_object() {
        *model = json!({});
    }
    model["input_size"] = json!(spec.input_size);
    model["num_symbols"] = json!(spec.num_symbols);
    model["symbol_embedding_dim"] = json!(spec.symbol_embedding_dim);

    let weights = dir.join(files::WEIGHTS);
    candle_core::safetensors::save(&new.model.named(), &weights)
        .map_err(|e| StoreError::Model(ModelError::Candle(e)))?;
    fs::File::open(&weights)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync", &weights))?;
    write_json(&dir.join(files::CONFIG), &config)?;
    write_json(&dir.join(files::FEATURES), new.features)?;
    let metrics = serde_json::to_value(new.metrics).map_err(|e| StoreError::Format {
        path: dir.join(files::METRICS),
        problem: e.to_string(),
    })?;
    write_json(&dir.join(files::METRICS), &metrics)?;
    write_json(&dir.join(files::METADATA), &metadata(new, version))
}

/// The Python keys, `is_trained` (the Python system never wrote it, so its backtest raised
/// KeyError), and what loading needs: the network's spec.
fn metadata(new: &NewModel<'_>, version: u32) -> Value {
    let spec = new.model.spec();
    let m = new.metrics;
    json!({
        "strategy_name": new.key.strategy,
        "symbol": new.key.symbols.join("_"),
        "symbols": new.key.symbols,
        "timeframe": new.key.timeframe,
        "timeframes": new.timeframes,
        "created_at": chrono::Utc::now().to_rfc3339(),
        "model_type": "mlp",
        "model_version": version,
        "architecture_type": format!("multi_symbol_mlp_{}symbols", spec.num_symbols),
        "input_size": spec.input_size,
        "pytorch_version": Value::Null,
        "framework": "candle",
        "is_trained": true,
        "training_summary": {
            "epochs": m.epochs_trained,
            "final_accuracy": m.final_train_accuracy,
            "best_val_accuracy": m.best_val_accuracy,
            "best_epoch": m.best_epoch,
            "test_accuracy": m.test_metrics.test_accuracy,
        },
        "feature_engineering": {
            "removed": true,
            "scaler_required": false,
            "fuzzy_only": true,
        },
        "model_info": {
            "parameters_count": spec.parameter_count(),
            "trainable_parameters": spec.parameter_count(),
            "model_size_bytes": spec.parameter_count() * 4,
        },
        "mlp_spec": spec,
    })
}

pub(crate) fn write_json(path: &Path, value: &Value) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Format {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    write_synced(path, &bytes)
}

pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = fs::File::create(path).map_err(io_err("create", path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err("write", path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync", dir))
}

//! Reading the model store back: loading a model for prediction, listing and showing models,
//! and the checkpoints `--resume` continues from.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::model::{default_device, Mlp};
use crate::spec::MlpSpec;
use crate::store::{
    check_component, files, io_err, is_complete, point_latest, sync_dir, write_synced, ModelStore,
    SeriesKey, StoreError,
};

/// A stored model, loaded for prediction.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// `<strategy>/<SERIES>_v<N>`.
    pub name: String,
    /// Its directory.
    pub path: PathBuf,
    /// The network with its weights.
    pub model: Mlp,
    /// `metadata.json`.
    pub metadata: Value,
    /// `features.json`: the feature columns in training order.
    pub features: Value,
    /// `config.json`: the strategy the model was trained with.
    pub config: Value,
}

/// One line of `ktrdr models list`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    /// `<strategy>/<SERIES>_v<N>`.
    pub name: String,
    /// Strategy name.
    pub strategy: String,
    /// `AAPL_MSFT_1h`.
    pub series: String,
    /// N.
    pub version: u32,
    /// Whether `<SERIES>_latest` points at it.
    pub latest: bool,
    /// `metadata.json` as stored.
    pub metadata: Value,
}

impl ModelStore {
    /// Every complete version, sorted by strategy, series and version. Directories being
    /// written (or claimed by a saver that crashed) are skipped, and so is a version whose
    /// `metadata.json` cannot be read (with a warning).
    pub fn list(&self) -> Result<Vec<ModelSummary>, StoreError> {
        let mut out = Vec::new();
        for strategy in subdirs(self.root())? {
            let dir = self.root().join(&strategy);
            let names = subdirs(&dir)?;
            for name in &names {
                let Some((series, version)) = split_version(name) else {
                    continue;
                };
                let path = dir.join(name);
                if !is_complete(&path) {
                    continue;
                }
                let latest = fs::read_link(dir.join(format!("{series}_latest")))
                    .is_ok_and(|t| t == Path::new(name));
                // One damaged model must not hide the others.
                let metadata = match read_json(&path.join(files::METADATA)) {
                    Ok(metadata) => metadata,
                    Err(error) => {
                        tracing::warn!(%error, "skipping a model whose metadata.json is unreadable");
                        continue;
                    }
                };
                out.push(ModelSummary {
                    name: format!("{strategy}/{name}"),
                    strategy: strategy.clone(),
                    series: series.to_owned(),
                    version,
                    latest,
                    metadata,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.strategy, &a.series, a.version).cmp(&(&b.strategy, &b.series, b.version))
        });
        Ok(out)
    }

    /// The directory of `name`: `<strategy>/<SERIES>_v<N>` or `<strategy>/<SERIES>_latest`
    /// (a dangling `_latest` is repaired first).
    pub fn resolve(&self, name: &str) -> Result<PathBuf, StoreError> {
        let (strategy, leaf) = name.split_once('/').ok_or_else(|| {
            StoreError::Name(format!(
                "model name {name:?}: expected <strategy>/<SYMBOLS>_<tf>_v<N> or …_latest"
            ))
        })?;
        check_component("strategy name", strategy)?;
        check_component("model", leaf)?;
        let dir = self.root().join(strategy);
        if let Some(series) = leaf.strip_suffix("_latest") {
            let Some(version) = self.repair_latest(strategy, series)? else {
                return Err(StoreError::Name(format!("no stored model for {name}")));
            };
            return Ok(dir.join(format!("{series}_v{version}")));
        }
        let path = dir.join(leaf);
        if split_version(leaf).is_none() || !is_complete(&path) {
            return Err(StoreError::Name(format!(
                "no stored model {name} under {}",
                self.root().display()
            )));
        }
        Ok(path)
    }

    /// Checks `<series>_latest` of a strategy and re-points it at the newest complete version if
    /// its target is gone; returns that version.
    pub fn repair_latest(&self, strategy: &str, series: &str) -> Result<Option<u32>, StoreError> {
        let dir = self.root().join(strategy);
        let link = dir.join(format!("{series}_latest"));
        if let Ok(target) = fs::read_link(&link) {
            let target_name = target.to_string_lossy().into_owned();
            if let Some((s, v)) = split_version(&target_name) {
                if s == series && is_complete(&dir.join(&target)) {
                    return Ok(Some(v));
                }
            }
            tracing::warn!(link = %link.display(), target = %target.display(),
                "the _latest link points at no stored model; re-pointing it");
        }
        if !dir.is_dir() {
            return Ok(None);
        }
        point_latest(&dir, series)
    }

    /// Loads a stored model (weights and spec) and its feature order, for prediction.
    pub fn load(&self, name: &str) -> Result<LoadedModel, StoreError> {
        let path = self.resolve(name)?;
        let metadata = read_json(&path.join(files::METADATA))?;
        let spec: MlpSpec = serde_json::from_value(metadata["mlp_spec"].clone()).map_err(|e| {
            StoreError::Format {
                path: path.join(files::METADATA),
                problem: format!("mlp_spec: {e}"),
            }
        })?;
        let weights = path.join(files::WEIGHTS);
        let tensors = candle_core::safetensors::load(&weights, &default_device()).map_err(|e| {
            StoreError::Format {
                path: weights.clone(),
                problem: e.to_string(),
            }
        })?;
        let model = Mlp::from_named(&spec, tensors)?;
        let leaf = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let strategy = name.split_once('/').map_or(name, |(s, _)| s);
        Ok(LoadedModel {
            name: format!("{strategy}/{leaf}"),
            features: read_json(&path.join(files::FEATURES))?,
            config: read_json(&path.join(files::CONFIG))?,
            metadata,
            model,
            path,
        })
    }

    /// Where the checkpoint of a series' interrupted run is kept.
    pub fn checkpoint_path(&self, key: &SeriesKey) -> PathBuf {
        self.root()
            .join(&key.strategy)
            .join(format!("{}.checkpoint.json", key.series()))
    }

    /// Stores a checkpoint atomically (temporary file, then rename).
    pub fn save_checkpoint(&self, key: &SeriesKey, cp: &Checkpoint) -> Result<PathBuf, StoreError> {
        let path = self.checkpoint_path(key);
        let dir = self.root().join(&key.strategy);
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let bytes = cp.to_json().map_err(|e| StoreError::Format {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &path).map_err(io_err("rename into", &path))?;
        sync_dir(&dir)?;
        Ok(path)
    }

    /// The checkpoint of a series, if one is stored.
    pub fn load_checkpoint(&self, key: &SeriesKey) -> Result<Option<Checkpoint>, StoreError> {
        let path = self.checkpoint_path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        Checkpoint::from_json(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Format {
                path,
                problem: e.to_string(),
            })
    }

    /// Removes a series' checkpoint (after its run completed).
    pub fn remove_checkpoint(&self, key: &SeriesKey) -> Result<(), StoreError> {
        let path = self.checkpoint_path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }
}

/// `("AAPL_1h", 3)` from `AAPL_1h_v3`.
fn split_version(name: &str) -> Option<(&str, u32)> {
    let (series, v) = name.rsplit_once("_v")?;
    Some((series, v.parse().ok()?))
}

/// Names of the real subdirectories (not links, not hidden) of `dir`; none if it is absent.
fn subdirs(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let is_dir = entry
            .file_type()
            .map_err(io_err("stat", &entry.path()))?
            .is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir && !name.starts_with('.') {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn read_json(path: &Path) -> Result<Value, StoreError> {
    let bytes = fs::read(path).map_err(io_err("read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Format {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

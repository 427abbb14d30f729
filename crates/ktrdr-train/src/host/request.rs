//! A [`TrainingRequest`] as a start request and back: the one place the two meet.

use std::path::{Path, PathBuf};

use ktrdr_data::types::format_timestamp;

use super::wire::{DataConfiguration, ModelConfiguration, StartRequest, TrainingConfiguration};
use crate::pipeline::{date_bound, StrategySource, TrainingRequest};

/// The start request a client sends for `request`: the Python adapter's fields (the strategy
/// file's path, symbols, timeframes, dates) and ours (the strategy's text, so the host need not
/// share the client's disk; epochs, seed, resume).
pub fn start_request(request: &TrainingRequest) -> StartRequest {
    let strategy = &request.strategy;
    StartRequest {
        session_id: None,
        model_configuration: ModelConfiguration {
            strategy_config: strategy.path.as_ref().map(|p| p.display().to_string()),
            strategy_yaml: Some(strategy.yaml.clone()),
            strategy_name: Some(strategy.name.clone()),
            symbols: request.symbols.clone(),
            timeframes: request.timeframes.clone(),
            model_type: Some("mlp".to_owned()),
            multi_symbol: Some(request.symbols.len() != 1),
        },
        training_configuration: TrainingConfiguration {
            validation_split: None,
            start_date: request.start.map(format_timestamp),
            end_date: request.end.map(format_timestamp),
            data_mode: Some("local".to_owned()),
            epochs: request.epochs,
            seed: Some(request.seed),
            resume: request.resume,
        },
        data_configuration: DataConfiguration {
            symbols: request.symbols.clone(),
            timeframes: request.timeframes.clone(),
            data_source: None,
        },
        gpu_configuration: None,
    }
}

/// Which strategy files a service reads when a request names one by path (`strategy_config`),
/// since a client should not make it read whatever it likes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyFiles {
    /// Any path: a service that only this machine can reach.
    Anywhere,
    /// Files under this directory only.
    Under(PathBuf),
    /// None: clients must send the strategy's text (`strategy_yaml`).
    TextOnly,
}

impl StrategyFiles {
    /// `path` if it may be read.
    fn allow(&self, path: &Path) -> Result<PathBuf, String> {
        match self {
            StrategyFiles::Anywhere => Ok(path.to_owned()),
            StrategyFiles::TextOnly => Err(
                "this service reads no strategy file by path: send the file's text in \
                 model_configuration.strategy_yaml (or start it with --strategies-dir)"
                    .to_owned(),
            ),
            StrategyFiles::Under(dir) => {
                let outside = || format!("{} is not under {}", path.display(), dir.display());
                let (Ok(dir), Ok(file)) = (dir.canonicalize(), dir.join(path).canonicalize())
                else {
                    return Err(outside());
                };
                if file.starts_with(&dir) {
                    Ok(file)
                } else {
                    Err(outside())
                }
            }
        }
    }
}

/// The training a start request asks for. The strategy is its text when given, else the file
/// at `strategy_config` on the service's disk (the Python adapter sends only the path), read if
/// `files` allows it. A date alone (`2024-06-30`) as the end covers that whole day.
///
/// # Errors
///
/// A message naming the field that is missing or wrong.
pub fn training_request(
    start: StartRequest,
    files: &StrategyFiles,
) -> Result<TrainingRequest, String> {
    let model = start.model_configuration;
    let strategy = match (model.strategy_yaml, model.strategy_config) {
        (Some(yaml), path) => {
            let path = path.map(PathBuf::from);
            let name = model
                .strategy_name
                .or_else(|| {
                    path.as_ref()
                        .and_then(|p| p.file_stem())
                        .and_then(|s| s.to_str())
                        .map(str::to_owned)
                })
                .ok_or("model_configuration.strategy_name is required with strategy_yaml")?;
            StrategySource { name, yaml, path }
        }
        (None, Some(path)) => {
            let allowed = files
                .allow(Path::new(&path))
                .map_err(|e| format!("model_configuration.strategy_config: {e}"))?;
            let mut source = StrategySource::read(&allowed)
                .map_err(|e| format!("model_configuration.strategy_config: {e}"))?;
            if let Some(name) = model.strategy_name {
                source.name = name;
            }
            source
        }
        (None, None) => {
            return Err(
                "model_configuration needs strategy_yaml (the file's text) or strategy_config \
                 (its path on this host)"
                    .to_owned(),
            )
        }
    };
    let data = start.data_configuration;
    let training = start.training_configuration;
    let symbols = if model.symbols.is_empty() {
        data.symbols
    } else {
        model.symbols
    };
    let timeframes = if model.timeframes.is_empty() {
        data.timeframes
    } else {
        model.timeframes
    };
    Ok(TrainingRequest {
        strategy,
        symbols,
        timeframes,
        start: date_bound(
            training.start_date.as_deref(),
            "training_configuration.start_date",
            false,
        )?,
        end: date_bound(
            training.end_date.as_deref(),
            "training_configuration.end_date",
            true,
        )?,
        epochs: training.epochs,
        seed: training.seed.unwrap_or(TrainingRequest::DEFAULT_SEED),
        resume: training.resume,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn request() -> TrainingRequest {
        TrainingRequest {
            strategy: StrategySource {
                name: "rsi_mean_reversion".to_owned(),
                yaml: "name: x\n".to_owned(),
                path: Some(PathBuf::from("/strategies/rsi_mean_reversion.yaml")),
            },
            symbols: vec!["AAPL".to_owned(), "MSFT".to_owned()],
            timeframes: vec!["1h".to_owned()],
            start: Some(1_704_067_200),
            end: Some(1_719_791_999),
            epochs: Some(3),
            seed: 7,
            resume: true,
        }
    }

    #[test]
    fn a_request_survives_the_trip_through_the_protocol() {
        let back = training_request(start_request(&request()), &StrategyFiles::TextOnly).unwrap();
        assert_eq!(back, request());
    }

    #[test]
    fn the_python_adapters_request_reads_the_strategy_by_path_and_takes_whole_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trend.yaml");
        std::fs::write(&path, "name: trend\n").unwrap();
        let python = serde_json::json!({
            "model_configuration": {"strategy_config": path, "symbols": ["AAPL"],
                "timeframes": ["1h"], "model_type": "mlp", "multi_symbol": true},
            "training_configuration": {"validation_split": 0.2, "start_date": "2024-01-01",
                "end_date": "2024-06-30", "data_mode": "local"},
            "data_configuration": {"symbols": ["AAPL"], "timeframes": ["1h"], "data_source": "ib"},
            "gpu_configuration": {"enable_gpu": true, "memory_fraction": 0.8, "mixed_precision": true},
        });
        let start: StartRequest = serde_json::from_value(python).unwrap();
        let refused = training_request(start.clone(), &StrategyFiles::TextOnly).unwrap_err();
        assert!(refused.contains("strategy_yaml"), "{refused}");
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = training_request(
            start.clone(),
            &StrategyFiles::Under(elsewhere.path().into()),
        )
        .unwrap_err();
        assert!(outside.contains("is not under"), "{outside}");
        let request = training_request(start, &StrategyFiles::Under(dir.path().into())).unwrap();
        assert_eq!(request.strategy.name, "trend");
        assert_eq!(request.strategy.yaml, "name: trend\n");
        assert_eq!(request.start, Some(1_704_067_200));
        assert_eq!(request.end, Some(1_719_791_999));
        assert_eq!(request.seed, TrainingRequest::DEFAULT_SEED);
    }

    #[test]
    fn a_request_without_a_strategy_names_the_fields_it_needs() {
        let start: StartRequest =
            serde_json::from_value(serde_json::json!({"model_configuration": {}})).unwrap();
        let error = training_request(start, &StrategyFiles::Anywhere).unwrap_err();
        assert!(
            error.contains("strategy_yaml") && error.contains("strategy_config"),
            "{error}"
        );
    }
}

//! `ktrdr models …`: train a model from a strategy file (as a recorded operation with live
//! progress, here or on a training host service), list and show stored models, and predict
//! with one. Each subcommand lives in its own file.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::Context;

mod list;
mod predict;
mod train;

/// Models: train, list, show, predict.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr data load AAPL 1h --source sim --mode full --start 2024-01-01\n  ktrdr models train strategies/rsi_mean_reversion.yaml AAPL 1h --start-date 2024-01-01 --epochs 5\n  ktrdr models train strategies/neuro_mean_reversion.yaml --source sim --start-date 2024-01-01 --dry-run\n  ktrdr models list\n  ktrdr models show rsi_mean_reversion/AAPL_1h_latest\n  ktrdr models predict rsi_mean_reversion/AAPL_1h_latest AAPL 1h"
)]
pub(crate) struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Train a model from a strategy file, with live progress; Ctrl-C keeps a checkpoint for --resume.
    Train(train::TrainArgs),
    /// List stored models.
    List(list::ListArgs),
    /// Show one stored model: its metadata, metrics and feature columns.
    Show(list::ShowArgs),
    /// Predict BUY/HOLD/SELL with confidence for the latest bars of a series.
    Predict(predict::PredictArgs),
}

/// Where models are stored.
#[derive(Debug, Clone, Args)]
pub(crate) struct ModelsDir {
    /// Directory of stored models (STRATEGY/SYMBOLS_TF_vN/).
    #[arg(
        long,
        env = "KTRDR_MODELS_DIR",
        default_value = "./models",
        value_name = "DIR"
    )]
    pub(crate) models_dir: PathBuf,
}

pub(crate) fn run(args: ModelsArgs, ctx: &Context) -> anyhow::Result<()> {
    match args.command {
        ModelsCommand::Train(a) => train::run(a, ctx),
        ModelsCommand::List(a) => list::run_list(a),
        ModelsCommand::Show(a) => list::run_show(a),
        ModelsCommand::Predict(a) => predict::run(a, ctx),
    }
}

/// The training host service chosen by `--training-host-url`, else by `USE_TRAINING_HOST_SERVICE`
/// (true, 1, yes) with `TRAINING_HOST_SERVICE_URL` (default http://localhost:5002), as the
/// Python system read them.
pub(crate) fn training_host_url(flag: Option<&str>) -> Option<String> {
    if let Some(url) = flag {
        return Some(url.to_owned());
    }
    let on = std::env::var("USE_TRAINING_HOST_SERVICE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    on.then(|| {
        std::env::var("TRAINING_HOST_SERVICE_URL")
            .unwrap_or_else(|_| "http://localhost:5002".to_owned())
    })
}

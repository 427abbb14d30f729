//! `ktrdr models predict NAME SYMBOL TF`: BUY/HOLD/SELL with confidence for the latest bars.

use std::io::Write as _;

use clap::Args;
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, Symbol, Timeframe};
use ktrdr_train::predict::predict_latest;
use ktrdr_train::store::ModelStore;
use serde_json::json;

use super::ModelsDir;
use crate::output::UsageError;
use crate::Context;

/// `ktrdr models predict`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  ktrdr models predict rsi_mean_reversion/AAPL_1h_latest AAPL 1h --bars 5\n\nThe features are built from the stored bars of every timeframe the model was trained on, with the model's own strategy and its recorded column order. The symbol must be one the model was trained on (it picks the symbol's embedding)."
)]
pub(crate) struct PredictArgs {
    /// The model: STRATEGY/SYMBOLS_TF_vN, or STRATEGY/SYMBOLS_TF_latest.
    name: String,
    /// The symbol to predict for.
    symbol: Symbol,
    /// The model's base timeframe (checked against the model).
    timeframe: Timeframe,
    /// How many of the latest bars to predict.
    #[arg(long, default_value_t = 1)]
    bars: usize,
    #[command(flatten)]
    models: ModelsDir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: PredictArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let models = ModelStore::new(&args.models.models_dir);
    let model = models.load(&args.name)?;
    let base = model.metadata["timeframe"].as_str().unwrap_or_default();
    if base != args.timeframe.as_str() {
        return Err(UsageError(format!(
            "model {} was trained on {base} bars, not {}",
            model.name, args.timeframe
        ))
        .into());
    }
    let store = BarStore::new(&ctx.data_dir);
    let predictions = predict_latest(&store, &model, &args.symbol, args.bars.max(1))?;
    if args.json {
        let rows: Vec<_> = predictions
            .iter()
            .map(|p| {
                json!({
                    "timestamp": format_timestamp(p.ts),
                    "signal": p.prediction.signal.name(),
                    "confidence": p.prediction.confidence,
                    "probabilities": {
                        "buy": p.prediction.probabilities[0],
                        "hold": p.prediction.probabilities[1],
                        "sell": p.prediction.probabilities[2],
                    },
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<22} {:<6} {:>10}",
        "BAR (UTC)", "SIGNAL", "CONFIDENCE"
    )?;
    for p in &predictions {
        writeln!(
            out,
            "{:<22} {:<6} {:>10.3}",
            format_timestamp(p.ts),
            p.prediction.signal.name(),
            p.prediction.confidence
        )?;
    }
    Ok(())
}

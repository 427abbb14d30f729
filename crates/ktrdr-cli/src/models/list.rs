//! `ktrdr models list` and `ktrdr models show NAME`.

use std::io::Write as _;

use clap::Args;
use ktrdr_train::store::ModelStore;
use serde_json::Value;

use super::ModelsDir;

/// `ktrdr models list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    models: ModelsDir,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `ktrdr models show NAME`.
#[derive(Debug, Args)]
#[command(
    after_help = "NAME is <strategy>/<SYMBOLS>_<tf>_v<N>, or <strategy>/<SYMBOLS>_<tf>_latest for the newest version (as `ktrdr models list` prints)."
)]
pub(crate) struct ShowArgs {
    /// The model: STRATEGY/SYMBOLS_TF_vN, or STRATEGY/SYMBOLS_TF_latest.
    name: String,
    #[command(flatten)]
    models: ModelsDir,
    /// Print JSON (metadata, metrics and feature columns).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_list(args: ListArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let store = ModelStore::new(&args.models.models_dir);
    let models = store.list()?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&models)?)?;
        return Ok(());
    }
    if models.is_empty() {
        writeln!(
            out,
            "No models under {} (train one with `ktrdr models train STRATEGY.yaml`).",
            store.root().display()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<48} {:>8} {:>8} {:>8}  CREATED",
        "MODEL", "VAL ACC", "EPOCHS", "LATEST"
    )?;
    for m in &models {
        let summary = &m.metadata["training_summary"];
        writeln!(
            out,
            "{:<48} {:>8} {:>8} {:>8}  {}",
            m.name,
            number(&summary["best_val_accuracy"], 3),
            summary["epochs"]
                .as_u64()
                .map_or_else(|| "-".to_owned(), |e| e.to_string()),
            if m.latest { "yes" } else { "" },
            m.metadata["created_at"].as_str().unwrap_or("-"),
        )?;
    }
    Ok(())
}

pub(crate) fn run_show(args: ShowArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let store = ModelStore::new(&args.models.models_dir);
    let path = store.resolve(&args.name)?;
    let read = |file: &str| -> anyhow::Result<Value> {
        let path = path.join(file);
        let bytes =
            std::fs::read(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))
    };
    let metadata = read(ktrdr_train::store::files::METADATA)?;
    let metrics = read(ktrdr_train::store::files::METRICS)?;
    let features = read(ktrdr_train::store::files::FEATURES)?;
    if args.json {
        let all = serde_json::json!({
            "name": args.name, "path": path, "metadata": metadata,
            "metrics": metrics, "features": features,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(());
    }
    writeln!(out, "Model      {}", args.name)?;
    writeln!(out, "Path       {}", path.display())?;
    for key in [
        "strategy_name",
        "symbol",
        "timeframe",
        "created_at",
        "architecture_type",
        "input_size",
        "is_trained",
    ] {
        if let Some(v) = metadata.get(key) {
            writeln!(out, "{:<10} {}", key, plain(v))?;
        }
    }
    writeln!(
        out,
        "Training   {} epochs, best val acc {} (epoch {}), final train loss {}",
        plain(&metrics["epochs_trained"]),
        number(&metrics["best_val_accuracy"], 3),
        plain(&metrics["best_epoch"]),
        number(&metrics["final_train_loss"], 4),
    )?;
    let test = &metrics["test_metrics"];
    writeln!(
        out,
        "Test       acc {}, loss {}, precision {}, recall {}, F1 {} ({} rows)",
        number(&test["test_accuracy"], 3),
        number(&test["test_loss"], 4),
        number(&test["precision"], 3),
        number(&test["recall"], 3),
        number(&test["f1_score"], 3),
        plain(&test["sample_count"]),
    )?;
    if let Some(per_symbol) = metrics["per_symbol_metrics"].as_object() {
        for (symbol, m) in per_symbol {
            writeln!(
                out,
                "  {symbol:<8} acc {}, F1 {} ({} rows)",
                number(&m["accuracy"], 3),
                number(&m["f1_score"], 3),
                plain(&m["sample_count"])
            )?;
        }
    }
    if let Some(columns) = features["fuzzy_features"].as_array() {
        writeln!(out, "Features   {} columns, in this order:", columns.len())?;
        for column in columns {
            writeln!(out, "  {}", plain(column))?;
        }
    }
    Ok(())
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn number(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

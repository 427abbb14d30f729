//! `ktrdr models train STRATEGY.yaml [SYMBOL] [TIMEFRAME]`: a `training` operation with live
//! progress, here or on a training host service, and a graceful Ctrl-C that keeps a checkpoint.
//!
//! Exit status: 0 trained, 1 error (also an invalid strategy: every problem is listed), 2 bad
//! usage, 130 cancelled by Ctrl-C (143 SIGTERM, 129 SIGHUP), with a checkpoint for --resume.

use std::time::Duration;

use std::io::Write;

use anyhow::{bail, Context as _};
use clap::Args;
use ktrdr_data::store::BarStore;
use ktrdr_ops::cancel::{StopSignal, EXIT_INTERRUPTED};
use ktrdr_ops::host::HostClient;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_train::pipeline::{
    PrepareError, PreparedTraining, StrategySource, TrainingRequest, TrainingService,
};

use super::ModelsDir;
use crate::data::load::{operations, SourceArgs};
use crate::data::{time_bounds, DateArg};
use crate::output::UsageError;
use crate::progress_display::{DisplayMode, ProgressDisplay};
use crate::Context;

/// `ktrdr models train`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr models train strategies/rsi_mean_reversion.yaml AAPL 1h --start-date 2024-01-01 --end-date 2024-12-31\n  ktrdr models train strategies/neuro_mean_reversion.yaml --source sim --start-date 2024-01-01 --epochs 5\n  ktrdr models train strategies/neuro_mean_reversion.yaml --resume\n  ktrdr models train strategies/rsi_mean_reversion.yaml --training-host-url http://gpu-box:5002\n\nSymbols and timeframes come from the file's training_data unless given (several: AAPL,MSFT).\nA series that is not stored is loaded first when a source is given (--source or $KTRDR_DATA_SOURCE).\nCtrl-C (also SIGTERM, SIGHUP) stops between two batches and keeps a checkpoint with the best weights so far; the same command with --resume continues and ends as an uninterrupted run would.\nOn a training host service (--training-host-url, or USE_TRAINING_HOST_SERVICE=true with TRAINING_HOST_SERVICE_URL) the host trains on its own store and saves the model there; Ctrl-C stops it there.\nExit status: 0 trained, 1 error (an invalid strategy lists every problem), 2 bad usage, 130 cancelled by Ctrl-C (143 SIGTERM, 129 SIGHUP)."
)]
pub(crate) struct TrainArgs {
    /// The strategy file (format 2.0).
    strategy: std::path::PathBuf,
    /// Symbols to train on, comma-separated (default: the file's training_data).
    symbol: Option<String>,
    /// Timeframes, comma-separated, e.g. 1h or 15m,1h,4h (default: the file's).
    timeframe: Option<String>,
    /// First bar: a date or date-time (UTC unless an offset is given); default the first stored.
    #[arg(long, alias = "start")]
    start_date: Option<DateArg>,
    /// Last bar (a date covers that whole day); default the last stored.
    #[arg(long, alias = "end")]
    end_date: Option<DateArg>,
    /// Epochs instead of the strategy's model.training.epochs.
    #[arg(long)]
    epochs: Option<u32>,
    /// Seed of initialisation, shuffling and dropout: the same seed and data give the same model.
    #[arg(long, default_value_t = TrainingRequest::DEFAULT_SEED)]
    seed: u64,
    /// Continue the checkpoint a cancelled or interrupted run of the same strategy, symbols and
    /// timeframes left.
    #[arg(long)]
    resume: bool,
    /// Check the strategy and the data and show what would be trained, without training.
    #[arg(long)]
    dry_run: bool,
    /// Train on this training host service (http://host:5002) instead of here. (`--host-url`
    /// is the IB host service a missing series is loaded from, as in `ktrdr data load`.)
    #[arg(long, value_name = "URL")]
    training_host_url: Option<String>,
    #[command(flatten)]
    models: ModelsDir,
    #[command(flatten)]
    source: SourceArgs,
    /// Print the outcome as JSON on standard output (progress still goes to standard error).
    #[arg(long)]
    json: bool,
    /// No progress display.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn split(list: Option<&str>) -> Vec<String> {
    list.map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) fn run(args: TrainArgs, ctx: &Context) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(train(args, ctx))?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn train(args: TrainArgs, ctx: &Context) -> anyhow::Result<i32> {
    let (start, end) = time_bounds(args.start_date, args.end_date)?;
    let strategy = StrategySource::read(&args.strategy).map_err(|e| UsageError(e.to_string()))?;
    let request = TrainingRequest {
        strategy,
        symbols: split(args.symbol.as_deref()),
        timeframes: split(args.timeframe.as_deref()),
        start,
        end,
        epochs: args.epochs,
        seed: args.seed,
        resume: args.resume,
    };
    let store = BarStore::new(&ctx.data_dir);
    let mut service = TrainingService::new(store.clone(), &args.models.models_dir);
    let host = super::training_host_url(args.training_host_url.as_deref());
    if let Some(url) = &host {
        let client = HostClient::new(url.clone())
            .map_err(|e| UsageError(format!("training host service URL {url:?}: {e}")))?;
        service = service.on_host(client);
    } else if !args.dry_run {
        service = service.with_manager(args.source.manager(store, true).await?);
    }
    let prepared = match service.prepare(request) {
        Ok(prepared) => prepared,
        Err(PrepareError::Strategy(error)) => bail!("{error}"),
        Err(PrepareError::Input(message)) => return Err(UsageError(message).into()),
    };
    if args.dry_run {
        print_plan(
            &mut std::io::stdout().lock(),
            &prepared,
            &service,
            &ctx.data_dir,
            host.as_deref(),
        )?;
        return Ok(0);
    }
    let ops = operations(args.quiet)?;
    let started = service.start(&ops, prepared.clone())?;
    let handle = started.handle;
    let mode = DisplayMode::detect(args.quiet, Duration::from_secs(5));
    let mut display = ProgressDisplay::new(mode);
    let where_ = host
        .as_deref()
        .map_or_else(|| "here".to_owned(), |u| format!("on {u}"));
    display.println(&format!(
        "Training {} {where_}; operation {}",
        prepared.describe(),
        handle.id()
    ));
    let (outcome, signal) = display
        .follow_cancellable(&handle, "keeping a checkpoint")
        .await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    }
    let summary = outcome.result_summary.clone().unwrap_or_default();
    match outcome.status {
        OperationStatus::Completed => {
            if !args.json {
                print_trained(&mut std::io::stdout().lock(), &summary)?;
            }
            Ok(0)
        }
        OperationStatus::Cancelled => {
            if !args.json {
                if summary.get("model_path").is_some() {
                    // The stop came while saving: the model is complete and stored.
                    println!("Cancelled after the model was saved:");
                    print_trained(&mut std::io::stdout().lock(), &summary)?;
                } else {
                    let kept = summary
                        .get("checkpoint")
                        .and_then(|c| c.as_str())
                        .map_or_else(|| "no checkpoint".to_owned(), |c| format!("checkpoint {c}"));
                    println!(
                        "Cancelled after {} epochs: {kept}",
                        summary
                            .get("epochs_completed")
                            .and_then(|e| e.as_u64())
                            .unwrap_or(0)
                    );
                    println!("Run the same command with --resume to continue.");
                }
            }
            Ok(signal.map_or(EXIT_INTERRUPTED, StopSignal::exit_code))
        }
        status => {
            let error = outcome.error.unwrap_or_else(|| status.to_string());
            if args.json {
                return Ok(1);
            }
            bail!("training {} {status}: {error}", outcome.id)
        }
    }
}

fn print_plan(
    out: &mut impl Write,
    prepared: &PreparedTraining,
    service: &TrainingService,
    data_dir: &std::path::Path,
    host: Option<&str>,
) -> std::io::Result<()> {
    let strategy = &prepared.strategy;
    writeln!(
        out,
        "Strategy   {} ({})",
        prepared.request.strategy.name, strategy.name
    )?;
    writeln!(
        out,
        "Symbols    {}",
        join(prepared.symbols.iter().map(|s| s.as_str()))
    )?;
    writeln!(
        out,
        "Timeframes {} (base {})",
        join(prepared.timeframes.iter().map(|t| t.as_str())),
        prepared.base_timeframe()
    )?;
    writeln!(out, "Epochs     {}", prepared.epochs)?;
    writeln!(
        out,
        "Features   {} columns",
        strategy.feature_width(prepared.timeframes.len())
    )?;
    writeln!(
        out,
        "Network    {:?} {}",
        strategy.architecture().hidden_layers,
        strategy.architecture().activation.as_str()
    )?;
    writeln!(out, "Models     {}", service.models().root().display())?;
    match host {
        Some(url) => writeln!(out, "Trains on  {url}")?,
        None => {
            let store = BarStore::new(data_dir);
            for symbol in &prepared.symbols {
                for tf in &prepared.timeframes {
                    let rows = store.series_info(symbol, *tf).map_or_else(
                        |_| "not stored (loaded first when a source is given)".to_owned(),
                        |i| format!("{} bars stored", i.rows),
                    );
                    writeln!(out, "Data       {symbol} {tf}: {rows}")?;
                }
            }
        }
    }
    Ok(())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn print_trained(out: &mut impl Write, summary: &serde_json::Value) -> std::io::Result<()> {
    let text = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    if let Some(name) = summary.get("model_name") {
        writeln!(out, "Model {}", text(name))?;
    }
    if let Some(path) = summary.get("model_path") {
        writeln!(out, "  at {}", text(path))?;
    }
    let m = &summary["training_metrics"];
    let t = &summary["test_metrics"];
    writeln!(
        out,
        "  epochs {}, best val acc {:.3} (epoch {}), test acc {:.3}, test F1 {:.3}",
        m["epochs_trained"],
        m["best_val_accuracy"].as_f64().unwrap_or(f64::NAN),
        m["best_epoch"],
        t["test_accuracy"].as_f64().unwrap_or(f64::NAN),
        t["f1_score"].as_f64().unwrap_or(f64::NAN)
    )
}

//! `ktrdr data load` and `ktrdr data load-multi`: fill the store from a data source, as a
//! recorded operation with live progress, our ETA, and a graceful Ctrl-C (first press cancels
//! and waits for the load to say what it kept, second press exits at once).
//!
//! Exit status: 0 done, 1 error, 2 bad usage (also no source, a bad KTRDR_DATA_SOURCE), 130
//! cancelled by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (after saving, like Ctrl-C).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use ktrdr_data::manager::multi_timeframe::{MultiLoadRequest, MultiLoadSummary};
use ktrdr_data::manager::{DataManager, LoadRequest, LoadSummary};
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::provider::source::{SourceChoice, SourceError, SourceKind};
use ktrdr_data::provider::DataProvider;
use ktrdr_data::store::BarStore;
use ktrdr_data::types::LoadMode;
use ktrdr_data::types::{Symbol, Timeframe};
use ktrdr_ops::cancel::{StopSignal, EXIT_INTERRUPTED};
use ktrdr_ops::home::Home;
use ktrdr_ops::operations::{OperationHandle, OperationOutcome, Operations};
use ktrdr_ops::registry::OperationStatus;

use super::{time_bounds, DateArg, SeriesArgs};
use crate::output::UsageError;
use crate::progress_display::{DisplayMode, ProgressDisplay};

/// Where bars come from (`ktrdr_data::provider::source::SourceKind`, as a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SourceFlag {
    /// The built-in simulated broker (made-up data, for demos and tests).
    Sim,
    /// An IB host service over HTTP (ours or the Python one), at --host-url.
    Host,
    /// IB Gateway directly (needs a build with the `ib` feature).
    Ib,
}

impl From<SourceFlag> for SourceKind {
    fn from(flag: SourceFlag) -> SourceKind {
        match flag {
            SourceFlag::Sim => SourceKind::Sim,
            SourceFlag::Host => SourceKind::Host,
            SourceFlag::Ib => SourceKind::Ib,
        }
    }
}

/// The pacing rules the host source's broker enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PacingChoice {
    /// IB's published limits on every bar size (the safe default for a real gateway).
    IbConservative,
    /// IB's hard limits only for bars of 30 s or less.
    IbSmallBarsOnly,
    /// IB's rule shapes at 100x speed: for a `ktrdr host-service --provider sim` (its default).
    Fast,
}

impl PacingChoice {
    fn rules(self) -> PacingRules {
        match self {
            PacingChoice::IbConservative => PacingRules::ib_conservative(),
            PacingChoice::IbSmallBarsOnly => PacingRules::ib_small_bars_only(),
            PacingChoice::Fast => PacingRules::fast(),
        }
    }
}

/// Where bars come from: the flags shared by `data load`, `data load-multi` and `serve`.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Where bars come from; else $KTRDR_DATA_SOURCE, else USE_IB_HOST_SERVICE=true means host.
    #[arg(long, value_enum)]
    source: Option<SourceFlag>,
    /// URL of the IB host service (source host); else $IB_HOST_SERVICE_URL, else
    /// http://localhost:5001.
    #[arg(long, value_name = "URL")]
    host_url: Option<String>,
    /// Pacing rules of the broker (sources host and ib).
    #[arg(long, value_enum, default_value_t = PacingChoice::IbConservative)]
    pacing: PacingChoice,
    /// host:port of TWS / IB Gateway (source ib); else $IB_GATEWAY_ADDRESS, else 127.0.0.1:4002.
    #[arg(long, value_name = "HOST:PORT")]
    ib_address: Option<String>,
    /// IB API client id (source ib; the Python system's DataManager range is 111-120).
    #[arg(long, default_value_t = ktrdr_data::provider::source::DEFAULT_IB_CLIENT_ID)]
    ib_client_id: i32,
    /// Requests in flight at once (the pacing gate still decides when each is sent).
    #[arg(
        long,
        default_value_t = ktrdr_data::manager::DEFAULT_MAX_IN_FLIGHT,
        value_parser = at_least_one
    )]
    max_in_flight: usize,
}

impl SourceArgs {
    /// The source these flags and the environment choose, connected; `Ok(None)` when none is
    /// configured and `optional` (a server that only reads the store).
    pub(crate) async fn connect(
        &self,
        optional: bool,
    ) -> anyhow::Result<Option<Arc<dyn DataProvider>>> {
        let choice = SourceChoice {
            kind: self.source.map(SourceKind::from),
            host_url: self.host_url.clone(),
            pacing: Some(self.pacing.rules()),
            ib_address: self.ib_address.clone(),
            ib_client_id: Some(self.ib_client_id),
        };
        let config = match choice.with_env().and_then(SourceChoice::resolve) {
            Ok(config) => config,
            Err(SourceError::NotConfigured) if optional => return Ok(None),
            Err(error) => return Err(flag_hint(error)),
        };
        Ok(Some(config.connect().await.map_err(flag_hint)?))
    }

    /// A manager on `store` with the source these flags choose, if any.
    pub(crate) async fn manager(
        &self,
        store: BarStore,
        optional: bool,
    ) -> anyhow::Result<DataManager> {
        let mut builder = DataManager::builder()
            .store(store)
            .max_in_flight(self.max_in_flight);
        if let Some(provider) = self.connect(optional).await? {
            builder = builder.provider(provider);
        }
        Ok(builder.build()?)
    }
}

/// Source, mode, window and output options shared by `load` and `load-multi`.
#[derive(Debug, Args)]
pub(crate) struct LoadOptions {
    /// What to do: local (read the store only), tail (up to now), backfill (back to the
    /// earliest bar), full (every gap from the earliest bar to now).
    #[arg(long, short = 'm', default_value = "tail")]
    pub(crate) mode: LoadMode,
    /// First bar wanted: a date or date-time (UTC unless an offset is given).
    #[arg(long)]
    pub(crate) start: Option<DateArg>,
    /// Last bar wanted (a date covers that whole day).
    #[arg(long)]
    pub(crate) end: Option<DateArg>,
    #[command(flatten)]
    source: SourceArgs,
    /// Print the result as JSON on standard output (progress still goes to standard error).
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress display.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Seconds between progress lines when standard output is not a terminal.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, hide = true)]
    pub(crate) progress_interval: f64,
}

/// `ktrdr data load SYMBOL TF`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr data load AAPL 1h --source sim --mode full --start 2024-01-01\n  ktrdr data load EURUSD 5m --source host --host-url http://127.0.0.1:5001 --mode tail\n  KTRDR_DATA_SOURCE=sim ktrdr data load MSFT 1d --mode backfill --json\n  ktrdr data load AAPL 1h --mode tail --server http://127.0.0.1:8000\n\nCtrl-C (also SIGTERM, SIGHUP) cancels and keeps every bar fetched so far (run again to resume); a second one exits at once.\nPacing: each run paces itself; a host service also holds back a request identical to one it forwarded within IB's 15 s (for every client). With --source ib, a run started within 15 s of the last may repeat a request IB refuses; that refusal is waited out, not a failure.\nWith --server URL the load runs in that ktrdr server (its source and store) and its progress shows here; Ctrl-C cancels it in the server and waits until it is cancelled; --json then prints the operation as the API shows it.\nExit status: 0 done, 1 error, 2 bad usage (also no source configured), 130 cancelled by Ctrl-C (143 by SIGTERM, 129 by SIGHUP)."
)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    series: SeriesArgs,
    #[command(flatten)]
    options: LoadOptions,
    /// Run the load in this ktrdr server (http://host:port) with its data source and store,
    /// following its progress here; Ctrl-C cancels it there.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["source", "host_url", "pacing", "ib_address", "ib_client_id", "max_in_flight"]
    )]
    server: Option<String>,
}

/// `ktrdr data load-multi SYMBOL --timeframes 1h,4h,1d`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  ktrdr data load-multi AAPL --timeframes 1h,4h,1d --source sim --mode full --start 2024-01-01\n\nThe timeframes load in turn as one operation, base first; a failed base stops the load, a failed other timeframe is reported and the rest go on.\nExit status: 0 done, 1 error (also when any timeframe failed; the others are kept), 2 bad usage, 130/143/129 cancelled by SIGINT/SIGTERM/SIGHUP."
)]
pub(crate) struct LoadMultiArgs {
    /// Instrument symbol.
    symbol: Symbol,
    /// Timeframes, comma-separated, e.g. 1h,4h,1d.
    #[arg(long, short = 't', value_delimiter = ',', required = true)]
    timeframes: Vec<Timeframe>,
    /// The timeframe that must load (default: the first).
    #[arg(long)]
    base: Option<Timeframe>,
    #[command(flatten)]
    options: LoadOptions,
}

/// A count that must be 1 or more.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn run(args: LoadArgs, store: BarStore) -> anyhow::Result<()> {
    let runtime = runtime()?;
    let code = runtime.block_on(load(args, store))?;
    finish(runtime, code)
}

pub(crate) fn run_multi(args: LoadMultiArgs, store: BarStore) -> anyhow::Result<()> {
    let runtime = runtime()?;
    let code = runtime.block_on(load_multi(args, store))?;
    finish(runtime, code)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn finish(runtime: tokio::runtime::Runtime, code: i32) -> anyhow::Result<()> {
    // Timer and Ctrl-C tasks must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(100));
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn load(args: LoadArgs, store: BarStore) -> anyhow::Result<i32> {
    let o = &args.options;
    if let Some(server) = &args.server {
        return super::remote_load::load(server, &args.series, o).await;
    }
    let (start, end) = time_bounds(o.start, o.end)?;
    let request = LoadRequest {
        symbol: args.series.symbol,
        timeframe: args.series.timeframe,
        mode: o.mode,
        start,
        end,
    };
    let manager = build_manager(o, store).await?;
    let ops = operations(o.quiet)?;
    let handle = manager.start(&ops, request.clone())?;
    let title = format!(
        "{} {} ({})",
        request.symbol, request.timeframe, request.mode
    );
    let (outcome, signal) = follow(o, &manager, &handle, &title).await;
    report(o, &outcome, signal, |v| {
        serde_json::from_value::<LoadSummary>(v.clone())
            .map(|s| s.to_string())
            .unwrap_or_else(|_| v.to_string())
    })
}

async fn load_multi(args: LoadMultiArgs, store: BarStore) -> anyhow::Result<i32> {
    let o = &args.options;
    let (start, end) = time_bounds(o.start, o.end)?;
    let request = MultiLoadRequest {
        symbol: args.symbol,
        timeframes: args.timeframes,
        base: args.base,
        mode: o.mode,
        start,
        end,
    };
    let manager = build_manager(o, store).await?;
    let ops = operations(o.quiet)?;
    let names: Vec<&str> = request.timeframes.iter().map(|t| t.as_str()).collect();
    let title = format!("{} {} ({})", request.symbol, names.join(","), request.mode);
    let handle = manager.start_multi(&ops, request)?;
    let (outcome, signal) = follow(o, &manager, &handle, &title).await;
    let summary = outcome
        .result_summary
        .as_ref()
        .and_then(|v| serde_json::from_value::<MultiLoadSummary>(v.clone()).ok());
    let code = report(o, &outcome, signal, |v| {
        summary
            .as_ref()
            .map_or_else(|| v.to_string(), ToString::to_string)
    })?;
    // The others were kept, but a script must still learn that a timeframe is incomplete.
    let failed = summary.as_ref().map_or(0, |s| s.failed().count());
    Ok(if code == 0 && failed > 0 { 1 } else { code })
}

/// Shows the operation's progress until it ends, cancelling it on the first stop signal
/// (Ctrl-C, SIGTERM, SIGHUP); returns the outcome and that signal.
async fn follow(
    o: &LoadOptions,
    manager: &DataManager,
    handle: &OperationHandle,
    title: &str,
) -> (OperationOutcome, Option<StopSignal>) {
    let mode = DisplayMode::detect(
        o.quiet,
        Duration::from_secs_f64(o.progress_interval.max(0.1)),
    );
    let mut display = ProgressDisplay::new(mode);
    let from = manager
        .provider_info()
        .map_or_else(|| "the local store".to_owned(), |p| p.name);
    display.println(&format!(
        "Loading {title} from {from}; operation {}",
        handle.id()
    ));
    display
        .follow_cancellable(handle, "saving what was fetched")
        .await
}

/// Prints the outcome and returns the exit status.
fn report(
    o: &LoadOptions,
    outcome: &OperationOutcome,
    signal: Option<StopSignal>,
    describe: impl Fn(&serde_json::Value) -> String,
) -> anyhow::Result<i32> {
    if o.json {
        println!("{}", serde_json::to_string_pretty(outcome)?);
    }
    let text = outcome.result_summary.as_ref().map(&describe);
    match outcome.status {
        OperationStatus::Completed => {
            if !o.json {
                println!("{}", text.unwrap_or_default());
            }
            Ok(0)
        }
        OperationStatus::Cancelled => {
            if !o.json {
                let reason = outcome
                    .cancel_reason
                    .as_ref()
                    .map_or_else(|| "cancelled".to_owned(), ToString::to_string);
                println!(
                    "Cancelled ({reason}): {}",
                    text.unwrap_or_else(|| "nothing was kept".into())
                );
                println!("Run the same command again to fetch only what is still missing.");
            }
            // The status a shell shows for the signal that stopped it (128 + its number).
            Ok(signal.map_or(EXIT_INTERRUPTED, StopSignal::exit_code))
        }
        status => {
            let error = outcome.error.clone().unwrap_or_else(|| status.to_string());
            if o.json {
                return Ok(1);
            }
            bail!("operation {} {status}: {error}", outcome.id)
        }
    }
}

/// The runner on `$KTRDR_HOME` (see `ktrdr_ops::home`), announcing the durations it imported
/// from the Python system's ETA caches.
pub(crate) fn operations(quiet: bool) -> anyhow::Result<Operations> {
    let home = Home::open_default()?;
    // A cache saved again with nothing new (only its oldest record dropped) is not news.
    let imported = home
        .eta_import()
        .map(|r| r.imported.as_slice())
        .unwrap_or_default();
    for cache in imported.iter().filter(|c| c.added > 0) {
        if !quiet {
            eprintln!(
                "Imported {} learned durations ({} keys) from the Python system's {}",
                cache.added,
                cache.keys,
                cache.path.display()
            );
        }
    }
    Ok(home.operations().clone())
}

/// A manager on `store`, with the provider chosen by the flags and the environment; a local
/// load reads the store only (a source set in the environment is not even connected to).
async fn build_manager(o: &LoadOptions, store: BarStore) -> anyhow::Result<DataManager> {
    if o.mode == LoadMode::Local {
        return Ok(DataManager::builder().store(store).build()?);
    }
    o.source.manager(store, false).await
}

/// The library's source errors, with the flags that fix them; no source and a bad variable are
/// usage errors (exit 2).
fn flag_hint(error: SourceError) -> anyhow::Error {
    let hint = match &error {
        SourceError::NotConfigured => {
            "choose one:\n  \
             --source sim    the built-in simulated broker (made-up data)\n  \
             --source host   an IB host service (--host-url URL, default http://localhost:5001)\n  \
             --source ib     IB Gateway directly (build with --features ib)\n\
             or set KTRDR_DATA_SOURCE=sim|host|ib, or USE_IB_HOST_SERVICE=true with IB_HOST_SERVICE_URL"
        }
        SourceError::IbNotBuilt { .. } => {
            return anyhow::anyhow!(
                "{error}\n(build with --features ib, or use --source host --host-url URL)"
            )
        }
        SourceError::BadEnv { .. } => return UsageError(error.to_string()).into(),
        _ => return error.into(),
    };
    UsageError(format!("{error}\n{hint}")).into()
}

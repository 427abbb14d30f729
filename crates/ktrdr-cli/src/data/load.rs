//! `ktrdr data load` and `ktrdr data load-multi`: fill the store from a data source, as a
//! recorded operation with live progress, our ETA, and a graceful Ctrl-C (first press cancels
//! and waits for the load to say what it kept, second press exits at once).
//!
//! Exit status: 0 done, 1 error, 130 cancelled.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use ktrdr_data::manager::{DataManager, LoadMode, LoadRequest, LoadSummary};
use ktrdr_data::multi_timeframe::{MultiLoadRequest, MultiLoadSummary};
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::DataProvider;
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{Symbol, Timeframe};
use ktrdr_ops::cancel::{spawn_ctrl_c_handler, EXIT_INTERRUPTED};
use ktrdr_ops::eta::{default_legacy_dir, import_legacy, EtaHistory, SqliteEtaHistory};
use ktrdr_ops::operations::{OperationHandle, OperationOutcome, Operations};
use ktrdr_ops::registry::{OperationStatus, Retention, SqliteRegistry};

use super::{time_bounds, DateArg, SeriesArgs};
use crate::progress_display::{DisplayMode, ProgressDisplay};

/// Where bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SourceKind {
    /// The built-in simulated broker (made-up data, for demos and tests).
    Sim,
    /// An IB host service over HTTP (ours or the Python one), at --host-url.
    Host,
    /// IB Gateway directly (needs a build with the `ib` feature).
    Ib,
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

/// Source, mode, window and output options shared by `load` and `load-multi`.
#[derive(Debug, Args)]
pub(crate) struct LoadOptions {
    /// What to do: local (read the store only), tail (up to now), backfill (back to the
    /// earliest bar), full (every gap from the earliest bar to now).
    #[arg(long, short = 'm', default_value = "tail")]
    mode: LoadMode,
    /// First bar wanted: a date or date-time (UTC unless an offset is given).
    #[arg(long)]
    start: Option<DateArg>,
    /// Last bar wanted (a date covers that whole day).
    #[arg(long)]
    end: Option<DateArg>,
    /// Where bars come from; else $KTRDR_DATA_SOURCE, else USE_IB_HOST_SERVICE=true means host.
    #[arg(long, value_enum, env = "KTRDR_DATA_SOURCE")]
    source: Option<SourceKind>,
    /// URL of the IB host service (source host).
    #[arg(long, env = "IB_HOST_SERVICE_URL", value_name = "URL")]
    host_url: Option<String>,
    /// Pacing rules of the broker (sources host and ib).
    #[arg(long, value_enum, default_value_t = PacingChoice::IbConservative)]
    pacing: PacingChoice,
    /// host:port of TWS / IB Gateway (source ib).
    #[arg(
        long,
        env = "IB_GATEWAY_ADDRESS",
        default_value = "127.0.0.1:4002",
        value_name = "HOST:PORT"
    )]
    ib_address: String,
    /// IB API client id (source ib; the Python system's DataManager range is 111-120).
    #[arg(long, default_value_t = 111)]
    ib_client_id: i32,
    /// Requests in flight at once (the pacing gate still decides when each is sent).
    #[arg(long, default_value_t = ktrdr_data::manager::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// Print the result as JSON on standard output (progress still goes to standard error).
    #[arg(long)]
    json: bool,
    /// No progress display.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Seconds between progress lines when standard output is not a terminal.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, hide = true)]
    progress_interval: f64,
}

/// `ktrdr data load SYMBOL TF`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr data load AAPL 1h --source sim --mode full --start 2024-01-01\n  ktrdr data load EURUSD 5m --source host --host-url http://127.0.0.1:5001 --mode tail\n  KTRDR_DATA_SOURCE=sim ktrdr data load MSFT 1d --mode backfill --json\n\nCtrl-C cancels and keeps every bar fetched so far (run again to resume); a second Ctrl-C exits at once.\nPacing: each run paces itself; a host service also holds back a request identical to one it forwarded within IB's 15 s (for every client). With --source ib, a run started within 15 s of the last may repeat a request IB refuses; that refusal is waited out, not a failure.\nExit status: 0 done, 1 error, 130 cancelled."
)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    series: SeriesArgs,
    #[command(flatten)]
    options: LoadOptions,
}

/// `ktrdr data load-multi SYMBOL --timeframes 1h,4h,1d`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  ktrdr data load-multi AAPL --timeframes 1h,4h,1d --source sim --mode full --start 2024-01-01\n\nThe timeframes load in turn as one operation, base first; a failed base stops the load, a failed other timeframe is reported and the rest go on.\nExit status: 0 done, 1 error (also when any timeframe failed; the others are kept), 130 cancelled."
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
    let outcome = follow(o, &manager, &handle, &title).await;
    report(o, &outcome, |v| {
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
    let outcome = follow(o, &manager, &handle, &title).await;
    let summary = outcome
        .result_summary
        .as_ref()
        .and_then(|v| serde_json::from_value::<MultiLoadSummary>(v.clone()).ok());
    let code = report(o, &outcome, |v| {
        summary
            .as_ref()
            .map_or_else(|| v.to_string(), ToString::to_string)
    })?;
    // The others were kept, but a script must still learn that a timeframe is incomplete.
    let failed = summary.as_ref().map_or(0, |s| s.failed().count());
    Ok(if code == 0 && failed > 0 { 1 } else { code })
}

/// Shows the operation's progress until it ends, cancelling it on the first Ctrl-C.
async fn follow(
    o: &LoadOptions,
    manager: &DataManager,
    handle: &OperationHandle,
    title: &str,
) -> OperationOutcome {
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
    let print = display.printer();
    let ctrl_c = spawn_ctrl_c_handler(handle.token().clone(), move || {
        print("Cancelling: saving what was fetched… (Ctrl-C again exits at once)");
    });
    let outcome = display
        .follow(handle.progress().subscribe(), handle.wait())
        .await;
    ctrl_c.abort();
    outcome
}

/// Prints the outcome and returns the exit status.
fn report(
    o: &LoadOptions,
    outcome: &OperationOutcome,
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
            Ok(EXIT_INTERRUPTED)
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

/// The runner, recording into `$KTRDR_HOME/ktrdr.db` and learning durations there; opening
/// the registry drops the operations that finished longer ago than the retention
/// (`$KTRDR_OPERATIONS_RETENTION_DAYS`, default 90).
fn operations(quiet: bool) -> anyhow::Result<Operations> {
    let path = ktrdr_ops::db::default_db_path();
    let retention = Retention::from_env()?;
    let registry = SqliteRegistry::open_with_retention(&path, retention)
        .with_context(|| format!("cannot open the operations registry {}", path.display()))?;
    let history: Option<Arc<dyn EtaHistory>> = match SqliteEtaHistory::open(&path) {
        Ok(h) => {
            import_python_history(&h, quiet);
            Some(Arc::new(h))
        }
        Err(error) => {
            tracing::warn!(%error, "no ETA history; estimates use the live rate only");
            None
        }
    };
    Ok(Operations::new(Arc::new(registry), history))
}

/// Brings in the durations the Python system learned (`$KTRDR_HOME/cache/*time_estimation.pkl`)
/// so a migrated deployment's first ETAs are informed. The history remembers each imported
/// file's content, so once done this costs reading the caches (a few KB); a cache the Python
/// system saved again since brings only its new records. A failure costs only that prior.
fn import_python_history(history: &dyn EtaHistory, quiet: bool) {
    let report = match import_legacy(&[default_legacy_dir()], history) {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, "the Python system's ETA caches were not imported");
            return;
        }
    };
    // A cache saved again with nothing new (only its oldest record dropped) is not news.
    for cache in report.imported.iter().filter(|c| c.added > 0) {
        if !quiet {
            eprintln!(
                "Imported {} learned durations ({} keys) from the Python system's {}",
                cache.added,
                cache.keys,
                cache.path.display()
            );
        }
    }
    for cache in &report.corrupt {
        let moved = cache.moved_to.as_ref().map_or_else(
            || "left in place".to_owned(),
            |to| format!("moved to {}", to.display()),
        );
        tracing::warn!(
            "the Python system's ETA cache {} cannot be read ({}); {moved}",
            cache.path.display(),
            cache.error
        );
    }
}

async fn build_manager(o: &LoadOptions, store: BarStore) -> anyhow::Result<DataManager> {
    let mut builder = DataManager::builder()
        .store(store)
        .max_in_flight(o.max_in_flight);
    if let Some(source) = resolve_source(o.source, o.mode)? {
        builder = builder.provider(provider(source, o).await?);
    }
    Ok(builder.build()?)
}

/// `--source`/`KTRDR_DATA_SOURCE` (clap reads both), else the Python system's
/// `USE_IB_HOST_SERVICE=true`. `None` for a local load, which reads the store only (a source
/// set in the environment is not even connected to); an error naming the options for a
/// fetching load without one (never simulated data by default).
fn resolve_source(flag: Option<SourceKind>, mode: LoadMode) -> anyhow::Result<Option<SourceKind>> {
    if mode == LoadMode::Local {
        return Ok(None);
    }
    let python_host = std::env::var("USE_IB_HOST_SERVICE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    match flag.or(python_host.then_some(SourceKind::Host)) {
        Some(s) => Ok(Some(s)),
        None => bail!(
            "no data source configured for a '{mode}' load; choose one:\n  \
             --source sim    the built-in simulated broker (made-up data)\n  \
             --source host   an IB host service (--host-url URL, default http://localhost:5001)\n  \
             --source ib     IB Gateway directly (build with --features ib)\n\
             or set KTRDR_DATA_SOURCE=sim|host|ib, or USE_IB_HOST_SERVICE=true with IB_HOST_SERVICE_URL"
        ),
    }
}

async fn provider(source: SourceKind, o: &LoadOptions) -> anyhow::Result<Arc<dyn DataProvider>> {
    match source {
        SourceKind::Sim => Ok(Arc::new(SimProvider::new(SimConfig::default())?)),
        SourceKind::Host => host_provider(o),
        SourceKind::Ib => ib_provider(o).await,
    }
}

#[cfg(feature = "ib")]
async fn ib_provider(o: &LoadOptions) -> anyhow::Result<Arc<dyn DataProvider>> {
    use ktrdr_data::provider::ib::{IbConfig, IbProvider};
    let config = IbConfig {
        pacing: o.pacing.rules(),
        ..IbConfig::new(o.ib_address.clone(), o.ib_client_id)
    };
    let provider = IbProvider::connect(config)
        .await
        .with_context(|| format!("cannot connect to IB Gateway at {}", o.ib_address))?;
    Ok(Arc::new(provider))
}

#[cfg(not(feature = "ib"))]
async fn ib_provider(o: &LoadOptions) -> anyhow::Result<Arc<dyn DataProvider>> {
    bail!(
        "the ib source talks to IB Gateway directly ({} as client {}) and needs ktrdr built with \
         --features ib; with a running IB host service use --source host --host-url URL",
        o.ib_address,
        o.ib_client_id
    )
}

fn host_provider(o: &LoadOptions) -> anyhow::Result<Arc<dyn DataProvider>> {
    use ktrdr_data::provider::host::{HostProvider, HostProviderConfig};
    let url = o
        .host_url
        .clone()
        .unwrap_or_else(|| "http://localhost:5001".to_owned());
    let config = HostProviderConfig {
        pacing: o.pacing.rules(),
        ..HostProviderConfig::new(url.clone())
    };
    let provider =
        HostProvider::new(config).with_context(|| format!("invalid host service URL {url:?}"))?;
    Ok(Arc::new(provider))
}

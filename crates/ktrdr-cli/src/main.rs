//! `ktrdr`: the command-line interface. Parses arguments, calls the libraries, renders results;
//! no business logic lives here.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod calendar;
mod data;
mod gap_filler;
mod host_service;
mod indicators;
mod models;
mod ops;
mod output;
mod progress_display;
mod serve;
mod strategy;
mod training_host;

/// ktrdr: research platform for systematic traders.
#[derive(Debug, Parser)]
#[command(
    name = "ktrdr",
    version,
    propagate_version = true,
    after_help = "Examples:\n  ktrdr data show MSFT 1h                 last 10 bars of MSFT hourly\n  ktrdr data range EURUSD 1h              first/last bar and row count\n  ktrdr --data-dir ~/bars data show AAPL 5m --rows 50\n\nLogging: set RUST_LOG (e.g. RUST_LOG=debug); logs go to stderr."
)]
struct Cli {
    /// Directory of the local bar store (files named SYMBOL_TF.csv).
    #[arg(
        long,
        global = true,
        env = "KTRDR_DATA_DIR",
        default_value = "./data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Market data in the local store (show, range, ...).
    Data(data::DataArgs),
    /// Technical indicators over a stored series (compute; `--help` lists them).
    Indicators(indicators::IndicatorsArgs),
    /// Exchange calendars: sessions as CSV, and which calendar a symbol trades on.
    #[command(subcommand)]
    Calendar(calendar::CalendarCommand),
    /// Serve the IB host-service protocol (port 5001) from a provider, e.g. the simulated broker.
    HostService(host_service::HostServiceArgs),
    /// Serve the ktrdr API (/api/v1): operations, data, live progress.
    Serve(serve::ServeArgs),
    /// Operations of this machine or of a server: list, show, cancel, watch, wait, retry.
    Ops(ops::OpsArgs),
    /// Models: train from a strategy file (live progress, Ctrl-C keeps a checkpoint), list, show, predict.
    Models(models::ModelsArgs),
    /// Serve the training host service protocol (port 5002): trainings from other machines run here.
    TrainingHostService(training_host::TrainingHostArgs),
    /// Fill recent missing bars of the stored series (one cycle; `serve --gap-filler` runs it as a service).
    #[command(subcommand)]
    GapFiller(gap_filler::GapFillerCommand),
    /// Strategy files: validate them (every problem with its key path).
    #[command(subcommand)]
    Strategy(strategy::StrategyCommand),
}

/// What every subcommand may need from the global options.
pub(crate) struct Context {
    pub(crate) data_dir: PathBuf,
}

fn main() -> ExitCode {
    // candle's matrix products ask rayon for its thread count on every call, and without this
    // variable rayon reads /proc/cpuinfo each time: training ran 3.6 times slower. Set before any
    // thread exists.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let ctx = Context {
        data_dir: cli.data_dir,
    };
    let result = match cli.command {
        Command::Data(args) => data::run(args, &ctx),
        Command::Indicators(args) => indicators::run(args, &ctx),
        Command::Calendar(command) => calendar::run(command),
        Command::HostService(args) => host_service::run(args),
        Command::Serve(args) => serve::run(args, ktrdr_data::store::BarStore::new(&ctx.data_dir)),
        Command::Ops(args) => ops::run(args),
        Command::Models(args) => models::run(args, &ctx),
        Command::TrainingHostService(args) => training_host::run(args, &ctx),
        Command::GapFiller(command) => {
            gap_filler::run(command, ktrdr_data::store::BarStore::new(&ctx.data_dir))
        }
        Command::Strategy(command) => strategy::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", output::error_chain(&e));
            ExitCode::from(output::exit_status(&e))
        }
    }
}

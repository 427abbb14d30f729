//! `ktrdr host-service --provider sim|ib`: serve the IB host-service protocol (port 5001 by
//! default, loopback only unless `--bind` says otherwise) until Ctrl-C or SIGTERM.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use ktrdr_data::calendar::SessionHours;
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::provider::sim::{FaultConfig, SimConfig, SimProvider};
use ktrdr_data::types::parse_timestamp;
use ktrdr_server::host_service::{shutdown_signal, HostService};

/// Serve the IB host-service protocol.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr host-service --provider sim\n  ktrdr host-service --provider sim --port 5002 --latency-ms 400 --pacing ib-conservative\n  ktrdr host-service --provider sim --fault-error-rate 0.05 --fault-pacing-rate 0.02 --seed 7\n\nThe service prints the URL it serves on its first line of standard output.\nStop it with Ctrl-C or SIGTERM: requests in flight are cancelled and answered 503."
)]
pub(crate) struct HostServiceArgs {
    /// Where the data comes from. `sim` is the built-in simulated broker (made-up data).
    #[arg(long, value_enum)]
    provider: ProviderKind,
    /// Address to listen on. The default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 5001)]
    port: u16,
    /// sim: latency of every answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    latency_ms: u64,
    /// sim: extra random latency per answer, up to this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    jitter_ms: u64,
    /// sim: the pacing rules the simulated broker enforces (clients must pace to the same).
    #[arg(long, value_enum, default_value_t = PacingPreset::Fast)]
    pacing: PacingPreset,
    /// sim: serve extended-hours intraday bars instead of regular hours only.
    #[arg(long)]
    extended_hours: bool,
    /// sim: rate (0..1) of transient broker errors.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = rate)]
    fault_error_rate: f64,
    /// sim: rate (0..1) of requests that hang for --fault-hang-ms, then fail as timeouts.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = rate)]
    fault_timeout_rate: f64,
    /// sim: how long a hanging request hangs, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    fault_hang_ms: u64,
    /// sim: rate (0..1) of pacing violations the client did not cause.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = rate)]
    fault_pacing_rate: f64,
    /// sim: the retry-after of an injected pacing violation, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    fault_pacing_retry_ms: u64,
    /// sim: rate (0..1) of slow answers (--fault-slow-ms more latency).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = rate)]
    fault_slow_rate: f64,
    /// sim: extra latency of a slow answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    fault_slow_ms: u64,
    /// sim: rate (0..1) of empty answers for ranges that have bars.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = rate)]
    fault_empty_rate: f64,
    /// sim: seed of the fault draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// sim: seed of the simulated market (another seed, another price history).
    #[arg(long, default_value_t = 0)]
    market_seed: u64,
    /// sim: the simulated "now" (no bar after it), e.g. 2025-01-01T00:00:00Z; default: the clock.
    #[arg(long, value_name = "TIME", value_parser = timestamp)]
    now: Option<i64>,
    /// ib: `host:port` of TWS or IB Gateway.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4002")]
    ib_address: String,
    /// ib: the API client id (unique per gateway connection).
    #[arg(long, value_name = "ID", default_value_t = 1)]
    ib_client_id: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProviderKind {
    /// The built-in simulated broker.
    Sim,
    /// Interactive Brokers directly (needs a build with `--features ib`).
    Ib,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PacingPreset {
    /// IB's rule shapes at 100x speed (for demos and tests).
    Fast,
    /// IB's published limits on every bar size (the Python system's rules).
    IbConservative,
    /// IB's hard limits only for bars of 30 s or less.
    IbSmallBarsOnly,
}

impl PacingPreset {
    fn rules(self) -> PacingRules {
        match self {
            PacingPreset::Fast => PacingRules::fast(),
            PacingPreset::IbConservative => PacingRules::ib_conservative(),
            PacingPreset::IbSmallBarsOnly => PacingRules::ib_small_bars_only(),
        }
    }
}

/// A `--fault-*-rate`: a probability, 0 to 1.
fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(r) => Err(format!("{r} is not a rate between 0 and 1")),
        Err(e) => Err(e.to_string()),
    }
}

/// A `--now`: a date or date-time, UTC unless it says otherwise.
fn timestamp(s: &str) -> Result<i64, String> {
    parse_timestamp(s).map_err(|e| e.to_string())
}

fn sim_config(a: &HostServiceArgs) -> anyhow::Result<SimConfig> {
    Ok(SimConfig {
        latency: Duration::from_millis(a.latency_ms),
        latency_jitter: Duration::from_millis(a.jitter_ms),
        pacing: a.pacing.rules(),
        session_hours: if a.extended_hours {
            SessionHours::Extended
        } else {
            SessionHours::Regular
        },
        faults: FaultConfig {
            seed: a.seed,
            error_rate: a.fault_error_rate,
            timeout_rate: a.fault_timeout_rate,
            hang: Duration::from_millis(a.fault_hang_ms),
            pacing_rate: a.fault_pacing_rate,
            pacing_retry_after: Duration::from_millis(a.fault_pacing_retry_ms),
            slow_rate: a.fault_slow_rate,
            slow_extra: Duration::from_millis(a.fault_slow_ms),
            empty_rate: a.fault_empty_rate,
        },
        now: a.now,
        market_seed: a.market_seed,
        ..SimConfig::default()
    })
}

#[cfg(feature = "ib")]
async fn ib_service(args: &HostServiceArgs) -> anyhow::Result<HostService> {
    use ktrdr_data::provider::ib::{IbConfig, IbProvider};
    let config = IbConfig {
        session_hours: if args.extended_hours {
            SessionHours::Extended
        } else {
            SessionHours::Regular
        },
        ..IbConfig::new(args.ib_address.clone(), args.ib_client_id)
    };
    let ib = IbProvider::connect(config)
        .await
        .with_context(|| format!("cannot connect to IB at {}", args.ib_address))?;
    Ok(HostService::new(Arc::new(ib)))
}

#[cfg(not(feature = "ib"))]
async fn ib_service(_args: &HostServiceArgs) -> anyhow::Result<HostService> {
    anyhow::bail!(
        "--provider ib needs a ktrdr built with the `ib` feature (cargo build --features ib); \
         use --provider sim, or run the Python IB host service in front of IB Gateway"
    )
}

pub(crate) fn run(args: HostServiceArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let service = match args.provider {
            ProviderKind::Sim => {
                let sim = SimProvider::new(sim_config(&args)?).context("invalid sim settings")?;
                HostService::for_sim(Arc::new(sim))
            }
            ProviderKind::Ib => ib_service(&args).await?,
        };
        let listener = tokio::net::TcpListener::bind((args.bind, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        // The first line of stdout is the URL, so scripts and tests can find a port-0 service.
        println!(
            "ktrdr host-service: serving {} on http://{addr}",
            service.provider_name()
        );
        if !args.bind.is_loopback() {
            tracing::warn!(%addr, "the host service accepts connections from other machines");
        }
        service
            .serve(listener, shutdown_signal())
            .await
            .context("the host service failed")?;
        let stats = service.stats();
        eprintln!(
            "ktrdr host-service: stopped after {} requests ({} errors)",
            stats.total_requests, stats.error_count
        );
        Ok(())
    })
}

//! `ktrdr serve`: the `/api/v1` backend on this machine's store and registry, until Ctrl-C or
//! SIGTERM (which cancel the operations it runs, wait briefly, and record them cancelled by
//! shutdown).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::HeaderValue;
use clap::Args;
use ktrdr_data::gap_filler::GapFillerConfig;
use ktrdr_data::store::BarStore;
use ktrdr_ops::home::Home;
use ktrdr_ops::host::HostClient;
use ktrdr_server::api::auth::TOKEN_ENV;
use ktrdr_server::api::metrics::Metrics;
use ktrdr_server::api::training::TrainingApi;
use ktrdr_server::api::{ApiConfig, ApiServer, ApiState, ApiToken, DEFAULT_STRATEGIES_DIR};
use ktrdr_server::host_service::shutdown_signal;
use ktrdr_train::pipeline::TrainingService;

use crate::data::load::SourceArgs;
use crate::output::UsageError;

/// Serve the ktrdr API (/api/v1) for the CLI, scripts and the Python ktrdr clients.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr serve                                   local store only, on 127.0.0.1:8000\n  ktrdr serve --source sim                      loads fetch from the simulated broker\n  ktrdr serve --source host --host-url http://gateway:5001 --bind 0.0.0.0:8000\n  KTRDR_API_TOKEN=$(openssl rand -hex 16) ktrdr serve --source sim\n  ktrdr serve --source sim --gap-filler         also fill recent missing bars, every hour\n\nThe first line of standard output is the URL served. Point the CLI at it with --server URL or KTRDR_API_URL.\nWith KTRDR_API_TOKEN set, every route but /health requires `Authorization: Bearer <token>`.\nCtrl-C or SIGTERM cancels the operations this server runs (reason: shutdown), waits up to --shutdown-grace for them to save, then exits."
)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on. The default serves this machine only; port 0 picks a
    /// free one.
    #[arg(long, default_value = "127.0.0.1:8000", value_name = "ADDR:PORT")]
    bind: SocketAddr,
    /// A browser origin allowed to call the API (CORS), e.g. http://localhost:5173; repeat for
    /// more. None: CORS off.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Seconds a shutdown waits for running operations to stop.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    shutdown_grace: Duration,
    #[command(flatten)]
    source: SourceArgs,
    /// Also run the gap filler service (needs a data source): every --gap-filler-interval it
    /// fills the recent missing in-session bars of the stored series with tail loads. Start
    /// and stop it later with POST /api/v1/gap-filler/start|stop.
    #[arg(long)]
    gap_filler: bool,
    /// Minutes between the gap filler's cycles (doubled after pacing errors).
    #[arg(long, value_name = "MINUTES", default_value = "60", value_parser = positive_minutes)]
    gap_filler_interval: Duration,
    #[command(flatten)]
    models: crate::models::ModelsDir,
    /// Where `POST /api/v1/trainings/start` finds STRATEGY_NAME.yaml.
    #[arg(long, env = "KTRDR_STRATEGIES_DIR", default_value = DEFAULT_STRATEGIES_DIR, value_name = "DIR")]
    strategies_dir: std::path::PathBuf,
    /// Run trainings on this training host service (http://host:5002) instead of here; else
    /// USE_TRAINING_HOST_SERVICE=true with TRAINING_HOST_SERVICE_URL.
    #[arg(long, value_name = "URL")]
    training_host_url: Option<String>,
}

/// A positive number of minutes.
fn positive_minutes(s: &str) -> Result<Duration, String> {
    let minutes: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if minutes.is_nan() || minutes <= 0.0 {
        return Err("must be more than 0 minutes".to_owned());
    }
    Duration::try_from_secs_f64(minutes * 60.0).map_err(|e| e.to_string())
}

/// A duration in seconds, 0 or more.
fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| "must be a number of seconds, 0 or more".to_owned())
}

pub(crate) fn run(args: ServeArgs, store: BarStore) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, store))
}

async fn serve(args: ServeArgs, store: BarStore) -> anyhow::Result<()> {
    let cors_origins = args
        .cors_origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin).with_context(|| format!("bad --cors-origin {origin:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let token = ApiToken::from_env();
    let manager = args.source.manager(store, true).await?;
    let source = manager
        .provider_info()
        .map_or_else(|| "none: local loads only".to_owned(), |p| p.name);
    let metrics = Arc::new(Metrics::default());
    let home = Home::open_default()?.layer_registry(|registry| metrics.meter_registry(registry));
    let config = ApiConfig {
        token: token.clone(),
        cors_origins,
        shutdown_grace: args.shutdown_grace,
        ..ApiConfig::default()
    };
    let mut training = TrainingService::new(manager.store().clone(), &args.models.models_dir)
        .with_manager(manager.clone());
    if let Some(url) = crate::models::training_host_url(args.training_host_url.as_deref()) {
        let client = HostClient::new(url.clone())
            .map_err(|e| UsageError(format!("training host service URL {url:?}: {e}")))?;
        training = training.on_host(client);
    }
    let training = TrainingApi::new(training, &args.strategies_dir);
    let state = ApiState::with_training(home.operations().clone(), manager, metrics, training);
    let server = ApiServer::new(state, config);
    if args.gap_filler {
        start_gap_filler(&server, args.gap_filler_interval).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        let auth = if token.is_some() {
            "clients need the token"
        } else {
            "with no KTRDR_API_TOKEN anyone who can reach it may start and cancel operations"
        };
        eprintln!("warning: serving on {addr}, reachable from other machines; {auth}");
    }
    println!("ktrdr API on http://{addr}/api/v1 (data source: {source})");
    if token.is_some() {
        eprintln!("{TOKEN_ENV} is set: requests need Authorization: Bearer <token>");
    }
    server
        .serve(listener, shutdown_signal())
        .await
        .context("the server stopped with an error")
}

/// Starts the server's gap filler with cycles `interval` apart.
async fn start_gap_filler(server: &ApiServer, interval: Duration) -> anyhow::Result<()> {
    let control = server.state().gap_filler();
    let defaults = GapFillerConfig::default();
    let config = GapFillerConfig {
        interval,
        max_backoff: defaults.max_backoff.max(interval),
        ..defaults
    };
    control
        .start(server.state(), Some(config))
        .await
        .map_err(|error| UsageError(format!("--gap-filler: {}", error.message)))?;
    eprintln!(
        "Gap filler running: a cycle now, then every {} minutes",
        interval.as_secs_f64() / 60.0
    );
    Ok(())
}

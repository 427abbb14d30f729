//! `ktrdr training-host-service`: serve the training host service protocol (port 5002 by
//! default, loopback only unless `--bind` says otherwise) until Ctrl-C or SIGTERM, running the
//! real training pipeline on this machine's store and saving models here.

use std::net::IpAddr;

use anyhow::Context as _;
use clap::Args;
use ktrdr_data::store::BarStore;
use ktrdr_server::host_service::shutdown_signal;
use ktrdr_server::training_host::TrainingHostService;
use ktrdr_train::host::request::StrategyFiles;
use ktrdr_train::pipeline::TrainingService;

use crate::data::load::{operations, SourceArgs};
use crate::models::ModelsDir;
use crate::Context;

/// Serve the training host service protocol.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr training-host-service\n  ktrdr training-host-service --port 0 --models-dir /srv/models --source sim\n\nClients: `ktrdr models train … --training-host-url http://HOST:5002`, or the Python backend with USE_TRAINING_HOST_SERVICE=true.\nOne session trains at a time; POST /training/stop stops it between two batches and keeps a checkpoint.\nThe service prints the URL it serves on its first line of standard output.\nStop it with Ctrl-C or SIGTERM: a running session is stopped (reason shutdown) and keeps its checkpoint."
)]
pub(crate) struct TrainingHostArgs {
    /// Address to listen on. The default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 5002)]
    port: u16,
    #[command(flatten)]
    models: ModelsDir,
    /// Read a strategy a request names by path (`strategy_config`, as the Python backend sends)
    /// only under this directory. Without it any path is read when the service listens on
    /// loopback, none otherwise (clients then send the file's text, as `ktrdr models train` does).
    #[arg(long, value_name = "DIR")]
    strategies_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
}

pub(crate) fn run(args: TrainingHostArgs, ctx: &Context) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = BarStore::new(&ctx.data_dir);
        let manager = args.source.manager(store.clone(), true).await?;
        let training =
            TrainingService::new(store, &args.models.models_dir).with_manager(manager);
        let files = match (&args.strategies_dir, args.bind.is_loopback()) {
            (Some(dir), _) => StrategyFiles::Under(dir.clone()),
            (None, true) => StrategyFiles::Anywhere,
            (None, false) => StrategyFiles::TextOnly,
        };
        let service = TrainingHostService::new(training, operations(true)?, files);
        let listener = tokio::net::TcpListener::bind((args.bind, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        // The first line of stdout is the URL, so scripts and tests can find a port-0 service.
        println!("ktrdr training-host-service: serving on http://{addr}");
        if !args.bind.is_loopback() {
            tracing::warn!(%addr, "the training host service accepts connections from other machines");
        }
        service
            .serve(listener, shutdown_signal())
            .await
            .context("the training host service failed")
    })
}

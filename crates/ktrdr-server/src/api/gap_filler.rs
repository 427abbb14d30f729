//! [`GapFillerControl`]: the server's one gap filler service, started and stopped through the
//! API (`POST /gap-filler/start|stop`) or by `ktrdr serve --gap-filler`, on the server's runner
//! and data manager, so its loads share the pacing gate and the registry with every other load.

use std::sync::{Mutex, PoisonError};

use ktrdr_data::gap_filler::{
    GapFiller, GapFillerConfig, GapFillerError, GapFillerHandle, GapFillerStats, InvalidConfig,
};

use super::error::ApiError;
use super::wire::{GapFillerSettings, GapFillerStatus, GapFillerTotals};
use super::ApiState;

/// The gap filler slot of a server: stopped, or one running service.
#[derive(Debug)]
pub struct GapFillerControl {
    config: Mutex<GapFillerConfig>,
    /// Held across a stop (which waits for the load in flight), so that a start cannot race it.
    slot: tokio::sync::Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    running: Option<GapFillerHandle>,
    /// The final stats of the last run, shown while stopped.
    last: Option<GapFillerStats>,
}

impl Default for GapFillerControl {
    fn default() -> Self {
        GapFillerControl {
            config: Mutex::new(GapFillerConfig::default()),
            slot: tokio::sync::Mutex::default(),
        }
    }
}

impl GapFillerControl {
    /// The settings the next start uses.
    pub fn config(&self) -> GapFillerConfig {
        self.lock_config().clone()
    }

    /// Starts the service on `state`'s runner and data manager, with `config` when given (it
    /// then stays the settings of later starts), else the last settings.
    ///
    /// # Errors
    ///
    /// 409 when it runs already, 422 naming a setting out of range, 503 when the server has
    /// no data source.
    pub async fn start(
        &self,
        state: &ApiState,
        config: Option<GapFillerConfig>,
    ) -> Result<GapFillerStatus, ApiError> {
        let mut slot = self.slot.lock().await;
        if slot
            .running
            .as_ref()
            .is_some_and(GapFillerHandle::is_running)
        {
            return Err(ApiError::conflict(
                "GAPFILLER-AlreadyRunning",
                "the gap filler is already running; stop it first",
            ));
        }
        let config = match config {
            Some(config) => {
                config.validate().map_err(|e| invalid_setting(&e))?;
                *self.lock_config() = config.clone();
                config
            }
            None => self.config(),
        };
        let filler = GapFiller::new(state.manager().clone(), state.operations().clone(), config)
            .map_err(|error| match error {
                GapFillerError::NoProvider => ApiError::unavailable(
                    "GAPFILLER-NoSource",
                    "the gap filler needs a data source: start the server with --source \
                     (sim, host or ib) or KTRDR_DATA_SOURCE",
                ),
                GapFillerError::Config(e) => invalid_setting(&e),
            })?;
        let handle = filler.spawn().map_err(ApiError::internal)?;
        tracing::info!("gap filler started");
        let status = self.describe(Some(&handle), None);
        slot.running = Some(handle);
        Ok(status)
    }

    /// Stops the service: no new load, the load in flight cancelled with reason `shutdown`;
    /// answers once it has stopped, with its final stats.
    ///
    /// # Errors
    ///
    /// 409 when it does not run; 500 when its loop had panicked.
    pub async fn stop(&self) -> Result<GapFillerStatus, ApiError> {
        let mut slot = self.slot.lock().await;
        let Some(handle) = slot.running.take() else {
            return Err(ApiError::conflict(
                "GAPFILLER-NotRunning",
                "the gap filler is not running",
            ));
        };
        let stats = handle.stop().await.map_err(ApiError::internal)?;
        tracing::info!(cycles = stats.cycles, "gap filler stopped");
        let status = self.describe(None, Some(&stats));
        slot.last = Some(stats);
        Ok(status)
    }

    /// Stops the service if it runs (for the server's shutdown).
    pub(crate) async fn shutdown(&self) {
        match self.stop().await {
            Ok(_) => {}
            Err(error) if error.code == "GAPFILLER-NotRunning" => {}
            Err(error) => tracing::warn!(%error, "the gap filler did not stop cleanly"),
        }
    }

    /// Whether it runs, its settings and its stats.
    pub async fn status(&self) -> GapFillerStatus {
        let slot = self.slot.lock().await;
        self.describe(slot.running.as_ref(), slot.last.as_ref())
    }

    fn describe(
        &self,
        running: Option<&GapFillerHandle>,
        last: Option<&GapFillerStats>,
    ) -> GapFillerStatus {
        let config = self.config();
        let stats = match (running, last) {
            (Some(handle), _) => GapFillerStats {
                // Also false for a loop that ended without recording it (a panic).
                running: handle.is_running(),
                ..handle.stats()
            },
            (None, Some(last)) => last.clone(),
            (None, None) => {
                let mut idle = GapFillerStats::starting(config.interval.as_secs_f64());
                idle.running = false;
                idle
            }
        };
        GapFillerStatus {
            running: stats.running,
            config: GapFillerSettings::from(&config),
            stats: GapFillerTotals::from(&stats),
        }
    }

    fn lock_config(&self) -> std::sync::MutexGuard<'_, GapFillerConfig> {
        // A plain value, replaced whole: a panic elsewhere cannot leave it half-written.
        self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 422 for a setting out of range, named as the API names it.
fn invalid_setting(error: &InvalidConfig) -> ApiError {
    let field = match error.field {
        "interval" => "interval_secs",
        "recent" => "recent_days",
        "max_backoff" => "max_backoff_secs",
        "recheck_empty" => "recheck_empty_secs",
        "max_gate_wait" => "max_gate_wait_secs",
        other => other,
    };
    ApiError::invalid_field(field, format!("{field} must be {}", error.requirement), &[])
}

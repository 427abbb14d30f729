//! The orphan sweep: while the server runs, operations whose owner process died (a CLI load
//! killed with `kill -9`, a crashed server sharing the registry) are marked `interrupted` every
//! few seconds instead of showing `running` until the next start.

use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::ApiState;

/// How often the server looks for operations whose owner died.
pub const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(2);

/// Sweeps the registry every `every` until the server starts shutting down. A failed sweep
/// (the database busy for longer than its timeout) is logged and tried again at the next tick.
pub(crate) async fn sweep_orphans(state: ApiState, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    // After a stall (a long sweep, a suspended machine) one sweep covers the missed ones.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The registry's open swept already; the first tick of an interval is immediate.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = state.closing() => return,
            _ = ticks.tick() => {}
        }
        let swept = state
            .blocking(|state| Ok(state.registry().interrupt_dead_owners()?))
            .await;
        match swept {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(?ids, "operations of ended processes marked interrupted");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the orphan sweep failed; trying again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ktrdr_data::manager::DataManager;
    use ktrdr_ops::operations::Operations;
    use ktrdr_ops::registry::{MemoryRegistry, OperationRecord, OperationStatus, Owner, Registry};
    use serde_json::json;

    use super::*;

    /// An owner that cannot be running: Linux caps pids at 2^22.
    fn dead() -> Owner {
        Owner {
            pid: 999_999_999,
            ..Owner::current()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_owners_operation_is_interrupted_within_one_period_until_closing() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(MemoryRegistry::new());
        let manager = DataManager::builder().data_dir(dir.path()).build().unwrap();
        let state = ApiState::new(Operations::new(registry.clone(), None), manager);
        let sweep = tokio::spawn(sweep_orphans(state.clone(), DEFAULT_SWEEP_EVERY));

        let status = |id: &str| registry.get(id).unwrap().unwrap().status;
        let mut record = OperationRecord::pending("op_orphan", "data_load", json!({}));
        record.owner = dead();
        registry.insert(&record).unwrap();
        tokio::time::sleep(DEFAULT_SWEEP_EVERY / 2).await;
        assert_eq!(
            status("op_orphan"),
            OperationStatus::Pending,
            "not before the tick"
        );
        tokio::time::sleep(DEFAULT_SWEEP_EVERY).await;
        assert_eq!(status("op_orphan"), OperationStatus::Interrupted);

        state.close();
        sweep.await.unwrap();
        let mut late = OperationRecord::pending("op_late", "data_load", json!({}));
        late.owner = dead();
        registry.insert(&late).unwrap();
        tokio::time::sleep(DEFAULT_SWEEP_EVERY * 3).await;
        assert_eq!(
            status("op_late"),
            OperationStatus::Pending,
            "no sweep after closing"
        );
    }
}

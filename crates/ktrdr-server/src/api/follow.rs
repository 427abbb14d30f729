//! [`Follower`]: one operation's state as it changes, for the routes that follow an operation
//! (`GET /operations/{id}/events` and `/wait`).
//!
//! The registry is the source: every process records its operations' progress there (at most
//! every 250 ms), so one poll loop follows an operation whoever runs it.
//!
//! Two promises hold for each follower, whatever the source: the percent it hands out never
//! falls, and it hands out a state only when it differs from the last one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ktrdr_ops::registry::{OperationRecord, OperationStatus};
use serde::Serialize;
use serde_json::Value;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::error::ApiError;
use super::routes::operations::unknown_operation;
use super::wire::{OperationInfo, OperationProgress};
use super::ApiState;

/// How often the registry is read for an operation's news. The owner persists progress at most
/// every 250 ms, so reading more often would mostly find nothing new.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Follows one operation.
#[derive(Debug)]
pub(crate) struct Follower {
    state: ApiState,
    id: String,
    poll: Interval,
    /// The highest percent handed out: the wire never shows it fall, even if a source (a
    /// stale read, a restarted owner) reports less.
    floor: f64,
}

impl Follower {
    /// The current state of operation `id` and a follower of its changes; 404 when no process
    /// recorded it.
    pub(crate) async fn start(
        state: &ApiState,
        id: &str,
    ) -> Result<(OperationInfo, Follower), ApiError> {
        let record = read(state, id)
            .await?
            .ok_or_else(|| unknown_operation(id))?;
        let mut poll = tokio::time::interval_at(Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
        // A reader that fell behind wants the latest state once, not a burst of catch-up reads.
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut follower = Follower {
            state: state.clone(),
            id: id.to_owned(),
            poll,
            floor: 0.0,
        };
        let info = follower.present(&record);
        Ok((info, follower))
    }

    /// Waits until the operation's state differs from the one tagged `last_tag` (see
    /// [`state_tag`]) and returns it.
    ///
    /// A registry error is logged and the read tried again at the next poll (another process
    /// may hold the database's lock); an operation whose record vanished (deleted by another
    /// process's retention while this one followed it) is a 404.
    pub(crate) async fn changed(&mut self, last_tag: &str) -> Result<OperationInfo, ApiError> {
        loop {
            self.poll.tick().await;
            let record = match read(&self.state, &self.id).await {
                Ok(Some(record)) => record,
                Ok(None) => return Err(unknown_operation(&self.id)),
                Err(error) => {
                    tracing::warn!(id = %self.id, %error, "cannot read the operation; retrying");
                    continue;
                }
            };
            let info = self.present(&record);
            if state_tag(&info) != last_tag {
                return Ok(info);
            }
        }
    }

    /// `record` as sent: its percent never below one handed out before.
    fn present(&mut self, record: &OperationRecord) -> OperationInfo {
        let mut info = OperationInfo::from(record);
        let percentage = &mut info.progress.percentage;
        *percentage = percentage.max(self.floor);
        self.floor = *percentage;
        info
    }
}

/// The tag of `info`'s state: 16 hex digits that change when anything but the duration
/// changes (the duration of a running operation moves with the clock alone). It is the `id:` of
/// the event that carries `info`, so a reconnecting client names the state it already has.
///
/// FNV-1a of the state's JSON: stable across builds and restarts, so a tag keeps its meaning
/// for a client that reconnects to a restarted server.
pub(crate) fn state_tag(info: &OperationInfo) -> String {
    #[derive(Serialize)]
    struct State<'a> {
        status: OperationStatus,
        progress: &'a OperationProgress,
        started_at: Option<DateTime<Utc>>,
        completed_at: Option<DateTime<Utc>>,
        result_summary: &'a Option<Value>,
        error_message: &'a Option<String>,
        cancel_reason: &'a Option<String>,
    }
    let state = State {
        status: info.status,
        progress: &info.progress,
        started_at: info.started_at,
        completed_at: info.completed_at,
        result_summary: &info.result_summary,
        error_message: &info.error_message,
        cancel_reason: &info.cancel_reason,
    };
    let mut hash = Fnv1a::default();
    // Writing into a hash cannot fail, and these fields always serialise.
    let _ = serde_json::to_writer(&mut hash, &state);
    format!("{:016x}", hash.0)
}

/// The 64-bit FNV-1a hash of what is written into it.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn read(state: &ApiState, id: &str) -> Result<Option<OperationRecord>, ApiError> {
    let id = id.to_owned();
    state
        .blocking(move |state| Ok(state.registry().get(&id)?))
        .await
}

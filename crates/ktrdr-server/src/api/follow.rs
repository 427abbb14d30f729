//! [`Follower`]: one operation's state as it changes, for the routes that follow an operation
//! (`GET /operations/{id}/events` and `/wait`).
//!
//! Two sources, one shape:
//! - **Live**: an operation this process runs ([`Operations::live`]) is followed on its
//!   progress channel, so a change reaches the follower at once, not at the next registry
//!   write (those come at most every 250 ms). Its status comes from its token (a cancel shows
//!   `cancelling` at once) and, at the end, from the registry's terminal record.
//! - **Registry**: an operation another process runs (or one that has ended) is read from the
//!   registry every [`POLL_INTERVAL`]; every process records its operations' progress there.
//!
//! Two promises hold for each follower, whatever the source: the percent it hands out never
//! falls, and it hands out a state only when it differs from the last one.
//!
//! [`Operations::live`]: ktrdr_ops::operations::Operations::live

use std::time::Duration;

use chrono::{DateTime, Utc};
use ktrdr_ops::operations::OperationHandle;
use ktrdr_ops::progress::ProgressSubscriber;
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
    source: Source,
    /// The highest percent handed out: the wire never shows it fall, even if a source (a
    /// stale read, a restarted owner) reports less.
    floor: f64,
}

/// Where the follower learns of changes.
#[derive(Debug)]
enum Source {
    /// This process runs the operation.
    Live {
        handle: OperationHandle,
        progress: ProgressSubscriber,
        /// The registry's record, for everything but the progress and the status (re-read
        /// while it is `pending`, until the runner has recorded the start).
        record: Box<OperationRecord>,
        /// When to re-read a `pending` record.
        poll: Interval,
    },
    /// Another process runs it, or it has ended.
    Registry { poll: Interval },
}

impl Follower {
    /// The current state of operation `id` and a follower of its changes; 404 when no process
    /// recorded it.
    pub(crate) async fn start(
        state: &ApiState,
        id: &str,
    ) -> Result<(OperationInfo, Follower), ApiError> {
        // The handle first, then the record: the runner forgets a handle only after writing
        // the terminal status, so a record read after finding no handle is either another
        // process's or already ended. (Read the other way round, an operation ending in
        // between looked active with no handle, and was polled: its end arrived a poll late.)
        let live = state.operations().live(id);
        let record = read(state, id)
            .await?
            .ok_or_else(|| unknown_operation(id))?;
        let live = live.filter(|_| record.status.is_active());
        let mut follower = Follower {
            state: state.clone(),
            id: id.to_owned(),
            source: Source::Registry { poll: poll() },
            floor: 0.0,
        };
        let info = match live {
            Some(handle) => {
                let mut progress = handle.progress().subscribe();
                let record = Box::new(record);
                let info = follower.present(&live_record(&record, &handle, &mut progress));
                follower.source = Source::Live {
                    handle,
                    progress,
                    record,
                    poll: poll(),
                };
                info
            }
            None => follower.present(&record),
        };
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
            let record = match &mut self.source {
                Source::Registry { poll } => {
                    poll.tick().await;
                    match self.read().await? {
                        Some(record) => record,
                        None => continue,
                    }
                }
                Source::Live {
                    handle,
                    progress,
                    record,
                    poll: pending_poll,
                } => {
                    tokio::select! {
                        biased;
                        // Published once the terminal status is recorded: the registry has
                        // the whole ending (summary, error, reason). From here on, the
                        // registry is the source.
                        _ = handle.wait() => {
                            self.source = Source::Registry { poll: poll() };
                            match self.read().await? {
                                Some(record) => record,
                                None => continue,
                            }
                        }
                        _ = handle.token().cancelled(), if !handle.token().is_cancelled() => {
                            live_record(record, handle, progress)
                        }
                        // The runner holds a handle until the end, so the channel stays open
                        // until the outcome is published.
                        _ = progress.changed() => live_record(record, handle, progress),
                        // The start (`running`, `started_at`) is recorded without a progress
                        // change.
                        _ = pending_poll.tick(), if record.status == OperationStatus::Pending => {
                            if let Ok(Some(fresh)) = read(&self.state, &self.id).await {
                                **record = fresh;
                            }
                            live_record(record, handle, progress)
                        }
                    }
                }
            };
            let info = self.present(&record);
            if state_tag(&info) != last_tag {
                return Ok(info);
            }
        }
    }

    /// The record from the registry: `None` after a transient error (logged; the caller tries
    /// again later), a 404 if it vanished (deleted by another process's retention while this
    /// one followed it).
    async fn read(&self) -> Result<Option<OperationRecord>, ApiError> {
        match read(&self.state, &self.id).await {
            Ok(Some(record)) => Ok(Some(record)),
            Ok(None) => Err(unknown_operation(&self.id)),
            Err(error) => {
                tracing::warn!(id = %self.id, %error, "cannot read the operation; retrying");
                Ok(None)
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

/// The registry's polling interval, first tick one interval from now.
fn poll() -> Interval {
    let mut poll = tokio::time::interval_at(Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
    // A reader that fell behind wants the latest state once, not a burst of catch-up reads.
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    poll
}

/// `record` with the live progress of `handle`, and `cancelling` (with the token's reason) as
/// soon as its token is cancelled: what the registry will say a moment later.
fn live_record(
    record: &OperationRecord,
    handle: &OperationHandle,
    progress: &mut ProgressSubscriber,
) -> OperationRecord {
    let mut record = record.clone();
    record.progress = Some(progress.latest());
    if let Some(reason) = handle.token().reason() {
        if record.status.is_active() {
            record.status = OperationStatus::Cancelling;
            record.cancel_reason = Some(reason);
        }
    }
    record
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

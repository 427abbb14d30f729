//! `GET /operations/events`: the changes of every operation as Server-Sent Events, so a page
//! that lists operations learns of new ones and of every progress without polling the list.
//!
//! On connecting, the client gets the current state of every active operation; then, every
//! [`FEED_INTERVAL`], an event for each operation whose state changed since it was last sent:
//! a new operation (also one that started and ended between two looks), a progress, a status.
//! Each event is named and shaped as on `GET /operations/{id}/events` (`progress` while
//! active, then the terminal status), and an operation ends its part of the feed with one
//! terminal event. Events carry no id: a client that reconnects gets the active operations
//! again and re-reads the list for what ended meanwhile.
//!
//! Progress is read from the registry, where every process (this server, a CLI load sharing
//! the registry) records its operations' progress at most every 250 ms; a cancel of an
//! operation this process runs shows at once. One look is two registry reads (the active operations, and
//! the newest [`RECENT`]) whatever the number of clients' operations.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt as _};
use ktrdr_ops::registry::{OperationFilter, OperationRecord, OperationStatus};
use tokio::time::{Interval, MissedTickBehavior};

use super::events::KEEP_ALIVE;
use crate::api::error::ApiError;
use crate::api::follow::state_tag;
use crate::api::metrics::StreamGuard;
use crate::api::wire::{EventKind, OperationEvent, OperationInfo};
use crate::api::ApiState;

/// How often the feed looks for changes: the pace at which other processes record progress,
/// and at most four events a second per operation.
pub(crate) const FEED_INTERVAL: Duration = Duration::from_millis(250);

/// How many of the newest operations each look reads besides the active ones, to see an
/// operation that started and ended between two looks.
const RECENT: usize = 50;

/// The most active operations one look reads (the listing's own limit).
const MAX_ACTIVE: usize = 1000;

/// `GET /operations/events`.
#[utoipa::path(
    get,
    path = "/api/v1/operations/events",
    tag = "operations",
    responses(
        (status = 200, content_type = "text/event-stream", body = OperationInfo,
            description = "Server-Sent Events of every operation: first the state of each \
                           active one, then an event per change (a new operation, a progress, \
                           a status), named `progress` while the operation is active and after \
                           its terminal status (`completed`, `failed`, `cancelled`, \
                           `interrupted`) once it ended; each event's data is the \
                           OperationInfo. The stream lasts until the client or the server \
                           closes it."),
    )
)]
pub(crate) async fn feed(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let events = operation_feed(state).map(|event| Ok::<_, Infallible>(to_sse(&event)));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

fn to_sse(event: &OperationEvent) -> Event {
    let sse = Event::default().event(event.kind.as_str());
    sse.json_data(&event.operation).unwrap_or_else(|error| {
        let id = &event.operation.operation_id;
        tracing::error!(%id, %error, "unserialisable event");
        Event::default().comment("an event could not be written")
    })
}

/// What the feed has told its client about one operation.
struct Sent {
    tag: String,
    /// The highest percent sent: the wire never shows it fall.
    floor: f64,
}

struct Feed {
    state: ApiState,
    sent: HashMap<String, Sent>,
    /// Events found by the last look, not yet handed out.
    queue: VecDeque<OperationEvent>,
    tick: Interval,
    first: bool,
    _subscriber: StreamGuard,
}

/// The events of the feed, until the server shuts down.
pub(crate) fn operation_feed(state: ApiState) -> impl Stream<Item = OperationEvent> + Send {
    let mut tick = tokio::time::interval(FEED_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        _subscriber: state.count_subscriber(),
        state,
        sent: HashMap::new(),
        queue: Default::default(),
        tick,
        first: true,
    };
    stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((event, feed))
    })
}

impl Feed {
    async fn next(&mut self) -> Option<OperationEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            tokio::select! {
                biased;
                () = self.state.closing() => return None,
                _ = self.tick.tick() => {}
            }
            match self.look().await {
                Ok(events) => self.queue.extend(events),
                Err(error) => tracing::warn!(%error, "the operations feed cannot read; retrying"),
            }
        }
    }

    /// One look at the registry: the events of what changed since the last.
    async fn look(&mut self) -> Result<Vec<OperationEvent>, ApiError> {
        let known: Vec<String> = self.sent.keys().cloned().collect();
        let records = self
            .state
            .blocking(move |state| {
                let registry = state.registry();
                let active = registry.list(&OperationFilter {
                    active_only: true,
                    limit: Some(MAX_ACTIVE),
                    ..OperationFilter::default()
                })?;
                let recent = registry.list(&OperationFilter {
                    limit: Some(RECENT),
                    ..OperationFilter::default()
                })?;
                let mut records: HashMap<String, OperationRecord> = active
                    .operations
                    .into_iter()
                    .chain(recent.operations)
                    .map(|record| (record.id.clone(), record))
                    .collect();
                // Operations followed so far that left both lists: read their ending.
                for id in known {
                    if let Entry::Vacant(slot) = records.entry(id) {
                        if let Some(record) = registry.get(slot.key())? {
                            slot.insert(record);
                        }
                    }
                }
                Ok(records)
            })
            .await?;
        let first = std::mem::replace(&mut self.first, false);
        let mut events = Vec::new();
        let mut followed = HashMap::with_capacity(records.len());
        let mut records: Vec<OperationRecord> = records.into_values().collect();
        // Oldest first, so a client that inserts rows as they come keeps the list's order.
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        for record in records {
            let record = self.live(record);
            let mut info = OperationInfo::from(&record);
            let previous = self.sent.remove(&record.id);
            let floor = previous.as_ref().map_or(0.0, |sent| sent.floor);
            info.progress.percentage = info.progress.percentage.max(floor);
            let tag = state_tag(&info);
            let changed = previous.as_ref().is_none_or(|sent| sent.tag != tag);
            // The first look shows the active operations; the ended ones are the client's
            // listing's to show.
            let wanted = if first {
                record.status.is_active()
            } else {
                changed
            };
            let sent = Sent {
                tag,
                floor: info.progress.percentage,
            };
            // An ended operation is followed while it stays among the newest, so that it is
            // not taken for a new one; once it leaves them, the feed is done with it.
            followed.insert(record.id.clone(), sent);
            if wanted {
                events.push(OperationEvent {
                    kind: EventKind::of(info.status),
                    id: String::new(),
                    operation: info,
                });
            }
        }
        self.sent = followed;
        Ok(events)
    }

    /// `record` with the cancel of an operation this process runs, which shows at once (its
    /// progress is the registry's: a live snapshot would differ at every look by its clock).
    fn live(&self, mut record: OperationRecord) -> OperationRecord {
        if !record.status.is_active() {
            return record;
        }
        if let Some(handle) = self.state.operations().live(&record.id) {
            if let Some(reason) = handle.token().reason() {
                record.status = OperationStatus::Cancelling;
                record.cancel_reason = Some(reason);
            }
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_ops::cancel::CancelReason;
    use ktrdr_ops::progress::StepPlan;
    use serde_json::json;
    use tokio::sync::oneshot;

    /// The next event, failing if none comes within a minute of (paused) time.
    async fn next(feed: &mut (impl Stream<Item = OperationEvent> + Unpin)) -> OperationEvent {
        tokio::time::timeout(Duration::from_secs(60), feed.next())
            .await
            .expect("an event within a minute")
            .expect("the feed goes on")
    }

    #[tokio::test(start_paused = true)]
    async fn the_active_operations_then_new_ones_their_progress_and_one_end_each() {
        let state = ApiState::in_memory();
        let plan = StepPlan::single("Work");
        let (go_on, wait) = oneshot::channel::<()>();
        let before = state
            .operations()
            .run(
                "data_load",
                json!({"symbol": "MSFT"}),
                plan.clone(),
                |ctx| async move {
                    ctx.progress.set_sub_progress(1, 4);
                    let _ = wait.await;
                    ctx.progress.set_sub_progress(3, 4);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(json!({"done": true}))
                },
            )
            .unwrap();
        let ended = state
            .operations()
            .run("data_load", json!({}), plan.clone(), |_| async {
                Ok(json!({}))
            })
            .unwrap();
        ended.wait().await;
        // Long enough for the runner to record the first progress.
        tokio::time::sleep(Duration::from_secs(1)).await;

        let mut feed = Box::pin(operation_feed(state.clone()));
        let first = next(&mut feed).await;
        assert_eq!(
            first.operation.operation_id,
            before.id(),
            "only the active one first"
        );
        assert_eq!(first.kind, EventKind::Progress);
        assert_eq!(first.operation.progress.percentage, 25.0);

        // A new operation that starts and ends between two looks is still seen, once.
        let quick = state
            .operations()
            .run("training", json!({}), plan.clone(), |_| async {
                Ok(json!({}))
            })
            .unwrap();
        quick.wait().await;
        let seen = next(&mut feed).await;
        assert_eq!(seen.operation.operation_id, quick.id());
        assert_eq!(seen.kind, EventKind::Completed);

        let _ = go_on.send(());
        let mut kinds = Vec::new();
        loop {
            let event = next(&mut feed).await;
            assert_eq!(event.operation.operation_id, before.id(), "{event:?}");
            kinds.push((event.kind, event.operation.progress.percentage));
            if event.kind.is_terminal() {
                break;
            }
        }
        assert_eq!(
            kinds,
            [(EventKind::Progress, 75.0), (EventKind::Completed, 100.0)]
        );
        // Nothing more: no event repeats an ended operation.
        let quiet = tokio::time::timeout(Duration::from_secs(10), feed.next()).await;
        assert!(quiet.is_err(), "{quiet:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_shows_cancelling_then_cancelled() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run(
                "data_load",
                json!({}),
                StepPlan::single("W"),
                |ctx| async move {
                    ctx.token.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Err(ctx.token.check().unwrap_err().into())
                },
            )
            .unwrap();
        let mut feed = Box::pin(operation_feed(state.clone()));
        let mut event = next(&mut feed).await;
        while event.operation.status != OperationStatus::Running {
            event = next(&mut feed).await;
        }
        handle.token().cancel(CancelReason::User);
        let mut statuses = Vec::new();
        loop {
            let event = next(&mut feed).await;
            statuses.push(event.operation.status);
            if event.kind.is_terminal() {
                break;
            }
        }
        assert_eq!(
            statuses,
            [OperationStatus::Cancelling, OperationStatus::Cancelled]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_feed_ends_when_the_server_shuts_down() {
        let state = ApiState::in_memory();
        let feed = operation_feed(state.clone());
        let closer = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            closer.close();
        });
        let events: Vec<_> = feed.collect().await;
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(state.metrics().event_streams(), 0);
    }
}

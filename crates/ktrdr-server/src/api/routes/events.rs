//! `GET /operations/{id}/events`: an operation's live progress as Server-Sent Events.
//!
//! The stream sends the operation's current state at once, then a `progress` event whenever
//! the state changes (at most one per [`MIN_EVENT_GAP`], each the latest state), then exactly
//! one terminal event (`completed`, `failed`, `cancelled` or `interrupted`), and ends. Every
//! event's data is the operation's [`OperationInfo`]; its percent never falls within a stream.
//! A comment line every [`KEEP_ALIVE`] keeps proxies from closing a quiet stream.
//!
//! **Reconnecting.** Each event's `id:` is the tag of the state it carries
//! ([`state_tag`]). A client that reconnects with `Last-Event-ID` gets only what it has not
//! seen: the current state at once if it differs from the tagged one (the stream never
//! replays older states: it only ever sends the current one), then every change as usual. If
//! the operation has ended and the client already has its terminal event, the answer is
//! `204 No Content`, which tells a browser's `EventSource` to stop reconnecting.
//!
//! A stream also ends, without a terminal event, when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt as _};
use tokio::time::Instant;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::follow::{state_tag, Follower};
use crate::api::metrics::StreamGuard;
use crate::api::wire::{EventKind, OperationEvent, OperationInfo};
use crate::api::ApiState;

/// The shortest time between two events of one stream: a display needs no more than ten
/// updates a second, and a busy operation must not flood its watchers.
pub(crate) const MIN_EVENT_GAP: Duration = Duration::from_millis(100);

/// How often a quiet stream sends a comment line.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The header a reconnecting client names the last event it received with.
const LAST_EVENT_ID: &str = "last-event-id";

/// `GET /operations/{id}/events`.
#[utoipa::path(
    get,
    path = "/api/v1/operations/{id}/events",
    tag = "operations",
    params(
        ("id" = String, Path, description = "The operation id"),
        ("Last-Event-ID" = Option<String>, Header,
            description = "The id of the last event received, when reconnecting"),
    ),
    responses(
        (status = 200, content_type = "text/event-stream", body = OperationInfo,
            description = "Server-Sent Events: `progress` events, then one of `completed`, \
                           `failed`, `cancelled`, `interrupted`; each event's data is the \
                           OperationInfo, its id the tag of that state"),
        (status = 204, description = "Reconnected after the terminal event: nothing more will \
                                      come"),
        (status = 404, description = "No such operation", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_event_id = headers
        .get(LAST_EVENT_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::trim);
    let (current, follower) = Follower::start(&state, &id).await?;
    let seen = last_event_id == Some(state_tag(&current).as_str());
    if seen && current.status.is_terminal() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let events = operation_events(state, follower, current, seen)
        .map(|event| Ok::<_, Infallible>(to_sse(&event)));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// The event that carries `operation`.
fn event_of(operation: OperationInfo) -> OperationEvent {
    OperationEvent {
        kind: EventKind::of(operation.status),
        id: state_tag(&operation),
        operation,
    }
}

/// `event` as Server-Sent Events text.
fn to_sse(event: &OperationEvent) -> Event {
    let sse = Event::default().event(event.kind.as_str()).id(&event.id);
    match sse.json_data(&event.operation) {
        Ok(sse) => sse,
        Err(error) => {
            // Not expected (the shape always serialises); the client sees a gap, not a
            // broken stream.
            let id = &event.operation.operation_id;
            tracing::error!(%id, %error, "unserialisable event");
            Event::default().comment("an event could not be written")
        }
    }
}

/// Where a stream is.
enum Step {
    /// The first event is due: the state when the client connected.
    First(Box<OperationInfo>),
    /// Following: the client has the state tagged `last_tag`, sent at `sent`.
    Follow { last_tag: String, sent: Instant },
    /// The terminal event was sent, the follow failed, or the server is shutting down.
    Done,
}

struct Streaming {
    state: ApiState,
    follower: Follower,
    step: Step,
    /// Counts this stream among the server's subscribers while it lives.
    _subscriber: StreamGuard,
}

/// The events of one operation: `current` first unless the client has `seen` it, then each
/// change, ending after the terminal event or when the server shuts down.
pub(crate) fn operation_events(
    state: ApiState,
    follower: Follower,
    current: OperationInfo,
    seen: bool,
) -> impl Stream<Item = OperationEvent> + Send + 'static {
    let step = if seen {
        Step::Follow {
            last_tag: state_tag(&current),
            sent: Instant::now() - MIN_EVENT_GAP,
        }
    } else {
        Step::First(Box::new(current))
    };
    let streaming = Streaming {
        _subscriber: state.count_subscriber(),
        state,
        follower,
        step,
    };
    stream::unfold(streaming, |mut streaming| async move {
        let event = streaming.next().await?;
        Some((event, streaming))
    })
}

impl Streaming {
    async fn next(&mut self) -> Option<OperationEvent> {
        let info = match std::mem::replace(&mut self.step, Step::Done) {
            Step::Done => return None,
            Step::First(info) => *info,
            Step::Follow { last_tag, sent } => {
                let (state, follower) = (&self.state, &mut self.follower);
                let changed = async {
                    tokio::time::sleep_until(sent + MIN_EVENT_GAP).await;
                    follower.changed(&last_tag).await
                };
                tokio::select! {
                    biased;
                    () = state.closing() => return None,
                    changed = changed => match changed {
                        Ok(info) => info,
                        Err(error) => {
                            tracing::warn!(%error, "an event stream ends early");
                            return None;
                        }
                    },
                }
            }
        };
        let event = event_of(info);
        if !event.kind.is_terminal() {
            self.step = Step::Follow {
                last_tag: event.id.clone(),
                sent: Instant::now(),
            };
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_ops::progress::StepPlan;
    use ktrdr_ops::registry::OperationStatus::{
        Cancelled, Cancelling, Completed, Pending, Running,
    };
    use ktrdr_ops::registry::{OperationRecord, Registry, TransitionPatch};
    use serde_json::json;
    use std::sync::Arc;

    /// Collects the whole stream of operation `id`, each event with when it arrived.
    async fn collect(state: &ApiState, id: &str, seen: bool) -> Vec<(Instant, OperationEvent)> {
        let (current, follower) = Follower::start(state, id).await.unwrap();
        operation_events(state.clone(), follower, current, seen)
            .map(|event| (Instant::now(), event))
            .collect()
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn the_state_then_its_changes_then_one_terminal_event_then_the_end() {
        let state = ApiState::in_memory();
        let plan = StepPlan::single("Work");
        let handle = state
            .operations()
            .run("data_load", json!({}), plan, |ctx| async move {
                for done in 1..=10 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    ctx.progress.set_sub_progress(done, 10);
                }
                Ok(json!({"done": 10}))
            })
            .unwrap();
        let (current, follower) = Follower::start(&state, handle.id()).await.unwrap();
        let stream = operation_events(state.clone(), follower, current, false);
        assert_eq!(state.metrics().event_streams(), 1);
        let events: Vec<_> = stream.map(|event| (Instant::now(), event)).collect().await;
        assert_eq!(
            state.metrics().event_streams(),
            0,
            "a finished stream is not counted"
        );

        let (last, before) = events.split_last().unwrap();
        assert_eq!(last.1.kind, EventKind::Completed);
        assert_eq!(last.1.operation.progress.percentage, 100.0);
        assert_eq!(last.1.operation.result_summary, Some(json!({"done": 10})));
        assert!(before.iter().all(|(_, e)| e.kind == EventKind::Progress));
        // The progress itself streams, not just a start and an end.
        assert!(before.len() >= 5, "{} progress events", before.len());
        for pair in events.windows(2) {
            let ((at, a), (next_at, b)) = (&pair[0], &pair[1]);
            assert!(b.operation.progress.percentage >= a.operation.progress.percentage);
            assert_ne!(a.id, b.id, "each event carries a new state");
            assert!(
                *next_at - *at >= MIN_EVENT_GAP,
                "events {:?} apart",
                *next_at - *at
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_percent_never_falls_on_the_wire() {
        let state = ApiState::in_memory();
        let registry = running(&state);
        let none = TransitionPatch::default();
        let progress = ktrdr_ops::progress::ProgressHandle::new("op_x", StepPlan::single("W"));
        progress.set_sub_progress(5, 10);
        let half = progress.snapshot();
        // A stale or confused writer reports less than was already shown.
        let less = ktrdr_ops::progress::ProgressState {
            percent: 40.0,
            ..half.clone()
        };
        registry.update_progress("op_x", &half).unwrap();
        let writer = tokio::spawn(async move {
            let second = Duration::from_secs(1);
            tokio::time::sleep(second).await;
            registry.update_progress("op_x", &less).unwrap();
            tokio::time::sleep(second).await;
            progress.set_sub_progress(6, 10);
            registry
                .update_progress("op_x", &progress.snapshot())
                .unwrap();
            tokio::time::sleep(second).await;
            registry
                .transition("op_x", &[Running], Completed, &none)
                .unwrap();
        });
        let events = collect(&state, "op_x", false).await;
        writer.await.unwrap();
        let shown: Vec<_> = events
            .iter()
            .map(|(_, e)| (e.kind, e.operation.progress.percentage))
            .collect();
        assert_eq!(
            shown,
            [
                (EventKind::Progress, 50.0),
                (EventKind::Progress, 60.0),
                (EventKind::Completed, 60.0)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_server_s_own_operations_stream_each_change_as_it_happens() {
        let state = ApiState::in_memory();
        let second = Duration::from_secs(1);
        let handle = state
            .operations()
            .run(
                "data_load",
                json!({}),
                StepPlan::single("W"),
                move |ctx| async move {
                    ctx.progress.set_sub_progress(0, 2);
                    tokio::time::sleep(second).await;
                    ctx.progress.set_sub_progress(1, 2);
                    tokio::time::sleep(second).await;
                    Ok(json!({}))
                },
            )
            .unwrap();
        let start = Instant::now();
        let events = collect(&state, handle.id(), false).await;
        let half = events
            .iter()
            .find(|(_, e)| e.operation.progress.percentage == 50.0)
            .expect("the change to 50 % is streamed");
        // Not at the registry's pace (persisted every 250 ms, read every 200 ms): at once.
        assert_eq!(half.0 - start, second);
        assert_eq!(events.last().unwrap().0 - start, 2 * second);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_operation_is_shown_at_most_every_100_ms() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run(
                "data_load",
                json!({}),
                StepPlan::single("W"),
                |ctx| async move {
                    for done in 1..=100 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        ctx.progress.set_sub_progress(done, 100);
                    }
                    Ok(json!({}))
                },
            )
            .unwrap();
        let events = collect(&state, handle.id(), false).await;
        // A second of changes every 10 ms: about one event per 100 ms, each the latest state.
        assert!((9..=12).contains(&events.len()), "{} events", events.len());
        for pair in events.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= MIN_EVENT_GAP);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_shows_cancelling_until_the_work_stops_then_cancelled() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run(
                "data_load",
                json!({}),
                StepPlan::single("W"),
                |ctx| async move {
                    ctx.token.cancelled().await;
                    // Saving what was fetched takes a while.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Err(ctx.token.check().unwrap_err().into())
                },
            )
            .unwrap();
        let token = handle.token().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            token.cancel(ktrdr_ops::cancel::CancelReason::User);
        });
        let events = collect(&state, handle.id(), false).await;
        let statuses: Vec<_> = events.iter().map(|(_, e)| e.operation.status).collect();
        let cancelling = statuses.iter().position(|s| *s == Cancelling).unwrap();
        assert!(statuses[..cancelling].iter().all(|s| *s != Cancelling));
        assert_eq!(statuses.last(), Some(&Cancelled));
        assert_eq!(statuses.len(), cancelling + 2, "{statuses:?}");
        let (at, shown) = &events[cancelling];
        assert_eq!(shown.kind, EventKind::Progress);
        assert_eq!(
            shown.operation.cancel_reason.as_deref(),
            Some("cancelled by the user")
        );
        let (end, last) = events.last().unwrap();
        assert_eq!(
            *end - *at,
            Duration::from_secs(2),
            "cancelling until the work stopped"
        );
        assert_eq!(last.kind, EventKind::Cancelled);
    }

    /// Records a running operation `op_x` in `state`'s registry, written by hand.
    fn running(state: &ApiState) -> Arc<dyn Registry> {
        let registry = state.registry().clone();
        registry
            .insert(&OperationRecord::pending("op_x", "data_load", json!({})))
            .unwrap();
        let none = TransitionPatch::default();
        registry
            .transition("op_x", &[Pending], Running, &none)
            .unwrap();
        registry
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_has_the_current_state_gets_only_what_follows() {
        let state = ApiState::in_memory();
        let registry = running(&state);
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let none = TransitionPatch::default();
            registry
                .transition("op_x", &[Running], Completed, &none)
                .unwrap();
        });
        let events = collect(&state, "op_x", true).await;
        writer.await.unwrap();
        let kinds: Vec<_> = events.iter().map(|(_, e)| e.kind).collect();
        assert_eq!(kinds, [EventKind::Completed]);
    }

    #[tokio::test]
    async fn a_reconnect_after_the_terminal_event_is_answered_204() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run("data_load", json!({}), StepPlan::single("W"), |_| async {
                Ok(json!({}))
            })
            .unwrap();
        handle.wait().await;
        let id = handle.id().to_owned();
        let sent = collect(&state, &id, false).await;
        let [(_, terminal)] = sent.as_slice() else {
            panic!("an ended operation's stream is its terminal event: {sent:?}");
        };
        assert_eq!(terminal.kind, EventKind::Completed);

        let mut headers = HeaderMap::new();
        headers.insert(LAST_EVENT_ID, terminal.id.parse().unwrap());
        let answer = events(State(state.clone()), Path(id.clone()), headers)
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);

        let mut headers = HeaderMap::new();
        headers.insert(LAST_EVENT_ID, "0123456789abcdef".parse().unwrap());
        let answer = events(State(state.clone()), Path(id), headers)
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);

        let unknown = events(State(state), Path("op_nope".into()), HeaderMap::new()).await;
        assert_eq!(unknown.unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_sends_a_comment_every_15_s() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run("data_load", json!({}), StepPlan::single("W"), |_| {
                std::future::pending()
            })
            .unwrap();
        let answer = events(State(state), Path(handle.id().to_owned()), HeaderMap::new())
            .await
            .unwrap();
        assert_eq!(answer.headers()["content-type"], "text/event-stream");
        let mut body = answer.into_body().into_data_stream();
        let first = body.next().await.unwrap().unwrap();
        let first = String::from_utf8_lossy(&first);
        assert!(first.starts_with("event: progress\nid: "), "{first}");
        assert!(first.contains(&format!("\"operation_id\":\"{}\"", handle.id())));
        // Once the operation has started (pending, then running), nothing changes: only
        // keep-alive comments come, KEEP_ALIVE after the last event and after each other.
        let mut last_event = Instant::now();
        let mut comments = Vec::new();
        while comments.len() < 2 {
            let frame = tokio::time::timeout(KEEP_ALIVE * 2, body.next())
                .await
                .expect("a quiet stream still sends something")
                .unwrap()
                .unwrap();
            if &frame[..] == b":\n\n" {
                comments.push(last_event.elapsed());
                last_event = Instant::now();
            } else {
                assert!(comments.is_empty(), "an event after a comment");
                last_event = Instant::now();
            }
        }
        assert_eq!(comments, [KEEP_ALIVE, KEEP_ALIVE]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_ends_when_the_server_shuts_down() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run("data_load", json!({}), StepPlan::single("W"), |_| {
                std::future::pending()
            })
            .unwrap();
        let closer = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            closer.close();
        });
        let events = collect(&state, handle.id(), false).await;
        assert!(!events.is_empty());
        assert!(events.iter().all(|(_, e)| e.kind == EventKind::Progress));
    }
}

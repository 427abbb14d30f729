//! The handlers: parse, call the pipeline or the session, shape the answer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::Utc;
use ktrdr_ops::cancel::CancelReason;
use ktrdr_train::host::request::training_request;
use ktrdr_train::host::wire::{
    routes, Health, Refusal, ServiceInfo, Sessions as SessionList, StartRequest, StartResponse,
    StopRequest, StopResponse, SERVICE_NAME,
};

use super::service::State;
use super::sessions::{rfc3339, Session, StartRefusal};

type Shared = Arc<State>;

/// How long `POST /training/stop` waits for the session to stop before answering with the
/// status it has; below the Python client's 30 s timeout (the Python service waited exactly
/// that long, so its answer never arrived in time).
const STOP_WAIT: Duration = Duration::from_secs(20);

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route(routes::ROOT, get(root))
        .route(routes::HEALTH, get(health))
        .route(routes::START, post(start))
        .route(routes::STOP, post(stop))
        .route(routes::STATUS, get(status))
        .route(routes::SESSIONS, get(sessions))
        .route(routes::SESSION, delete(delete_session))
        .with_state(state)
}

/// A refusal with its status, in FastAPI's `{detail}` shape.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(Refusal { detail: self.1 })).into_response()
    }
}

impl From<JsonRejection> for Refused {
    fn from(rejection: JsonRejection) -> Self {
        Refused(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

fn unknown(id: &str) -> Refused {
    Refused(StatusCode::NOT_FOUND, format!("no training session {id:?}"))
}

async fn root() -> Json<ServiceInfo> {
    Json(ServiceInfo {
        service: SERVICE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        status: "running".to_owned(),
        timestamp: rfc3339(Utc::now()),
        gpu_available: false,
        gpu_device_count: 0,
        gpu_type: "cpu".to_owned(),
    })
}

async fn health() -> Json<Health> {
    Json(Health {
        healthy: true,
        service: SERVICE_NAME.to_owned(),
        timestamp: rfc3339(Utc::now()),
        status: "operational".to_owned(),
    })
}

async fn start(
    AxumState(state): AxumState<Shared>,
    body: Result<Json<StartRequest>, JsonRejection>,
) -> Result<Json<StartResponse>, Refused> {
    let Json(body) = body?;
    // Reading the strategy file, checking it and counting the stored bars touch the disk: all
    // off the runtime, and the sessions' lock is held only around the start itself.
    let blocking = state.clone();
    let session = tokio::task::spawn_blocking(move || {
        let request = training_request(body, &blocking.strategy_files)
            .map_err(|e| Refused(StatusCode::BAD_REQUEST, e))?;
        let prepared = blocking
            .training
            .prepare(request)
            .map_err(|e| Refused(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
        let message = format!("Training {} started", prepared.describe());
        let session = blocking
            .sessions
            .start_if_idle(|| {
                let started = blocking.training.start(&blocking.operations, prepared)?;
                Ok(Session {
                    handle: started.handle,
                    monitor: started.monitor,
                    started: Utc::now(),
                })
            })
            .map_err(|refusal| match refusal {
                StartRefusal::Busy(id) => Refused(
                    StatusCode::CONFLICT,
                    format!("training session {id} is running; one session runs at a time"),
                ),
                StartRefusal::Failed(e) => {
                    Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                }
            })?;
        Ok::<_, Refused>((session, message))
    })
    .await
    .map_err(|e| Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let (session, message) = session;
    let estimate = session.handle.progress().snapshot().eta;
    Ok(Json(StartResponse {
        session_id: session.handle.id().to_owned(),
        status: "started".to_owned(),
        message,
        gpu_allocated: false,
        estimated_duration_minutes: estimate.map(|e| e.remaining_secs / 60.0),
    }))
}

async fn stop(
    AxumState(state): AxumState<Shared>,
    body: Result<Json<StopRequest>, JsonRejection>,
) -> Result<Json<StopResponse>, Refused> {
    let Json(body) = body?;
    let session = state
        .sessions
        .get(&body.session_id)
        .ok_or_else(|| unknown(&body.session_id))?;
    let was_running = session.is_running();
    session.handle.token().cancel(CancelReason::Remote(
        "stopped through the training host service".to_owned(),
    ));
    let ended = tokio::time::timeout(STOP_WAIT, session.handle.wait()).await;
    let status = session.status();
    let checkpoint_saved = status
        .result
        .as_ref()
        .and_then(|r| r.get("checkpoint"))
        .is_some_and(|c| !c.is_null());
    let message = match (was_running, ended.is_ok()) {
        (false, _) => format!("session had already ended: {}", status.status),
        (true, true) => "training stopped".to_owned(),
        (true, false) => format!(
            "stop requested; the session had not stopped after {} s",
            STOP_WAIT.as_secs()
        ),
    };
    Ok(Json(StopResponse {
        session_id: body.session_id,
        status: status.status,
        message,
        checkpoint_saved,
    }))
}

async fn status(
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<ktrdr_train::host::wire::SessionStatus>, Refused> {
    let session = state.sessions.get(&id).ok_or_else(|| unknown(&id))?;
    Ok(Json(session.status()))
}

async fn sessions(AxumState(state): AxumState<Shared>) -> Json<SessionList> {
    let sessions: Vec<_> = state.sessions.all().iter().map(Session::status).collect();
    Json(SessionList {
        total_sessions: sessions.len(),
        sessions,
        timestamp: rfc3339(Utc::now()),
    })
}

async fn delete_session(
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Refused> {
    match state.sessions.remove_ended(&id) {
        Ok(Some(_)) => Ok(Json(
            serde_json::json!({"session_id": id, "status": "deleted"}),
        )),
        Ok(None) => Err(unknown(&id)),
        Err(_) => Err(Refused(
            StatusCode::CONFLICT,
            format!("training session {id} is running; stop it first"),
        )),
    }
}

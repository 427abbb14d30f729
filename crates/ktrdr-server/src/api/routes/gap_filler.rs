//! `/gap-filler`: the status of the server's gap filler service, and its start and stop.

use axum::extract::State;
use axum::Json;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::wire::{Envelope, GapFillerStatus};
use crate::api::ApiState;

/// `GET /gap-filler`: whether it runs, its settings, its stats and its last cycle.
#[utoipa::path(
    get,
    path = "/api/v1/gap-filler",
    tag = "gap-filler",
    responses(
        (status = 200, description = "The gap filler's state and stats", body = Envelope<GapFillerStatus>),
    )
)]
pub(crate) async fn status(State(state): State<ApiState>) -> Json<Envelope<GapFillerStatus>> {
    Json(Envelope::ok(state.gap_filler().status().await))
}

/// `POST /gap-filler/start`: starts the service (a first cycle at once).
#[utoipa::path(
    post,
    path = "/api/v1/gap-filler/start",
    tag = "gap-filler",
    responses(
        (status = 200, description = "Started", body = Envelope<GapFillerStatus>),
        (status = 409, description = "Already running", body = ErrorBody),
        (status = 503, description = "The server has no data source", body = ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
) -> Result<Json<Envelope<GapFillerStatus>>, ApiError> {
    let status = state.gap_filler().start(&state).await?;
    Ok(Json(Envelope::ok(status)))
}

/// `POST /gap-filler/stop`: stops the service; its load in flight is cancelled with reason
/// `shutdown` (not `user`). Answers once it has stopped, with the final stats.
#[utoipa::path(
    post,
    path = "/api/v1/gap-filler/stop",
    tag = "gap-filler",
    responses(
        (status = 200, description = "Stopped; the final stats", body = Envelope<GapFillerStatus>),
        (status = 409, description = "Not running", body = ErrorBody),
    )
)]
pub(crate) async fn stop(
    State(state): State<ApiState>,
) -> Result<Json<Envelope<GapFillerStatus>>, ApiError> {
    let status = state.gap_filler().stop().await?;
    Ok(Json(Envelope::ok(status)))
}

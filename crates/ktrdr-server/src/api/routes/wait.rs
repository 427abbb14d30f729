//! `GET /operations/{id}/wait?timeout=30`: a long poll that answers when the operation has
//! ended, or when the timeout passes, whichever comes first.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiQuery;
use crate::api::follow::{state_tag, Follower};
use crate::api::wire::WaitAnswer;
use crate::api::ApiState;

/// The longest wait a client may ask for, in seconds: longer polls are better served by the
/// event stream, and a proxy would likely cut them.
pub(crate) const MAX_TIMEOUT_SECS: f64 = 300.0;

/// The wait when the client names none, in seconds.
const DEFAULT_TIMEOUT_SECS: f64 = 30.0;

/// The query of `GET /operations/{id}/wait`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// Seconds to wait at most, 0..=300 (default 30; fractions allowed).
    timeout: Option<f64>,
}

impl WaitQuery {
    fn timeout(&self) -> Result<Duration, ApiError> {
        let secs = self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(0.0..=MAX_TIMEOUT_SECS).contains(&secs) {
            return Err(ApiError::invalid_field(
                "timeout",
                format!("timeout must be 0..={MAX_TIMEOUT_SECS} seconds, not {secs}"),
                &[],
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

/// `GET /operations/{id}/wait`: the operation once it has ended (`terminal: true`), or as it
/// is when the timeout passes or the server shuts down (`terminal: false`).
#[utoipa::path(
    get,
    path = "/api/v1/operations/{id}/wait",
    tag = "operations",
    params(("id" = String, Path, description = "The operation id"), WaitQuery),
    responses(
        (status = 200, description = "The operation, ended or as it was at the timeout",
            body = WaitAnswer),
        (status = 404, description = "No such operation", body = ErrorBody),
        (status = 422, description = "A timeout outside 0..=300", body = ErrorBody),
    )
)]
pub(crate) async fn wait(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<Json<WaitAnswer>, ApiError> {
    let timeout = query.timeout()?;
    let (mut info, mut follower) = Follower::start(&state, &id).await?;
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    while !info.status.is_terminal() {
        let tag = state_tag(&info);
        tokio::select! {
            biased;
            () = &mut deadline => break,
            () = state.closing() => break,
            changed = follower.changed(&tag) => info = changed?,
        }
    }
    Ok(Json(WaitAnswer {
        success: true,
        terminal: info.status.is_terminal(),
        data: info,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use ktrdr_ops::progress::StepPlan;
    use ktrdr_ops::registry::OperationStatus;
    use serde_json::json;
    use tokio::time::Instant;

    async fn call(
        state: &ApiState,
        id: &str,
        timeout: Option<f64>,
    ) -> Result<WaitAnswer, ApiError> {
        let query = ApiQuery(WaitQuery { timeout });
        let Json(answer) = wait(State(state.clone()), Path(id.to_owned()), query).await?;
        Ok(answer)
    }

    fn never_ending(state: &ApiState) -> String {
        let handle = state
            .operations()
            .run("data_load", json!({}), StepPlan::single("W"), |_| {
                std::future::pending()
            })
            .unwrap();
        handle.id().to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn answers_when_the_operation_ends() {
        let state = ApiState::in_memory();
        let handle = state
            .operations()
            .run("data_load", json!({}), StepPlan::single("W"), |_| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok(json!({"bars": 3}))
            })
            .unwrap();
        let answer = call(&state, handle.id(), None).await.unwrap();
        assert!(answer.terminal);
        assert_eq!(answer.data.status, OperationStatus::Completed);
        assert_eq!(answer.data.result_summary, Some(json!({"bars": 3})));
        // An ended operation is answered at once.
        let started = Instant::now();
        assert!(
            call(&state, handle.id(), Some(10.0))
                .await
                .unwrap()
                .terminal
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_the_current_state_at_the_timeout() {
        let state = ApiState::in_memory();
        let id = never_ending(&state);
        let started = Instant::now();
        let answer = call(&state, &id, Some(1.5)).await.unwrap();
        assert!(!answer.terminal);
        assert_eq!(answer.data.status, OperationStatus::Running);
        assert!(started.elapsed() >= Duration::from_millis(1500));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_at_once_when_the_server_shuts_down() {
        let state = ApiState::in_memory();
        let id = never_ending(&state);
        let closer = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            closer.close();
        });
        let started = Instant::now();
        let answer = call(&state, &id, Some(300.0)).await.unwrap();
        assert!(!answer.terminal);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn refuses_a_timeout_out_of_range_and_an_unknown_id() {
        let state = ApiState::in_memory();
        let id = never_ending(&state);
        for bad in [300.5, -1.0, f64::NAN] {
            let error = call(&state, &id, Some(bad)).await.unwrap_err();
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(error.details["field"], "timeout");
            assert!(error.message.contains("0..=300"), "{}", error.message);
        }
        let error = call(&state, "op_nope", Some(0.0)).await.unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND);
    }
}

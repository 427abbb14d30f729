//! The routes of `/api/v1`, one module per area, and the router that mounts them.

pub(crate) mod cancel;
pub(crate) mod data;
pub(crate) mod events;
pub(crate) mod feed;
pub(crate) mod gap_filler;
pub(crate) mod health;
pub(crate) mod operations;
pub(crate) mod page;
pub(crate) mod retry;
pub(crate) mod trainings;
pub(crate) mod wait;

use axum::routing::{get, post};
use axum::Router;

use super::error::ApiError;
use super::metrics::{serve_metrics, track_requests};
use super::openapi::serve_document;
use super::ApiState;

/// Every route, under `/api/v1` (and `/health`, `/metrics` and the web page at the root),
/// without the middleware.
pub(crate) fn routes(state: &ApiState) -> Router<ApiState> {
    let v1 = Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(serve_document))
        .route("/operations", get(operations::list))
        .route("/operations/events", get(feed::feed))
        .route(
            "/operations/{id}",
            get(operations::get).delete(cancel::cancel),
        )
        .route("/operations/{id}/status", get(operations::status))
        .route("/operations/{id}/cancel", post(cancel::cancel_alias))
        .route("/operations/{id}/retry", post(retry::retry))
        .route("/operations/{id}/events", get(events::events))
        .route("/operations/{id}/wait", get(wait::wait))
        .route("/symbols", get(data::catalog::symbols))
        .route("/timeframes", get(data::catalog::timeframes))
        .route("/data/info", get(data::catalog::info))
        .route("/data/range", post(data::bars::range))
        .route("/data/load", post(data::load::load))
        .route("/data/{symbol}/{timeframe}", get(data::bars::bars))
        .route("/data/{symbol}/{timeframe}/gaps", get(data::gaps::gaps))
        .route(
            "/data/{symbol}/{timeframe}/candles",
            get(data::candles::candles_route),
        )
        .route("/trainings/start", post(trainings::start))
        .route(
            "/trainings/{task_id}/performance",
            get(trainings::performance),
        )
        .route("/trainings/{task_id}/history", get(trainings::history))
        .route("/models", get(trainings::models))
        .route("/gap-filler", get(gap_filler::status))
        .route("/gap-filler/start", post(gap_filler::start))
        .route("/gap-filler/stop", post(gap_filler::stop));
    Router::new()
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset_route))
        .route("/health", get(health::health))
        .route("/metrics", get(serve_metrics))
        .nest("/api/v1", v1)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            track_requests,
        ))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("API-NotFound", format!("no route {}", uri.path()))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "API-MethodNotAllowed",
        format!("{} does not take {method}", uri.path()),
    )
}

//! `GET /health`: the liveness probe, open without a token.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `"ok"`.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// `GET /health` (also `/api/v1/health`): answers while the server runs.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    security(()),
    responses((status = 200, description = "The server runs", body = Health))
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

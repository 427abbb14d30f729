//! The query of `GET /operations`, read by the server and written by the client.

use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

/// Filters and page of `GET /operations`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OperationQuery {
    /// Only this status (`pending`, `running`, `cancelling`, `completed`, `failed`,
    /// `cancelled`, `interrupted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only this type (`data_load`, `training`, `backtesting`, `indicator_compute`,
    /// `fuzzy_analysis`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_type: Option<String>,
    /// Page size, 1..=1000 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Operations to skip first.
    #[serde(default)]
    pub offset: usize,
    /// Only pending, running and cancelling operations.
    #[serde(default)]
    pub active_only: bool,
}

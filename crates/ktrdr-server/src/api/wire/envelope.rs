//! The `{success, data}` envelope every successful answer comes in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::OperationSummary;

/// `{success: true, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true` here; failures use the error shape.
    pub success: bool,
    /// The answer.
    pub data: T,
}

impl<T> Envelope<T> {
    /// A successful answer.
    pub fn ok(data: T) -> Self {
        Envelope {
            success: true,
            data,
        }
    }
}

/// The answer of `GET /operations`: one page, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationList {
    /// Always `true`.
    pub success: bool,
    /// The page.
    pub data: Vec<OperationSummary>,
    /// How many operations match the filters (ignoring the page).
    pub total_count: usize,
    /// How many operations are pending, running or cancelling (ignoring the filters).
    pub active_count: usize,
}

//! The calls of [`ApiClient`] that change something: cancel, retry, start a load.

use reqwest::Method;

use super::{ApiClient, ClientError};
use crate::api::wire::{CancelBody, CancelResult, Envelope, LoadAnswer, LoadBody, OperationInfo};

impl ApiClient {
    /// `DELETE /operations/{id}`: asks the operation to stop; the answer says `cancelling`
    /// until the work has stopped (follow it to `cancelled`).
    pub async fn cancel(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> Result<CancelResult, ClientError> {
        let body = CancelBody {
            reason,
            force: false,
        };
        let request = self
            .request(Method::DELETE, &["operations", id])
            .json(&body);
        let answer: Envelope<CancelResult> = self.send(request).await?;
        Ok(answer.data)
    }

    /// `POST /operations/{id}/retry`: runs a failed or cancelled operation again as a new one,
    /// already started.
    pub async fn retry(&self, id: &str) -> Result<OperationInfo, ClientError> {
        let request = self.request(Method::POST, &["operations", id, "retry"]);
        let answer: Envelope<OperationInfo> = self.send(request).await?;
        Ok(answer.data)
    }

    /// `POST /data/load?async_mode=true`: starts a load in the server and answers at once with
    /// its operation id (`data.operation_id`). With `idempotency_key`, the same key and body
    /// answer the same operation instead of starting another.
    pub async fn start_load(
        &self,
        body: &LoadBody,
        idempotency_key: Option<&str>,
    ) -> Result<LoadAnswer, ClientError> {
        let mut request = self
            .request(Method::POST, &["data", "load"])
            .query(&[("async_mode", true)])
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }
}

//! [`HostRequest`] and [`HostResponse`]: what one call to a host service sends and gets.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{HostError, Kind};

/// Per-request settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Sent as the `Idempotency-Key` header; makes a non-idempotent request (POST) retryable,
    /// since the server can recognise the repeat. Use one key per logical request.
    pub idempotency_key: Option<String>,
    /// Per-attempt timeout for this request instead of the client's.
    pub timeout: Option<Duration>,
}

/// A request to a host service, for [`HostClient::send`](super::HostClient::send) and [`HostClient::send_json`](super::HostClient::send_json).
///
/// ```
/// use ktrdr_ops::host::HostRequest;
///
/// let request = HostRequest::get("/data/head-timestamp")
///     .query("symbol", "AAPL")
///     .query("timeframe", "1h")
///     .endpoint("GET /data/head-timestamp");
/// # let _ = request;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct HostRequest {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Body,
    pub(super) options: RequestOptions,
    pub(super) endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) enum Body {
    Empty,
    Json(Bytes),
    /// Serialisation failed when the request was built; reported when it is sent, so request
    /// building stays a plain chain (as in reqwest).
    Invalid(Arc<serde_json::Error>),
}

/// A successful (2xx) response, body fully read.
#[derive(Debug, Clone)]
pub struct HostResponse {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) endpoint: String,
    pub(super) attempts: u32,
}

impl HostRequest {
    /// A request with `method` to `path` (relative to the base URL, starting with `/`).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        HostRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::Empty,
            options: RequestOptions::default(),
            endpoint: None,
        }
    }

    /// A GET request.
    pub fn get(path: impl Into<String>) -> Self {
        HostRequest::new(Method::GET, path)
    }

    /// A POST request.
    pub fn post(path: impl Into<String>) -> Self {
        HostRequest::new(Method::POST, path)
    }

    /// A DELETE request.
    pub fn delete(path: impl Into<String>) -> Self {
        HostRequest::new(Method::DELETE, path)
    }

    /// Appends a query parameter (percent-encoded when sent).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Sets a JSON body. A serialisation failure is reported by the send, as a
    /// [`HostError::is_builder`] error.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        self.body = match serde_json::to_vec(body) {
            Ok(bytes) => Body::Json(Bytes::from(bytes)),
            Err(e) => Body::Invalid(Arc::new(e)),
        };
        self
    }

    /// Replaces the per-request options.
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the idempotency key (see [`RequestOptions::idempotency_key`]).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.options.idempotency_key = Some(key.into());
        self
    }

    /// Sets the per-attempt timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Names the endpoint for the statistics, e.g. `"GET /data/symbol-info/{symbol}"`, so
    /// that calls differing only in a path parameter are counted together. Default:
    /// `"METHOD /path"` without the query.
    pub fn endpoint(mut self, label: impl Into<String>) -> Self {
        self.endpoint = Some(label.into());
        self
    }

    pub(super) fn endpoint_label(&self) -> String {
        match &self.endpoint {
            Some(label) => label.clone(),
            None => {
                let path = self.path.split('?').next().unwrap_or_default();
                format!("{} {}", self.method, path)
            }
        }
    }
}

impl HostResponse {
    /// The HTTP status (always 2xx).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// How many attempts the call took.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Decodes the body as JSON; a mismatch is a [`HostError::is_decode`] error naming the
    /// request, with serde's message (line, column, field) as its source.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HostError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HostError::new(
                Kind::Decode,
                self.method.clone(),
                Some(self.url.clone()),
                self.endpoint.clone(),
            )
            .with_attempts(self.attempts)
            .with_source(e)
        })
    }
}

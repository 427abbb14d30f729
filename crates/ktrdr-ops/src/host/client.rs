//! [`HostClient`]: the pooled, cancellable, retrying JSON client.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use super::builder::{BuildError, HostClientBuilder};
use super::error::{HostError, Kind};
use super::redact::redact_url;
use super::repeat::may_repeat;
use super::request::{Body, HostRequest, HostResponse, RequestOptions};
use super::stats::{EndpointStats, Outcome, StatsTable};
use crate::cancel::{CancelReason, CancellationToken};
use crate::retry::Backoff;

/// The header that carries [`RequestOptions::idempotency_key`].
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// How much of an error response's body a [`HostError`] keeps (what the service said).
const ERROR_BODY_EXCERPT: usize = 1024;

/// A client of one host service: cheap to clone (one `Arc`), all clones share the connection
/// pool and the statistics. `Send + Sync`.
///
/// ```no_run
/// use std::time::Duration;
/// use ktrdr_ops::cancel::CancellationToken;
/// use ktrdr_ops::host::{HostClient, RequestOptions};
/// use ktrdr_ops::retry::Backoff;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = HostClient::builder("http://127.0.0.1:5001")
///     .timeout(Duration::from_secs(30))
///     .retry_policy(Backoff { max_attempts: 3, ..Backoff::default() })
///     .build()?;
/// let token = CancellationToken::new();
///
/// // GET is idempotent: retried on connect errors, timeouts and 5xx.
/// let health: serde_json::Value = client.get_json("/health", &token).await?;
///
/// // A POST is retried only because it carries an idempotency key.
/// let request = serde_json::json!({"symbol": "AAPL", "timeframe": "1h",
///     "start": "2025-01-02T00:00:00Z", "end": "2025-01-03T00:00:00Z"});
/// let options = RequestOptions {
///     idempotency_key: Some("load-AAPL-1h-2025-01-02".into()),
///     ..RequestOptions::default()
/// };
/// let bars: serde_json::Value =
///     client.post_json("/data/historical", &request, options, &token).await?;
///
/// for endpoint in client.stats() {
///     println!("{}: {} calls, {} retries", endpoint.endpoint, endpoint.requests, endpoint.retries);
/// }
/// # let _ = (health, bars);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HostClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base_url: Url,
    /// The base URL without its trailing slash; request paths (which start with `/`) are
    /// appended to it, so a base of `http://h/prefix` keeps its prefix.
    pub(super) prefix: String,
    pub(super) timeout: Duration,
    pub(super) retry: Backoff,
    pub(super) stats: StatsTable,
    pub(super) max_body: usize,
}

/// Everything an attempt needs, computed once per call.
struct Prepared {
    method: Method,
    url: Url,
    endpoint: String,
    body: Option<Bytes>,
    idempotency_key: Option<HeaderValue>,
    timeout: Duration,
    may_repeat: bool,
}

impl HostClient {
    /// Starts configuring a client for the host service at `base_url` (`http://host:5001`).
    pub fn builder(base_url: impl Into<String>) -> HostClientBuilder {
        HostClientBuilder::new(base_url.into())
    }

    /// A client for `base_url` with the default settings.
    pub fn new(base_url: impl Into<String>) -> Result<Self, BuildError> {
        HostClient::builder(base_url).build()
    }

    /// The validated base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &Backoff {
        &self.inner.retry
    }

    /// GETs `path` (relative to the base URL, starting with `/`, may carry a query) and decodes
    /// the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &CancellationToken,
    ) -> Result<T, HostError> {
        self.send_json(HostRequest::get(path), token).await
    }

    /// POSTs `body` as JSON to `path` and decodes the JSON answer. Retried only when
    /// `options` carries an idempotency key.
    pub async fn post_json<B, T>(
        &self,
        path: &str,
        body: &B,
        options: RequestOptions,
        token: &CancellationToken,
    ) -> Result<T, HostError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let request = HostRequest::post(path).json(body).options(options);
        self.send_json(request, token).await
    }

    /// Sends `request` and decodes the JSON answer; a body that does not decode counts as an
    /// error of the call (in the statistics too) and is not retried.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        request: HostRequest,
        token: &CancellationToken,
    ) -> Result<T, HostError> {
        self.execute(request, token, |response| response.json())
            .await
    }

    /// Sends `request`, retrying as the policy allows, and returns the 2xx response with its
    /// body read. Any other status is an error ([`HostError::is_status`]).
    pub async fn send(
        &self,
        request: HostRequest,
        token: &CancellationToken,
    ) -> Result<HostResponse, HostError> {
        self.execute(request, token, Ok).await
    }

    /// Statistics per endpoint, sorted by endpoint label.
    pub fn stats(&self) -> Vec<EndpointStats> {
        self.inner.stats.snapshot()
    }

    async fn execute<T>(
        &self,
        request: HostRequest,
        token: &CancellationToken,
        finish: impl FnOnce(HostResponse) -> Result<T, HostError>,
    ) -> Result<T, HostError> {
        let started = Instant::now();
        let endpoint = request.endpoint_label();
        let result = match self.prepare(request, endpoint.clone()) {
            Ok(prepared) => self.run(&prepared, token).await,
            Err(e) => Err(e),
        };
        let (result, attempts) = match result {
            Ok(response) => {
                let attempts = response.attempts;
                (finish(response), attempts)
            }
            Err(e) => {
                let attempts = e.attempts();
                (Err(e), attempts)
            }
        };
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(e) if e.is_cancelled() => Outcome::Cancelled,
            Err(_) => Outcome::Error,
        };
        let retries = attempts.saturating_sub(1);
        self.inner
            .stats
            .record(&endpoint, outcome, retries, started.elapsed());
        result
    }

    fn prepare(&self, request: HostRequest, endpoint: String) -> Result<Prepared, HostError> {
        let method = request.method;
        let invalid = |url: Option<Url>, why: String| {
            HostError::new(Kind::Builder, method.clone(), url, endpoint.clone()).with_source(why)
        };
        if !request.path.starts_with('/') {
            let why = format!("path {:?} must start with '/'", request.path);
            return Err(invalid(None, why));
        }
        let joined = format!("{}{}", self.inner.prefix, request.path);
        let mut url = Url::parse(&joined).map_err(|e| {
            invalid(
                None,
                format!("path {:?} makes an invalid URL: {e}", request.path),
            )
        })?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let body = match request.body {
            Body::Empty => None,
            Body::Json(bytes) => Some(bytes),
            Body::Invalid(e) => {
                return Err(
                    HostError::new(Kind::Builder, method, Some(url), endpoint).with_source(e)
                );
            }
        };
        let idempotency_key = match request.options.idempotency_key {
            None => None,
            Some(key) => match HeaderValue::from_str(&key) {
                Ok(value) => Some(value),
                Err(_) => {
                    let why = format!(
                        "idempotency key {key:?} is not a valid header value (visible ASCII only)"
                    );
                    return Err(invalid(Some(url), why));
                }
            },
        };
        Ok(Prepared {
            may_repeat: may_repeat(&method, idempotency_key.is_some()),
            method,
            url,
            endpoint,
            body,
            idempotency_key,
            timeout: request.options.timeout.unwrap_or(self.inner.timeout),
        })
    }

    /// The attempt loop. Every await races the token, so a cancel drops whatever is in flight.
    async fn run(
        &self,
        p: &Prepared,
        token: &CancellationToken,
    ) -> Result<HostResponse, HostError> {
        let policy = &self.inner.retry;
        let cancelled = |reason: CancelReason, attempts: u32| {
            HostError::new(
                Kind::Cancelled(reason),
                p.method.clone(),
                Some(p.url.clone()),
                p.endpoint.clone(),
            )
            .with_attempts(attempts)
        };
        let mut attempt: u32 = 0;
        loop {
            if let Some(reason) = token.reason() {
                return Err(cancelled(reason, attempt));
            }
            attempt += 1;
            let result = tokio::select! {
                biased;
                reason = token.cancelled() => return Err(cancelled(reason, attempt)),
                result = tokio::time::timeout(p.timeout, self.attempt(p, attempt)) => {
                    result.unwrap_or_else(|_| Err(self.error(p, Kind::Timeout(p.timeout))))
                }
            };
            let error = match result {
                Ok(response) => return Ok(response),
                Err(e) => e.with_attempts(attempt),
            };
            if !(error.is_retryable() && p.may_repeat && attempt < policy.max_attempts) {
                return Err(error);
            }
            let wait = policy.delay(attempt, rand::random::<f64>());
            tracing::debug!(
                endpoint = %p.endpoint,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "host request failed; retrying"
            );
            tokio::select! {
                biased;
                reason = token.cancelled() => {
                    return Err(cancelled(reason, attempt).with_source(error));
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt: send, read the whole body, judge the status.
    async fn attempt(&self, p: &Prepared, attempt: u32) -> Result<HostResponse, HostError> {
        let mut builder = self
            .inner
            .http
            .request(p.method.clone(), p.url.clone())
            .header(ACCEPT, "application/json");
        if let Some(key) = &p.idempotency_key {
            builder = builder.header(IDEMPOTENCY_KEY_HEADER, key.clone());
        }
        if let Some(body) = &p.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let transport = |e: reqwest::Error| {
            HostError::from_reqwest(e, p.method.clone(), Some(p.url.clone()), p.endpoint.clone())
        };
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        // Of an error, only the excerpt is kept, so only that much is read.
        let limit = if status.is_success() {
            self.inner.max_body
        } else {
            ERROR_BODY_EXCERPT
        };
        if response
            .content_length()
            .is_some_and(|n| n > limit as u64 && status.is_success())
        {
            return Err(self.error(p, Kind::BodyTooLarge { limit }));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                if !status.is_success() {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    break;
                }
                return Err(self.error(p, Kind::BodyTooLarge { limit }));
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        if !status.is_success() {
            let excerpt = String::from_utf8_lossy(&body).into_owned();
            return Err(self.error(
                p,
                Kind::Status {
                    status,
                    body: excerpt,
                },
            ));
        }
        Ok(HostResponse {
            status,
            headers,
            body,
            method: p.method.clone(),
            url: p.url.clone(),
            endpoint: p.endpoint.clone(),
            attempts: attempt,
        })
    }

    fn error(&self, p: &Prepared, kind: Kind) -> HostError {
        HostError::new(
            kind,
            p.method.clone(),
            Some(p.url.clone()),
            p.endpoint.clone(),
        )
    }
}

impl fmt::Debug for HostClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostClient")
            .field("base_url", &redact_url(self.inner.base_url.as_str()))
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<HostClient>();
        assert_send_sync::<HostRequest>();
        assert_eq!(
            std::mem::size_of::<HostClient>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn base_urls_are_validated() {
        for bad in [
            "not a url",
            "ftp://127.0.0.1:5001",
            "http://127.0.0.1:5001/?x=1",
            "http://127.0.0.1:5001/#frag",
            "unix:/tmp/socket",
        ] {
            let err = HostClient::new(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    BuildError::UnparsableBaseUrl { .. } | BuildError::InvalidBaseUrl { .. }
                ),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
        let client = HostClient::new("http://127.0.0.1:5001").unwrap();
        assert_eq!(client.base_url().as_str(), "http://127.0.0.1:5001/");
    }

    #[test]
    fn an_https_url_is_a_tls_error_not_a_connection_failure() {
        let err = HostClient::new("https://ib:hunter2@gw:5001").unwrap_err();
        assert!(matches!(err, BuildError::TlsUnsupported { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("needs TLS (https)"), "{text}");
        assert!(
            !text.contains("connect to") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn a_password_in_a_base_url_shows_in_no_error_nor_debug_output() {
        for bad in [
            "ftp://ib:hunter2@h:1",
            "http://ib:hunter2@h:1/?x=1",
            "http://ib:hunter2@",
        ] {
            let err = HostClient::new(bad).unwrap_err();
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains("***@"), "{shown}");
            }
        }
        let client = HostClient::new("http://ib:hunter2@h:1").unwrap();
        assert_eq!(client.base_url().password(), Some("hunter2"), "still sent");
        assert!(!format!("{client:?}").contains("hunter2"));
    }

    #[test]
    fn zero_timeouts_and_bad_policies_are_refused() {
        let err = HostClient::builder("http://h:1")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "timeout must be greater than zero");
        let err = HostClient::builder("http://h:1")
            .retry_policy(Backoff {
                max_attempts: 0,
                ..Backoff::default()
            })
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid retry policy: max_attempts must be at least 1"
        );
    }

    #[test]
    fn paths_join_under_the_base_prefix_with_encoded_query() {
        let client = HostClient::new("http://127.0.0.1:5001/ib/").unwrap();
        let request = HostRequest::get("/data/head-timestamp")
            .query("symbol", "EUR.USD")
            .query("note", "a b&c");
        let p = client.prepare(request, "x".into()).unwrap();
        assert_eq!(
            p.url.as_str(),
            "http://127.0.0.1:5001/ib/data/head-timestamp?symbol=EUR.USD&note=a+b%26c"
        );
        assert!(p.may_repeat);
        let err = client
            .prepare(HostRequest::get("health"), "GET health".into())
            .err()
            .unwrap();
        assert!(err.is_builder() && !err.is_retryable());
        assert_eq!(err.attempts(), 0);
    }

    #[test]
    fn endpoint_labels_drop_the_query_unless_named() {
        assert_eq!(
            HostRequest::get("/data/head-timestamp?symbol=AAPL").endpoint_label(),
            "GET /data/head-timestamp"
        );
        assert_eq!(
            HostRequest::get("/data/symbol-info/AAPL")
                .endpoint("GET /data/symbol-info/{symbol}")
                .endpoint_label(),
            "GET /data/symbol-info/{symbol}"
        );
    }

    #[test]
    fn post_repeats_only_with_a_valid_key() {
        let client = HostClient::new("http://127.0.0.1:5001").unwrap();
        let plain = client
            .prepare(HostRequest::post("/data/historical"), "e".into())
            .unwrap();
        assert!(!plain.may_repeat);
        let keyed = client
            .prepare(
                HostRequest::post("/data/historical").idempotency_key("k-1"),
                "e".into(),
            )
            .unwrap();
        assert!(keyed.may_repeat);
        let bad = client
            .prepare(
                HostRequest::post("/data/historical").idempotency_key("line\nbreak"),
                "e".into(),
            )
            .err()
            .unwrap();
        assert!(bad.is_builder());
    }

    #[test]
    fn unserialisable_bodies_fail_as_builder_errors() {
        use std::collections::HashMap;
        // serde_json refuses maps with non-string keys.
        let body: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        let client = HostClient::new("http://127.0.0.1:5001").unwrap();
        let err = client
            .prepare(HostRequest::post("/x").json(&body), "POST /x".into())
            .err()
            .unwrap();
        assert!(err.is_builder());
        assert!(std::error::Error::source(&err).is_some());
    }
}

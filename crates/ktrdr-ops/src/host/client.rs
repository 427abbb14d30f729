//! [`HostClient`]: the pooled, cancellable, retrying JSON client, and its requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use super::error::{HostError, Kind};
use super::repeat::may_repeat;
use super::stats::{EndpointStats, Outcome, StatsTable};
use crate::cancel::{CancelReason, CancellationToken};
use crate::retry::{Backoff, InvalidBackoff};

/// The header that carries [`RequestOptions::idempotency_key`].
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// How much of an error response's body a [`HostError`] keeps (what the service said).
const ERROR_BODY_EXCERPT: usize = 1024;

/// See [`HostClientBuilder::max_body_bytes`].
const DEFAULT_MAX_BODY: usize = 256 << 20;

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
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    /// The base URL without its trailing slash; request paths (which start with `/`) are
    /// appended to it, so a base of `http://h/prefix` keeps its prefix.
    prefix: String,
    timeout: Duration,
    retry: Backoff,
    stats: StatsTable,
    max_body: usize,
}

/// Configures a [`HostClient`]; see [`HostClient::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HostClientBuilder {
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    retry: Backoff,
    pool_max_idle_per_host: usize,
    stats_window: usize,
    max_endpoints: usize,
    max_body: usize,
}

/// Why a [`HostClient`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL does not parse.
    #[error("host-service base URL {url:?} does not parse: {reason}")]
    UnparsableBaseUrl {
        /// The URL as given.
        url: String,
        /// What the parser objected to.
        reason: url::ParseError,
    },
    /// The base URL parses but cannot address a host service.
    #[error("host-service base URL {url:?} is not usable: {problem}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A [`Backoff`] field is out of range.
    #[error(transparent)]
    InvalidRetryPolicy(#[from] InvalidBackoff),
    /// A timeout of zero would fail every request.
    #[error("{which} must be greater than zero")]
    ZeroTimeout {
        /// `"timeout"` or `"connect_timeout"`.
        which: &'static str,
    },
    /// reqwest could not create its client (TLS backend or resolver initialisation).
    #[error("could not create the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Per-request settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Sent as the `Idempotency-Key` header; makes a non-idempotent request (POST) retryable,
    /// since the server can recognise the repeat. Use one key per logical request.
    pub idempotency_key: Option<String>,
    /// Per-attempt timeout for this request instead of the client's.
    pub timeout: Option<Duration>,
}

/// A request to a host service, for [`HostClient::send`] and [`HostClient::send_json`].
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
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Body,
    options: RequestOptions,
    endpoint: Option<String>,
}

#[derive(Debug, Clone)]
enum Body {
    Empty,
    Json(Bytes),
    /// Serialisation failed when the request was built; reported when it is sent, so request
    /// building stays a plain chain (as in reqwest).
    Invalid(Arc<serde_json::Error>),
}

/// A successful (2xx) response, body fully read.
#[derive(Debug, Clone)]
pub struct HostResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    method: Method,
    url: Url,
    endpoint: String,
    attempts: u32,
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
        HostClientBuilder {
            base_url: base_url.into(),
            // The Python system's `HostServiceConfig.timeout`.
            timeout: Duration::from_secs(30),
            // Host services live on the LAN: a connect taking seconds means the host is down.
            connect_timeout: Duration::from_secs(5),
            retry: Backoff {
                max_delay: Duration::from_secs(4),
                ..Backoff::default()
            },
            pool_max_idle_per_host: 10,
            stats_window: 1000,
            max_endpoints: 200,
            max_body: DEFAULT_MAX_BODY,
        }
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
            .field("base_url", &self.inner.base_url.as_str())
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

impl HostClientBuilder {
    /// Per-attempt timeout, covering the whole response (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to establish a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The retry schedule (default: [`Backoff::default`] with waits capped at 4 s). A caller
    /// that retries whole operations itself passes [`Backoff::none`], so retries do not nest.
    pub fn retry_policy(mut self, policy: Backoff) -> Self {
        self.retry = policy;
        self
    }

    /// Idle connections kept per host (default 10, the Python client's keep-alive limit).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Latency samples kept per endpoint for the percentiles (default 1000, at least 1).
    pub fn stats_window(mut self, samples: usize) -> Self {
        self.stats_window = samples;
        self
    }

    /// Endpoint labels tracked separately before the rest are pooled under
    /// [`OVERFLOW_ENDPOINT`](super::OVERFLOW_ENDPOINT) (default 200, as in the Python client).
    pub fn max_endpoints(mut self, max: usize) -> Self {
        self.max_endpoints = max;
        self
    }

    /// The largest success body read (default 256 MiB: a year of 1-minute bars is about
    /// 20 MB); a larger answer fails with [`HostError::is_body_too_large`] instead of filling
    /// memory.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Validates the settings and builds the client.
    pub fn build(self) -> Result<HostClient, BuildError> {
        let base_url = validate_base_url(&self.base_url)?;
        self.retry.validate()?;
        if self.timeout.is_zero() {
            return Err(BuildError::ZeroTimeout { which: "timeout" });
        }
        if self.connect_timeout.is_zero() {
            return Err(BuildError::ZeroTimeout {
                which: "connect_timeout",
            });
        }
        // No reqwest-level request timeout: ours (a tokio timer around each attempt) covers the
        // body as well, and follows tokio's clock, so tests can pause time.
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .user_agent(concat!("ktrdr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Client)?;
        let prefix = base_url.as_str().trim_end_matches('/').to_owned();
        Ok(HostClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                prefix,
                timeout: self.timeout,
                retry: self.retry,
                stats: StatsTable::new(self.stats_window, self.max_endpoints),
                max_body: self.max_body,
            }),
        })
    }
}

fn validate_base_url(raw: &str) -> Result<Url, BuildError> {
    let invalid = |problem| BuildError::InvalidBaseUrl {
        url: raw.to_owned(),
        problem,
    };
    let url = Url::parse(raw).map_err(|reason| BuildError::UnparsableBaseUrl {
        url: raw.to_owned(),
        reason,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "it must not carry a query or fragment (request paths are appended to it)",
        ));
    }
    Ok(url)
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

    fn endpoint_label(&self) -> String {
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

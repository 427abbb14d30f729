//! [`HostClientBuilder`]: the settings of a [`HostClient`], checked once when it is built.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::client::{HostClient, Inner};
use super::redact::redact_url;
use super::stats::StatsTable;
use crate::retry::{Backoff, InvalidBackoff};

/// See [`HostClientBuilder::max_body_bytes`].
const DEFAULT_MAX_BODY: usize = 256 << 20;

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

/// How long an idle pooled connection is kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Why a [`HostClient`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL does not parse.
    #[error("host-service base URL {url:?} does not parse: {reason}")]
    UnparsableBaseUrl {
        /// The URL as given, its user information (a password) redacted.
        url: String,
        /// What the parser objected to.
        reason: url::ParseError,
    },
    /// The base URL parses but cannot address a host service.
    #[error("host-service base URL {url:?} is not usable: {problem}")]
    InvalidBaseUrl {
        /// The URL as given, its user information (a password) redacted.
        url: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The base URL asks for TLS (`https://`), which this build's HTTP client does not include:
    /// every request would fail at the TLS step.
    #[error(
        "host-service base URL {url:?} needs TLS (https), which this build of ktrdr does not \
         include; reach the host service over http:// (it serves plain HTTP, like the Python \
         one), through an SSH tunnel or a TLS-terminating proxy if it is remote"
    )]
    TlsUnsupported {
        /// The URL as given, its user information (a password) redacted.
        url: String,
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

impl HostClientBuilder {
    /// The defaults, for [`HostClient::builder`].
    pub(super) fn new(base_url: String) -> Self {
        HostClientBuilder {
            base_url,
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
    /// 20 MB); a larger answer fails with [`HostError::is_body_too_large`](super::HostError::is_body_too_large) instead of filling
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
            // Below the servers' idle limits (ours 10 s, uvicorn's 5 s), so a pooled connection
            // is not reused just as the server closes it.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
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
        url: redact_url(raw).into_owned(),
        problem,
    };
    let url = Url::parse(raw).map_err(|reason| BuildError::UnparsableBaseUrl {
        url: redact_url(raw).into_owned(),
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
    // reqwest is built without a TLS backend (no feature `rustls-tls`/`native-tls`), so an
    // https request would fail in the connector and read as "could not connect", retried.
    if url.scheme() == "https" {
        return Err(BuildError::TlsUnsupported {
            url: redact_url(raw).into_owned(),
        });
    }
    Ok(url)
}

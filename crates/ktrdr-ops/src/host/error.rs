//! The one error of a host-service call.
//!
//! Shaped after reqwest's `error.rs`: a single public struct with a private [`Kind`] and public
//! predicates, so that callers (and our own retry loop) decide what to do from typed facts, never
//! from message text.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};

use super::redact::redact_parsed;
use crate::cancel::CancelReason;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Why a host-service call failed, with the request it concerned and the attempts made.
///
/// Ask the predicates ([`is_timeout`](Self::is_timeout), [`is_connect`](Self::is_connect),
/// [`is_status`](Self::is_status), [`is_cancelled`](Self::is_cancelled), …) rather than the
/// message. `Display` names the method, the URL, what failed and, after retries, how many
/// attempts were made; the underlying cause (reqwest, serde) is the [`source`](StdError::source).
pub struct HostError {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    method: Method,
    url: Option<Url>,
    endpoint: String,
    attempts: u32,
    source: Option<BoxError>,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// The request could not be built (bad path, header value, body serialisation).
    Builder,
    /// No connection could be established (refused, unreachable, connect timeout).
    Connect { timed_out: bool },
    /// The attempt got no complete response within its time limit.
    Timeout(Duration),
    /// The connection failed after it was established, before a complete response arrived
    /// (reset, closed early, malformed response).
    Transport,
    /// Redirects could not be followed (loop, too many).
    Redirect,
    /// The host service answered with a non-success status; an excerpt of its body.
    Status { status: StatusCode, body: String },
    /// The success body was not the expected JSON.
    Decode,
    /// The success body was larger than the client reads.
    BodyTooLarge { limit: usize },
    /// The caller's token was cancelled; the in-flight request, if any, was dropped.
    Cancelled(CancelReason),
}

impl HostError {
    pub(crate) fn new(kind: Kind, method: Method, url: Option<Url>, endpoint: String) -> Self {
        HostError {
            inner: Box::new(Inner {
                kind,
                method,
                url: url.map(redact_parsed),
                endpoint,
                attempts: 0,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// Classifies a reqwest failure by its predicates (connect before timeout: a connect
    /// timeout is first of all a failure to connect).
    pub(crate) fn from_reqwest(
        err: reqwest::Error,
        method: Method,
        url: Option<Url>,
        endpoint: String,
    ) -> Self {
        let kind = if err.is_connect() {
            Kind::Connect {
                timed_out: err.is_timeout(),
            }
        } else if err.is_builder() {
            Kind::Builder
        } else if err.is_redirect() {
            Kind::Redirect
        } else if err.is_decode() {
            Kind::Decode
        } else {
            // Request and body errors after connecting: reset, early close, protocol error.
            Kind::Transport
        };
        HostError::new(kind, method, url, endpoint).with_source(err.without_url())
    }

    /// The request could not be built (an invalid path, header value or body).
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder)
    }

    /// No connection to the host service could be established.
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Connect { .. })
    }

    /// A time limit passed: the per-attempt request timeout or the connect timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Timeout(_) | Kind::Connect { timed_out: true }
        )
    }

    /// The connection broke after it was established, before a complete response arrived.
    pub fn is_transport(&self) -> bool {
        matches!(self.inner.kind, Kind::Transport)
    }

    /// Redirects could not be followed.
    pub fn is_redirect(&self) -> bool {
        matches!(self.inner.kind, Kind::Redirect)
    }

    /// The host service answered with a non-success HTTP status (see [`status`](Self::status)).
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, Kind::Status { .. })
    }

    /// The HTTP status, when the host service answered with a non-success one.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.inner.kind {
            Kind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The beginning of the body of a non-success response (what the service said), if any.
    pub fn body(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Status { body, .. } if !body.is_empty() => Some(body),
            _ => None,
        }
    }

    /// The success body could not be decoded into the expected type.
    pub fn is_decode(&self) -> bool {
        matches!(self.inner.kind, Kind::Decode)
    }

    /// The success body was larger than the client reads
    /// ([`HostClientBuilder::max_body_bytes`](super::HostClientBuilder::max_body_bytes)).
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.inner.kind, Kind::BodyTooLarge { .. })
    }

    /// The caller's cancellation token was cancelled (see [`cancel_reason`](Self::cancel_reason)).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.inner.kind, Kind::Cancelled(_))
    }

    /// Why the call was cancelled, if it was.
    pub fn cancel_reason(&self) -> Option<&CancelReason> {
        match &self.inner.kind {
            Kind::Cancelled(reason) => Some(reason),
            _ => None,
        }
    }

    /// The failure is transient in kind (connect error, timeout, lost connection, or a 5xx
    /// other than 501/505), so the same request may succeed later.
    ///
    /// This says nothing of whether the client retried: it never retries a non-idempotent
    /// request without an idempotency key. [`attempts`](Self::attempts) says how many were made.
    pub fn is_retryable(&self) -> bool {
        match &self.inner.kind {
            Kind::Connect { .. } | Kind::Timeout(_) | Kind::Transport => true,
            Kind::Status { status, .. } => is_retryable_status(*status),
            Kind::Builder
            | Kind::Redirect
            | Kind::Decode
            | Kind::BodyTooLarge { .. }
            | Kind::Cancelled(_) => false,
        }
    }

    /// The HTTP method of the failed request.
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The full URL of the failed request, its user information (a password) replaced by
    /// [`REDACTED`](super::REDACTED) (absent only when it could not be built).
    pub fn url(&self) -> Option<&Url> {
        self.inner.url.as_ref()
    }

    /// The endpoint label the call is counted under in the statistics (`"GET /health"`).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// How many attempts were started (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }
}

/// 5xx answers are worth retrying, except those that state a permanent property of the server:
/// 501 Not Implemented and 505 HTTP Version Not Supported will not change on a second try.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status.is_server_error()
        && status != StatusCode::NOT_IMPLEMENTED
        && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        match &inner.url {
            Some(url) => write!(f, "{} {}: ", inner.method, url)?,
            None => write!(f, "{}: ", inner.endpoint)?,
        }
        match &inner.kind {
            Kind::Builder => f.write_str("invalid request")?,
            Kind::Connect { timed_out: false } => {
                f.write_str("could not connect to the host service")?
            }
            Kind::Connect { timed_out: true } => {
                f.write_str("timed out connecting to the host service")?
            }
            Kind::Timeout(after) => write!(f, "no complete response within {after:?}")?,
            Kind::Transport => f.write_str("connection lost before a complete response")?,
            Kind::Redirect => f.write_str("redirects could not be followed")?,
            Kind::Status { status, .. } => write!(f, "host service answered {status}")?,
            Kind::Decode => f.write_str("response body is not the expected JSON")?,
            Kind::BodyTooLarge { limit } => {
                write!(f, "response body larger than the {limit} bytes read")?
            }
            Kind::Cancelled(reason) => write!(f, "request abandoned: {reason}")?,
        }
        if inner.attempts > 1 {
            write!(f, " (after {} attempts)", inner.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut d = f.debug_struct("HostError");
        d.field("kind", &inner.kind)
            .field("method", &inner.method)
            .field("url", &inner.url.as_ref().map(Url::as_str))
            .field("endpoint", &inner.endpoint)
            .field("attempts", &inner.attempts);
        if let Some(source) = &inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for HostError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| &**e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: Kind) -> HostError {
        HostError::new(
            kind,
            Method::GET,
            Url::parse("http://127.0.0.1:5001/health").ok(),
            "GET /health".into(),
        )
    }

    #[test]
    fn retryability_follows_the_kind_not_the_text() {
        let status = |code: u16| Kind::Status {
            status: StatusCode::from_u16(code).unwrap(),
            body: String::new(),
        };
        for (kind, retryable) in [
            (Kind::Connect { timed_out: false }, true),
            (Kind::Connect { timed_out: true }, true),
            (Kind::Timeout(Duration::from_secs(1)), true),
            (Kind::Transport, true),
            (status(500), true),
            (status(502), true),
            (status(503), true),
            (status(504), true),
            (status(501), false),
            (status(505), false),
            (status(400), false),
            (status(404), false),
            (status(409), false),
            (status(429), false),
            (Kind::Builder, false),
            (Kind::Redirect, false),
            (Kind::Decode, false),
            (Kind::Cancelled(CancelReason::User), false),
        ] {
            let e = err(kind);
            assert_eq!(e.is_retryable(), retryable, "{e:?}");
        }
    }

    #[test]
    fn predicates_are_exclusive_except_connect_timeout() {
        let e = err(Kind::Connect { timed_out: true });
        assert!(e.is_connect() && e.is_timeout() && !e.is_status());
        let e = err(Kind::Timeout(Duration::from_secs(2)));
        assert!(e.is_timeout() && !e.is_connect() && !e.is_transport());
        let e = err(Kind::Status {
            status: StatusCode::NOT_FOUND,
            body: "no such symbol".into(),
        });
        assert!(e.is_status() && !e.is_timeout());
        assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(e.body(), Some("no such symbol"));
        let e = err(Kind::Cancelled(CancelReason::Shutdown));
        assert!(e.is_cancelled() && e.status().is_none());
        assert_eq!(e.cancel_reason(), Some(&CancelReason::Shutdown));
    }

    #[test]
    fn display_names_request_failure_and_attempts() {
        let e = err(Kind::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: String::new(),
        })
        .with_attempts(3);
        assert_eq!(
            e.to_string(),
            "GET http://127.0.0.1:5001/health: host service answered 503 Service Unavailable \
             (after 3 attempts)"
        );
        let e = err(Kind::Timeout(Duration::from_millis(1500))).with_attempts(1);
        assert_eq!(
            e.to_string(),
            "GET http://127.0.0.1:5001/health: no complete response within 1.5s"
        );
        let e = HostError::new(Kind::Builder, Method::GET, None, "GET health".into());
        assert_eq!(e.to_string(), "GET health: invalid request");
    }
}

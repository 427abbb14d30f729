//! The one error type of every [`DataProvider`](super::DataProvider), reqwest-style: a struct
//! with a private kind and public predicates, so the retry policy reads `is_retryable()` and
//! `retry_after()` and never the message text.

use std::fmt;
use std::time::Duration;

use ktrdr_ops::cancel::{CancelReason, Cancelled};

/// The longest pacing wait honoured: IB's longest rule counts requests over 10 minutes, so no
/// honest answer asks for more.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a provider call failed.
///
/// | predicate | meaning | retry? |
/// |---|---|---|
/// | [`is_not_found`](Self::is_not_found) | unknown symbol or contract | no |
/// | [`is_invalid_request`](Self::is_invalid_request) | the request breaks a provider rule (span too long, unsupported timeframe) | no: fix the request |
/// | [`is_pacing`](Self::is_pacing) | the broker's pacing rules were broken (IB error 162) | yes, after [`retry_after`](Self::retry_after) |
/// | [`is_transient`](Self::is_transient) | timeout, connection loss, 5xx | yes, with backoff |
/// | [`is_fatal`](Self::is_fatal) | anything else (gateway down for good, a bug on the far side) | no |
/// | [`is_cancelled`](Self::is_cancelled) | the operation's token was cancelled | no |
///
/// ```
/// use std::time::Duration;
/// use ktrdr_data::provider::ProviderError;
///
/// let e = ProviderError::pacing("IB error 162: pacing violation", Duration::from_secs(15));
/// assert!(e.is_pacing() && e.is_retryable());
/// assert_eq!(e.retry_after(), Some(Duration::from_secs(15)));
/// assert!(!ProviderError::not_found("no contract for ZZZZ").is_retryable());
/// ```
pub struct ProviderError {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    message: String,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    NotFound,
    InvalidRequest,
    Pacing { retry_after: Duration },
    Transient,
    Fatal,
    Cancelled(CancelReason),
}

impl ProviderError {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        ProviderError {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                source: None,
            }),
        }
    }

    /// The symbol or contract does not exist at the provider.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    /// The request breaks one of the provider's rules; retrying it unchanged cannot succeed.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidRequest, message)
    }

    /// The broker's pacing rules were broken; the same request may be sent after `retry_after`,
    /// capped at [`MAX_RETRY_AFTER`] so that a wild value from a remote service cannot hold
    /// every request for days.
    pub fn pacing(message: impl Into<String>, retry_after: Duration) -> Self {
        let retry_after = retry_after.min(MAX_RETRY_AFTER);
        Self::new(Kind::Pacing { retry_after }, message)
    }

    /// A failure that may go away on its own (timeout, lost connection, 5xx).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(Kind::Transient, message)
    }

    /// A failure that retrying will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(Kind::Fatal, message)
    }

    /// Attaches the underlying error (kept for [`std::error::Error::source`]).
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The symbol or contract does not exist.
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == Kind::NotFound
    }

    /// The request itself is wrong.
    pub fn is_invalid_request(&self) -> bool {
        self.inner.kind == Kind::InvalidRequest
    }

    /// A pacing violation; see [`retry_after`](Self::retry_after).
    pub fn is_pacing(&self) -> bool {
        matches!(self.inner.kind, Kind::Pacing { .. })
    }

    /// A transient failure.
    pub fn is_transient(&self) -> bool {
        self.inner.kind == Kind::Transient
    }

    /// A failure that retrying will not fix.
    pub fn is_fatal(&self) -> bool {
        self.inner.kind == Kind::Fatal
    }

    /// The call stopped because the operation's token was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.inner.kind, Kind::Cancelled(_))
    }

    /// Pacing and transient failures: the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.inner.kind, Kind::Pacing { .. } | Kind::Transient)
    }

    /// For a pacing violation, how long to wait before sending the request again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.inner.kind {
            Kind::Pacing { retry_after } => Some(retry_after),
            _ => None,
        }
    }

    /// For a cancelled call, why the operation was cancelled.
    pub fn cancel_reason(&self) -> Option<&CancelReason> {
        match &self.inner.kind {
            Kind::Cancelled(reason) => Some(reason),
            _ => None,
        }
    }

    /// The provider's description of the failure, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
}

impl From<Cancelled> for ProviderError {
    fn from(c: Cancelled) -> Self {
        let message = c.reason.to_string();
        Self::new(Kind::Cancelled(c.reason), message)
    }
}

/// A request for an invalid range is an invalid request.
impl From<crate::types::InvalidRange> for ProviderError {
    fn from(e: crate::types::InvalidRange) -> Self {
        ProviderError::invalid_request(e.to_string())
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = &self.inner.message;
        match &self.inner.kind {
            Kind::NotFound => write!(f, "not found: {message}"),
            Kind::InvalidRequest => write!(f, "invalid request: {message}"),
            Kind::Pacing { retry_after } => {
                write!(
                    f,
                    "pacing violation (retry after {retry_after:?}): {message}"
                )
            }
            Kind::Transient => write!(f, "transient failure: {message}"),
            Kind::Fatal => write!(f, "provider failure: {message}"),
            Kind::Cancelled(_) => write!(f, "cancelled: {message}"),
        }
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ProviderError");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_the_kind() {
        let all = [
            ProviderError::not_found("x"),
            ProviderError::invalid_request("x"),
            ProviderError::pacing("x", Duration::from_secs(1)),
            ProviderError::transient("x"),
            ProviderError::fatal("x"),
            ProviderError::from(Cancelled {
                reason: CancelReason::User,
            }),
        ];
        let flags: Vec<[bool; 7]> = all
            .iter()
            .map(|e| {
                [
                    e.is_not_found(),
                    e.is_invalid_request(),
                    e.is_pacing(),
                    e.is_transient(),
                    e.is_fatal(),
                    e.is_cancelled(),
                    e.is_retryable(),
                ]
            })
            .collect();
        // Exactly one kind predicate per error; retryable only for pacing and transient.
        for (i, f) in flags.iter().enumerate() {
            assert_eq!(f[..6].iter().filter(|b| **b).count(), 1, "error {i}");
            assert!(f[i], "error {i} answers its own predicate");
            assert_eq!(f[6], i == 2 || i == 3, "retryable for error {i}");
        }
    }

    #[test]
    fn cancel_keeps_the_reason_and_source_is_kept() {
        let e = ProviderError::from(Cancelled {
            reason: CancelReason::Timeout,
        });
        assert_eq!(e.cancel_reason(), Some(&CancelReason::Timeout));
        assert_eq!(e.to_string(), "cancelled: deadline exceeded");

        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let e = ProviderError::transient("host service did not answer").with_source(io);
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("read timed out"));
        assert_eq!(
            e.to_string(),
            "transient failure: host service did not answer"
        );
    }
}

//! Which requests are safe to send twice.

use reqwest::Method;

/// A request may be repeated when its method is idempotent (RFC 9110 §9.2.2), or when it
/// carries an idempotency key that lets the server recognise the repeat.
pub(crate) fn may_repeat(method: &Method, has_idempotency_key: bool) -> bool {
    has_idempotency_key
        || matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_or_keyed_requests_repeat() {
        assert!(may_repeat(&Method::GET, false));
        assert!(may_repeat(&Method::DELETE, false));
        assert!(may_repeat(&Method::PUT, false));
        assert!(!may_repeat(&Method::POST, false));
        assert!(!may_repeat(&Method::PATCH, false));
        assert!(may_repeat(&Method::POST, true));
    }
}

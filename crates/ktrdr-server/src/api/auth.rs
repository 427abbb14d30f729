//! Bearer-token authentication: when the server has a token (`KTRDR_API_TOKEN`), every route but
//! `/health` and the web page's files requires `Authorization: Bearer <token>`, compared in
//! constant time. The page holds no data: it asks its user for the token and sends it with
//! every API call.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use super::error::ApiError;

/// The environment variable that holds the API token.
pub const TOKEN_ENV: &str = "KTRDR_API_TOKEN";

/// A secret the clients must present. Its `Debug` does not show it.
#[derive(Clone)]
pub struct ApiToken(Arc<str>);

impl ApiToken {
    /// A token; `None` for an empty one (an empty variable means no authentication, not a
    /// token every client trivially knows).
    pub fn new(secret: &str) -> Option<ApiToken> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| ApiToken(secret.into()))
    }

    /// The token in `KTRDR_API_TOKEN`, if set and not empty.
    pub fn from_env() -> Option<ApiToken> {
        std::env::var(TOKEN_ENV)
            .ok()
            .and_then(|s| ApiToken::new(&s))
    }

    /// Whether `presented` is the token. Takes the same time wherever the first difference is
    /// (the lengths may leak; the token's length is not the secret).
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(…)")
    }
}

/// Routes that answer without a token: the liveness probe and the page.
const OPEN_PATHS: [&str; 3] = ["/health", "/api/v1/health", "/"];

/// Whether `path` answers without a token.
fn is_open(path: &str) -> bool {
    OPEN_PATHS.contains(&path) || path.starts_with("/assets/")
}

/// Refuses a request without the right bearer token with 401 (and `WWW-Authenticate`).
pub(crate) async fn require_token(
    State(token): State<Option<ApiToken>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    if is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(presented) if token.matches(presented.trim()) => next.run(request).await,
        Some(_) => unauthorized("the bearer token is not the server's"),
        None => unauthorized("this server requires Authorization: Bearer <KTRDR_API_TOKEN>"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "AUTH-Unauthorized", message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::{is_open, ApiToken};

    #[test]
    fn only_the_probe_and_the_page_are_open() {
        for open in ["/health", "/api/v1/health", "/", "/assets/app.js"] {
            assert!(is_open(open), "{open}");
        }
        for closed in [
            "/api/v1/operations",
            "/metrics",
            "/api/v1/openapi.json",
            "/assetsx",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    #[test]
    fn tokens_match_exactly_and_an_empty_one_is_none() {
        let token = ApiToken::new("s3cret").unwrap();
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cretX"));
        assert!(!token.matches(""));
        assert!(ApiToken::new("  ").is_none());
        assert_eq!(format!("{token:?}"), "ApiToken(…)");
    }
}

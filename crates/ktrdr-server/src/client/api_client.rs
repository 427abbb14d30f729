//! [`ApiClient`]: calls to `/api/v1` with the bearer token, answered in the server's wire types
//! or a [`ClientError`] carrying the server's own message.

use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::host::redact_url;
use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;

use super::ClientError;
use crate::api::auth::TOKEN_ENV;
use crate::api::error::ErrorBody;
use crate::api::wire::{Envelope, OperationInfo, OperationList, OperationQuery, WaitAnswer};

/// The environment variable that names the server the CLI talks to.
pub const URL_ENV: &str = "KTRDR_API_URL";

/// The longest time to open a connection: a server on the same machine or network answers in
/// milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest an ordinary request may take (long polls get their wait on top).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a non-API error body an error message quotes.
const QUOTED_BODY: usize = 200;

/// A client of one ktrdr API server. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// `http://host:port/api/v1`.
    base: Url,
    token: Option<Arc<str>>,
}

impl ApiClient {
    /// A client of the server at `url` (`http://host:port`, with or without `/api/v1`),
    /// presenting `token` when given.
    ///
    /// # Errors
    ///
    /// [`ClientError::BadUrl`] for a URL that is not `http://…` (this build has no TLS: reach a
    /// remote server through an SSH tunnel or a TLS-terminating proxy).
    pub fn new(url: &str, token: Option<&str>) -> Result<ApiClient, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: redact_url(url).into_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = url.trim().trim_end_matches('/');
        let root = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
        let mut base = Url::parse(root).map_err(|e| bad(&e.to_string()))?;
        match base.scheme() {
            "http" => {}
            "https" => {
                return Err(bad(
                    "this build has no TLS; use http:// (a tunnel or a proxy)",
                ))
            }
            _ => return Err(bad("the server URL must start with http://")),
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(bad("no host"));
        }
        base.path_segments_mut()
            .map_err(|()| bad("no host"))?
            .pop_if_empty()
            .extend(["api", "v1"]);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: redact_url(url).into_owned(),
                source,
            })?;
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Arc::from);
        Ok(ApiClient { http, base, token })
    }

    /// A client of the server at `url` with the token of `KTRDR_API_TOKEN`, if set.
    pub fn from_env(url: &str) -> Result<ApiClient, ClientError> {
        let token = std::env::var(TOKEN_ENV).ok();
        ApiClient::new(url, token.as_deref())
    }

    /// The API's root, `http://host:port/api/v1` (credentials redacted).
    pub fn base_url(&self) -> String {
        redact_url(self.base.as_str()).into_owned()
    }

    /// `GET /operations`: one page of operations, newest first, with the counts.
    pub async fn operations(&self, query: &OperationQuery) -> Result<OperationList, ClientError> {
        let request = self.request(Method::GET, &["operations"]).query(query);
        self.send(request).await
    }

    /// `GET /operations/{id}`.
    pub async fn operation(&self, id: &str) -> Result<OperationInfo, ClientError> {
        let request = self.request(Method::GET, &["operations", id]);
        let answer: Envelope<OperationInfo> = self.send(request).await?;
        Ok(answer.data)
    }

    /// `GET /operations/{id}/wait?timeout=…`: the operation once it has ended, or as it is
    /// after `timeout` (at most 300 s, the server's limit).
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<WaitAnswer, ClientError> {
        let request = self
            .request(Method::GET, &["operations", id, "wait"])
            .query(&[("timeout", timeout.as_secs_f64())])
            .timeout(REQUEST_TIMEOUT + timeout);
        self.send(request).await
    }

    /// A request to the API path made of `segments` (each percent-encoded), with the token and
    /// the ordinary timeout.
    pub(crate) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.untimed_request(method, segments)
            .timeout(REQUEST_TIMEOUT)
    }

    /// [`request`](Self::request) without a timeout, for a stream.
    pub(crate) fn untimed_request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends `request` and reads its JSON answer; an error status becomes the server's error.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = self.respond(request).await?;
        let url = redact_url(response.url().as_str()).into_owned();
        let body = response
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
    }

    /// Sends `request`; an answer with an error status becomes a [`ClientError`].
    pub(crate) async fn respond(
        &self,
        request: RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|source| {
            let url = source
                .url()
                .map_or_else(|| self.base_url(), |u| redact_url(u.as_str()).into_owned());
            ClientError::Unreachable { url, source }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = redact_url(response.url().as_str()).into_owned();
        let body = response.bytes().await.unwrap_or_default();
        Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) => ClientError::Api {
                status: status.as_u16(),
                code: error.error.code,
                message: error.error.message,
                details: error.error.details,
            },
            Err(_) => ClientError::Http {
                url,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body)
                    .chars()
                    .take(QUOTED_BODY)
                    .collect(),
            },
        })
    }
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base_url())
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_api_root_however_the_url_is_written() {
        for url in [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/",
            "http://127.0.0.1:8000/api/v1",
            " http://127.0.0.1:8000/api/v1/ ",
        ] {
            let client = ApiClient::new(url, None).unwrap();
            assert_eq!(client.base_url(), "http://127.0.0.1:8000/api/v1", "{url}");
        }
        let behind_a_proxy = ApiClient::new("http://gateway/ktrdr/", None).unwrap();
        assert_eq!(behind_a_proxy.base_url(), "http://gateway/ktrdr/api/v1");
        let request = behind_a_proxy
            .request(Method::GET, &["operations", "op a/b"])
            .build()
            .unwrap();
        assert_eq!(
            request.url().as_str(),
            "http://gateway/ktrdr/api/v1/operations/op%20a%2Fb"
        );
    }

    #[test]
    fn urls_it_cannot_use_are_refused_with_the_reason() {
        for (url, reason) in [
            ("https://host:8000", "no TLS"),
            ("ftp://host", "http://"),
            ("127.0.0.1:8000", ""),
            ("http://", ""),
        ] {
            let error = ApiClient::new(url, None).unwrap_err();
            assert!(
                matches!(error, ClientError::BadUrl { .. }),
                "{url}: {error:?}"
            );
            assert!(error.to_string().contains(reason), "{url}: {error}");
        }
        let error = ApiClient::new("https://me:secret@host", None).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn the_token_goes_in_the_header_and_nowhere_else() {
        let client = ApiClient::new("http://h:1", Some(" s3cret ")).unwrap();
        let request = client
            .request(Method::GET, &["operations"])
            .build()
            .unwrap();
        assert_eq!(
            request.headers()["authorization"].to_str().unwrap(),
            "Bearer s3cret"
        );
        assert!(!format!("{client:?}").contains("s3cret"));
        let anonymous = ApiClient::new("http://h:1", Some("")).unwrap();
        let request = anonymous.request(Method::GET, &["x"]).build().unwrap();
        assert!(request.headers().get("authorization").is_none());
    }
}

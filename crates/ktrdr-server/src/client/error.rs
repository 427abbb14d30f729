//! [`ClientError`]: why a call to the API failed, in words a person can act on.

use serde_json::Value;

/// A failed call to the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL cannot be used.
    #[error("bad server URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the ktrdr API at {url}: {source}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the request, in the API's error shape.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's error code (`OPERATIONS-NotFound`, …).
        code: String,
        /// The server's message.
        message: String,
        /// The server's details (the field at fault, the allowed values…).
        details: Value,
    },
    /// The server answered an error without the API's error shape (a proxy, another service on
    /// that port).
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer is not the shape this client knows.
    #[error("unexpected answer from {url}: {source}")]
    Decode {
        /// The URL called.
        url: String,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// An event stream stopped before its terminal event and could not be resumed.
    #[error("the event stream of {id} ended before the operation did ({reason})")]
    StreamEnded {
        /// The operation.
        id: String,
        /// Why the last connection ended.
        reason: String,
    },
}

impl ClientError {
    /// The HTTP status of an error answer (`None` for a transport or decoding failure).
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server does not know the thing asked for (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

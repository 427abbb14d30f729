//! The client of `/api/v1`, for the CLI (`ktrdr ops …`, `ktrdr data load --server`) and for
//! tests: [`ApiClient`] (reqwest, the bearer token of `KTRDR_API_TOKEN`, the server's error
//! messages as [`ClientError::Api`]) and [`OperationEvents`], an operation's event stream as
//! [`OperationEvent`](crate::api::wire::OperationEvent)s, reconnecting with `Last-Event-ID` when
//! the connection drops. Requests and answers are the server's own wire types
//! ([`crate::api::wire`]).
//!
//! ```no_run
//! use ktrdr_server::client::ApiClient;
//!
//! # async fn demo() -> Result<(), ktrdr_server::client::ClientError> {
//! let client = ApiClient::from_env("http://127.0.0.1:8000")?;
//! let mut events = client.events("op_data_load_20250101_000000_0123abcd").await?;
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     println!("{} {:.1}%", event.kind, event.operation.progress.percentage);
//! }
//! # Ok(()) }
//! ```

mod actions;
mod api_client;
mod error;
mod events;
mod sse;

pub use api_client::{ApiClient, URL_ENV};
pub use error::ClientError;
pub use events::OperationEvents;
pub use sse::{SseEvent, SseParser};

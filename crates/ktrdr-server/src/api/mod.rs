//! `ktrdr serve`: the `/api/v1` backend (`../shared/contracts/api-v1.md`) on the operations
//! kernel. Every route and JSON field of the Python backend, with its bugs fixed.
//!
//! - **State**: one [`ApiState`] per process: the operations runner (its registry is
//!   `$KTRDR_HOME/ktrdr.db`, shared with CLI processes) and one data manager (one provider
//!   connection, one pacing gate, shared by every load).
//! - **Handlers** take `State<ApiState>`, read bodies and queries with [`extract::ApiJson`] and
//!   [`extract::ApiQuery`] (whose rejections are in the error shape), make registry calls
//!   through [`ApiState::blocking`] (SQLite may wait on another process's lock), and answer
//!   `Json<Envelope<T>>` or an [`ApiError`]. Long work is always an operation started on the
//!   runner, never done inside a handler.
//! - **Errors**: [`ApiError`] carries a real status and the shape
//!   `{success: false, error: {code, message, details}}`; a 500 never shows its cause, which is
//!   logged with the request id ([`request_id`]).
//! - **Middleware**: request ids and one log line per request; CORS only when origins are
//!   configured; the bearer token of [`auth`] when `KTRDR_API_TOKEN` is set; per-route request
//!   counts and latency for [`metrics`] (served at `/metrics`).
//! - **OpenAPI**: each handler carries `#[utoipa::path]` and is listed in
//!   [`openapi::ApiDoc`]; wire types derive `ToSchema`. The served document is compared with the
//!   checked-in `docs/openapi.json` by a test.
//! - **Serving**: [`ApiServer::serve`] on the connection loop of [`crate::http`] (connection
//!   limit, header/idle and body timeouts, a 2 MiB body limit); [`orphans`] marks the
//!   operations of dead processes `interrupted` every few seconds; shutdown stops the runner
//!   (`Operations::shutdown`: cancel with reason `shutdown`, a grace, then abort).

pub mod auth;
mod chart_cache;
pub mod error;
pub mod extract;
mod follow;
pub mod gap_filler;
pub mod metrics;
pub mod openapi;
pub mod orphans;
pub mod request_id;
mod routes;
mod server;
mod state;
pub mod training;
pub mod wire;

pub use auth::ApiToken;
pub use error::ApiError;
pub use gap_filler::GapFillerControl;
pub use server::{ApiConfig, ApiServer};
pub use state::{ApiState, DEFAULT_MODELS_DIR, DEFAULT_STRATEGIES_DIR};

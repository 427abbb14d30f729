//! `ktrdr training-host-service`: a server of the Python training host service's protocol
//! (spec §4.1, port 5002) that runs the real pipeline — the strategy file, the requested
//! symbols, timeframes and dates, the models saved — where the Python service trained a fixed
//! toy network on made-up features and saved nothing.
//!
//! Each session is a `training` operation of the service's own runner (recorded in its
//! registry, with the same progress, ETA and cancel as a local training), and its session id is
//! that operation's id. One session runs at a time, as in the Python service: a GPU box trains
//! one model at once. `POST /training/stop` cancels the session and answers once it has stopped,
//! with the best checkpoint kept for a `resume`; the Python service waited up to 30 s and then
//! abandoned the thread.
//!
//! Statuses: `initializing` (preparing data and features), `running`, `completed`, `failed`,
//! `stopped` (cancelled, by a stop or a shutdown). Refusals are FastAPI's `{detail}` with a
//! real status: 400 for a bad request (the strategy's problems listed), 404 for an unknown
//! session, 409 while another session runs.

mod routes;
mod service;
mod sessions;

pub use service::TrainingHostService;

//! The gap filler (the Python system's `GapFillerService`): a background service that keeps the
//! recent end of every stored series complete.
//!
//! Each cycle ([`GapFiller::run_once`]) scans the stored series the
//! [`GapFillerConfig`] selects: the gap analysis a tail load would make of the recent window
//! (the last [`recent`](GapFillerConfig::recent), from the series' first bar if later, to the
//! last complete bar), classified against the exchange calendar. Only missing in-session bars
//! are filled; weekend, holiday and outside-hours intervals are counted by class and left
//! alone. A series whose last bar is older than the window is *stale* and left to an explicit
//! backfill. For each series with missing bars the cycle starts an ordinary `tail` load from
//! the first missing bar through the shared [`DataManager`](crate::manager::DataManager) and
//! [`Operations`](ktrdr_ops::operations::Operations) runner, so it is paced by the connection's
//! gate and recorded in the registry like any other load (its metadata says
//! `"started_by": "gap_filler"`). It stops starting loads when
//!
//! - the cycle's [`request_budget`](GapFillerConfig::request_budget) is spent (a load that
//!   needs more is cut to its newest bars; the rest is for the next cycle, and the next cycle
//!   serves the series after the last one served, so every series gets its turn),
//! - the pacing gate would hold a request longer than
//!   [`max_gate_wait`](GapFillerConfig::max_gate_wait) (the user's loads come first),
//! - a load met a pacing error: the service then waits twice as long before its next cycle,
//!   and twice again while errors continue, up to [`max_backoff`](GapFillerConfig::max_backoff).
//!
//! A hole a load asked for and the source had no bar for (a halt, a gap in the broker's own
//! data) is not asked for again for [`recheck_empty`](GapFillerConfig::recheck_empty), unless
//! the series' missing bars change; the Python service retried such holes every cycle.
//!
//! [`GapFiller::spawn`] runs cycles on the interval until its
//! [`Shutdown`](ktrdr_ops::service::Shutdown) fires. Stopping the service is not a user's
//! cancel: the load in flight is cancelled with
//! [`CancelReason::Shutdown`](ktrdr_ops::cancel::CancelReason::Shutdown) and recorded so. The
//! Python service's loop never scanned (it checked an attribute that did not exist), its manual
//! mode disabled its forced scan, and it matched error texts for "pacing"; here a cycle is a
//! function that tests run, and pacing errors are counted by the gate.
//!
//! ```
//! use std::sync::Arc;
//! use ktrdr_data::gap_filler::{GapFiller, GapFillerConfig};
//! use ktrdr_data::manager::DataManager;
//! use ktrdr_data::provider::sim::SimProvider;
//! use ktrdr_ops::operations::Operations;
//! use ktrdr_ops::registry::MemoryRegistry;
//! use ktrdr_ops::service::Shutdown;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let manager = DataManager::builder()
//!     .data_dir(dir.path())
//!     .provider(Arc::new(SimProvider::new(Default::default())?))
//!     .build()?;
//! let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
//! let filler = GapFiller::new(manager, ops, GapFillerConfig::default())?;
//! let (_keep, shutdown) = Shutdown::channel();
//! let report = filler.run_once(&shutdown).await;
//! assert_eq!(report.series_scanned, 0, "an empty store has nothing to fill");
//! # Ok(()) }
//! ```

mod config;
mod cycle;
mod filler;
mod report;
mod scan;
mod service;
mod stats;

pub use config::{GapFillerConfig, InvalidConfig};
pub use cycle::STARTED_BY;
pub use filler::{GapFiller, GapFillerError};
pub use report::{CycleEnd, CycleLoad, CycleReport};
pub use scan::KindCounts;
pub use service::{GapFillerHandle, SERVICE_NAME};
pub use stats::{GapFillerStats, RECENT_ERRORS};

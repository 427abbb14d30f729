//! The DataManager: loads a series from a provider into the local store, as an operation with a
//! declared step plan, live progress, retries, pacing and a prompt cancel that keeps every
//! fetched bar (the Python `DataManager`, `DataLoadingOrchestrator` and `SegmentManager`).
//!
//! A load goes through the steps of [`DataManager::plan`]:
//!
//! 1. **Validate symbol**: the provider knows the symbol; its head timestamp (earliest bar).
//! 2. **Plan range**: the mode's window ([`LoadMode`](crate::types::LoadMode)), the user's bounds, clamped to the head
//!    timestamp and to complete bars.
//! 3. **Read local data**: the stored series.
//! 4. **Analyse gaps**: the exchange calendar's expected bars missing from the store, as the
//!    timestamp ranges those bars would carry (see `targets`).
//! 5. **Plan requests**: the minimal set of requests under the provider's span limit.
//! 6. **Fetch segments**: several requests in flight as the pacing gate allows, each retried
//!    per [`RetryPolicy`], each reported (segment k/n, bars) after it lands and saved to the
//!    store in plan order through its atomic merge, so a crash or a cancel keeps every bar.
//! 7. **Merge and save**: whatever landed out of order is saved; the counts are final.
//!
//! Because the gaps are computed against the store, a load that was cancelled, failed or
//! crashed is resumed by running it again: only what is still missing is requested.
//!
//! ```
//! use std::sync::Arc;
//! use ktrdr_data::manager::{DataManager, LoadRequest};
//! use ktrdr_data::types::LoadMode;
//! use ktrdr_data::provider::sim::{SimConfig, SimProvider};
//! use ktrdr_ops::cancel::CancellationToken;
//! use ktrdr_ops::progress::ProgressHandle;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let now = 1_735_689_600; // 2025-01-01
//! let sim = SimProvider::new(SimConfig { now: Some(now), ..SimConfig::default() })?;
//! let manager = DataManager::builder()
//!     .data_dir(dir.path())
//!     .provider(Arc::new(sim))
//!     .now(now)
//!     .build()?;
//! // The first week of December 2024.
//! let request = LoadRequest::new("AAPL".parse()?, "1h".parse()?, LoadMode::Full)
//!     .with_start(1_733_011_200)
//!     .with_end(1_733_615_999);
//! let progress = ProgressHandle::new("load-1", DataManager::plan(LoadMode::Full));
//! let summary = manager.load(&request, &CancellationToken::new(), &progress).await?;
//! assert_eq!(summary.bars_new, 5 * 7); // five sessions of seven 1h bars
//! assert_eq!(summary.requests_sent, 1);
//! # Ok(())
//! # }
//! ```

mod builder;
mod data_manager;
mod error;
mod eta;
mod fetch;
mod mode;
pub mod multi_timeframe;
mod retry;
mod run;
mod screen;
mod stats;
mod summary;
mod targets;
mod window;

pub use builder::{BuildError, DataManagerBuilder, DEFAULT_MAX_IN_FLIGHT};
pub(crate) use data_manager::failure;
pub use data_manager::DataManager;
pub use error::LoadError;
pub use mode::LoadRequest;
pub use retry::RetryPolicy;
pub use stats::ManagerStats;
pub use summary::{LoadSummary, SegmentFailure};
pub(crate) use targets::missing_bar_ranges;

/// The operation type recorded in the registry for a load.
pub const OPERATION_KIND: &str = "data_load";

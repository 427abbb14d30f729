//! Learned time estimation.
//!
//! A [`TimeEstimator`] per operation run turns progress into an [`Eta`] with a range, blending
//! the live rate with a [`Prior`] learned from earlier runs of the same kind ([`EtaKey`]). The
//! priors come from an [`EtaHistory`]: [`SqliteEtaHistory`] (table `eta_history` in the kernel's
//! database) or [`MemoryEtaHistory`]; recording a run prunes its key to the newest
//! [`DEFAULT_KEEP`]. [`import_legacy`] brings in the Python system's pickle caches, every record
//! once however often the files are imported or rewritten, none dropped by that limit.
//!
//! ```
//! use std::time::Duration;
//! use ktrdr_ops::eta::{DurationRecord, EtaHistory, EtaKey, MemoryEtaHistory, TimeEstimator};
//!
//! let history = MemoryEtaHistory::new();
//! let key = EtaKey::new("data_load")?.with_symbol("AAPL")?.with_items(5_000);
//! for secs in [41.0, 44.0, 43.0] {
//!     history.record(&key, DurationRecord::now(secs))?;
//! }
//! let mut est = TimeEstimator::new(history.prior(&key)?);
//! est.observe(Duration::from_secs(10), 0.25);
//! let eta = est.estimate(Duration::from_secs(10)).expect("history gives an estimate");
//! assert!(eta.low_secs <= eta.remaining_secs && eta.remaining_secs <= eta.high_secs);
//! # Ok::<(), ktrdr_ops::eta::EtaError>(())
//! ```

mod error;
mod estimator;
mod history;
mod key;
mod legacy;
pub mod pickle;
mod prior;
mod sqlite;

pub use error::EtaError;
pub use estimator::{Eta, TimeEstimator};
pub use history::{DurationRecord, EtaHistory, MemoryEtaHistory, DEFAULT_KEEP};
pub use key::{EtaKey, SizeBucket, MODE, SIZE, SYMBOL, TIMEFRAME};
pub use legacy::{
    default_legacy_dir, import_legacy, CorruptCache, ImportReport, ImportedCache, LegacyCache,
    LegacyRecord, LegacyTimestamp, LEGACY_CONTEXT_FIELD,
};
pub use prior::Prior;
pub use sqlite::SqliteEtaHistory;

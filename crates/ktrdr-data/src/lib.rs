//! The ktrdr market-data domain: bars, the local store, exchange calendars, validation, gap
//! analysis and request planning. Builds on [`ktrdr_ops`] for operations.

pub mod calendar;
pub mod gap_filler;
pub mod gaps;
pub mod manager;
pub mod pacing;
pub mod planner;
pub mod provider;
pub mod render;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod types;
pub mod validate;

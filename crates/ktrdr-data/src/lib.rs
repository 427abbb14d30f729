//! The ktrdr market-data domain: bars, the local store, exchange calendars, validation, gap
//! analysis and request planning. Builds on [`ktrdr_ops`] for operations.

pub mod calendar;
pub mod gaps;
pub mod manager;
pub mod pacing;
pub mod planner;
pub mod provider;
pub mod render;
pub mod store;
pub mod types;
pub mod validate;

//! The training domain's pure functions: technical indicators computed column-wise over a
//! [`ktrdr_data::types::BarSeries`], fuzzy membership functions, and zigzag labels. Nothing here
//! does I/O or knows about operations; `ktrdr-train` composes these into features.
//!
//! - [`registry`]: the one list of indicators (names, aliases, parameters, columns).
//! - [`spec`]: [`IndicatorSpec`] / [`Indicator`], parsed from a strategy entry or a command-line
//!   argument and validated; [`Indicator::compute`] returns named columns.
//! - [`kernels`]: rolling windows and exponential smoothers over slices.
//! - [`fuzzy`]: [`MembershipFunction`], the fuzzy sets.
//! - [`labels`]: zigzag extremes and [`Signal`] labels.
//!
//! ```
//! use ktrdr_data::types::{Bar, BarSeries};
//! use ktrdr_indicators::IndicatorSpec;
//! let bars = BarSeries::from_bars((0..30).map(|i| {
//!     let close = 100.0 + (i % 7) as f64;
//!     Bar { ts: i * 60, open: close, high: close + 1.0, low: close - 1.0, close, volume: 1.0 }
//! })).unwrap();
//! let spec = IndicatorSpec::parse_cli("rsi:period=14").unwrap();
//! let out = spec.indicator.compute(&bars);
//! let rsi = out.column("rsi_14").unwrap();
//! assert!(rsi[13].is_nan() && rsi[14].is_finite()); // warm-up is NaN
//! ```

mod compute;
mod error;
mod fast;
pub mod fuzzy;
pub mod kernels;
pub mod labels;
mod output;
pub mod params;
pub mod registry;
pub mod spec;

pub use error::SpecError;
pub use fuzzy::{FuzzyError, MembershipFunction};
pub use labels::{Signal, ZigZagLabeler};
pub use output::{Column, IndicatorOutput};
pub use params::{ParamValue, Source};
pub use registry::IndicatorKind;
pub use spec::{Indicator, IndicatorEntry, IndicatorSpec};

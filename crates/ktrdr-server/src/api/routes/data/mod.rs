//! `/symbols`, `/timeframes` and `/data/…`: the local bar store, and loads into it.
//!
//! Reads of the store (a decade of bars is a few hundred milliseconds of parsing) and gap
//! analysis run on the blocking pool ([`params::off_runtime`]), never on the runtime's workers; loads
//! are operations on the runner ([`load`]).

mod answer;
pub(crate) mod bars;
pub(crate) mod candles;
pub(crate) mod catalog;
mod failure;
pub(crate) mod gaps;
pub(crate) mod load;
pub(crate) mod operation;
mod params;
mod resolution;

pub(crate) use params::{
    date_bounds, no_series, off_runtime, parse_symbol, parse_timeframe, python_time, store_error,
};

//! The vocabulary of the data domain: [`Symbol`], [`Timeframe`], [`Bar`], the columnar
//! [`BarSeries`], [`TimeRange`], and UTC timestamps as unix seconds ([`parse_timestamp`],
//! [`format_timestamp`]).

mod bar;
mod load_mode;
mod range;
mod series;
mod symbol;
pub(crate) mod time;
mod timeframe;

pub use bar::Bar;
pub use load_mode::{LoadMode, UnknownMode};
pub use range::{InvalidRange, TimeRange};
pub use series::{kept_duplicate, BarSeries, MergeStats, OrderReport, SeriesError};
pub use symbol::{Symbol, SymbolError};
pub use time::{
    format_timestamp, format_timestamp_human, parse_timestamp, parse_window_end, TimestampError,
};
pub use timeframe::{Timeframe, TimeframeError};

//! Exchange calendars: when a market trades, in UTC unix seconds.
//!
//! Four calendars, each computed from rules (never from a copied table) and cached per year:
//!
//! | calendar | sessions | extended hours |
//! |---|---|---|
//! | `XNYS`, `XNAS` | 09:30–16:00 New York, 13:00 on early-close days (14:00 before 1993); NYSE holidays and one-off closures; 1980 onward | 04:00–20:00 New York (17:00 on early-close days) |
//! | `FX` | 24x5, Sunday 17:00 to Friday 17:00 New York; the session dated `D` runs from 17:00 on the day before `D` to 17:00 on `D` | same as regular |
//! | `CRYPTO` | 24x7, one session per UTC day | same as regular |
//!
//! The US equity sessions reproduce `exchange_calendars` 4.13 row for row for 1980–2030 (tested
//! against `../shared/data/calendars/` for 2000–2030 and `tests/data/calendars/` for
//! 1980–1999); years from 2031 follow the same rules, so a future one-off closure (a state
//! funeral) appears only once it is added to the list in `us_equity.rs`.
//!
//! ```
//! use chrono::NaiveDate;
//! use ktrdr_data::calendar::{Calendar, Closed, SessionHours};
//!
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let xnys: Calendar = "XNYS".parse()?;
//! let week: Vec<_> = xnys
//!     .sessions(d("2024-12-23"), d("2024-12-27"), SessionHours::Regular)?
//!     .collect();
//! assert_eq!(week.len(), 4); // Christmas Day is a holiday
//! assert!(week[1].early_close); // Christmas Eve closes at 13:00
//!
//! let christmas_noon = 1_735_146_000; // 2024-12-25 12:00 New York
//! assert!(!xnys.is_open(christmas_noon, SessionHours::Regular)?);
//! assert_eq!(
//!     xnys.closure_kind(christmas_noon, SessionHours::Regular)?,
//!     Some(Closed::Holiday)
//! );
//! # Ok::<(), ktrdr_data::calendar::CalendarError>(())
//! ```

mod crypto;
mod day;
mod export;
mod fx;
mod local_time;
mod mapping;
mod query;
mod rules;
mod table;
mod types;
mod us_equity;

pub use export::{format_utc, write_sessions_csv, CSV_HEADER};
pub use mapping::{CalendarConfigError, CalendarMap, MappingRule, CONFIG_FILE};
pub use query::Sessions;
pub use types::{Calendar, CalendarError, Closed, Session, SessionHours};

pub(crate) use local_time::{midnight, utc_date};

//! Sessions as CSV, in exactly the format of the `exchange_calendars` reference files
//! (`../shared/data/calendars/`), so any output can be diffed against any reference.

use std::io::{self, Write};

use chrono::DateTime;

use super::Session;

/// The header line of a sessions CSV.
pub const CSV_HEADER: &str = "session,open_utc,close_utc";

/// `2000-01-03T14:30:00Z`: RFC 3339, UTC, whole seconds, `Z` suffix. `None` beyond chrono's range.
pub fn format_utc(ts: i64) -> Option<String> {
    DateTime::from_timestamp(ts, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Writes [`CSV_HEADER`] and one `date,open,close` line per session, `\n`-terminated.
pub fn write_sessions_csv<W: Write>(
    mut out: W,
    sessions: impl IntoIterator<Item = Session>,
) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for s in sessions {
        let (Some(open), Some(close)) = (
            DateTime::from_timestamp(s.open, 0),
            DateTime::from_timestamp(s.close, 0),
        ) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "session {} has an instant beyond the representable range",
                    s.date
                ),
            ));
        };
        writeln!(
            out,
            "{},{},{}",
            s.date,
            open.format("%Y-%m-%dT%H:%M:%SZ"),
            close.format("%Y-%m-%dT%H:%M:%SZ")
        )?;
    }
    out.flush()
}

//! [`TimeRange`]: a closed range of unix seconds, the range of a provider request.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::format_timestamp;

/// A range that cannot be a [`TimeRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRange {
    /// `start > end`.
    #[error("time range starts after it ends ({} > {})", format_timestamp(*start), format_timestamp(*end))]
    Reversed {
        /// The first second asked for.
        start: i64,
        /// The last second asked for.
        end: i64,
    },
    /// A half-open range with `start >= end`.
    #[error("time range [{}, {}) is empty", format_timestamp(*start), format_timestamp(*end))]
    Empty {
        /// The first second asked for.
        start: i64,
        /// The first second after the range.
        end: i64,
    },
}

/// A closed range of unix seconds `[start, end]`, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRange")]
pub struct TimeRange {
    start: i64,
    end: i64,
}

#[derive(Deserialize)]
struct RawRange {
    start: i64,
    end: i64,
}

impl TryFrom<RawRange> for TimeRange {
    type Error = InvalidRange;
    fn try_from(r: RawRange) -> Result<Self, InvalidRange> {
        TimeRange::new(r.start, r.end)
    }
}

impl TimeRange {
    /// `[start, end]`.
    ///
    /// # Errors
    ///
    /// [`InvalidRange`] if `start > end`.
    pub fn new(start: i64, end: i64) -> Result<Self, InvalidRange> {
        if start > end {
            return Err(InvalidRange::Reversed { start, end });
        }
        Ok(TimeRange { start, end })
    }

    /// The closed range of the half-open `[start, end)` (the planner's requests): `[start,
    /// end - 1]`, since timestamps are whole seconds.
    ///
    /// # Errors
    ///
    /// [`InvalidRange`] if the range is empty (`start >= end`).
    pub fn half_open(start: i64, end: i64) -> Result<Self, InvalidRange> {
        if start >= end {
            return Err(InvalidRange::Empty { start, end });
        }
        Self::new(start, end - 1)
    }

    /// First second of the range.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Last second of the range (inclusive).
    pub fn end(&self) -> i64 {
        self.end
    }

    /// `end - start`, in seconds.
    pub fn span(&self) -> i64 {
        self.end - self.start
    }

    /// `start <= ts <= end`.
    pub fn contains(&self, ts: i64) -> bool {
        self.start <= ts && ts <= self.end
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}]",
            format_timestamp(self.start),
            format_timestamp(self.end)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range_rejects_reversed_bounds_and_reads_back_from_json() {
        let e = TimeRange::new(10, 9).unwrap_err();
        assert!(e.to_string().contains("starts after it ends"), "{e}");

        let r: TimeRange = serde_json::from_str(r#"{"start":5,"end":7}"#).unwrap();
        assert_eq!((r.start(), r.end(), r.span()), (5, 7, 2));
        assert!(r.contains(5) && r.contains(7) && !r.contains(8));
        assert!(serde_json::from_str::<TimeRange>(r#"{"start":8,"end":7}"#).is_err());

        let h = TimeRange::half_open(0, 3600).unwrap();
        assert_eq!((h.start(), h.end()), (0, 3599));
        assert!(matches!(
            TimeRange::half_open(5, 5),
            Err(InvalidRange::Empty { .. })
        ));
    }
}

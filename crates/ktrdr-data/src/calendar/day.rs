//! One trading day as the rule sets build it: both of its sessions, in unix seconds.

use chrono::NaiveDate;

use super::{Session, SessionHours};

/// One trading day with both of its sessions, as unix seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Day {
    pub(crate) date: NaiveDate,
    pub(crate) open: i64,
    pub(crate) close: i64,
    pub(crate) ext_open: i64,
    pub(crate) ext_close: i64,
    pub(crate) early_close: bool,
}

impl Day {
    pub(crate) fn open(&self, hours: SessionHours) -> i64 {
        match hours {
            SessionHours::Regular => self.open,
            SessionHours::Extended => self.ext_open,
        }
    }

    pub(crate) fn close(&self, hours: SessionHours) -> i64 {
        match hours {
            SessionHours::Regular => self.close,
            SessionHours::Extended => self.ext_close,
        }
    }

    pub(crate) fn session(&self, hours: SessionHours) -> Session {
        Session {
            date: self.date,
            open: self.open(hours),
            close: self.close(hours),
            early_close: self.early_close,
        }
    }
}

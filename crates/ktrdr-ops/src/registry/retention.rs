//! How long finished operations are kept before [`Registry::cleanup`](super::Registry::cleanup)
//! deletes them.

use std::num::NonZeroU32;
use std::time::Duration;

use super::RegistryError;

/// The environment variable that sets the retention, in whole days; `0` keeps everything.
pub const RETENTION_ENV: &str = "KTRDR_OPERATIONS_RETENTION_DAYS";

/// How long terminal operations are kept. Active operations are never deleted, whatever
/// their age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Keep every operation.
    Forever,
    /// Delete terminal operations that finished at least this many days ago.
    Days(NonZeroU32),
}

impl Retention {
    /// 90 days: a quarter of history to look back on, while the (unindexed) table stays small
    /// enough to scan.
    pub const DEFAULT: Retention = match NonZeroU32::new(90) {
        Some(days) => Retention::Days(days),
        None => Retention::Forever,
    };

    /// `days` days; `0` keeps everything.
    pub fn days(days: u32) -> Retention {
        NonZeroU32::new(days).map_or(Retention::Forever, Retention::Days)
    }

    /// The retention set by [`RETENTION_ENV`], [`Retention::DEFAULT`] when unset or empty.
    pub fn from_env() -> Result<Retention, RegistryError> {
        match std::env::var_os(RETENTION_ENV) {
            None => Ok(Retention::DEFAULT),
            Some(value) => match value.to_str() {
                Some(text) => Retention::parse_days(Some(text)),
                None => Err(RegistryError::BadRetention {
                    value: value.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".to_owned(),
                }),
            },
        }
    }

    /// Reads a value of [`RETENTION_ENV`] (`None` when unset): a whole number of days, `0` for
    /// forever; unset or blank gives [`Retention::DEFAULT`].
    pub fn parse_days(value: Option<&str>) -> Result<Retention, RegistryError> {
        let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Retention::DEFAULT);
        };
        text.parse::<u32>()
            .map(Retention::days)
            .map_err(|e| RegistryError::BadRetention {
                value: text.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The age from which a finished operation is deleted; `None` keeps everything.
    pub(super) fn max_age(self) -> Option<Duration> {
        match self {
            Retention::Forever => None,
            Retention::Days(days) => Some(Duration::from_secs(u64::from(days.get()) * 86_400)),
        }
    }
}

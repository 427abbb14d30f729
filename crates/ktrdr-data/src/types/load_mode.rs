//! [`LoadMode`]: what a load of a series does.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a load fills the store.
///
/// | mode | default window | fetches |
/// |---|---|---|
/// | `local` | the stored series | nothing: reads the store only, needs no provider |
/// | `tail` | last stored bar (or 30 days ago) → now | what is missing, newest first |
/// | `backfill` | head timestamp → first stored bar (or now) | what is missing, oldest first |
/// | `full` | head timestamp → now | every gap, oldest first |
///
/// `--start`/`--end` override the defaults; in every mode the start is clamped to the
/// provider's head timestamp and only complete bars are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// Read the local store only.
    Local,
    /// Bring the series up to now.
    Tail,
    /// Extend the series back in time.
    Backfill,
    /// Fill every gap between the head timestamp and now.
    Full,
}

impl LoadMode {
    /// Every mode, in the order shown to users.
    pub const ALL: [LoadMode; 4] = [
        LoadMode::Local,
        LoadMode::Tail,
        LoadMode::Backfill,
        LoadMode::Full,
    ];

    /// The lowercase name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Local => "local",
            LoadMode::Tail => "tail",
            LoadMode::Backfill => "backfill",
            LoadMode::Full => "full",
        }
    }

    /// True for the modes that fetch from a provider.
    pub fn fetches(self) -> bool {
        self != LoadMode::Local
    }
}

impl fmt::Display for LoadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A load mode that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown load mode {input:?}; expected one of: local, tail, backfill, full")]
pub struct UnknownMode {
    /// What was given.
    pub input: String,
}

impl FromStr for LoadMode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        let t = s.trim();
        LoadMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownMode {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_case_insensitively_and_name_the_choices_on_error() {
        assert_eq!("Tail".parse::<LoadMode>(), Ok(LoadMode::Tail));
        assert_eq!(" full ".parse::<LoadMode>(), Ok(LoadMode::Full));
        let e = "latest".parse::<LoadMode>().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"unknown load mode "latest"; expected one of: local, tail, backfill, full"#
        );
        for m in LoadMode::ALL {
            assert_eq!(m.as_str().parse::<LoadMode>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!(!LoadMode::Local.fetches() && LoadMode::Backfill.fetches());
    }
}

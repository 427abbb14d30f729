//! What validating a strategy file found: errors that stop it from being used and notes about
//! keys that training reads but does not act on.

use std::fmt;
use std::path::PathBuf;

/// One finding, tied to the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Key path in the file (`indicators[2].period`, `fuzzy_sets.rsi.oversold.parameters`);
    /// empty for the document itself.
    pub path: String,
    /// 1-based line in the file, when the YAML parser reported one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong, or what is worth knowing, and what is allowed instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (_, Some(line)) if self.path.is_empty() => write!(f, "line {line}: {}", self.message),
            (_, Some(line)) => write!(f, "{} (line {line}): {}", self.path, self.message),
            (true, None) => f.write_str(&self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Every error and note found in one strategy file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Problems that make the file unusable; each is reported, not only the first.
    pub errors: Vec<Problem>,
    /// Keys accepted but not acted on by training, and defaults worth knowing.
    pub notes: Vec<Problem>,
}

impl Report {
    /// Records an error at `path`.
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem {
            path: path.into(),
            line: None,
            message: message.into(),
        });
    }

    /// Records a note at `path`.
    pub fn note(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.notes.push(Problem {
            path: path.into(),
            line: None,
            message: message.into(),
        });
    }

    /// Whether the file is usable.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Why a strategy file could not be turned into a [`crate::strategy::Strategy`].
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The file could not be read.
    #[error("cannot read strategy file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid strategy; every problem is listed.
    #[error("strategy file {} is invalid:\n{}", path.display(), list(&report.errors))]
    Invalid {
        /// The file (or `<input>` for text not read from a file).
        path: PathBuf,
        /// Every error and note found.
        report: Report,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

use std::io;
use std::path::PathBuf;

use crate::types::{Symbol, Timeframe};

/// Everything the [`BarStore`](super::BarStore) can fail with. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No file for this series.
    #[error("no data for {symbol} {timeframe}: {} does not exist; {}", path.display(), available_text(symbol, available))]
    NotFound {
        /// The requested symbol.
        symbol: Symbol,
        /// The requested timeframe.
        timeframe: Timeframe,
        /// Where we looked.
        path: PathBuf,
        /// The timeframes that do exist for this symbol in the same directory.
        available: Vec<Timeframe>,
    },
    /// The header line is missing a required column or is otherwise unusable.
    #[error("{}:1: bad header: {reason}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data row could not be read. Nothing is guessed: the whole load fails.
    #[error("{}:{line}: field '{field}': {reason} (found {value:?})", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// The column name.
        field: &'static str,
        /// The offending text (cut to 64 characters).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An I/O failure.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing (`read`, `write`, `lock`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn available_text(symbol: &Symbol, available: &[Timeframe]) -> String {
    if available.is_empty() {
        format!("there are no files for {symbol} in that directory")
    } else {
        let list: Vec<&str> = available.iter().map(|t| t.as_str()).collect();
        format!("{symbol} exists there for: {}", list.join(", "))
    }
}

impl StoreError {
    /// True when the series file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// True for a malformed file (header or row).
    pub fn is_format(&self) -> bool {
        matches!(self, StoreError::Header { .. } | StoreError::Parse { .. })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}

use std::io;
use std::path::{Path, PathBuf};

use crate::types::{Symbol, Timeframe};

/// Everything the [`BarStore`](super::BarStore) can fail with. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No file for this series.
    #[error("no data for {symbol} {timeframe}: {} does not exist; {}", path.display(), available_text(symbol, path, available, near_misses))]
    NotFound {
        /// The requested symbol.
        symbol: Symbol,
        /// The requested timeframe.
        timeframe: Timeframe,
        /// Where we looked.
        path: PathBuf,
        /// The timeframes that do exist for this symbol in the same directory (files the store
        /// would open, nothing else).
        available: Vec<Timeframe>,
        /// Files in that directory named like this series but not exactly as the store names
        /// it (`msft_1h.csv`, `MSFT_60m.csv`), which the store does not read.
        near_misses: Vec<String>,
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
    /// The series path is not a regular file or a symlink to one (a FIFO, a socket, a
    /// directory, a dangling link); it is not opened.
    #[error("{}: is {what}, not a regular file; a series file must be a regular file or a symlink to one", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a symlink to X, which does not exist`).
        what: String,
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

fn available_text(
    symbol: &Symbol,
    path: &Path,
    available: &[Timeframe],
    near_misses: &[String],
) -> String {
    let mut parts = Vec::new();
    if !available.is_empty() {
        let list: Vec<&str> = available.iter().map(|t| t.as_str()).collect();
        parts.push(format!("{symbol} exists there for: {}", list.join(", ")));
    }
    if !near_misses.is_empty() {
        let wanted = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let verb = if near_misses.len() == 1 { "is" } else { "are" };
        parts.push(format!(
            "{} {verb} there but the store reads only {wanted}",
            join_and(near_misses)
        ));
    }
    if parts.is_empty() {
        parts.push(format!("there are no files for {symbol} in that directory"));
    }
    parts.join("; ")
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
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

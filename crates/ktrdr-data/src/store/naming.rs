//! Series file names: `{SYMBOL}_{TF}.csv`, its look-alikes, and resolving a path to compare it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::types::{Symbol, Timeframe};

/// The file name of a series: `{SYMBOL}_{TF}.csv`.
pub(super) fn file_name(symbol: &Symbol, tf: Timeframe) -> String {
    format!("{symbol}_{tf}.csv")
}

/// `path` with every symlink and `..` resolved; for a file that does not exist (yet), its
/// resolved directory joined with its name. `None` when not even the directory exists.
pub(super) fn resolve(path: &Path) -> Option<PathBuf> {
    fs::canonicalize(path).ok().or_else(|| {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Some(fs::canonicalize(dir).ok()?.join(path.file_name()?))
    })
}

/// Any spelling of a series file name: `MSFT_1h.csv`, `msft_60m.csv` → (MSFT, 1h). Splits at the
/// last `_` (a timeframe never contains one). The store reads only the exact [`file_name`]
/// spelling; the others are near misses, named when a series is not found.
pub(super) fn parse_file_name(name: &str) -> Option<(Symbol, Timeframe)> {
    let stem = name.strip_suffix(".csv")?;
    let (sym, tf) = stem.rsplit_once('_')?;
    Some((Symbol::new(sym).ok()?, tf.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_at_the_last_underscore() {
        let (s, tf) = parse_file_name("BTC_USD_1h.csv").unwrap();
        assert_eq!((s.as_str(), tf), ("BTC_USD", Timeframe::H1));
        assert!(parse_file_name("MSFT_1h.csv.lock").is_none());
        assert!(parse_file_name(".MSFT_1h.csv.tmp-1-2").is_none());
        assert!(parse_file_name("MSFT_3h.csv").is_none());
        assert!(parse_file_name("README.md").is_none());
    }
}

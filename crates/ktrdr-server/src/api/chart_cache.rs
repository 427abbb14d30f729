//! [`ChartCache`]: the last series a chart read, parsed and validated, so that panning and
//! zooming over it (a request per move, `GET /data/{symbol}/{tf}/candles`) re-reads nothing
//! while its file is unchanged.
//!
//! One series only: a chart shows one at a time, and a decade of minute bars is tens of
//! megabytes. The key is the file's path, length and modification time (nanoseconds where the
//! file system keeps them): a save (a rename onto the path, or an append) changes them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use ktrdr_data::calendar::SessionHours;
use ktrdr_data::types::BarSeries;
use ktrdr_data::validate::ValidationReport;

use super::error::ApiError;

/// A series as the chart route needs it.
#[derive(Debug)]
pub(crate) struct ChartSeries {
    /// The bars (unreadable rows skipped).
    pub(crate) series: BarSeries,
    /// Its validation, `None` when the calendar cannot judge it.
    pub(crate) report: Option<ValidationReport>,
    /// The session hours its bars show, or why the calendar cannot tell.
    pub(crate) hours: Result<SessionHours, String>,
}

#[derive(Debug, Clone, PartialEq)]
struct FileKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileKey {
    fn of(path: &Path) -> Option<FileKey> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(FileKey {
            path: path.to_owned(),
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// The last series read for a chart.
#[derive(Debug, Default)]
pub struct ChartCache {
    last: Mutex<Option<(FileKey, Arc<ChartSeries>)>>,
}

impl ChartCache {
    /// The series stored at `path`: the cached one while the file is unchanged, else what
    /// `load` reads (kept for the next call). A file that cannot be looked at is not cached.
    pub(crate) fn get_or_load(
        &self,
        path: &Path,
        load: impl FnOnce() -> Result<ChartSeries, ApiError>,
    ) -> Result<Arc<ChartSeries>, ApiError> {
        let key = FileKey::of(path);
        if let Some(key) = &key {
            let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((cached, series)) = last.as_ref() {
                if cached == key {
                    return Ok(Arc::clone(series));
                }
            }
        }
        // Read without the lock: a read takes long, and another chart's read need not wait.
        let series = Arc::new(load()?);
        if let Some(key) = key {
            *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((key, Arc::clone(&series)));
        }
        Ok(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::types::Bar;
    use std::cell::Cell;

    fn series(bars: usize) -> ChartSeries {
        let bars = (0..bars).map(|i| Bar {
            ts: i as i64 * 60,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        });
        ChartSeries {
            series: BarSeries::from_bars(bars).unwrap(),
            report: None,
            hours: Ok(SessionHours::Regular),
        }
    }

    #[test]
    fn an_unchanged_file_is_read_once_and_a_changed_one_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("AAPL_1m.csv");
        std::fs::write(&path, "one").unwrap();
        let cache = ChartCache::default();
        let reads = Cell::new(0);
        let read = |bars| {
            reads.set(reads.get() + 1);
            Ok(series(bars))
        };
        assert_eq!(
            cache.get_or_load(&path, || read(1)).unwrap().series.len(),
            1
        );
        assert_eq!(
            cache.get_or_load(&path, || read(2)).unwrap().series.len(),
            1
        );
        assert_eq!(reads.get(), 1);
        std::fs::write(&path, "one more").unwrap();
        assert_eq!(
            cache.get_or_load(&path, || read(3)).unwrap().series.len(),
            3
        );
        assert_eq!(reads.get(), 2);
        // A missing file is read (to answer its 404) and never cached.
        let gone = dir.path().join("MSFT_1m.csv");
        let missing = || Err(ApiError::not_found("DATA-NotFound", "no such series"));
        assert!(cache.get_or_load(&gone, missing).is_err());
        assert_eq!(
            cache.get_or_load(&path, || read(4)).unwrap().series.len(),
            3
        );
    }
}

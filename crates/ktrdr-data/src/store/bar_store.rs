//! [`BarStore`]: the store's API over one directory of series files. How a file's head and tail
//! are probed lives in [`super::tail`]; the format and the invariants are in the module docs of
//! [`super`].

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::csv_file::{parse_series, parse_series_lenient, read_image};
use super::error::StoreError;
use super::header::parse_header;
use super::lines::count_lines;
use super::lock::{self, SeriesLock};
use super::naming::{file_name, parse_file_name, resolve};
use super::parse::{estimate_rows, parse_rows_lenient, RowSink, SkippedRow};
use super::reports::{DateRange, RawSeries, SaveAction, SaveReport, SeriesInfo};
use super::tail::{appendable_tail, read_range};
use super::target::check_regular;
use super::write::{
    append_journaled, check_writable, read_journal, recover, replace_atomically, Sidecars,
};
use crate::types::{Bar, BarSeries, OrderReport, Symbol, Timeframe};

/// The local store of bar series.
///
/// ```
/// use ktrdr_data::store::BarStore;
/// use ktrdr_data::types::{Bar, BarSeries, Symbol, Timeframe};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = BarStore::new(dir.path());
/// let msft: Symbol = "MSFT".parse().unwrap();
/// let bars = BarSeries::from_bars([Bar { ts: 0, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 10.0 }]).unwrap();
/// let report = store.merge_and_save(&msft, Timeframe::H1, &bars).unwrap();
/// assert_eq!(report.added, 1);
/// assert_eq!(store.load(&msft, Timeframe::H1).unwrap(), bars);
/// ```
#[derive(Debug, Clone)]
pub struct BarStore {
    dir: PathBuf,
}

impl BarStore {
    /// The environment variable naming the data directory.
    pub const ENV_VAR: &'static str = "KTRDR_DATA_DIR";
    /// The directory used when [`Self::ENV_VAR`] is unset.
    pub const DEFAULT_DIR: &'static str = "./data";

    /// A store rooted at `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BarStore { dir: dir.into() }
    }

    /// A store at `$KTRDR_DATA_DIR`, or `./data`.
    pub fn from_env() -> Self {
        Self::new(
            std::env::var_os(Self::ENV_VAR)
                .map_or_else(|| PathBuf::from(Self::DEFAULT_DIR), PathBuf::from),
        )
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a series: `{dir}/{SYMBOL}_{tf}.csv`.
    pub fn path(&self, symbol: &Symbol, tf: Timeframe) -> PathBuf {
        self.dir.join(file_name(symbol, tf))
    }

    fn sidecars(&self, symbol: &Symbol, tf: Timeframe) -> Sidecars {
        Sidecars::of(&self.dir, &file_name(symbol, tf))
    }

    /// Loads a whole series (sorted, unique; see the module docs for unsorted files). The first
    /// unreadable row fails the load.
    pub fn load(&self, symbol: &Symbol, tf: Timeframe) -> Result<BarSeries, StoreError> {
        let path = self.path(symbol, tf);
        let buf = self.read_committed(symbol, tf, &path)?;
        let (series, order) = parse_series(&buf, &path)?;
        warn_if_disordered(&path, order);
        Ok(series)
    }

    /// Like [`load`](Self::load), but reads past unreadable rows (empty or non-numeric cells, a
    /// bad timestamp, a wrong field count): the series of the readable rows, and the skipped
    /// ones with their line and reason. For commands that look at the data (`show`, `gaps`);
    /// a bad header still fails. Writes never take this path: a save refuses a file it cannot
    /// read whole rather than drop rows from it.
    pub fn load_lenient(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
    ) -> Result<(BarSeries, Vec<SkippedRow>), StoreError> {
        let path = self.path(symbol, tf);
        let buf = self.read_committed(symbol, tf, &path)?;
        let (series, order, skipped) = parse_series_lenient(&buf, &path)?;
        warn_if_disordered(&path, order);
        Ok((series, skipped))
    }

    /// Every row as it stands in the file, in file order, with line numbers (for validation):
    /// the readable rows, and the unreadable ones as [`RawSeries::skipped`].
    pub fn read_raw(&self, symbol: &Symbol, tf: Timeframe) -> Result<RawSeries, StoreError> {
        let path = self.path(symbol, tf);
        let buf = self.read_committed(symbol, tf, &path)?;
        raw_series(&buf, path)
    }

    /// First and last timestamp, from the header, the first data line and the file's tail only
    /// (no full read). `None` for a file with no rows. Trusts file order (the store always
    /// writes sorted files, and the validator reports foreign files that are not), except when
    /// the first row is after the last: then the file is parsed whole and the true ends are
    /// returned.
    pub fn date_range(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
    ) -> Result<Option<DateRange>, StoreError> {
        let path = self.path(symbol, tf);
        self.read_consistently(symbol, tf, || {
            let mut file = self.open_series(symbol, tf, &path)?;
            let len = self.committed_len(symbol, tf, &file, &path)?;
            read_range(&mut file, len, &path)
        })
    }

    /// The earliest and latest bar, the real row count, the file's order and its unreadable
    /// rows, from one lenient pass over the whole file (no series is built). Unlike
    /// [`date_range`](Self::date_range) it trusts nothing about the file: a foreign file that is
    /// unsorted or has unreadable rows gets its true range, and says so
    /// ([`SeriesInfo::out_of_order`], [`SeriesInfo::skipped`]).
    pub fn series_info(&self, symbol: &Symbol, tf: Timeframe) -> Result<SeriesInfo, StoreError> {
        let path = self.path(symbol, tf);
        let buf = self.read_committed(symbol, tf, &path)?;
        let header = parse_header(&buf, &path)?;
        let mut scan = RangeScan::default();
        let mut skipped = Vec::new();
        parse_rows_lenient(&buf, &header, &mut scan, &mut skipped);
        Ok(SeriesInfo {
            path,
            range: scan.range,
            rows: scan.rows + skipped.len(),
            out_of_order: scan.out_of_order,
            skipped,
            bytes: buf.len() as u64,
        })
    }

    /// Merges `new` into the stored series (new bars win on equal timestamps) and saves it
    /// durably under the series lock: appended when `new` only extends the series, otherwise
    /// rewritten atomically. A crashed writer's leftovers are repaired first.
    pub fn merge_and_save(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        new: &BarSeries,
    ) -> Result<SaveReport, StoreError> {
        fs::create_dir_all(&self.dir)
            .map_err(StoreError::io("create data directory", &self.dir))?;
        let path = self.path(symbol, tf);
        let side = self.sidecars(symbol, tf);
        let _guard = lock::exclusive(&side.lock)?;
        let rolled_back_bytes = recover(&path, &side)?;
        let mut report = SaveReport {
            path: path.clone(),
            action: SaveAction::Unchanged,
            added: 0,
            replaced: 0,
            unchanged: 0,
            total: 0,
            rolled_back_bytes,
        };

        check_regular(&path)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !new.is_empty() {
                    replace_atomically(&path, &side, new)?;
                    report.action = SaveAction::Created;
                }
                report.added = new.len();
                report.total = new.len();
                return Ok(report);
            }
            Err(e) => return Err(StoreError::io("open", &path)(e)),
        };

        let len = file
            .metadata()
            .map_err(StoreError::io("stat", &path))?
            .len();
        let tail = appendable_tail(&mut file, len, &path)?;
        if let (Some(first_new), Some(tail)) = (new.first_ts(), tail) {
            if tail.last_ts.is_none_or(|last| first_new > last) {
                append_journaled(&path, &side, len, new)?;
                report.action = SaveAction::Appended;
                report.added = new.len();
                report.total = count_lines(&mut file, len, &path)?.saturating_sub(1) + new.len();
                return Ok(report);
            }
        }

        let buf = read_image(&mut file, len, &path)?;
        let (old, order) = parse_series(&buf, &path)?;
        let (merged, stats) = old.merge_with_stats(new);
        report.added = stats.added;
        report.replaced = stats.replaced;
        report.unchanged = stats.unchanged;
        report.total = merged.len();
        if stats.added > 0 || stats.replaced > 0 || !order.is_clean() {
            replace_atomically(&path, &side, &merged)?;
            report.action = SaveAction::Rewritten;
        }
        Ok(report)
    }

    /// Readies a load of the series before anything is fetched: checks that a save could write
    /// it (the data directory exists or can be made and takes new files; the series file, if
    /// any, is a regular file that opens for appending) and takes the series' load lock
    /// (`.{file}.load`), held until the returned guard drops. So a read-only file or directory
    /// fails a load before its first request, and a second load of the same series waits for
    /// the first instead of fetching the same bars. Saves still take the series lock only for
    /// the write itself: readers never wait for a load. Lock order: load lock, then series lock.
    pub fn prepare_load(&self, symbol: &Symbol, tf: Timeframe) -> Result<SeriesLock, StoreError> {
        fs::create_dir_all(&self.dir)
            .map_err(StoreError::io("create data directory", &self.dir))?;
        let side = self.sidecars(symbol, tf);
        let guard = lock::exclusive(&side.load_lock)?;
        check_writable(&self.path(symbol, tf), &side)?;
        Ok(guard)
    }

    /// Replaces the stored series with `series` under the series lock, atomically (invariant 7):
    /// for a file a user names as the output of a repair while the store may be writing it.
    pub fn replace_series(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        series: &BarSeries,
    ) -> Result<(), StoreError> {
        fs::create_dir_all(&self.dir)
            .map_err(StoreError::io("create data directory", &self.dir))?;
        let path = self.path(symbol, tf);
        let side = self.sidecars(symbol, tf);
        let _guard = lock::exclusive(&side.lock)?;
        recover(&path, &side)?;
        replace_atomically(&path, &side, series)
    }

    /// Reads the series' rows and replaces the series with what `f` makes of them, all under
    /// the exclusive series lock, so no save can land between the read and the write and be
    /// lost (`validate --repair` over the store's own file). `f` also returns a value handed
    /// back to the caller; if it fails, the file is left as it was. Rows that cannot be read
    /// reach `f` as [`RawSeries::skipped`] and are not in the replacement.
    pub fn replace_series_with<T, E: From<StoreError>>(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        f: impl FnOnce(RawSeries) -> Result<(BarSeries, T), E>,
    ) -> Result<T, E> {
        let path = self.path(symbol, tf);
        let side = self.sidecars(symbol, tf);
        // Checked before locking: taking the lock creates the lock file, and a missing series
        // should leave no trace.
        if !path.exists() {
            return Err(self.not_found(symbol, tf, &path).into());
        }
        let _guard = lock::exclusive(&side.lock)?;
        recover(&path, &side)?;
        // The shared-lock read paths would wait on our own exclusive lock: read directly.
        let mut file = self.open_series(symbol, tf, &path)?;
        let len = file
            .metadata()
            .map_err(StoreError::io("stat", &path))?
            .len();
        let buf = read_image(&mut file, len, &path)?;
        let (series, out) = f(raw_series(&buf, path.clone())?)?;
        replace_atomically(&path, &side, &series)?;
        Ok(out)
    }

    /// The series whose file `path` is, if any: the same file once both are canonicalized
    /// (so `./data/../data/MSFT_1h.csv` or a symlink to it count), named exactly as
    /// [`path`](Self::path) names it. A `path` that does not exist yet is resolved through its
    /// directory.
    pub fn series_at(&self, path: &Path) -> Option<(Symbol, Timeframe)> {
        let resolved = resolve(path)?;
        let (symbol, tf) = parse_file_name(resolved.file_name()?.to_str()?)?;
        (resolve(&self.path(&symbol, tf))? == resolved).then_some((symbol, tf))
    }

    /// The series' exclusive lock if nobody holds it now (`None` otherwise). While held,
    /// [`merge_and_save`](Self::merge_and_save) from any process waits, and so do readers.
    pub fn try_lock_series(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
    ) -> Result<Option<SeriesLock>, StoreError> {
        fs::create_dir_all(&self.dir)
            .map_err(StoreError::io("create data directory", &self.dir))?;
        lock::try_exclusive(&self.sidecars(symbol, tf).lock)
    }

    /// Every series in the directory, sorted: the `*.csv` files named exactly as
    /// [`path`](Self::path) names a series. Look-alikes (`msft_1h.csv`, `MSFT_60m.csv`) are not
    /// series: [`load`](Self::load) would never open them.
    pub fn list_series(&self) -> Result<Vec<(Symbol, Timeframe)>, StoreError> {
        let mut out: Vec<(Symbol, Timeframe)> = self
            .csv_names()?
            .into_iter()
            .filter(|(name, s, tf)| file_name(s, *tf) == *name)
            .map(|(_, s, tf)| (s, tf))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The file names in the directory that spell some series (exactly or not), with it.
    fn csv_names(&self) -> Result<Vec<(String, Symbol, Timeframe)>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list", &self.dir)(e)),
        };
        Ok(entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (symbol, tf) = parse_file_name(&name)?;
                Some((name, symbol, tf))
            })
            .collect())
    }

    /// The timeframes stored for `symbol`.
    pub fn timeframes_of(&self, symbol: &Symbol) -> Vec<Timeframe> {
        self.list_series()
            .unwrap_or_default()
            .into_iter()
            .filter(|(s, _)| s == symbol)
            .map(|(_, tf)| tf)
            .collect()
    }

    fn not_found(&self, symbol: &Symbol, tf: Timeframe, path: &Path) -> StoreError {
        // A directory we cannot list still gets the plain "does not exist".
        let names = self.csv_names().unwrap_or_default();
        let wanted = file_name(symbol, tf);
        let mut near_misses: Vec<String> = names
            .iter()
            .filter(|(name, s, t)| *name != wanted && s == symbol && *t == tf)
            .map(|(name, ..)| name.clone())
            .collect();
        near_misses.sort();
        let mut available: Vec<Timeframe> = names
            .into_iter()
            .filter(|(name, s, t)| s == symbol && file_name(s, *t) == *name)
            .map(|(.., t)| t)
            .collect();
        available.sort();
        StoreError::NotFound {
            symbol: symbol.clone(),
            timeframe: tf,
            path: path.to_owned(),
            available,
            near_misses,
        }
    }

    fn open_series(&self, symbol: &Symbol, tf: Timeframe, path: &Path) -> Result<File, StoreError> {
        check_regular(path)?;
        File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.not_found(symbol, tf, path)
            } else {
                StoreError::io("open", path)(e)
            }
        })
    }

    /// The file length minus an unfinished append (invariant 3).
    fn committed_len(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        file: &File,
        path: &Path,
    ) -> Result<u64, StoreError> {
        let len = file.metadata().map_err(StoreError::io("stat", path))?.len();
        Ok(match read_journal(&self.sidecars(symbol, tf))? {
            Some(committed) if committed < len => {
                tracing::warn!(path = %path.display(), ignored_bytes = len - committed, "ignoring an unfinished append");
                committed
            }
            _ => len,
        })
    }

    /// Runs the read `f` under the shared lock, or without it when there is no lock file
    /// (invariant 5).
    fn read_consistently<T>(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        mut f: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock_path = self.sidecars(symbol, tf).lock;
        if let Some(_guard) = lock::shared(&lock_path)? {
            return f();
        }
        let unlocked = f()?;
        match lock::shared(&lock_path)? {
            Some(_guard) => f(),
            None => Ok(unlocked),
        }
    }

    fn read_committed(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        path: &Path,
    ) -> Result<Vec<u8>, StoreError> {
        self.read_consistently(symbol, tf, || {
            let mut file = self.open_series(symbol, tf, path)?;
            let len = self.committed_len(symbol, tf, &file, path)?;
            read_image(&mut file, len, path)
        })
    }
}

/// The range, count and order of rows seen in file order, without keeping them.
#[derive(Default)]
struct RangeScan {
    range: Option<DateRange>,
    rows: usize,
    prev: Option<i64>,
    out_of_order: usize,
}

impl RowSink for RangeScan {
    fn row(&mut self, _line: u64, bar: Bar) {
        self.rows += 1;
        if self.prev.is_some_and(|p| bar.ts <= p) {
            self.out_of_order += 1;
        }
        self.prev = Some(bar.ts);
        let r = self.range.get_or_insert(DateRange {
            first: bar.ts,
            last: bar.ts,
        });
        r.first = r.first.min(bar.ts);
        r.last = r.last.max(bar.ts);
    }
}

/// The rows of a whole CSV image, readable and skipped, in file order.
fn raw_series(buf: &[u8], path: PathBuf) -> Result<RawSeries, StoreError> {
    let header = parse_header(buf, &path)?;
    let mut rows = Vec::with_capacity(estimate_rows(buf, &header));
    let mut skipped = Vec::new();
    parse_rows_lenient(buf, &header, &mut rows, &mut skipped);
    Ok(RawSeries {
        path,
        rows,
        skipped,
    })
}

fn warn_if_disordered(path: &Path, order: OrderReport) {
    if !order.is_clean() {
        tracing::warn!(
            path = %path.display(),
            out_of_order = order.out_of_order,
            duplicates = order.duplicates,
            "series file is not sorted or has duplicate timestamps; loaded it sorted, one row per timestamp (the later, unless it is impossible)"
        );
    }
}

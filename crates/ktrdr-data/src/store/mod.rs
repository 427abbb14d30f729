//! The local bar store: one CSV file per series, `{dir}/{SYMBOL}_{TF}.csv`
//! (the Python `LocalDataLoader`).
//!
//! # File format
//! Header `timestamp,open,high,low,close,volume`; one row per bar, timestamps UTC. Reading accepts
//! every variant the Python system wrote: `2025-05-22 08:00:00+00:00`, `2025-05-22T08:00:00Z`,
//! naive timestamps (taken as UTC), other offsets (converted), date-only daily rows, a `date`,
//! `timestamp` or empty first header, columns in any order, CRLF, a BOM. Writing always produces
//! the canonical form: header as above, `2025-05-22T08:00:00Z`, floats in Rust's shortest
//! round-trip form (`2265000`, `37.21`). A malformed row fails the whole read with
//! [`StoreError::Parse`] naming file, line and column: nothing is guessed or filled in.
//!
//! Unsorted rows or duplicate timestamps are not an error on [`BarStore::load`]: the series is
//! sorted, the later row of a duplicate wins (rows appended later are newer), and a warning is
//! logged. [`BarStore::read_raw`] hands the rows over untouched, in file order with line numbers,
//! so the validator can report such files. [`BarStore::merge_and_save`] rewrites them sorted.
//!
//! # Invariants
//! 1. Only the holder of a series' exclusive lock (`.{file}.lock`) creates, replaces or appends
//!    to the series file, its journal (`.{file}.append`) or its temp files (`.{file}.tmp-*`).
//!    Readers hold the shared lock while they read.
//! 2. A rewrite never touches the live file: the new content goes to a temp file in the same
//!    directory, is fsynced, renamed over the file, and the directory is fsynced. A crash leaves
//!    the old file or the new one.
//! 3. An append happens only while a durable journal records the file's committed length; the
//!    journal is removed only after the appended bytes are durable. So a journal seen under the
//!    lock means a writer died mid-append: readers use the committed prefix, and the next writer
//!    truncates the file back to it (the append is all or nothing). A torn append is thus always
//!    detectable (the journal) and repairable (truncate), never mistaken for data.
//! 4. Appends happen only when every new bar is after the file's last line, the file starts with
//!    exactly the canonical header line and its last line is exactly a canonical row (it
//!    re-encodes to the same bytes, newline included); anything else is a full rewrite. The
//!    decision is taken from the file itself, never from its history (a lock file says nothing
//!    about who wrote the file: a copied-in Python file keeps the lock file of the series it
//!    replaced), so a foreign file is put in the canonical form by the first save that touches
//!    it, and a file never mixes two timestamp forms. The decision reads only the head and the
//!    tail, so it trusts what lies between: a disordered file whose ends look canonical stays
//!    disordered until its next rewrite (loads sort it regardless; the validator reports it).
//! 5. Readers never create files (a data directory may be read-only or shared). A reader that
//!    finds no lock file reads without one, then looks again: if a lock file appeared meanwhile,
//!    a writer may have been appending during the read, so it reads again under the shared
//!    lock. An append needs the lock file to exist, so "absent before and after" means no append
//!    overlapped the read; renames cannot be observed half-done anyway.
//! 6. Line numbers in errors are physical lines of the file, blank lines included (what an
//!    editor shows), on every read path: the full parse, the head probe and the tail probe.
//! 7. The series file is replaced only under the series lock, also when a user names it as the
//!    output of a repair ([`BarStore::replace_series`]): the replacement first settles an
//!    unfinished append (invariant 3), so no journal outlives the file it describes.
//!
//! Lock order: one series lock at a time; never nested, never held across series.

mod error;
mod lock;
mod parse;
mod write;

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use error::StoreError;
pub use lock::SeriesLock;
pub use parse::RawRow;

use crate::types::{Bar, BarSeries, OrderReport, Symbol, Timeframe};
use parse::{estimate_rows, parse_header, parse_row, parse_rows, Header, SeriesSink};
use write::{
    append_journaled, encode_bar, read_journal, recover, replace_atomically, Sidecars,
    CANONICAL_HEADER,
};

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

/// First and last bar of a stored series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Timestamp of the first row (unix seconds UTC).
    pub first: i64,
    /// Timestamp of the last row.
    pub last: i64,
}

/// Summary of a stored series without parsing every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    /// The file.
    pub path: PathBuf,
    /// First and last row; `None` when the file holds only a header.
    pub range: Option<DateRange>,
    /// The real number of data rows (non-blank lines after the header).
    pub rows: usize,
    /// Committed file size in bytes.
    pub bytes: u64,
}

/// The rows of a file as they stand, in file order.
#[derive(Debug, Clone)]
pub struct RawSeries {
    /// The file.
    pub path: PathBuf,
    /// Rows in file order, with their line numbers.
    pub rows: Vec<RawRow>,
}

impl RawSeries {
    /// Sorts, drops duplicates (later row wins) and reports what had to change.
    pub fn into_series(self) -> (BarSeries, OrderReport) {
        BarSeries::from_unordered(self.rows.into_iter().map(|r| r.bar).collect())
    }
}

/// What [`BarStore::merge_and_save`] did to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveAction {
    /// The file did not exist and was written.
    Created,
    /// The new bars only extended the series and were appended.
    Appended,
    /// The file was rewritten (new bars inside the stored range, or a non-canonical file).
    Rewritten,
    /// Nothing to write: every new bar was already stored, identically.
    Unchanged,
}

/// The outcome of [`BarStore::merge_and_save`]; every count is real.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveReport {
    /// The file.
    pub path: PathBuf,
    /// How it was written.
    pub action: SaveAction,
    /// New bars at timestamps not stored before.
    pub added: usize,
    /// Stored bars replaced by a new bar with different values.
    pub replaced: usize,
    /// New bars identical to the stored ones.
    pub unchanged: usize,
    /// Bars in the file afterwards.
    pub total: usize,
    /// Bytes of an earlier writer's unfinished append that were rolled back first.
    pub rolled_back_bytes: u64,
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

    /// Loads a whole series (sorted, unique; see the module docs for unsorted files).
    pub fn load(&self, symbol: &Symbol, tf: Timeframe) -> Result<BarSeries, StoreError> {
        let path = self.path(symbol, tf);
        let buf = self.read_committed(symbol, tf, &path)?;
        let (series, order) = parse_series(&buf, &path)?;
        if !order.is_clean() {
            tracing::warn!(
                path = %path.display(),
                out_of_order = order.out_of_order,
                duplicates = order.duplicates,
                "series file is not sorted or has duplicate timestamps; loaded it sorted, later duplicates winning"
            );
        }
        Ok(series)
    }

    /// Every row as it stands in the file, in file order, with line numbers (for validation).
    pub fn read_raw(&self, symbol: &Symbol, tf: Timeframe) -> Result<RawSeries, StoreError> {
        let path = self.path(symbol, tf);
        let buf = self.read_committed(symbol, tf, &path)?;
        let header = parse_header(&buf, &path)?;
        let mut rows = Vec::with_capacity(estimate_rows(&buf, &header));
        parse_rows(&buf, &header, &path, &mut rows)?;
        Ok(RawSeries { path, rows })
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

    /// [`date_range`](Self::date_range) plus the real row count (a newline count over the file,
    /// no parsing) and the file size.
    pub fn series_info(&self, symbol: &Symbol, tf: Timeframe) -> Result<SeriesInfo, StoreError> {
        let path = self.path(symbol, tf);
        self.read_consistently(symbol, tf, || {
            let mut file = self.open_series(symbol, tf, &path)?;
            let len = self.committed_len(symbol, tf, &file, &path)?;
            let range = read_range(&mut file, len, &path)?;
            let lines = count_lines(&mut file, len, &path)?;
            Ok(SeriesInfo {
                path: path.clone(),
                range,
                rows: lines.saturating_sub(1),
                bytes: len,
            })
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

        let buf = read_at(&mut file, 0, len, &path)?;
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
    /// back to the caller; if it fails, the file is left as it was.
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
        let buf = read_at(&mut file, 0, len, &path)?;
        let header = parse_header(&buf, &path)?;
        let mut rows = Vec::with_capacity(estimate_rows(&buf, &header));
        parse_rows(&buf, &header, &path, &mut rows)?;
        let (series, out) = f(RawSeries {
            path: path.clone(),
            rows,
        })?;
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
            read_at(&mut file, 0, len, path)
        })
    }
}

/// Parses a whole CSV image into a sorted series.
fn parse_series(buf: &[u8], path: &Path) -> Result<(BarSeries, OrderReport), StoreError> {
    let header = parse_header(buf, path)?;
    let mut sink = SeriesSink::with_capacity(estimate_rows(buf, &header));
    parse_rows(buf, &header, path, &mut sink)?;
    Ok(sink.finish())
}

/// Parses a CSV image (the bytes of a whole file); `path` only names the source in errors.
/// Returns the sorted series and what had to be reordered.
pub fn parse_csv(buf: &[u8], path: &Path) -> Result<(BarSeries, OrderReport), StoreError> {
    parse_series(buf, path)
}

/// Reads and parses a CSV file at any path (e.g. a file handed to `validate`), without the
/// store's locks. Same formats and errors as [`BarStore::load`].
pub fn read_csv_file(path: &Path) -> Result<(BarSeries, OrderReport), StoreError> {
    let buf = fs::read(path).map_err(StoreError::io("read", path))?;
    parse_series(&buf, path)
}

/// Writes `series` to `path` in the canonical form, atomically (temp file, fsync, rename), with
/// no lock. Only for files outside a store (e.g. `validate --repair --output FILE`; check with
/// [`BarStore::series_at`]): a store's series go through [`BarStore::merge_and_save`] or
/// [`BarStore::replace_series`], under the series lock.
pub fn write_csv_file(path: &Path, series: &BarSeries) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("series.csv");
    replace_atomically(path, &Sidecars::of(dir, name), series)
}

fn file_name(symbol: &Symbol, tf: Timeframe) -> String {
    format!("{symbol}_{tf}.csv")
}

/// `path` with every symlink and `..` resolved; for a file that does not exist (yet), its
/// resolved directory joined with its name. `None` when not even the directory exists.
fn resolve(path: &Path) -> Option<PathBuf> {
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
fn parse_file_name(name: &str) -> Option<(Symbol, Timeframe)> {
    let stem = name.strip_suffix(".csv")?;
    let (sym, tf) = stem.rsplit_once('_')?;
    Some((Symbol::new(sym).ok()?, tf.parse().ok()?))
}

/// How much of the head and of the tail [`read_range`] reads.
const PROBE: u64 = 64 * 1024;

/// What an append needs to know about the file's end.
struct Tail {
    last_ts: Option<i64>,
}

/// The tail facts when appending canonical rows is safe (invariant 4), else `None`.
fn appendable_tail(file: &mut File, len: u64, path: &Path) -> Result<Option<Tail>, StoreError> {
    let head = read_at(file, 0, len.min(PROBE), path)?;
    if !head.starts_with(CANONICAL_HEADER) {
        return Ok(None);
    }
    let header = parse_header(&head, path)?;
    let tail_start = len.saturating_sub(PROBE);
    let tail = read_at(file, tail_start, len - tail_start, path)?;
    let Some((bar, offset)) = last_row(&tail, tail_start, &header, path, file)? else {
        // No data row: appendable only if the file is exactly the canonical header line (no
        // blank lines after it for the appended rows to follow).
        let bare = len == CANONICAL_HEADER.len() as u64;
        return Ok(bare.then_some(Tail { last_ts: None }));
    };
    // The last line, its newline and everything after it must be one canonical row: no `\r`,
    // no other timestamp or number form, no trailing blank line.
    let mut canonical = Vec::with_capacity(64);
    encode_bar(&mut canonical, &bar);
    let start = (offset - tail_start) as usize;
    Ok((tail[start..] == canonical[..]).then_some(Tail {
        last_ts: Some(bar.ts),
    }))
}

fn read_range(file: &mut File, len: u64, path: &Path) -> Result<Option<DateRange>, StoreError> {
    let head = read_at(file, 0, len.min(PROBE), path)?;
    let header = parse_header(&head, path)?;
    let mut pos = header.data_start;
    let mut line_no = 1;
    let first = loop {
        if pos >= head.len() {
            if (head.len() as u64) < len {
                return Err(StoreError::Header {
                    path: path.to_owned(),
                    reason: format!("no data row within the first {PROBE} bytes"),
                });
            }
            return Ok(None);
        }
        line_no += 1;
        let end = parse::memchr_nl(&head, pos).unwrap_or(head.len());
        let line = parse::strip_cr(&head[pos..end]);
        pos = end + 1;
        if !line.is_empty() {
            break parse_row(line, &header)
                .map_err(|e| e.into_store_error(path, line_no))?
                .ts;
        }
    };
    let tail_start = len.saturating_sub(PROBE);
    let tail = read_at(file, tail_start, len - tail_start, path)?;
    let last = last_row(&tail, tail_start, &header, path, file)?.map_or(first, |(bar, _)| bar.ts);
    if last < first {
        // Provably unsorted (a foreign file): the ends of the file are not the ends of the
        // series, so pay for a full parse rather than report a backwards range.
        let (series, _) = parse_series(&read_at(file, 0, len, path)?, path)?;
        if let (Some(first), Some(last)) = (series.first_ts(), series.last_ts()) {
            return Ok(Some(DateRange { first, last }));
        }
    }
    Ok(Some(DateRange { first, last }))
}

/// The bar and byte offset of the last non-blank row in `tail` (which ends the file and starts
/// at `tail_start`), `None` if the file has no data row.
fn last_row(
    tail: &[u8],
    tail_start: u64,
    header: &Header,
    path: &Path,
    file: &mut File,
) -> Result<Option<(Bar, u64)>, StoreError> {
    let mut end = tail.len();
    loop {
        while end > 0 && matches!(tail[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let start = match tail[..end].iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if tail_start == 0 => 0,
            None if end == 0 => return Ok(None),
            None => {
                return Err(StoreError::Header {
                    path: path.to_owned(),
                    reason: format!("last line is longer than {PROBE} bytes"),
                })
            }
        };
        let offset = tail_start + start as u64;
        if offset < header.data_start as u64 {
            return Ok(None);
        }
        let line = &tail[start..end];
        if line.is_empty() {
            end = start;
            continue;
        }
        return match parse_row(line, header) {
            Ok(bar) => Ok(Some((bar, offset))),
            Err(e) => {
                // Only on error: count newlines so the message can name the line (invariant 6).
                let line_no = count_newlines(file, offset, path)? + 1;
                Err(e.into_store_error(path, line_no))
            }
        };
    }
}

fn read_at(file: &mut File, offset: u64, n: u64, path: &Path) -> Result<Vec<u8>, StoreError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(StoreError::io("seek", path))?;
    let mut buf = Vec::with_capacity(n as usize);
    file.take(n)
        .read_to_end(&mut buf)
        .map_err(StoreError::io("read", path))?;
    Ok(buf)
}

/// Non-blank lines in the first `len` bytes, streamed in blocks (no parsing). Counting `\n`
/// and `\n\n` pairs vectorises; a file with `\r` takes the exact byte loop instead.
fn count_lines(file: &mut File, len: u64, path: &Path) -> Result<usize, StoreError> {
    file.seek(SeekFrom::Start(0))
        .map_err(StoreError::io("seek", path))?;
    let mut reader = file.take(len);
    let mut block = vec![0u8; 1 << 16];
    let (mut lines, mut prev) = (0usize, b'\n');
    loop {
        let n = reader
            .read(&mut block)
            .map_err(StoreError::io("read", path))?;
        if n == 0 {
            break;
        }
        let b = &block[..n];
        if b.contains(&b'\r') {
            return count_lines_exact(file, len, path);
        }
        let newlines = count_where(b, b, |x, _| x == b'\n');
        let blanks = count_where(&b[..n - 1], &b[1..], |x, y| x == b'\n' && y == b'\n')
            + usize::from(prev == b'\n' && b[0] == b'\n');
        lines += newlines - blanks;
        prev = b[n - 1];
    }
    Ok(lines + usize::from(prev != b'\n'))
}

/// Newlines in the first `len` bytes: the physical line `len` starts on, minus one. Blank lines
/// count, unlike in [`count_lines`], because an editor counts them too.
fn count_newlines(file: &mut File, len: u64, path: &Path) -> Result<u64, StoreError> {
    file.seek(SeekFrom::Start(0))
        .map_err(StoreError::io("seek", path))?;
    let mut reader = file.take(len);
    let mut block = vec![0u8; 1 << 16];
    let mut newlines = 0u64;
    loop {
        let n = reader
            .read(&mut block)
            .map_err(StoreError::io("read", path))?;
        if n == 0 {
            return Ok(newlines);
        }
        let b = &block[..n];
        newlines += count_where(b, b, |x, _| x == b'\n') as u64;
    }
}

/// Positions `i` where `f(a[i], b[i])` holds. Sums per 255-byte chunk in a `u8`, which the
/// compiler turns into wide byte compares and adds (a plain `filter().count()` widens every
/// lane to 64 bits and runs several times slower).
#[inline]
fn count_where(a: &[u8], b: &[u8], f: impl Fn(u8, u8) -> bool + Copy) -> usize {
    a.chunks(255)
        .zip(b.chunks(255))
        .map(|(ca, cb)| {
            ca.iter()
                .zip(cb)
                .fold(0u8, |acc, (&x, &y)| acc.wrapping_add(u8::from(f(x, y)))) as usize
        })
        .sum()
}

fn count_lines_exact(file: &mut File, len: u64, path: &Path) -> Result<usize, StoreError> {
    file.seek(SeekFrom::Start(0))
        .map_err(StoreError::io("seek", path))?;
    let mut reader = file.take(len);
    let mut block = vec![0u8; 1 << 16];
    let (mut lines, mut content) = (0usize, false);
    loop {
        let n = reader
            .read(&mut block)
            .map_err(StoreError::io("read", path))?;
        if n == 0 {
            break;
        }
        for &b in &block[..n] {
            match b {
                b'\n' => {
                    lines += usize::from(content);
                    content = false;
                }
                b'\r' => {}
                _ => content = true,
            }
        }
    }
    Ok(lines + usize::from(content))
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

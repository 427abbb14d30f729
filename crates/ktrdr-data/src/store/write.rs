//! Durable writes: the canonical row format, whole-file replacement by rename, and the journaled
//! append. See the invariants in the [`store`](super) module header.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::target::write_target;
use super::StoreError;
use crate::types::time::write_timestamp;
use crate::types::{Bar, BarSeries};

/// The header every file the store writes starts with.
pub(crate) const CANONICAL_HEADER: &[u8] = b"timestamp,open,high,low,close,volume\n";

/// Appends `series` as canonical rows (`2025-05-22T08:00:00Z,452.85,460.11,450.11,453.51,10689297`).
/// Floats use Rust's shortest round-trip form, so reading a file back gives the same bits.
pub(crate) fn encode_rows(out: &mut Vec<u8>, series: &BarSeries, rows: Range<usize>) {
    for b in rows.filter_map(|i| series.bar(i)) {
        encode_bar(out, &b);
    }
}

/// One canonical row, newline included. Also the yardstick for "is this row canonical?"
/// (see invariant 4): a row is canonical when it re-encodes to the same bytes.
pub(crate) fn encode_bar(out: &mut Vec<u8>, b: &Bar) {
    write_timestamp(out, b.ts);
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        ",{},{},{},{},{}",
        b.open, b.high, b.low, b.close, b.volume
    );
}

/// Writes `series` to `out` as the store writes a series file: the canonical header, then one
/// canonical row per bar. For anything that prints a series as CSV (`ktrdr data show --format
/// csv`), so printed and stored rows cannot drift apart.
pub fn write_csv(mut out: impl Write, series: &BarSeries) -> io::Result<()> {
    out.write_all(CANONICAL_HEADER)?;
    // Encode in chunks so memory stays flat for very long series.
    let mut chunk = Vec::with_capacity(1 << 16);
    for start in (0..series.len()).step_by(1024) {
        encode_rows(&mut chunk, series, start..start + 1024);
        out.write_all(&chunk)?;
        chunk.clear();
    }
    Ok(())
}

/// Sidecar paths of one series file (all hidden, in the same directory, so a rename never
/// crosses file systems).
pub(crate) struct Sidecars {
    pub(crate) lock: PathBuf,
    /// Held by a load from before its first request to its end (see `BarStore::prepare_load`).
    pub(crate) load_lock: PathBuf,
    pub(crate) journal: PathBuf,
    tmp_prefix: String,
}

impl Sidecars {
    pub(crate) fn of(dir: &Path, file_name: &str) -> Self {
        Sidecars {
            lock: dir.join(format!(".{file_name}.lock")),
            load_lock: dir.join(format!(".{file_name}.load")),
            journal: dir.join(format!(".{file_name}.append")),
            tmp_prefix: format!(".{file_name}.tmp-"),
        }
    }
}

/// Replaces `path` with `header + rows of series`: write a temp file in the same directory,
/// fsync it, rename it over `path`, fsync the directory. A crash at any point leaves either the
/// old file or the new one, never a mix. A symlink is followed: the temp file goes beside its
/// target and replaces the target (invariant 8). Caller holds the exclusive series lock.
pub(crate) fn replace_atomically(
    path: &Path,
    side: &Sidecars,
    series: &BarSeries,
) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let path = &*write_target(path)?;
    let dir = parent(path);
    let tmp = dir.join(format!(
        "{}{}-{}",
        side.tmp_prefix,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<(), StoreError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(StoreError::io("create temp file", &tmp))?;
        let mut w = BufWriter::with_capacity(1 << 18, file);
        write_csv(&mut w, series).map_err(StoreError::io("write", &tmp))?;
        let file = w
            .into_inner()
            .map_err(|e| StoreError::io("write", &tmp)(e.into_error()))?;
        file.sync_all().map_err(StoreError::io("fsync", &tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(StoreError::io("rename temp file onto", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends the rows of `series` to `path`, whose committed length is `committed_len`.
///
/// The journal holding `committed_len` is made durable *before* the first byte is appended and
/// removed only after the appended bytes are durable. A crash in between leaves the journal, and
/// every reader and the next writer treat the file as `committed_len` bytes long (the writer
/// truncates it back). An append that fails while the process lives (disk full, a file-size
/// limit, an I/O error) is rolled back at once the same way, so no partial row waits for the
/// next writer. Caller holds the exclusive series lock.
pub(crate) fn append_journaled(
    path: &Path,
    side: &Sidecars,
    committed_len: u64,
    series: &BarSeries,
) -> Result<(), StoreError> {
    let dir = parent(path);
    // Opened first: a file we may not write fails here, before anything is written.
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(StoreError::io("open for append", path))?;
    let mut j =
        File::create(&side.journal).map_err(StoreError::io("create journal", &side.journal))?;
    j.write_all(format!("{committed_len}\n").as_bytes())
        .and_then(|()| j.sync_all())
        .map_err(StoreError::io("write journal", &side.journal))?;
    drop(j);
    sync_dir(dir)?;

    let mut rows = Vec::with_capacity(series.len() * 64);
    encode_rows(&mut rows, series, 0..series.len());
    if let Err(e) = f.write_all(&rows).and_then(|()| f.sync_all()) {
        roll_back(&f, path, side, committed_len);
        return Err(StoreError::io("append", path)(e));
    }
    drop(f);

    fs::remove_file(&side.journal).map_err(StoreError::io("remove journal", &side.journal))?;
    sync_dir(dir)
}

/// Cuts a failed append back to `committed_len` and drops its journal. Shrinking needs no free
/// space, so this works on a full disk; if it fails all the same, the journal stays and the next
/// reader and writer treat the file as cut (invariant 3), which is why errors here are logged,
/// not returned: the append's own error is the one to report.
fn roll_back(f: &File, path: &Path, side: &Sidecars, committed_len: u64) {
    let cut = f.set_len(committed_len).and_then(|()| f.sync_all());
    let cleared = cut.and_then(|()| fs::remove_file(&side.journal));
    match cleared {
        Ok(()) => {
            tracing::warn!(path = %path.display(), "rolled back a failed append");
            if let Err(e) = sync_dir(parent(path)) {
                tracing::warn!(error = %e, "could not make the rollback's journal removal durable");
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not roll back a failed append; the journal marks it for the next writer");
        }
    }
}

/// Fails unless a save could write `path`: the file, if there is one, opens for appending, and
/// its directory (the target's, for a symlink) takes a new temp file. Changes nothing.
pub(crate) fn check_writable(path: &Path, side: &Sidecars) -> Result<(), StoreError> {
    let target = write_target(path)?;
    match OpenOptions::new().append(true).open(&*target) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("open for writing", &*target)(e)),
    }
    let probe = parent(&target).join(format!("{}{}-probe", side.tmp_prefix, std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(StoreError::io("create temp file", &probe))?;
    match fs::remove_file(&probe) {
        // A writer's recovery may have removed it already, as a stale temp file.
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(StoreError::io("remove temp file", &probe)(e))
        }
        _ => Ok(()),
    }
}

/// The committed length recorded by an unfinished append, if any. A journal that is empty or
/// unreadable was cut short while being written, i.e. before any byte was appended: the file is
/// whole and the journal is ignored.
pub(crate) fn read_journal(side: &Sidecars) -> Result<Option<u64>, StoreError> {
    match fs::read_to_string(&side.journal) {
        Ok(s) => Ok(s.strip_suffix('\n').and_then(|n| n.parse().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("read journal", &side.journal)(e)),
    }
}

/// Undoes what a crashed writer left: truncates a torn append back to its committed length and
/// removes the journal and stale temp files. Caller holds the exclusive series lock, so no live
/// writer owns any of these files. Returns the number of bytes cut off.
pub(crate) fn recover(path: &Path, side: &Sidecars) -> Result<u64, StoreError> {
    // Temp files of a symlinked series lie beside its target (see `replace_atomically`).
    let path = &*write_target(path)?;
    let dir = parent(path);
    let mut cut = 0;
    if side.journal.exists() {
        if let Some(len) = read_journal(side)? {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(StoreError::io("open for repair", path))?;
            let actual = f.metadata().map_err(StoreError::io("stat", path))?.len();
            if actual > len {
                f.set_len(len)
                    .map_err(StoreError::io("truncate torn append", path))?;
                f.sync_all().map_err(StoreError::io("fsync", path))?;
                cut = actual - len;
                tracing::warn!(path = %path.display(), bytes = cut, "rolled back an unfinished append");
            }
        }
        fs::remove_file(&side.journal).map_err(StoreError::io("remove journal", &side.journal))?;
        sync_dir(dir)?;
    }
    let entries = fs::read_dir(dir).map_err(StoreError::io("list", dir))?;
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&side.tmp_prefix))
        {
            tracing::warn!(path = %e.path().display(), "removing a temp file left by a crashed writer");
            fs::remove_file(e.path())
                .map_err(StoreError::io("remove stale temp file", e.path()))?;
        }
    }
    Ok(cut)
}

/// Makes a rename or unlink in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync directory", dir))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

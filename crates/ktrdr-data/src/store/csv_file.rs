//! Whole CSV images: read (header first) and parsed, for the store and for files outside a store
//! (a file handed to `validate`, a repair's output), which are read and written in the store's
//! formats without its locks.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::error::StoreError;
use super::header::{parse_header, MAX_HEADER_BYTES};
use super::lines::read_at;
use super::parse::{estimate_rows, parse_rows, parse_rows_lenient, SeriesSink, SkippedRow};
use super::target::check_regular;
use super::write::{replace_atomically, Sidecars};
use crate::types::{BarSeries, OrderReport};

/// Parses a whole CSV image into a sorted series.
pub(super) fn parse_series(
    buf: &[u8],
    path: &Path,
) -> Result<(BarSeries, OrderReport), StoreError> {
    let header = parse_header(buf, path)?;
    let mut sink = SeriesSink::with_capacity(estimate_rows(buf, &header));
    parse_rows(buf, &header, path, &mut sink)?;
    Ok(sink.finish())
}

/// Parses the readable rows of a whole CSV image into a sorted series; lists the others.
pub(super) fn parse_series_lenient(
    buf: &[u8],
    path: &Path,
) -> Result<(BarSeries, OrderReport, Vec<SkippedRow>), StoreError> {
    let header = parse_header(buf, path)?;
    let mut sink = SeriesSink::with_capacity(estimate_rows(buf, &header));
    let mut skipped = Vec::new();
    parse_rows_lenient(buf, &header, &mut sink, &mut skipped);
    let (series, order) = sink.finish();
    Ok((series, order, skipped))
}

/// Parses a CSV image (the bytes of a whole file); `path` only names the source in errors.
/// Returns the sorted series and what had to be reordered.
pub fn parse_csv(buf: &[u8], path: &Path) -> Result<(BarSeries, OrderReport), StoreError> {
    parse_series(buf, path)
}

/// Reads and parses a CSV file at any path (e.g. a file handed to `validate`), without the
/// store's locks. Same formats and errors as [`BarStore::load`](super::BarStore::load).
pub fn read_csv_file(path: &Path) -> Result<(BarSeries, OrderReport), StoreError> {
    check_regular(path)?;
    let mut file = File::open(path).map_err(StoreError::io("open", path))?;
    let len = file.metadata().map_err(StoreError::io("stat", path))?.len();
    parse_series(&read_image(&mut file, len, path)?, path)
}

/// Writes `series` to `path` in the canonical form, atomically (temp file, fsync, rename), with
/// no lock. Only for files outside a store (e.g. `validate --repair --output FILE`; check with
/// [`BarStore::series_at`](super::BarStore::series_at)): a store's series go through [`BarStore::merge_and_save`](super::BarStore::merge_and_save) or
/// [`BarStore::replace_series`](super::BarStore::replace_series), under the series lock.
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

/// The first `len` bytes of `file`, read only once its header has been read and accepted: a file
/// that is not a CSV series (a crash's NUL bytes, a binary) is refused after a few KiB, never
/// read whole just to be rejected.
pub(super) fn read_image(file: &mut File, len: u64, path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut buf = read_at(file, 0, len.min(MAX_HEADER_BYTES as u64), path)?;
    parse_header(&buf, path)?;
    let rest = len - buf.len() as u64;
    buf.reserve_exact(rest as usize);
    file.take(rest)
        .read_to_end(&mut buf)
        .map_err(StoreError::io("read", path))?;
    Ok(buf)
}

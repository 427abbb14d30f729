//! The hand-written CSV reader. One pass over the bytes, no allocation per row, a fast path for
//! plain decimals and the fixed-layout timestamps; anything unusual falls back to std's parsers
//! and, failing those, to an error naming file, line and column.

use std::convert::Infallible;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::header::{Header, Slot};
use super::lines::{memchr_nl, strip_cr};
use super::StoreError;
use crate::types::time::{parse_date_bytes, parse_time_bytes, parse_ts_bytes};
use crate::types::{Bar, BarSeries, OrderReport};
use crate::validate::has_impossible_values;

/// Receives rows in file order.
pub(crate) trait RowSink {
    fn row(&mut self, line: u64, bar: Bar);
}

/// Builds a [`BarSeries`], restoring order only if the file needs it.
pub(crate) struct SeriesSink {
    bars: BarSeries,
    sorted: bool,
}

impl SeriesSink {
    pub(crate) fn with_capacity(n: usize) -> Self {
        SeriesSink {
            bars: BarSeries::with_capacity(n),
            sorted: true,
        }
    }

    pub(crate) fn finish(self) -> (BarSeries, OrderReport) {
        if self.sorted {
            (self.bars, OrderReport::default())
        } else {
            BarSeries::from_unordered_keeping(self.bars.iter().collect(), has_impossible_values)
        }
    }
}

impl RowSink for SeriesSink {
    #[inline]
    fn row(&mut self, _line: u64, bar: Bar) {
        if self.sorted && self.bars.last_ts().is_some_and(|t| bar.ts <= t) {
            self.sorted = false;
        }
        // While unsorted we keep collecting raw rows; finish() sorts them.
        self.bars.push_unchecked(bar);
    }
}

/// One row as it stands in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The row's values.
    pub bar: Bar,
}

impl RowSink for Vec<RawRow> {
    fn row(&mut self, line: u64, bar: Bar) {
        self.push(RawRow { line, bar });
    }
}

/// A rough row count for pre-sizing: bytes over the first row's length.
pub(crate) fn estimate_rows(buf: &[u8], header: &Header) -> usize {
    let data = &buf[header.data_start.min(buf.len())..];
    match memchr_nl(data, 0) {
        Some(first) => data.len() / (first + 1) + 1,
        None => usize::from(!data.is_empty()),
    }
}

/// A row a lenient read could not use (an empty or non-numeric cell, a bad timestamp, a wrong
/// number of fields), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// 1-based physical line in the file (the header is line 1).
    pub line: u64,
    /// The column that could not be read.
    pub field: &'static str,
    /// The text found there (cut to 64 bytes).
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl fmt::Display for SkippedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: field '{}': {} (found {:?})",
            self.line, self.field, self.reason, self.value
        )
    }
}

/// Parses every data row of `buf` (the whole file) into `sink`; the first unreadable row fails
/// the read.
pub(crate) fn parse_rows<S: RowSink>(
    buf: &[u8],
    header: &Header,
    path: &Path,
    sink: &mut S,
) -> Result<(), StoreError> {
    parse_rows_with(buf, header, sink, |line, e| {
        Err(e.into_store_error(path, line))
    })
}

/// Parses every readable data row of `buf` into `sink` and lists the others in `skipped`.
pub(crate) fn parse_rows_lenient<S: RowSink>(
    buf: &[u8],
    header: &Header,
    sink: &mut S,
    skipped: &mut Vec<SkippedRow>,
) {
    parse_rows_with(buf, header, sink, |line, e| {
        skipped.push(e.into_skipped(line));
        Ok::<(), Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
}

/// The row loop of [`parse_rows`] and [`parse_rows_lenient`]: `on_bad` decides whether an
/// unreadable row ends the read.
fn parse_rows_with<S: RowSink, E>(
    buf: &[u8],
    header: &Header,
    sink: &mut S,
    mut on_bad: impl FnMut(u64, RowError) -> Result<(), E>,
) -> Result<(), E> {
    let canonical = header.is_canonical_order();
    let mut days = DayCache::new();
    let mut pos = header.data_start;
    let mut line_no = 1u64;
    while pos < buf.len() {
        line_no += 1;
        if canonical {
            // One pass over the row, ending at its newline; anything unusual (or an error) goes
            // through the line-based parser below, which has every slow path and error message.
            if let Some((bar, next)) = fast_canonical_row(&buf[pos..], &mut days) {
                sink.row(line_no, bar);
                pos += next;
                continue;
            }
        }
        let end = memchr_nl(buf, pos).unwrap_or(buf.len());
        let line = strip_cr(&buf[pos..end]);
        pos = end + 1;
        if line.is_empty() {
            continue;
        }
        let parsed = if canonical {
            parse_canonical_row(line, &mut days)
        } else {
            parse_mapped_row(line, &header.slots)
        };
        match parsed {
            Ok(bar) => sink.row(line_no, bar),
            Err(e) => on_bad(line_no, e)?,
        }
    }
    Ok(())
}

/// The fast path of a canonical row at the start of `rest`: plain decimals, a timestamp the
/// day cache and [`parse_time_bytes`] accept, a `\n`, `\r\n` or the end of input after the
/// volume. Returns the bar and the bytes consumed, or `None` to take the general path.
#[inline]
fn fast_canonical_row(rest: &[u8], days: &mut DayCache) -> Option<(Bar, usize)> {
    // The two forms we meet most end at fixed offsets: `…:SSZ` (20 bytes, ours) and
    // `…:SS+00:00` (25, the Python files'); other forms are searched for, within 40 bytes so a
    // comma-less line cannot make the search run into the next one.
    let comma = if rest.get(20) == Some(&b',') && rest[19] == b'Z' {
        20
    } else if rest.get(25) == Some(&b',') && rest[19] == b'+' {
        25
    } else {
        let head = &rest[..rest.len().min(40)];
        let c = head.iter().position(|&b| b == b',' || b == b'\n')?;
        if head[c] != b',' {
            return None;
        }
        c
    };
    let ts = days.parse(&rest[..comma]).ok()?;
    let mut pos = comma + 1;
    let open = fast_number(rest, &mut pos, false)?;
    let high = fast_number(rest, &mut pos, false)?;
    let low = fast_number(rest, &mut pos, false)?;
    let close = fast_number(rest, &mut pos, false)?;
    let volume = fast_number(rest, &mut pos, true)?;
    Some((
        Bar {
            ts,
            open,
            high,
            low,
            close,
            volume,
        },
        pos,
    ))
}

/// A fast-path number at `*pos` ending at a comma, or (`last`) at the end of the line; moves
/// `*pos` past the terminator.
#[inline(always)]
fn fast_number(rest: &[u8], pos: &mut usize, last: bool) -> Option<f64> {
    let (v, stop) = scan_decimal(&rest[*pos..]);
    let end = *pos + stop;
    *pos = match (rest.get(end), last) {
        (Some(b','), false) => end + 1,
        (None, true) => end,
        (Some(b'\n'), true) => end + 1,
        (Some(b'\r'), true) if rest.get(end + 1) == Some(&b'\n') => end + 2,
        _ => return None,
    };
    v
}

/// A row error before the file and line are attached.
pub(crate) struct RowError {
    slot: Slot,
    value: Vec<u8>,
    reason: &'static str,
}

impl RowError {
    fn new(slot: Slot, value: &[u8], reason: &'static str) -> Self {
        RowError {
            slot,
            value: value[..value.len().min(64)].to_vec(),
            reason,
        }
    }

    fn into_skipped(self, line: u64) -> SkippedRow {
        SkippedRow {
            line,
            field: self.slot.name(),
            value: String::from_utf8_lossy(&self.value).into_owned(),
            reason: self.reason,
        }
    }

    pub(crate) fn into_store_error(self, path: &Path, line: u64) -> StoreError {
        StoreError::Parse {
            path: path.to_owned(),
            line,
            field: self.slot.name(),
            value: String::from_utf8_lossy(&self.value).into_owned(),
            reason: self.reason,
        }
    }
}

/// Parses one data line under `header`.
pub(crate) fn parse_row(line: &[u8], header: &Header) -> Result<Bar, RowError> {
    let line = strip_cr(line);
    if header.is_canonical_order() {
        parse_canonical_row(line, &mut DayCache::new())
    } else {
        parse_mapped_row(line, &header.slots)
    }
}

/// The common layout: `ts,open,high,low,close,volume`, parsed in one pass: each number is
/// scanned once and must end at the next comma; only unusual fields take the general path.
#[inline]
pub(crate) fn parse_canonical_row(line: &[u8], days: &mut DayCache) -> Result<Bar, RowError> {
    let comma = line.iter().position(|&b| b == b',');
    let ts_end = comma.unwrap_or(line.len());
    let ts = days.parse(&line[..ts_end])?;
    let mut pos = ts_end + 1;
    let open = next_number(line, &mut pos, Slot::Open, false)?;
    let high = next_number(line, &mut pos, Slot::High, false)?;
    let low = next_number(line, &mut pos, Slot::Low, false)?;
    let close = next_number(line, &mut pos, Slot::Close, false)?;
    let volume = next_number(line, &mut pos, Slot::Volume, true)?;
    if pos <= line.len() {
        return Err(RowError::new(
            Slot::Extra,
            &line[pos.min(line.len())..],
            "more fields than the header has",
        ));
    }
    Ok(Bar {
        ts,
        open,
        high,
        low,
        close,
        volume,
    })
}

/// The number at `*pos`, which must end at a comma (or at the end of the line when `last`);
/// advances `*pos` past the comma. `*pos > line.len()` means the line is used up.
#[inline]
fn next_number(line: &[u8], pos: &mut usize, slot: Slot, last: bool) -> Result<f64, RowError> {
    let start = *pos;
    if start > line.len() {
        return Err(RowError::new(
            slot,
            b"",
            "missing (fewer fields than the header has)",
        ));
    }
    let rest = &line[start..];
    let (fast, stop) = scan_decimal(rest);
    if let Some(v) = fast {
        match rest.get(stop) {
            Some(b',') if !last => {
                *pos = start + stop + 1;
                return Ok(v);
            }
            None => {
                *pos = start + stop + 1;
                return Ok(v);
            }
            _ => {}
        }
    }
    let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
    let v = parse_f64_field(&rest[..end], slot)?;
    *pos = start + end + 1;
    Ok(v)
}

/// Timestamps with the day of the previous row: rows of one day share their first ten bytes,
/// so the calendar arithmetic runs once per day, not once per row.
pub(crate) struct DayCache {
    key: [u8; 10],
    day_secs: i64,
}

impl DayCache {
    pub(crate) fn new() -> Self {
        // No valid date starts with a NUL byte, so the first row always misses.
        DayCache {
            key: [0; 10],
            day_secs: 0,
        }
    }

    #[inline]
    fn parse(&mut self, f: &[u8]) -> Result<i64, RowError> {
        if f.len() >= 10 && f[..10] == self.key {
            if let Ok(t) = parse_time_bytes(f) {
                return Ok(self.day_secs + t);
            }
        } else if let Ok(days) = parse_date_bytes(f) {
            if let Ok(t) = parse_time_bytes(f) {
                self.key.copy_from_slice(&f[..10]);
                self.day_secs = days * 86_400;
                return Ok(self.day_secs + t);
            }
        }
        parse_ts_field(f)
    }
}

fn parse_mapped_row(line: &[u8], slots: &[Slot]) -> Result<Bar, RowError> {
    let mut fields = Fields { line, pos: 0 };
    let mut bar = Bar {
        ts: 0,
        open: 0.0,
        high: 0.0,
        low: 0.0,
        close: 0.0,
        volume: 0.0,
    };
    for &slot in slots {
        let f = fields.next_field(slot)?;
        match slot {
            Slot::Ts => bar.ts = parse_ts_field(f)?,
            Slot::Open => bar.open = parse_f64_field(f, slot)?,
            Slot::High => bar.high = parse_f64_field(f, slot)?,
            Slot::Low => bar.low = parse_f64_field(f, slot)?,
            Slot::Close => bar.close = parse_f64_field(f, slot)?,
            Slot::Volume => bar.volume = parse_f64_field(f, slot)?,
            Slot::Ignore | Slot::Extra => {}
        }
    }
    if fields.pos <= line.len() {
        return Err(RowError::new(
            Slot::Extra,
            &line[fields.pos.min(line.len())..],
            "more fields than the header has",
        ));
    }
    Ok(bar)
}

/// Splits a line at commas. `pos` past `line.len()` means the line is used up.
struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    #[inline]
    fn next_field(&mut self, slot: Slot) -> Result<&'a [u8], RowError> {
        if self.pos > self.line.len() {
            return Err(RowError::new(
                slot,
                b"",
                "missing (fewer fields than the header has)",
            ));
        }
        let rest = &self.line[self.pos..];
        let n = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        self.pos += n + 1;
        Ok(&rest[..n])
    }
}

#[inline]
fn parse_ts_field(f: &[u8]) -> Result<i64, RowError> {
    match parse_ts_bytes(f) {
        Ok(t) => Ok(t),
        Err(reason) => {
            let t = f.trim_ascii();
            if t.len() != f.len() && !t.is_empty() {
                parse_ts_bytes(t).map_err(|r| RowError::new(Slot::Ts, f, r))
            } else if f.is_empty() {
                Err(RowError::new(Slot::Ts, f, "empty"))
            } else {
                Err(RowError::new(Slot::Ts, f, reason))
            }
        }
    }
}

/// Exact powers of ten up to 10^22, the largest exactly representable in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Plain decimals (`-?digits[.digits]`) with at most 19 digits whose mantissa fits in 53 bits are
/// converted with one division of two exact f64 values, which IEEE rounds correctly (Clinger's
/// fast path), so the result equals `str::parse`. Everything else goes to `str::parse`.
#[inline]
pub(crate) fn parse_f64_field(f: &[u8], slot: Slot) -> Result<f64, RowError> {
    match scan_decimal(f) {
        (Some(v), stop) if stop == f.len() => Ok(v),
        _ => parse_f64_slow(f, slot),
    }
}

/// Scans a plain decimal at the start of `s` and stops at the first byte that cannot continue
/// it. Returns the value when the fast path applies, and where the scan stopped.
#[inline(always)]
fn scan_decimal(s: &[u8]) -> (Option<f64>, usize) {
    let (neg, mut i) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut mant: u64 = 0;
    let mut digits = 0u32;
    while let Some(&c) = s.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        mant = mant.wrapping_mul(10).wrapping_add(d as u64);
        digits += 1;
        i += 1;
    }
    let mut frac = 0usize;
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = s.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            mant = mant.wrapping_mul(10).wrapping_add(d as u64);
            digits += 1;
            frac += 1;
            i += 1;
        }
    }
    if digits > 0 && digits <= 19 && mant <= (1u64 << 53) && frac < POW10.len() {
        let v = mant as f64 / POW10[frac];
        (Some(if neg { -v } else { v }), i)
    } else {
        (None, i)
    }
}

#[cold]
fn parse_f64_slow(f: &[u8], slot: Slot) -> Result<f64, RowError> {
    let t = f.trim_ascii();
    if t.is_empty() {
        return Err(RowError::new(slot, f, "empty"));
    }
    let v: f64 = std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RowError::new(slot, f, "not a number"))?;
    if !v.is_finite() {
        return Err(RowError::new(slot, f, "not a finite number"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::header::parse_header;

    #[test]
    fn fast_float_path_equals_std() {
        for s in [
            "0",
            "1",
            "-1",
            "37.21",
            "1.03506",
            "2265000.0",
            "0.0",
            "123456789012345678",
            "9007199254740993",
            "1e5",
            "1.5E-3",
            "+2.5",
            "470.38",
            "0.1",
            "0.30000000000000004",
            "12345678901234567890.5",
            ".5",
            "5.",
            "-0.0",
        ] {
            let want: f64 = s.parse().unwrap();
            let got = parse_f64_field(s.as_bytes(), Slot::Open).ok().unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
        for bad in ["", "abc", "1.2.3", "NaN", "inf", "-", "1,5"] {
            assert!(
                parse_f64_field(bad.as_bytes(), Slot::Open).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn mapped_rows_and_field_count() {
        let p = Path::new("x.csv");
        let buf = b"timestamp,close,open,high,low,volume,adj\n2025-01-01,4,1,5,0.5,10,x\n";
        let h = parse_header(buf, p).unwrap();
        let mut rows: Vec<RawRow> = Vec::new();
        parse_rows(buf, &h, p, &mut rows).unwrap();
        assert_eq!(rows[0].bar.close, 4.0);
        assert_eq!(rows[0].bar.open, 1.0);
        assert_eq!(rows[0].line, 2);
        let c = &mut DayCache::new();
        assert!(parse_canonical_row(b"2025-01-01,1,2,3,4", c).is_err());
        assert!(parse_canonical_row(b"2025-01-01,1,2,3,4,5,6", c).is_err());
        assert!(parse_canonical_row(b"2025-01-01,1,2,3,4,5,", c).is_err());
        assert!(parse_canonical_row(b"2025-01-01,1,2,3,4,5", c).is_ok());
    }
}

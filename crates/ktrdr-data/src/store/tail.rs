//! Probing a series file's head and tail without reading it whole: the date range, and whether
//! new rows may be appended (invariant 4 of [`super`]).

use std::fs::File;
use std::path::Path;

use super::csv_file::parse_series;
use super::csv_file::read_image;
use super::error::StoreError;
use super::header::{parse_header, Header};
use super::lines::{count_newlines, memchr_nl, read_at, strip_cr};
use super::parse::parse_row;
use super::reports::DateRange;
use super::write::{encode_bar, CANONICAL_HEADER};
use crate::types::Bar;

/// How much of the head and of the tail [`read_range`] reads.
const PROBE: u64 = 64 * 1024;

/// What an append needs to know about the file's end.
pub(super) struct Tail {
    pub(super) last_ts: Option<i64>,
}

/// The tail facts when appending canonical rows is safe (invariant 4), else `None`.
pub(super) fn appendable_tail(
    file: &mut File,
    len: u64,
    path: &Path,
) -> Result<Option<Tail>, StoreError> {
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

pub(super) fn read_range(
    file: &mut File,
    len: u64,
    path: &Path,
) -> Result<Option<DateRange>, StoreError> {
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
        let end = memchr_nl(&head, pos).unwrap_or(head.len());
        let line = strip_cr(&head[pos..end]);
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
        let (series, _) = parse_series(&read_image(file, len, path)?, path)?;
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

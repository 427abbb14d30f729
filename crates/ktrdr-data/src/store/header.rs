//! The header line of a series file: which column holds what, and the bound on its length that
//! lets a reader refuse a file that is not a CSV series after its first few KiB.

use std::path::Path;

use super::lines::{memchr_nl, strip_cr};
use super::StoreError;

/// What a column of the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Ts,
    Open,
    High,
    Low,
    Close,
    Volume,
    /// A column we do not read (e.g. a Python export's `adj close`).
    Ignore,
    /// Text after the last column (only ever named in errors).
    Extra,
}

impl Slot {
    pub(super) fn name(self) -> &'static str {
        match self {
            Slot::Ts => "timestamp",
            Slot::Open => "open",
            Slot::High => "high",
            Slot::Low => "low",
            Slot::Close => "close",
            Slot::Volume => "volume",
            Slot::Ignore => "(ignored column)",
            Slot::Extra => "(after the last column)",
        }
    }
}

const CANONICAL: [Slot; 6] = [
    Slot::Ts,
    Slot::Open,
    Slot::High,
    Slot::Low,
    Slot::Close,
    Slot::Volume,
];

/// The parsed header line.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(super) slots: Vec<Slot>,
    /// Offset of the first byte after the header line.
    pub(crate) data_start: usize,
}

impl Header {
    /// True when rows are `timestamp,open,high,low,close,volume` in that order, so canonical rows
    /// can be appended to the file as they are.
    pub(crate) fn is_canonical_order(&self) -> bool {
        self.slots == CANONICAL
    }
}

/// The longest header line accepted. Real headers are under 100 bytes; the bound keeps a file
/// with no line break (a power loss leaves NUL bytes) from being taken whole as its header, and
/// lets a reader check the header before reading the rest (see [`MAX_HEADER_BYTES`]).
const MAX_HEADER_LINE: usize = 4096;

/// How many bytes at the start of a file always hold its whole header line, if it has one
/// (BOM, line, `\r\n`).
pub(crate) const MAX_HEADER_BYTES: usize = 3 + MAX_HEADER_LINE + 2;

/// Text from a file quoted in an error: at most 80 bytes, escaped, `...` when cut, so a message
/// never grows with the file.
pub(crate) fn excerpt(text: &[u8]) -> String {
    const SHOWN: usize = 80;
    let quoted = format!(
        "{:?}",
        String::from_utf8_lossy(&text[..text.len().min(SHOWN)])
    );
    if text.len() <= SHOWN {
        quoted
    } else {
        format!("{quoted}...")
    }
}

/// Parses the header at the start of `buf`. The timestamp column is the first one, named
/// `timestamp`, `date`, `datetime`, `time` or nothing (a pandas index saved without a name, as in
/// `MSFT_1h.csv`); price and volume columns are found by name, in any order, any case.
pub(crate) fn parse_header(buf: &[u8], path: &Path) -> Result<Header, StoreError> {
    let bad = |reason: String| StoreError::Header {
        path: path.to_owned(),
        reason,
    };
    let body = buf.strip_prefix("\u{feff}".as_bytes()).unwrap_or(buf);
    let bom = buf.len() - body.len();
    let (line, next) = match memchr_nl(&body[..body.len().min(MAX_HEADER_LINE + 2)], 0) {
        Some(i) => (&body[..i], i + 1),
        None => (body, body.len()),
    };
    let line = strip_cr(line);
    if line.len() > MAX_HEADER_LINE {
        let start = if line.starts_with(&[0; 16]) {
            "NUL bytes (what a crash or power loss can leave)".to_owned()
        } else {
            excerpt(line)
        };
        return Err(bad(format!(
            "no line break in the first {MAX_HEADER_LINE} bytes, which start with {start}"
        )));
    }
    if line.is_empty() {
        return Err(bad(
            "the file is empty; expected timestamp,open,high,low,close,volume".into(),
        ));
    }
    let text = std::str::from_utf8(line).map_err(|_| bad("not UTF-8".into()))?;
    let mut slots = Vec::new();
    for (i, name) in text.split(',').enumerate() {
        let n = name.trim().trim_matches('"').to_ascii_lowercase();
        let slot = match (i, n.as_str()) {
            (0, "timestamp" | "date" | "datetime" | "time" | "") => Slot::Ts,
            (0, _) => {
                return Err(bad(format!(
                "first column is {}; expected the timestamp column (timestamp, date or unnamed)",
                excerpt(name.as_bytes())
            )))
            }
            (_, "open") => Slot::Open,
            (_, "high") => Slot::High,
            (_, "low") => Slot::Low,
            (_, "close") => Slot::Close,
            (_, "volume") => Slot::Volume,
            _ => Slot::Ignore,
        };
        if slot != Slot::Ignore && slots.contains(&slot) {
            return Err(bad(format!("column {:?} appears twice", slot.name())));
        }
        slots.push(slot);
    }
    if let Some(missing) = CANONICAL.iter().find(|s| !slots.contains(s)) {
        return Err(bad(format!(
            "missing column {:?} (found {}); expected timestamp,open,high,low,close,volume",
            missing.name(),
            excerpt(line)
        )));
    }
    Ok(Header {
        slots,
        data_start: bom + next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_variants() {
        let p = Path::new("x.csv");
        assert!(parse_header(b",open,high,low,close,volume\n", p)
            .unwrap()
            .is_canonical_order());
        assert!(
            parse_header(b"\xef\xbb\xbfDate,Open,High,Low,Close,Volume\r\n", p)
                .unwrap()
                .is_canonical_order()
        );
        let h = parse_header(b"timestamp,close,open,high,low,volume,adj close\n", p).unwrap();
        assert!(!h.is_canonical_order());
        let e = parse_header(b"timestamp,open,high,low,close\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column \"volume\""), "{e}");
        let e = parse_header(b"open,high,low,close,volume\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("first column"), "{e}");
        assert!(parse_header(b"", p).is_err());
    }
}

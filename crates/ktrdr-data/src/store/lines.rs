//! Lines of bytes: finding and trimming line ends, reading byte ranges of a file, and counting
//! its lines in blocks, without parsing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

use super::error::StoreError;

pub(super) fn read_at(
    file: &mut File,
    offset: u64,
    n: u64,
    path: &Path,
) -> Result<Vec<u8>, StoreError> {
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
pub(super) fn count_lines(file: &mut File, len: u64, path: &Path) -> Result<usize, StoreError> {
    let (mut lines, mut prev, mut has_cr) = (0usize, b'\n', false);
    each_block(file, len, path, |b| {
        if b.contains(&b'\r') {
            has_cr = true;
            return ControlFlow::Break(());
        }
        let n = b.len();
        let newlines = count_where(b, b, |x, _| x == b'\n');
        let blanks = count_where(&b[..n - 1], &b[1..], |x, y| x == b'\n' && y == b'\n')
            + usize::from(prev == b'\n' && b[0] == b'\n');
        lines += newlines - blanks;
        prev = b[n - 1];
        ControlFlow::Continue(())
    })?;
    if has_cr {
        return count_lines_exact(file, len, path);
    }
    Ok(lines + usize::from(prev != b'\n'))
}

/// Newlines in the first `len` bytes: the physical line `len` starts on, minus one. Blank lines
/// count, unlike in [`count_lines`], because an editor counts them too.
pub(super) fn count_newlines(file: &mut File, len: u64, path: &Path) -> Result<u64, StoreError> {
    let mut newlines = 0u64;
    each_block(file, len, path, |b| {
        newlines += count_where(b, b, |x, _| x == b'\n') as u64;
        ControlFlow::Continue(())
    })?;
    Ok(newlines)
}

/// Hands the first `len` bytes of `file` to `f` in 64 KiB blocks, from the start, until they
/// end or `f` breaks.
fn each_block(
    file: &mut File,
    len: u64,
    path: &Path,
    mut f: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    file.seek(SeekFrom::Start(0))
        .map_err(StoreError::io("seek", path))?;
    let mut reader = file.take(len);
    let mut block = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut block)
            .map_err(StoreError::io("read", path))?;
        if n == 0 || f(&block[..n]).is_break() {
            return Ok(());
        }
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
    let (mut lines, mut content) = (0usize, false);
    each_block(file, len, path, |block| {
        for &b in block {
            match b {
                b'\n' => {
                    lines += usize::from(content);
                    content = false;
                }
                b'\r' => {}
                _ => content = true,
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(lines + usize::from(content))
}

#[inline]
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Position of the next `\n` at or after `from`.
#[inline]
pub(crate) fn memchr_nl(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| i + from)
}

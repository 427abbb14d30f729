//! The local bar store: one CSV file per series, `{dir}/{SYMBOL}_{TF}.csv`
//! (the Python `LocalDataLoader`).
//!
//! # File format
//! Header `timestamp,open,high,low,close,volume`; one row per bar, timestamps UTC. Reading accepts
//! every variant the Python system wrote: `2025-05-22 08:00:00+00:00`, `2025-05-22T08:00:00Z`,
//! naive timestamps (taken as UTC), other offsets (converted), date-only daily rows, a `date`,
//! `timestamp` or empty first header, columns in any order, CRLF, a BOM. Writing always produces
//! the canonical form: header as above, `2025-05-22T08:00:00Z`, floats in Rust's shortest
//! round-trip form (`2265000`, `37.21`). A malformed row (an empty or non-numeric cell, a bad
//! timestamp, a wrong field count) fails [`BarStore::load`] and [`BarStore::merge_and_save`] with
//! [`StoreError::Parse`] naming file, line and column: nothing is guessed or filled in, and a
//! save never drops rows it cannot read (a repair through [`BarStore::replace_series_with`]
//! does, when asked). The reads that look at data, [`BarStore::load_lenient`]
//! and [`BarStore::read_raw`], read past such rows and list them as [`SkippedRow`]s. Errors
//! quote at most 80 bytes of the file, and a header line over 4096 bytes (a file without line
//! breaks, such as the NUL bytes a power loss leaves) is refused from the first few KiB: every
//! whole-file read checks the header before reading the rest.
//!
//! Unsorted rows or duplicate timestamps are not an error on [`BarStore::load`]: the series is
//! sorted, the later row of a duplicate wins (rows appended later are newer) unless its values are
//! impossible and an earlier row's are not (the rule validation and repair use too:
//! [`kept_duplicate`](crate::types::kept_duplicate)), and a warning is
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
//! 8. A series file is a regular file or a symlink to one, and every path follows the link:
//!    reads and appends open it through the link, a rewrite writes its temp file beside the
//!    link's target and renames it onto the target, so the link stays a link and the target
//!    is replaced atomically (sidecars stay beside the link: the lock and journal belong to
//!    the series name). A link to nothing, a FIFO, a socket, a device or a directory is
//!    refused by its type before anything opens it ([`StoreError::NotRegular`]): opening a
//!    FIFO for reading would wait for a writer. Two series names linked to one target are not
//!    locked against each other.
//!
//! Lock order: a load's lock (`.{file}.load`, [`BarStore::prepare_load`]), then the series
//! lock; one series at a time; never the other way round, never held across series.

mod bar_store;
mod csv_file;
mod error;
mod header;
mod lines;
mod lock;
mod naming;
mod parse;
mod reports;
mod tail;
mod target;
mod write;

pub use bar_store::BarStore;
pub use csv_file::{parse_csv, read_csv_file, write_csv_file};
pub use error::StoreError;
pub use lock::SeriesLock;
pub use parse::{RawRow, SkippedRow};
pub use reports::{DateRange, RawSeries, SaveAction, SaveReport, SeriesInfo};
pub use write::write_csv;

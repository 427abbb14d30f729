//! The values a pickle decodes to.

use chrono::NaiveDateTime;

/// A Python `datetime.datetime`, as pickled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyDateTime {
    /// The wall-clock value, to the microsecond.
    pub naive: NaiveDateTime,
    /// Python's `fold` (PEP 495): the second of two equal wall times at a DST fall-back.
    pub fold: bool,
    /// The UTC offset in seconds, for an aware datetime with a fixed-offset `timezone`.
    pub utc_offset_secs: Option<i32>,
}

/// A decoded Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int` that fits in 64 bits.
    Int(i64),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `list`.
    List(Vec<PyValue>),
    /// `tuple`.
    Tuple(Vec<PyValue>),
    /// `dict`, in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
    /// `datetime.datetime`.
    DateTime(PyDateTime),
}

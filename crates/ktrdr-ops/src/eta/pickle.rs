//! A small, strict decoder for the Python pickles the legacy time-estimation caches are.
//!
//! It understands the opcodes CPython (protocols 2–5) emits for dicts, lists, tuples, strings,
//! bytes, numbers, `None`/booleans and `datetime` objects, and nothing else: any other opcode, or
//! a global other than `datetime.datetime`, `datetime.timezone`, `datetime.timedelta` and
//! `_codecs.encode`, is an error naming the offset. Nothing from the file is ever executed.
//!
//! Objects live in an arena and the stack and memo hold indices, because a pickle memoizes an
//! empty list or dict and fills it afterwards: a value copy would memoize the empty version.
//!
//! # Size limits
//!
//! A [`PyValue`] is a tree, so every reference to a memoized container becomes a copy: a few
//! hundred bytes of lists each holding the previous one twice describe 2^60 values. Before
//! building anything, the decoder measures what the root would expand to (each arena object
//! once) and refuses more than [`MAX_VALUES`] values or [`MAX_TEXT_BYTES`] of text, or nesting
//! deeper than [`MAX_DEPTH`]. `_codecs.encode`, the one call that makes a new object from an
//! old one while decoding, counts against the same text limit. Decoding time and memory are
//! thus linear in the input plus the limits.

use std::collections::HashMap;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};

/// How deep values may nest; deeper (or a cycle through the memo) is rejected.
pub const MAX_DEPTH: usize = 64;

/// Most values one decoded pickle may hold, counting every copy of a shared container. A
/// time-estimation cache keeps ten records of about a dozen values per key: even a cache with
/// tens of thousands of keys stays well below this.
pub const MAX_VALUES: u64 = 10_000_000;

/// Most bytes of `str` and `bytes` content one decoded pickle may hold (counting every copy),
/// and most bytes `_codecs.encode` may produce while decoding it.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

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

/// Why a pickle could not be decoded, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pickle offset {offset}{}: {kind}", OpcodeName(*opcode))]
pub struct PickleError {
    /// Byte offset of the opcode that failed (or of the end, when the data ran out).
    pub offset: usize,
    /// That opcode, if there was one.
    pub opcode: Option<u8>,
    /// What went wrong.
    pub kind: PickleErrorKind,
}

struct OpcodeName(Option<u8>);

impl fmt::Display for OpcodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(op) if op.is_ascii_graphic() => write!(f, " (opcode 0x{op:02x} {:?})", op as char),
            Some(op) => write!(f, " (opcode 0x{op:02x})"),
            None => Ok(()),
        }
    }
}

/// The kinds of [`PickleError`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleErrorKind {
    /// An opcode this decoder does not handle.
    #[error("unknown or unsupported opcode")]
    UnknownOpcode,
    /// A protocol other than 2 to 5.
    #[error("unsupported pickle protocol {0}")]
    UnsupportedProtocol(u8),
    /// A global that is not on the allow-list.
    #[error("global {module}.{name} is not allowed")]
    UnknownGlobal {
        /// Its module.
        module: String,
        /// Its name.
        name: String,
    },
    /// The data ended inside an opcode or before `STOP`.
    #[error("truncated data")]
    Truncated,
    /// Bytes follow the `STOP` opcode.
    #[error("{0} bytes after STOP")]
    TrailingData(usize),
    /// An opcode needed more stack items (or a mark) than there were.
    #[error("stack underflow")]
    StackUnderflow,
    /// A memo slot that was never stored.
    #[error("memo slot {0} is empty")]
    MissingMemo(u32),
    /// Operands of the wrong kind or value.
    #[error("{0}")]
    Invalid(String),
    /// The decoded value would exceed [`MAX_VALUES`] or [`MAX_TEXT_BYTES`] (see the module
    /// documentation); says which.
    #[error("{0}")]
    TooLarge(String),
}

#[derive(Debug, Clone, Copy)]
enum Callable {
    DateTime,
    TimeDelta,
    TimeZone,
    CodecsEncode,
}

#[derive(Debug)]
enum Obj {
    Value(PyValue),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Callable(Callable),
    TimeDelta { micros: i64 },
    TimeZone { offset_secs: i32 },
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Mark,
    Obj(usize),
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    op_at: usize,
    op: Option<u8>,
    arena: Vec<Obj>,
    stack: Vec<Item>,
    memo: HashMap<u32, usize>,
    /// Bytes `_codecs.encode` has produced so far.
    encoded: u64,
}

/// What an arena object expands to as a [`PyValue`]: every copy counted.
#[derive(Debug, Clone, Copy)]
struct Size {
    values: u64,
    text: u64,
    /// Levels of nesting below the object (0 for a scalar).
    height: usize,
}

impl Size {
    fn leaf(text: usize) -> Size {
        Size {
            values: 1,
            text: text as u64,
            height: 0,
        }
    }

    /// Adds a child; saturating, since a bomb's true size does not fit in 64 bits.
    fn with_child(self, child: Size) -> Size {
        Size {
            values: self.values.saturating_add(child.values),
            text: self.text.saturating_add(child.text),
            height: self.height.max(child.height + 1),
        }
    }
}

/// Decodes one pickle, which must end exactly at its `STOP`.
pub fn decode(data: &[u8]) -> Result<PyValue, PickleError> {
    let mut d = Decoder {
        data,
        pos: 0,
        op_at: 0,
        op: None,
        arena: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
        encoded: 0,
    };
    let root = d.run()?;
    d.op = None;
    let mut sizes = vec![None; d.arena.len()];
    let size = d.measure(root, 0, &mut sizes)?;
    if size.values > MAX_VALUES {
        return Err(d.err(PickleErrorKind::TooLarge(format!(
            "the decoded value would hold more than {MAX_VALUES} values \
             (shared references copy a container each time)"
        ))));
    }
    if size.text > MAX_TEXT_BYTES {
        return Err(d.err(PickleErrorKind::TooLarge(format!(
            "the decoded value would hold more than {MAX_TEXT_BYTES} bytes of text \
             (shared references copy a string each time)"
        ))));
    }
    d.to_value(root)
}

impl<'a> Decoder<'a> {
    fn err(&self, kind: PickleErrorKind) -> PickleError {
        PickleError {
            offset: self.op_at,
            opcode: self.op,
            kind,
        }
    }

    fn invalid(&self, msg: impl Into<String>) -> PickleError {
        self.err(PickleErrorKind::Invalid(msg.into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let bytes = &self.data[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => Err(self.err(PickleErrorKind::Truncated)),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        let n = u64::from_le_bytes(self.le()?);
        usize::try_from(n).map_err(|_| self.err(PickleErrorKind::Truncated))
    }

    fn alloc(&mut self, obj: Obj) -> usize {
        self.arena.push(obj);
        self.arena.len() - 1
    }

    fn push(&mut self, obj: Obj) {
        let id = self.alloc(obj);
        self.stack.push(Item::Obj(id));
    }

    fn push_value(&mut self, v: PyValue) {
        self.push(Obj::Value(v));
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        match self.stack.pop() {
            Some(Item::Obj(id)) => Ok(id),
            Some(Item::Mark) => Err(self.invalid("found a MARK where an object was expected")),
            None => Err(self.err(PickleErrorKind::StackUnderflow)),
        }
    }

    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(Item::Obj(id)) => Ok(*id),
            Some(Item::Mark) => Err(self.invalid("found a MARK where an object was expected")),
            None => Err(self.err(PickleErrorKind::StackUnderflow)),
        }
    }

    /// Pops everything down to the topmost mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let at = self
            .stack
            .iter()
            .rposition(|i| matches!(i, Item::Mark))
            .ok_or_else(|| self.err(PickleErrorKind::StackUnderflow))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|i| {
                if let Item::Obj(id) = i {
                    Some(id)
                } else {
                    None
                }
            })
            .collect())
    }

    fn str_utf8(&self, bytes: &[u8]) -> Result<String, PickleError> {
        String::from_utf8(bytes.to_vec())
            .map_err(|e| self.invalid(format!("string is not UTF-8: {e}")))
    }

    fn memo_get(&self, idx: u32) -> Result<usize, PickleError> {
        self.memo
            .get(&idx)
            .copied()
            .ok_or_else(|| self.err(PickleErrorKind::MissingMemo(idx)))
    }

    fn global(&self, module: &str, name: &str) -> Result<Callable, PickleError> {
        match (module, name) {
            ("datetime", "datetime") => Ok(Callable::DateTime),
            ("datetime", "timedelta") => Ok(Callable::TimeDelta),
            ("datetime", "timezone") => Ok(Callable::TimeZone),
            ("_codecs", "encode") => Ok(Callable::CodecsEncode),
            _ => Err(self.err(PickleErrorKind::UnknownGlobal {
                module: module.into(),
                name: name.into(),
            })),
        }
    }

    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            self.op_at = self.pos;
            self.op = None;
            let op = self.u8()?;
            self.op = Some(op);
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if !(2..=5).contains(&proto) {
                        return Err(self.err(PickleErrorKind::UnsupportedProtocol(proto)));
                    }
                }
                // FRAME: a length prefix for buffered reading; the content is ordinary opcodes.
                0x95 => {
                    self.le::<8>()?;
                }
                b'.' => {
                    let root = self.pop()?;
                    if !self.stack.is_empty() {
                        return Err(self.invalid(format!(
                            "{} items left on the stack at STOP",
                            self.stack.len()
                        )));
                    }
                    let rest = self.data.len() - self.pos;
                    if rest > 0 {
                        return Err(self.err(PickleErrorKind::TrailingData(rest)));
                    }
                    return Ok(root);
                }
                b'(' => self.stack.push(Item::Mark),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'}' => self.push(Obj::Dict(Vec::new())),
                b']' => self.push(Obj::List(Vec::new())),
                b')' => self.push(Obj::Tuple(Vec::new())),
                0x94 => {
                    let id = self.top()?;
                    let idx = u32::try_from(self.memo.len())
                        .map_err(|_| self.invalid("memo overflow"))?;
                    self.memo.insert(idx, id);
                }
                b'q' | b'r' => {
                    let idx = if op == b'q' {
                        u32::from(self.u8()?)
                    } else {
                        u32::from_le_bytes(self.le()?)
                    };
                    let id = self.top()?;
                    self.memo.insert(idx, id);
                }
                b'h' | b'j' => {
                    let idx = if op == b'h' {
                        u32::from(self.u8()?)
                    } else {
                        u32::from_le_bytes(self.le()?)
                    };
                    let id = self.memo_get(idx)?;
                    self.stack.push(Item::Obj(id));
                }
                0x8c | b'X' | 0x8d => {
                    let n = match op {
                        0x8c => usize::from(self.u8()?),
                        b'X' => u32::from_le_bytes(self.le()?) as usize,
                        _ => self.len_u64()?,
                    };
                    let bytes = self.take(n)?;
                    let s = self.str_utf8(bytes)?;
                    self.push_value(PyValue::Str(s));
                }
                b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'C' => usize::from(self.u8()?),
                        b'B' => u32::from_le_bytes(self.le()?) as usize,
                        _ => self.len_u64()?,
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.push_value(PyValue::Bytes(bytes));
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push_value(PyValue::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push_value(PyValue::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push_value(PyValue::Int(v.into()));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?;
                    if n > 8 {
                        return Err(
                            self.invalid(format!("integer of {n} bytes does not fit in 64 bits"))
                        );
                    }
                    let v = match bytes.last() {
                        None => 0,
                        Some(&last) => {
                            let fill = if last & 0x80 != 0 { 0xff } else { 0 };
                            let mut buf = [fill; 8];
                            buf[..n].copy_from_slice(bytes);
                            i64::from_le_bytes(buf)
                        }
                    };
                    self.push_value(PyValue::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push_value(PyValue::Float(v));
                }
                b'N' => self.push_value(PyValue::None),
                0x88 => self.push_value(PyValue::Bool(true)),
                0x89 => self.push_value(PyValue::Bool(false)),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Obj::Tuple(items));
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    let list = self.top()?;
                    match &mut self.arena[list] {
                        Obj::List(v) => v.extend(items),
                        _ => return Err(self.invalid("APPEND to something that is not a list")),
                    }
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    if items.len() % 2 != 0 {
                        return Err(self.invalid("SETITEMS with an odd number of items"));
                    }
                    let dict = self.top()?;
                    match &mut self.arena[dict] {
                        Obj::Dict(d) => d.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1]))),
                        _ => return Err(self.invalid("SETITEM on something that is not a dict")),
                    }
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (module, name) = (self.expect_str(module)?, self.expect_str(name)?);
                    let c = self.global(&module, &name)?;
                    self.push(Obj::Callable(c));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let c = self.global(&module, &name)?;
                    self.push(Obj::Callable(c));
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let obj = self.call(callable, args)?;
                    self.push(obj);
                }
                _ => return Err(self.err(PickleErrorKind::UnknownOpcode)),
            }
        }
    }

    /// A newline-terminated text operand (GLOBAL).
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err(PickleErrorKind::Truncated))?;
        let bytes = self.take(n + 1)?;
        self.str_utf8(&bytes[..n])
    }

    fn expect_str(&self, id: usize) -> Result<String, PickleError> {
        match &self.arena[id] {
            Obj::Value(PyValue::Str(s)) => Ok(s.clone()),
            other => Err(self.invalid(format!("expected a string, found {}", kind_name(other)))),
        }
    }

    fn expect_int(&self, id: usize) -> Result<i64, PickleError> {
        match &self.arena[id] {
            Obj::Value(PyValue::Int(i)) => Ok(*i),
            other => Err(self.invalid(format!("expected an int, found {}", kind_name(other)))),
        }
    }

    fn call(&mut self, callable: usize, args: usize) -> Result<Obj, PickleError> {
        let c = match &self.arena[callable] {
            Obj::Callable(c) => *c,
            other => {
                return Err(self.invalid(format!(
                    "REDUCE of a {}, not an allowed global",
                    kind_name(other)
                )))
            }
        };
        let args = match &self.arena[args] {
            Obj::Tuple(items) => items.clone(),
            other => {
                return Err(self.invalid(format!(
                    "REDUCE arguments are a {}, not a tuple",
                    kind_name(other)
                )))
            }
        };
        match (c, args.as_slice()) {
            (Callable::DateTime, [state]) => self.datetime(*state, None),
            (Callable::DateTime, [state, tz]) => self.datetime(*state, Some(*tz)),
            (Callable::TimeDelta, [d, s, us]) => {
                let (d, s, us) = (
                    self.expect_int(*d)?,
                    self.expect_int(*s)?,
                    self.expect_int(*us)?,
                );
                let micros = d
                    .checked_mul(86_400_000_000)
                    .and_then(|v| v.checked_add(s.checked_mul(1_000_000)?))
                    .and_then(|v| v.checked_add(us))
                    .ok_or_else(|| self.invalid("timedelta out of range"))?;
                Ok(Obj::TimeDelta { micros })
            }
            (Callable::TimeZone, [delta, ..]) if args.len() <= 2 => match self.arena[*delta] {
                Obj::TimeDelta { micros }
                    if micros % 1_000_000 == 0 && micros.abs() < 86_400_000_000 =>
                {
                    Ok(Obj::TimeZone {
                        offset_secs: (micros / 1_000_000) as i32,
                    })
                }
                _ => Err(self.invalid("timezone offset is not whole seconds within ±24 h")),
            },
            (Callable::CodecsEncode, [text, codec]) => {
                let (text, codec) = (self.expect_str(*text)?, self.expect_str(*codec)?);
                // Each call makes a new object as long as its text, from a few bytes of pickle.
                self.encoded = self.encoded.saturating_add(text.len() as u64);
                if self.encoded > MAX_TEXT_BYTES {
                    return Err(self.err(PickleErrorKind::TooLarge(format!(
                        "_codecs.encode would produce more than {MAX_TEXT_BYTES} bytes of text"
                    ))));
                }
                if codec != "latin1" && codec != "latin-1" {
                    return Err(self.invalid(format!("_codecs.encode with codec {codec:?}")));
                }
                // ASCII is its own latin1 encoding: no per-character work for it.
                let bytes = if text.is_ascii() {
                    text.into_bytes()
                } else {
                    text.chars()
                        .map(|c| {
                            u8::try_from(u32::from(c))
                                .map_err(|_| self.invalid("latin1 text above U+00FF"))
                        })
                        .collect::<Result<Vec<u8>, _>>()?
                };
                Ok(Obj::Value(PyValue::Bytes(bytes)))
            }
            (c, _) => Err(self.invalid(format!("{c:?} called with {} arguments", args.len()))),
        }
    }

    /// `datetime.datetime(state[, tzinfo])`: the 10-byte state is year (2, big-endian), month
    /// (its high bit is `fold`), day, hour, minute, second, microsecond (3, big-endian).
    fn datetime(&self, state: usize, tz: Option<usize>) -> Result<Obj, PickleError> {
        let b = match &self.arena[state] {
            Obj::Value(PyValue::Bytes(b)) if b.len() == 10 => b,
            other => {
                return Err(self.invalid(format!(
                    "datetime state is a {}, not 10 bytes",
                    kind_name(other)
                )))
            }
        };
        let year = i32::from(u16::from_be_bytes([b[0], b[1]]));
        let (month, fold) = (u32::from(b[2] & 0x7f), b[2] & 0x80 != 0);
        let micro = u32::from(b[7]) << 16 | u32::from(b[8]) << 8 | u32::from(b[9]);
        let naive = NaiveDate::from_ymd_opt(year, month, u32::from(b[3]))
            .and_then(|d| {
                d.and_hms_micro_opt(u32::from(b[4]), u32::from(b[5]), u32::from(b[6]), micro)
            })
            .ok_or_else(|| {
                self.invalid(format!(
                    "datetime state {b:02x?} is not a valid date and time"
                ))
            })?;
        let utc_offset_secs = match tz.map(|id| &self.arena[id]) {
            None | Some(Obj::Value(PyValue::None)) => None,
            Some(Obj::TimeZone { offset_secs }) => Some(*offset_secs),
            Some(other) => {
                return Err(
                    self.invalid(format!("tzinfo is a {}, not a timezone", kind_name(other)))
                )
            }
        };
        Ok(Obj::Value(PyValue::DateTime(PyDateTime {
            naive,
            fold,
            utc_offset_secs,
        })))
    }

    /// What `id` expands to, each arena object measured once (`sizes` remembers them), so the
    /// time is linear in the arena whatever the expansion. Nesting deeper than [`MAX_DEPTH`] is
    /// an error; a cycle through the memo nests without end, so it is one too.
    fn measure(
        &self,
        id: usize,
        depth: usize,
        sizes: &mut [Option<Size>],
    ) -> Result<Size, PickleError> {
        let too_deep = || {
            self.invalid(format!(
                "values nest deeper than {MAX_DEPTH} (or form a cycle)"
            ))
        };
        if let Some(size) = sizes[id] {
            // Measured under another parent, maybe less deep than here.
            return if depth + size.height > MAX_DEPTH {
                Err(too_deep())
            } else {
                Ok(size)
            };
        }
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let size = match &self.arena[id] {
            Obj::Value(PyValue::Str(s)) => Size::leaf(s.len()),
            Obj::Value(PyValue::Bytes(b)) => Size::leaf(b.len()),
            Obj::Value(_) => Size::leaf(0),
            Obj::List(ids) | Obj::Tuple(ids) => {
                let mut size = Size::leaf(0);
                for &child in ids {
                    size = size.with_child(self.measure(child, depth + 1, sizes)?);
                }
                size
            }
            Obj::Dict(pairs) => {
                let mut size = Size::leaf(0);
                for &(k, v) in pairs {
                    size = size.with_child(self.measure(k, depth + 1, sizes)?);
                    size = size.with_child(self.measure(v, depth + 1, sizes)?);
                }
                size
            }
            other => {
                return Err(self.invalid(format!("a bare {} cannot be a value", kind_name(other))))
            }
        };
        sizes[id] = Some(size);
        Ok(size)
    }

    /// The value of `id`. Call it only on a root [`Decoder::measure`] accepted: that bounds
    /// the depth of this recursion and the size of what it builds.
    fn to_value(&self, id: usize) -> Result<PyValue, PickleError> {
        let many = |ids: &[usize]| {
            ids.iter()
                .map(|&i| self.to_value(i))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match &self.arena[id] {
            Obj::Value(v) => v.clone(),
            Obj::List(ids) => PyValue::List(many(ids)?),
            Obj::Tuple(ids) => PyValue::Tuple(many(ids)?),
            Obj::Dict(pairs) => PyValue::Dict(
                pairs
                    .iter()
                    .map(|&(k, v)| Ok((self.to_value(k)?, self.to_value(v)?)))
                    .collect::<Result<_, PickleError>>()?,
            ),
            other => {
                return Err(self.invalid(format!("a bare {} cannot be a value", kind_name(other))))
            }
        })
    }
}

fn kind_name(obj: &Obj) -> &'static str {
    match obj {
        Obj::Value(PyValue::None) => "None",
        Obj::Value(PyValue::Bool(_)) => "bool",
        Obj::Value(PyValue::Int(_)) => "int",
        Obj::Value(PyValue::Float(_)) => "float",
        Obj::Value(PyValue::Str(_)) => "str",
        Obj::Value(PyValue::Bytes(_)) => "bytes",
        Obj::Value(PyValue::DateTime(_)) => "datetime",
        Obj::Value(PyValue::List(_)) | Obj::List(_) => "list",
        Obj::Value(PyValue::Tuple(_)) | Obj::Tuple(_) => "tuple",
        Obj::Value(PyValue::Dict(_)) | Obj::Dict(_) => "dict",
        Obj::Callable(_) => "global",
        Obj::TimeDelta { .. } => "timedelta",
        Obj::TimeZone { .. } => "timezone",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The byte strings below are what CPython 3.11 `pickle.dumps` writes, as commented.

    #[test]
    fn memoized_containers_are_shared() {
        // l = [1, 2]; pickle.dumps({'a': l, 'b': l}, 4): the list is memoized empty, then filled.
        let data = b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01K\x02e\x8c\x01b\x94h\x02u.";
        let list = PyValue::List(vec![PyValue::Int(1), PyValue::Int(2)]);
        assert_eq!(
            decode(data).unwrap(),
            PyValue::Dict(vec![
                (PyValue::Str("a".into()), list.clone()),
                (PyValue::Str("b".into()), list)
            ])
        );
    }

    #[test]
    fn datetimes_naive_aware_and_folded() {
        // pickle.dumps(datetime(2026, 11, 26, 17, 40, 3, 376552), 4)
        let naive = b"\x80\x04\x95*\x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94C\n\x07\xea\x0b\x1a\x11(\x03\x05\xbe\xe8\x94\x85\x94R\x94.";
        let PyValue::DateTime(dt) = decode(naive).unwrap() else {
            panic!("not a datetime")
        };
        assert_eq!(dt.naive.to_string(), "2026-11-26 17:40:03.376552");
        assert_eq!((dt.fold, dt.utc_offset_secs), (false, None));
        // pickle.dumps(datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=timezone(timedelta(hours=-5))), 4)
        let aware = b"\x80\x04\x95]\x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94C\n\x07\xea\x8b\x01\x01\x1e\x00\x00\x00\x00\x94h\x00\x8c\x08timezone\x94\x93\x94h\x00\x8c\ttimedelta\x94\x93\x94J\xff\xff\xff\xffJ0\x0b\x01\x00K\x00\x87\x94R\x94\x85\x94R\x94\x86\x94R\x94.";
        let PyValue::DateTime(dt) = decode(aware).unwrap() else {
            panic!("not a datetime")
        };
        assert_eq!(dt.naive.to_string(), "2026-11-01 01:30:00");
        assert_eq!((dt.fold, dt.utc_offset_secs), (true, Some(-5 * 3600)));
        // The same in protocol 2: GLOBAL opcodes, bytes through _codecs.encode, no fold bit.
        let proto2 = b"\x80\x02cdatetime\ndatetime\nq\x00c_codecs\nencode\nq\x01X\x0b\x00\x00\x00\x07\xc3\xaa\x0b\x01\x01\x1e\x00\x00\x00\x00q\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05cdatetime\ntimezone\nq\x06cdatetime\ntimedelta\nq\x07J\xff\xff\xff\xffJ0\x0b\x01\x00K\x00\x87q\x08Rq\t\x85q\nRq\x0b\x86q\x0cRq\r.";
        let PyValue::DateTime(dt) = decode(proto2).unwrap() else {
            panic!("not a datetime")
        };
        assert_eq!(dt.naive.to_string(), "2026-11-01 01:30:00");
        assert_eq!((dt.fold, dt.utc_offset_secs), (false, Some(-5 * 3600)));
    }

    #[test]
    fn numbers_and_constants() {
        // pickle.dumps((-1, 255, 65535, -2**40, 1.5, None, True, False, b''), 4)
        let data = b"\x80\x04\x95%\x00\x00\x00\x00\x00\x00\x00(J\xff\xff\xff\xffK\xffM\xff\xff\x8a\x06\x00\x00\x00\x00\x00\xffG?\xf8\x00\x00\x00\x00\x00\x00N\x88\x89C\x00\x94t\x94.";
        assert_eq!(
            decode(data).unwrap(),
            PyValue::Tuple(vec![
                PyValue::Int(-1),
                PyValue::Int(255),
                PyValue::Int(65535),
                PyValue::Int(-(1 << 40)),
                PyValue::Float(1.5),
                PyValue::None,
                PyValue::Bool(true),
                PyValue::Bool(false),
                PyValue::Bytes(vec![]),
            ])
        );
    }

    #[test]
    fn errors_name_offset_and_opcode() {
        let err = decode(b"\x80\x04}d.").unwrap_err();
        assert_eq!(
            (err.offset, err.opcode, &err.kind),
            (3, Some(b'd'), &PickleErrorKind::UnknownOpcode)
        );
        assert!(
            err.to_string().contains("offset 3 (opcode 0x64 'd')"),
            "{err}"
        );

        let err = decode(b"\x80\x04\x8c\x02os\x8c\x06system\x93.").unwrap_err();
        assert!(
            matches!(&err.kind, PickleErrorKind::UnknownGlobal { module, name } if module == "os" && name == "system")
        );
        assert_eq!(err.offset, 14);

        assert_eq!(
            decode(b"\x80\x04}\x94(\x8c\x01a").unwrap_err().kind,
            PickleErrorKind::Truncated
        );
        assert_eq!(
            decode(b"\x80\x04}\x94(\x8c\x09a").unwrap_err().kind,
            PickleErrorKind::Truncated
        );
        assert_eq!(
            decode(b"\x80\x06}.").unwrap_err().kind,
            PickleErrorKind::UnsupportedProtocol(6)
        );
        assert_eq!(
            decode(b"\x80\x04}.x").unwrap_err().kind,
            PickleErrorKind::TrailingData(1)
        );
        assert_eq!(
            decode(b"\x80\x04h\x05.").unwrap_err().kind,
            PickleErrorKind::MissingMemo(5)
        );
        assert_eq!(
            decode(b"\x80\x04a.").unwrap_err().kind,
            PickleErrorKind::StackUnderflow
        );
        assert!(matches!(
            decode(b"\x80\x04K\x01K\x02a.").unwrap_err().kind,
            PickleErrorKind::Invalid(_)
        ));
        // A datetime whose state is not a valid date (month 13).
        let bad = b"\x80\x04\x8c\x08datetime\x8c\x08datetime\x93C\n\x07\xea\x0d\x1a\x11(\x03\x05\xbe\xe8\x85R.";
        assert!(
            matches!(decode(bad).unwrap_err().kind, PickleErrorKind::Invalid(m) if m.contains("valid date"))
        );
    }
}

#[cfg(test)]
mod bomb_tests {
    use super::*;

    /// A list bomb: list 0 is empty and list i holds list i-1 twice, by memo reference, so
    /// `levels` levels of ten bytes each expand to 2^(levels+1) - 1 values.
    fn shared_list_bomb(levels: u8) -> Vec<u8> {
        // PROTO 2, EMPTY_LIST, BINPUT 0, POP: list 0 lives in the memo only.
        let mut data = vec![0x80, 2, b']', b'q', 0, b'0'];
        for i in 1..=levels {
            // EMPTY_LIST, BINPUT i, BINGET i-1, APPEND, BINGET i-1, APPEND, POP.
            data.extend([b']', b'q', i, b'h', i - 1, b'a', b'h', i - 1, b'a', b'0']);
        }
        // BINGET levels, STOP.
        data.extend([b'h', levels, b'.']);
        data
    }

    #[test]
    fn shared_references_cannot_expand_a_tiny_pickle_without_bound() {
        // 10 levels: 2047 values, well within the cap, and every copy is a real list.
        let small = decode(&shared_list_bomb(10)).unwrap();
        fn count(v: &PyValue) -> usize {
            match v {
                PyValue::List(items) => 1 + items.iter().map(count).sum::<usize>(),
                _ => 1,
            }
        }
        assert_eq!(count(&small), 2047);

        // 60 levels in 609 bytes would be 2^61 values: refused before any is built (building
        // them would not finish, so returning at all is the proof).
        let bomb = shared_list_bomb(60);
        assert!(bomb.len() < 1000);
        let err = decode(&bomb).unwrap_err();
        assert!(matches!(err.kind, PickleErrorKind::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("10000000 values"), "{err}");
    }

    #[test]
    fn a_shared_value_counts_its_depth_wherever_it_appears() {
        // A chain of 40 nested lists, memoized; the root holds it, then holds it again under
        // `wrappers` more lists. The second reference nests 1 + wrappers + 40 deep.
        let pickle = |wrappers: usize| {
            let mut data = vec![0x80, 2, b']', b'q', 0, b'0'];
            for i in 1..=40u8 {
                data.extend([b']', b'q', i, b'h', i - 1, b'a', b'0']);
            }
            data.extend([b']', b'h', 40, b'a']);
            data.extend(std::iter::repeat_n(b']', wrappers));
            data.extend([b'h', 40]);
            data.extend(std::iter::repeat_n(b'a', wrappers + 1));
            data.push(b'.');
            data
        };
        assert!(decode(&pickle(20)).is_ok());
        let err = decode(&pickle(30)).unwrap_err();
        assert!(
            matches!(&err.kind, PickleErrorKind::Invalid(m) if m.contains("nest deeper than 64")),
            "{err}"
        );
    }

    #[test]
    fn shared_text_cannot_expand_without_bound() {
        // One 1 MiB string referenced 2^7 times through shared lists: few values, 128 MiB of
        // text.
        let mut data = vec![0x80, 4, b'X'];
        let text = 1usize << 20;
        data.extend((text as u32).to_le_bytes());
        data.extend(std::iter::repeat_n(b'a', text));
        data.extend([b'q', 0, b'0']);
        for i in 1..=7u8 {
            data.extend([b']', b'q', i, b'h', i - 1, b'a', b'h', i - 1, b'a', b'0']);
        }
        data.extend([b'h', 7, b'.']);
        let err = decode(&data).unwrap_err();
        assert!(
            matches!(&err.kind, PickleErrorKind::TooLarge(m) if m.contains("of text")),
            "{err}"
        );
    }

    #[test]
    fn codecs_encode_cannot_allocate_without_bound() {
        // `_codecs.encode(s, 'latin1')` called over and over on one 1 MiB string: each call
        // makes a new 1 MiB object from five bytes of pickle, even if nothing keeps it.
        let mut data = vec![0x80, 2];
        data.extend(b"c_codecs\nencode\nq\x00");
        let text = 1usize << 20;
        data.push(b'X');
        data.extend((text as u32).to_le_bytes());
        data.extend(std::iter::repeat_n(b'a', text));
        data.extend(b"X\x06\x00\x00\x00latin1\x86q\x01");
        // The global is in memo 0 and the tuple (s, 'latin1') in memo 1: POP both, then
        // REDUCE and POP 100 times.
        data.extend(b"00");
        for _ in 0..100 {
            data.extend(b"h\x00h\x01R0");
        }
        data.extend(b"N.");
        let err = decode(&data).unwrap_err();
        assert!(
            matches!(&err.kind, PickleErrorKind::TooLarge(m) if m.contains("of text")),
            "{err}"
        );
    }
}

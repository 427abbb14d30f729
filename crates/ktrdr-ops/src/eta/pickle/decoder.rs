//! The opcode machine: bytes to an arena of objects, then the root to a [`PyValue`].

use std::collections::HashMap;

use chrono::NaiveDate;

use super::error::{PickleError, PickleErrorKind};
use super::expand::MAX_TEXT_BYTES;
use super::value::{PyDateTime, PyValue};

#[derive(Debug, Clone, Copy)]
pub(super) enum Callable {
    DateTime,
    TimeDelta,
    TimeZone,
    CodecsEncode,
}

#[derive(Debug)]
pub(super) enum Obj {
    Value(PyValue),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Callable(Callable),
    TimeDelta { micros: i64 },
    TimeZone { offset_secs: i32 },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Item {
    Mark,
    Obj(usize),
}

pub(super) struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    op_at: usize,
    pub(super) op: Option<u8>,
    pub(super) arena: Vec<Obj>,
    stack: Vec<Item>,
    memo: HashMap<u32, usize>,
    /// Bytes `_codecs.encode` has produced so far.
    encoded: u64,
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
    d.expand(root)
}

impl<'a> Decoder<'a> {
    pub(super) fn err(&self, kind: PickleErrorKind) -> PickleError {
        PickleError {
            offset: self.op_at,
            opcode: self.op,
            kind,
        }
    }

    pub(super) fn invalid(&self, msg: impl Into<String>) -> PickleError {
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
}

pub(super) fn kind_name(obj: &Obj) -> &'static str {
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

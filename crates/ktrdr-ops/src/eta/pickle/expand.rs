//! What a decoded pickle expands to, measured before anything is built (see the size limits
//! in the [module docs](super)).

use super::decoder::{kind_name, Decoder, Obj};
use super::error::{PickleError, PickleErrorKind};
use super::value::PyValue;

/// How deep values may nest; deeper (or a cycle through the memo) is rejected.
pub const MAX_DEPTH: usize = 64;

/// Most values one decoded pickle may hold, counting every copy of a shared container. A
/// time-estimation cache keeps ten records of about a dozen values per key: even a cache with
/// tens of thousands of keys stays well below this.
pub const MAX_VALUES: u64 = 10_000_000;

/// Most bytes of `str` and `bytes` content one decoded pickle may hold (counting every copy),
/// and most bytes `_codecs.encode` may produce while decoding it.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

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

impl Decoder<'_> {
    /// The value of `root`, once its expansion is measured and found within the limits.
    pub(super) fn expand(&self, root: usize) -> Result<PyValue, PickleError> {
        let mut sizes = vec![None; self.arena.len()];
        let size = self.measure(root, 0, &mut sizes)?;
        if size.values > MAX_VALUES {
            return Err(self.err(PickleErrorKind::TooLarge(format!(
                "the decoded value would hold more than {MAX_VALUES} values \
                 (shared references copy a container each time)"
            ))));
        }
        if size.text > MAX_TEXT_BYTES {
            return Err(self.err(PickleErrorKind::TooLarge(format!(
                "the decoded value would hold more than {MAX_TEXT_BYTES} bytes of text \
                 (shared references copy a string each time)"
            ))));
        }
        self.to_value(root)
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

#[cfg(test)]
mod bomb_tests {
    use super::super::decode;
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

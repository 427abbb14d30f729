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

mod decoder;
mod error;
mod expand;
mod value;

pub use decoder::decode;
pub use error::{PickleError, PickleErrorKind};
pub use expand::{MAX_DEPTH, MAX_TEXT_BYTES, MAX_VALUES};
pub use value::{PyDateTime, PyValue};

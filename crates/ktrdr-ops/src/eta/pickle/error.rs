//! Why a pickle could not be decoded, and where.

use std::fmt;

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
    /// The decoded value would exceed [`MAX_VALUES`](super::MAX_VALUES) or [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES) (see the module
    /// documentation); says which.
    #[error("{0}")]
    TooLarge(String),
}

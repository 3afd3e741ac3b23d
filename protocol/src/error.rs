//! Decode failures: what went wrong and at which byte.

use std::fmt;

/// A runner-protocol frame that could not be decoded.
///
/// Produced only by peer data, never by a bug of the caller: the gateway turns it into a close of
/// the offending runner connection (see [`DecodeError::close_code`]) and a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// Byte offset in the frame where the offending item starts.
    pub offset: usize,
}

/// The cause of a [`DecodeError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended inside an item that needs `needed` more bytes.
    UnexpectedEnd {
        /// Bytes missing.
        needed: usize,
    },
    /// A complete value was decoded but bytes remain after it.
    TrailingBytes {
        /// How many bytes were left over.
        remaining: usize,
    },
    /// A varint with a redundant trailing zero group (e.g. `80 00` for 0).
    NonCanonicalVarint,
    /// A varint longer than ten bytes or above `u64::MAX`.
    VarintOverflow,
    /// A `bool` byte other than `00` or `01`.
    InvalidBool(u8),
    /// An `optional` marker byte other than `00` or `01`.
    InvalidOptionMarker(u8),
    /// A `str` that is not valid UTF-8.
    InvalidUtf8,
    /// A union tag the schema does not define.
    UnknownTag {
        /// Schema name of the union.
        union: &'static str,
        /// The tag read.
        tag: u64,
    },
    /// An enum value the schema does not define.
    UnknownEnumValue {
        /// Schema name of the enum.
        enumeration: &'static str,
        /// The value read.
        value: u64,
    },
    /// A length or count that cannot fit in what is left of the input.
    LengthBeyondInput {
        /// The declared length (bytes) or count (elements).
        len: u64,
        /// Bytes left in the input after the length prefix.
        remaining: usize,
    },
    /// A length or count above the configured [`Limits`](super::Limits).
    LengthOverLimit {
        /// Which limit: `"data"`, `"str"` or `"list"`.
        what: &'static str,
        /// The declared length or count.
        len: u64,
        /// The configured maximum.
        limit: usize,
    },
    /// A map with the same key twice (the runner's decoder throws on it).
    DuplicateMapKey,
}

impl DecodeError {
    pub(crate) const fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// The WebSocket close code for a runner that sent this frame: 1007 (invalid frame payload
    /// data) for bad UTF-8, 1009 (message too big) for limits, 1002 (protocol error) otherwise.
    pub fn close_code(&self) -> u16 {
        match self.kind {
            DecodeErrorKind::InvalidUtf8 => 1007,
            DecodeErrorKind::LengthOverLimit { .. } => 1009,
            _ => 1002,
        }
    }

    /// A short stable name for metrics labels and close reasons.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DecodeErrorKind::UnexpectedEnd { .. } => "unexpected_end",
            DecodeErrorKind::TrailingBytes { .. } => "trailing_bytes",
            DecodeErrorKind::NonCanonicalVarint => "non_canonical_varint",
            DecodeErrorKind::VarintOverflow => "varint_overflow",
            DecodeErrorKind::InvalidBool(_) => "invalid_bool",
            DecodeErrorKind::InvalidOptionMarker(_) => "invalid_option_marker",
            DecodeErrorKind::InvalidUtf8 => "invalid_utf8",
            DecodeErrorKind::UnknownTag { .. } => "unknown_tag",
            DecodeErrorKind::UnknownEnumValue { .. } => "unknown_enum_value",
            DecodeErrorKind::LengthBeyondInput { .. } => "length_beyond_input",
            DecodeErrorKind::LengthOverLimit { .. } => "length_over_limit",
            DecodeErrorKind::DuplicateMapKey => "duplicate_map_key",
        }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnexpectedEnd { needed } => write!(f, "input ends {needed} byte(s) early"),
            Self::TrailingBytes { remaining } => {
                write!(f, "{remaining} trailing byte(s) after the value")
            }
            Self::NonCanonicalVarint => f.write_str("non-canonical varint"),
            Self::VarintOverflow => f.write_str("varint overflows u64"),
            Self::InvalidBool(b) => write!(f, "invalid bool byte {b:#04x}"),
            Self::InvalidOptionMarker(b) => write!(f, "invalid optional marker {b:#04x}"),
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            Self::UnknownTag { union, tag } => write!(f, "unknown tag {tag} for union {union}"),
            Self::UnknownEnumValue { enumeration, value } => {
                write!(f, "unknown value {value} for enum {enumeration}")
            }
            Self::LengthBeyondInput { len, remaining } => {
                write!(f, "length {len} exceeds the {remaining} byte(s) left")
            }
            Self::LengthOverLimit { what, len, limit } => {
                write!(f, "{what} length {len} exceeds the limit {limit}")
            }
            Self::DuplicateMapKey => f.write_str("duplicate map key"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl std::error::Error for DecodeError {}

//! BARE primitives as implemented by `@rivetkit/bare-ts` 0.6.2, strict on decode.
//!
//! Every protocol type implements [`Wire`]. Decoding never trusts a length prefix: a length or
//! count is checked against the bytes left (using each element type's minimum encoded size) and
//! against [`Limits`] before anything is allocated, so memory stays a small multiple of the input
//! length.

use crate::error::{DecodeError, DecodeErrorKind};

/// Bounds applied while decoding, on top of "must fit in the input".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest `data` value. 32 MiB: the bare-ts encoder's buffer cap, so nothing the runner can
    /// encode is refused, while the runner itself sends at most 20 MiB payloads.
    pub data_len_max: usize,
    /// Longest `str` value. 1 MiB: ids, names, paths, header values, close reasons and JSON
    /// metadata are all far smaller.
    pub str_len_max: usize,
    /// Most elements in one `list` or `map`. 1 Mi: KV requests carry at most 128 keys and event
    /// batches are per actor, so this only bounds hostile input.
    pub list_len_max: usize,
}

impl Limits {
    /// The defaults described on each field.
    pub const DEFAULT: Self = Self {
        data_len_max: 32 * 1024 * 1024,
        str_len_max: 1024 * 1024,
        list_len_max: 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A cursor over one frame.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], limits: Limits) -> Self {
        Self {
            buf,
            pos: 0,
            limits,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn err(&self, kind: DecodeErrorKind, offset: usize) -> DecodeError {
        DecodeError::new(kind, offset)
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.err(
                DecodeErrorKind::UnexpectedEnd {
                    needed: n - rest.len(),
                },
                self.pos,
            )),
        }
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// LEB128, canonical (no redundant zero group), at most ten bytes.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        // Tags, small lengths and counts are one byte: the common case, without the loop.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.u8()?;
            let group = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(self.err(DecodeErrorKind::VarintOverflow, start));
            }
            value |= group << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(self.err(DecodeErrorKind::NonCanonicalVarint, start));
                }
                return Ok(value);
            }
        }
        Err(self.err(DecodeErrorKind::VarintOverflow, start))
    }

    /// A length or count: must be ≤ `limit` and, at `min_len` bytes per element, fit in the rest
    /// of the input.
    pub(crate) fn length(
        &mut self,
        what: &'static str,
        limit: usize,
        min_len: usize,
    ) -> Result<usize, DecodeError> {
        let start = self.pos;
        let len = self.varint()?;
        if len > limit as u64 {
            return Err(self.err(DecodeErrorKind::LengthOverLimit { what, len, limit }, start));
        }
        let remaining = self.remaining();
        if len.saturating_mul(min_len.max(1) as u64) > remaining as u64 {
            return Err(self.err(DecodeErrorKind::LengthBeyondInput { len, remaining }, start));
        }
        // Fits in usize: it is at most `remaining`.
        Ok(len as usize)
    }

    pub(crate) fn data(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.length("data", self.limits.data_len_max, 1)?;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.length("str", self.limits.str_len_max, 1)?;
        let start = self.pos;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map_err(|e| self.err(DecodeErrorKind::InvalidUtf8, start + e.valid_up_to()))
    }

    pub(crate) fn count(&mut self, min_len: usize) -> Result<usize, DecodeError> {
        self.length("list", self.limits.list_len_max, min_len)
    }

    /// Reads a union tag (or enum value): a varint, reported with the tag's own offset.
    pub(crate) fn tag(&mut self) -> Result<(u64, usize), DecodeError> {
        let at = self.pos;
        Ok((self.varint()?, at))
    }

    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            remaining => Err(self.err(DecodeErrorKind::TrailingBytes { remaining }, self.pos)),
        }
    }
}

/// Bytes of `v` as a LEB128 varint.
pub(crate) const fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A type with a BARE encoding.
pub(crate) trait Wire: Sized {
    /// Fewest bytes any value of this type encodes to; bounds list counts before allocation.
    const MIN_LEN: usize;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    fn encode(&self, out: &mut Vec<u8>);
    /// Exact encoded size, so a frame is encoded into one allocation.
    fn encoded_len(&self) -> usize;
}

macro_rules! fixed_int {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const MIN_LEN: usize = size_of::<$t>();
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(r.array()?))
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn encoded_len(&self) -> usize {
                size_of::<$t>()
            }
        }
    )*};
}
fixed_int!(u16, u32, u64, i64);

/// `data<8>`: eight bytes with no length (v8's SQLite float values).
impl Wire for [u8; 8] {
    const MIN_LEN: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn encoded_len(&self) -> usize {
        8
    }
}

impl Wire for bool {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.pos();
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(r.err(DecodeErrorKind::InvalidBool(b), at)),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

impl Wire for String {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.str().map(str::to_owned)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.len()
    }
}

/// `data`: the one copy a payload makes on its way through the decoder.
impl Wire for Vec<u8> {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.data().map(<[u8]>::to_vec)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self);
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.len()
    }
}

impl<T: Wire> Wire for Option<T> {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.pos();
        match r.u8()? {
            0 => Ok(None),
            1 => T::decode(r).map(Some),
            b => Err(r.err(DecodeErrorKind::InvalidOptionMarker(b), at)),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        1 + self.as_ref().map_or(0, Wire::encoded_len)
    }
}

/// `list<T>` for every element type except `u8` (which is `data`).
impl<T: Wire + ListElement> Wire for Vec<T> {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.count(T::MIN_LEN)?;
        let mut items = Self::with_capacity(n);
        for _ in 0..n {
            items.push(T::decode(r)?);
        }
        Ok(items)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for item in self {
            item.encode(out);
        }
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.iter().map(Wire::encoded_len).sum::<usize>()
    }
}

/// Marks types that may appear in `list<T>`; keeps `Vec<u8>` meaning `data`.
pub(crate) trait ListElement {}

/// Defines a BARE struct: the Rust struct plus its [`Wire`] impl, fields in schema order.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::wire::Wire for $name {
            const MIN_LEN: usize = 0 $( + <$ty as $crate::wire::Wire>::MIN_LEN )*;
            fn decode(
                r: &mut $crate::wire::Reader<'_>,
            ) -> Result<Self, $crate::DecodeError> {
                Ok(Self { $( $field: $crate::wire::Wire::decode(r)?, )* })
            }
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::wire::Wire::encode(&self.$field, out); )*
            }
            fn encoded_len(&self) -> usize {
                0 $( + $crate::wire::Wire::encoded_len(&self.$field) )*
            }
        }

        impl $crate::wire::ListElement for $name {}

        #[cfg(test)]
        impl $crate::describe::Describe for $name {
            fn describe(&self) -> serde_json::Value {
                let mut fields = serde_json::Map::new();
                $( fields.insert(
                    $crate::describe::camel_case(stringify!($field)),
                    $crate::describe::Describe::describe(&self.$field),
                ); )*
                serde_json::Value::Object(fields)
            }
        }
    };
}

/// Defines a BARE union (or, with only unit variants, an enum): the Rust enum, its [`Wire`] impl
/// and `schema_name()`, which is `prefix + Variant + suffix` (the name the schema and the npm
/// codec use, e.g. `ToServer` + `Init` = `ToServerInit`).
macro_rules! wire_union {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $prefix:literal, $suffix:literal {
            $( $(#[$vmeta:meta])* $tag:literal => $variant:ident $( ($ty:ty) )? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant $( ($ty) )?, )*
        }

        impl $name {
            /// The schema's name for this variant.
            pub fn schema_name(&self) -> &'static str {
                match self {
                    $( Self::$variant { .. } =>
                        concat!($prefix, stringify!($variant), $suffix), )*
                }
            }
        }

        impl $crate::wire::Wire for $name {
            const MIN_LEN: usize = 1;
            fn decode(
                r: &mut $crate::wire::Reader<'_>,
            ) -> Result<Self, $crate::DecodeError> {
                let (tag, at) = r.tag()?;
                match tag {
                    $( $tag => Ok(Self::$variant $( (
                        <$ty as $crate::wire::Wire>::decode(r)?
                    ) )?), )*
                    tag => Err(r.err(
                        $crate::DecodeErrorKind::UnknownTag {
                            union: stringify!($name),
                            tag,
                        },
                        at,
                    )),
                }
            }
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $( Self::$variant $( (wire_union!(@bind $ty, body)) )? => {
                        // Every union of these schemas has fewer than 128 variants: the tag is one byte.
                        out.push($tag);
                        $( $crate::wire::Wire::encode(
                            wire_union!(@bind $ty, body), out); )?
                    } )*
                }
            }
            fn encoded_len(&self) -> usize {
                match self {
                    $( Self::$variant $( (wire_union!(@bind $ty, body)) )? => {
                        1 $( + $crate::wire::Wire::encoded_len(
                            wire_union!(@bind $ty, body)) )?
                    } )*
                }
            }
        }

        impl $crate::wire::ListElement for $name {}

        #[cfg(test)]
        impl $crate::describe::Describe for $name {
            fn describe(&self) -> serde_json::Value {
                #[allow(unused_mut, unused_assignments)]
                let mut val = serde_json::Value::Null;
                match self {
                    $( Self::$variant $( (wire_union!(@bind $ty, body)) )? => {
                        $( val = $crate::describe::Describe::describe(
                            wire_union!(@bind $ty, body)); )?
                    } )*
                }
                serde_json::json!({ "tag": self.schema_name(), "val": val })
            }
        }
    };
    (@bind $ty:ty, $id:ident) => { $id };
}

/// A BARE enum (a varint of fixed values, no payloads): the Rust enum and its [`Wire`] impl.
/// Golden vectors describe a value by its variant name, as the npm codec's string enums do.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $tag:literal => $variant:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $crate::wire::Wire for $name {
            const MIN_LEN: usize = 1;
            fn decode(
                r: &mut $crate::wire::Reader<'_>,
            ) -> Result<Self, $crate::DecodeError> {
                match r.tag()? {
                    $( ($tag, _) => Ok(Self::$variant), )*
                    (value, at) => Err(r.err(
                        $crate::DecodeErrorKind::UnknownEnumValue {
                            enumeration: stringify!($name),
                            value,
                        },
                        at,
                    )),
                }
            }
            fn encode(&self, out: &mut Vec<u8>) {
                // Every enum of these schemas has fewer than 128 values: one byte.
                out.push(match self {
                    $( Self::$variant => $tag, )*
                });
            }
            fn encoded_len(&self) -> usize {
                1
            }
        }

        #[cfg(test)]
        impl $crate::describe::Describe for $name {
            fn describe(&self) -> serde_json::Value {
                serde_json::json!(match self {
                    $( Self::$variant => stringify!($variant), )*
                })
            }
        }
    };
}

/// The whole-frame API of a top-level message type: strict decode (trailing bytes are an
/// error), encode into a reused or an exact new buffer.
macro_rules! frame_codec {
    ($($name:ident),*) => {$(
        impl $name {
            /// Decodes one whole frame with the default [`Limits`]; trailing bytes are an error.
            ///
            /// [`Limits`]: $crate::Limits
            pub fn decode(bytes: &[u8]) -> Result<Self, $crate::DecodeError> {
                Self::decode_with(bytes, $crate::Limits::DEFAULT)
            }

            /// Decodes one whole frame with explicit limits.
            pub fn decode_with(
                bytes: &[u8],
                limits: $crate::Limits,
            ) -> Result<Self, $crate::DecodeError> {
                let mut r = $crate::wire::Reader::new(bytes, limits);
                let frame = <Self as $crate::wire::Wire>::decode(&mut r)?;
                r.finish()?;
                Ok(frame)
            }

            /// Appends the frame's bytes to `out` (reuse one buffer on hot paths).
            pub fn encode(&self, out: &mut Vec<u8>) {
                out.reserve(<Self as $crate::wire::Wire>::encoded_len(self));
                <Self as $crate::wire::Wire>::encode(self, out);
            }

            /// The frame's bytes in a new buffer of exactly the right size.
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut out =
                    Vec::with_capacity(<Self as $crate::wire::Wire>::encoded_len(self));
                <Self as $crate::wire::Wire>::encode(self, &mut out);
                out
            }

            /// Exact size of the encoded frame.
            pub fn encoded_len(&self) -> usize {
                <Self as $crate::wire::Wire>::encoded_len(self)
            }
        }
    )*};
}

pub(crate) use {frame_codec, wire_enum, wire_struct, wire_union};

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(bytes: &[u8]) -> Result<u64, DecodeError> {
        let mut r = Reader::new(bytes, Limits::DEFAULT);
        let v = r.varint()?;
        r.finish()?;
        Ok(v)
    }

    #[test]
    fn varint_round_trips_at_group_boundaries() {
        for v in [
            0,
            1,
            127,
            128,
            200,
            16383,
            16384,
            2_097_151,
            u64::MAX / 2,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(varint(&out), Ok(v), "{v}");
        }
        let mut out = Vec::new();
        put_varint(&mut out, 200);
        assert_eq!(out, [0xc8, 0x01]);
    }

    #[test]
    fn varint_rejects_overlong_and_overflow() {
        assert_eq!(
            varint(&[0x80, 0x00]).unwrap_err().kind,
            DecodeErrorKind::NonCanonicalVarint
        );
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(varint(&max), Ok(u64::MAX));
        max[9] = 0x02;
        assert_eq!(
            varint(&max).unwrap_err().kind,
            DecodeErrorKind::VarintOverflow
        );
    }
}

//! `map<str><V>` with unique keys, in insertion order.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::wire::{Limits, Reader, Wire, put_varint};

/// A BARE `map<str><V>` (HTTP headers, prepopulated actor names).
///
/// Keys are unique by construction: the runner's decoder throws on a duplicate key and that
/// kills the runner process, so no API here can produce one. Order is insertion order, which is
/// also the order the npm encoder writes, so encoding is byte-exact and deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrMap<V> {
    entries: Vec<(String, V)>,
}

impl<V> StrMap<V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Sets `key` to `value`, returning the previous value if the key was present (its position
    /// is kept).
    pub fn insert(&mut self, key: impl Into<String>, value: V) -> Option<V> {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for StrMap<V> {
    /// Later entries replace earlier ones with the same key.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl StrMap<String> {
    /// The map in its BARE encoding (`map<str><str>`, as both protocol versions carry headers):
    /// a compact form to keep headers in.
    pub fn to_bare(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// A map from its BARE encoding, strictly: the whole input, within `limits`.
    pub fn from_bare(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, limits);
        let map = Self::decode(&mut r)?;
        r.finish()?;
        Ok(map)
    }
}

/// Below this size a linear scan finds duplicates faster than sorting.
const LINEAR_DUPLICATE_SCAN_MAX: usize = 16;

impl<V: Wire> Wire for StrMap<V> {
    const MIN_LEN: usize = 1;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.count(String::MIN_LEN + V::MIN_LEN)?;
        let mut entries: Vec<(String, V)> = Vec::with_capacity(n);
        let mut key_offsets = Vec::with_capacity(if n > LINEAR_DUPLICATE_SCAN_MAX { n } else { 0 });
        for _ in 0..n {
            let at = r.pos();
            let key = r.str()?;
            if n <= LINEAR_DUPLICATE_SCAN_MAX {
                if entries.iter().any(|(k, _)| k == key) {
                    return Err(r.err(DecodeErrorKind::DuplicateMapKey, at));
                }
            } else {
                key_offsets.push(at);
            }
            let key = key.to_owned();
            entries.push((key, V::decode(r)?));
        }
        if n > LINEAR_DUPLICATE_SCAN_MAX {
            let mut keys: Vec<(&str, usize)> = entries
                .iter()
                .zip(&key_offsets)
                .map(|((k, _), &at)| (k.as_str(), at))
                .collect();
            keys.sort_unstable();
            let duplicate = keys.windows(2).find_map(|w| match w {
                [(a, _), (b, at)] if a == b => Some(*at),
                _ => None,
            });
            if let Some(at) = duplicate {
                return Err(r.err(DecodeErrorKind::DuplicateMapKey, at));
            }
        }
        Ok(Self { entries })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.entries.len() as u64);
        for (k, v) in &self.entries {
            k.encode(out);
            v.encode(out);
        }
    }

    fn encoded_len(&self) -> usize {
        let entries: usize = self
            .entries
            .iter()
            .map(|(k, v)| k.encoded_len() + v.encoded_len())
            .sum();
        crate::wire::varint_len(self.entries.len() as u64) + entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn decode(bytes: &[u8]) -> Result<StrMap<String>, DecodeError> {
        let mut r = Reader::new(bytes, Limits::DEFAULT);
        StrMap::decode(&mut r)
    }

    fn encoded(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, pairs.len() as u64);
        for (k, v) in pairs {
            k.to_string().encode(&mut out);
            v.to_string().encode(&mut out);
        }
        out
    }

    #[test]
    fn a_string_map_round_trips_through_its_bare_form_and_refuses_a_trailing_byte() {
        let m: StrMap<String> = [("host", "example.com"), ("x", "")]
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        let bare = m.to_bare();
        assert_eq!(bare, encoded(&[("host", "example.com"), ("x", "")]));
        assert_eq!(StrMap::from_bare(&bare, Limits::DEFAULT), Ok(m));
        let mut trailing = bare;
        trailing.push(0);
        assert!(StrMap::from_bare(&trailing, Limits::DEFAULT).is_err());
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = StrMap::new();
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.insert("a", 3), Some(1));
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", &3), ("b", &2)]);
    }

    #[test]
    fn duplicate_keys_are_rejected_small_and_large() {
        let small = encoded(&[("x", "1"), ("y", "2"), ("x", "3")]);
        let err = decode(&small).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::DuplicateMapKey);
        assert_eq!(err.offset, 9, "offset of the second \"x\"");

        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let mut pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
        assert!(decode(&encoded(&pairs)).is_ok());
        pairs.push(("k7", "again"));
        let bytes = encoded(&pairs);
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::DuplicateMapKey);
        assert_eq!(&bytes[err.offset..err.offset + 3], b"\x02k7");
        assert!(err.offset > 100, "points at the later duplicate");
    }
}

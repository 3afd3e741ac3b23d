//! [`PackedHeaders`]: a live socket's request headers in one allocation.
//!
//! A hibernating socket keeps its headers for its whole life (its index row and any reopen
//! need them) but reads them rarely. As a map they are a vector plus two strings per header,
//! which for an idle socket was more than its whole tunnel state; packed in their BARE form
//! (the protocol's own encoding of a header map), they are one boxed slice, unpacked on the
//! rare read.

use torpor_protocol::Limits;
use torpor_protocol::shared::Headers;

/// Headers in their BARE encoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PackedHeaders(Box<[u8]>);

/// No bound on what was packed here: the adapter already limited the request.
const OWN_BYTES: Limits = Limits {
    data_len_max: usize::MAX,
    str_len_max: usize::MAX,
    list_len_max: usize::MAX,
};

impl PackedHeaders {
    pub(crate) fn pack(headers: &Headers) -> Self {
        Self(headers.to_bare().into_boxed_slice())
    }

    pub(crate) fn unpack(&self) -> Headers {
        // Decoding what `pack` encoded from a map (unique keys, UTF-8, no limit) cannot fail.
        Headers::from_bare(&self.0, OWN_BYTES).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_unpack_as_they_were_packed_in_order() {
        let mut h = Headers::new();
        h.insert("host", "example.com".to_owned());
        h.insert("x-empty", String::new());
        h.insert("sec-websocket-protocol", "rivet, ünïcode".to_owned());
        let packed = PackedHeaders::pack(&h);
        assert_eq!(packed.unpack(), h);
        let unpacked = packed.unpack();
        let order: Vec<&str> = unpacked.iter().map(|(k, _)| k).collect();
        assert_eq!(order, ["host", "x-empty", "sec-websocket-protocol"]);
        assert_eq!(
            PackedHeaders::pack(&Headers::new()).unpack(),
            Headers::new()
        );
    }

    #[test]
    fn packed_headers_are_one_allocation_of_their_bytes() {
        let mut h = Headers::new();
        h.insert("a", "bc".to_owned());
        h.insert("de", "f".to_owned());
        // A count, then a length before each string.
        assert_eq!(PackedHeaders::pack(&h).0.len(), 1 + 4 + 6);
    }

    #[test]
    fn a_header_value_past_the_wire_limit_still_unpacks() {
        let mut h = Headers::new();
        h.insert("x-big", "v".repeat(Limits::DEFAULT.str_len_max + 1));
        assert_eq!(PackedHeaders::pack(&h).unpack(), h);
    }
}

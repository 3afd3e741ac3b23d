//! [`PackedHeaders`]: a live socket's request headers in one allocation.
//!
//! A hibernating socket keeps its headers for its whole life (its index row and any reopen
//! need them) but reads them rarely. As a map they are a vector plus two strings per header,
//! which for an idle socket was more than its whole tunnel state; packed, they are one boxed
//! slice, unpacked on the rare read.

use torpor_protocol::shared::Headers;

/// Headers as length-prefixed key/value byte strings, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PackedHeaders(Box<[u8]>);

impl PackedHeaders {
    pub(crate) fn pack(headers: &Headers) -> Self {
        let len = headers
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>();
        let mut out = Vec::with_capacity(len);
        for (k, v) in headers.iter() {
            for part in [k, v.as_str()] {
                // A header longer than 4 GiB never reaches the core (the adapter's request
                // limits are far below), so the length always fits.
                let n = u32::try_from(part.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(&part.as_bytes()[..n as usize]);
            }
        }
        Self(out.into_boxed_slice())
    }

    pub(crate) fn unpack(&self) -> Headers {
        let mut rest: &[u8] = &self.0;
        let mut next = || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let n = u32::from_le_bytes(*len) as usize;
            let (part, tail) = tail.split_at_checked(n)?;
            rest = tail;
            // Packed from `&str`, so always UTF-8.
            Some(String::from_utf8_lossy(part).into_owned())
        };
        let mut headers = Headers::new();
        while let (Some(k), Some(v)) = (next(), next()) {
            headers.insert(k, v);
        }
        headers
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
        let order: Vec<&str> = h.iter().map(|(k, _)| k).collect();
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
        assert_eq!(PackedHeaders::pack(&h).0.len(), 4 * 4 + 6);
    }
}

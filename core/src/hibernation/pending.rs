//! The un-acked buffer of one hibernatable socket: every client message sent to the runner,
//! kept with its index and exact bytes until a cumulative ack covers it.

use std::collections::VecDeque;

use bytes::Bytes;

/// Entries a drained buffer keeps room for: a burst's capacity is given back once it is acked,
/// so a socket that once held thousands of messages does not keep their slots while idle.
pub(crate) const KEEP_CAPACITY: usize = 8;

/// `a` is after `b` in wrapping u16 order. Unambiguous because at most 32,767 messages are
/// ever outstanding (`Config::socket_window_messages`).
pub(crate) fn wrapping_gt(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// (message index, the encoded `ToClient` frame), oldest first. The bytes are the ones
    /// written to the runner (shared, not a copy), so a resend is exact.
    entries: VecDeque<(u16, Bytes)>,
    /// Payload-carrying bytes held (the encoded frames).
    bytes: usize,
}

impl Pending {
    pub(crate) fn push(&mut self, index: u16, frame: Bytes) {
        self.bytes += frame.len();
        self.entries.push_back((index, frame));
    }

    /// Drops every entry at or before `ack` (cumulative); returns the bytes freed.
    pub(crate) fn ack(&mut self, ack: u16) -> usize {
        let mut freed = 0;
        while let Some((index, _)) = self.entries.front() {
            if wrapping_gt(*index, ack) {
                break;
            }
            if let Some((_, frame)) = self.entries.pop_front() {
                freed += frame.len();
            }
        }
        self.bytes -= freed;
        if self.entries.is_empty() && self.entries.capacity() > KEEP_CAPACITY {
            self.entries.shrink_to(KEEP_CAPACITY);
        }
        freed
    }

    /// The frames to resend, oldest first, with their original bytes (shared, not copied).
    pub(crate) fn frames(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.entries.iter().map(|(_, f)| f.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries it has room for without growing.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether one more message of `len` bytes fits the window. A message larger than the
    /// whole window still goes when nothing is outstanding, so no message can block forever.
    pub(crate) fn admits(&self, len: usize, window_bytes: usize, window_messages: usize) -> bool {
        self.is_empty() || (self.len() < window_messages && self.bytes + len <= window_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(indices: impl IntoIterator<Item = u16>) -> Pending {
        let mut p = Pending::default();
        for i in indices {
            p.push(i, Bytes::from(vec![0; 10]));
        }
        p
    }

    #[test]
    fn wrapping_order_across_the_wrap() {
        assert!(wrapping_gt(1, 0));
        assert!(wrapping_gt(0, 65535));
        assert!(wrapping_gt(5, 65530));
        assert!(!wrapping_gt(65530, 5));
        assert!(!wrapping_gt(7, 7));
        assert!(wrapping_gt(32767, 0));
        assert!(
            !wrapping_gt(32768, 0),
            "beyond the half window it reads as behind"
        );
    }

    #[test]
    fn cumulative_acks_trim_across_65535_to_0() {
        let mut p = filled([65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(p.bytes(), 60);
        assert_eq!(p.ack(65534), 20);
        assert_eq!(p.len(), 4);
        assert_eq!(p.ack(0), 20, "an ack past the wrap covers 65535 and 0");
        assert_eq!(p.ack(0), 0, "a repeated ack frees nothing");
        assert_eq!(p.ack(65000), 0, "a stale ack frees nothing");
        assert_eq!(p.ack(2), 20);
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn a_drained_buffer_gives_its_burst_capacity_back() {
        let mut p = filled(0..1_000);
        assert!(p.entries.capacity() >= 1_000);
        p.ack(500);
        assert!(p.entries.capacity() >= 500, "not while entries remain");
        p.ack(999);
        assert!(p.is_empty());
        assert!(
            p.entries.capacity() <= KEEP_CAPACITY,
            "{}",
            p.entries.capacity()
        );
    }

    #[test]
    fn window_admits_by_bytes_and_count_but_never_blocks_an_empty_buffer() {
        let p = filled([1, 2]);
        assert!(p.admits(10, 30, 3));
        assert!(!p.admits(11, 30, 3), "bytes");
        assert!(!p.admits(1, 100, 2), "count");
        assert!(
            Pending::default().admits(1 << 30, 10, 1),
            "one oversize message alone"
        );
    }
}

//! A length prefix never drives allocation: frames that claim billions of elements or bytes are
//! rejected with at most a few bytes allocated. Measured with a counting global allocator, so
//! this file holds a single test (no other test thread allocates meanwhile).
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use torpor_protocol::v7::ToServer;
use torpor_protocol::{DecodeErrorKind, Limits};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), SeqCst) + layout.size();
        PEAK.fetch_max(live, SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes allocated above the starting level while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(SeqCst);
    PEAK.store(base, SeqCst);
    let out = f();
    (out, PEAK.load(SeqCst) - base)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

const FOUR_BILLION: u64 = 4_000_000_000;
const MIB: usize = 1024 * 1024;

#[test]
fn huge_length_prefixes_are_rejected_without_allocating() {
    // `ToServerEvents` claiming 4 billion events, padded to 16 bytes.
    let mut events = vec![1];
    varint(FOUR_BILLION, &mut events);
    events.resize(16, 0);
    assert_eq!(events.len(), 16);

    // `ToServerKvRequest` put with 4 billion keys, 16 bytes.
    let mut kv = vec![5, 1, b'a', 0, 0, 0, 0, 2];
    varint(FOUR_BILLION, &mut kv);
    kv.resize(16, 0);

    // `ToServerKvRequest` delete-range whose start key claims 4 GB.
    let mut data = vec![5, 1, b'a', 0, 0, 0, 0, 4];
    varint(FOUR_BILLION, &mut data);
    data.resize(16, 0);

    // With the default limits the count is over the list limit; with no limits it cannot fit in
    // the input. Either way nothing proportional to the claim is allocated.
    let unlimited = Limits {
        data_len_max: usize::MAX,
        str_len_max: usize::MAX,
        list_len_max: usize::MAX,
    };
    for (name, frame) in [("events", &events), ("kv put", &kv), ("data", &data)] {
        for limits in [Limits::DEFAULT, unlimited] {
            let (result, peak) = peak_during(|| ToServer::decode_with(frame, limits));
            let err = result.expect_err(name);
            assert!(
                matches!(
                    err.kind,
                    DecodeErrorKind::LengthOverLimit {
                        len: FOUR_BILLION,
                        ..
                    } | DecodeErrorKind::LengthBeyondInput {
                        len: FOUR_BILLION,
                        ..
                    }
                ),
                "{name}: {err}"
            );
            assert!(peak < MIB, "{name}: {peak} bytes allocated");
        }
    }

    // Control: the counter does see allocations, so a small peak above is a real measurement.
    let (_v, peak) = peak_during(|| vec![0u8; 2 * MIB]);
    assert!(peak >= 2 * MIB);
}

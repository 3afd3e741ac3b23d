//! The writer thread: every submitted op completes exactly once, in order, and batches share
//! transactions.

use std::sync::mpsc;
use std::time::Duration;

use torpor_core::{ActorId, OpId, StoreReply, StoreRequest};
use torpor_protocol::shared::{KvGetRequest, KvPutRequest, KvRequestData, KvResponseData};
use torpor_sqlite::{Store, Writer};

#[test]
fn every_op_completes_once_in_order() {
    let actor = ActorId::parse("00000000-0000-4000-8000-000000000001").unwrap();
    let (tx, rx) = mpsc::channel();
    let writer = Writer::spawn(Store::open_in_memory().unwrap(), move |batch| {
        tx.send(batch).unwrap();
    })
    .unwrap();
    for i in 0..2_000u64 {
        let request = KvRequestData::Put(KvPutRequest {
            keys: vec![i.to_be_bytes().to_vec()],
            values: vec![vec![1]],
        });
        assert!(writer.submit(
            OpId::new(i),
            StoreRequest::Kv {
                actor,
                request: Box::new(request),
            }
        ));
    }
    let get = KvRequestData::Get(KvGetRequest {
        keys: vec![0u64.to_be_bytes().to_vec(), 1999u64.to_be_bytes().to_vec()],
    });
    writer.submit(
        OpId::new(2_000),
        StoreRequest::Kv {
            actor,
            request: Box::new(get),
        },
    );
    let mut seen = Vec::new();
    let mut batches = 0;
    while seen.len() < 2_001 {
        let batch = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("completions");
        batches += 1;
        seen.extend(batch);
    }
    let ops: Vec<u64> = seen.iter().map(|(op, _)| op.get()).collect();
    assert_eq!(ops, (0..=2_000).collect::<Vec<_>>());
    assert!(
        seen[..2_000]
            .iter()
            .all(|(_, r)| *r == Ok(StoreReply::Kv(KvResponseData::Put)))
    );
    let Ok(StoreReply::Kv(KvResponseData::Get(found))) = &seen[2_000].1 else {
        panic!()
    };
    assert_eq!(found.keys.len(), 2);
    assert!(
        batches < 2_001,
        "ops queued together share a transaction ({batches} batches)"
    );
    let store = writer.shutdown().expect("the store comes back");
    assert!(store.integrity_ok().unwrap());
}

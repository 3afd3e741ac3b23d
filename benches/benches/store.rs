//! The SQLite store (I/O-bound, on a temporary file with WAL): the keepalive of a
//! 1,000,000-row index (one lease renewal, whatever the number of rows); the eligible rows of an
//! actor with 1,000 rows; KV get and put of 10 keys. Under `cargo test` (no `--bench`) the index is smaller so
//! the check stays quick.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use torpor_core::HibernationRow;
use torpor_core::{ActorId, OpId, StoreRequest};
use torpor_protocol::shared::{
    GatewayId, Headers, KvGetRequest, KvPutRequest, KvRequestData, RequestId,
};
use torpor_sqlite::Store;

fn actor(i: u32) -> ActorId {
    ActorId::parse(&format!("00000000-0000-4000-8000-{i:012x}")).unwrap()
}

const GW: GatewayId = GatewayId::from_bytes([1, 2, 3, 4]);

fn rq(i: u32) -> RequestId {
    RequestId::from_bytes(i.to_le_bytes())
}

fn store(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let rows: u32 = if full { 1_000_000 } else { 20_000 };
    let dir = std::env::temp_dir().join(format!("torpor-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = Store::open(dir.join("bench.db")).unwrap();
    // 1,000 actors × (rows / 1,000) sockets; actor 0 has exactly 1,000 rows.
    let mut op = 0u64;
    for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
        let batch = chunk
            .iter()
            .map(|&i| {
                op += 1;
                let row = HibernationRow {
                    actor: actor(i % 1_000),
                    gateway_id: GW,
                    request_id: rq(i),
                    path: "/ws".into(),
                    headers: Headers::new(),
                };
                (OpId::new(op), StoreRequest::PutHibernation(Box::new(row)))
            })
            .collect();
        s.execute(batch, 1);
    }

    let mut g = c.benchmark_group("store");
    let mut now = 2;
    let renew = |s: &mut Store, now: i64| {
        let request = StoreRequest::RenewLease { gateway_id: GW };
        s.execute(vec![(OpId::new(0), request)], now)
    };
    renew(&mut s, now);
    // The keepalive of every row: one lease write, with 1,000,000 rows as with one.
    g.throughput(Throughput::Elements(u64::from(rows)));
    g.bench_function("keepalive_lease_renewal", |b| {
        b.iter(|| {
            now += 1;
            black_box(renew(&mut s, now))
        })
    });
    g.throughput(Throughput::Elements(1));
    let eligible = s.eligible_rows(actor(0), 0).unwrap().len();
    assert_eq!(eligible as u32, rows / 1_000);
    g.bench_function("eligible_rows_of_one_actor", |b| {
        b.iter(|| black_box(s.eligible_rows(actor(0), 0).unwrap().len()))
    });

    let keys: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'k', i]).collect();
    let put = KvRequestData::Put(KvPutRequest {
        keys: keys.clone(),
        values: vec![vec![7; 100]; 10],
    });
    let get = KvRequestData::Get(KvGetRequest { keys });
    g.bench_function("kv_put_10_keys", |b| {
        b.iter(|| {
            now += 1;
            let request = StoreRequest::Kv {
                actor: actor(1),
                request: Box::new(put.clone()),
            };
            black_box(s.execute(vec![(OpId::new(0), request)], now))
        })
    });
    g.bench_function("kv_get_10_keys", |b| {
        b.iter(|| {
            let request = StoreRequest::Kv {
                actor: actor(1),
                request: Box::new(get.clone()),
            };
            black_box(s.execute(vec![(OpId::new(0), request)], now))
        })
    });
    g.finish();
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, store);
criterion_main!(benches);

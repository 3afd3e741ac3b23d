//! Property test: random sequences of index, registry, KV and page-store operations, executed
//! in random batches against SQLite and against an in-memory `BTreeMap` model, give identical
//! results.

use std::collections::BTreeMap;
use std::time::Duration;

use torpor_core::HibernationRow;
use torpor_core::kv_policy::DEFAULT_LIST_LIMIT;
use torpor_core::page_store::{self, DirtyPage, PageAnswer, PageError, PageOp};
use torpor_core::{
    ActorId, ActorRecord, CrashPolicy, IndexKey, NamespaceRecord, OpId, StoreReply, StoreRequest,
};
use torpor_protocol::shared::{
    GatewayId, Headers, KvDeleteRangeRequest, KvDeleteRequest, KvGetRequest, KvListPrefixQuery,
    KvListQuery, KvListRangeQuery, KvListRequest, KvPutRequest, KvRequestData, KvResponseData,
    RequestId,
};
use torpor_sqlite::Store;

/// (actor, key) → (value, update_ts)
type KvModel = BTreeMap<(ActorId, Vec<u8>), (Vec<u8>, i64)>;

/// A staged commit: txid, generation, segments' first pages, pages (by their first byte).
type StageModel = (u64, u64, Vec<u32>, BTreeMap<u32, u8>);

/// The reference semantics, written as plainly as possible.
#[derive(Default)]
struct Model {
    actors: BTreeMap<ActorId, ActorRecord>,
    kv: KvModel,
    /// (actor, gateway, request) → write time (`last_ping_ts`)
    index: BTreeMap<(ActorId, [u8; 4], [u8; 4]), i64>,
    /// gateway → last lease renewal
    leases: BTreeMap<[u8; 4], i64>,
    /// Namespaces by name; a second put keeps the first `create_ts`.
    namespaces: BTreeMap<String, NamespaceRecord>,
    /// Actor databases: head, size in pages, pages (by their first byte).
    dbs: BTreeMap<ActorId, (u64, u32, BTreeMap<u32, u8>)>,
    /// Staged commits.
    stages: BTreeMap<ActorId, StageModel>,
}

impl Model {
    fn apply(&mut self, request: &StoreRequest, now: i64) -> StoreReply {
        match request {
            StoreRequest::PutActor(r) => {
                self.actors.insert(r.id, (**r).clone());
                StoreReply::Done
            }
            StoreRequest::DeleteActor(id) => {
                self.actors.remove(id);
                self.kv.retain(|(a, _), _| a != id);
                self.index.retain(|(a, _, _), _| a != id);
                self.dbs.remove(id);
                self.stages.remove(id);
                StoreReply::Done
            }
            StoreRequest::PutNamespace(ns) => {
                self.namespaces
                    .entry(ns.name.clone())
                    .and_modify(|old| old.display_name = ns.display_name.clone())
                    .or_insert_with(|| ns.clone());
                StoreReply::Done
            }
            StoreRequest::Kv { actor, request } => StoreReply::Kv(self.kv(*actor, request, now)),
            StoreRequest::Pages {
                actor,
                generation,
                op,
            } => StoreReply::Pages(self.pages(*actor, *generation, op)),
            StoreRequest::PutHibernation(row) => {
                let key = (
                    row.actor,
                    row.gateway_id.to_bytes(),
                    row.request_id.to_bytes(),
                );
                self.index.insert(key, now);
                StoreReply::Done
            }
            StoreRequest::RenewLease { gateway_id } => {
                self.leases.insert(gateway_id.to_bytes(), now);
                StoreReply::Done
            }
            StoreRequest::DeleteHibernation { gateway_id, key } => {
                self.index
                    .remove(&(key.actor, gateway_id.to_bytes(), key.request_id.to_bytes()));
                StoreReply::Done
            }
            StoreRequest::PurgeHibernation { keep } => {
                self.index.retain(|(_, gw, _), _| *gw == keep.to_bytes());
                self.leases.retain(|gw, _| *gw == keep.to_bytes());
                StoreReply::Done
            }
            StoreRequest::GcHibernation { older_than } => {
                let cutoff = now - older_than.as_millis() as i64;
                let leases = &self.leases;
                self.index
                    .retain(|(_, gw, _), _| leases.get(gw).is_some_and(|ts| *ts >= cutoff));
                self.leases.retain(|_, ts| *ts >= cutoff);
                StoreReply::Done
            }
        }
    }

    fn kv(&mut self, actor: ActorId, request: &KvRequestData, now: i64) -> KvResponseData {
        let entries = |kv: &KvModel, pick: &dyn Fn(&[u8]) -> bool| {
            kv.iter()
                .filter(|((a, k), _)| *a == actor && pick(k))
                .map(|((_, k), (v, ts))| (k.clone(), v.clone(), *ts))
                .collect::<Vec<_>>()
        };
        match request {
            KvRequestData::Get(get) => {
                let found: Vec<_> = get
                    .keys
                    .iter()
                    .filter_map(|k| {
                        self.kv
                            .get(&(actor, k.clone()))
                            .map(|(v, ts)| (k.clone(), v.clone(), *ts))
                    })
                    .collect();
                get_response(found)
            }
            KvRequestData::List(list) => {
                let mut found = match &list.query {
                    KvListQuery::All => entries(&self.kv, &|_| true),
                    KvListQuery::Range(r) => entries(&self.kv, &|k| {
                        k >= r.start.as_slice()
                            && if r.exclusive {
                                k < r.end.as_slice()
                            } else {
                                k <= r.end.as_slice()
                            }
                    }),
                    KvListQuery::Prefix(p) => entries(&self.kv, &|k| k.starts_with(&p.key)),
                };
                if list.reverse == Some(true) {
                    found.reverse();
                }
                found.truncate(
                    list.limit
                        .unwrap_or(DEFAULT_LIST_LIMIT)
                        .min(usize::MAX as u64) as usize,
                );
                match get_response(found) {
                    KvResponseData::Get(g) => {
                        KvResponseData::List(torpor_protocol::shared::KvListResponse {
                            keys: g.keys,
                            values: g.values,
                            metadata: g.metadata,
                        })
                    }
                    other => other,
                }
            }
            KvRequestData::Put(put) => {
                if put.keys.len() != put.values.len() {
                    return err("Keys list length != values list length");
                }
                if put.keys.len() > 128 {
                    return err("A maximum of 128 key-value entries is allowed");
                }
                for (k, v) in put.keys.iter().zip(&put.values) {
                    self.kv.insert((actor, k.clone()), (v.clone(), now));
                }
                KvResponseData::Put
            }
            KvRequestData::Delete(del) => {
                for k in &del.keys {
                    self.kv.remove(&(actor, k.clone()));
                }
                KvResponseData::Delete
            }
            KvRequestData::DeleteRange(r) => {
                self.kv
                    .retain(|(a, k), _| !(*a == actor && k >= &r.start && k < &r.end));
                KvResponseData::Delete
            }
            KvRequestData::Drop => {
                self.kv.retain(|(a, _), _| *a != actor);
                KvResponseData::Drop
            }
        }
    }
}

impl Model {
    /// Page-store semantics, plainly. Refusals are compared by group and code only (see
    /// `without_messages`); the limits' own checks are `page_store::validate`'s.
    fn pages(&mut self, actor: ActorId, generation: u64, op: &PageOp) -> PageAnswer {
        let refuse = |code: &str| PageAnswer::Error(page_error(code));
        match self.actors.get(&actor) {
            None => return refuse("not_found"),
            Some(r) if u64::from(r.generation) != generation => {
                return refuse("generation_mismatch");
            }
            Some(_) => {}
        }
        if let Err(e) = page_store::validate(op) {
            return PageAnswer::Error(e);
        }
        let head = self.dbs.get(&actor).map_or(0, |db| db.0);
        let stale = |expected: &Option<u64>| expected.is_some_and(|e| e != head);
        let fill = |pages: &[DirtyPage]| -> BTreeMap<u32, u8> {
            pages.iter().map(|p| (p.pgno, p.bytes[0])).collect()
        };
        match op {
            PageOp::GetPages {
                pgnos,
                expected_head,
            } => match self.dbs.get(&actor) {
                None => refuse("database_not_found"),
                Some(_) if stale(expected_head) => refuse("head_fence_mismatch"),
                Some((head, size, pages)) => PageAnswer::Pages {
                    pages: pgnos
                        .iter()
                        .map(|n| {
                            let page = (n <= size).then(|| pages.get(n)).flatten();
                            (*n, page.map(|b| vec![*b; 4096]))
                        })
                        .collect(),
                    head: *head,
                },
            },
            PageOp::Commit {
                pages,
                db_size_pages,
                expected_head,
            } => {
                if stale(expected_head) {
                    return refuse("head_fence_mismatch");
                }
                let db = self.dbs.entry(actor).or_default();
                db.2.extend(fill(pages));
                db.2.retain(|n, _| n <= db_size_pages);
                *db = (head + 1, *db_size_pages, std::mem::take(&mut db.2));
                PageAnswer::Committed { head: head + 1 }
            }
            PageOp::StageBegin { expected_head } => {
                if stale(expected_head) {
                    return refuse("head_fence_mismatch");
                }
                self.stages
                    .insert(actor, (head + 1, generation, Vec::new(), BTreeMap::new()));
                PageAnswer::StageBegun { txid: head + 1 }
            }
            PageOp::StageSegment {
                txid,
                first_pgno,
                pages,
            } => match self.stages.get_mut(&actor) {
                Some(stage) if stage.0 == *txid && stage.1 == generation => {
                    let last = stage.2.iter().chain(stage.3.keys()).max();
                    if last.is_some_and(|last| last >= first_pgno) {
                        return refuse("invalid_request");
                    }
                    stage.2.push(*first_pgno);
                    stage.3.extend(fill(pages));
                    PageAnswer::Staged {
                        staged_bytes: 4096 * stage.3.len() as u64,
                    }
                }
                _ => refuse("invalid_request"),
            },
            PageOp::StageFinalize {
                txid,
                db_size_pages,
                segment_first_pgnos,
            } => match self.stages.get(&actor) {
                Some(stage) if stage.0 == *txid && stage.1 == generation => {
                    if *txid != head + 1 {
                        return refuse("head_fence_mismatch");
                    }
                    let mut named = segment_first_pgnos.clone();
                    named.sort_unstable();
                    if named != stage.2 {
                        return refuse("invalid_request");
                    }
                    let staged = stage.3.clone();
                    self.stages.remove(&actor);
                    let db = self.dbs.entry(actor).or_default();
                    db.2.extend(staged);
                    db.2.retain(|n, _| n <= db_size_pages);
                    *db = (*txid, *db_size_pages, std::mem::take(&mut db.2));
                    PageAnswer::Committed { head: *txid }
                }
                _ => refuse("invalid_request"),
            },
        }
    }
}

fn page_error(code: &str) -> PageError {
    PageError {
        group: String::new(),
        code: code.to_owned(),
        message: String::new(),
    }
}

/// Page-store refusals reduced to their code: the model states what is refused, not how the
/// message reads (the messages have their own tests).
fn without_messages(
    completion: (OpId, Result<StoreReply, torpor_core::StoreFailure>),
) -> (OpId, Result<StoreReply, torpor_core::StoreFailure>) {
    match completion {
        (op, Ok(StoreReply::Pages(PageAnswer::Error(e)))) => (
            op,
            Ok(StoreReply::Pages(PageAnswer::Error(page_error(&e.code)))),
        ),
        other => other,
    }
}

/// A random page-store call: mostly by the actor's current generation (else few would pass
/// the fence), with small page numbers so reads, commits and segments overlap often.
fn random_page_call(rng: &mut fastrand::Rng, actor: ActorId, generation: u64) -> StoreRequest {
    let pages = |rng: &mut fastrand::Rng, from: u32| -> Vec<DirtyPage> {
        let mut pgnos: Vec<u32> = (0..rng.usize(0..4))
            .map(|_| rng.u32(from..from + 6))
            .collect();
        pgnos.sort_unstable();
        pgnos.dedup();
        pgnos
            .into_iter()
            .map(|pgno| DirtyPage {
                pgno,
                bytes: vec![rng.u8(..); 4096],
            })
            .collect()
    };
    let head = |rng: &mut fastrand::Rng| rng.bool().then(|| rng.u64(0..4));
    let op = match rng.usize(0..6) {
        0 | 1 => PageOp::GetPages {
            pgnos: (0..rng.usize(0..4)).map(|_| rng.u32(1..9)).collect(),
            expected_head: head(rng),
        },
        2 => PageOp::Commit {
            pages: pages(rng, 1),
            db_size_pages: rng.u32(6..9),
            expected_head: head(rng),
        },
        3 => PageOp::StageBegin {
            expected_head: head(rng),
        },
        4 => {
            let first_pgno = rng.u32(0..8);
            PageOp::StageSegment {
                txid: rng.u64(1..5),
                first_pgno,
                pages: pages(rng, first_pgno),
            }
        }
        _ => PageOp::StageFinalize {
            txid: rng.u64(1..5),
            db_size_pages: rng.u32(6..12),
            segment_first_pgnos: (0..rng.usize(0..3)).map(|_| rng.u32(1..8)).collect(),
        },
    };
    let generation = if rng.u8(0..10) == 0 {
        rng.u64(0..3)
    } else {
        generation
    };
    StoreRequest::Pages {
        actor,
        generation,
        op: Box::new(op),
    }
}

fn err(message: &str) -> KvResponseData {
    KvResponseData::Error(torpor_protocol::shared::KvErrorResponse {
        message: message.into(),
    })
}

fn get_response(found: Vec<(Vec<u8>, Vec<u8>, i64)>) -> KvResponseData {
    let mut out = torpor_protocol::shared::KvGetResponse {
        keys: vec![],
        values: vec![],
        metadata: vec![],
    };
    for (k, v, ts) in found {
        out.keys.push(k);
        out.values.push(v);
        out.metadata.push(torpor_protocol::shared::KvMetadata {
            version: concat!("torpor-", env!("CARGO_PKG_VERSION"))
                .as_bytes()
                .to_vec(),
            update_ts: ts,
        });
    }
    KvResponseData::Get(out)
}

/// Keys from a small alphabet with 0x00 and 0xFF, so ranges and prefixes overlap often.
fn key(rng: &mut fastrand::Rng) -> Vec<u8> {
    let alphabet = [0x00, 0x01, b'a', b'b', 0x7f, 0x80, 0xfe, 0xff];
    (0..rng.usize(0..4))
        .map(|_| alphabet[rng.usize(0..alphabet.len())])
        .collect()
}

fn value(rng: &mut fastrand::Rng) -> Vec<u8> {
    (0..rng.usize(0..6)).map(|_| rng.u8(..)).collect()
}

fn actor_ids() -> [ActorId; 3] {
    [1u8, 2, 3]
        .map(|i| ActorId::parse(&format!("00000000-0000-4000-8000-0000000000{i:02x}")).unwrap())
}

fn random_request(rng: &mut fastrand::Rng, actors: &[ActorId], model: &Model) -> StoreRequest {
    let actor = actors[rng.usize(0..actors.len())];
    if rng.u8(0..4) == 0 {
        let generation = model
            .actors
            .get(&actor)
            .map_or(0, |r| u64::from(r.generation));
        return random_page_call(rng, actor, generation);
    }
    let gw = GatewayId::from_bytes([rng.u8(0..2), 0, 0, 0]);
    let rq = RequestId::from_bytes([rng.u8(0..6), 0, 0, 0]);
    match rng.usize(0..16) {
        0 => StoreRequest::PutActor(Box::new(ActorRecord {
            id: actor,
            namespace: "default".into(),
            name: format!("n{}", rng.u8(0..3)),
            key: rng
                .bool()
                .then(|| format!("k{}", actor.uuid().as_bytes()[15])),
            runner_name: "default".into(),
            create_ts: rng.i64(0..1000),
            input: rng.bool().then(|| value(rng)),
            generation: rng.u32(0..3),
            alarm_ts: rng.bool().then(|| rng.i64(0..1000)),
            crash_policy: [
                CrashPolicy::Restart,
                CrashPolicy::Sleep,
                CrashPolicy::Destroy,
            ][rng.usize(0..3)],
        })),
        1 if rng.bool() => StoreRequest::DeleteActor(actor),
        1 => StoreRequest::PutNamespace(NamespaceRecord {
            name: format!("ns-{}", rng.u8(0..3)),
            display_name: format!("Namespace {}", rng.u8(0..3)),
            create_ts: rng.i64(0..1000),
        }),
        2 => StoreRequest::PutHibernation(Box::new(HibernationRow {
            actor,
            gateway_id: gw,
            request_id: rq,
            path: "/ws".into(),
            headers: Headers::new(),
        })),
        3 => StoreRequest::RenewLease { gateway_id: gw },
        4 => StoreRequest::DeleteHibernation {
            gateway_id: gw,
            key: IndexKey {
                actor,
                request_id: rq,
            },
        },
        5 => StoreRequest::PurgeHibernation { keep: gw },
        6 => StoreRequest::GcHibernation {
            older_than: Duration::from_millis(rng.u64(0..50)),
        },
        7 | 8 => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::Put(if rng.u8(0..20) == 0 {
                KvPutRequest {
                    keys: vec![key(rng)],
                    values: vec![],
                } // mismatched: refused
            } else {
                let n = rng.usize(0..5);
                KvPutRequest {
                    keys: (0..n).map(|_| key(rng)).collect(),
                    values: (0..n).map(|_| value(rng)).collect(),
                }
            })),
        },
        9 => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::Get(KvGetRequest {
                keys: (0..rng.usize(0..4)).map(|_| key(rng)).collect(),
            })),
        },
        10 | 11 => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::List(KvListRequest {
                query: match rng.u8(0..3) {
                    0 => KvListQuery::All,
                    1 => KvListQuery::Range(KvListRangeQuery {
                        start: key(rng),
                        end: key(rng),
                        exclusive: rng.bool(),
                    }),
                    _ => KvListQuery::Prefix(KvListPrefixQuery { key: key(rng) }),
                },
                reverse: [None, Some(false), Some(true)][rng.usize(0..3)],
                limit: rng.bool().then(|| rng.u64(0..5)),
            })),
        },
        12 => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::Delete(KvDeleteRequest {
                keys: (0..rng.usize(0..3)).map(|_| key(rng)).collect(),
            })),
        },
        13 => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::DeleteRange(KvDeleteRangeRequest {
                start: key(rng),
                end: key(rng),
            })),
        },
        14 => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::Drop),
        },
        _ => StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::List(KvListRequest {
                query: KvListQuery::All,
                reverse: None,
                limit: None,
            })),
        },
    }
}

/// (actor bytes, gateway, request) → last_ping_ts
type Rows = BTreeMap<(Vec<u8>, [u8; 4], [u8; 4]), i64>;

fn index_rows(store: &Store) -> Rows {
    let mut stmt = store
        .connection()
        .prepare(
            "SELECT h.actor_id, h.gateway_id, h.request_id, p.last_ping_ts
             FROM hibernation h JOIN hibernation_ping p ON p.slot = h.slot",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let gw: Vec<u8> = r.get(1)?;
        let rq: Vec<u8> = r.get(2)?;
        let key = (
            r.get::<_, Vec<u8>>(0)?,
            gw.try_into().unwrap(),
            rq.try_into().unwrap(),
        );
        Ok((key, r.get::<_, i64>(3)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn run(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut store = Store::open_in_memory().unwrap();
    let mut model = Model::default();
    let actors = actor_ids();
    let mut now = 1_000;
    let mut op = 0;
    for _ in 0..rng.usize(1..12) {
        now += rng.i64(0..30);
        // Each request is drawn against the model as it stands after the batch so far.
        let mut batch: Vec<(OpId, StoreRequest)> = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..rng.usize(1..8) {
            op += 1;
            let request = random_request(&mut rng, &actors, &model);
            expected.push(without_messages((
                OpId::new(op),
                Ok(model.apply(&request, now)),
            )));
            batch.push((OpId::new(op), request));
        }
        let got: Vec<_> = store
            .execute(batch.clone(), now)
            .into_iter()
            .map(without_messages)
            .collect();
        assert_eq!(got, expected, "seed {seed}: batch {batch:?}");
    }
    let snapshot = store.snapshot().unwrap();
    let model_actors: Vec<ActorRecord> = model.actors.values().cloned().collect();
    assert_eq!(snapshot.actors, model_actors, "seed {seed}: registry");
    let model_namespaces: Vec<NamespaceRecord> = model.namespaces.values().cloned().collect();
    assert_eq!(
        snapshot.namespaces, model_namespaces,
        "seed {seed}: namespaces"
    );
    let rows = index_rows(&store);
    let model_rows: BTreeMap<_, _> = model
        .index
        .iter()
        .map(|((a, gw, rq), ts)| ((a.uuid().as_bytes().to_vec(), *gw, *rq), *ts))
        .collect();
    let meta: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM hibernation_meta", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        meta as usize,
        model_rows.len(),
        "seed {seed}: one meta row per index row"
    );
    assert_eq!(rows, model_rows, "seed {seed}: index");
    let leases: BTreeMap<[u8; 4], i64> = store
        .connection()
        .prepare("SELECT gateway_id, renewed_ts FROM gateway_leases")
        .unwrap()
        .query_map([], |r| {
            let gw: Vec<u8> = r.get(0)?;
            Ok((gw.try_into().unwrap(), r.get(1)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(leases, model.leases, "seed {seed}: leases");
    // Eligible rows are those whose gateway's lease is fresh enough.
    for actor in &actors {
        let min_ts = now - 20;
        let mut got: Vec<_> = store
            .eligible_rows(*actor, min_ts)
            .unwrap()
            .into_iter()
            .map(|r| (r.gateway_id.to_bytes(), r.request_id.to_bytes(), r.lease_ts))
            .collect();
        got.sort();
        let want: Vec<_> = model
            .index
            .keys()
            .filter(|(a, _, _)| a == actor)
            .filter_map(|(_, gw, rq)| {
                let ts = *model.leases.get(gw)?;
                (ts >= min_ts).then_some((*gw, *rq, ts))
            })
            .collect();
        assert_eq!(got, want, "seed {seed}: eligible rows of {actor}");
    }
}

#[test]
fn sqlite_matches_the_model_over_random_sequences() {
    let seeds: u64 = std::env::var("TORPOR_STORE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500);
    for seed in 0..seeds {
        run(seed);
    }
}

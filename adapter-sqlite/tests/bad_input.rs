//! Invalid KV requests get the runner-facing messages the reference sends, and write nothing.

use torpor_core::{ActorId, OpId, StoreReply, StoreRequest};
use torpor_protocol::shared::{
    KvDeleteRangeRequest, KvDeleteRequest, KvErrorResponse, KvGetRequest, KvListPrefixQuery,
    KvListQuery, KvListRangeQuery, KvListRequest, KvPutRequest, KvRequestData, KvResponseData,
};
use torpor_sqlite::{Store, count_rows};

fn actor() -> ActorId {
    ActorId::parse("00000000-0000-4000-8000-000000000001").unwrap()
}

fn run(store: &mut Store, request: KvRequestData) -> KvResponseData {
    let out = store.execute(
        vec![(
            OpId::new(1),
            StoreRequest::Kv {
                actor: actor(),
                request: Box::new(request),
            },
        )],
        5,
    );
    match out.into_iter().next() {
        Some((_, Ok(StoreReply::Kv(data)))) => data,
        other => panic!("{other:?}"),
    }
}

fn put(keys: Vec<Vec<u8>>, values: Vec<Vec<u8>>) -> KvRequestData {
    KvRequestData::Put(KvPutRequest { keys, values })
}

#[test]
fn invalid_requests_are_refused_with_the_reference_messages_and_write_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let k = |n: usize| vec![b'k'; n];
    let cases: Vec<(&str, KvRequestData, &str)> = vec![
        (
            "mismatched counts",
            put(vec![k(1), k(2)], vec![vec![1]]),
            "Keys list length != values list length",
        ),
        (
            "129 entries",
            put(
                (0..129).map(|i| vec![i as u8, 1]).collect(),
                vec![vec![0]; 129],
            ),
            "A maximum of 128 key-value entries is allowed",
        ),
        (
            "payload over 976 KiB",
            put(
                (0..8).map(|i| vec![i]).collect(),
                vec![vec![0; 125 * 1024]; 8],
            ),
            "total payload is too large (max 976 KiB)",
        ),
        (
            "key of 2047 bytes (2049 with framing)",
            put(vec![k(2047)], vec![vec![1]]),
            "key is too long (max 2048 bytes)",
        ),
        (
            "value over 128 KiB",
            put(vec![k(1)], vec![vec![0; 128 * 1024 + 1]]),
            "value is too large (max 128 KiB)",
        ),
        (
            "get with 129 keys",
            KvRequestData::Get(KvGetRequest {
                keys: (0..129).map(|i| vec![i as u8]).collect(),
            }),
            "a maximum of 128 keys is allowed",
        ),
        (
            "get with a long key",
            KvRequestData::Get(KvGetRequest {
                keys: vec![k(3000)],
            }),
            "key is too long (max 2048 bytes)",
        ),
        (
            "delete with 129 keys",
            KvRequestData::Delete(KvDeleteRequest {
                keys: (0..129).map(|i| vec![i as u8]).collect(),
            }),
            "a maximum of 128 keys is allowed",
        ),
        (
            "list with a long prefix",
            KvRequestData::List(KvListRequest {
                query: KvListQuery::Prefix(KvListPrefixQuery { key: k(2047) }),
                reverse: None,
                limit: None,
            }),
            "prefix key is too long (max 2048 bytes)",
        ),
        (
            "list range with a long start",
            KvRequestData::List(KvListRequest {
                query: KvListQuery::Range(KvListRangeQuery {
                    start: k(2047),
                    end: k(1),
                    exclusive: false,
                }),
                reverse: None,
                limit: None,
            }),
            "start key is too long (max 2048 bytes)",
        ),
        (
            "delete range with a long end",
            KvRequestData::DeleteRange(KvDeleteRangeRequest {
                start: k(1),
                end: k(2047),
            }),
            "end key is too long (max 2048 bytes)",
        ),
    ];
    for (name, request, message) in cases {
        let reply = run(&mut store, request);
        assert_eq!(
            reply,
            KvResponseData::Error(KvErrorResponse {
                message: message.into()
            }),
            "{name}"
        );
        assert_eq!(
            count_rows(store.connection(), "kv").unwrap(),
            0,
            "{name}: nothing written"
        );
    }
    // The limits themselves are fine: 128 entries, a 2046-byte key, a 128 KiB value, and empty
    // values (which the reference refuses).
    let ok = put((0..128).map(|i| vec![i as u8]).collect(), vec![vec![]; 128]);
    assert_eq!(run(&mut store, ok), KvResponseData::Put);
    assert_eq!(
        run(&mut store, put(vec![k(2046)], vec![vec![0; 128 * 1024]])),
        KvResponseData::Put
    );
    assert_eq!(count_rows(store.connection(), "kv").unwrap(), 129);
}

//! Strict decoding: a table of malformed frames, each with the exact error kind and offset, and
//! the worked byte examples of RUNNER-PROTOCOL.md §4 built from Rust values.

use super::super::*;
use crate::golden::unhex;
use crate::shared::*;
use crate::{DecodeError, DecodeErrorKind, Limits};
use DecodeErrorKind as K;

const GW: [u8; 4] = [1, 2, 3, 4];
const RQ: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];

/// `ToServerTunnelMessage` header: tag 6, gateway, request, runner index 0.
fn to_server_tunnel(kind: &[u8]) -> Vec<u8> {
    let mut b = vec![6];
    b.extend(GW);
    b.extend(RQ);
    b.extend([0, 0]);
    b.extend(kind);
    b
}

/// `ToClientTunnelMessage` header: tag 4, gateway, request, index 1.
fn to_client_tunnel(kind: &[u8]) -> Vec<u8> {
    let mut b = vec![4];
    b.extend(GW);
    b.extend(RQ);
    b.extend([1, 0]);
    b.extend(kind);
    b
}

/// `ToServerEvents` with one event for actor "a1", generation 1, index 0.
fn event(inner: &[u8]) -> Vec<u8> {
    let mut b = vec![1, 1, 2, b'a', b'1', 1, 0, 0, 0];
    b.extend([0; 8]);
    b.extend(inner);
    b
}

/// `ToServerKvRequest` for actor "a1", request 0.
fn kv_request(data: &[u8]) -> Vec<u8> {
    let mut b = vec![5, 2, b'a', b'1', 0, 0, 0, 0];
    b.extend(data);
    b
}

#[derive(Clone, Copy)]
enum Dir {
    Server,
    Client,
}

fn decode(dir: Dir, bytes: &[u8], limits: Limits) -> Result<(), DecodeError> {
    match dir {
        Dir::Server => ToServer::decode_with(bytes, limits).map(drop),
        Dir::Client => ToClient::decode_with(bytes, limits).map(drop),
    }
}

/// (name, direction, frame, limits, expected kind, expected offset)
type Case = (&'static str, Dir, Vec<u8>, Limits, DecodeErrorKind, usize);

#[test]
fn malformed_frames_fail_with_the_specific_error() {
    use Dir::{Client, Server};
    let tight = Limits {
        data_len_max: 16,
        str_len_max: 8,
        list_len_max: 2,
    };
    let d = Limits::DEFAULT;
    let ping = [5, 0, 0x68, 0xe5, 0xcf, 0x8b, 1, 0, 0];
    let mut ping_trailing = ping.to_vec();
    ping_trailing.push(0);
    let mut overflow = vec![0];
    overflow.extend([0xff; 11]);
    let mut dup_headers = to_server_tunnel(&[0, 200, 0, 2, 1, b'a', 1, b'1', 1, b'a', 1, b'2']);
    dup_headers.extend([0, 0]);

    let mut two_events_in_15_bytes = event(&[]);
    two_events_in_15_bytes[1] = 2;

    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("empty frame", Server, vec![], d, K::UnexpectedEnd { needed: 1 }, 0),
        ("unknown ToServer tag", Server, vec![7], d,
            K::UnknownTag { union: "ToServer", tag: 7 }, 0),
        ("unknown ToClient tag", Client, vec![6], d,
            K::UnknownTag { union: "ToClient", tag: 6 }, 0),
        ("version-prefixed frame (07 00)", Client, vec![7, 0, 5], d,
            K::UnknownTag { union: "ToClient", tag: 7 }, 0),
        ("ping with a trailing byte", Client, ping_trailing, d,
            K::TrailingBytes { remaining: 1 }, 9),
        ("truncated pong", Server, vec![4, 0, 0x68], d, K::UnexpectedEnd { needed: 6 }, 1),
        ("non-canonical varint tag", Server, vec![0x80, 0x00], d, K::NonCanonicalVarint, 0),
        ("varint longer than ten bytes", Server, overflow, d, K::VarintOverflow, 1),
        ("bool byte 2", Server, to_server_tunnel(&[3, 2]), d, K::InvalidBool(2), 12),
        ("optional marker 2", Server, vec![0, 1, b'r', 1, 0, 0, 0, 1, 0, 0, 0, 2], d,
            K::InvalidOptionMarker(2), 11),
        ("invalid UTF-8 in a str", Server, vec![0, 3, b'r', 0xff, 0xfe], d, K::InvalidUtf8, 3),
        ("unknown ToServerTunnelMessageKind", Server, to_server_tunnel(&[7]), d,
            K::UnknownTag { union: "ToServerTunnelMessageKind", tag: 7 }, 11),
        ("unknown ToClientTunnelMessageKind", Client, to_client_tunnel(&[6]), d,
            K::UnknownTag { union: "ToClientTunnelMessageKind", tag: 6 }, 11),
        ("unknown Event", Server, event(&[3]), d, K::UnknownTag { union: "Event", tag: 3 }, 17),
        ("unknown ActorIntent", Server, event(&[0, 2]), d,
            K::UnknownTag { union: "ActorIntent", tag: 2 }, 18),
        ("unknown ActorState", Server, event(&[1, 2]), d,
            K::UnknownTag { union: "ActorState", tag: 2 }, 18),
        ("unknown StopCode", Server, event(&[1, 1, 2, 0]), d,
            K::UnknownEnumValue { enumeration: "StopCode", value: 2 }, 19),
        ("unknown KvRequestData", Server, kv_request(&[6]), d,
            K::UnknownTag { union: "KvRequestData", tag: 6 }, 8),
        ("unknown KvListQuery", Server, kv_request(&[1, 3]), d,
            K::UnknownTag { union: "KvListQuery", tag: 3 }, 9),
        ("unknown KvResponseData", Client, vec![3, 0, 0, 0, 0, 6], d,
            K::UnknownTag { union: "KvResponseData", tag: 6 }, 5),
        ("unknown Command", Client, vec![1, 1, 2, b'a', b'1', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            d, K::UnknownTag { union: "Command", tag: 2 }, 17),
        ("data longer than the input", Server, to_server_tunnel(&[4, 0xc8, 0x01, 1, 2, 3]), d,
            K::LengthBeyondInput { len: 200, remaining: 3 }, 12),
        ("list count beyond the input", Server, vec![1, 5], d,
            K::LengthBeyondInput { len: 5, remaining: 0 }, 1),
        ("two events need at least 28 bytes", Server, two_events_in_15_bytes, d,
            K::LengthBeyondInput { len: 2, remaining: 15 }, 1),
        ("duplicate header key", Server, dup_headers, d, K::DuplicateMapKey, 19),
        ("data over the configured limit", Server, to_server_tunnel(&[4, 17]), tight,
            K::LengthOverLimit { what: "data", len: 17, limit: 16 }, 12),
        ("str over the configured limit", Server, vec![0, 9], tight,
            K::LengthOverLimit { what: "str", len: 9, limit: 8 }, 1),
        ("list over the configured limit", Server, vec![1, 3], tight,
            K::LengthOverLimit { what: "list", len: 3, limit: 2 }, 1),
        ("non-canonical varint length", Server, to_server_tunnel(&[4, 0x81, 0x00, 7, 1]), d,
            K::NonCanonicalVarint, 12),
        ("truncated MessageId", Server, vec![6, 1, 2, 3, 4, 0xaa], d,
            K::UnexpectedEnd { needed: 3 }, 5),
        ("truncated KV request id", Server, vec![5, 2, b'a', b'1', 0, 0], d,
            K::UnexpectedEnd { needed: 2 }, 4),
        ("ToServer tag sent to the client decoder", Client, vec![6], d,
            K::UnknownTag { union: "ToClient", tag: 6 }, 0),
    ];
    assert!(cases.len() >= 20);
    for (name, dir, bytes, limits, kind, offset) in cases {
        let err = decode(dir, &bytes, limits).expect_err(name);
        assert_eq!(err.kind, kind, "{name}: {err}");
        assert_eq!(err.offset, offset, "{name}: {err}");
    }
}

#[test]
fn close_codes_name_the_class_of_error() {
    let utf8 = ToServer::decode(&[0, 1, 0xff]).unwrap_err();
    assert_eq!(
        (utf8.close_code(), utf8.kind_name()),
        (1007, "invalid_utf8")
    );
    let tag = ToServer::decode(&[9]).unwrap_err();
    assert_eq!((tag.close_code(), tag.kind_name()), (1002, "unknown_tag"));
    let big = ToServer::decode_with(
        &[0, 9],
        Limits {
            str_len_max: 1,
            ..Limits::DEFAULT
        },
    );
    assert_eq!(big.unwrap_err().close_code(), 1009);
    assert_eq!(
        tag.to_string(),
        "unknown tag 9 for union ToServer at byte 0"
    );
}

const TS: i64 = 1_700_000_000_000;

fn mid(index: u16) -> MessageId {
    MessageId {
        gateway_id: GatewayId::from_bytes(GW),
        request_id: RequestId::from_bytes(RQ),
        message_index: index,
    }
}

fn checkpoint(index: i64) -> ActorCheckpoint {
    ActorCheckpoint {
        actor_id: "a1".into(),
        generation: 1,
        index,
    }
}

/// Asserts `value` encodes to `hex` and `hex` decodes to `value`.
fn both_ways_client(value: ToClient, hex: &str) {
    let bytes = unhex(hex);
    assert_eq!(value.to_bytes(), bytes, "{value:?}");
    assert_eq!(ToClient::decode(&bytes).unwrap(), value);
}

fn both_ways_server(value: ToServer, hex: &str) {
    let bytes = unhex(hex);
    assert_eq!(value.to_bytes(), bytes, "{value:?}");
    assert_eq!(ToServer::decode(&bytes).unwrap(), value);
}

#[test]
fn worked_examples_from_the_protocol_reference() {
    both_ways_client(
        ToClient::Ping(ToClientPing { ts: TS }),
        "05 0068e5cf8b010000",
    );
    both_ways_server(
        ToServer::AckCommands(ToServerAckCommands {
            last_command_checkpoints: vec![checkpoint(0)],
        }),
        "02 01 02 61 31 01 00 00 00 00 00 00 00 00 00 00 00",
    );
    both_ways_client(
        ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: vec![checkpoint(3)],
        }),
        "02 01 02 61 31 01 00 00 00 03 00 00 00 00 00 00 00",
    );
    both_ways_client(
        ToClient::Commands(vec![CommandWrapper {
            checkpoint: checkpoint(0),
            inner: Command::StartActor(CommandStartActor {
                config: ActorConfig {
                    name: "echo".into(),
                    key: None,
                    create_ts: TS,
                    input: None,
                },
                hibernating_requests: vec![HibernatingRequest {
                    gateway_id: GatewayId::from_bytes(GW),
                    request_id: RequestId::from_bytes(RQ),
                }],
            }),
        }]),
        "01 01 02 61 31 01 00 00 00 00 00 00 00 00 00 00 00 00 04 65 63 68 6f 00
         00 68 e5 cf 8b 01 00 00 00 01 01 02 03 04 aa bb cc dd",
    );
    both_ways_client(
        ToClient::Commands(vec![CommandWrapper {
            checkpoint: checkpoint(1),
            inner: Command::StopActor,
        }]),
        "01 01 02 61 31 01 00 00 00 01 00 00 00 00 00 00 00 01",
    );
    let headers: Headers = [("x", "y".to_string())].into_iter().collect();
    both_ways_client(
        ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: mid(0),
            message_kind: ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
                actor_id: "a1".into(),
                path: "/ws".into(),
                headers,
            }),
        }),
        "04 01 02 03 04 aa bb cc dd 00 00 03 02 61 31 03 2f 77 73 01 01 78 01 79",
    );
    both_ways_server(
        ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id: mid(2),
            message_kind: ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
                code: Some(1000),
                reason: Some("bye".into()),
                hibernate: false,
            }),
        }),
        "06 01 02 03 04 aa bb cc dd 02 00 06 01 e8 03 01 03 62 79 65 00",
    );
    both_ways_server(
        ToServer::Events(vec![
            EventWrapper {
                checkpoint: checkpoint(2),
                inner: Event::ActorIntent(EventActorIntent {
                    intent: ActorIntent::Sleep,
                }),
            },
            EventWrapper {
                checkpoint: checkpoint(3),
                inner: Event::ActorStateUpdate(EventActorStateUpdate {
                    state: ActorState::Stopped(ActorStateStopped {
                        code: StopCode::Error,
                        message: None,
                    }),
                }),
            },
        ]),
        "01 02 02 61 31 01 00 00 00 02 00 00 00 00 00 00 00 00 00
               02 61 31 01 00 00 00 03 00 00 00 00 00 00 00 01 01 01 00",
    );
    both_ways_server(
        ToServer::KvRequest(ToServerKvRequest {
            actor_id: "a1".into(),
            request_id: 1,
            data: KvRequestData::List(KvListRequest {
                query: KvListQuery::Prefix(KvListPrefixQuery { key: b"k".to_vec() }),
                reverse: None,
                limit: Some(10),
            }),
        }),
        "05 02 61 31 01 00 00 00 01 02 01 6b 00 01 0a 00 00 00 00 00 00 00",
    );
    both_ways_client(
        ToClient::KvResponse(ToClientKvResponse {
            request_id: 300,
            data: KvResponseData::Error(KvErrorResponse {
                message: "boom".into(),
            }),
        }),
        "03 2c 01 00 00 00 04 62 6f 6f 6d",
    );
    // J: a 200-byte binary message at index 65535 has a two-byte length and is 215 bytes long.
    let big = ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            gateway_id: GatewayId::from_bytes([1, 2, 3, 4]),
            request_id: RequestId::from_bytes([5, 6, 7, 8]),
            message_index: 65535,
        },
        message_kind: ToClientTunnelMessageKind::WebSocketMessage(ToClientWebSocketMessage {
            data: vec![0x5a; 200],
            binary: true,
        }),
    })
    .to_bytes();
    assert_eq!(big.len(), 215);
    assert_eq!(
        big[..14],
        unhex("04 01 02 03 04 05 06 07 08 ff ff 04 c8 01")[..]
    );
    assert_eq!(big.last(), Some(&1));
}

#[test]
fn websocket_message_frame_len_is_exact() {
    for len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
        let frame = ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: mid(7),
            message_kind: ToClientTunnelMessageKind::WebSocketMessage(ToClientWebSocketMessage {
                data: vec![1; len],
                binary: false,
            }),
        });
        assert_eq!(
            frame.to_bytes().len(),
            ToClientWebSocketMessage::frame_len(len),
            "{len}"
        );
    }
}

#[test]
fn the_direct_websocket_frame_is_the_generic_encoding() {
    for len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
        for binary in [false, true] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let id = MessageId {
                gateway_id: GatewayId::from_bytes(GW),
                request_id: RequestId::from_bytes(RQ),
                message_index: 0xfe01_u16.wrapping_add(len as u16),
            };
            let generic = ToClient::TunnelMessage(ToClientTunnelMessage {
                message_id: id,
                message_kind: ToClientTunnelMessageKind::WebSocketMessage(
                    ToClientWebSocketMessage {
                        data: data.clone(),
                        binary,
                    },
                ),
            })
            .to_bytes();
            let direct = ToClientWebSocketMessage::encode_frame(id, &data, binary);
            assert_eq!(direct, generic, "{len} bytes, binary {binary}");
            assert_eq!(direct.capacity(), direct.len(), "one exact allocation");
        }
    }
}

#[test]
fn encode_appends_to_a_reused_buffer() {
    let mut buf = vec![0xee];
    ToClient::Ping(ToClientPing { ts: TS }).encode(&mut buf);
    assert_eq!(buf, unhex("ee 05 0068e5cf8b010000"));
}

//! Runner-protocol codec on the hot path: one 32-byte WebSocket message in each direction.
//!
//! `roundtrip` = encode into a reused buffer + decode those bytes, the work the gateway does per
//! tunnelled frame (it decodes runner → server frames and encodes server → runner frames).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use torpor_protocol::shared::{GatewayId, MessageId, RequestId};
use torpor_protocol::v7::{
    ToClient, ToClientTunnelMessage, ToClientTunnelMessageKind, ToClientWebSocketMessage, ToServer,
    ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketMessage,
};

const PAYLOAD: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

fn message_id() -> MessageId {
    MessageId {
        gateway_id: GatewayId::from_bytes([1, 2, 3, 4]),
        request_id: RequestId::from_bytes([0xaa, 0xbb, 0xcc, 0xdd]),
        message_index: 4242,
    }
}

fn to_server() -> ToServer {
    ToServer::TunnelMessage(ToServerTunnelMessage {
        message_id: message_id(),
        message_kind: ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: PAYLOAD.to_vec(),
            binary: true,
        }),
    })
}

fn to_client() -> ToClient {
    ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: message_id(),
        message_kind: ToClientTunnelMessageKind::WebSocketMessage(ToClientWebSocketMessage {
            data: PAYLOAD.to_vec(),
            binary: true,
        }),
    })
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    let mut buf = Vec::with_capacity(256);

    let server = to_server();
    let server_bytes = server.to_bytes();
    g.bench_function("to_server_ws32/encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&server).encode(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("to_server_ws32/decode", |b| {
        b.iter(|| ToServer::decode(black_box(&server_bytes)))
    });
    g.bench_function("to_server_ws32/roundtrip", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&server).encode(&mut buf);
            ToServer::decode(black_box(&buf))
        })
    });

    let client = to_client();
    let client_bytes = client.to_bytes();
    g.bench_function("to_client_ws32/encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&client).encode(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("to_client_ws32/decode", |b| {
        b.iter(|| ToClient::decode(black_box(&client_bytes)))
    });
    g.bench_function("to_client_ws32/roundtrip", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&client).encode(&mut buf);
            ToClient::decode(black_box(&buf))
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);

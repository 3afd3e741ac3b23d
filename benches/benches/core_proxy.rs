//! The core's per-frame cost with 10,000 open WebSockets (100 actors × 100 sockets on one
//! runner): a 32-byte client frame in → runner bytes out, and runner bytes in → client frame
//! out; and, on hibernatable sockets, a client frame plus the runner's ack of it (the frame is
//! kept un-acked in between, as the no-loss guarantee needs). Core time only: input
//! construction is excluded with `iter_batched`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use torpor_core::testkit::driver::{Driver, tunnel_to};
use torpor_core::{ClientFrame, ClientId, Config, Input, RunnerConnId};
use torpor_protocol::shared::MessageId;
use torpor_protocol::v7::{
    ToServer, ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketMessage,
    ToServerWebSocketMessageAck, ToServerWebSocketOpen,
};

const ACTORS: usize = 100;
const SOCKETS_PER_ACTOR: usize = 100;

struct World {
    d: Driver,
    conn: RunnerConnId,
    sockets: Vec<(ClientId, MessageId)>,
}

fn world(can_hibernate: bool) -> World {
    let mut d = Driver::new(Config::default());
    d.check = false;
    let (conn, _) = d.connect_runner("bench", "default", ACTORS as u32);
    let mut sockets = Vec::with_capacity(ACTORS * SOCKETS_PER_ACTOR);
    for a in 0..ACTORS {
        let (actor, _) = d.running_actor(conn, &format!("actor-{a}"));
        for _ in 0..SOCKETS_PER_ACTOR {
            let (client, out) = d.open_websocket(actor, "/");
            let rq = tunnel_to(&out, conn)[0].message_id;
            let kind =
                ToServerTunnelMessageKind::WebSocketOpen(ToServerWebSocketOpen { can_hibernate });
            d.runner_tunnel(conn, rq, kind);
            if can_hibernate {
                // The first frame waits for the socket's index row; the driver completes it,
                // so the measured frames take the steady path.
                d.client_send(client, ClientFrame::Binary(vec![0x5a; 32]));
                d.ws_ack(conn, rq, 1);
            }
            sockets.push((client, rq));
        }
    }
    assert_eq!(d.gw.client_count(), ACTORS * SOCKETS_PER_ACTOR);
    World { d, conn, sockets }
}

fn drain(d: &mut Driver) -> usize {
    let mut n = 0;
    while let Some(o) = d.gw.poll_output() {
        black_box(o);
        n += 1;
    }
    n
}

fn core_proxy(c: &mut Criterion) {
    let mut w = world(false);
    let now = w.d.now;
    let mut g = c.benchmark_group("core_proxy_10k_sockets");

    let mut i = 0usize;
    g.bench_function("client_frame_to_runner_bytes_32B", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % w.sockets.len();
                Input::ClientMessage {
                    client: w.sockets[i].0,
                    frame: ClientFrame::Binary(vec![0x5a; 32]),
                }
            },
            |input| {
                w.d.gw.handle(now, w.d.wall(), input).unwrap();
                assert_eq!(drain(&mut w.d), 1);
            },
            BatchSize::SmallInput,
        )
    });

    let conn = w.conn;
    g.bench_function("runner_bytes_to_client_frame_32B", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % w.sockets.len();
                let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
                    message_id: w.sockets[i].1,
                    message_kind: ToServerTunnelMessageKind::WebSocketMessage(
                        ToServerWebSocketMessage {
                            data: vec![0x5a; 32],
                            binary: true,
                        },
                    ),
                });
                Input::RunnerBytes {
                    conn,
                    bytes: msg.to_bytes(),
                }
            },
            |input| {
                w.d.gw.handle(now, w.d.wall(), input).unwrap();
                assert_eq!(drain(&mut w.d), 1);
            },
            BatchSize::SmallInput,
        )
    });

    // Hibernatable sockets: each frame is kept until acked and arms the ack timeout.
    let mut w = world(true);
    let now = w.d.now;
    let conn = w.conn;
    // The index each socket's next client frame gets (the first was sent at setup).
    let mut next_index = vec![2u16; w.sockets.len()];
    g.bench_function("hibernatable_client_frame_and_its_ack_32B", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % w.sockets.len();
                let (client, request) = w.sockets[i];
                let index = next_index[i];
                next_index[i] = index.wrapping_add(1);
                let ack = ToServer::TunnelMessage(ToServerTunnelMessage {
                    message_id: request,
                    message_kind: ToServerTunnelMessageKind::WebSocketMessageAck(
                        ToServerWebSocketMessageAck { index },
                    ),
                });
                let frame = Input::ClientMessage {
                    client,
                    frame: ClientFrame::Binary(vec![0x5a; 32]),
                };
                let ack = Input::RunnerBytes {
                    conn,
                    bytes: ack.to_bytes(),
                };
                (frame, ack)
            },
            |(frame, ack)| {
                w.d.gw.handle(now, w.d.wall(), frame).unwrap();
                assert_eq!(drain(&mut w.d), 1);
                w.d.gw.handle(now, w.d.wall(), ack).unwrap();
                assert_eq!(drain(&mut w.d), 0);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, core_proxy);
criterion_main!(benches);

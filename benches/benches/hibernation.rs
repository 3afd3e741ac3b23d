//! Hibernation in the core, time only: (a) a full sleep + wake cycle of an actor with 1,000
//! hibernating sockets; (b) one keepalive interval's tick with 1,000,000 hibernating sockets in
//! the core (100,000 under `cargo test`): one lease renewal, whatever the number of sockets;
//! (c) a one-socket sleep/wake cycle among 10,000 sleeping actors (placement cost).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use torpor_core::testkit::driver::{Driver, event, intent, stopped, tunnel_to};
use torpor_core::{
    ActorId, ClientFrame, ClientId, Config, Input, Output, RunnerConnId, StoreReply,
};
use torpor_protocol::shared::{ActorCheckpoint, ActorIntent, ActorState, MessageId, StopCode};
use torpor_protocol::v7::{
    ToServer, ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketMessageAck,
    ToServerWebSocketOpen,
};

/// Opens `n` hibernatable sockets on `actor`; returns each client with its request.
fn open_hibernatable(
    d: &mut Driver,
    conn: RunnerConnId,
    actor: ActorId,
    n: usize,
) -> Vec<(ClientId, MessageId)> {
    (0..n)
        .map(|_| {
            let (client, out) = d.open_websocket(actor, "/ws");
            let rq = tunnel_to(&out, conn)[0].message_id;
            let open = ToServerTunnelMessageKind::WebSocketOpen(ToServerWebSocketOpen {
                can_hibernate: true,
            });
            d.runner_tunnel(conn, rq, open);
            (client, rq)
        })
        .collect()
}

/// Feeds one input straight to the gateway and completes its store ops: core time only, no
/// output decoding.
fn feed(d: &mut Driver, input: Input) {
    d.gw.handle(d.now, d.wall(), input).unwrap();
    let mut done = Vec::new();
    while let Some(o) = d.gw.poll_output() {
        if let Output::Store { op, .. } = o {
            done.push(op);
        }
    }
    for op in done {
        feed(
            d,
            Input::StoreDone {
                op,
                result: Ok(StoreReply::Done),
            },
        );
    }
}

fn runner(d: &mut Driver, conn: RunnerConnId, msg: &ToServer) {
    feed(
        d,
        Input::RunnerBytes {
            conn,
            bytes: msg.to_bytes(),
        },
    );
}

/// One cycle: sleep intent → stop → `Stopped` (1,000 sockets hibernate) → a client frame →
/// start (generation + 1) listing all 1,000 → `Running` (re-attach, forward the frame) → the
/// runner acks the frame, as a runner does once it has persisted it. (Without the ack every
/// cycle would resend all earlier frames and the cost would grow with the iteration count.)
/// Returns the new allocation's checkpoint.
fn cycle(
    d: &mut Driver,
    conn: RunnerConnId,
    (client, rq): (ClientId, MessageId),
    sent: &mut u16,
    cp: &ActorCheckpoint,
) -> ActorCheckpoint {
    runner(
        d,
        conn,
        &ToServer::Events(vec![intent(cp, 1, ActorIntent::Sleep)]),
    );
    runner(
        d,
        conn,
        &ToServer::Events(vec![event(cp, 2, stopped(StopCode::Error))]),
    );
    feed(
        d,
        Input::ClientMessage {
            client,
            frame: ClientFrame::Binary(vec![7; 32]),
        },
    );
    let next = ActorCheckpoint {
        actor_id: cp.actor_id.clone(),
        generation: cp.generation + 1,
        index: 0,
    };
    runner(
        d,
        conn,
        &ToServer::Events(vec![event(&next, 0, ActorState::Running)]),
    );
    // The frame just forwarded carries the socket's next index: one frame per cycle.
    *sent = sent.wrapping_add(1);
    let ack = ToServerTunnelMessageKind::WebSocketMessageAck(ToServerWebSocketMessageAck {
        index: *sent,
    });
    runner(
        d,
        conn,
        &ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id: MessageId {
                message_index: 0,
                ..rq
            },
            message_kind: ack,
        }),
    );
    assert_eq!(d.gw.held_bytes(), 0, "the frame was acked");
    next
}

fn sleep_wake(c: &mut Criterion) {
    let mut d = Driver::new(Config::default());
    d.check = false;
    d.auto_pong = true;
    let (conn, _) = d.connect_runner("bench", "default", 1);
    let (actor, start) = d.running_actor(conn, "room");
    let clients = open_hibernatable(&mut d, conn, actor, 1_000);
    bench_cycles(
        c,
        "sleep_wake_cycle_1000_sockets",
        d,
        conn,
        clients[0],
        start.checkpoint,
    );
}

/// Runs one cycle (checking that it wakes the actor and re-attaches every socket), then
/// benches the cycle as `hibernation/{name}`.
fn bench_cycles(
    c: &mut Criterion,
    name: &str,
    mut d: Driver,
    conn: RunnerConnId,
    socket: (ClientId, MessageId),
    mut cp: ActorCheckpoint,
) {
    let mut sent = 0u16;
    cp = cycle(&mut d, conn, socket, &mut sent, &cp);
    assert_eq!(
        d.gw.metrics().wakes_completed,
        1,
        "the cycle wakes the actor"
    );
    assert_eq!(
        d.gw.hibernating_socket_count(),
        0,
        "and re-attaches every socket"
    );
    c.bench_function(&format!("hibernation/{name}"), |b| {
        b.iter(|| cp = cycle(&mut d, conn, socket, &mut sent, &cp))
    });
}

/// (c) The sleep/wake cycle of an actor with one socket while other actors sleep in the
/// registry: 10,000 (`TORPOR_BENCH_ACTORS` sets it). Each stop looks for actors waiting for a
/// runner; that must not cost a scan of every actor.
fn sleep_wake_among_sleeping_actors(c: &mut Criterion) {
    let others: usize = std::env::var("TORPOR_BENCH_ACTORS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let mut d = Driver::new(Config::default());
    d.check = false;
    d.auto_pong = true; // the runner stays connected while the others time out
    let (conn, _) = d.connect_runner("bench", "default", 1);
    let (actor, start) = d.running_actor(conn, "room");
    let clients = open_hibernatable(&mut d, conn, actor, 1);
    for i in 0..others {
        // On a pool no runner serves: they wait, time out and sleep.
        d.create_actor(&format!("other-{i}"), None, "elsewhere");
    }
    d.advance(Duration::from_secs(31));
    assert_eq!(d.gw.metrics().actors_created as usize, others + 1);
    let name = format!("sleep_wake_cycle_among_{others}_sleeping_actors");
    bench_cycles(c, &name, d, conn, clients[0], start.checkpoint);
}

fn keepalive_tick(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let actors: usize = if full { 40 } else { 4 };
    let sockets = actors * 25_000;
    let config = Config {
        max_clients: sockets + 1,
        ..Config::default()
    };
    let mut d = Driver::new(config);
    d.check = false;
    let (conn, _) = d.connect_runner("bench", "default", actors as u32);
    for a in 0..actors {
        let (actor, start) = d.running_actor(conn, &format!("room-{a}"));
        open_hibernatable(&mut d, conn, actor, 25_000);
        let cp = &start.checkpoint;
        d.runner_send(
            conn,
            &ToServer::Events(vec![intent(cp, 1, ActorIntent::Sleep)]),
        );
        d.report_state(conn, cp, 2, stopped(StopCode::Error));
    }
    assert_eq!(d.gw.hibernating_socket_count(), sockets);
    // No runner from here on: only the index keepalive is armed.
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(60)); // the runner is declared lost; the lease renewed once
    let mut g = c.benchmark_group("hibernation");
    g.sample_size(20);
    g.bench_function(format!("keepalive_tick_{sockets}_sockets"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The lease is due again 46 s later (45 s period + under 1 s of jitter).
                let now = d.now.saturating_add(Duration::from_secs(46));
                d.now = now;
                let started = std::time::Instant::now();
                d.gw.handle_timeout(now, d.wall()).unwrap();
                let mut renewals = 0;
                while let Some(o) = d.gw.poll_output() {
                    if let Output::Store {
                        request: torpor_core::StoreRequest::RenewLease { .. },
                        ..
                    } = o
                    {
                        renewals += 1;
                    }
                }
                total += started.elapsed();
                assert_eq!(renewals, 1, "one write keeps every row alive");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    sleep_wake,
    sleep_wake_among_sleeping_actors,
    keepalive_tick
);
criterion_main!(benches);

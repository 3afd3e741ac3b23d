//! Unit tests of the process state machine: frames in, frames out, no sockets.

use std::time::Instant;

use torpor_protocol::shared::{
    ActorCheckpoint, ActorConfig, ActorIntent, ActorState, ActorStateStopped, Event,
    EventActorIntent, EventActorStateUpdate, EventWrapper, GatewayId, Headers, HibernatingRequest,
    MessageId, RequestId, StopCode,
};
use torpor_protocol::v7::{
    Command, CommandStartActor, CommandWrapper, ProtocolMetadata, ToClient, ToClientAckEvents,
    ToClientInit, ToClientPing, ToClientRequestChunk, ToClientRequestStart, ToClientTunnelMessage,
    ToClientTunnelMessageKind as In, ToClientWebSocketClose, ToClientWebSocketMessage,
    ToClientWebSocketOpen, ToServer, ToServerAckCommands, ToServerPong,
    ToServerTunnelMessageKind as Out, ToServerWebSocketClose, ToServerWebSocketMessage,
    ToServerWebSocketMessageAck, ToServerWebSocketOpen,
};

use super::process::Process;
use super::{ActorStorage, RunnerConfig, RunnerEvent, StoredSocket};

const GW: GatewayId = GatewayId::from_bytes([9, 9, 9, 9]);
const ACTOR: &str = "actor-a";

fn rq(n: u8) -> RequestId {
    RequestId::from_bytes([n, 0, 0, 0])
}

struct Harness {
    p: Process,
}

impl Harness {
    fn new(can_hibernate: bool, storage: ActorStorage) -> Self {
        let mut config = RunnerConfig::new("ws://127.0.0.1:1");
        config.can_hibernate = can_hibernate;
        let mut p = Process::new(config, storage);
        p.attach(Instant::now());
        let mut h = Self { p };
        assert!(matches!(h.out().as_slice(), [ToServer::Init(i)] if i.total_slots == 100_000));
        h.p.handle(init("runner-1"));
        assert!(h.out().is_empty());
        h
    }

    /// Frames sent since the last call.
    fn out(&mut self) -> Vec<ToServer> {
        self.p
            .take_output()
            .iter()
            .map(|bytes| ToServer::decode(bytes).expect("the runner sent undecodable bytes"))
            .collect()
    }

    fn reattach(&mut self) {
        let seq = self.p.conn_seq;
        self.p.detach(seq, Instant::now());
        self.p.attach(Instant::now());
        assert!(matches!(self.out().as_slice(), [ToServer::Init(_)]));
    }

    fn start(&mut self, generation: u32, listed: &[RequestId]) {
        let start = CommandStartActor {
            config: ActorConfig {
                name: "echo".into(),
                key: None,
                create_ts: 0,
                input: None,
            },
            hibernating_requests: listed
                .iter()
                .map(|&request_id| HibernatingRequest {
                    gateway_id: GW,
                    request_id,
                })
                .collect(),
        };
        self.p.handle(ToClient::Commands(vec![CommandWrapper {
            checkpoint: cp(generation, 0),
            inner: Command::StartActor(start),
        }]));
    }

    fn tunnel(&mut self, request: RequestId, index: u16, kind: In) {
        self.p
            .handle(ToClient::TunnelMessage(ToClientTunnelMessage {
                message_id: MessageId {
                    gateway_id: GW,
                    request_id: request,
                    message_index: index,
                },
                message_kind: kind,
            }));
    }

    fn open(&mut self, request: RequestId) {
        self.tunnel(
            request,
            0,
            In::WebSocketOpen(ToClientWebSocketOpen {
                actor_id: ACTOR.into(),
                path: "/ws".into(),
                headers: Headers::new(),
            }),
        );
    }

    fn message(&mut self, request: RequestId, index: u16, data: &[u8]) {
        self.tunnel(
            request,
            index,
            In::WebSocketMessage(ToClientWebSocketMessage {
                data: data.to_vec(),
                binary: true,
            }),
        );
    }
}

fn init(runner_id: &str) -> ToClient {
    ToClient::Init(ToClientInit {
        runner_id: runner_id.into(),
        metadata: ProtocolMetadata {
            runner_lost_threshold: 15_000,
            actor_stop_threshold: 30_000,
            serverless_drain_grace_period: None,
        },
    })
}

fn cp(generation: u32, index: i64) -> ActorCheckpoint {
    ActorCheckpoint {
        actor_id: ACTOR.into(),
        generation,
        index,
    }
}

fn state(generation: u32, index: i64, state: ActorState) -> ToServer {
    ToServer::Events(vec![EventWrapper {
        checkpoint: cp(generation, index),
        inner: Event::ActorStateUpdate(EventActorStateUpdate { state }),
    }])
}

fn stopped(generation: u32, index: i64) -> ToServer {
    state(
        generation,
        index,
        ActorState::Stopped(ActorStateStopped {
            code: StopCode::Error,
            message: None,
        }),
    )
}

/// The tunnel kinds of the frames, with their request (the runner's own index is ignored).
fn tunnel_kinds(frames: &[ToServer]) -> Vec<(RequestId, Out)> {
    frames
        .iter()
        .map(|f| match f {
            ToServer::TunnelMessage(t) => {
                assert_eq!(t.message_id.gateway_id, GW);
                (t.message_id.request_id, t.message_kind.clone())
            }
            other => panic!("expected a tunnel message, got {other:?}"),
        })
        .collect()
}

fn ack(index: u16) -> Out {
    Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index })
}

fn echo(data: &[u8]) -> Out {
    Out::WebSocketMessage(ToServerWebSocketMessage {
        data: data.to_vec(),
        binary: true,
    })
}

#[test]
fn start_reports_running_then_acks_the_command_and_ping_gets_its_pong() {
    let mut h = Harness::new(true, ActorStorage::new());
    h.start(3, &[]);
    assert_eq!(
        h.out(),
        vec![
            state(3, 0, ActorState::Running),
            ToServer::AckCommands(ToServerAckCommands {
                last_command_checkpoints: vec![cp(3, 0)],
            }),
        ]
    );
    assert_eq!(h.p.running(), vec![(ACTOR.to_owned(), 3)]);
    h.p.handle(ToClient::Ping(ToClientPing { ts: 1234 }));
    assert_eq!(h.out(), vec![ToServer::Pong(ToServerPong { ts: 1234 })]);
}

#[test]
fn messages_are_delivered_once_duplicates_reacked_and_gaps_close_the_socket() {
    let mut h = Harness::new(true, ActorStorage::new());
    h.start(0, &[]);
    h.open(rq(1));
    h.out();
    h.message(rq(1), 0, b"lost"); // index 0 is the open's: a duplicate before anything arrived
    assert!(h.out().is_empty());
    h.message(rq(1), 1, b"one");
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(rq(1), echo(b"one")), (rq(1), ack(1))]
    );
    h.message(rq(1), 1, b"one");
    assert_eq!(tunnel_kinds(&h.out()), vec![(rq(1), ack(1))]);
    h.message(rq(1), 3, b"three");
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(
            rq(1),
            Out::WebSocketClose(ToServerWebSocketClose {
                code: Some(1008),
                reason: Some("ws.message_index_skip".into()),
                hibernate: false,
            })
        )]
    );
    let delivered: Vec<u16> =
        h.p.log
            .iter()
            .filter_map(|e| match e {
                RunnerEvent::WebSocketMessage { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
    assert_eq!(delivered, vec![1]);
    assert!(h.p.storage.sockets(ACTOR).is_empty());
    assert_eq!(h.p.errors.len(), 1);
}

#[test]
fn the_index_wraps() {
    let storage = ActorStorage::new();
    storage.insert(
        (GW, rq(1)),
        StoredSocket {
            actor_id: ACTOR.into(),
            path: "/ws".into(),
            last: u16::MAX,
            seen: true,
        },
    );
    let mut h = Harness::new(true, storage.clone());
    h.start(1, &[rq(1)]);
    h.out();
    h.message(rq(1), 0, b"wrapped");
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(rq(1), echo(b"wrapped")), (rq(1), ack(0))]
    );
    assert_eq!(storage.last_index(rq(1).to_bytes()), Some(0));
}

#[test]
fn start_restores_listed_sockets_and_closes_the_rest() {
    let storage = ActorStorage::new();
    for (n, last) in [(1, 5), (2, 7)] {
        storage.insert(
            (GW, rq(n)),
            StoredSocket {
                actor_id: ACTOR.into(),
                path: "/ws".into(),
                last,
                seen: true,
            },
        );
    }
    let mut h = Harness::new(true, storage.clone());
    // rq 1: listed and persisted; rq 2: persisted only (stale); rq 3: listed only.
    h.start(2, &[rq(1), rq(3)]);
    let out = h.out();
    assert_eq!(out[0], state(2, 0, ActorState::Running));
    assert_eq!(
        tunnel_kinds(&out[1..3]),
        vec![
            (rq(1), ack(5)),
            (
                rq(3),
                Out::WebSocketClose(ToServerWebSocketClose {
                    code: Some(1000),
                    reason: Some("ws.meta_not_found_during_restore".into()),
                    hibernate: false,
                })
            ),
        ]
    );
    assert!(matches!(out[3], ToServer::AckCommands(_)));
    assert_eq!(storage.sockets(ACTOR), vec![rq(1).to_bytes()]);
    assert_eq!(
        h.p.log[1..],
        [RunnerEvent::WebSocketClosed {
            actor_id: ACTOR.into(),
            request_id: rq(2).to_bytes(),
            code: Some(1000),
        }]
    );
    // A resent message at the persisted index is re-acked; the next one is delivered.
    h.message(rq(1), 5, b"five");
    assert_eq!(tunnel_kinds(&h.out()), vec![(rq(1), ack(5))]);
    h.message(rq(1), 6, b"six");
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(rq(1), echo(b"six")), (rq(1), ack(6))]
    );
    assert!(
        !h.p.log
            .iter()
            .any(|e| matches!(e, RunnerEvent::WebSocketOpened { .. }))
    );
}

#[test]
fn unacked_events_are_resent_after_init_and_a_new_runner_id_stops_every_actor() {
    let mut h = Harness::new(true, ActorStorage::new());
    h.start(0, &[]);
    h.p.handle(ToClient::AckEvents(ToClientAckEvents {
        last_event_checkpoints: vec![cp(0, 0)],
    }));
    assert!(h.p.sleep(ACTOR));
    let sleep = EventWrapper {
        checkpoint: cp(0, 1),
        inner: Event::ActorIntent(EventActorIntent {
            intent: ActorIntent::Sleep,
        }),
    };
    h.out();
    h.reattach();
    h.p.handle(init("runner-1"));
    assert_eq!(h.out(), vec![ToServer::Events(vec![sleep.clone()])]);
    assert_eq!(h.p.running(), vec![(ACTOR.to_owned(), 0)]);

    h.reattach();
    h.p.handle(init("runner-2"));
    let out = h.out();
    assert_eq!(out[0], stopped(0, 2));
    assert_eq!(
        out[1],
        ToServer::Events(vec![
            sleep,
            match stopped(0, 2) {
                ToServer::Events(mut e) => e.remove(0),
                _ => unreachable!(),
            }
        ])
    );
    assert!(h.p.running().is_empty());
}

#[test]
fn stop_matches_the_generation_and_closes_only_plain_sockets_locally() {
    let mut h = Harness::new(false, ActorStorage::new());
    h.start(4, &[]);
    h.out();
    h.open(rq(1));
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(
            rq(1),
            Out::WebSocketOpen(ToServerWebSocketOpen {
                can_hibernate: false
            })
        )]
    );
    // Not hibernatable: no index check, no ack.
    h.message(rq(1), 1, b"x");
    h.message(rq(1), 1, b"x");
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(rq(1), echo(b"x")), (rq(1), echo(b"x"))]
    );
    let stop = |generation| {
        ToClient::Commands(vec![CommandWrapper {
            checkpoint: cp(generation, 1),
            inner: Command::StopActor,
        }])
    };
    h.p.handle(stop(3));
    assert!(h.out().is_empty());
    h.p.handle(stop(4));
    assert_eq!(h.out(), vec![stopped(4, 1)]);
    assert_eq!(
        h.p.log[h.p.log.len() - 2..],
        [
            RunnerEvent::WebSocketClosed {
                actor_id: ACTOR.into(),
                request_id: rq(1).to_bytes(),
                code: Some(1000),
            },
            RunnerEvent::ActorStopped {
                actor_id: ACTOR.into(),
                generation: 4,
            },
        ]
    );
}

#[test]
fn client_close_is_echoed_and_forgotten() {
    let mut h = Harness::new(true, ActorStorage::new());
    h.start(0, &[]);
    h.open(rq(1));
    h.out();
    let close = In::WebSocketClose(ToClientWebSocketClose {
        code: Some(4000),
        reason: Some("bye".into()),
    });
    h.tunnel(rq(1), 1, close);
    assert_eq!(
        tunnel_kinds(&h.out()),
        vec![(
            rq(1),
            Out::WebSocketClose(ToServerWebSocketClose {
                code: Some(4000),
                reason: Some("bye".into()),
                hibernate: false,
            })
        )]
    );
    assert!(h.p.storage.sockets(ACTOR).is_empty());
    h.message(rq(1), 2, b"late");
    assert!(h.out().is_empty());
}

#[test]
fn http_requests_are_answered_whole_or_after_the_last_chunk() {
    let mut h = Harness::new(true, ActorStorage::new());
    h.start(0, &[]);
    h.out();
    let request = |actor: &str, body: Option<&[u8]>, stream| {
        In::RequestStart(ToClientRequestStart {
            actor_id: actor.into(),
            method: "POST".into(),
            path: "/p?q=1".into(),
            headers: Headers::new(),
            body: body.map(<[u8]>::to_vec),
            stream,
        })
    };
    h.tunnel(rq(1), 0, request("other", None, false));
    assert!(h.out().is_empty(), "unknown actors are never answered");
    h.tunnel(rq(2), 0, request(ACTOR, Some(b"ab"), false));
    let out = tunnel_kinds(&h.out());
    let [(r, Out::ResponseStart(resp))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(*r, rq(2));
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers.get("x-torpor-test").map(String::as_str),
        Some("1")
    );
    assert_eq!(resp.body.as_deref(), Some(&b"POST /p?q=1\nab"[..]));

    h.tunnel(rq(3), 0, request(ACTOR, Some(b"a"), true));
    for (i, (chunk, finish)) in [(&b"b"[..], false), (&b"c"[..], true)]
        .into_iter()
        .enumerate()
    {
        let chunk = In::RequestChunk(ToClientRequestChunk {
            body: chunk.to_vec(),
            finish,
        });
        h.tunnel(rq(3), u16::try_from(i + 1).unwrap_or(0), chunk);
    }
    let out = tunnel_kinds(&h.out());
    let [(_, Out::ResponseStart(resp))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(resp.body.as_deref(), Some(&b"POST /p?q=1\nabc"[..]));
}

#[test]
fn connect_url_is_built_like_the_npm_runner() {
    let mut c = RunnerConfig::new("http://h:1/api/");
    c.namespace = "a b".into();
    c.runner_key = "k/1".into();
    assert_eq!(
        c.connect_url(),
        "ws://h:1/api/runners/connect?protocol_version=7&namespace=a%20b&runner_key=k%2F1"
    );
}

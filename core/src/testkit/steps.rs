//! The `core_steps` fuzz body: an alphabet of inputs with small id ranges, applied to one
//! gateway, with the invariants checked after every step.
//!
//! Ids are small indices into what the world has seen (runner connections, actors, starts,
//! request ids), so most steps are meaningful rather than rejected at the door. Runner bytes are
//! either a valid frame built from those ids or raw garbage. Store operations stay pending until
//! a step completes one (with success or a failure), so completions arrive late and out of
//! their issue order.

use std::time::Duration;

use super::driver::{Driver, event, intent, stopped};
use crate::admin::{AdminCommand, CreateActor};
use crate::config::Config;
use crate::ids::{ActorId, AdminReqId, ClientId, OpId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::{
    ActorCheckpoint, ActorIntent, ActorState, Command, KvGetRequest, KvGetResponse, KvRequestData,
    KvResponseData, MessageId, StopCode, ToClient, ToServer, ToServerKvRequest,
    ToServerTunnelMessage, ToServerTunnelMessageKind as Out, ToServerWebSocketClose,
    ToServerWebSocketMessage, ToServerWebSocketMessageAck, ToServerWebSocketOpen,
};
use crate::store::{StoreFailure, StoreReply, StoreRequest};
use crate::time::UnixMillis;

/// One fuzz step. Small integers pick among the things the world has seen.
#[derive(Debug, Clone, arbitrary::Arbitrary)]
pub enum Step {
    /// A runner connects with key `key % 3` and sends its init.
    RunnerConnect {
        /// Key choice.
        key: u8,
    },
    /// A runner connection ends.
    RunnerClosed {
        /// Which connection.
        runner: u8,
    },
    /// A well-formed runner frame built from seen ids.
    RunnerFrame {
        /// Which connection.
        runner: u8,
        /// Which frame.
        frame: Frame,
    },
    /// Raw bytes on a runner connection.
    RunnerGarbage {
        /// Which connection.
        runner: u8,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A client WebSocket on actor `actor`.
    ClientOpen {
        /// Which actor (an out-of-range pick asks for an unknown actor).
        actor: u8,
    },
    /// A client message of `len` bytes.
    ClientSend {
        /// Which client.
        client: u8,
        /// Payload length.
        len: u16,
    },
    /// A client closes.
    ClientClose {
        /// Which client.
        client: u8,
    },
    /// The adapter reports a client that does not read.
    ClientOutboundFull {
        /// Which client.
        client: u8,
    },
    /// An HTTP request to actor `actor`.
    Http {
        /// Which actor.
        actor: u8,
    },
    /// The HTTP client goes away.
    HttpCancel {
        /// Which client.
        client: u8,
    },
    /// An admin command.
    Admin {
        /// Create, get-or-create, destroy or sleep.
        kind: u8,
        /// Which actor.
        actor: u8,
    },
    /// Completes one pending store op.
    StoreDone {
        /// Which pending op.
        which: u8,
        /// Fail it (busy) instead.
        fail: bool,
    },
    /// Time passes.
    Advance {
        /// Milliseconds, times 16.
        ms16: u16,
    },
}

/// A valid runner frame, from seen ids.
#[derive(Debug, Clone, arbitrary::Arbitrary)]
pub enum Frame {
    /// `Running` for a seen start.
    Running {
        /// Which start.
        start: u8,
    },
    /// `Stopped` for a seen start.
    Stopped {
        /// Which start.
        start: u8,
        /// Event index offset.
        index: u8,
    },
    /// `ActorIntent{Sleep}` for a seen start.
    Sleep {
        /// Which start.
        start: u8,
        /// Event index offset.
        index: u8,
    },
    /// `ToServerWebSocketOpen` for a seen request.
    WsOpen {
        /// Which request.
        request: u8,
        /// Hibernatable.
        can_hibernate: bool,
    },
    /// A runner → client message.
    WsMessage {
        /// Which request.
        request: u8,
        /// Payload length.
        len: u16,
    },
    /// An ack of a seen request up to a seen index (plus `delta`).
    WsAck {
        /// Which request.
        request: u8,
        /// Added to the last index seen for it.
        delta: i8,
    },
    /// The runner closes a socket.
    WsClose {
        /// Which request.
        request: u8,
        /// Asks to hibernate.
        hibernate: bool,
    },
    /// A KV get for a seen actor.
    KvGet {
        /// Which actor.
        actor: u8,
    },
    /// The runner is draining.
    Stopping,
}

/// The world one fuzz input runs in: the test driver (which checks the gateway's invariants
/// after every step) plus what the world has learnt from the outputs.
struct World {
    d: Driver,
    runners: Vec<RunnerConnId>,
    actors: Vec<ActorId>,
    clients: Vec<ClientId>,
    /// Clients whose reads the gateway paused: an adapter delivers nothing more from them.
    paused: Vec<ClientId>,
    starts: Vec<(RunnerConnId, ActorCheckpoint)>,
    /// Request ids sent to runners, with the last index seen.
    requests: Vec<(RunnerConnId, MessageId)>,
    /// Store ops not completed yet, and whether each is a KV request.
    pending_ops: Vec<(OpId, bool)>,
}

impl World {
    fn new() -> Self {
        let config = Config {
            socket_window_messages: 4,
            socket_window_bytes: 1024,
            pending_budget_bytes: 8 * 1024,
            ..Config::default()
        };
        let mut d = Driver::with_seed(config, 1);
        // Store operations stay pending until a step completes them.
        d.auto_store = false;
        Self {
            d,
            runners: Vec::new(),
            actors: Vec::new(),
            clients: Vec::new(),
            paused: Vec::new(),
            starts: Vec::new(),
            requests: Vec::new(),
            pending_ops: Vec::new(),
        }
    }

    fn fresh(&mut self) -> u64 {
        self.d.fresh()
    }

    fn pick<T: Clone>(list: &[T], i: u8) -> Option<T> {
        (!list.is_empty()).then(|| list[usize::from(i) % list.len()].clone())
    }

    fn feed(&mut self, input: Input) {
        let out = self.d.step(input);
        self.learn(out);
    }

    /// Learns ids from the outputs, then checks what the driver does not.
    fn learn(&mut self, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Store { op, request } => {
                    if let StoreRequest::PutActor(record) = &request {
                        if !self.actors.contains(&record.id) {
                            self.actors.push(record.id);
                        }
                    }
                    self.pending_ops
                        .push((op, matches!(request, StoreRequest::Kv { .. })));
                }
                Output::SendRunner { conn, bytes } => {
                    let msg = ToClient::decode(&bytes).expect("the gateway sent undecodable bytes");
                    match msg {
                        ToClient::Commands(cmds) => {
                            for c in cmds {
                                if matches!(c.inner, Command::StartActor(_)) {
                                    self.starts.push((conn, c.checkpoint));
                                }
                            }
                        }
                        ToClient::TunnelMessage(t) => {
                            let rq = t.message_id.request_id;
                            match self.requests.iter_mut().find(|(_, m)| m.request_id == rq) {
                                Some((c, m)) => {
                                    *c = conn;
                                    *m = t.message_id;
                                }
                                None => self.requests.push((conn, t.message_id)),
                            }
                        }
                        _ => {}
                    }
                }
                Output::CloseRunner { conn, .. } | Output::RejectRunner { conn, .. } => {
                    self.runners.retain(|r| *r != conn);
                }
                Output::PauseClientReads { client } => self.paused.push(client),
                Output::ResumeClientReads { client } => self.paused.retain(|c| *c != client),
                _ => {}
            }
        }
        let gw = &self.d.gw;
        if let Some(at) = gw.poll_timeout() {
            assert!(
                at >= self.d.now,
                "a deadline at {at:?} lies before now {:?}",
                self.d.now
            );
        }
        let budget = gw.config().pending_budget_bytes;
        let window = gw.config().socket_window_bytes;
        // Each socket may exceed its window by one message (a message larger than the window
        // still goes when nothing is outstanding); the budget bounds the sum.
        assert!(
            gw.held_bytes() <= budget + window + 64 * 1024,
            "held bytes {} exceed the budget",
            gw.held_bytes()
        );
    }

    fn runner_send(&mut self, conn: RunnerConnId, msg: &ToServer) {
        self.feed(Input::RunnerBytes {
            conn,
            bytes: msg.to_bytes(),
        });
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::RunnerConnect { key } => {
                let (conn, out) = self
                    .d
                    .connect_runner(&format!("k{}", key % 3), "default", 4);
                self.runners.push(conn);
                self.learn(out);
            }
            Step::RunnerClosed { runner } => {
                if let Some(conn) = Self::pick(&self.runners, runner) {
                    self.runners.retain(|r| *r != conn);
                    self.feed(Input::RunnerClosed { conn });
                }
            }
            Step::RunnerFrame { runner, frame } => {
                if let Some(conn) = Self::pick(&self.runners, runner) {
                    if let Some(msg) = self.frame(frame) {
                        self.runner_send(conn, &msg);
                    }
                }
            }
            Step::RunnerGarbage { runner, bytes } => {
                if let Some(conn) = Self::pick(&self.runners, runner) {
                    self.feed(Input::RunnerBytes { conn, bytes });
                }
            }
            Step::ClientOpen { actor } => {
                let client = ClientId::new(self.fresh());
                let target = self
                    .actors
                    .get(usize::from(actor) % (self.actors.len() + 1))
                    .map_or_else(|| "not-an-actor".to_owned(), ActorId::to_string);
                self.clients.push(client);
                self.feed(Input::ClientWebSocket {
                    client,
                    actor: target,
                    path: "/ws".into(),
                    headers: Default::default(),
                });
            }
            Step::ClientSend { client, len } => {
                let client = Self::pick(&self.clients, client).filter(|c| !self.paused.contains(c));
                if let Some(client) = client {
                    let frame = ClientFrame::Binary(vec![7; usize::from(len % 2048)]);
                    self.feed(Input::ClientMessage { client, frame });
                }
            }
            Step::ClientClose { client } => {
                if let Some(client) = Self::pick(&self.clients, client) {
                    self.clients.retain(|c| *c != client);
                    self.feed(Input::ClientClosed {
                        client,
                        close: Some(CloseFrame::new(1000, "bye")),
                    });
                }
            }
            Step::ClientOutboundFull { client } => {
                if let Some(client) = Self::pick(&self.clients, client) {
                    self.feed(Input::ClientOutboundFull { client });
                }
            }
            Step::Http { actor } => {
                if let Some(a) = Self::pick(&self.actors, actor) {
                    let client = ClientId::new(self.fresh());
                    self.clients.push(client);
                    self.feed(Input::HttpRequest {
                        client,
                        actor: a.to_string(),
                        method: "GET".into(),
                        path: "/".into(),
                        headers: Default::default(),
                        body: Vec::new(),
                    });
                }
            }
            Step::HttpCancel { client } => {
                if let Some(client) = Self::pick(&self.clients, client) {
                    self.feed(Input::HttpCancelled { client });
                }
            }
            Step::Admin { kind, actor } => {
                let req = AdminReqId::new(self.fresh());
                let command = match (kind % 4, Self::pick(&self.actors, actor)) {
                    (0, _) | (_, None) => AdminCommand::Create(CreateActor {
                        namespace: "default".into(),
                        name: "a".into(),
                        key: Some(format!("{}", actor % 4)),
                        runner_name: "default".into(),
                        input: None,
                        wall: UnixMillis(1_700_000_000_000),
                    }),
                    (1, Some(id)) => AdminCommand::Sleep(id),
                    (2, Some(id)) => AdminCommand::Destroy(id),
                    (_, Some(id)) => AdminCommand::Sockets(id),
                };
                self.feed(Input::Admin { req, command });
            }
            Step::StoreDone { which, fail } => {
                if self.pending_ops.is_empty() {
                    return;
                }
                let (op, kv) = self
                    .pending_ops
                    .remove(usize::from(which) % self.pending_ops.len());
                let result = if fail {
                    Err(StoreFailure::Busy)
                } else {
                    Ok(success(kv))
                };
                self.feed(Input::StoreDone { op, result });
            }
            Step::Advance { ms16 } => {
                let out = self.d.advance(Duration::from_millis(u64::from(ms16) * 16));
                self.learn(out);
            }
        }
    }

    fn frame(&self, frame: Frame) -> Option<ToServer> {
        let start = |i: u8| Self::pick(&self.starts, i).map(|(_, cp)| cp);
        let request = |i: u8| Self::pick(&self.requests, i).map(|(_, m)| m);
        let tunnel = |m: MessageId, kind: Out| {
            ToServer::TunnelMessage(ToServerTunnelMessage {
                message_id: MessageId {
                    message_index: 0,
                    ..m
                },
                message_kind: kind,
            })
        };
        Some(match frame {
            Frame::Running { start: i } => {
                let cp = start(i)?;
                ToServer::Events(vec![event(&cp, 0, ActorState::Running)])
            }
            Frame::Stopped { start: i, index } => {
                let cp = start(i)?;
                ToServer::Events(vec![event(
                    &cp,
                    i64::from(index % 4) + 1,
                    stopped(StopCode::Error),
                )])
            }
            Frame::Sleep { start: i, index } => {
                let cp = start(i)?;
                ToServer::Events(vec![intent(
                    &cp,
                    i64::from(index % 4) + 1,
                    ActorIntent::Sleep,
                )])
            }
            Frame::WsOpen {
                request: i,
                can_hibernate,
            } => tunnel(
                request(i)?,
                Out::WebSocketOpen(ToServerWebSocketOpen { can_hibernate }),
            ),
            Frame::WsMessage { request: i, len } => tunnel(
                request(i)?,
                Out::WebSocketMessage(ToServerWebSocketMessage {
                    data: vec![1; usize::from(len % 4096)],
                    binary: true,
                }),
            ),
            Frame::WsAck { request: i, delta } => {
                let m = request(i)?;
                let index = m.message_index.wrapping_add_signed(i16::from(delta));
                tunnel(
                    m,
                    Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index }),
                )
            }
            Frame::WsClose {
                request: i,
                hibernate,
            } => tunnel(
                request(i)?,
                Out::WebSocketClose(ToServerWebSocketClose {
                    code: Some(1000),
                    reason: None,
                    hibernate,
                }),
            ),
            Frame::KvGet { actor } => ToServer::KvRequest(ToServerKvRequest {
                actor_id: Self::pick(&self.actors, actor)?.to_string(),
                request_id: 1,
                data: KvRequestData::Get(KvGetRequest {
                    keys: vec![vec![1]],
                }),
            }),
            Frame::Stopping => ToServer::Stopping,
        })
    }
}

/// What the store answers when an op succeeds.
fn success(kv: bool) -> StoreReply {
    if kv {
        StoreReply::Kv(KvResponseData::Get(KvGetResponse {
            keys: Vec::new(),
            values: Vec::new(),
            metadata: Vec::new(),
        }))
    } else {
        StoreReply::Done
    }
}

/// `core_steps`: applies `steps` to a fresh gateway; panics on any invariant violation, misuse
/// error or undecodable output.
pub fn core_steps(steps: &[Step]) {
    let mut w = World::new();
    for (i, step) in steps.iter().enumerate() {
        if std::env::var_os("TORPOR_STEPS_TRACE").is_some() {
            eprintln!("step {i}: {step:?}");
        }
        w.step(step.clone());
    }
    // Finally everything pending completes and time runs out every deadline: still consistent.
    while let Some((op, kv)) = w.pending_ops.pop() {
        w.feed(Input::StoreDone {
            op,
            result: Ok(success(kv)),
        });
    }
    w.step(Step::Advance { ms16: u16::MAX });
}

/// `core_steps` over raw fuzz bytes: decodes them into steps with [`arbitrary`].
pub fn core_steps_bytes(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let mut steps = Vec::new();
    while !u.is_empty() && steps.len() < 512 {
        match <Step as arbitrary::Arbitrary>::arbitrary(&mut u) {
            Ok(step) => steps.push(step),
            Err(_) => break,
        }
    }
    core_steps(&steps);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed fuzz corpus (and past finds) replayed on stable.
    #[test]
    fn committed_corpus_keeps_every_invariant() {
        let n = crate::testkit::replay_seeds("core_steps", core_steps_bytes);
        assert!(n >= 100, "{n} inputs");
    }

    /// The fuzz body on stable: random byte strings decoded into step sequences.
    #[test]
    fn random_step_sequences_keep_every_invariant() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let runs: usize = std::env::var("TORPOR_STEPS_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(400);
        for _ in 0..runs {
            let len = rng.usize(64..4096);
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            core_steps_bytes(&data);
        }
    }
}

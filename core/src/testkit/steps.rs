//! The `core_steps` fuzz body: an alphabet of inputs with small id ranges, applied to one
//! gateway, with the invariants checked after every step and every output checked against an
//! oracle ([`Oracle`]): message indices towards runners in order with exact resends, client
//! payloads forwarded in order, actor frames reaching clients in order without duplicates,
//! nothing after a client ended, pauses only with a full window or budget, bounded memory.
//!
//! Ids are small indices into what the world has seen (runner connections, actors, starts,
//! request ids), so most steps are meaningful rather than rejected at the door. Runner bytes are
//! either a valid frame built from those ids or raw garbage. Store operations stay pending until
//! a step completes one (with success or a failure), so completions arrive late and out of
//! their issue order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::driver::{Driver, event, intent, stopped};
use crate::admin::{AdminCommand, CreateActor};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ids::{ActorId, AdminReqId, ClientId, OpId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::{
    ActorCheckpoint, ActorIntent, ActorState, Command, KvGetRequest, KvGetResponse, KvRequestData,
    KvResponseData, MessageId, RequestId, StopCode, ToClient, ToClientTunnelMessage,
    ToClientTunnelMessageKind as In, ToServer, ToServerKvRequest, ToServerTunnelMessage,
    ToServerTunnelMessageKind as Out, ToServerWebSocketClose, ToServerWebSocketMessage,
    ToServerWebSocketMessageAck, ToServerWebSocketOpen,
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
    oracle: Oracle,
}

/// The largest client payload a step sends (a unique 8-byte tag plus up to 2,047 bytes).
const CLIENT_MESSAGE_BYTES: usize = 8 + 2047;

/// What the gateway's outputs must agree with.
#[derive(Default)]
struct Oracle {
    /// WebSocket clients and their request ids (read from the gateway when they open).
    client_request: BTreeMap<ClientId, RequestId>,
    request_client: BTreeMap<RequestId, ClientId>,
    /// Payloads each WebSocket client sent, in order.
    sent: BTreeMap<ClientId, Vec<Vec<u8>>>,
    /// How many of them went to a runner (first sends, not resends), per request.
    forwarded: BTreeMap<RequestId, usize>,
    /// Per request: the last message index sent to a runner and every frame by index, so a
    /// resend can be checked byte for byte.
    to_runner: BTreeMap<RequestId, (u16, BTreeMap<u16, Vec<u8>>)>,
    /// Payloads runners sent towards each request, in order.
    from_runner: BTreeMap<RequestId, Vec<Vec<u8>>>,
    /// Position in `from_runner` after the last frame each client received.
    received: BTreeMap<ClientId, usize>,
    /// Clients that ended, and how: nothing may reach them any more.
    ended: BTreeMap<ClientId, &'static str>,
    /// HTTP clients whose streamed response started.
    streaming: BTreeSet<ClientId>,
    paused: BTreeSet<ClientId>,
    /// The request a runner closed in the current step: its client's close is the actor's
    /// (forwarded as sent, reason or not), not the gateway's.
    runner_closed: Option<RequestId>,
    /// Makes every payload unique.
    next_tag: u64,
}

impl Oracle {
    /// A unique payload of `len % modulo` bytes after its 8-byte tag.
    fn payload(&mut self, len: u16, modulo: u16) -> Vec<u8> {
        self.next_tag += 1;
        let mut data = self.next_tag.to_be_bytes().to_vec();
        data.resize(8 + usize::from(len % modulo), 7);
        data
    }

    /// Checks one output, in order; `Err` names the violation.
    fn output(&mut self, gw: &Gateway, o: &Output) -> Result<(), String> {
        let live = |oracle: &Self, client: ClientId| match oracle.ended.get(&client) {
            Some(how) => Err(format!("{client}: {o:?} after it ended ({how})")),
            None => Ok(()),
        };
        match o {
            Output::SendRunner { bytes, .. } => {
                if let Ok(ToClient::TunnelMessage(t)) = ToClient::decode(bytes) {
                    if t.message_id.gateway_id == gw.gateway_id() {
                        self.tunnel_to_runner(&t, bytes)?;
                    }
                }
            }
            Output::SendClient { client, frame } => {
                live(self, *client)?;
                let data = match frame {
                    ClientFrame::Binary(b) => b.as_slice(),
                    ClientFrame::Text(t) => t.as_bytes(),
                };
                let rq = self.client_request.get(client);
                let sent = rq.and_then(|rq| self.from_runner.get(rq));
                let from = self.received.get(client).copied().unwrap_or(0);
                let at = sent.and_then(|s| s.iter().skip(from).position(|p| p == data));
                match at {
                    Some(at) => {
                        self.received.insert(*client, from + at + 1);
                    }
                    None => {
                        return Err(format!(
                            "{client}: a frame no runner sent after the last one it received (a duplicate or a reorder): {data:?}"
                        ));
                    }
                }
            }
            Output::CloseClient { client, close } => {
                live(self, *client)?;
                let actors = self.runner_closed.is_some()
                    && self.client_request.get(client) == self.runner_closed.as_ref();
                if close.reason.is_empty() && !actors {
                    return Err(format!(
                        "{client}: closed with {} and no reason",
                        close.code
                    ));
                }
                self.ended.insert(*client, "closed by the gateway");
            }
            Output::RejectClient { client, .. } => {
                live(self, *client)?;
                self.ended.insert(*client, "refused");
            }
            Output::HttpResponse {
                client, streaming, ..
            } => {
                live(self, *client)?;
                if *streaming {
                    self.streaming.insert(*client);
                } else {
                    self.ended.insert(*client, "answered");
                }
            }
            Output::HttpBodyChunk { client, finish, .. } => {
                live(self, *client)?;
                if !self.streaming.contains(client) {
                    return Err(format!("{client}: a body chunk before a streamed head"));
                }
                if *finish {
                    self.ended.insert(*client, "streamed to the end");
                }
            }
            Output::HttpAbort { client } => {
                live(self, *client)?;
                if !self.streaming.contains(client) {
                    return Err(format!("{client}: an abort without a streamed head"));
                }
                self.ended.insert(*client, "aborted");
            }
            Output::PauseClientReads { client } => {
                live(self, *client)?;
                if !self.paused.insert(*client) {
                    return Err(format!("{client}: paused twice"));
                }
            }
            Output::ResumeClientReads { client } => {
                live(self, *client)?;
                if !self.paused.remove(client) {
                    return Err(format!("{client}: resumed while not paused"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A tunnel message to a runner takes the request's next index, or repeats an earlier one
    /// byte for byte (a resend); a client's payloads go out in the order it sent them.
    fn tunnel_to_runner(&mut self, t: &ToClientTunnelMessage, bytes: &[u8]) -> Result<(), String> {
        let rq = t.message_id.request_id;
        let index = t.message_id.message_index;
        let (last, frames) = self
            .to_runner
            .entry(rq)
            .or_insert_with(|| (u16::MAX, BTreeMap::new()));
        if index != last.wrapping_add(1) {
            return match frames.get(&index) {
                Some(first) if first.as_slice() == bytes => Ok(()),
                Some(_) => Err(format!("{rq:?}: index {index} resent with other bytes")),
                None => Err(format!(
                    "{rq:?}: index {index} after {last}: a gap the runner would close the socket for"
                )),
            };
        }
        *last = index;
        frames.insert(index, bytes.to_vec());
        if let In::WebSocketMessage(m) = &t.message_kind {
            let Some(client) = self.request_client.get(&rq) else {
                return Ok(());
            };
            let n = self.forwarded.entry(rq).or_default();
            let want = self.sent.get(client).and_then(|s| s.get(*n));
            if want != Some(&m.data) {
                return Err(format!(
                    "{client}: forwarded {:?} as its message #{}, it sent {want:?}",
                    m.data, *n
                ));
            }
            *n += 1;
        }
        Ok(())
    }

    /// After every step: every paused client has a cause, memory stays bounded.
    fn check_state(&self, gw: &Gateway, now: crate::time::Instant) -> Result<(), String> {
        for client in &self.paused {
            if let Some(why) = super::checks::paused_without_cause(gw, *client) {
                return Err(why);
            }
        }
        super::checks::memory_bounds(gw, now, CLIENT_MESSAGE_BYTES)
    }
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
            oracle: Oracle::default(),
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

    /// Learns ids from the outputs and checks each against the oracle, then checks what the
    /// driver does not.
    fn learn(&mut self, out: Vec<Output>) {
        for o in out {
            if let Err(violation) = self.oracle.output(&self.d.gw, &o) {
                panic!("oracle: {violation}");
            }
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
        if let Err(violation) = self.oracle.check_state(&self.d.gw, self.d.now) {
            panic!("oracle: {violation}");
        }
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
                    self.oracle.runner_closed = None;
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
                let out = self.d.step(Input::ClientWebSocket {
                    client,
                    actor: target,
                    path: "/ws".into(),
                    headers: Default::default(),
                });
                if let Some(rq) = self.d.gw.inspect().request_of(client) {
                    self.oracle.client_request.insert(client, rq);
                    self.oracle.request_client.insert(rq, client);
                }
                self.learn(out);
            }
            Step::ClientSend { client, len } => {
                let client = Self::pick(&self.clients, client).filter(|c| !self.paused.contains(c));
                if let Some(client) = client {
                    let data = self.oracle.payload(len, 2048);
                    if self.oracle.client_request.contains_key(&client) {
                        self.oracle
                            .sent
                            .entry(client)
                            .or_default()
                            .push(data.clone());
                    }
                    let frame = ClientFrame::Binary(data);
                    self.feed(Input::ClientMessage { client, frame });
                }
            }
            Step::ClientClose { client } => {
                if let Some(client) = Self::pick(&self.clients, client) {
                    self.clients.retain(|c| *c != client);
                    self.paused.retain(|c| *c != client);
                    // A WebSocket client is gone: nothing may reach it, pauses included (an
                    // HTTP client has no WebSocket to close; its request goes on).
                    if self.oracle.client_request.contains_key(&client) {
                        self.oracle
                            .ended
                            .entry(client)
                            .or_insert("closed by the client");
                        self.oracle.paused.remove(&client);
                    }
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
                    if !self.oracle.client_request.contains_key(&client) {
                        self.oracle.ended.entry(client).or_insert("cancelled");
                    }
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
                        crash_policy: crate::store::CrashPolicy::Sleep,
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

    fn frame(&mut self, frame: Frame) -> Option<ToServer> {
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
            Frame::WsMessage { request: i, len } => {
                let m = request(i)?;
                let data = self.oracle.payload(len, 4096);
                self.oracle
                    .from_runner
                    .entry(m.request_id)
                    .or_default()
                    .push(data.clone());
                tunnel(
                    m,
                    Out::WebSocketMessage(ToServerWebSocketMessage { data, binary: true }),
                )
            }
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
                {
                    let m = request(i)?;
                    self.oracle.runner_closed = Some(m.request_id);
                    m
                },
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

    /// A world with one runner, one running actor and one accepted hibernatable socket; its
    /// client, request and runner connection.
    fn one_socket() -> (World, ClientId, MessageId, RunnerConnId) {
        let mut w = World::new();
        w.d.auto_store = true;
        let (conn, _) = w.d.connect_runner("k", "default", 4);
        let (actor, _) = w.d.running_actor(conn, "a");
        w.runners.push(conn);
        let client = ClientId::new(w.fresh());
        w.clients.push(client);
        let out = w.d.step(Input::ClientWebSocket {
            client,
            actor: actor.to_string(),
            path: "/ws".into(),
            headers: Default::default(),
        });
        let rq = w.d.gw.inspect().request_of(client).unwrap();
        w.oracle.client_request.insert(client, rq);
        w.oracle.request_client.insert(rq, client);
        w.learn(out);
        let request = w
            .requests
            .iter()
            .find(|(_, m)| m.request_id == rq)
            .unwrap()
            .1;
        let out = w.d.accept_websocket(conn, request, true);
        w.learn(out);
        (w, client, request, conn)
    }

    /// Feeds `outputs` to the world's oracle; the first violation, if any.
    fn judge(w: &mut World, outputs: &[Output]) -> Result<(), String> {
        outputs.iter().try_for_each(|o| w.oracle.output(&w.d.gw, o))
    }

    /// The oracle is not constant: each kind of wrong output it exists for is caught.
    #[test]
    fn the_oracle_rejects_what_it_exists_for() {
        let (mut w, client, request, conn) = one_socket();
        // An actor frame delivered twice, or one no runner sent.
        w.step(Step::RunnerFrame {
            runner: 0,
            frame: Frame::WsMessage { request: 0, len: 3 },
        });
        let sent = w.oracle.from_runner[&request.request_id][0].clone();
        let twice = Output::SendClient {
            client,
            frame: ClientFrame::Binary(sent),
        };
        let err = judge(&mut w, &[twice]).unwrap_err();
        assert!(err.contains("duplicate"), "{err}");
        // A client message forwarded other than as sent.
        w.step(Step::ClientSend { client: 0, len: 5 });
        let forwarded = w.oracle.to_runner[&request.request_id].clone();
        let (last, frames) = forwarded;
        let first = frames[&last].clone();
        let mut wrong = ToClient::decode(&first).unwrap();
        if let ToClient::TunnelMessage(t) = &mut wrong {
            t.message_id.message_index = last.wrapping_add(1);
            if let In::WebSocketMessage(m) = &mut t.message_kind {
                m.data.push(0);
            }
        }
        let out = Output::SendRunner {
            conn,
            bytes: wrong.to_bytes().into(),
        };
        let err = judge(&mut w, &[out]).unwrap_err();
        assert!(err.contains("forwarded"), "{err}");
        // A resend whose bytes changed, and a skipped index.
        let mut changed = ToClient::decode(&first).unwrap();
        if let ToClient::TunnelMessage(t) = &mut changed {
            if let In::WebSocketMessage(m) = &mut t.message_kind {
                m.data[0] ^= 1;
            }
        }
        let out = Output::SendRunner {
            conn,
            bytes: changed.to_bytes().into(),
        };
        let err = judge(&mut w, &[out]).unwrap_err();
        assert!(err.contains("other bytes"), "{err}");
        let mut gap = ToClient::decode(&first).unwrap();
        if let ToClient::TunnelMessage(t) = &mut gap {
            t.message_id.message_index = last.wrapping_add(5);
        }
        let out = Output::SendRunner {
            conn,
            bytes: gap.to_bytes().into(),
        };
        let err = judge(&mut w, &[out]).unwrap_err();
        assert!(err.contains("gap"), "{err}");
        // A close without a reason, a second close, a pause with room in the window.
        let unnamed = Output::CloseClient {
            client,
            close: CloseFrame::new(1011, ""),
        };
        assert!(judge(&mut w, &[unnamed]).unwrap_err().contains("no reason"));
        w.oracle.ended.remove(&client);
        let named = Output::CloseClient {
            client,
            close: CloseFrame::new(1011, "torpor.x"),
        };
        let err = judge(&mut w, &[named.clone(), named]).unwrap_err();
        assert!(err.contains("after it ended"), "{err}");
        w.oracle.ended.remove(&client);
        w.oracle.paused.insert(client);
        let err = w.oracle.check_state(&w.d.gw, w.d.now).unwrap_err();
        assert!(err.contains("paused while neither"), "{err}");
    }
}

//! The model runner process (what `@rivetkit/engine-runner` 2.2.1 does with each frame) and the
//! model actors it hosts (persist, then ack; answer HTTP; send their own messages; sleep, crash,
//! stop slowly).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::Sim;
use crate::ids::{ActorId, RunnerConnId};
use crate::protocol::{
    ActorCheckpoint, ActorIntent, ActorState, Command, Event, EventActorSetAlarm, EventWrapper,
    GatewayId, MessageId, RequestId, StopCode, ToClient, ToClientInit, ToClientRequestStart,
    ToClientTunnelMessage, ToClientTunnelMessageKind as In, ToServer, ToServerAckCommands,
    ToServerResponseChunk, ToServerResponseStart, ToServerTunnelMessage,
    ToServerTunnelMessageKind as Out, ToServerWebSocketClose, ToServerWebSocketMessage,
    ToServerWebSocketMessageAck, ToServerWebSocketOpen,
};
use crate::testkit::driver::{event, intent, stopped};
use crate::time::Instant;

/// A runner process, numbered by the simulation.
pub(super) type ProcId = u64;

/// The actor instance (actor, generation) that sent a frame, if an actor sent it.
pub(super) type Sender = Option<(ActorId, u32)>;

/// The runner's per-socket adapter: volatile, rebuilt from [`Durable`] on restore.
#[derive(Debug)]
pub(super) struct Adapter {
    pub(super) gateway: GatewayId,
    pub(super) hibernatable: bool,
    /// Last message index delivered (the hibernatable dedupe of RUNNER-PROTOCOL §7.2).
    pub(super) last: u16,
    /// Handled but not yet persisted.
    pub(super) handled: Vec<(u16, Vec<u8>)>,
    /// Last index the actor acked.
    pub(super) acked: u16,
}

/// An HTTP request the actor is answering.
#[derive(Debug)]
pub(super) struct HttpJob {
    /// Response frames not sent yet, in order.
    pub(super) parts: VecDeque<Out>,
    pub(super) gateway: GatewayId,
}

#[derive(Debug)]
pub(super) struct Instance {
    pub(super) generation: u32,
    pub(super) next_event: i64,
    /// Index of the start command that created it (`lastCommandIdx`).
    pub(super) start_index: i64,
    pub(super) sockets: BTreeMap<RequestId, Adapter>,
    pub(super) http: BTreeMap<RequestId, HttpJob>,
    /// `onActorStop` is running: `Stopped` goes out at this time.
    pub(super) stop_due: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct ModelRunner {
    pub(super) key: String,
    /// Which of the world's pools it serves ([`super::WorldPool`]): its protocol with it.
    pub(super) pool: usize,
    /// The runner id of the last `ToClientInit`.
    pub(super) runner_id: Option<String>,
    /// The connection it writes to; `None` while disconnected.
    pub(super) conn: Option<RunnerConnId>,
    /// `ToClientInit` arrived on the current connection: frames go out directly.
    pub(super) ready: bool,
    pub(super) instances: BTreeMap<ActorId, Instance>,
    /// Events sent and not acked yet: resent after every init.
    pub(super) history: Vec<EventWrapper>,
    /// Tunnel messages sent while not connected, with the instance that sent each; sent after
    /// the next init unless that actor is gone by then ("actor not found").
    pub(super) buffered: Vec<((ActorId, u32), ToServer)>,
    /// When it noticed its connection was gone (its runner-lost timer runs from then).
    pub(super) disconnected_at: Option<Instant>,
}

impl ModelRunner {
    pub(super) fn new(key: String, pool: usize) -> Self {
        Self {
            key,
            pool,
            runner_id: None,
            conn: None,
            ready: false,
            instances: BTreeMap::new(),
            history: Vec::new(),
            buffered: Vec::new(),
            disconnected_at: None,
        }
    }

    /// The instance holding socket or HTTP request `rq`.
    fn actor_of_request(&self, rq: RequestId) -> Option<ActorId> {
        self.instances
            .iter()
            .find(|(_, i)| i.sockets.contains_key(&rq) || i.http.contains_key(&rq))
            .map(|(a, _)| *a)
    }
}

/// What an actor holds for one socket: the persisted metadata and log of a hibernatable one,
/// or what the actor of a non-hibernatable one received (kept here for the oracles).
#[derive(Debug)]
pub(super) struct Durable {
    pub(super) actor: ActorId,
    pub(super) gateway: GatewayId,
    pub(super) hibernatable: bool,
    /// Last persisted message index (`serverMessageIndex`).
    pub(super) persisted: u16,
    /// Persisted (or received) payloads, in order.
    pub(super) log: Vec<Vec<u8>>,
    /// The actor saw it closed (a close frame, stale metadata on restore, or its own stop).
    pub(super) closed: bool,
    /// A non-hibernatable socket its actor's instance ended (stop, replacement, process death)
    /// without hearing any close.
    pub(super) ended_locally: bool,
    /// The close frame that reached the actor was the gateway's, not the client's.
    pub(super) closed_by_gateway: bool,
}

pub(super) fn checkpoint(actor: ActorId, generation: u32, index: i64) -> ActorCheckpoint {
    ActorCheckpoint {
        actor_id: actor.to_string(),
        generation,
        index,
    }
}

pub(super) fn tunnel(gateway_id: GatewayId, request_id: RequestId, kind: Out) -> ToServer {
    ToServer::TunnelMessage(ToServerTunnelMessage {
        message_id: MessageId {
            gateway_id,
            request_id,
            message_index: 0,
        },
        message_kind: kind,
    })
}

impl Sim {
    /// A frame from the gateway reaches runner process `proc`.
    pub(super) fn runner_receive(&mut self, proc: ProcId, msg: ToClient) {
        if self.trace {
            eprintln!("{:?} gw → proc {proc}: {msg:?}", self.d.now);
        }
        match msg {
            ToClient::Init(init) => self.runner_init(proc, init),
            ToClient::Commands(cmds) => {
                for c in cmds {
                    let Some(actor) = ActorId::parse(&c.checkpoint.actor_id) else {
                        continue;
                    };
                    match c.inner {
                        Command::StartActor(start) => {
                            let listed: Vec<(GatewayId, RequestId)> = start
                                .hibernating_requests
                                .iter()
                                .map(|h| (h.gateway_id, h.request_id))
                                .collect();
                            self.start_instance(proc, actor, &c.checkpoint, &listed);
                        }
                        Command::StopActor => {
                            self.runner_stop_command(proc, actor, c.checkpoint.generation);
                        }
                    }
                }
            }
            ToClient::TunnelMessage(t) => self.runner_tunnel(proc, t),
            ToClient::AckEvents(ack) => {
                if let Some(r) = self.procs.get_mut(&proc) {
                    r.history.retain(|e| {
                        !ack.last_event_checkpoints.iter().any(|cp| {
                            cp.actor_id == e.checkpoint.actor_id
                                && (e.checkpoint.generation < cp.generation
                                    || (e.checkpoint.generation == cp.generation
                                        && e.checkpoint.index <= cp.index))
                        })
                    });
                }
            }
            ToClient::KvResponse(_) | ToClient::Ping(_) => {}
        }
    }

    /// `ToClientInit`: a runner whose lost timer ran out while it was away, or that meets a new
    /// runner id, has stopped every actor; then it resends its unacked events and the tunnel
    /// messages it buffered.
    fn runner_init(&mut self, proc: ProcId, init: ToClientInit) {
        let threshold = self.config.runner_lost_threshold;
        let now = self.d.now;
        let Some(r) = self.procs.get_mut(&proc) else {
            return;
        };
        let lost = r
            .disconnected_at
            .is_some_and(|at| now.saturating_since(at) >= threshold);
        let changed = r.runner_id.as_ref().is_some_and(|id| *id != init.runner_id);
        r.runner_id = Some(init.runner_id);
        r.ready = true;
        r.disconnected_at = None;
        if lost || changed {
            self.force_stop_all(proc);
        }
        let Some(r) = self.procs.get_mut(&proc) else {
            return;
        };
        let Some(conn) = r.conn else {
            return;
        };
        let history = r.history.clone();
        let buffered = std::mem::take(&mut r.buffered);
        let here: Vec<ActorId> = r.instances.keys().copied().collect();
        if !history.is_empty() {
            self.runner_write(conn, ToServer::Events(history), None);
        }
        for (sender, msg) in buffered {
            if here.contains(&sender.0) {
                self.stats.runner_buffered += 1;
                self.runner_write(conn, msg, Some(sender));
            }
        }
    }

    /// `CommandStopActor` for the current instance: the actor stops now or after a while.
    fn runner_stop_command(&mut self, proc: ProcId, actor: ActorId, generation: u32) {
        let slow = self.rng.f64() < self.params.slow_stop;
        let due = self
            .d
            .now
            .saturating_add(Duration::from_millis(self.rng.u64(500..40_000)));
        let Some(i) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.get_mut(&actor))
            .filter(|i| i.generation == generation)
        else {
            return;
        };
        if i.stop_due.is_some() {
            return; // already stopping
        }
        if slow {
            i.stop_due = Some(due);
            self.stats.slow_stops += 1;
        } else {
            self.maybe_flush(proc, actor);
            self.stop_instance(proc, actor);
        }
    }

    /// Slow stops whose `onActorStop` finished.
    pub(super) fn finish_due_stops(&mut self) {
        let now = self.d.now;
        let due: Vec<(ProcId, ActorId)> = self
            .procs
            .iter()
            .flat_map(|(p, r)| {
                r.instances
                    .iter()
                    .filter(|(_, i)| i.stop_due.is_some_and(|at| at <= now))
                    .map(move |(a, _)| (*p, *a))
            })
            .collect();
        for (proc, actor) in due {
            self.maybe_flush(proc, actor);
            self.stop_instance(proc, actor);
        }
    }

    /// `CommandStartActor`: a fresh instance (replacing any, RUNNER-PROTOCOL §6.1), `Running`
    /// at once, then the actor's `onActorStart` restores its persisted sockets that are listed,
    /// re-acks them, and closes the rest as stale.
    fn start_instance(
        &mut self,
        proc: ProcId,
        actor: ActorId,
        start: &ActorCheckpoint,
        listed: &[(GatewayId, RequestId)],
    ) {
        if !self.procs.contains_key(&proc) {
            return;
        }
        let mut sockets = BTreeMap::new();
        let mut reacks = Vec::new();
        let mut stale = Vec::new();
        for (rq, d) in &self.durable {
            if d.actor != actor || !d.hibernatable || d.closed {
                continue;
            }
            if listed.contains(&(d.gateway, *rq)) {
                let adapter = Adapter {
                    gateway: d.gateway,
                    hibernatable: true,
                    last: d.persisted,
                    handled: Vec::new(),
                    acked: d.persisted,
                };
                sockets.insert(*rq, adapter);
                reacks.push((d.gateway, *rq, d.persisted));
            } else {
                stale.push(*rq);
            }
        }
        let missing: Vec<(GatewayId, RequestId)> = listed
            .iter()
            .filter(|(_, rq)| !sockets.contains_key(rq))
            .copied()
            .collect();
        for rq in stale {
            self.omitted_live_socket(actor, rq);
            if let Some(d) = self.durable.get_mut(&rq) {
                d.closed = true; // the actor runs its close handler (`ws.stale_metadata`)
            }
            self.observe_close(rq, "stale metadata on restore", None);
        }
        if let Some(old) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.remove(&actor))
        {
            self.close_locally(&old);
        }
        let instance = Instance {
            generation: start.generation,
            next_event: 1,
            start_index: start.index,
            sockets,
            http: BTreeMap::new(),
            stop_due: None,
        };
        if let Some(r) = self.procs.get_mut(&proc) {
            r.instances.insert(actor, instance);
        }
        let cp = checkpoint(actor, start.generation, 0);
        self.send_events(proc, vec![event(&cp, 0, ActorState::Running)]);
        for (gateway, rq, index) in reacks {
            let ack = Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index });
            self.tunnel_out(proc, actor, tunnel(gateway, rq, ack));
        }
        for (gateway, rq) in missing {
            let close = Out::WebSocketClose(ToServerWebSocketClose {
                code: Some(1000),
                reason: Some("ws.meta_not_found_during_restore".into()),
                hibernate: false,
            });
            self.tunnel_out(proc, actor, tunnel(gateway, rq, close));
        }
    }

    /// A replaced or stopped instance: its non-hibernatable sockets close locally (nothing is
    /// sent) and its HTTP requests are dropped.
    fn close_locally(&mut self, old: &Instance) {
        for (rq, a) in &old.sockets {
            if !a.hibernatable {
                if let Some(d) = self.durable.get_mut(rq) {
                    d.closed = true;
                    d.ended_locally = true;
                }
            }
        }
    }

    fn runner_tunnel(&mut self, proc: ProcId, t: ToClientTunnelMessage) {
        let gateway = t.message_id.gateway_id;
        let rq = t.message_id.request_id;
        match t.message_kind {
            In::WebSocketOpen(open) => {
                if let Some(actor) = ActorId::parse(&open.actor_id) {
                    self.runner_ws_open(proc, actor, gateway, rq);
                }
            }
            In::WebSocketMessage(m) => {
                self.runner_ws_message(proc, gateway, rq, t.message_id.message_index, m.data);
            }
            In::WebSocketClose(close) => {
                self.runner_ws_close(proc, gateway, rq, close.code, close.reason);
            }
            In::RequestStart(start) => self.runner_request(proc, gateway, rq, start),
            In::RequestAbort => {
                if let Some(r) = self.procs.get_mut(&proc) {
                    for i in r.instances.values_mut() {
                        i.http.remove(&rq);
                    }
                }
            }
            In::RequestChunk(_) => {}
        }
    }

    fn runner_ws_open(&mut self, proc: ProcId, actor: ActorId, gateway: GatewayId, rq: RequestId) {
        let hibernatable = self.rng.f64() >= self.params.non_hibernatable;
        let Some(r) = self.procs.get_mut(&proc) else {
            return;
        };
        if r.actor_of_request(rq).is_some() {
            self.note(format!("{rq:?}: a second WebSocketOpen for a live request"));
            return;
        }
        let Some(i) = r.instances.get_mut(&actor) else {
            return; // not hosted here: never answered (the gateway times out)
        };
        i.sockets.insert(
            rq,
            Adapter {
                gateway,
                hibernatable,
                last: 0,
                handled: Vec::new(),
                acked: 0,
            },
        );
        self.stats.non_hibernatable += u64::from(!hibernatable);
        // The actor persists the socket's metadata before answering (RUNNER-PROTOCOL §11.2).
        self.durable.insert(
            rq,
            Durable {
                actor,
                gateway,
                hibernatable,
                persisted: 0,
                log: Vec::new(),
                closed: false,
                ended_locally: false,
                closed_by_gateway: false,
            },
        );
        let open = Out::WebSocketOpen(ToServerWebSocketOpen {
            can_hibernate: hibernatable,
        });
        self.tunnel_out(proc, actor, tunnel(gateway, rq, open));
    }

    fn runner_ws_message(
        &mut self,
        proc: ProcId,
        gateway: GatewayId,
        rq: RequestId,
        index: u16,
        data: Vec<u8>,
    ) {
        if self.closed_at_runner.contains(&(gateway, rq)) {
            self.note(format!("{rq:?}: a message after its close"));
        } else if self
            .durable
            .get(&rq)
            .is_some_and(|d| d.closed && d.gateway == gateway && d.hibernatable)
            && self.by_request.contains_key(&rq)
            && gateway == self.gateway_id
        {
            self.note(format!(
                "{rq:?}: a message after its actor saw it closed (stale on restore)"
            ));
        }
        let persist = self.rng.f64() < self.params.persist_now;
        let ack = self.rng.f64() < self.params.ack_now;
        let Some(r) = self.procs.get_mut(&proc) else {
            return;
        };
        let Some((actor, adapter)) = r
            .instances
            .iter_mut()
            .find_map(|(a, i)| i.sockets.get_mut(&rq).map(|s| (*a, s)))
        else {
            return; // not restored here: dropped silently, as the runner does
        };
        if !adapter.hibernatable {
            if let Some(d) = self.durable.get_mut(&rq) {
                d.log.push(data);
            }
            return;
        }
        // The runner's rule (websocket-tunnel-adapter.ts): at or up to 32,767 behind the last
        // index is a duplicate, dropped without an ack; anything but last + 1 is a gap, which
        // closes the socket with 1008 ws.message_index_skip.
        let behind = adapter.last.wrapping_sub(index);
        if index == adapter.last || (1..=32767).contains(&behind) {
            return;
        }
        if index != adapter.last.wrapping_add(1) {
            let last = adapter.last;
            self.note(format!(
                "gap on {rq:?}: the runner's last index is {last}, the gateway sent {index}"
            ));
            return;
        }
        adapter.last = index;
        adapter.handled.push((index, data));
        if persist {
            self.persist_all(proc, actor, ack);
        }
    }

    fn runner_ws_close(
        &mut self,
        proc: ProcId,
        gateway: GatewayId,
        rq: RequestId,
        code: Option<u16>,
        reason: Option<String>,
    ) {
        self.closed_at_runner.insert((gateway, rq));
        let Some(actor) = self.procs.get(&proc).and_then(|r| r.actor_of_request(rq)) else {
            // No instance holds it (its actor crashed or stopped while the close was on its
            // way): the runner drops it, as one lost on a dead link.
            self.lost_control.insert(rq);
            return;
        };
        // The actor's close handler flushes what it handled.
        self.persist_all(proc, actor, false);
        let Some(adapter) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.get_mut(&actor))
            .and_then(|i| i.sockets.remove(&rq))
        else {
            return;
        };
        if let Some(d) = self.durable.get_mut(&rq) {
            d.closed = true;
        }
        // The client's own close (the sim's clients close with 4000 `client.bye`, or end their
        // stream, which the gateway forwards as 1000 without a reason); anything else is the
        // gateway's.
        let from_client = is_client_close(code, reason.as_deref());
        if let Some(d) = self.durable.get_mut(&rq) {
            d.closed_by_gateway = !from_client;
        }
        if from_client {
            let unacked = (adapter.hibernatable && adapter.acked != adapter.last)
                .then_some((adapter.acked, adapter.last));
            self.observe_close(rq, "close frame", unacked);
        }
        // The runner echoes the close; the gateway ignores it.
        let echo = Out::WebSocketClose(ToServerWebSocketClose {
            code,
            reason,
            hibernate: false,
        });
        self.tunnel_out(proc, actor, tunnel(gateway, rq, echo));
    }

    /// `ToClientRequestStart`: the actor echoes the body, whole or streamed in parts.
    fn runner_request(
        &mut self,
        proc: ProcId,
        gateway: GatewayId,
        rq: RequestId,
        start: ToClientRequestStart,
    ) {
        let Some(actor) = ActorId::parse(&start.actor_id) else {
            return;
        };
        let hosted = self
            .procs
            .get(&proc)
            .is_some_and(|r| r.instances.contains_key(&actor));
        if !hosted {
            return; // unknown actor: no answer at all (RUNNER-PROTOCOL §8)
        }
        let body = start.body.unwrap_or_default();
        self.check_request_body(rq, &body);
        let mut echo = b"echo:".to_vec();
        echo.extend_from_slice(&body);
        let streamed = self.rng.f64() < self.params.http_stream;
        let mut parts = VecDeque::new();
        if streamed {
            self.stats.http_streamed += 1;
            let pieces = 1 + self.rng.usize(0..4);
            let cut = |k: usize| echo.len() * k / (pieces + 1);
            parts.push_back(Out::ResponseStart(ToServerResponseStart {
                status: 200,
                headers: Default::default(),
                body: Some(echo[..cut(1)].to_vec()),
                stream: true,
            }));
            for k in 1..=pieces {
                parts.push_back(Out::ResponseChunk(ToServerResponseChunk {
                    body: echo[cut(k)..cut(k + 1)].to_vec(),
                    finish: k == pieces,
                }));
            }
        } else {
            parts.push_back(Out::ResponseStart(ToServerResponseStart {
                status: 200,
                headers: Default::default(),
                body: Some(echo),
                stream: false,
            }));
        }
        let now = self.rng.bool();
        if let Some(i) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.get_mut(&actor))
        {
            i.http.insert(rq, HttpJob { parts, gateway });
        }
        if now {
            self.http_progress(proc, actor, false);
        }
    }

    /// Sends the next part of each HTTP response of the instance (every part if `all`).
    pub(super) fn http_progress(&mut self, proc: ProcId, actor: ActorId, all: bool) {
        let mut out = Vec::new();
        if let Some(i) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.get_mut(&actor))
        {
            for (rq, job) in &mut i.http {
                while let Some(part) = job.parts.pop_front() {
                    out.push(tunnel(job.gateway, *rq, part));
                    if !all {
                        break;
                    }
                }
            }
            i.http.retain(|_, job| !job.parts.is_empty());
        }
        for msg in out {
            self.tunnel_out(proc, actor, msg);
        }
    }

    /// Sends a tunnel message as the runner does: on the connection once initialised, else
    /// buffered until the next init.
    pub(super) fn tunnel_out(&mut self, proc: ProcId, actor: ActorId, msg: ToServer) {
        let Some(r) = self.procs.get_mut(&proc) else {
            return;
        };
        let Some(generation) = r.instances.get(&actor).map(|i| i.generation) else {
            return;
        };
        let sender = (actor, generation);
        match (r.conn, r.ready) {
            (Some(conn), true) => self.runner_write(conn, msg, Some(sender)),
            _ => r.buffered.push((sender, msg)),
        }
    }

    /// Sends events and keeps them until acked (the send is skipped while disconnected; the
    /// history goes out after the next init).
    pub(super) fn send_events(&mut self, proc: ProcId, events: Vec<EventWrapper>) {
        let Some(r) = self.procs.get_mut(&proc) else {
            return;
        };
        r.history.extend(events.iter().cloned());
        if let (Some(conn), true) = (r.conn, r.ready) {
            self.runner_write(conn, ToServer::Events(events), None);
        }
    }

    /// Drops the instance and reports `Stopped{ERROR}` (the runner's forceStop, or a stop).
    pub(super) fn stop_instance(&mut self, proc: ProcId, actor: ActorId) {
        let Some(i) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.remove(&actor))
        else {
            return;
        };
        self.close_locally(&i);
        let cp = checkpoint(actor, i.generation, i.next_event);
        self.send_events(proc, vec![event(&cp, cp.index, stopped(StopCode::Error))]);
    }

    /// The process dies with its actors: what only lived in memory (non-hibernatable sockets,
    /// HTTP requests) is gone with it.
    pub(super) fn kill_proc(&mut self, proc: ProcId) {
        if let Some(r) = self.procs.remove(&proc) {
            for i in r.instances.values() {
                self.close_locally(i);
            }
        }
    }

    fn force_stop_all(&mut self, proc: ProcId) {
        let actors: Vec<ActorId> = self
            .procs
            .get(&proc)
            .map(|r| r.instances.keys().copied().collect())
            .unwrap_or_default();
        for actor in actors {
            self.stop_instance(proc, actor);
        }
    }

    /// Persists every handled message of the instance, then (if `ack`) acks each hibernatable
    /// socket: what it persisted now and any earlier persist whose ack it held back (rivetkit
    /// acks within 5 s of persisting), so acks lost on a dead link are repaired too.
    pub(super) fn persist_all(&mut self, proc: ProcId, actor: ActorId, ack: bool) {
        let Some(i) = self
            .procs
            .get_mut(&proc)
            .and_then(|r| r.instances.get_mut(&actor))
        else {
            return;
        };
        let mut acks = Vec::new();
        for (rq, adapter) in &mut i.sockets {
            if !adapter.hibernatable {
                continue;
            }
            let Some(d) = self.durable.get_mut(rq) else {
                continue;
            };
            for (index, payload) in adapter.handled.drain(..) {
                d.persisted = index;
                d.log.push(payload);
                self.stats.persisted += 1;
            }
            if ack {
                adapter.acked = d.persisted;
                acks.push((adapter.gateway, *rq, d.persisted));
            }
        }
        for (gateway, rq, index) in acks {
            let ack = Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index });
            self.tunnel_out(proc, actor, tunnel(gateway, rq, ack));
        }
    }

    pub(super) fn maybe_flush(&mut self, proc: ProcId, actor: ActorId) {
        if self.rng.bool() {
            let ack = self.rng.bool();
            self.persist_all(proc, actor, ack);
        }
    }

    /// Every actor instance of every process, as (process, actor).
    pub(super) fn instances(&self) -> Vec<(ProcId, ActorId)> {
        self.procs
            .iter()
            .flat_map(|(p, r)| r.instances.keys().map(move |a| (*p, *a)))
            .collect()
    }

    fn pick_instance(&mut self) -> Option<(ProcId, ActorId)> {
        let all = self.instances();
        (!all.is_empty()).then(|| all[self.rng.usize(0..all.len())])
    }

    /// The checkpoint for the instance's next event (which it then counts as used).
    fn next_checkpoint(&mut self, proc: ProcId, actor: ActorId) -> Option<ActorCheckpoint> {
        let i = self.procs.get_mut(&proc)?.instances.get_mut(&actor)?;
        let cp = checkpoint(actor, i.generation, i.next_event);
        i.next_event += 1;
        Some(cp)
    }

    /// Randomly persists (and acks) handled messages and moves HTTP responses along; with
    /// `everything`, all of it.
    pub(super) fn actor_work(&mut self, everything: bool) {
        for (proc, actor) in self.instances() {
            if everything || self.rng.bool() {
                let ack = everything || self.rng.f64() < self.params.ack_now.max(0.3);
                self.persist_all(proc, actor, ack);
            }
            if everything || self.rng.bool() {
                self.http_progress(proc, actor, everything);
            }
        }
    }

    /// The actor sends a message of its own to one of its clients.
    pub(super) fn actor_send(&mut self) {
        let Some((proc, actor)) = self.pick_instance() else {
            return;
        };
        let sockets: Vec<(RequestId, GatewayId)> = self.procs[&proc].instances[&actor]
            .sockets
            .iter()
            .map(|(rq, a)| (*rq, a.gateway))
            .collect();
        if sockets.is_empty() {
            return;
        }
        let (rq, gateway) = sockets[self.rng.usize(0..sockets.len())];
        self.actor_message(proc, actor, gateway, rq, None);
    }

    /// Sends `text` (or a fresh numbered payload) from the actor to the client of `rq`.
    pub(super) fn actor_message(
        &mut self,
        proc: ProcId,
        actor: ActorId,
        gateway: GatewayId,
        rq: RequestId,
        text: Option<String>,
    ) {
        self.next_actor_message += 1;
        let data = text
            .unwrap_or_else(|| format!("{rq:?}/a{}", self.next_actor_message))
            .into_bytes();
        let msg = Out::WebSocketMessage(ToServerWebSocketMessage { data, binary: true });
        self.tunnel_out(proc, actor, tunnel(gateway, rq, msg));
    }

    /// The runner's periodic `ToServerAckCommands`: the last start processed per actor.
    pub(super) fn ack_commands(&mut self) {
        let procs: Vec<ProcId> = self.procs.keys().copied().collect();
        if procs.is_empty() {
            return;
        }
        let proc = procs[self.rng.usize(0..procs.len())];
        self.send_ack_commands(proc);
    }

    pub(super) fn send_ack_commands(&mut self, proc: ProcId) {
        let Some(r) = self.procs.get(&proc) else {
            return;
        };
        let (Some(conn), true) = (r.conn, r.ready) else {
            return; // sent on an interval only while connected
        };
        let last_command_checkpoints = r
            .instances
            .iter()
            .map(|(a, i)| checkpoint(*a, i.generation, i.start_index))
            .collect();
        self.stats.ack_commands += 1;
        let ack = ToServerAckCommands {
            last_command_checkpoints,
        };
        self.runner_write(conn, ToServer::AckCommands(ack), None);
    }

    /// The actor sets an alarm a few seconds ahead, then goes to sleep: the alarm wakes it.
    pub(super) fn actor_alarm_then_sleep(&mut self) {
        let Some((proc, actor)) = self.pick_instance() else {
            return;
        };
        if let Some(cp) = self.next_checkpoint(proc, actor) {
            let ts = self.wall_ms() + i64::try_from(self.rng.u64(100..8000)).unwrap_or(0);
            self.stats.alarms += 1;
            let alarm = EventWrapper {
                checkpoint: cp,
                inner: Event::ActorSetAlarm(EventActorSetAlarm { alarm_ts: Some(ts) }),
            };
            self.send_events(proc, vec![alarm]);
        }
        self.actor_intent_sleep_of(proc, actor);
    }

    pub(super) fn actor_intent_sleep(&mut self) {
        if let Some((proc, actor)) = self.pick_instance() {
            self.actor_intent_sleep_of(proc, actor);
        }
    }

    fn actor_intent_sleep_of(&mut self, proc: ProcId, actor: ActorId) {
        self.maybe_flush(proc, actor);
        if let Some(cp) = self.next_checkpoint(proc, actor) {
            self.send_events(proc, vec![intent(&cp, cp.index, ActorIntent::Sleep)]);
        }
    }

    /// The actor crashes: possibly right after persisting (its ack never sent).
    pub(super) fn actor_crash(&mut self) {
        if let Some((proc, actor)) = self.pick_instance() {
            if self.rng.bool() {
                self.persist_all(proc, actor, false);
            }
            self.stop_instance(proc, actor);
        }
    }
}

/// Whether a close the gateway forwards is the client's own: the sim's clients close with 4000
/// `client.bye`, or end their stream, which the gateway forwards as 1000 without a reason.
/// Anything else is the gateway's.
pub(super) fn is_client_close(code: Option<u16>, reason: Option<&str>) -> bool {
    matches!(
        (code, reason),
        (Some(4000), Some("client.bye")) | (Some(1000), None)
    )
}

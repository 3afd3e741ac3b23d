//! One runner process's protocol state: hosted actors, their tunnel requests, the event history
//! and the link to the current connection.
//!
//! It mirrors `@rivetkit/engine-runner@2.2.1` as the core's simulated runner does
//! (`core/src/testkit/sim.rs`), with a loss-free actor on top (RUNNER-PROTOCOL.md §11.2): every
//! delivered client message is persisted in [`ActorStorage`] before it is acked, and a restored
//! socket is re-acked at its persisted index.
//!
//! Sans-IO: frames in through [`Process::handle`], the clock as an argument, frames out queued
//! in order and taken with [`Process::take_output`]. The connection (`conn.rs`) hands them to
//! its writer under the same lock as the step that queued them, so the order in which the
//! state changed is the order on the wire.

use std::collections::BTreeMap;
use std::time::Instant;

use torpor_protocol::StrMap;
use torpor_protocol::shared::{
    ActorCheckpoint, ActorIntent, ActorState, ActorStateStopped, Event, EventActorIntent,
    EventActorStateUpdate, EventWrapper, GatewayId, RequestId, StopCode,
};
use torpor_protocol::v7::{
    Command, CommandStartActor, ProtocolMetadata, ToClient, ToServer, ToServerAckCommands,
    ToServerInit, ToServerPong, ToServerTunnelMessageKind as Out, ToServerWebSocketClose,
    ToServerWebSocketMessageAck,
};

use super::{ActorStorage, RunnerConfig, RunnerEvent};

/// Application version sent in `ToServerInit`.
const RUNNER_VERSION: u32 = 1;

/// A tunnel request is keyed by the pair the gateway addresses it with.
pub(super) type RequestKey = (GatewayId, RequestId);

/// One hosted actor instance (one `CommandStartActor`).
#[derive(Debug)]
pub(super) struct Instance {
    pub(super) generation: u32,
    /// Index of the next event; the instance's first event (`Running`) is 0.
    next_event: i64,
}

#[derive(Debug)]
pub(super) enum RequestKind {
    /// A streamed HTTP request whose body is still arriving.
    Http {
        method: String,
        path: String,
        body: Vec<u8>,
    },
    /// An open client WebSocket.
    Socket { can_hibernate: bool },
}

/// Volatile per-request state (what the runner's tunnel holds; rebuilt on restore).
#[derive(Debug)]
pub(super) struct Request {
    pub(super) actor_id: String,
    pub(super) kind: RequestKind,
    /// The runner's own outgoing message index (meaningless to the gateway, kept faithfully).
    pub(super) out_index: u16,
}

/// The state of one runner process, shared by its connection tasks and the test's handle.
pub(super) struct Process {
    pub(super) config: RunnerConfig,
    pub(super) storage: ActorStorage,
    pub(super) actors: BTreeMap<String, Instance>,
    /// What the runner observed, in order.
    pub(super) log: Vec<RunnerEvent>,
    /// Protocol violations and connection failures, in order.
    pub(super) errors: Vec<String>,
    /// Events not yet acknowledged by `ToClientAckEvents`, re-sent after every `ToClientInit`.
    history: Vec<EventWrapper>,
    /// Checkpoint of the last start command processed, per actor (`lastCommandIdx`).
    last_start: BTreeMap<String, ActorCheckpoint>,
    pub(super) requests: BTreeMap<RequestKey, Request>,
    pub(super) runner_id: Option<String>,
    metadata: Option<ProtocolMetadata>,
    /// A connection is attached: frames are queued for it (otherwise dropped; events stay in
    /// the history and are re-sent after the next `ToClientInit`).
    connected: bool,
    /// Encoded frames for the current connection, in order, until taken.
    outbox: Vec<Vec<u8>>,
    /// Number of the current (or last) connection.
    pub(super) conn_seq: u64,
    /// `ToClientInit` arrived on the current connection.
    pub(super) inited: bool,
    disconnected_at: Option<Instant>,
}

impl Process {
    pub(super) fn new(config: RunnerConfig, storage: ActorStorage) -> Self {
        Self {
            config,
            storage,
            actors: BTreeMap::new(),
            log: Vec::new(),
            errors: Vec::new(),
            history: Vec::new(),
            last_start: BTreeMap::new(),
            requests: BTreeMap::new(),
            runner_id: None,
            metadata: None,
            connected: false,
            outbox: Vec::new(),
            conn_seq: 0,
            inited: false,
            disconnected_at: None,
        }
    }

    /// Actors currently hosted, with their generation.
    pub(super) fn running(&self) -> Vec<(String, u32)> {
        self.actors
            .iter()
            .map(|(id, i)| (id.clone(), i.generation))
            .collect()
    }

    // ------------------------------------------------------------ connection

    /// A new connection: `ToServerInit` is queued for it; returns the connection number.
    ///
    /// If the process stayed away longer than the server's `runnerLostThreshold`, its
    /// runner-lost timer has fired meanwhile: every actor is force-stopped first (§5.5).
    pub(super) fn attach(&mut self, now: Instant) -> u64 {
        if let (Some(at), Some(meta)) = (self.disconnected_at, &self.metadata) {
            let threshold = u64::try_from(meta.runner_lost_threshold).unwrap_or(0);
            if threshold > 0 && now.duration_since(at).as_millis() >= u128::from(threshold) {
                tracing::debug!("test runner: runner-lost threshold passed, stopping every actor");
                self.force_stop_all();
            }
        }
        self.conn_seq += 1;
        self.inited = false;
        self.disconnected_at = None;
        self.connected = true;
        self.outbox.clear();
        let init = ToServerInit {
            name: self.config.runner_name.clone(),
            version: RUNNER_VERSION,
            total_slots: self.config.total_slots,
            // The npm runner always sends its (required, possibly empty) map.
            prepopulate_actor_names: Some(StrMap::new()),
            metadata: None,
        };
        self.send(&ToServer::Init(init));
        self.conn_seq
    }

    /// The connection `seq` ended (closed by either side, or failed): frames not taken yet
    /// go with it.
    pub(super) fn detach(&mut self, seq: u64, now: Instant) {
        if seq == self.conn_seq && self.connected {
            self.connected = false;
            self.outbox.clear();
            self.disconnected_at = Some(now);
        }
    }

    /// Queues one frame for the current connection; dropped when disconnected (events stay in
    /// the history and are re-sent after the next `ToClientInit`).
    pub(super) fn send(&mut self, frame: &ToServer) {
        self.send_raw(frame.to_bytes());
    }

    /// Queues bytes as they are (tests send malformed frames through this).
    pub(super) fn send_raw(&mut self, bytes: Vec<u8>) {
        if self.connected {
            self.outbox.push(bytes);
        }
    }

    /// A connection is attached.
    pub(super) fn is_connected(&self) -> bool {
        self.connected
    }

    /// The frames queued since the last call, in order.
    pub(super) fn take_output(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.outbox)
    }

    // ------------------------------------------------------------ frames from the server

    pub(super) fn handle(&mut self, frame: ToClient) {
        match frame {
            ToClient::Init(init) => {
                if self
                    .runner_id
                    .as_ref()
                    .is_some_and(|prev| *prev != init.runner_id)
                {
                    // A new runner id means the server forgot this runner: stop everything (§6.5).
                    self.force_stop_all();
                }
                self.runner_id = Some(init.runner_id);
                self.metadata = Some(init.metadata);
                self.inited = true;
                if !self.history.is_empty() {
                    let events = self.history.clone();
                    self.send(&ToServer::Events(events));
                }
            }
            ToClient::Commands(commands) => {
                let mut started = false;
                for c in commands {
                    match c.inner {
                        Command::StartActor(start) => {
                            started = true;
                            self.start(c.checkpoint, start);
                        }
                        Command::StopActor => self.stop(&c.checkpoint),
                    }
                }
                if started {
                    self.ack_commands();
                }
            }
            ToClient::AckEvents(ack) => {
                for cp in ack.last_event_checkpoints {
                    self.history.retain(|e| {
                        let c = &e.checkpoint;
                        c.actor_id != cp.actor_id
                            || c.generation > cp.generation
                            || (c.generation == cp.generation && c.index > cp.index)
                    });
                }
            }
            ToClient::KvResponse(_) => {} // this runner never sends KV requests
            ToClient::TunnelMessage(t) => self.tunnel(t),
            ToClient::Ping(ping) => self.send(&ToServer::Pong(ToServerPong { ts: ping.ts })),
        }
    }

    /// Last start command per running actor: what the runner's periodic `ToServerAckCommands`
    /// carries. Sent after every batch with a start (the runner's 5-minute timer, made eager).
    fn ack_commands(&mut self) {
        let last_command_checkpoints = self
            .last_start
            .iter()
            .filter(|(id, cp)| {
                self.actors
                    .get(*id)
                    .is_some_and(|i| i.generation == cp.generation)
            })
            .map(|(_, cp)| cp.clone())
            .collect();
        self.send(&ToServer::AckCommands(ToServerAckCommands {
            last_command_checkpoints,
        }));
    }

    // ------------------------------------------------------------ actor lifecycle

    /// `CommandStartActor`: a fresh instance (replacing any other of the same actor), `Running`
    /// at once, then the actor restores its persisted sockets that are listed and re-acks them.
    fn start(&mut self, checkpoint: ActorCheckpoint, start: CommandStartActor) {
        let actor_id = checkpoint.actor_id.clone();
        let generation = checkpoint.generation;
        // A replaced instance's volatile tunnel state goes with it.
        self.requests.retain(|_, r| r.actor_id != actor_id);
        let listed: Vec<RequestKey> = start
            .hibernating_requests
            .iter()
            .map(|h| (h.gateway_id, h.request_id))
            .collect();
        self.log.push(RunnerEvent::ActorStarted {
            actor_id: actor_id.clone(),
            generation,
            hibernating: listed.iter().map(|(_, rq)| rq.to_bytes()).collect(),
        });
        self.actors.insert(
            actor_id.clone(),
            Instance {
                generation,
                next_event: 0,
            },
        );
        self.last_start.insert(actor_id.clone(), checkpoint);
        self.emit(
            &actor_id,
            Event::ActorStateUpdate(EventActorStateUpdate {
                state: ActorState::Running,
            }),
        );
        self.restore(&actor_id, &listed);
    }

    /// §9.6: listed and persisted ⇒ restored without an open, re-acked at the persisted index;
    /// listed only ⇒ closed `ws.meta_not_found_during_restore`; persisted only ⇒ stale, closed
    /// locally.
    fn restore(&mut self, actor_id: &str, listed: &[RequestKey]) {
        let persisted = self.storage.of_actor(actor_id);
        for &key in listed {
            match persisted.iter().find(|(k, _)| *k == key) {
                Some((_, stored)) => {
                    self.requests.insert(
                        key,
                        Request {
                            actor_id: actor_id.to_owned(),
                            kind: RequestKind::Socket {
                                can_hibernate: true,
                            },
                            out_index: 0,
                        },
                    );
                    if stored.seen {
                        self.tunnel_send(
                            key,
                            Out::WebSocketMessageAck(ToServerWebSocketMessageAck {
                                index: stored.last,
                            }),
                        );
                    }
                }
                None => self.tunnel_send(
                    key,
                    Out::WebSocketClose(ToServerWebSocketClose {
                        code: Some(1000),
                        reason: Some("ws.meta_not_found_during_restore".to_owned()),
                        hibernate: false,
                    }),
                ),
            }
        }
        for (key, _) in persisted {
            if !listed.contains(&key) {
                // Stale metadata: the actor runs its close handler, nothing is sent.
                self.storage.remove(key);
                self.log.push(RunnerEvent::WebSocketClosed {
                    actor_id: actor_id.to_owned(),
                    request_id: key.1.to_bytes(),
                    code: Some(1000),
                });
            }
        }
    }

    /// `CommandStopActor` for the running generation (another generation is ignored).
    fn stop(&mut self, checkpoint: &ActorCheckpoint) {
        let current = self
            .actors
            .get(&checkpoint.actor_id)
            .is_some_and(|i| i.generation == checkpoint.generation);
        if current {
            self.stop_instance(&checkpoint.actor_id);
        }
    }

    /// Stops an instance: non-hibernatable sockets close locally without telling the server,
    /// in-flight HTTP requests are dropped, hibernatable sockets are left alone (their
    /// persisted state survives), then `Stopped{ERROR}` (a sleep or a plain stop reports
    /// ERROR) and removal.
    fn stop_instance(&mut self, actor_id: &str) {
        let Some(generation) = self.actors.get(actor_id).map(|i| i.generation) else {
            return;
        };
        let mut closed = Vec::new();
        self.requests.retain(|(_, rq), r| {
            if r.actor_id != actor_id {
                return true;
            }
            if let RequestKind::Socket {
                can_hibernate: false,
            } = r.kind
            {
                closed.push(rq.to_bytes());
            }
            false
        });
        for request_id in closed {
            self.log.push(RunnerEvent::WebSocketClosed {
                actor_id: actor_id.to_owned(),
                request_id,
                code: Some(1000),
            });
        }
        self.emit(
            actor_id,
            Event::ActorStateUpdate(EventActorStateUpdate {
                state: ActorState::Stopped(ActorStateStopped {
                    code: StopCode::Error,
                    message: None,
                }),
            }),
        );
        self.actors.remove(actor_id);
        self.log.push(RunnerEvent::ActorStopped {
            actor_id: actor_id.to_owned(),
            generation,
        });
    }

    /// `forceStopActor` for every actor (runner-lost timer, or a new runner id).
    fn force_stop_all(&mut self) {
        let ids: Vec<String> = self.actors.keys().cloned().collect();
        for id in ids {
            self.stop_instance(&id);
        }
    }

    /// The actor asks to sleep; false if it is not running here.
    pub(super) fn sleep(&mut self, actor_id: &str) -> bool {
        if !self.actors.contains_key(actor_id) {
            return false;
        }
        self.emit(
            actor_id,
            Event::ActorIntent(EventActorIntent {
                intent: ActorIntent::Sleep,
            }),
        );
        true
    }

    /// Records and sends one event of a running instance with its next event index.
    fn emit(&mut self, actor_id: &str, inner: Event) {
        let Some(instance) = self.actors.get_mut(actor_id) else {
            return;
        };
        let checkpoint = ActorCheckpoint {
            actor_id: actor_id.to_owned(),
            generation: instance.generation,
            index: instance.next_event,
        };
        instance.next_event += 1;
        let event = EventWrapper { checkpoint, inner };
        self.history.push(event.clone());
        self.send(&ToServer::Events(vec![event]));
    }
}

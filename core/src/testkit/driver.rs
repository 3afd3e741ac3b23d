//! A tiny in-memory driver for scenario tests and benches: feeds inputs, drains outputs, jumps
//! the clock from deadline to deadline, and speaks the runner protocol as a model runner.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::admin::{AdminCommand, AdminError, AdminReply, CreateActor};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ids::{ActorId, AdminReqId, ClientId, OpId, RunnerConnId};
use crate::io::{ClientFrame, Input, Output, RunnerParams};
use crate::protocol::{
    ActorCheckpoint, ActorIntent, ActorState, ActorStateStopped, Command, CommandWrapper, Event,
    EventActorIntent, EventActorStateUpdate, EventWrapper, Headers, MessageId, StopCode, ToClient,
    ToClientTunnelMessage, ToServer, ToServerInit, ToServerPong, ToServerResponseStart,
    ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketMessageAck,
    ToServerWebSocketOpen,
};
use crate::store::{Snapshot, StoreFailure, StoreReply, StoreRequest};
use crate::time::{Instant, UnixMillis};
use torpor_protocol::v8::ToEnvoy;

/// Wall-clock time at the driver's epoch.
pub const WALL_EPOCH: i64 = 1_700_000_000_000;

/// Drives one [`Gateway`].
pub struct Driver {
    /// The gateway under test.
    pub gw: Gateway,
    /// The current time.
    pub now: Instant,
    /// Complete every store op except KV requests with success automatically.
    pub auto_store: bool,
    /// Answer every `ToClientPing` with a `ToServerPong`, as a live runner does.
    pub auto_pong: bool,
    /// Run [`Gateway::check_invariants`] after every step (O(state); benches turn it off).
    pub check: bool,
    /// Connections whose pings go unanswered even with `auto_pong` (a runner link that died
    /// without the adapter noticing yet).
    pub deaf: BTreeSet<RunnerConnId>,
    /// The wall clock minus `now`, in ms: the driver's wall clock runs with its monotonic one
    /// (the gateway takes both as inputs, as from an adapter).
    pub wall_offset: i64,
    /// Connections that speak envoy protocol v8 ([`Driver::connect_envoy`]): their frames go
    /// through [`super::envoy_shim`] both ways.
    pub envoys: BTreeSet<RunnerConnId>,
    /// Notices drained so far, when `keep_notices` (tests clear or read it; the driver only
    /// appends). Without it they are drained and dropped, as an adapter that logs nothing.
    pub notices: Vec<crate::Notice>,
    /// Keep drained notices in `notices` (off: memory tests count the gateway's heap alone).
    pub keep_notices: bool,
    next_id: u64,
}

impl Driver {
    /// A gateway with `config`, seed 7, restored from an empty snapshot.
    pub fn new(config: Config) -> Self {
        Self::with_seed(config, 7)
    }

    /// As [`Driver::new`] with a chosen seed.
    pub fn with_seed(config: Config, seed: u64) -> Self {
        let now = Instant::from_millis(0);
        let mut gw = Gateway::new(config, seed, now, UnixMillis(WALL_EPOCH)).expect("config");
        gw.restore(now, UnixMillis(WALL_EPOCH), Snapshot::default())
            .expect("restore");
        Self::from_gateway(gw, now)
    }

    /// Drives an existing gateway (e.g. one restored from a snapshot) from `now`, draining
    /// what it queued at startup (the purge of earlier incarnations' index rows).
    pub fn from_gateway(gw: Gateway, now: Instant) -> Self {
        let mut d = Self::undrained(gw, now);
        d.drain();
        d
    }

    /// As [`Driver::from_gateway`] with `auto_store` off, returning what the gateway queued at
    /// startup instead of completing it (a simulated store executes the startup purge itself).
    pub fn from_gateway_with_outputs(gw: Gateway, now: Instant) -> (Self, Vec<Output>) {
        let mut d = Self::undrained(gw, now);
        d.auto_store = false;
        let out = d.drain();
        (d, out)
    }

    fn undrained(gw: Gateway, now: Instant) -> Self {
        let wall_offset = gw.wall_clock().0 - i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        Self {
            gw,
            now,
            wall_offset,
            auto_store: true,
            auto_pong: false,
            check: true,
            deaf: BTreeSet::new(),
            envoys: BTreeSet::new(),
            notices: Vec::new(),
            keep_notices: false,
            next_id: 1,
        }
    }

    /// Continues `previous`'s id numbering (a restarted gateway behind the same adapter: ids
    /// of the old incarnation are never reused).
    pub fn continue_ids(&mut self, previous: &Self) {
        self.next_id = self.next_id.max(previous.next_id);
    }

    /// The wall clock at the driver's `now`.
    pub fn wall(&self) -> UnixMillis {
        UnixMillis(self.wall_offset + i64::try_from(self.now.as_millis()).unwrap_or(i64::MAX))
    }

    /// A fresh adapter-side number for client, runner and admin ids.
    pub fn fresh(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(o) = self.gw.poll_output() {
            out.push(o);
            i += 1;
            assert!(i < 1_000_000, "output livelock");
        }
        while let Some(notice) = self.gw.poll_notice() {
            if self.keep_notices {
                self.notices.push(notice);
            }
        }
        if self.check {
            if let Err(violation) = self.gw.check_invariants() {
                panic!("invariant violated at {:?}: {violation}", self.now);
            }
        }
        if self.auto_store {
            let done: Vec<Input> = out
                .iter()
                .filter_map(|o| match o {
                    Output::Store { op, request }
                        if !matches!(
                            request,
                            StoreRequest::Kv { .. } | StoreRequest::Pages { .. }
                        ) =>
                    {
                        Some(Input::StoreDone {
                            op: *op,
                            result: Ok(StoreReply::Done),
                        })
                    }
                    _ => None,
                })
                .collect();
            for input in done {
                out.extend(self.step(input));
            }
        }
        if self.auto_pong {
            let pongs: Vec<Input> = out
                .iter()
                .filter_map(|o| match o {
                    Output::SendRunner { conn, .. } if self.deaf.contains(conn) => None,
                    Output::SendRunner { conn, bytes } => match self.decode_sent(*conn, bytes) {
                        Some(ToClient::Ping(ping)) => Some(Input::RunnerBytes {
                            conn: *conn,
                            bytes: self
                                .encode_for(*conn, ToServer::Pong(ToServerPong { ts: ping.ts })),
                        }),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            for input in pongs {
                out.extend(self.step(input));
            }
        }
        out
    }

    /// Feeds one input at the current time and returns everything it produced.
    pub fn step(&mut self, input: Input) -> Vec<Output> {
        self.gw
            .handle(self.now, self.wall(), input)
            .expect("driver misuse");
        self.drain()
    }

    /// Moves the clock forward by `by`, firing every deadline on the way, in order.
    pub fn advance(&mut self, by: Duration) -> Vec<Output> {
        let end = self.now.saturating_add(by);
        let mut out = Vec::new();
        while let Some(at) = self.gw.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.gw
                .handle_timeout(self.now, self.wall())
                .expect("timeout");
            out.extend(self.drain());
            let next = self.gw.poll_timeout();
            assert!(
                next.is_none_or(|n| n > self.now),
                "a deadline at {next:?} is still due after handling {:?}",
                self.now
            );
        }
        self.now = end;
        out
    }

    /// Moves the clock forward by `by` in one jump and fires everything due with a single
    /// [`Gateway::handle_timeout`] call, as an adapter that was busy for a while does (contrast
    /// [`Driver::advance`], which fires each deadline at its own instant).
    pub fn jump(&mut self, by: Duration) -> Vec<Output> {
        self.now = self.now.saturating_add(by);
        self.gw
            .handle_timeout(self.now, self.wall())
            .expect("timeout");
        self.drain()
    }

    /// Completes a store operation (for tests with `auto_store` off).
    pub fn complete_store(
        &mut self,
        op: OpId,
        result: Result<StoreReply, StoreFailure>,
    ) -> Vec<Output> {
        self.step(Input::StoreDone { op, result })
    }

    /// Connects a runner (`runner_key`, runner name `name`, `slots`), sends its init and
    /// returns the connection and the outputs of the handshake.
    pub fn connect_runner(
        &mut self,
        key: &str,
        name: &str,
        slots: u32,
    ) -> (RunnerConnId, Vec<Output>) {
        let conn = RunnerConnId::new(self.fresh());
        let mut out = self.step(Input::RunnerConnect {
            conn,
            params: runner_params(key),
        });
        assert!(out.contains(&Output::AcceptRunner { conn }), "{out:?}");
        out.extend(self.runner_send(
            conn,
            &ToServer::Init(ToServerInit {
                name: name.into(),
                version: 1,
                total_slots: slots,
                prepopulate_actor_names: None,
                metadata: None,
            }),
        ));
        (conn, out)
    }

    /// Connects an envoy (protocol v8, `envoy_key` `key`, pool `pool`), sends its metadata
    /// and returns the connection and the outputs of the handshake. The connection then takes
    /// and gives v7 frames through [`super::envoy_shim`].
    pub fn connect_envoy(&mut self, key: &str, pool: &str) -> (RunnerConnId, Vec<Output>) {
        let conn = RunnerConnId::new(self.fresh());
        let mut out = self.step(Input::RunnerConnect {
            conn,
            params: RunnerParams {
                protocol_version: Some(8),
                pool_name: Some(pool.into()),
                ..runner_params(key)
            },
        });
        assert!(out.contains(&Output::AcceptRunner { conn }), "{out:?}");
        self.envoys.insert(conn);
        out.extend(self.runner_send(
            conn,
            &ToServer::Init(ToServerInit {
                name: pool.into(),
                version: 1,
                total_slots: 0,
                prepopulate_actor_names: None,
                metadata: None,
            }),
        ));
        (conn, out)
    }

    /// Encodes and feeds one runner frame (rewritten into v8 for an envoy).
    pub fn runner_send(&mut self, conn: RunnerConnId, msg: &ToServer) -> Vec<Output> {
        let bytes = self.encode_for(conn, msg.clone());
        self.step(Input::RunnerBytes { conn, bytes })
    }

    /// A runner frame as the connection's protocol encodes it.
    fn encode_for(&self, conn: RunnerConnId, msg: ToServer) -> Vec<u8> {
        if self.envoys.contains(&conn) {
            super::envoy_shim::to_rivet(msg).to_bytes()
        } else {
            msg.to_bytes()
        }
    }

    /// A frame the gateway sent to `conn`, as a v7 runner reads it (an envoy's frame through
    /// the shim; `None` for an envoy frame with no v7 counterpart). Panics on bytes that do
    /// not decode: the gateway must never send them.
    pub fn decode_sent(&self, conn: RunnerConnId, bytes: &[u8]) -> Option<ToClient> {
        if self.envoys.contains(&conn) {
            let msg = ToEnvoy::decode(bytes).expect("the gateway sent an envoy undecodable bytes");
            super::envoy_shim::to_client(msg)
        } else {
            Some(ToClient::decode(bytes).expect("the gateway sent undecodable bytes"))
        }
    }

    /// Creates an actor on runner pool `runner_name` and returns its id and the outputs.
    pub fn create_actor(
        &mut self,
        name: &str,
        key: Option<&str>,
        runner_name: &str,
    ) -> (ActorId, Vec<Output>) {
        let req = AdminReqId::new(self.fresh());
        let out = self.step(Input::Admin {
            req,
            command: AdminCommand::Create(CreateActor {
                namespace: "default".into(),
                name: name.into(),
                key: key.map(Into::into),
                runner_name: runner_name.into(),
                input: None,
                crash_policy: crate::store::CrashPolicy::Sleep,
                wall: UnixMillis(WALL_EPOCH),
            }),
        });
        let id = out
            .iter()
            .find_map(|o| match o {
                Output::AdminReply {
                    req: r,
                    reply: Ok(AdminReply::Actor { actor, .. }),
                } if *r == req => Some(actor.actor_id),
                _ => None,
            })
            .or_else(|| {
                out.iter().find_map(|o| match o {
                    Output::SendRunner { conn, bytes } => match self.decode_sent(*conn, bytes) {
                        Some(ToClient::Commands(cmds)) => cmds
                            .iter()
                            .find(|c| matches!(c.inner, Command::StartActor(_)))
                            .map(actor_of),
                        _ => None,
                    },
                    _ => None,
                })
            })
            .expect("create replied or started");
        (id, out)
    }

    /// Reports `Running` for the actor's start in `commands` (as the runner does at once).
    pub fn report_running(&mut self, conn: RunnerConnId, start: &CommandWrapper) -> Vec<Output> {
        self.report_state(conn, &start.checkpoint, 0, ActorState::Running)
    }

    /// Reports a state event with `event_index` for the checkpoint's actor and generation.
    pub fn report_state(
        &mut self,
        conn: RunnerConnId,
        checkpoint: &ActorCheckpoint,
        event_index: i64,
        state: ActorState,
    ) -> Vec<Output> {
        self.runner_send(
            conn,
            &ToServer::Events(vec![event(checkpoint, event_index, state)]),
        )
    }

    /// Creates an actor, lets `conn` start it, and returns its id and the start command.
    pub fn running_actor(&mut self, conn: RunnerConnId, name: &str) -> (ActorId, CommandWrapper) {
        let (id, out) = self.create_actor(name, None, "default");
        let start = start_commands(&out)
            .into_iter()
            .find(|(c, _)| *c == conn)
            .map(|(_, w)| w)
            .expect("start command sent to the runner");
        self.report_running(conn, &start);
        (id, start)
    }

    /// Opens a client WebSocket on the actor; returns the client and the outputs.
    pub fn open_websocket(&mut self, actor: ActorId, path: &str) -> (ClientId, Vec<Output>) {
        let client = ClientId::new(self.fresh());
        let out = self.step(Input::ClientWebSocket {
            client,
            actor: actor.to_string(),
            path: path.into(),
            headers: Headers::new(),
        });
        (client, out)
    }

    /// Sends an HTTP request for the actor; returns the client and the outputs.
    pub fn http_request(
        &mut self,
        actor: ActorId,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (ClientId, Vec<Output>) {
        let client = ClientId::new(self.fresh());
        let out = self.step(Input::HttpRequest {
            client,
            actor: actor.to_string(),
            method: method.into(),
            path: path.into(),
            headers: Headers::new(),
            body: body.to_vec(),
        });
        (client, out)
    }

    /// The runner accepts a WebSocket open (`ToServerWebSocketOpen{can_hibernate}`).
    pub fn accept_websocket(
        &mut self,
        conn: RunnerConnId,
        request: MessageId,
        can_hibernate: bool,
    ) -> Vec<Output> {
        self.runner_tunnel(
            conn,
            request,
            ToServerTunnelMessageKind::WebSocketOpen(ToServerWebSocketOpen { can_hibernate }),
        )
    }

    /// Opens a client WebSocket on a running actor and lets the runner `conn` accept it with
    /// `can_hibernate`; returns the client and its request's message id (index 0).
    pub fn open_accepted(
        &mut self,
        conn: RunnerConnId,
        actor: ActorId,
        path: &str,
        can_hibernate: bool,
    ) -> (ClientId, MessageId) {
        let (client, out) = self.open_websocket(actor, path);
        let t = tunnel_to(&out, conn);
        assert_eq!(t.len(), 1, "exactly the open goes to the runner: {out:?}");
        assert_eq!(t[0].message_id.message_index, 0);
        let request = t[0].message_id;
        self.accept_websocket(conn, request, can_hibernate);
        (client, request)
    }

    /// A client data frame.
    pub fn client_send(&mut self, client: ClientId, frame: ClientFrame) -> Vec<Output> {
        self.step(Input::ClientMessage { client, frame })
    }

    /// The runner acknowledges every client message of `request` up to `index` (cumulative).
    pub fn ws_ack(&mut self, conn: RunnerConnId, request: MessageId, index: u16) -> Vec<Output> {
        self.runner_tunnel(
            conn,
            request,
            ToServerTunnelMessageKind::WebSocketMessageAck(ToServerWebSocketMessageAck { index }),
        )
    }

    /// Puts the actor of `checkpoint` to sleep as the runner does: `ActorIntent{Sleep}` at event
    /// `index` (which must produce a stop command), then `Stopped{Error}` at `index + 1`.
    /// Returns the outputs of the `Stopped`.
    pub fn sleep_actor(
        &mut self,
        conn: RunnerConnId,
        checkpoint: &ActorCheckpoint,
        index: i64,
    ) -> Vec<Output> {
        let out = self.runner_send(
            conn,
            &ToServer::Events(vec![intent(checkpoint, index, ActorIntent::Sleep)]),
        );
        let stops: Vec<_> = commands(&out)
            .into_iter()
            .filter(|(c, w)| *c == conn && w.inner == Command::StopActor)
            .collect();
        assert_eq!(stops.len(), 1, "the sleep intent stops the actor: {out:?}");
        self.report_state(conn, checkpoint, index + 1, stopped(StopCode::Error))
    }

    /// Sends an admin command; returns its request id and the outputs.
    pub fn admin(&mut self, command: AdminCommand) -> (AdminReqId, Vec<Output>) {
        let req = AdminReqId::new(self.fresh());
        let out = self.step(Input::Admin { req, command });
        (req, out)
    }

    /// Sends an admin command that is answered at once (e.g. `Get`, `List`) and returns the
    /// reply. Panics if it produced anything else.
    pub fn admin_now(&mut self, command: AdminCommand) -> Result<AdminReply, AdminError> {
        let (req, out) = self.admin(command);
        match <[Output; 1]>::try_from(out) {
            Ok([Output::AdminReply { req: r, reply }]) if r == req => reply,
            other => panic!("expected only the admin reply, got {other:?}"),
        }
    }

    /// Sends a tunnel message from the runner for a request.
    pub fn runner_tunnel(
        &mut self,
        conn: RunnerConnId,
        request: MessageId,
        kind: ToServerTunnelMessageKind,
    ) -> Vec<Output> {
        self.runner_send(
            conn,
            &ToServer::TunnelMessage(ToServerTunnelMessage {
                message_id: MessageId {
                    message_index: 0,
                    ..request
                },
                message_kind: kind,
            }),
        )
    }

    /// The runner starts a streamed response (no body yet) to the HTTP request `request`.
    pub fn start_streaming(&mut self, conn: RunnerConnId, request: MessageId) -> Vec<Output> {
        self.runner_tunnel(
            conn,
            request,
            ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
                status: 200,
                headers: Headers::new(),
                body: None,
                stream: true,
            }),
        )
    }
}

/// A `Running`/`Stopped` event for the checkpoint's actor and generation.
pub fn event(checkpoint: &ActorCheckpoint, index: i64, state: ActorState) -> EventWrapper {
    EventWrapper {
        checkpoint: ActorCheckpoint {
            index,
            ..checkpoint.clone()
        },
        inner: Event::ActorStateUpdate(EventActorStateUpdate { state }),
    }
}

/// An `ActorIntent` event for the checkpoint's actor and generation.
pub fn intent(checkpoint: &ActorCheckpoint, index: i64, intent: ActorIntent) -> EventWrapper {
    EventWrapper {
        checkpoint: ActorCheckpoint {
            index,
            ..checkpoint.clone()
        },
        inner: Event::ActorIntent(EventActorIntent { intent }),
    }
}

/// The parameters of a well-behaved runner: protocol 7, namespace `default`, no token.
pub fn runner_params(key: &str) -> RunnerParams {
    RunnerParams {
        protocol_version: Some(7),
        namespace: "default".into(),
        runner_key: key.into(),
        token: None,
        pool_name: None,
    }
}

/// `out` without the `ToClientPing`s, for exact assertions across clock jumps.
pub fn without_pings(out: Vec<Output>) -> Vec<Output> {
    out.into_iter()
        .filter(|o| {
            !matches!(o, Output::SendRunner { bytes, .. }
                if matches!(ToClient::decode(bytes), Ok(ToClient::Ping(_))))
        })
        .collect()
}

/// `Stopped{code}` with no message.
pub fn stopped(code: StopCode) -> ActorState {
    ActorState::Stopped(ActorStateStopped {
        code,
        message: None,
    })
}

/// Every `ToClient` frame sent to `conn`, decoded.
pub fn sent_to(out: &[Output], conn: RunnerConnId) -> Vec<ToClient> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendRunner { conn: c, bytes } if *c == conn => {
                Some(ToClient::decode(bytes).expect("the core sent undecodable bytes"))
            }
            _ => None,
        })
        .collect()
}

/// Every command sent, with its connection.
pub fn commands(out: &[Output]) -> Vec<(RunnerConnId, CommandWrapper)> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendRunner { conn, bytes } => match ToClient::decode(bytes) {
                Ok(ToClient::Commands(cmds)) => Some(cmds.into_iter().map(move |c| (*conn, c))),
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .collect()
}

/// Every start command sent, with its connection.
pub fn start_commands(out: &[Output]) -> Vec<(RunnerConnId, CommandWrapper)> {
    commands(out)
        .into_iter()
        .filter(|(_, c)| matches!(c.inner, Command::StartActor(_)))
        .collect()
}

/// Every tunnel message sent to `conn`.
pub fn tunnel_to(out: &[Output], conn: RunnerConnId) -> Vec<ToClientTunnelMessage> {
    sent_to(out, conn)
        .into_iter()
        .filter_map(|m| match m {
            ToClient::TunnelMessage(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// The actor a command is for.
pub fn actor_of(c: &CommandWrapper) -> ActorId {
    ActorId::parse(&c.checkpoint.actor_id).expect("actor id")
}

/// Every store request in `out`, with its operation id.
pub fn store_requests(out: &[Output]) -> Vec<(OpId, StoreRequest)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Store { op, request } => Some((*op, request.clone())),
            _ => None,
        })
        .collect()
}

/// The hibernation index operations in `out` (put, lease renewal, delete, purge, gc), in order.
pub fn index_ops(out: &[Output]) -> Vec<StoreRequest> {
    store_requests(out)
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| {
            matches!(
                r,
                StoreRequest::PutHibernation(_)
                    | StoreRequest::RenewLease { .. }
                    | StoreRequest::DeleteHibernation { .. }
                    | StoreRequest::PurgeHibernation { .. }
                    | StoreRequest::GcHibernation { .. }
            )
        })
        .collect()
}

//! [`Gateway`]: the one state machine. This file dispatches inputs; its submodules are the only
//! code that sees the whole gateway and routes between the sub-machines (runner sessions, actors,
//! clients, hibernation, store operations), which own their state and never name `Gateway`.

mod actor_admin;
mod actor_events;
mod actor_lifecycle;
mod hibernation;
mod http;
mod index;
#[cfg(any(test, feature = "testkit"))]
mod inspect;
#[cfg(any(test, feature = "testkit"))]
mod invariants;
mod kv;
mod pages;
mod route;
mod runner_session;
mod store_ops;
mod tunnel;
mod websocket;

use std::collections::BTreeMap;

use crate::actor::Actors;
use crate::config::{Config, ConfigError};
use crate::cx::Cx;
use crate::error::UsageError;
use crate::hibernation::IndexSchedule;
use crate::ids::OpId;
use crate::io::{Input, Output};
use crate::metrics::{Histograms, Metrics};
use crate::runner::Runners;
use crate::store::{NamespaceRecord, Snapshot};
use crate::store_ops::PendingOp;
use crate::time::{Instant, UnixMillis};
use crate::timer::TimerKey;
use crate::tunnel::Clients;
use torpor_protocol::shared::GatewayId;

/// The Torpor gateway core. See the crate docs for the driving contract.
pub struct Gateway {
    pub(crate) cx: Cx,
    pub(crate) runners: Runners,
    pub(crate) actors: Actors,
    pub(crate) clients: Clients,
    pub(crate) ops: BTreeMap<OpId, PendingOp>,
    pub(crate) index: IndexSchedule,
    /// Every namespace, by name: the config's, and those created at run time.
    pub(crate) namespaces: BTreeMap<String, NamespaceRecord>,
    last_now: Instant,
    /// Any input handled yet (restore must come first).
    started: bool,
}

impl Gateway {
    /// A gateway with no actors. `seed` drives every random choice (gateway id, request ids,
    /// runner ids, actor ids, jitter); `now` and `wall` are the two clocks at construction
    /// (every later call brings both again).
    pub fn new(
        config: Config,
        seed: u64,
        now: Instant,
        wall: UnixMillis,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let namespaces = config
            .namespaces
            .iter()
            .map(|name| {
                let record = NamespaceRecord {
                    name: name.clone(),
                    display_name: name.clone(),
                    create_ts: wall.0,
                };
                (name.clone(), record)
            })
            .collect();
        Ok(Self {
            cx: Cx::new(config, seed, wall),
            runners: Runners::default(),
            actors: Actors::default(),
            clients: Clients::default(),
            ops: BTreeMap::new(),
            index: IndexSchedule::default(),
            namespaces,
            last_now: now,
            started: false,
        })
    }

    /// Loads what the store held at startup. Must come before any input; drain
    /// [`Gateway::poll_output`] afterwards (it purges earlier incarnations' index rows).
    pub fn restore(
        &mut self,
        now: Instant,
        wall: UnixMillis,
        snapshot: Snapshot,
    ) -> Result<(), UsageError> {
        self.check_time(now)?;
        if self.started {
            return Err(UsageError::LateRestore);
        }
        self.started = true;
        self.last_now = now;
        self.cx.wall = wall;
        for ns in snapshot.namespaces {
            self.namespaces.entry(ns.name.clone()).or_insert(ns);
        }
        for record in snapshot.actors {
            self.restore_actor(now, record);
        }
        self.index_startup(now);
        Ok(())
    }

    /// Feeds one input. Drain [`Gateway::poll_output`] before the next call.
    pub fn handle(
        &mut self,
        now: Instant,
        wall: UnixMillis,
        input: Input,
    ) -> Result<(), UsageError> {
        self.check_time(now)?;
        self.check_input(&input)?;
        self.started = true;
        self.last_now = now;
        self.cx.wall = wall;
        match input {
            Input::RunnerConnect { conn, params } => self.handle_runner_connect(now, conn, params),
            Input::RunnerBytes { conn, bytes } => self.handle_runner_bytes(now, conn, &bytes),
            Input::RunnerText { conn } => self.handle_runner_text(conn),
            Input::RunnerClosed { conn } => self.handle_runner_closed(now, conn),
            Input::ClientWebSocket {
                client,
                actor,
                path,
                headers,
            } => self.handle_client_websocket(now, client, &actor, path, headers),
            Input::ClientMessage { client, frame } => {
                self.handle_client_message(now, client, frame);
            }
            Input::ClientClosed { client, close } => self.handle_client_closed(now, client, close),
            Input::ClientOutboundFull { client } => self.handle_client_outbound_full(client),
            Input::HttpRequest {
                client,
                actor,
                method,
                path,
                headers,
                body,
            } => self.handle_http_request(now, client, &actor, method, path, headers, body),
            Input::HttpCancelled { client } => self.handle_http_cancelled(client),
            Input::StoreDone { op, result } => self.handle_store_done(now, op, result),
            Input::Admin { req, command } => self.handle_admin(now, req, command),
        }
        Ok(())
    }

    /// The wall clock as of the last call.
    pub fn wall_clock(&self) -> UnixMillis {
        self.cx.wall
    }

    /// Fires every timer due at `now`. Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant, wall: UnixMillis) -> Result<(), UsageError> {
        self.check_time(now)?;
        if !self.cx.out.is_empty() {
            return Err(UsageError::NotDrained);
        }
        self.started = true;
        self.last_now = now;
        self.cx.wall = wall;
        while let Some(key) = self.cx.timers.pop_due(now) {
            self.fire(now, key);
        }
        Ok(())
    }

    /// The next queued output.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.cx.pop_output()
    }

    /// The next notice for the operator's logs (runner, actor and socket lifecycle steps).
    /// Draining them is optional; see [`crate::Notice`].
    pub fn poll_notice(&mut self) -> Option<crate::Notice> {
        self.cx.notices.pop_front()
    }

    /// When [`Gateway::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cx.timers.next().map(|(at, _)| at)
    }

    /// The timer behind [`Gateway::poll_timeout`], for logs.
    pub fn poll_timeout_reason(&self) -> Option<TimerKey> {
        self.cx.timers.next().map(|(_, key)| key)
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.cx.metrics
    }

    /// Distributions: wake latency, keepalive batch sizes.
    pub fn histograms(&self) -> &Histograms {
        &self.cx.histograms
    }

    /// This incarnation's gateway id.
    pub fn gateway_id(&self) -> GatewayId {
        self.cx.gateway_id
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cx.config
    }

    /// Replaces the configuration in force (an operator's reload): tokens, timeouts and limits
    /// apply from the next decision on; timers already armed keep their deadlines, and the
    /// namespaces stay as they are (they are state, created at startup or through the API).
    /// An invalid configuration is refused whole and changes nothing.
    pub fn reconfigure(&mut self, mut config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        config.namespaces = self.cx.config.namespaces.clone();
        self.cx.config = config;
        Ok(())
    }

    /// Live runner connections.
    pub fn runner_connection_count(&self) -> usize {
        self.runners.conns.len()
    }

    /// Live client connections (WebSockets and HTTP requests).
    pub fn client_count(&self) -> usize {
        self.clients.map.len()
    }

    fn check_time(&self, now: Instant) -> Result<(), UsageError> {
        if now < self.last_now {
            return Err(UsageError::TimeWentBack {
                last: self.last_now,
                now,
            });
        }
        Ok(())
    }

    /// Validates before mutating: an `Err` leaves the state untouched.
    fn check_input(&self, input: &Input) -> Result<(), UsageError> {
        if !self.cx.out.is_empty() {
            return Err(UsageError::NotDrained);
        }
        match input {
            Input::RunnerConnect { conn, .. } if self.runners.conns.contains_key(conn) => {
                Err(UsageError::DuplicateRunnerConn(*conn))
            }
            Input::ClientWebSocket { client, .. } | Input::HttpRequest { client, .. }
                if self.clients.map.contains_key(client) =>
            {
                Err(UsageError::DuplicateClient(*client))
            }
            Input::StoreDone { op, .. } if !self.cx.issued(*op) => Err(UsageError::UnknownOp(*op)),
            _ => Ok(()),
        }
    }

    fn fire(&mut self, now: Instant, key: TimerKey) {
        match key {
            TimerKey::RunnerInit(conn) => self.on_runner_init_timeout(now, conn),
            TimerKey::RunnerPing(conn) => self.on_runner_ping(now, conn),
            TimerKey::RunnerPongDue(conn) => self.on_runner_pong_due(now, conn),
            TimerKey::RunnerLost(idx) => self.on_runner_lost(now, idx),
            TimerKey::ActorStart(id) => self.on_actor_start_timeout(now, id),
            TimerKey::ActorStop(id) => self.on_actor_stop_timeout(now, id),
            TimerKey::ActorAlarm(id) => self.on_actor_alarm(now, id),
            TimerKey::ActorRestart(id) => self.on_actor_restart_due(now, id),
            TimerKey::WebSocketOpen(client) => self.on_websocket_open_timeout(client),
            TimerKey::HttpResponse(client) => self.on_http_response_timeout(client),
            TimerKey::StoreRetry(op) => self.on_store_retry(now, op),
            TimerKey::AckTimeout(client) => self.on_ack_timeout(now, client),
            TimerKey::WakeDeadline(actor) => self.on_wake_deadline(actor),
            TimerKey::LeaseRenewal => self.on_lease_renewal(now),
        }
    }
}

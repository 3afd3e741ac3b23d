//! A seeded world around one gateway: model runners that behave like `@rivetkit/engine-runner`
//! 2.2.1 (index dedupe, restore from persisted metadata, re-ack after restore), model actors
//! that persist then ack (and may crash between the two, or sleep with work unpersisted), and
//! clients that send numbered messages and honour read pauses, and a store that completes
//! operations late, in order, and sometimes fails them. Faults: runner processes crashing,
//! runner connections dropping and reconnecting with the same key, malformed runner bytes,
//! actor crashes, sleeps and alarms, client closes, clients too slow to read, store errors and
//! delays, gateway restarts (a new core from the store's snapshot; client sockets drop), and
//! time jumps.
//!
//! After every step it checks that each socket's durable log (what its actor persisted) is a
//! prefix of what the client sent (no loss before the last delivered message, no duplicate, no
//! reordering); that nothing reaches a runner or a client for a socket after its close; that
//! no start lists a closed socket or one of an earlier incarnation; that windows, the budget
//! and queues stay bounded; and that no deadline lies in the past. At the end a liveness phase
//! drains everything and checks that every message of every still-open socket was persisted
//! exactly once and that the store holds exactly the gateway's registry and index. One seed
//! replays one run exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::driver::{Driver, WALL_EPOCH, event, intent, stopped};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ids::{ActorId, ClientId, OpId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::{
    ActorCheckpoint, ActorIntent, ActorState, Command, Event, EventActorSetAlarm, EventWrapper,
    GatewayId, MessageId, RequestId, StopCode, ToClient, ToClientTunnelMessage,
    ToClientTunnelMessageKind as In, ToServer, ToServerTunnelMessage,
    ToServerTunnelMessageKind as Out, ToServerWebSocketClose, ToServerWebSocketMessageAck,
    ToServerWebSocketOpen,
};
use crate::store::{ActorRecord, Snapshot, StoreFailure, StoreReply, StoreRequest};
use crate::time::UnixMillis;
use crate::tunnel::{ClientKind, WsPhase};

/// Fault and workload mix for one run, drawn from the seed (swarm testing: each seed stresses
/// a different corner).
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Steps in the fault phase.
    pub steps: usize,
    /// Probability that a handled message is persisted at once.
    pub persist_now: f64,
    /// Probability that a persist is followed by its ack at once.
    pub ack_now: f64,
    /// Per-step probability of an actor asking to sleep.
    pub sleep: f64,
    /// Per-step probability of an actor crashing (possibly between persist and ack).
    pub crash: f64,
    /// Per-step probability of a runner process dying.
    pub runner_crash: f64,
    /// Per-step probability of a client closing.
    pub client_close: f64,
    /// Per-step probability of a runner connection dropping (the process lives on and
    /// reconnects with the same key).
    pub runner_drop: f64,
    /// Per-step probability of a runner sending malformed bytes.
    pub garbage: f64,
    /// Per-step probability of the gateway restarting.
    pub restart: f64,
    /// Per-step probability of a client being reported too slow to read.
    pub slow_client: f64,
    /// Per-step probability of an actor setting an alarm and going to sleep.
    pub alarm: f64,
    /// Probability that a store operation fails.
    pub store_error: f64,
    /// Probability that a step leaves the store's queue unprocessed.
    pub store_delay: f64,
}

impl SimParams {
    /// Draws a mix from `rng`.
    pub fn draw(rng: &mut fastrand::Rng) -> Self {
        Self {
            steps: 40 + rng.usize(0..80),
            persist_now: rng.f64(),
            ack_now: rng.f64(),
            sleep: rng.f64() * 0.08,
            crash: rng.f64() * 0.04,
            runner_crash: rng.f64() * 0.03,
            client_close: rng.f64() * 0.02,
            runner_drop: rng.f64() * 0.03,
            garbage: rng.f64() * 0.01,
            restart: rng.f64() * 0.01,
            slow_client: rng.f64() * 0.01,
            alarm: rng.f64() * 0.03,
            store_error: rng.f64() * 0.1,
            store_delay: rng.f64() * 0.8,
        }
    }
}

/// The actor side's durable record of one socket (its KV metadata plus what it processed).
#[derive(Debug, Default)]
struct Durable {
    actor: Option<ActorId>,
    /// Last persisted message index (`serverMessageIndex`).
    persisted: u16,
    /// Persisted payloads, in order.
    log: Vec<Vec<u8>>,
    /// The actor closed it (client close observed, or stale on restore).
    closed: bool,
}

/// The runner's per-socket adapter: volatile, rebuilt from `Durable` on restore.
#[derive(Debug)]
struct Adapter {
    last: u16,
    /// Handled but not yet persisted.
    handled: Vec<(u16, Vec<u8>)>,
}

#[derive(Debug)]
struct Instance {
    generation: u32,
    next_event: i64,
    sockets: BTreeMap<RequestId, Adapter>,
}

#[derive(Debug, Default)]
struct ModelRunner {
    key: String,
    instances: BTreeMap<ActorId, Instance>,
    /// Events sent and not acked yet: resent after every reconnect, as the npm runner does.
    history: Vec<EventWrapper>,
}

/// Fault counts of one run.
#[derive(Debug, Default, Clone, Copy)]
pub struct SimStats {
    /// Gateway restarts.
    pub restarts: u64,
    /// Runner connections dropped (process kept).
    pub runner_drops: u64,
    /// Runner processes crashed.
    pub runner_crashes: u64,
    /// Malformed runner frames.
    pub garbage: u64,
    /// Store operations failed.
    pub store_failures: u64,
    /// Alarms set before a sleep.
    pub alarms: u64,
    /// Clients reported too slow.
    pub slow_clients: u64,
    /// Messages persisted by actors.
    pub persisted: u64,
}

impl SimStats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Self) {
        self.restarts += o.restarts;
        self.runner_drops += o.runner_drops;
        self.runner_crashes += o.runner_crashes;
        self.garbage += o.garbage;
        self.store_failures += o.store_failures;
        self.alarms += o.alarms;
        self.slow_clients += o.slow_clients;
        self.persisted += o.persisted;
    }
}

/// What the store holds (applied when an operation succeeds).
#[derive(Debug, Default)]
struct ModelStore {
    actors: BTreeMap<ActorId, ActorRecord>,
    hibernation: BTreeSet<(GatewayId, RequestId)>,
}

#[derive(Debug)]
struct ModelClient {
    sent: Vec<Vec<u8>>,
    seq: u64,
    paused: bool,
    closed: bool,
}

/// One simulated world.
pub struct Sim {
    /// The gateway and clock.
    pub d: Driver,
    rng: fastrand::Rng,
    params: SimParams,
    runners: BTreeMap<RunnerConnId, ModelRunner>,
    durable: BTreeMap<RequestId, Durable>,
    clients: BTreeMap<ClientId, ModelClient>,
    actors: Vec<ActorId>,
    gateway_id: GatewayId,
    next_key: u64,
    /// Runner → gateway frames waiting to be delivered, in order.
    inbox: VecDeque<(RunnerConnId, ToServer)>,
    /// Gateway → runner frames waiting to be processed by the model runner, in order. Both
    /// directions are strict FIFOs, like one WebSocket each way: a model reaction never
    /// overtakes frames the gateway sent earlier.
    to_runner: VecDeque<(RunnerConnId, ToClient)>,
    /// The first protocol violation the model runner saw.
    failure: Option<String>,
    config: Config,
    seed: u64,
    restarts: u64,
    store: ModelStore,
    /// Store operations issued and not completed yet, in issue order.
    pending_store: VecDeque<(OpId, StoreRequest)>,
    /// Runner processes whose connection is gone; they reconnect with the same key.
    detached: Vec<ModelRunner>,
    /// Requests whose close reached the runner: nothing more may follow for them.
    closed_at_runner: BTreeSet<(GatewayId, RequestId)>,
    /// How often each fault fired (for `TORPOR_SIM_STATS`).
    pub stats: SimStats,
    /// Clients the gateway closed: nothing more may be sent to them.
    closed_clients: BTreeSet<ClientId>,
    /// Print every model event (`TORPOR_SIM_TRACE=1`).
    trace: bool,
}

impl Sim {
    /// A world for `seed`: two actors, three hibernatable sockets each, one runner, small
    /// windows so flow control is exercised.
    pub fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let params = SimParams::draw(&mut rng);
        Self::build(rng, seed, params)
    }

    /// A world for `seed` with a chosen fault mix (the `sim_seed` fuzz target picks both).
    pub fn with_params(seed: u64, params: SimParams) -> Self {
        Self::build(fastrand::Rng::with_seed(seed), seed, params)
    }

    fn build(mut rng: fastrand::Rng, seed: u64, params: SimParams) -> Self {
        let config = Config {
            socket_window_messages: 1 + rng.usize(0..8),
            socket_window_bytes: 64 + rng.usize(0..256),
            pending_budget_bytes: 2048,
            ..Config::default()
        };
        let mut d = Driver::with_seed(config.clone(), seed);
        d.auto_pong = true;
        d.auto_store = false;
        let gateway_id = d.gw.gateway_id();
        let mut sim = Self {
            d,
            rng,
            params,
            runners: BTreeMap::new(),
            durable: BTreeMap::new(),
            clients: BTreeMap::new(),
            actors: Vec::new(),
            gateway_id,
            next_key: 0,
            inbox: Default::default(),
            to_runner: Default::default(),
            failure: None,
            config,
            seed,
            restarts: 0,
            store: ModelStore::default(),
            pending_store: VecDeque::new(),
            detached: Vec::new(),
            closed_at_runner: BTreeSet::new(),
            closed_clients: BTreeSet::new(),
            stats: SimStats::default(),
            trace: std::env::var_os("TORPOR_SIM_TRACE").is_some(),
        };
        sim.connect_runner();
        for name in ["a", "b"] {
            let (actor, out) = sim.d.create_actor(name, None, "default");
            sim.actors.push(actor);
            sim.observe(out);
        }
        sim.complete_store(false);
        for actor in sim.actors.clone() {
            sim.open_clients(actor, 3);
        }
        sim
    }

    fn open_clients(&mut self, actor: ActorId, n: usize) {
        for _ in 0..n {
            let (client, out) = self.d.open_websocket(actor, "/ws");
            self.clients.insert(
                client,
                ModelClient {
                    sent: Vec::new(),
                    seq: 0,
                    paused: false,
                    closed: false,
                },
            );
            self.settle(out);
        }
    }

    /// The run's parameters (printed on failure).
    pub fn params(&self) -> &SimParams {
        &self.params
    }

    /// Runs the fault phase then the liveness phase; `Err` names the first violation.
    pub fn run(&mut self) -> Result<(), String> {
        for _ in 0..self.params.steps {
            self.fault_step();
            self.check_safety()?;
        }
        self.liveness()
    }

    fn connect_runner(&mut self) {
        self.next_key += 1;
        let key = format!("runner-{}", self.next_key);
        self.attach(ModelRunner {
            key,
            ..ModelRunner::default()
        });
    }

    /// Connects a runner process (new, or one whose connection dropped) with its key.
    fn attach(&mut self, runner: ModelRunner) {
        let key = runner.key.clone();
        let (conn, out) = self.d.connect_runner(&key, "default", 8);
        self.runners.insert(conn, runner);
        self.settle(out);
    }

    fn fault_step(&mut self) {
        let p = self.params.clone();
        let roll = self.rng.f64();
        if self.trace {
            eprintln!("--- step roll {roll:.3}");
        }
        let mut edge = 0.0;
        let mut hit = |prob: f64| {
            let lo = edge;
            edge += prob;
            roll >= lo && roll < edge
        };
        if hit(p.runner_crash) {
            if let Some(&conn) = self.pick_runner() {
                self.stats.runner_crashes += 1;
                self.runners.remove(&conn);
                let out = self.d.step(Input::RunnerClosed { conn });
                self.settle(out);
            }
        } else if hit(p.runner_drop) {
            if let Some(&conn) = self.pick_runner() {
                self.stats.runner_drops += 1;
                if let Some(r) = self.runners.remove(&conn) {
                    self.detached.push(r);
                }
                let out = self.d.step(Input::RunnerClosed { conn });
                self.settle(out);
            }
        } else if hit(p.garbage) {
            if let Some(&conn) = self.pick_runner() {
                self.stats.garbage += 1;
                let out = self.d.step(Input::RunnerBytes {
                    conn,
                    bytes: vec![0xff, 0x13, 0x37],
                });
                self.settle(out);
            }
        } else if hit(p.restart) {
            self.restart_gateway();
        } else if hit(p.slow_client) {
            if let Some(client) = self.pick_open_client() {
                self.stats.slow_clients += 1;
                let out = self.d.step(Input::ClientOutboundFull { client });
                self.settle(out);
            }
        } else if hit(p.alarm) {
            self.actor_alarm_then_sleep();
        } else if hit(p.sleep) {
            self.actor_intent_sleep();
        } else if hit(p.crash) {
            self.actor_crash();
        } else if hit(p.client_close) {
            self.client_close();
        } else if roll < 0.55 {
            self.client_send();
        } else if roll < 0.8 {
            self.actor_work(false);
        } else {
            let by = Duration::from_millis(self.rng.u64(0..4000));
            let out = self.d.advance(by);
            self.settle(out);
        }
        if !self.detached.is_empty() && self.rng.f64() < 0.3 {
            let i = self.rng.usize(0..self.detached.len());
            let r = self.detached.remove(i);
            self.attach(r);
        }
        if self.runners.is_empty() && self.detached.is_empty() && self.rng.f64() < 0.3 {
            self.connect_runner();
        }
        if self.rng.f64() >= p.store_delay {
            self.complete_store(true);
        }
        self.deliver();
    }

    /// The store works through its queue in order; each operation may fail.
    fn complete_store(&mut self, faults: bool) {
        let mut rounds = 0;
        while let Some((op, request)) = self.pending_store.pop_front() {
            rounds += 1;
            assert!(rounds < 100_000, "store livelock");
            let fail = faults && self.rng.f64() < self.params.store_error;
            self.stats.store_failures += u64::from(fail);
            let result = if fail {
                Err(if self.rng.bool() {
                    StoreFailure::Busy
                } else {
                    StoreFailure::Io("disk full".into())
                })
            } else {
                self.apply_store(&request);
                Ok(StoreReply::Done)
            };
            let out = self.d.step(Input::StoreDone { op, result });
            self.observe(out);
            if faults {
                break; // one completion per step: later ones arrive in later steps
            }
        }
    }

    fn apply_store(&mut self, request: &StoreRequest) {
        let st = &mut self.store;
        match request {
            StoreRequest::PutActor(record) => {
                st.actors.insert(record.id, (**record).clone());
            }
            StoreRequest::DeleteActor(id) => {
                st.actors.remove(id);
            }
            StoreRequest::PutHibernation(row) => {
                st.hibernation.insert((row.gateway_id, row.request_id));
            }
            StoreRequest::DeleteHibernation { gateway_id, key } => {
                st.hibernation.remove(&(*gateway_id, key.request_id));
            }
            StoreRequest::PurgeHibernation { keep } => {
                st.hibernation.retain(|(g, _)| g == keep);
            }
            StoreRequest::TouchHibernation { .. }
            | StoreRequest::GcHibernation { .. }
            | StoreRequest::Kv { .. } => {}
        }
    }

    /// The gateway process dies and a new one starts on the same store: operations in flight
    /// may or may not have run, client sockets die, runner connections drop (the processes
    /// reconnect with their keys).
    fn restart_gateway(&mut self) {
        let ran = self.rng.usize(0..=self.pending_store.len());
        for (_, request) in self.pending_store.drain(..).take(ran).collect::<Vec<_>>() {
            self.apply_store(&request);
        }
        self.pending_store.clear();
        self.restarts += 1;
        self.stats.restarts += 1;
        let snapshot = Snapshot {
            actors: self.store.actors.values().cloned().collect(),
        };
        let now = self.d.now;
        let wall = UnixMillis(self.wall_ms());
        let mut gw = Gateway::new(
            self.config.clone(),
            self.seed ^ (self.restarts << 32),
            now,
            wall,
        )
        .expect("config");
        gw.restore(now, snapshot).expect("restore");
        let mut d = Driver::from_gateway(gw, now);
        d.auto_pong = true;
        d.auto_store = false;
        d.continue_ids(&self.d);
        self.d = d;
        let gateway_id = self.d.gw.gateway_id();
        self.gateway_id = gateway_id;
        // `from_gateway` completed the startup purge itself; the store did it too.
        self.store.hibernation.retain(|(g, _)| *g == gateway_id);
        for c in self.clients.values_mut() {
            c.closed = true;
        }
        self.inbox.clear();
        self.to_runner.clear();
        let runners: Vec<ModelRunner> = std::mem::take(&mut self.runners).into_values().collect();
        self.detached.extend(runners);
        self.actors = self.d.gw.actors.map.keys().copied().collect();
        for actor in self.actors.clone() {
            self.open_clients(actor, 2);
        }
    }

    /// The wall clock the gateway sees now (the driver's epoch plus elapsed time).
    fn wall_ms(&self) -> i64 {
        WALL_EPOCH + i64::try_from(self.d.now.as_millis()).unwrap_or(0)
    }

    fn pick_open_client(&mut self) -> Option<ClientId> {
        let open: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.closed)
            .map(|(id, _)| *id)
            .collect();
        (!open.is_empty()).then(|| open[self.rng.usize(0..open.len())])
    }

    /// The actor sets an alarm a few seconds ahead, then goes to sleep: the alarm wakes it.
    fn actor_alarm_then_sleep(&mut self) {
        let all = self.instances();
        if let Some(&(conn, actor)) = all.get(self.rng.usize(0..all.len().max(1))) {
            if let Some(cp) = self.next_checkpoint(conn, actor) {
                let ts = self.wall_ms() + i64::try_from(self.rng.u64(100..8000)).unwrap_or(0);
                self.stats.alarms += 1;
                let alarm = EventWrapper {
                    checkpoint: cp,
                    inner: Event::ActorSetAlarm(EventActorSetAlarm { alarm_ts: Some(ts) }),
                };
                self.send_events(conn, vec![alarm]);
            }
            self.actor_intent_sleep_of(conn, actor);
        }
    }

    /// The checkpoint for the running instance's next event (which it then counts as used).
    fn next_checkpoint(&mut self, conn: RunnerConnId, actor: ActorId) -> Option<ActorCheckpoint> {
        let i = self.runners.get_mut(&conn)?.instances.get_mut(&actor)?;
        let cp = checkpoint(actor, i.generation, i.next_event);
        i.next_event += 1;
        Some(cp)
    }

    /// Sends events and keeps them until acked.
    fn send_events(&mut self, conn: RunnerConnId, events: Vec<EventWrapper>) {
        if let Some(r) = self.runners.get_mut(&conn) {
            r.history.extend(events.iter().cloned());
        }
        self.inbox.push_back((conn, ToServer::Events(events)));
    }

    fn pick_runner(&mut self) -> Option<&RunnerConnId> {
        let n = self.runners.len();
        if n == 0 {
            return None;
        }
        self.runners.keys().nth(self.rng.usize(0..n))
    }

    fn client_send(&mut self) {
        let open: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.closed && !c.paused)
            .map(|(id, _)| *id)
            .collect();
        if open.is_empty() {
            return;
        }
        let client = open[self.rng.usize(0..open.len())];
        self.send_from(client);
    }

    fn send_from(&mut self, client: ClientId) {
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        c.seq += 1;
        let payload = format!("{client}/{}", c.seq).into_bytes();
        c.sent.push(payload.clone());
        let out = self.d.step(Input::ClientMessage {
            client,
            frame: ClientFrame::Binary(payload),
        });
        self.settle(out);
    }

    fn client_close(&mut self) {
        let open: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.closed)
            .map(|(id, _)| *id)
            .collect();
        if let Some(&client) = open.get(self.rng.usize(0..open.len().max(1))) {
            if let Some(c) = self.clients.get_mut(&client) {
                c.closed = true;
            }
            let out = self.d.step(Input::ClientClosed {
                client,
                close: Some(CloseFrame::new(1000, "bye")),
            });
            self.settle(out);
        }
    }

    /// Every running instance, as (runner, actor).
    fn instances(&self) -> Vec<(RunnerConnId, ActorId)> {
        self.runners
            .iter()
            .flat_map(|(conn, r)| r.instances.keys().map(move |a| (*conn, *a)))
            .collect()
    }

    fn actor_intent_sleep(&mut self) {
        let all = self.instances();
        if let Some(&(conn, actor)) = all.get(self.rng.usize(0..all.len().max(1))) {
            self.actor_intent_sleep_of(conn, actor);
        }
    }

    fn actor_intent_sleep_of(&mut self, conn: RunnerConnId, actor: ActorId) {
        self.maybe_flush(conn, actor);
        if let Some(cp) = self.next_checkpoint(conn, actor) {
            self.send_events(conn, vec![intent(&cp, cp.index, ActorIntent::Sleep)]);
            self.deliver();
        }
    }

    /// The actor crashes: possibly right after persisting (its ack never sent).
    fn actor_crash(&mut self) {
        let all = self.instances();
        if let Some(&(conn, actor)) = all.get(self.rng.usize(0..all.len().max(1))) {
            if self.rng.bool() {
                self.persist_all(conn, actor, false);
            }
            self.stop_instance(conn, actor);
        }
    }

    /// Drops the instance and reports `Stopped{ERROR}` (the runner's forceStop).
    fn stop_instance(&mut self, conn: RunnerConnId, actor: ActorId) {
        let Some(i) = self
            .runners
            .get_mut(&conn)
            .and_then(|r| r.instances.remove(&actor))
        else {
            return;
        };
        let cp = checkpoint(actor, i.generation, i.next_event);
        self.send_events(conn, vec![event(&cp, cp.index, stopped(StopCode::Error))]);
    }

    /// Randomly persists (and acks) handled messages of running instances.
    fn actor_work(&mut self, everything: bool) {
        for (conn, actor) in self.instances() {
            if everything || self.rng.bool() {
                let ack = everything || self.rng.f64() < self.params.ack_now.max(0.3);
                self.persist_all(conn, actor, ack);
            }
        }
    }

    fn maybe_flush(&mut self, conn: RunnerConnId, actor: ActorId) {
        if self.rng.bool() {
            let ack = self.rng.bool();
            self.persist_all(conn, actor, ack);
        }
    }

    /// Persists every handled message of the instance, then (if `ack`) acks each socket.
    fn persist_all(&mut self, conn: RunnerConnId, actor: ActorId, ack: bool) {
        let Some(i) = self
            .runners
            .get_mut(&conn)
            .and_then(|r| r.instances.get_mut(&actor))
        else {
            return;
        };
        // An actor acks what it persisted, including earlier persists whose ack it held back
        // (rivetkit acks within 5 s of persisting).
        let mut acks = Vec::new();
        for (rq, adapter) in &mut i.sockets {
            let d = self.durable.entry(*rq).or_default();
            for (index, payload) in adapter.handled.drain(..) {
                d.persisted = index;
                d.log.push(payload);
                self.stats.persisted += 1;
            }
            acks.push((*rq, d.persisted));
        }
        if ack {
            for (rq, index) in acks {
                self.send_ack(conn, rq, index);
            }
        }
    }

    fn send_ack(&mut self, conn: RunnerConnId, rq: RequestId, index: u16) {
        let msg = tunnel(
            self.gateway_id,
            rq,
            Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index }),
        );
        self.inbox.push_back((conn, msg));
    }

    /// Runs both directions until quiet: the model runner handles every frame the gateway
    /// sent, then the next runner frame goes to the gateway, and so on.
    fn deliver(&mut self) {
        loop {
            if let Some((conn, msg)) = self.to_runner.pop_front() {
                if self.runners.contains_key(&conn) {
                    self.runner_receive(conn, msg);
                }
                continue;
            }
            let Some((conn, msg)) = self.inbox.pop_front() else {
                break;
            };
            if !self.runners.contains_key(&conn) {
                continue;
            }
            if self.trace {
                eprintln!("{:?} {conn} → gw: {msg:?}", self.d.now);
            }
            let out = self.d.runner_send(conn, &msg);
            self.observe(out);
        }
    }

    /// Applies outputs, then lets both sides react until quiet.
    fn settle(&mut self, out: Vec<Output>) {
        self.observe(out);
        self.deliver();
    }

    /// Applies the gateway's outputs to the model world.
    fn observe(&mut self, out: Vec<Output>) {
        for o in out {
            match o {
                Output::SendRunner { conn, bytes } => {
                    let msg = ToClient::decode(&bytes).expect("the gateway sent undecodable bytes");
                    self.check_starts(&msg);
                    self.to_runner.push_back((conn, msg));
                }
                Output::CloseRunner { conn, .. } => {
                    // The process lives on and reconnects with its key.
                    if let Some(r) = self.runners.remove(&conn) {
                        self.detached.push(r);
                    }
                }
                Output::PauseClientReads { client } => self.set_paused(client, true),
                Output::ResumeClientReads { client } => self.set_paused(client, false),
                Output::CloseClient { client, .. } | Output::RejectClient { client, .. } => {
                    self.closed_clients.insert(client);
                    if let Some(c) = self.clients.get_mut(&client) {
                        c.closed = true;
                    }
                }
                Output::SendClient { client, .. } if self.closed_clients.contains(&client) => {
                    self.failure
                        .get_or_insert(format!("{client}: a frame after its close"));
                }
                Output::Store { op, request } => self.pending_store.push_back((op, request)),
                _ => {}
            }
        }
    }

    /// A start lists only open sockets of this incarnation.
    fn check_starts(&mut self, msg: &ToClient) {
        let ToClient::Commands(cmds) = msg else {
            return;
        };
        for c in cmds {
            let Command::StartActor(start) = &c.inner else {
                continue;
            };
            for h in &start.hibernating_requests {
                let client = self.d.gw.clients.requests.get(&h.request_id).copied();
                let why = if h.gateway_id != self.gateway_id {
                    Some("of an earlier incarnation".to_owned())
                } else {
                    match client {
                        None => Some("not open at the gateway".to_owned()),
                        Some(c) if self.closed_clients.contains(&c) => {
                            Some(format!("{c}, which the gateway closed"))
                        }
                        Some(_) => None,
                    }
                };
                if let Some(why) = why {
                    self.failure.get_or_insert(format!(
                        "a start of {} lists {:?}/{:?}: {why}",
                        c.checkpoint.actor_id, h.gateway_id, h.request_id
                    ));
                }
            }
        }
    }

    fn set_paused(&mut self, client: ClientId, paused: bool) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.paused = paused;
        }
    }

    fn runner_receive(&mut self, conn: RunnerConnId, msg: ToClient) {
        if self.trace {
            eprintln!("{:?} gw → {conn}: {msg:?}", self.d.now);
        }
        match msg {
            ToClient::Commands(cmds) => {
                for c in cmds {
                    let Some(actor) = ActorId::parse(&c.checkpoint.actor_id) else {
                        continue;
                    };
                    match c.inner {
                        Command::StartActor(start) => {
                            let listed: Vec<RequestId> = start
                                .hibernating_requests
                                .iter()
                                .map(|h| h.request_id)
                                .collect();
                            self.start_instance(conn, actor, c.checkpoint.generation, &listed);
                        }
                        Command::StopActor => {
                            let current = self
                                .runners
                                .get(&conn)
                                .and_then(|r| r.instances.get(&actor))
                                .is_some_and(|i| i.generation == c.checkpoint.generation);
                            if current {
                                self.maybe_flush(conn, actor);
                                self.stop_instance(conn, actor);
                            }
                        }
                    }
                }
            }
            ToClient::TunnelMessage(t) => self.runner_tunnel(conn, t),
            ToClient::Init(_) => {
                let history = self
                    .runners
                    .get(&conn)
                    .map(|r| r.history.clone())
                    .unwrap_or_default();
                if !history.is_empty() {
                    self.inbox.push_back((conn, ToServer::Events(history)));
                }
            }
            ToClient::AckEvents(ack) => {
                if let Some(r) = self.runners.get_mut(&conn) {
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
            _ => {}
        }
    }

    /// `CommandStartActor`: a fresh instance, `Running` at once, then the actor's
    /// `onActorStart` restores its persisted sockets that are listed and re-acks them.
    fn start_instance(
        &mut self,
        conn: RunnerConnId,
        actor: ActorId,
        generation: u32,
        listed: &[RequestId],
    ) {
        let mut sockets = BTreeMap::new();
        let mut reacks = Vec::new();
        for (rq, d) in &mut self.durable {
            if d.actor != Some(actor) || d.closed {
                continue;
            }
            if listed.contains(rq) {
                sockets.insert(
                    *rq,
                    Adapter {
                        last: d.persisted,
                        handled: Vec::new(),
                    },
                );
                reacks.push((*rq, d.persisted));
            } else {
                d.closed = true; // stale metadata: the actor runs its close handler
            }
        }
        let Some(r) = self.runners.get_mut(&conn) else {
            return;
        };
        r.instances.insert(
            actor,
            Instance {
                generation,
                next_event: 1,
                sockets,
            },
        );
        let cp = checkpoint(actor, generation, 0);
        self.send_events(conn, vec![event(&cp, 0, ActorState::Running)]);
        for (rq, index) in reacks {
            let msg = tunnel(
                self.gateway_id,
                rq,
                Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index }),
            );
            self.inbox.push_back((conn, msg));
        }
    }

    fn runner_tunnel(&mut self, conn: RunnerConnId, t: ToClientTunnelMessage) {
        let rq = t.message_id.request_id;
        let index = t.message_id.message_index;
        let Some(r) = self.runners.get_mut(&conn) else {
            return;
        };
        match t.message_kind {
            In::WebSocketOpen(open) => {
                let Some(actor) = ActorId::parse(&open.actor_id) else {
                    return;
                };
                let Some(i) = r.instances.get_mut(&actor) else {
                    return; // unknown actor: never answered (the gateway times out)
                };
                i.sockets.insert(
                    rq,
                    Adapter {
                        last: 0,
                        handled: Vec::new(),
                    },
                );
                self.durable.insert(
                    rq,
                    Durable {
                        actor: Some(actor),
                        ..Durable::default()
                    },
                );
                let msg = tunnel(
                    self.gateway_id,
                    rq,
                    Out::WebSocketOpen(ToServerWebSocketOpen {
                        can_hibernate: true,
                    }),
                );
                self.inbox.push_back((conn, msg));
            }
            In::WebSocketMessage(m) => {
                if self
                    .closed_at_runner
                    .contains(&(t.message_id.gateway_id, rq))
                {
                    self.failure
                        .get_or_insert(format!("{rq:?}: a message after its close"));
                }
                let Some(adapter) = r
                    .instances
                    .values_mut()
                    .find_map(|i| i.sockets.get_mut(&rq))
                else {
                    return; // not restored here: dropped silently, as the runner does
                };
                // The runner's rule (websocket-tunnel-adapter.ts): at or up to 32,767 behind the
                // last index is a duplicate, dropped without an ack; anything but last + 1 is a
                // gap, which closes the socket with 1008 ws.message_index_skip.
                let behind = adapter.last.wrapping_sub(index);
                if index == adapter.last || (1..=32767).contains(&behind) {
                    return;
                }
                if index != adapter.last.wrapping_add(1) {
                    self.failure.get_or_insert(format!(
                        "gap on {rq:?}: the runner's last index is {}, the gateway sent {index}",
                        adapter.last
                    ));
                    return;
                }
                adapter.last = index;
                adapter.handled.push((index, m.data));
                if self.rng.f64() < self.params.persist_now {
                    let ack = self.rng.f64() < self.params.ack_now;
                    let actor = r
                        .instances
                        .iter()
                        .find(|(_, i)| i.sockets.contains_key(&rq))
                        .map(|(a, _)| *a);
                    if let Some(actor) = actor {
                        self.persist_all(conn, actor, ack);
                    }
                }
            }
            In::WebSocketClose(_) => {
                self.closed_at_runner.insert((t.message_id.gateway_id, rq));
                for i in r.instances.values_mut() {
                    i.sockets.remove(&rq);
                }
                if let Some(d) = self.durable.get_mut(&rq) {
                    d.closed = true;
                }
                let msg = tunnel(
                    self.gateway_id,
                    rq,
                    Out::WebSocketClose(ToServerWebSocketClose {
                        code: Some(1000),
                        reason: None,
                        hibernate: false,
                    }),
                );
                self.inbox.push_back((conn, msg)); // the runner echoes closes; the gateway ignores it
            }
            _ => {}
        }
    }

    /// Each socket's durable log is a prefix of what its client sent.
    fn check_safety(&self) -> Result<(), String> {
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        for (client, c) in &self.clients {
            let Some(rq) = self.request_of(*client) else {
                continue;
            };
            let log = self.durable.get(&rq).map_or(&[][..], |d| d.log.as_slice());
            if log.len() > c.sent.len() || log != &c.sent[..log.len()] {
                return Err(format!(
                    "{client}: persisted {} messages, not a prefix of the {} sent (first difference at {})",
                    log.len(),
                    c.sent.len(),
                    log.iter()
                        .zip(&c.sent)
                        .position(|(a, b)| a != b)
                        .unwrap_or(log.len().min(c.sent.len()))
                ));
            }
        }
        self.check_windows()
    }

    /// Quiet: the store holds exactly the gateway's registry and this incarnation's index
    /// (every failed operation was retried until it took effect).
    fn check_store(&mut self) -> Result<(), String> {
        self.complete_store(false);
        if !self.pending_store.is_empty() {
            return Err(format!(
                "{} store operations never completed",
                self.pending_store.len()
            ));
        }
        for (id, a) in &self.d.gw.actors.map {
            if self.store.actors.get(id) != Some(&a.record) {
                return Err(format!(
                    "{id}: the store holds {:?}, the gateway {:?}",
                    self.store.actors.get(id),
                    a.record
                ));
            }
        }
        if let Some(id) = self
            .store
            .actors
            .keys()
            .find(|id| !self.d.gw.actors.map.contains_key(id))
        {
            return Err(format!("{id} is in the store but not in the gateway"));
        }
        let rows = self
            .store
            .hibernation
            .iter()
            .filter(|(g, _)| *g == self.gateway_id)
            .count();
        if rows != self.d.gw.index_rows() {
            return Err(format!(
                "the store holds {rows} index rows, the gateway {}",
                self.d.gw.index_rows()
            ));
        }
        Ok(())
    }

    fn check_windows(&self) -> Result<(), String> {
        let cfg = self.d.gw.config();
        if let Some(at) = self.d.gw.poll_timeout() {
            if at < self.d.now {
                return Err(format!(
                    "a deadline at {at:?} lies before now {:?}",
                    self.d.now
                ));
            }
        }
        if self.d.gw.held_bytes() > cfg.pending_budget_bytes + 64 {
            return Err(format!(
                "{} bytes held exceed the budget of {}",
                self.d.gw.held_bytes(),
                cfg.pending_budget_bytes
            ));
        }
        for (idx, i) in &self.d.gw.runners.instances {
            if i.outbox.len() > 10_000 {
                return Err(format!("{idx:?} holds {} frames", i.outbox.len()));
            }
        }
        if self.pending_store.len() > 10_000 {
            return Err(format!(
                "{} store operations queued",
                self.pending_store.len()
            ));
        }
        for (id, c) in &self.d.gw.clients.map {
            if let ClientKind::WebSocket(ws) = &c.kind {
                if ws.pending.len() > 1 && ws.pending.bytes() > cfg.socket_window_bytes {
                    return Err(format!(
                        "{id}: {} un-acked bytes exceed the window",
                        ws.pending.bytes()
                    ));
                }
            }
        }
        Ok(())
    }

    fn request_of(&self, client: ClientId) -> Option<RequestId> {
        if let Some(c) = self.d.gw.clients.map.get(&client) {
            return Some(c.request_id);
        }
        // Closed at the gateway: find it through the durable records of its actor.
        None
    }

    /// No more faults: a runner is present, every open socket sends one last message (which
    /// wakes a sleeping actor), and actors persist and ack everything. Then every message of
    /// every open socket must be persisted exactly once.
    fn liveness(&mut self) -> Result<(), String> {
        if self.runners.is_empty() {
            self.connect_runner();
        }
        // Requests of open clients, before anything else can close them.
        let open: Vec<(ClientId, RequestId)> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.closed)
            .filter_map(|(id, _)| self.request_of(*id).map(|rq| (*id, rq)))
            .collect();
        for (client, _) in &open {
            let attached = matches!(
                self.d.gw.clients.map.get(client).map(|c| &c.kind),
                Some(ClientKind::WebSocket(ws)) if matches!(ws.phase, WsPhase::Open | WsPhase::Hibernating)
            );
            if attached {
                self.set_paused(*client, false);
                self.send_from(*client);
            }
        }
        for _ in 0..60 {
            self.actor_work(true);
            let out = self.d.advance(Duration::from_millis(500));
            self.settle(out);
            self.check_safety()?;
        }
        self.check_store()?;
        for (client, rq) in open {
            let Some(c) = self.clients.get(&client) else {
                continue;
            };
            if c.closed {
                continue; // the gateway closed it (a timeout); safety still held
            }
            let log = self.durable.get(&rq).map_or(0, |d| d.log.len());
            if log != c.sent.len() {
                let state = self.d.gw.clients.map.get(&client).map(|c| match &c.kind {
                    ClientKind::WebSocket(ws) => format!(
                        "{:?} queued {} pending {} next index {}; actor {:?}",
                        ws.phase,
                        ws.queued.len(),
                        ws.pending.len(),
                        c.next_index,
                        self.d.gw.actors.map.get(&c.actor).map(|a| a.phase)
                    ),
                    ClientKind::Http(_) => "http".into(),
                });
                let runner = self.runners.values().find_map(|r| {
                    r.instances
                        .values()
                        .find_map(|i| i.sockets.get(&rq))
                        .map(|a| (a.last, a.handled.len()))
                });
                return Err(format!(
                    "{client}: {} sent, {log} persisted after draining; gateway: {state:?}; runner adapter (last, handled): {runner:?}; durable: {:?}",
                    c.sent.len(),
                    self.durable.get(&rq).map(|d| (d.persisted, d.closed))
                ));
            }
        }
        Ok(())
    }
}

fn checkpoint(actor: ActorId, generation: u32, index: i64) -> ActorCheckpoint {
    ActorCheckpoint {
        actor_id: actor.to_string(),
        generation,
        index,
    }
}

fn tunnel(gateway_id: GatewayId, request_id: RequestId, kind: Out) -> ToServer {
    ToServer::TunnelMessage(ToServerTunnelMessage {
        message_id: MessageId {
            gateway_id,
            request_id,
            message_index: 0,
        },
        message_kind: kind,
    })
}

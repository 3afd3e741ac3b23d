//! A seeded world around one gateway: model runner processes that behave like
//! `@rivetkit/engine-runner` 2.2.1 (index dedupe, restore from persisted metadata, re-ack after
//! restore, events kept until acked and resent after every init, tunnel messages buffered while
//! disconnected, every actor force-stopped when the runner id changes), model actors that
//! persist then ack (and may crash between the two), answer HTTP (whole or streamed) and send
//! their own messages to clients, clients that send numbered messages, honour read pauses and
//! close right after sending, one link per runner connection (a FIFO each way that may hold
//! frames in flight for a while), and a store that completes operations late, in order, and
//! fails them with every class an adapter can return.
//!
//! Faults: runner connections dropping with a random suffix of the frames in flight lost each
//! way (the gateway hearing of it at once, late, or only when the same runner reconnects),
//! runner processes crashing or coming back under a new key, malformed runner bytes, actor
//! crashes, sleeps, slow stops and alarms, client closes at every actor phase, clients too slow
//! to read, store errors and delays, gateway restarts (a new core from the store's snapshot;
//! client sockets drop), time jumps, tiny windows and budgets, and (in some worlds) one socket
//! carrying more than 65,536 messages so its index wraps.
//!
//! After every step the oracles (`oracle`) check both directions of every socket (exactly once,
//! in order, nothing after a close), what the gateway must do the moment it learns a runner
//! connection died, pauses, bounded memory, ghosts on runners, and more; the liveness phase then
//! heals every fault and requires every open socket to make progress both ways, every request to
//! be answered or closed with a named code, no client left paused, and the store to hold exactly
//! what the gateway's state says, row by row. One seed replays one run exactly.

mod clients;
mod link;
mod oracle;
mod params;
mod runner;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

pub use params::{SimParams, SimStats};

use self::clients::{HttpClient, WsClient};
use self::link::Link;
use self::runner::{Durable, ModelRunner, ProcId};
use self::store::{ModelStore, PendingStore};
use super::driver::Driver;
use crate::actor::Phase;
use crate::config::Config;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::protocol::{GatewayId, RequestId};
use crate::time::Instant;
use crate::tunnel::WsPhase;

/// One simulated world.
pub struct Sim {
    /// The gateway and clock.
    pub d: Driver,
    rng: fastrand::Rng,
    params: SimParams,
    config: Config,
    seed: u64,
    /// Runner processes, alive, by a number of the simulation's own.
    procs: BTreeMap<ProcId, ModelRunner>,
    next_proc: ProcId,
    next_key: u64,
    /// Live runner connections (each one link).
    links: BTreeMap<RunnerConnId, Link>,
    /// Connections the gateway holds as far as the simulation knows; one it drops from its
    /// state is checked at that moment (`oracle::check_disconnect`).
    known_conns: BTreeSet<RunnerConnId>,
    /// Dead connections the adapter has not reported closed yet.
    undetected: BTreeSet<RunnerConnId>,
    /// What the actors hold per socket (persisted metadata and log, or what a non-hibernatable
    /// socket's actor received).
    durable: BTreeMap<RequestId, Durable>,
    ws: BTreeMap<ClientId, WsClient>,
    http: BTreeMap<ClientId, HttpClient>,
    by_request: BTreeMap<RequestId, ClientId>,
    /// The connection each request's latest frame went out on.
    request_conn: BTreeMap<RequestId, RunnerConnId>,
    /// Client → actor payloads lost on dead links, by request (only non-hibernatable sockets
    /// may lose them for good).
    lost_payloads: BTreeMap<RequestId, BTreeSet<Vec<u8>>>,
    /// Requests whose close or abort never reached an actor: lost on a dead link, or arrived
    /// after the actor that held it crashed or stopped (their runner-side state may linger, and
    /// the actor may never observe the close).
    lost_control: BTreeSet<RequestId>,
    /// Sockets the gateway closed by a policy of its own (any close but the client's): what
    /// their clients sent after the last ack may be lost, whether the close reached the runner
    /// or not.
    policy_closed: BTreeSet<RequestId>,
    /// Requests whose client's close the gateway forwarded to a runner.
    client_close_sent: BTreeSet<RequestId>,
    /// Requests whose close reached the runner: nothing more may follow for them.
    closed_at_runner: BTreeSet<(GatewayId, RequestId)>,
    /// Clients the gateway closed: nothing more may be sent to them.
    closed_clients: BTreeSet<ClientId>,
    /// Actors that owe a start because a client closed a hibernating socket of theirs while
    /// they slept or stopped (`wake_on_close`).
    owed_starts: BTreeSet<ActorId>,
    /// How many starts the gateway wrote for each actor (a left client's give-up needs a few).
    starts_written: BTreeMap<ActorId, u32>,
    /// Left clients whose sockets the gateway held at the last observed batch with frames
    /// queued or not seen acked (a give-up shows as one of them gone).
    left_held: BTreeSet<ClientId>,
    /// `ws_left_frames_given_up` at the last observed batch.
    given_up_seen: u64,
    /// When each actor last reported `Running` to the gateway (the ack clock restarts).
    running_since: BTreeMap<ActorId, Instant>,
    /// When each runner connection was bound (the ack clock of the sockets of the actors on
    /// that runner restarts then; another process connecting restarts nothing).
    bound_at: BTreeMap<RunnerConnId, Instant>,
    actors: Vec<ActorId>,
    /// The runner pools of this world, each served by one protocol.
    pools: &'static [WorldPool],
    gateway_id: GatewayId,
    store: ModelStore,
    pending_store: VecDeque<PendingStore>,
    /// A runner connection drops partway through the next delivery.
    drop_armed: bool,
    /// One per observed output batch, so a check can tell what the latest input changed.
    batch: u64,
    /// Numbers actor → client payloads.
    next_actor_message: u64,
    /// Numbers HTTP bodies.
    next_body: u64,
    restarts: u64,
    /// The first violation seen by a model (runner, client, store).
    failure: Option<String>,
    /// The liveness phase runs: no more faults.
    healing: bool,
    /// How often each fault fired (for `TORPOR_SIM_STATS`).
    pub stats: SimStats,
    /// Print every model event (`TORPOR_SIM_TRACE=1`).
    trace: bool,
    /// Violations containing one of these are skipped (`TORPOR_SIM_IGNORE=a|b`), to triage the
    /// failures behind a known one.
    ignore: Vec<String>,
}

/// A runner pool of a world, and whether envoys (protocol v8) or runners (v7) serve it (one
/// protocol per pool, as the gateway requires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldPool {
    /// The pool name.
    pub name: &'static str,
    /// Served by v8 envoys (through `testkit::envoy_shim`), else by v7 runners.
    pub envoys: bool,
}

impl WorldPool {
    const V7: &'static [Self] = &[Self {
        name: "default",
        envoys: false,
    }];
    const V8: &'static [Self] = &[Self {
        name: "default",
        envoys: true,
    }];
    const MIXED: &'static [Self] = &[
        Self {
            name: "default",
            envoys: false,
        },
        Self {
            name: "envoys",
            envoys: true,
        },
    ];

    /// A third of the worlds have v7 runners, a third v8 envoys, a third both (actor `a` on
    /// the runners' pool, `b` on the envoys'). Drawn from the seed apart from the fault mix, so
    /// a seed's faults are what they were before worlds had envoys.
    fn draw(seed: u64) -> &'static [Self] {
        match fastrand::Rng::with_seed(seed ^ 0x0e4e_0e4e_0e4e_0e4e).u8(0..3) {
            0 => Self::V7,
            1 => Self::V8,
            _ => Self::MIXED,
        }
    }
}

impl Sim {
    /// A world for `seed`: two actors, three sockets each, one runner, small windows so flow
    /// control is exercised.
    pub fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let params = SimParams::draw(&mut rng);
        Self::build(rng, seed, params)
    }

    /// A world for `seed` with a chosen fault mix (the `sim_seed` fuzz target picks both).
    pub fn with_params(seed: u64, params: SimParams) -> Self {
        Self::build(fastrand::Rng::with_seed(seed), seed, params)
    }

    fn build(rng: fastrand::Rng, seed: u64, params: SimParams) -> Self {
        let window_messages = params.window_messages.clamp(1, 32_767);
        let window_bytes = params.window_bytes.max(1);
        let config = Config {
            socket_window_messages: window_messages,
            socket_window_bytes: window_bytes,
            pending_budget_bytes: params.budget_bytes.max(window_bytes),
            wake_on_close: params.wake_on_close,
            ..Config::default()
        };
        let pools = WorldPool::draw(seed);
        let mut d = Driver::with_seed(config.clone(), seed);
        d.auto_pong = true;
        d.auto_store = false;
        let gateway_id = d.gw.gateway_id();
        let mut sim = Self {
            d,
            rng,
            params,
            pools,
            config,
            seed,
            procs: BTreeMap::new(),
            next_proc: 0,
            next_key: 0,
            links: BTreeMap::new(),
            known_conns: BTreeSet::new(),
            undetected: BTreeSet::new(),
            durable: BTreeMap::new(),
            ws: BTreeMap::new(),
            http: BTreeMap::new(),
            by_request: BTreeMap::new(),
            request_conn: BTreeMap::new(),
            lost_payloads: BTreeMap::new(),
            lost_control: BTreeSet::new(),
            policy_closed: BTreeSet::new(),
            client_close_sent: BTreeSet::new(),
            closed_at_runner: BTreeSet::new(),
            closed_clients: BTreeSet::new(),
            owed_starts: BTreeSet::new(),
            starts_written: BTreeMap::new(),
            left_held: BTreeSet::new(),
            given_up_seen: 0,
            running_since: BTreeMap::new(),
            bound_at: BTreeMap::new(),
            actors: Vec::new(),
            gateway_id,
            store: ModelStore::default(),
            pending_store: VecDeque::new(),
            drop_armed: false,
            batch: 0,
            next_actor_message: 0,
            next_body: 0,
            restarts: 0,
            failure: None,
            healing: false,
            stats: SimStats::default(),
            trace: std::env::var_os("TORPOR_SIM_TRACE").is_some(),
            ignore: std::env::var("TORPOR_SIM_IGNORE")
                .map(|s| {
                    s.split('|')
                        .filter(|p| !p.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        };
        match (sim.pools.len(), sim.pools.iter().all(|p| p.envoys)) {
            (1, true) => sim.stats.envoy_worlds = 1,
            (1, false) => {}
            _ => sim.stats.mixed_worlds = 1,
        }
        for _ in 0..sim.pools.len() {
            sim.connect_new_runner();
        }
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let pool = sim.pools[i % sim.pools.len()].name;
            let (actor, out) = sim.d.create_actor(name, None, pool);
            sim.actors.push(actor);
            sim.observe(out);
        }
        sim.complete_store(false);
        sim.deliver(None);
        for actor in sim.actors.clone() {
            sim.open_clients(actor, 3);
        }
        sim.deliver(None);
        sim
    }

    /// The run's parameters (printed on failure).
    pub fn params(&self) -> &SimParams {
        &self.params
    }

    /// The world's runner pools and their protocols (printed on failure).
    pub fn pools(&self) -> &'static [WorldPool] {
        self.pools
    }

    /// Runs the fault phase then the liveness phase; `Err` names the first violation.
    pub fn run(&mut self) -> Result<(), String> {
        // The burst waits, from the middle of the run on, for a socket attached to a running
        // actor.
        let mut burst_due = self.params.burst > 0;
        for step in 0..self.params.steps {
            if burst_due && step >= self.params.steps / 2 && self.burst(self.params.burst)? {
                burst_due = false;
            }
            self.fault_step();
            self.check_safety()?;
        }
        self.liveness()
    }

    fn fault_step(&mut self) {
        let p = self.params.clone();
        let roll = self.rng.f64();
        if self.trace {
            eprintln!("--- {:?} step roll {roll:.3}", self.d.now);
        }
        let mut edge = 0.0;
        let mut hit = |prob: f64| {
            let lo = edge;
            edge += prob;
            roll >= lo && roll < edge
        };
        if hit(p.runner_crash) {
            self.crash_runner();
        } else if hit(p.runner_drop) {
            // The drop strikes in the middle of this step's traffic, so frames are in flight.
            self.drop_armed = true;
            if self.rng.bool() {
                self.client_send();
            } else {
                self.actor_send();
            }
        } else if hit(p.garbage) {
            self.send_garbage();
        } else if hit(p.restart) {
            self.restart_gateway();
        } else if hit(p.slow_client) {
            self.slow_client();
        } else if hit(p.alarm) {
            self.actor_alarm_then_sleep();
        } else if hit(p.sleep) {
            self.actor_intent_sleep();
        } else if hit(p.crash) {
            self.actor_crash();
        } else if hit(p.client_close) {
            self.client_close();
        } else if hit(p.send_then_close) {
            self.send_then_close();
        } else if hit(p.actor_send) {
            self.actor_send();
        } else if hit(p.http) {
            self.http_request();
        } else if hit(p.ack_commands) {
            self.ack_commands();
        } else if roll < 0.6 {
            self.client_send();
        } else if roll < 0.8 {
            self.actor_work(false);
        } else {
            let by = Duration::from_millis(self.rng.u64(0..4000));
            self.advance(by);
        }
        self.background();
    }

    /// What happens every step whatever the fault: slow stops finish, runners reconnect,
    /// adapters notice dead connections, the store works, frames cross the links.
    fn background(&mut self) {
        self.finish_due_stops();
        let detached: Vec<ProcId> = self
            .procs
            .iter()
            .filter(|(_, r)| r.conn.is_none())
            .map(|(p, _)| *p)
            .collect();
        for proc in detached {
            if self.rng.f64() < 0.3 {
                self.attach(proc);
            }
        }
        let undetected: Vec<RunnerConnId> = self.undetected.iter().copied().collect();
        for conn in undetected {
            if self.rng.f64() < 0.25 {
                self.report_closed(conn);
            }
        }
        if self.pool_without_runner().is_some() && self.rng.f64() < 0.3 {
            self.connect_new_runner();
        }
        if self.rng.f64() >= self.params.store_delay {
            self.complete_store(true);
        }
        let limit = (self.rng.f64() < self.params.link_hold).then(|| {
            let in_flight = self.in_flight();
            self.rng.usize(0..=in_flight)
        });
        self.deliver(limit);
    }

    /// Moves the clock forward by `by`, firing each deadline at its own instant and observing
    /// its outputs at that instant (the ack-timeout oracle needs the time of each firing).
    fn advance(&mut self, by: Duration) {
        let end = self.d.now.saturating_add(by);
        while let Some(at) = self.d.gw.poll_timeout().filter(|at| *at <= end) {
            let step = Duration::from_millis(at.as_millis().saturating_sub(self.d.now.as_millis()));
            let out = self.d.jump(step);
            self.observe(out);
            if let Some(next) = self.d.gw.poll_timeout() {
                assert!(next > self.d.now, "a deadline is still due after firing");
            }
        }
        self.d.now = end;
    }

    /// The gateway process dies and a new one starts on the same store: operations in flight
    /// may or may not have run, client sockets die, runner connections drop (what the gateway
    /// had sent may have reached the runners; the processes reconnect with their keys and,
    /// seeing a new runner id, stop every actor).
    fn restart_gateway(&mut self) {
        let ran = self.rng.usize(0..=self.pending_store.len());
        let done: Vec<PendingStore> = self.pending_store.drain(..).take(ran).collect();
        let wall = self.wall_ms();
        for op in done {
            self.store.apply(&op.request, wall);
        }
        self.pending_store.clear();
        let conns: Vec<RunnerConnId> = self.links.keys().copied().collect();
        for conn in conns {
            let read = self.links.get(&conn).map_or(0, |l| l.down.len());
            let read = self.rng.usize(0..=read);
            self.runner_reads(conn, read);
            self.cut(conn);
        }
        self.restarts += 1;
        self.stats.restarts += 1;
        let snapshot = crate::store::Snapshot {
            actors: self.store.actors.values().cloned().collect(),
            namespaces: vec![],
        };
        let now = self.d.now;
        let mut gw = crate::gateway::Gateway::new(
            self.config.clone(),
            self.seed ^ (self.restarts << 32),
            now,
            crate::time::UnixMillis(wall),
        )
        .expect("config");
        gw.restore(now, crate::time::UnixMillis(wall), snapshot)
            .expect("restore");
        let (mut d, startup) = Driver::from_gateway_with_outputs(gw, now);
        d.auto_pong = true;
        d.auto_store = false;
        d.continue_ids(&self.d);
        self.d = d;
        self.gateway_id = self.d.gw.gateway_id();
        self.known_conns.clear();
        self.undetected.clear();
        self.owed_starts.clear();
        for c in self.ws.values_mut() {
            c.dead = true;
        }
        for h in self.http.values_mut() {
            h.dead = true;
        }
        self.observe(startup);
        self.actors = self.d.gw.inspect().actors();
        for actor in self.actors.clone() {
            self.open_clients(actor, 2);
        }
    }

    /// The wall clock the gateway sees now (the driver's epoch plus elapsed time).
    fn wall_ms(&self) -> i64 {
        super::driver::WALL_EPOCH + i64::try_from(self.d.now.as_millis()).unwrap_or(0)
    }

    /// The gateway's phase of `actor`, if it knows it.
    fn actor_phase(&self, actor: ActorId) -> Option<Phase> {
        self.d.gw.inspect().actor_phase(actor)
    }

    /// The gateway's phase of a WebSocket client, if it still holds it.
    fn ws_phase(&self, client: ClientId) -> Option<WsPhase> {
        self.d.gw.inspect().socket(client).map(|ws| ws.phase)
    }

    fn note(&mut self, violation: String) {
        if self.trace {
            eprintln!("VIOLATION: {violation}");
        }
        if !self.ignored(&violation) {
            self.failure.get_or_insert(violation);
        }
    }

    /// `TORPOR_SIM_IGNORE` skips this violation.
    fn ignored(&self, violation: &str) -> bool {
        self.ignore.iter().any(|p| violation.contains(p.as_str()))
    }
}

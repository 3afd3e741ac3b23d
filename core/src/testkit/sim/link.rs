//! Runner links: one WebSocket per connection, a FIFO each way that may hold frames in flight,
//! and what happens to those frames when the connection dies.

use std::collections::VecDeque;

use super::Sim;
use super::runner::{ModelRunner, ProcId, Sender};
use crate::ids::RunnerConnId;
use crate::io::Input;
use crate::protocol::{
    ActorState, Event, ToClient, ToClientTunnelMessageKind as In, ToServer,
    ToServerTunnelMessageKind as Out,
};

/// One runner connection.
#[derive(Debug)]
pub(super) struct Link {
    /// The process at the runner end.
    pub(super) proc: ProcId,
    /// Gateway → runner frames in flight, in order.
    pub(super) down: VecDeque<ToClient>,
    /// Runner → gateway frames in flight, in order, with the actor instance that sent each.
    pub(super) up: VecDeque<(ToServer, Sender)>,
    /// The gateway closed it: what it sent before still reaches the runner, nothing the runner
    /// sends reaches the gateway.
    pub(super) closing: bool,
}

impl Sim {
    /// Frames in flight on every link.
    pub(super) fn in_flight(&self) -> usize {
        self.links.values().map(|l| l.down.len() + l.up.len()).sum()
    }

    /// Moves frames across the links, one at a time, in a random order of links and
    /// directions (each direction stays FIFO), until nothing is in flight or `limit` frames
    /// crossed. Model reactions join the queues behind what is already in flight.
    pub(super) fn deliver(&mut self, limit: Option<usize>) {
        let mut left = limit.unwrap_or(usize::MAX);
        let mut rounds = 0;
        let mut drop_after = std::mem::take(&mut self.drop_armed).then(|| {
            let in_flight = self.in_flight();
            self.rng.usize(0..=in_flight)
        });
        loop {
            if drop_after == Some(0) {
                drop_after = None;
                self.drop_link();
            }
            drop_after = drop_after.map(|n| n - 1);
            self.finish_closing_links();
            let ready: Vec<(RunnerConnId, bool)> = self
                .links
                .iter()
                .flat_map(|(c, l)| {
                    let down = (!l.down.is_empty()).then_some((*c, true));
                    let up = (!l.up.is_empty() && !l.closing).then_some((*c, false));
                    down.into_iter().chain(up)
                })
                .collect();
            if ready.is_empty() || left == 0 {
                if drop_after.is_some() {
                    self.drop_link();
                }
                break;
            }
            left -= 1;
            rounds += 1;
            assert!(rounds < 10_000_000, "delivery livelock");
            let (conn, down) = ready[self.rng.usize(0..ready.len())];
            if down {
                self.runner_reads(conn, 1);
            } else if let Some((msg, sender)) =
                self.links.get_mut(&conn).and_then(|l| l.up.pop_front())
            {
                self.gateway_receive(conn, msg, sender);
            }
        }
    }

    /// The runner end of `conn` reads `n` frames.
    pub(super) fn runner_reads(&mut self, conn: RunnerConnId, n: usize) {
        for _ in 0..n {
            let Some(link) = self.links.get_mut(&conn) else {
                return;
            };
            let proc = link.proc;
            let Some(msg) = link.down.pop_front() else {
                return;
            };
            self.runner_receive(proc, msg);
        }
    }

    /// A frame reaches the gateway, which must forward actor → client traffic for requests
    /// hosted on that runner (see `oracle::expect_forward`).
    pub(super) fn gateway_receive(&mut self, conn: RunnerConnId, msg: ToServer, sender: Sender) {
        if self.trace {
            eprintln!("{:?} {conn} → gw: {msg:?}", self.d.now);
        }
        let expected = match &msg {
            ToServer::TunnelMessage(t) => self.expect_forward(conn, t, sender),
            ToServer::Events(events) => {
                for e in events {
                    let running = matches!(&e.inner,
                        Event::ActorStateUpdate(u) if u.state == ActorState::Running);
                    if let (true, Some(actor)) =
                        (running, crate::ids::ActorId::parse(&e.checkpoint.actor_id))
                    {
                        self.running_since.insert(actor, self.d.now);
                    }
                }
                None
            }
            _ => None,
        };
        let out = self.d.runner_send(conn, &msg);
        self.observe(out);
        if let Some(client) = expected {
            self.check_forwarded(client);
        }
    }

    /// The runner writes a frame into `conn` (lost if the gateway stopped reading it).
    pub(super) fn runner_write(&mut self, conn: RunnerConnId, msg: ToServer, sender: Sender) {
        match self.links.get_mut(&conn) {
            Some(link) if !link.closing => link.up.push_back((msg, sender)),
            _ => self.lose_up(&msg),
        }
    }

    /// The gateway writes a frame into `conn` (lost if the connection is dead).
    pub(super) fn gateway_write(&mut self, conn: RunnerConnId, msg: ToClient) {
        match self.links.get_mut(&conn) {
            Some(link) => link.down.push_back(msg),
            None => self.lose_down(&msg),
        }
    }

    fn lose_down(&mut self, msg: &ToClient) {
        self.stats.frames_lost_to_runner += 1;
        if let ToClient::TunnelMessage(t) = msg {
            let rq = t.message_id.request_id;
            match &t.message_kind {
                In::WebSocketMessage(m) => {
                    self.lost_payloads
                        .entry(rq)
                        .or_default()
                        .insert(m.data.clone());
                }
                In::WebSocketClose(_) | In::RequestAbort => {
                    self.lost_control.insert(rq);
                }
                _ => {}
            }
        }
    }

    fn lose_up(&mut self, msg: &ToServer) {
        self.stats.frames_lost_to_gateway += 1;
        if let ToServer::TunnelMessage(t) = msg {
            if matches!(t.message_kind, Out::WebSocketClose(_)) {
                self.lost_control.insert(t.message_id.request_id);
            }
        }
    }

    /// The connection dies: what is still in flight either way is lost, and the process at
    /// the runner end notices it is disconnected.
    pub(super) fn cut(&mut self, conn: RunnerConnId) {
        let Some(link) = self.links.remove(&conn) else {
            return;
        };
        for msg in &link.down {
            self.lose_down(msg);
        }
        for (msg, _) in &link.up {
            self.lose_up(msg);
        }
        let now = self.d.now;
        if let Some(r) = self.procs.get_mut(&link.proc) {
            if r.conn == Some(conn) {
                r.conn = None;
                r.ready = false;
                r.disconnected_at = Some(now);
            }
        }
    }

    /// The gateway closed `conn`: frames it sent before still reach the runner, which then
    /// notices the close; nothing more it sends arrives.
    pub(super) fn gateway_closed_link(&mut self, conn: RunnerConnId) {
        if let Some(link) = self.links.get_mut(&conn) {
            link.closing = true;
            let lost: Vec<(ToServer, Sender)> = link.up.drain(..).collect();
            for (msg, _) in &lost {
                self.lose_up(msg);
            }
        }
        // A dead connection the gateway closed itself (ping timeout, session replaced) needs
        // no report from the adapter any more.
        self.undetected.remove(&conn);
        self.d.deaf.remove(&conn);
    }

    /// Closing links whose frames the runner has read: the runner notices the close.
    fn finish_closing_links(&mut self) {
        let done: Vec<RunnerConnId> = self
            .links
            .iter()
            .filter(|(_, l)| l.closing && l.down.is_empty())
            .map(|(c, _)| *c)
            .collect();
        for conn in done {
            self.cut(conn);
        }
    }

    /// Fault: a runner connection drops. The runner had read a random prefix of what the
    /// gateway sent and the gateway a random prefix of what the runner sent; the rest is lost.
    /// The process keeps its actors, sockets and event history and reconnects with its key,
    /// or (sometimes) dies and a new process with a new key connects instead. The gateway
    /// hears of it at once, or late: after the runner reconnected, or by its ping timeout.
    pub(super) fn drop_link(&mut self) {
        let live: Vec<RunnerConnId> = self
            .links
            .iter()
            .filter(|(_, l)| !l.closing)
            .map(|(c, _)| *c)
            .collect();
        if live.is_empty() {
            return;
        }
        let conn = live[self.rng.usize(0..live.len())];
        self.stats.runner_drops += 1;
        let proc = self.links[&conn].proc;
        let read = self.rng.usize(0..=self.links[&conn].down.len());
        self.runner_reads(conn, read);
        let arrived = self
            .links
            .get(&conn)
            .map_or(0, |l| self.rng.usize(0..=l.up.len()));
        for _ in 0..arrived {
            let Some((msg, sender)) = self.links.get_mut(&conn).and_then(|l| l.up.pop_front())
            else {
                break;
            };
            self.gateway_receive(conn, msg, sender);
        }
        self.cut(conn);
        self.report_or_delay(conn);
        if self.rng.f64() < self.params.replace_process {
            self.stats.process_replacements += 1;
            self.kill_proc(proc);
            self.connect_new_runner();
        }
    }

    /// The first of the world's pools that no runner process serves.
    pub(super) fn pool_without_runner(&self) -> Option<usize> {
        (0..self.pools.len()).find(|p| !self.procs.values().any(|r| r.pool == *p))
    }

    /// Fault: a runner process dies. What it wrote may still arrive; what the gateway sends
    /// after is lost.
    pub(super) fn crash_runner(&mut self) {
        let procs: Vec<ProcId> = self.procs.keys().copied().collect();
        if procs.is_empty() {
            return;
        }
        let proc = procs[self.rng.usize(0..procs.len())];
        self.stats.runner_crashes += 1;
        let conn = self.procs.get(&proc).and_then(|r| r.conn);
        self.kill_proc(proc);
        if let Some(conn) = conn {
            let arrived = self
                .links
                .get(&conn)
                .filter(|l| !l.closing)
                .map_or(0, |l| self.rng.usize(0..=l.up.len()));
            for _ in 0..arrived {
                let Some((msg, sender)) = self.links.get_mut(&conn).and_then(|l| l.up.pop_front())
                else {
                    break;
                };
                self.gateway_receive(conn, msg, sender);
            }
            self.cut(conn);
            self.report_or_delay(conn);
        }
    }

    /// Fault: a runner sends bytes that do not decode (the gateway closes it).
    pub(super) fn send_garbage(&mut self) {
        let live: Vec<RunnerConnId> = self
            .links
            .iter()
            .filter(|(_, l)| !l.closing)
            .map(|(c, _)| *c)
            .collect();
        if live.is_empty() {
            return;
        }
        let conn = live[self.rng.usize(0..live.len())];
        self.stats.garbage += 1;
        let out = self.d.step(Input::RunnerBytes {
            conn,
            bytes: vec![0xff, 0x13, 0x37],
        });
        self.observe(out);
    }

    /// The adapter reports the dead connection now, or (late detection) only some steps later:
    /// meanwhile the gateway keeps writing into it and its pings go unanswered.
    fn report_or_delay(&mut self, conn: RunnerConnId) {
        if !self.known_conns.contains(&conn) {
            return; // the gateway already dropped it
        }
        if !self.healing && self.rng.f64() < self.params.late_detect {
            self.stats.late_detections += 1;
            self.undetected.insert(conn);
            self.d.deaf.insert(conn);
        } else {
            self.report_closed(conn);
        }
    }

    /// The adapter reports `RunnerClosed`.
    pub(super) fn report_closed(&mut self, conn: RunnerConnId) {
        self.undetected.remove(&conn);
        self.d.deaf.remove(&conn);
        let out = self.d.step(Input::RunnerClosed { conn });
        self.observe(out);
    }

    /// A new runner process with a fresh key connects, to a pool no process serves (the first
    /// pool if every one has one).
    pub(super) fn connect_new_runner(&mut self) {
        self.next_key += 1;
        let proc = self.next_proc;
        self.next_proc += 1;
        let pool = self.pool_without_runner().unwrap_or(0);
        let runner = ModelRunner::new(format!("runner-{}", self.next_key), pool);
        self.procs.insert(proc, runner);
        self.attach(proc);
    }

    /// Connects process `proc` with its key (a new connection; its init goes first).
    pub(super) fn attach(&mut self, proc: ProcId) {
        let Some((key, pool)) = self.procs.get(&proc).map(|r| (r.key.clone(), r.pool)) else {
            return;
        };
        let pool = self.pools[pool];
        // Dead connections of this runner the gateway still holds: the new session replaces
        // them before the adapter reports them closed.
        let held: Vec<RunnerConnId> = self
            .undetected
            .iter()
            .filter(|c| self.d.gw.inspect().conn_is_open(**c))
            .copied()
            .collect();
        let (conn, out) = if pool.envoys {
            self.d.connect_envoy(&key, pool.name)
        } else {
            self.d.connect_runner(&key, pool.name, 8)
        };
        self.links.insert(
            conn,
            Link {
                proc,
                down: VecDeque::new(),
                up: VecDeque::new(),
                closing: false,
            },
        );
        if let Some(r) = self.procs.get_mut(&proc) {
            r.conn = Some(conn);
            r.ready = false;
        }
        self.known_conns.insert(conn);
        self.bound_at.insert(conn, self.d.now);
        self.observe(out);
        if held.iter().any(|c| !self.d.gw.inspect().conn_is_open(*c)) {
            self.stats.sessions_replaced += 1;
        }
    }
}

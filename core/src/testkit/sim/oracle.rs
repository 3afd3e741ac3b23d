//! What must hold: after every step (safety), at the moments a rule applies (a runner
//! connection drops, an ack timeout fires, an actor observes a close), and once faults heal
//! (liveness).

use std::time::Duration;

use super::Sim;
use super::clients::HttpPart;
use crate::actor::Phase;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::io::ClientFrame;
use crate::protocol::{
    Command, RequestId, ToClient, ToServerTunnelMessage, ToServerTunnelMessageKind as Out,
};

/// Liveness bound: half-second rounds after the faults heal. Long enough for every deadline a
/// fault may have left armed (a slow stop of up to 40 s, then a start).
const LIVENESS_ROUNDS: usize = 240;
const LIVENESS_ROUND: Duration = Duration::from_millis(500);

impl Sim {
    /// Before the gateway sees an actor → client frame from `conn`: the frame must reach the
    /// client iff the request is live and its actor's current allocation, hosted by that
    /// runner, sent it (guarantees 3 and 11; an instance the gateway gave up on, e.g. after its
    /// stop timed out, is not current). Returns the client that must get it.
    pub(super) fn expect_forward(
        &mut self,
        conn: RunnerConnId,
        t: &ToServerTunnelMessage,
        sender: super::runner::Sender,
    ) -> Option<ClientId> {
        if t.message_id.gateway_id != self.gateway_id {
            return None;
        }
        let gw = self.d.gw.inspect();
        let client = gw.client_of(t.message_id.request_id)?;
        let actor = gw.actor_of(client)?;
        let runner = gw.actor_phase(actor)?.runner();
        let generation = gw.actor_record(actor)?.generation;
        let hosted = runner.is_some() && runner == gw.runner_of_conn(conn);
        let current = sender.is_none_or(|(_, g)| g == generation);
        // A client that closed is gone, even while the gateway still delivers what it sent.
        let gone = self.ws.get(&client).is_some_and(|w| w.closed_by_client);
        if !hosted || !current || gone {
            return None;
        }
        let opening = gw
            .socket(client)
            .is_some_and(|ws| ws.phase == crate::tunnel::WsPhase::Opening);
        match &t.message_kind {
            Out::WebSocketOpen(open) => {
                if opening {
                    if let Some(w) = self.ws.get_mut(&client) {
                        w.opened = Some(open.can_hibernate);
                    }
                }
                None
            }
            // Forwardable once the gateway has the runner's answer to the open (an answer lost
            // on a dead link leaves the socket opening, and the gateway must close it).
            Out::WebSocketMessage(_) if self.ws.get(&client)?.opened.is_none() => None,
            Out::WebSocketMessage(m) => {
                let frame = if m.binary {
                    ClientFrame::Binary(m.data.clone())
                } else {
                    ClientFrame::Text(String::from_utf8_lossy(&m.data).into_owned())
                };
                self.ws.get_mut(&client)?.expect.push_back(frame);
                Some(client)
            }
            // A response part is forwardable only in order: a head first, chunks after a
            // streamed head (a head lost on a dead link leaves its chunks without a response).
            Out::ResponseStart(s) => {
                let h = self.http.get_mut(&client)?;
                if h.head.is_some() {
                    return None;
                }
                h.expect.push_back(HttpPart::Head {
                    status: s.status,
                    body: s.body.clone().unwrap_or_default(),
                    streaming: s.stream,
                });
                Some(client)
            }
            Out::ResponseChunk(ch) => {
                let h = self.http.get_mut(&client)?;
                if h.head.is_none_or(|(_, streaming)| !streaming) {
                    return None;
                }
                h.expect.push_back(HttpPart::Chunk {
                    data: ch.body.clone(),
                    finish: ch.finish,
                });
                Some(client)
            }
            _ => None,
        }
    }

    /// After the gateway handled a frame it had to forward: it did.
    pub(super) fn check_forwarded(&mut self, client: ClientId) {
        let dropped = self.ws.get(&client).is_some_and(|c| !c.expect.is_empty())
            || self.http.get(&client).is_some_and(|h| !h.expect.is_empty());
        if dropped {
            self.note(format!(
                "{client}: the gateway dropped a frame its actor sent while the client was connected"
            ));
        }
    }

    /// A start lists only open sockets of this incarnation.
    pub(super) fn check_starts(&mut self, msg: &ToClient) {
        let ToClient::Commands(cmds) = msg else {
            return;
        };
        for c in cmds {
            let Command::StartActor(start) = &c.inner else {
                continue;
            };
            if let Some(actor) = ActorId::parse(&c.checkpoint.actor_id) {
                self.owed_starts.remove(&actor);
                *self.starts_written.entry(actor).or_default() += 1;
            }
            for h in &start.hibernating_requests {
                let client = self.d.gw.inspect().client_of(h.request_id);
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
                    self.note(format!(
                        "a start of {} lists {:?}/{:?}: {why}",
                        c.checkpoint.actor_id, h.gateway_id, h.request_id
                    ));
                }
            }
        }
    }

    /// A start did not list `rq`, whose actor persisted it as open: fine unless the gateway
    /// still holds the socket (guarantee 6: every hibernating socket still connected is listed).
    pub(super) fn omitted_live_socket(&mut self, actor: ActorId, rq: RequestId) {
        let current = self
            .durable
            .get(&rq)
            .is_some_and(|d| d.gateway == self.gateway_id);
        if current && self.d.gw.inspect().client_of(rq).is_some() {
            self.note(format!(
                "a start of {actor} omitted {rq:?}, a socket the gateway still holds"
            ));
        }
    }

    /// The runner got an HTTP request: its body is the one the client sent.
    pub(super) fn check_request_body(&mut self, rq: RequestId, body: &[u8]) {
        let sent = self
            .by_request
            .get(&rq)
            .and_then(|c| self.http.get(c))
            .map(|h| h.body.clone());
        if let Some(sent) = sent {
            if sent != body {
                self.note(format!(
                    "{rq:?}: the runner got body {:?}, the client sent {:?}",
                    String::from_utf8_lossy(body),
                    String::from_utf8_lossy(&sent)
                ));
            }
        }
    }

    /// The actor observed the close of `rq` (`how`). If the client closed it, every message the
    /// client sent before must have reached the actor first, and for a hibernatable socket the
    /// close must follow the runner's acks of all of them (`unacked`: what it had acked and
    /// delivered when the close came).
    pub(super) fn observe_close(&mut self, rq: RequestId, how: &str, unacked: Option<(u16, u16)>) {
        let Some(d) = self.durable.get(&rq) else {
            return;
        };
        if d.gateway != self.gateway_id {
            return; // an earlier incarnation's socket: its client died with that gateway
        }
        let Some(&client) = self.by_request.get(&rq) else {
            return;
        };
        let Some(c) = self.ws.get(&client) else {
            return;
        };
        if !c.closed_by_client || c.closed_by_gateway.is_some() || c.dead {
            return;
        }
        if self.policy_closed.contains(&rq) {
            return; // the gateway closed it by a policy after the client left
        }
        let held_as = self.d.gw.inspect().request_of(client);
        if held_as.is_some_and(|held| held != rq) {
            return; // an open the gateway gave up on: it retries it under a new request id
        }
        let expected = self.expected_log_len(rq, client);
        let got = d.log.len();
        let mut violations = Vec::new();
        if let Some((acked, last)) = unacked {
            violations.push(format!(
                "{client}: its close reached the runner before the runner acked everything (acked {acked}, delivered {last})"
            ));
        }
        if got != expected {
            violations.push(format!(
                "{client}: its actor observed the close ({how}) having {got} of the {expected} messages the client sent before closing (at the close: {})",
                c.state_at_close
            ));
        }
        for v in violations {
            self.note(v);
        }
    }

    /// How many messages of `client` its actor must end up with: all of them for a
    /// hibernatable socket, all but those lost on dead links for another.
    fn expected_log_len(&self, rq: RequestId, client: ClientId) -> usize {
        let Some(c) = self.ws.get(&client) else {
            return 0;
        };
        let hibernatable = self.durable.get(&rq).is_none_or(|d| d.hibernatable);
        match self.lost_payloads.get(&rq) {
            Some(lost) if !hibernatable => c.sent.iter().filter(|p| !lost.contains(*p)).count(),
            _ => c.sent.len(),
        }
    }

    /// After every observed batch: a connection the gateway dropped from its state is checked
    /// against what it must do at that moment.
    pub(super) fn note_detections(&mut self) {
        let gone: Vec<RunnerConnId> = self
            .known_conns
            .iter()
            .filter(|c| !self.d.gw.inspect().conn_is_open(**c))
            .copied()
            .collect();
        for conn in gone {
            self.known_conns.remove(&conn);
            self.check_disconnect(conn);
        }
    }

    /// After every observed batch: a left client's socket the gateway dropped while it held
    /// frames queued or not seen acked, without forwarding the client's close, is a give-up
    /// only if the gateway counted it and made at least
    /// [`MAX_INTERRUPTED_ALLOCATIONS`] delivery attempts since the close (a start of its actor
    /// or an open of the socket: each interrupted allocation or dropped open follows one); it
    /// is then exempt from the progress check. Any other such drop stays a loss for the
    /// progress check to report.
    ///
    /// [`MAX_INTERRUPTED_ALLOCATIONS`]: crate::tunnel::MAX_INTERRUPTED_ALLOCATIONS
    pub(super) fn note_given_up(&mut self) {
        let counted = self.d.gw.metrics().ws_left_frames_given_up;
        let new_give_ups = counted.saturating_sub(self.given_up_seen);
        self.given_up_seen = counted;
        // Gone from the gateway without their close forwarded: a give-up, if one was counted.
        // (Whether the frames were in fact durable does not matter: an ack lost with the link
        // leaves the gateway unable to know.)
        let gone: Vec<ClientId> = self
            .left_held
            .iter()
            .copied()
            .filter(|client| self.d.gw.inspect().socket(*client).is_none())
            .filter(|client| {
                self.ws
                    .get(client)
                    .and_then(|c| c.request)
                    .is_none_or(|rq| !self.client_close_sent.contains(&rq))
            })
            .collect();
        if new_give_ups > 0 && gone.len() as u64 <= new_give_ups {
            for client in &gone {
                let Some(c) = self.ws.get(client) else {
                    continue;
                };
                let since_close = self
                    .delivery_attempts(*client)
                    .saturating_sub(c.attempts_at_close);
                if since_close < u32::from(crate::tunnel::MAX_INTERRUPTED_ALLOCATIONS) {
                    let v = format!(
                        "{client}: its frames were given up after {since_close} delivery attempts since it left"
                    );
                    self.note(v);
                }
                if let Some(c) = self.ws.get_mut(client) {
                    c.frames_given_up = true;
                }
            }
        }
        // Left clients whose sockets the gateway still holds with frames it has not seen
        // acked: the only ones it may give up.
        self.left_held = self
            .ws
            .iter()
            .filter(|(_, c)| {
                c.closed_by_client && c.closed_by_gateway.is_none() && !c.dead && !c.frames_given_up
            })
            .filter(|(client, _)| {
                self.d
                    .gw
                    .inspect()
                    .socket(**client)
                    .is_some_and(|ws| ws.queued_messages + ws.unacked_messages > 0)
            })
            .map(|(client, _)| *client)
            .collect();
    }

    /// Starts of `client`'s actor plus opens of its socket, written by the gateway so far.
    pub(super) fn delivery_attempts(&self, client: ClientId) -> u32 {
        self.ws.get(&client).map_or(0, |c| {
            c.opens_written + self.starts_written.get(&c.actor).copied().unwrap_or(0)
        })
    }

    /// The gateway just learnt that `conn` is gone (reported closed, replaced by a new session
    /// with the same key, its ping timed out, or closed by the gateway itself). Requests in
    /// flight on it fail at once: an HTTP response not started gets 502
    /// `torpor.runner_disconnected`, a streamed one is aborted, a socket still opening or not
    /// hibernatable gets 1011 `torpor.runner_disconnected`; hibernatable open sockets stay.
    pub(super) fn check_disconnect(&mut self, conn: RunnerConnId) {
        let batch = self.batch;
        let mut violations = Vec::new();
        for (client, c) in &self.ws {
            let Some(rq) = c.request else {
                continue;
            };
            let before = c.ended_in.is_some_and(|b| b != batch);
            if self.request_conn.get(&rq) != Some(&conn) || before || c.dead {
                continue;
            }
            let failed = c.closed_by_gateway.as_ref().is_some_and(|f| {
                f.code == 1011 && f.reason.starts_with("torpor.runner_disconnected")
            });
            match (c.opened, &c.closed_by_gateway) {
                (Some(true), Some(close)) => violations.push(format!(
                    "{client}: a hibernatable open socket was closed ({close:?}) when {conn} dropped"
                )),
                (Some(true), None) => {}
                (opened, close) if !failed => violations.push(format!(
                    "{client} (open answered: {opened:?}) was not closed with 1011 torpor.runner_disconnected when {conn} dropped (got {close:?})"
                )),
                _ => {}
            }
        }
        for (client, h) in &self.http {
            let Some(rq) = h.request else {
                continue;
            };
            let before = h.ended_in.is_some_and(|b| b != batch);
            if self.request_conn.get(&rq) != Some(&conn) || before || h.dead {
                continue;
            }
            let done = h.done.as_deref().unwrap_or("");
            let ok = match h.head {
                None => done.starts_with("torpor.runner_disconnected"),
                Some((_, true)) => done == "aborted",
                Some((_, false)) => true,
            };
            if !ok {
                violations.push(format!(
                    "{client}: HTTP request in flight on {conn} was not failed when it dropped (head {:?}, {:?}); expected 502 torpor.runner_disconnected or an abort",
                    h.head, h.done
                ));
            }
        }
        for v in violations {
            self.note(v);
        }
    }

    /// The gateway closed `client` with 1011 `torpor.ack_timeout`: only legal while the socket
    /// is attached to a Running actor on a connected runner, a full ack timeout after the last
    /// (re)send or re-attach (guarantee 5, RUNNER-PROTOCOL §17 #3).
    pub(super) fn check_ack_timeout(&mut self, client: ClientId) {
        let Some(c) = self.ws.get(&client) else {
            return;
        };
        let actor = c.actor;
        let phase = self.actor_phase(actor);
        let running = matches!(phase, Some(Phase::Running { .. }));
        let conn = phase
            .and_then(Phase::runner)
            .and_then(|r| self.d.gw.inspect().conn_of_runner(r));
        let connected = conn.is_some();
        let since = [
            Some(c.last_send),
            self.running_since.get(&actor).copied(),
            conn.and_then(|conn| self.bound_at.get(&conn).copied()),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.d.now);
        let waited = self.d.now.saturating_since(since);
        if !running || !connected {
            self.note(format!(
                "{client}: closed with torpor.ack_timeout while its actor is {phase:?} (runner connected: {connected})"
            ));
        } else if waited < self.config.ack_timeout {
            self.note(format!(
                "{client}: closed with torpor.ack_timeout {waited:?} after its last (re)send or re-attach"
            ));
        }
    }

    /// Safety, after every step.
    pub(super) fn check_safety(&mut self) -> Result<(), String> {
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        let checks = [
            self.check_logs(),
            self.check_memory(),
            self.check_pauses(),
            if self.in_flight() == 0 {
                self.check_ghosts()
            } else {
                Ok(())
            },
        ];
        for check in checks {
            if let Err(why) = check {
                if self.trace {
                    eprintln!("VIOLATION: {why}");
                }
                if !self.ignored(&why) {
                    return Err(why);
                }
            }
        }
        Ok(())
    }

    /// Client → actor: each socket's actor log is a prefix of what its client sent (for a
    /// non-hibernatable socket, minus what was lost on dead links): no duplicate, no reorder,
    /// nothing invented.
    fn check_logs(&mut self) -> Result<(), String> {
        let clients: Vec<ClientId> = self.ws.keys().copied().collect();
        for client in clients {
            let c = &self.ws[&client];
            let Some(rq) = c.request else {
                continue;
            };
            let Some(d) = self.durable.get(&rq) else {
                continue;
            };
            if d.gateway != self.gateway_id && !c.dead {
                continue; // a request id reused by a later incarnation
            }
            if d.hibernatable {
                let from = c.checked.min(d.log.len());
                let ok = d.log.len() <= c.sent.len() && d.log[from..] == c.sent[from..d.log.len()];
                if !ok {
                    let at = (from..d.log.len().min(c.sent.len()))
                        .find(|i| d.log[*i] != c.sent[*i])
                        .unwrap_or(d.log.len().min(c.sent.len()));
                    return Err(format!(
                        "{client}: its actor persisted {} messages, not a prefix of the {} sent (first difference at {at}: {:?})",
                        d.log.len(),
                        c.sent.len(),
                        d.log
                            .get(at)
                            .map(|p| String::from_utf8_lossy(p).into_owned())
                    ));
                }
                let n = d.log.len();
                if let Some(c) = self.ws.get_mut(&client) {
                    c.checked = n;
                }
            } else {
                let lost = self.lost_payloads.get(&rq);
                let kept: Vec<&Vec<u8>> = c
                    .sent
                    .iter()
                    .filter(|p| lost.is_none_or(|l| !l.contains(*p)))
                    .collect();
                let ok = d.log.len() <= kept.len() && d.log.iter().zip(&kept).all(|(a, b)| a == *b);
                if !ok {
                    return Err(format!(
                        "{client}: its actor received {:?}, not a prefix of what was sent and not lost {:?}",
                        d.log
                            .iter()
                            .map(|p| String::from_utf8_lossy(p))
                            .collect::<Vec<_>>(),
                        kept.iter()
                            .map(|p| String::from_utf8_lossy(p))
                            .collect::<Vec<_>>()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Windows, the budget and every queue stay bounded; no deadline lies in the past.
    fn check_memory(&self) -> Result<(), String> {
        crate::testkit::checks::memory_bounds(&self.d.gw, self.d.now, 64)?;
        if self.in_flight() > 100_000 {
            return Err(format!("{} frames in flight", self.in_flight()));
        }
        if self.pending_store.len() > 10_000 {
            return Err(format!(
                "{} store operations queued",
                self.pending_store.len()
            ));
        }
        Ok(())
    }

    /// A paused client is resumed as soon as neither its window nor the global budget is full
    /// (guarantee 2): no client stays paused with room on both.
    fn check_pauses(&self) -> Result<(), String> {
        for (client, c) in &self.ws {
            if c.paused && c.is_open() {
                if let Some(why) = crate::testkit::checks::paused_without_cause(&self.d.gw, *client)
                {
                    return Err(why);
                }
            }
        }
        Ok(())
    }

    /// With nothing in flight, a runner hosting a Running actor holds no socket or HTTP request
    /// of this incarnation the gateway forgot (unless the close or abort telling it was lost on
    /// a dead link): no ghost (guarantee 6, expected behaviour 5).
    fn check_ghosts(&self) -> Result<(), String> {
        let gw = self.d.gw.inspect();
        for r in self.procs.values() {
            let (Some(conn), true) = (r.conn, r.ready) else {
                continue;
            };
            let Some(idx) = gw.runner_of_conn(conn) else {
                continue;
            };
            for (actor, i) in &r.instances {
                let current = gw.actor_phase(*actor) == Some(Phase::Running { runner: idx })
                    && gw.actor_record(*actor).map(|r| r.generation) == Some(i.generation);
                if !current {
                    continue;
                }
                let sockets = i.sockets.iter().map(|(rq, a)| (*rq, a.gateway));
                let requests = i.http.iter().map(|(rq, j)| (*rq, j.gateway));
                for (rq, gateway) in sockets.chain(requests) {
                    let ghost = gateway == self.gateway_id
                        && gw.client_of(rq).is_none()
                        && !self.lost_control.contains(&rq);
                    if ghost {
                        return Err(format!(
                            "{rq:?}: the runner still holds it for running {actor}, but the gateway closed it and never told the runner"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// No more faults: the adapter notices every dead connection, every runner process
    /// reconnects, the store stops failing, and every open socket sends a last message and gets
    /// a last one from its actor. Within the bound every socket must have made that progress
    /// (paused ones resumed by the gateway itself), every request must be answered, and then
    /// the store must hold exactly the gateway's state.
    /// Healing: the adapter reports every dead connection and every runner process without
    /// one connects again (also one whose connection the gateway closed while frames to it
    /// were still on their way, which it only notices once it has read them).
    fn reattach_runners(&mut self) {
        let undetected: Vec<RunnerConnId> = self.undetected.iter().copied().collect();
        for conn in undetected {
            self.report_closed(conn);
        }
        let detached: Vec<u64> = self
            .procs
            .iter()
            .filter(|(_, r)| r.conn.is_none())
            .map(|(p, _)| *p)
            .collect();
        for proc in detached {
            self.attach(proc);
        }
        while self.pool_without_runner().is_some() {
            self.connect_new_runner();
        }
    }

    pub(super) fn liveness(&mut self) -> Result<(), String> {
        self.healing = true;
        for round in 0..=LIVENESS_ROUNDS {
            self.reattach_runners();
            self.complete_store(false);
            self.finish_due_stops();
            let ready: Vec<ClientId> = self
                .ws
                .iter()
                .filter(|(_, c)| c.is_open() && !c.paused && !c.final_sent)
                .map(|(id, _)| *id)
                .collect();
            for client in ready {
                if let Some(c) = self.ws.get_mut(&client) {
                    c.final_sent = true;
                }
                self.send_from(client);
            }
            self.nudge_sleepers(round);
            self.actor_work(true);
            self.final_replies();
            self.deliver(None);
            self.complete_store(false);
            self.check_safety()?;
            // Ignored gaps still get the whole bound to close: only the verdict skips them.
            if self.progress_gaps().is_empty() {
                break;
            }
            if round < LIVENESS_ROUNDS {
                self.advance(LIVENESS_ROUND);
            }
        }
        if let Some(gap) = self.progress_gap() {
            return Err(format!(
                "{gap} ({:?} after the faults healed)",
                LIVENESS_ROUND * LIVENESS_ROUNDS as u32
            ));
        }
        // The runners' periodic command acks: instances the gateway does not own stop.
        let procs: Vec<u64> = self.procs.keys().copied().collect();
        for proc in procs {
            self.send_ack_commands(proc);
        }
        self.deliver(None);
        self.check_safety()?;
        for check in [self.check_strays(), self.check_store()] {
            if let Err(why) = check {
                if !self.ignored(&why) {
                    return Err(why);
                }
            }
        }
        Ok(())
    }

    /// A client still waiting for its actor's last message while no runner holds its socket
    /// (the actor went to sleep after persisting everything) sends again now and then, which
    /// wakes the actor, as a client waiting for an answer does.
    fn nudge_sleepers(&mut self, round: usize) {
        if round % 8 != 7 {
            return;
        }
        let held: std::collections::BTreeSet<RequestId> = self
            .procs
            .values()
            .flat_map(|r| r.instances.values())
            .flat_map(|i| i.sockets.keys().copied())
            .collect();
        let waiting: Vec<ClientId> = self
            .ws
            .iter()
            .filter(|(_, c)| {
                c.is_open()
                    && c.final_sent
                    && !c.final_reply_sent
                    && !c.paused
                    && c.nudges < 4
                    && c.request.is_some_and(|rq| !held.contains(&rq))
            })
            .map(|(id, _)| *id)
            .collect();
        for client in waiting {
            if let Some(c) = self.ws.get_mut(&client) {
                c.nudges += 1;
            }
            self.send_from(client);
        }
    }

    /// Each actor sends one last message to each open client whose last message it has.
    fn final_replies(&mut self) {
        for (proc, actor) in self.instances() {
            let sockets: Vec<(RequestId, crate::protocol::GatewayId)> = self.procs[&proc].instances
                [&actor]
                .sockets
                .iter()
                .map(|(rq, a)| (*rq, a.gateway))
                .collect();
            for (rq, gateway) in sockets {
                let Some(&client) = self.by_request.get(&rq) else {
                    continue;
                };
                let due = self
                    .ws
                    .get(&client)
                    .is_some_and(|c| c.is_open() && c.final_sent && !c.final_reply_sent)
                    && gateway == self.gateway_id
                    && self.durable.get(&rq).map(|d| d.log.len())
                        == Some(self.expected_log_len(rq, client));
                if due {
                    if let Some(c) = self.ws.get_mut(&client) {
                        c.final_reply_sent = true;
                    }
                    self.actor_message(proc, actor, gateway, rq, Some(format!("final:{rq:?}")));
                }
            }
        }
    }

    /// The first thing still owed once faults healed, if any (skipping what
    /// `TORPOR_SIM_IGNORE` ignores).
    pub(super) fn progress_gap(&self) -> Option<String> {
        self.progress_gaps().into_iter().find(|g| !self.ignored(g))
    }

    /// Everything still owed once faults healed: at most one thing per socket, in order.
    fn progress_gaps(&self) -> Vec<String> {
        let mut gaps = Vec::new();
        for (client, c) in &self.ws {
            let Some(rq) = c.request else {
                continue;
            };
            let log = self.durable.get(&rq).map_or(0, |d| d.log.len());
            let want = self.expected_log_len(rq, *client);
            if c.is_open() {
                let state = || self.socket_state(*client, rq);
                if c.paused {
                    gaps.push(format!(
                        "{client} is still paused; {}; held per socket: {}",
                        state(),
                        self.held_by_socket()
                    ));
                    continue;
                }
                if log != want {
                    gaps.push(format!(
                        "{client}: {want} messages sent, its actor has {log}; {}",
                        state()
                    ));
                    continue;
                }
                if !c.final_reply_received {
                    gaps.push(format!(
                        "{client} never got its actor's last message; {}",
                        state()
                    ));
                    continue;
                }
            } else if c.closed_by_client
                && c.closed_by_gateway.is_none()
                && !c.dead
                && !c.frames_given_up
            {
                let Some(d) = self
                    .durable
                    .get(&rq)
                    .filter(|d| d.gateway == self.gateway_id)
                else {
                    continue; // the runner never saw it
                };
                if d.ended_locally || d.closed_by_gateway || self.policy_closed.contains(&rq) {
                    // Its actor stopped first (a non-hibernatable socket ends there), or the
                    // gateway closed it by a policy after the client left.
                    continue;
                }
                if log != want {
                    gaps.push(format!(
                        "{client} closed after sending {want} messages ({}); its actor has {log}; {}",
                        c.state_at_close,
                        self.socket_state(*client, rq)
                    ));
                    continue;
                }
                if self.d.gw.inspect().client_of(rq).is_some() {
                    gaps.push(format!(
                        "{client} closed, but the gateway still holds its socket; {}",
                        self.socket_state(*client, rq)
                    ));
                    continue;
                }
                let must_observe = !d.hibernatable || self.config.wake_on_close;
                if must_observe && !d.closed && !self.lost_control.contains(&rq) {
                    gaps.push(format!(
                        "{client} closed, but its actor never observed the close; {}",
                        self.socket_state(*client, rq)
                    ));
                    continue;
                }
            }
        }
        for (client, h) in self
            .http
            .iter()
            .filter(|(_, h)| h.done.is_none() && !h.dead)
        {
            gaps.push(format!(
                "{client}: HTTP request to {} never answered (head {:?})",
                h.actor, h.head
            ));
        }
        for actor in &self.owed_starts {
            gaps.push(format!(
                "{actor} was never started again after a client closed a hibernating socket of it (wake_on_close); phase {:?}",
                self.actor_phase(*actor)
            ));
        }
        if self.in_flight() > 0 {
            gaps.push(format!("{} frames still in flight", self.in_flight()));
        }
        gaps
    }

    /// Bytes each socket holds at the gateway (queued + un-acked), for failure messages.
    fn held_by_socket(&self) -> String {
        let gw = self.d.gw.inspect();
        let mut parts: Vec<String> = gw
            .clients()
            .filter_map(|id| match gw.socket(id) {
                Some(ws) if ws.queued_bytes + ws.unacked_bytes > 0 => Some(format!(
                    "{id} {:?} {}+{} (actor {:?})",
                    ws.phase,
                    ws.queued_bytes,
                    ws.unacked_bytes,
                    self.actor_phase(ws.actor).map(|p| p.name())
                )),
                _ => None,
            })
            .collect();
        parts.sort();
        parts.join(", ")
    }

    /// The gateway's and the runner's view of one socket, for failure messages.
    fn socket_state(&self, client: ClientId, rq: RequestId) -> String {
        let view = self.d.gw.inspect();
        let gw = view.actor_of(client).map(|_| match view.socket(client) {
            Some(ws) => format!(
                "{:?} queued {} pending {} paused {} next index {}; actor {:?}",
                ws.phase,
                ws.queued_messages,
                ws.unacked_messages,
                ws.paused,
                ws.next_index,
                self.actor_phase(ws.actor)
            ),
            None => "http".into(),
        });
        let runner = self.procs.iter().find_map(|(p, r)| {
            r.instances.iter().find_map(|(actor, i)| {
                i.sockets.get(&rq).map(|a| {
                    format!(
                        "proc {p} {actor} generation {}: last {} acked {} handled {}",
                        i.generation,
                        a.last,
                        a.acked,
                        a.handled.len()
                    )
                })
            })
        });
        format!(
            "{rq:?} at the gateway: {gw:?}, holding {} of {} bytes; runner adapter: {runner:?}; durable (persisted, closed): {:?}",
            self.d.gw.held_bytes(),
            self.config.pending_budget_bytes,
            self.durable.get(&rq).map(|d| (d.persisted, d.closed))
        )
    }

    /// After the runners' command acks: every actor instance on a connected runner is one the
    /// gateway allocated there (or is stopping as asked).
    pub(super) fn check_strays(&self) -> Result<(), String> {
        let gw = self.d.gw.inspect();
        for r in self.procs.values() {
            let Some(idx) = r.conn.and_then(|c| gw.runner_of_conn(c)) else {
                continue;
            };
            for (actor, i) in &r.instances {
                let generation = gw.actor_record(*actor).map(|r| r.generation);
                let owned = gw.actor_phase(*actor).and_then(Phase::runner) == Some(idx)
                    && generation == Some(i.generation);
                if !owned && i.stop_due.is_none() {
                    return Err(format!(
                        "{actor} generation {} still runs on {} after its command acks; the gateway has it {:?} generation {:?}",
                        i.generation,
                        r.key,
                        self.actor_phase(*actor),
                        generation
                    ));
                }
            }
        }
        Ok(())
    }
}

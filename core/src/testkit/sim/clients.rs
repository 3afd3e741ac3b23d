//! Model clients (WebSockets and HTTP requests) and how the world applies the gateway's outputs.

use std::collections::VecDeque;

use super::Sim;
use super::runner::is_client_close;
use crate::actor::Phase;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::{RequestId, ToClient, ToClientTunnelMessageKind as In};
use crate::time::Instant;
use crate::tunnel::WsPhase;

/// A client WebSocket.
#[derive(Debug)]
pub(super) struct WsClient {
    pub(super) actor: ActorId,
    /// Its request id at the gateway (`None`: refused at the door).
    pub(super) request: Option<RequestId>,
    /// Payloads sent, in order.
    pub(super) sent: Vec<Vec<u8>>,
    pub(super) seq: u64,
    /// Reads paused by the gateway.
    pub(super) paused: bool,
    /// The client closed its side.
    pub(super) closed_by_client: bool,
    /// The gateway closed it, with this frame.
    pub(super) closed_by_gateway: Option<CloseFrame>,
    /// The output batch in which it ended (either side).
    pub(super) ended_in: Option<u64>,
    /// It died with a gateway incarnation.
    pub(super) dead: bool,
    /// The gateway received the runner's answer to its open, with `canHibernate`.
    pub(super) opened: Option<bool>,
    /// Actor → client frames the gateway must still forward, in order.
    pub(super) expect: VecDeque<ClientFrame>,
    /// How much of its actor's log the oracles checked already.
    pub(super) checked: usize,
    /// The last time a message of it went out (or was resent) to a runner.
    pub(super) last_send: Instant,
    /// Liveness: its last message was sent.
    pub(super) final_sent: bool,
    /// Liveness: its actor's last message to it was sent / received.
    pub(super) final_reply_sent: bool,
    pub(super) final_reply_received: bool,
    /// Liveness: messages it sent to wake an actor that went to sleep before answering.
    pub(super) nudges: u32,
    /// The gateway's view of the socket when the client closed it (for failure messages).
    pub(super) state_at_close: String,
    /// Opens the gateway wrote for it (under any of its request ids).
    pub(super) opens_written: u32,
    /// Delivery attempts (starts of its actor plus its own opens) the gateway had written when
    /// the client closed it.
    pub(super) attempts_at_close: u32,
    /// The gateway gave up the frames it still owed the actor after the client left (counted
    /// in `ws_left_frames_given_up`), after enough interrupted allocations.
    pub(super) frames_given_up: bool,
}

impl WsClient {
    /// Connected, and neither side closed it.
    pub(super) fn is_open(&self) -> bool {
        self.request.is_some()
            && !self.closed_by_client
            && self.closed_by_gateway.is_none()
            && !self.dead
    }
}

/// One part of an HTTP response as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HttpPart {
    Head {
        status: u16,
        body: Vec<u8>,
        streaming: bool,
    },
    Chunk {
        data: Vec<u8>,
        finish: bool,
    },
}

/// An HTTP request in flight.
#[derive(Debug)]
pub(super) struct HttpClient {
    pub(super) actor: ActorId,
    pub(super) request: Option<RequestId>,
    pub(super) body: Vec<u8>,
    /// Status and whether it streams, once the head arrived.
    pub(super) head: Option<(u16, bool)>,
    /// Response parts from the actor the gateway must still forward, in order.
    pub(super) expect: VecDeque<HttpPart>,
    /// How it ended, once it did.
    pub(super) done: Option<String>,
    pub(super) ended_in: Option<u64>,
    pub(super) dead: bool,
}

impl Sim {
    pub(super) fn open_clients(&mut self, actor: ActorId, n: usize) {
        for _ in 0..n {
            let (client, out) = self.d.open_websocket(actor, "/ws");
            let request = self.d.gw.inspect().request_of(client);
            if let Some(rq) = request {
                self.by_request.insert(rq, client);
            }
            self.ws.insert(
                client,
                WsClient {
                    actor,
                    request,
                    sent: Vec::new(),
                    seq: 0,
                    paused: false,
                    closed_by_client: false,
                    closed_by_gateway: None,
                    ended_in: None,
                    dead: false,
                    opened: None,
                    expect: VecDeque::new(),
                    checked: 0,
                    last_send: self.d.now,
                    final_sent: false,
                    final_reply_sent: false,
                    final_reply_received: false,
                    nudges: 0,
                    state_at_close: String::new(),
                    opens_written: 0,
                    attempts_at_close: 0,
                    frames_given_up: false,
                },
            );
            self.observe(out);
        }
    }

    fn open_ws_clients(&self) -> Vec<ClientId> {
        self.ws
            .iter()
            .filter(|(_, c)| c.is_open())
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn client_send(&mut self) {
        let open: Vec<ClientId> = self
            .ws
            .iter()
            .filter(|(_, c)| c.is_open() && !c.paused)
            .map(|(id, _)| *id)
            .collect();
        if open.is_empty() {
            return;
        }
        let client = open[self.rng.usize(0..open.len())];
        // Clients send in short bursts, so windows fill (and pause reads) in ordinary traffic.
        for _ in 0..1 + self.rng.usize(0..3) {
            if self
                .ws
                .get(&client)
                .is_none_or(|c| !c.is_open() || c.paused)
            {
                break;
            }
            self.send_from(client);
        }
    }

    pub(super) fn send_from(&mut self, client: ClientId) {
        let Some(c) = self.ws.get_mut(&client) else {
            return;
        };
        c.seq += 1;
        let payload = format!("{client}/{}", c.seq).into_bytes();
        c.sent.push(payload.clone());
        if self.trace {
            eprintln!(
                "{:?} {client} sends {}",
                self.d.now,
                String::from_utf8_lossy(&payload)
            );
        }
        let out = self.d.step(Input::ClientMessage {
            client,
            frame: ClientFrame::Binary(payload),
        });
        self.observe(out);
    }

    pub(super) fn client_close(&mut self) {
        let open = self.open_ws_clients();
        if !open.is_empty() {
            let client = open[self.rng.usize(0..open.len())];
            self.close_client(client);
        }
    }

    /// The client closes (with a close frame, or its stream just ends).
    pub(super) fn close_client(&mut self, client: ClientId) {
        let Some(c) = self.ws.get_mut(&client) else {
            return;
        };
        c.closed_by_client = true;
        let actor = c.actor;
        // A client leaving a hibernating socket of an actor that sleeps or stops owes that
        // actor a start (`wake_on_close`, also while stopping).
        let hibernating = self.ws_phase(client) == Some(WsPhase::Hibernating);
        let asleep = matches!(
            self.actor_phase(actor),
            Some(Phase::Sleeping | Phase::Placing | Phase::Stopping { .. })
        );
        if self.config.wake_on_close && hibernating && asleep {
            self.owed_starts.insert(actor);
        }
        let state = match self.d.gw.inspect().socket(client) {
            Some(ws) => format!(
                "{:?}, {} queued, {} un-acked, actor {:?}",
                ws.phase,
                ws.queued_messages,
                ws.unacked_messages,
                self.actor_phase(actor).map(Phase::name)
            ),
            None => "gone".into(),
        };
        let attempts = self.delivery_attempts(client);
        if let Some(c) = self.ws.get_mut(&client) {
            c.state_at_close = state;
            c.attempts_at_close = attempts;
        }
        let close = self.rng.bool().then(|| CloseFrame::new(4000, "client.bye"));
        if self.trace {
            eprintln!("{:?} {client} closes: {close:?}", self.d.now);
        }
        let out = self.d.step(Input::ClientClosed { client, close });
        if let Some(c) = self.ws.get_mut(&client) {
            c.ended_in.get_or_insert(self.batch + 1);
        }
        self.observe(out);
    }

    /// Fault: a client sends a few messages (or until its window is full) and closes at once,
    /// at whatever phase its actor is in; the phase is picked first so each is reached often.
    pub(super) fn send_then_close(&mut self) {
        let target = self.rng.usize(0..4);
        let open = self.open_ws_clients();
        let matching: Vec<ClientId> = open
            .iter()
            .copied()
            .filter(|c| self.close_phase(*c) == Some(target))
            .collect();
        let pool = if matching.is_empty() {
            &open
        } else {
            &matching
        };
        if pool.is_empty() {
            return;
        }
        let client = pool[self.rng.usize(0..pool.len())];
        // The phase the sends start in (a send may wake a sleeping actor right away).
        let phase = self.close_phase(client);
        let fill = phase == Some(2);
        let n = if fill {
            self.config.socket_window_messages + 2
        } else {
            1 + self.rng.usize(0..3)
        };
        for _ in 0..n {
            if self
                .ws
                .get(&client)
                .is_none_or(|c| !c.is_open() || c.paused)
            {
                break;
            }
            self.send_from(client);
        }
        let full = self.ws.get(&client).is_some_and(|c| c.paused)
            || self.pending_len(client) >= self.config.socket_window_messages;
        match (phase, full) {
            (Some(0), _) => self.stats.close_sleeping += 1,
            (Some(1), _) => self.stats.close_starting += 1,
            (Some(2), true) => self.stats.close_running_full += 1,
            (Some(3), _) => self.stats.close_stopping += 1,
            _ => {}
        }
        if self.ws.get(&client).is_some_and(WsClient::is_open) {
            self.close_client(client);
        }
    }

    /// 0: its socket hibernates and its actor sleeps; 1: its actor starts; 2: its actor runs;
    /// 3: its actor stops.
    fn close_phase(&self, client: ClientId) -> Option<usize> {
        let actor = self.ws.get(&client)?.actor;
        match self.actor_phase(actor)? {
            Phase::Sleeping => (self.ws_phase(client) == Some(WsPhase::Hibernating)).then_some(0),
            Phase::Placing | Phase::Starting { .. } => Some(1),
            Phase::Running { .. } => Some(2),
            Phase::Stopping { .. } => Some(3),
        }
    }

    fn pending_len(&self, client: ClientId) -> usize {
        self.d
            .gw
            .inspect()
            .socket(client)
            .map_or(0, |ws| ws.unacked_messages)
    }

    /// Fault: the adapter reports a client that does not read.
    pub(super) fn slow_client(&mut self) {
        let open = self.open_ws_clients();
        if !open.is_empty() {
            let client = open[self.rng.usize(0..open.len())];
            self.stats.slow_clients += 1;
            let out = self.d.step(Input::ClientOutboundFull { client });
            self.observe(out);
        }
    }

    /// An HTTP request with a body to a random actor.
    pub(super) fn http_request(&mut self) {
        if self.actors.is_empty() {
            return;
        }
        let actor = self.actors[self.rng.usize(0..self.actors.len())];
        self.next_body += 1;
        let len = self.rng.usize(0..48);
        let mut body = format!("b{}:", self.next_body).into_bytes();
        body.extend((0..len).map(|i| b'a' + (i % 26) as u8));
        let client = ClientId::new(self.d.fresh());
        self.http.insert(
            client,
            HttpClient {
                actor,
                request: None,
                body: body.clone(),
                head: None,
                expect: VecDeque::new(),
                done: None,
                ended_in: None,
                dead: false,
            },
        );
        self.stats.http_requests += 1;
        let out = self.d.step(Input::HttpRequest {
            client,
            actor: actor.to_string(),
            method: "POST".into(),
            path: "/echo".into(),
            headers: Default::default(),
            body,
        });
        let request = self.d.gw.inspect().request_of(client);
        if let Some(rq) = request {
            self.by_request.insert(rq, client);
        }
        if let Some(h) = self.http.get_mut(&client) {
            h.request = request;
        }
        self.observe(out);
    }

    /// Fault (some worlds): one attached socket sends `n` messages in a row, its actor
    /// persisting and acking as they come, so its message index wraps past 65,535. `Ok(false)`
    /// if no socket is attached to a running actor now.
    pub(super) fn burst(&mut self, n: usize) -> Result<bool, String> {
        let attached: Vec<ClientId> = self
            .open_ws_clients()
            .into_iter()
            .filter(|c| {
                let actor = self.ws[c].actor;
                self.ws[c].opened == Some(true)
                    && self.ws_phase(*c) == Some(WsPhase::Open)
                    && self.d.gw.inspect().actor_ready(actor)
            })
            .collect();
        if attached.is_empty() {
            return Ok(false);
        }
        let client = attached[self.rng.usize(0..attached.len())];
        // The burst is the costly part of the run: the driver's per-step invariant sweep
        // runs once per thousand messages here instead of after every one.
        self.d.check = false;
        let mut sent = 0;
        let mut stalls = 0;
        while sent < n && self.ws.get(&client).is_some_and(WsClient::is_open) {
            if self.ws[&client].paused {
                self.actor_work(true);
                self.deliver(None);
                stalls += 1;
                if stalls > 1000 {
                    break; // the oracles below tell whether it is stuck
                }
                continue;
            }
            stalls = 0;
            self.send_from(client);
            sent += 1;
            if sent % 1000 == 0 {
                self.d.check = true;
                self.d.gw.check_invariants()?;
                self.check_safety()?;
                self.d.check = false;
            }
            if sent % 16 == 0 {
                self.actor_work(true);
                self.deliver(None);
            }
        }
        self.d.check = true;
        self.actor_work(true);
        self.deliver(None);
        self.d.gw.check_invariants()?;
        Ok(true)
    }

    /// Applies the gateway's outputs to the model world.
    pub(super) fn observe(&mut self, out: Vec<Output>) {
        self.batch += 1;
        for o in out {
            if self.trace && !matches!(o, Output::SendRunner { .. }) {
                eprintln!("{:?} gw: {o:?}", self.d.now);
            }
            match o {
                Output::PauseClientReads { client }
                | Output::ResumeClientReads { client }
                | Output::CloseClient { client, .. }
                | Output::SendClient { client, .. }
                    if self.ws.get(&client).is_some_and(|c| c.closed_by_client) =>
                {
                    self.note(format!("{client}: {o:?} after the client's own close"));
                }
                Output::SendRunner { conn, bytes } => {
                    // An envoy frame with no v7 counterpart concerns no model.
                    let Some(msg) = self.d.decode_sent(conn, &bytes) else {
                        continue;
                    };
                    if matches!(msg, ToClient::Ping(_)) {
                        continue;
                    }
                    self.check_starts(&msg);
                    self.note_sent(conn, &msg);
                    self.gateway_write(conn, msg);
                }
                Output::CloseRunner { conn, .. } => self.gateway_closed_link(conn),
                Output::PauseClientReads { client } => self.on_pause(client, true),
                Output::ResumeClientReads { client } => self.on_pause(client, false),
                Output::CloseClient { client, close } => self.on_close_client(client, close),
                Output::RejectClient { client, .. } => {
                    self.closed_clients.insert(client);
                }
                Output::SendClient { client, frame } => self.on_send_client(client, frame),
                Output::HttpResponse {
                    client,
                    status,
                    body,
                    streaming,
                    ..
                } => self.on_http_part(
                    client,
                    HttpPart::Head {
                        status,
                        body,
                        streaming,
                    },
                ),
                Output::HttpBodyChunk {
                    client,
                    data,
                    finish,
                } => self.on_http_part(client, HttpPart::Chunk { data, finish }),
                Output::HttpAbort { client } => self.on_http_abort(client),
                Output::Store { op, request } => self.on_store_request(op, request),
                Output::AcceptRunner { .. }
                | Output::RejectRunner { .. }
                | Output::AcceptClient { .. }
                | Output::AdminReply { .. } => {}
            }
        }
        self.note_detections();
        self.note_given_up();
    }

    /// Remembers which connection a request's latest frame took, when each socket last had a
    /// message (re)sent, and index wraps.
    fn note_sent(&mut self, conn: RunnerConnId, msg: &ToClient) {
        let ToClient::TunnelMessage(t) = msg else {
            return;
        };
        if t.message_id.gateway_id != self.gateway_id {
            return;
        }
        let rq = t.message_id.request_id;
        self.request_conn.insert(rq, conn);
        match &t.message_kind {
            In::WebSocketOpen(_) => {
                if !self.by_request.contains_key(&rq) {
                    self.follow_reopen(rq);
                }
                if let Some(c) = self.by_request.get(&rq).and_then(|c| self.ws.get_mut(c)) {
                    c.opens_written += 1;
                }
            }
            In::WebSocketClose(c) if !is_client_close(c.code, c.reason.as_deref()) => {
                self.policy_closed.insert(rq);
            }
            In::WebSocketClose(_) => {
                self.client_close_sent.insert(rq);
            }
            _ => {}
        }
        if let In::WebSocketMessage(_) = t.message_kind {
            let now = self.d.now;
            if let Some(c) = self.by_request.get(&rq).and_then(|c| self.ws.get_mut(c)) {
                c.last_send = now;
                if t.message_id.message_index == 0 && c.sent.len() > 65_000 {
                    self.stats.index_wraps += 1;
                }
            }
        }
    }

    /// An open under a request id never seen: the socket of a client that left, whose first
    /// open its actor's allocation ended under, retried with a fresh id. Its client's
    /// messages are owed under the new id from now on.
    fn follow_reopen(&mut self, rq: RequestId) {
        let Some(client) = self.d.gw.inspect().client_of(rq) else {
            return;
        };
        let Some(c) = self.ws.get_mut(&client) else {
            return;
        };
        if let Some(old) = c.request.replace(rq) {
            self.by_request.remove(&old);
        }
        self.by_request.insert(rq, client);
    }

    fn on_pause(&mut self, client: ClientId, paused: bool) {
        let over = self.d.gw.held_bytes() > self.config.pending_budget_bytes;
        let Some(c) = self.ws.get_mut(&client) else {
            return;
        };
        if c.paused == paused {
            let what = if paused { "paused" } else { "resumed" };
            let violation = format!("{client}: {what} twice in a row");
            self.note(violation);
            return;
        }
        c.paused = paused;
        if paused {
            self.stats.pauses += 1;
            self.stats.budget_pauses += u64::from(over);
        } else {
            self.stats.resumes += 1;
        }
    }

    fn on_close_client(&mut self, client: ClientId, close: CloseFrame) {
        let batch = self.batch;
        let already = !self.closed_clients.insert(client);
        if close.reason.is_empty() {
            self.note(format!(
                "{client}: closed with {} and no reason",
                close.code
            ));
        }
        let Some(c) = self.ws.get_mut(&client) else {
            self.note(format!(
                "{client}: a WebSocket close for a non-WebSocket client"
            ));
            return;
        };
        let twice = already || c.closed_by_gateway.is_some();
        let ack_timeout = close.reason == "torpor.ack_timeout";
        let violation = format!("{client}: closed twice ({close:?})");
        c.closed_by_gateway = Some(close);
        c.ended_in.get_or_insert(batch);
        if twice {
            self.note(violation);
        }
        if ack_timeout {
            self.check_ack_timeout(client);
        }
    }

    fn on_send_client(&mut self, client: ClientId, frame: ClientFrame) {
        if self.closed_clients.contains(&client) {
            self.note(format!("{client}: a frame after its close"));
        }
        let Some(c) = self.ws.get_mut(&client) else {
            self.note(format!(
                "{client}: a WebSocket frame for a non-WebSocket client"
            ));
            return;
        };
        match c.expect.pop_front() {
            Some(want) if want == frame => {
                self.stats.actor_messages += 1;
                if let ClientFrame::Binary(data) = &frame {
                    if data.starts_with(b"final:") {
                        c.final_reply_received = true;
                    }
                }
            }
            want => {
                let violation = format!(
                    "{client}: received {frame:?} from the actor, expected {want:?} (a duplicate, a reorder or a frame nobody sent)"
                );
                self.note(violation);
            }
        }
    }

    fn on_http_part(&mut self, client: ClientId, part: HttpPart) {
        let batch = self.batch;
        let Some(h) = self.http.get_mut(&client) else {
            self.note(format!("{client}: an HTTP response for a non-HTTP client"));
            return;
        };
        if let Some(done) = &h.done {
            let violation = format!("{client}: {part:?} after its response ended ({done})");
            self.note(violation);
            return;
        }
        if h.expect.front() == Some(&part) {
            h.expect.pop_front();
            match part {
                HttpPart::Head {
                    status, streaming, ..
                } => {
                    h.head = Some((status, streaming));
                    if !streaming {
                        h.done = Some(format!("{status} from the actor"));
                        h.ended_in = Some(batch);
                    }
                }
                HttpPart::Chunk { finish, .. } => {
                    if finish {
                        h.done = Some("streamed to the end".into());
                        h.ended_in = Some(batch);
                    }
                }
            }
            return;
        }
        // Anything else must be the gateway's own error response, with a named reason.
        let named = match &part {
            HttpPart::Head {
                status,
                body,
                streaming: false,
            } if *status >= 500 && h.head.is_none() => {
                // The engine's error shape: `{"group", "code", "message"}`.
                serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| Some(format!("{}.{}", v["group"].as_str()?, v["code"].as_str()?)))
                    .filter(|name| name.starts_with("torpor.") || name.starts_with("actor."))
            }
            _ => None,
        };
        match named {
            Some(text) => {
                if text.starts_with("torpor.runner_disconnected") {
                    self.stats.http_runner_disconnected += 1;
                }
                h.done = Some(text);
                h.ended_in = Some(batch);
            }
            None => {
                let violation = format!(
                    "{client}: got {part:?}, expected {:?} from the actor or a named error",
                    h.expect.front()
                );
                self.note(violation);
            }
        }
    }

    fn on_http_abort(&mut self, client: ClientId) {
        let batch = self.batch;
        let Some(h) = self.http.get_mut(&client) else {
            self.note(format!("{client}: an HTTP abort for a non-HTTP client"));
            return;
        };
        if h.done.is_some() || h.head.is_none_or(|(_, streaming)| !streaming) {
            let violation = format!(
                "{client}: aborted, but its response {:?} / {:?} was not streaming",
                h.head, h.done
            );
            self.note(violation);
            return;
        }
        h.done = Some("aborted".into());
        h.ended_in = Some(batch);
    }
}

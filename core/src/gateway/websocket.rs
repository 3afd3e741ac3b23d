//! Client WebSockets through the tunnel: open, frames, windows and budget, acks, closes.

use crate::actor::Phase;
use crate::cx::Cx;
use crate::gateway::Gateway;
use crate::hibernation::Pending;
use crate::ids::ClientId;
use crate::io::{ClientFrame, CloseFrame, Output};
use crate::link::{self, Protocol, TunnelToActor, WebSocketClose, WebSocketData, WebSocketOpen};
use crate::notice::Notice;
use crate::runner::{RunnerIdx, Runners};
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::{
    Client, ClientKind, PackedHeaders, Ws, WsPhase, ready_runner, send_or_hold_bytes, tunnel_frame,
};
use std::collections::VecDeque;
use torpor_protocol::shared::Headers;

impl Gateway {
    pub(crate) fn handle_client_websocket(
        &mut self,
        now: Instant,
        client: ClientId,
        actor: &str,
        path: String,
        headers: Headers,
    ) {
        let actor = match self.admit_client(actor) {
            Ok(id) => id,
            Err((status, reason)) => {
                self.cx.metrics.client_rejects += 1;
                self.cx.push(Output::RejectClient {
                    client,
                    status,
                    reason,
                });
                return;
            }
        };
        let ws = Ws {
            phase: WsPhase::Waiting,
            path,
            headers: PackedHeaders::pack(&headers),
            can_hibernate: false,
            queued: VecDeque::new(),
            queued_bytes: 0,
            pending: Pending::default(),
            paused: false,
            ack_armed: false,
            last_send: now,
            closing: None,
        };
        self.add_client(client, actor, ClientKind::WebSocket(ws));
        self.cx.push(Output::AcceptClient { client });
        self.begin_or_wait(now, client, actor);
    }

    /// Sends `ToClientWebSocketOpen` (index 0) and waits for the runner's answer.
    pub(super) fn begin_websocket(&mut self, now: Instant, client: ClientId) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return;
        };
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return;
        };
        ws.begin_open();
        let open = WebSocketOpen {
            actor_id: c.actor.to_string(),
            path: ws.path.clone(),
            headers: ws.headers.unpack(),
        };
        let at = now.saturating_add(self.cx.config.websocket_open_timeout);
        self.cx.timers.set(TimerKey::WebSocketOpen(client), at);
        self.send_tunnel(client, TunnelToActor::WebSocketOpen(open));
    }

    pub(crate) fn handle_client_message(
        &mut self,
        now: Instant,
        client: ClientId,
        frame: ClientFrame,
    ) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return; // closed a moment ago
        };
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return;
        };
        if ws.closing.is_some() {
            return; // nothing can follow a client's close frame
        }
        let was_paused = ws.paused;
        let len = frame.len();
        if len > self.cx.config.max_forward_message_bytes {
            self.cx.metrics.ws_messages_too_big += 1;
            let reason = "torpor.message_too_big";
            self.close_websocket_both_ways(client, CloseFrame::new(1009, reason));
            return;
        }
        let cfg = &self.cx.config;
        let fast = ws.phase == WsPhase::Open
            && ws.queued.is_empty()
            && (!ws.can_hibernate
                || ws.pending.admits(
                    link::websocket_message_len(len),
                    cfg.socket_window_bytes,
                    cfg.socket_window_messages,
                ));
        let actor = c.actor;
        let runner = fast
            .then(|| ready_runner(&self.actors, &self.runners, actor))
            .flatten();
        if let Some(runner) = runner {
            // The per-frame path: nothing queued, room in the window, the actor is there; one
            // client lookup and one actor lookup in all.
            self.cx.metrics.ws_messages_to_runner += 1;
            send_frame(
                now,
                client,
                c,
                frame,
                runner,
                &mut self.runners,
                &mut self.cx,
            );
            if c.paused() || self.cx.held_bytes > self.cx.config.pending_budget_bytes {
                self.update_pause(client);
                self.after_pause(now, client, was_paused);
            }
            return;
        }
        if let Some(ws) = ws_of(self, client) {
            self.cx.held_bytes += ws.enqueue(frame);
        }
        if ws_of(self, client).is_some_and(|ws| ws.phase == WsPhase::Hibernating) {
            // The first data frame on a hibernating socket wakes its actor.
            self.wake_for_hibernating(now, actor, Some((client, "client frame")));
        }
        self.pump(now, client);
        self.after_pause(now, client, was_paused);
    }

    /// A client frame just paused reads: if the budget paused them, make sure something can
    /// free it (`relieve_budget`).
    fn after_pause(&mut self, now: Instant, client: ClientId, was_paused: bool) {
        let paused = self.clients.map.get(&client).is_some_and(Client::paused);
        if paused && !was_paused {
            self.relieve_budget(now);
        }
    }

    /// Sends as many queued frames as the socket's state and window allow, then pauses or
    /// resumes reads to match what is left.
    pub(crate) fn pump(&mut self, now: Instant, client: ClientId) {
        let Some(actor) = self.clients.map.get(&client).map(|c| c.actor) else {
            return;
        };
        let ready = self.actor_ready(actor);
        let mut sent = false;
        while ready && self.send_next_queued(now, client) {
            sent = true;
        }
        self.update_pause(client);
        if sent {
            // A non-hibernatable socket keeps nothing of what it sent: budget freed without
            // any ack, so sockets waiting for the budget get their look here too.
            self.recheck_budget();
        }
        if ready {
            self.finish_closing(client);
        }
    }

    /// A closing socket whose frames are all delivered (sent, and acked if it hibernates)
    /// forwards its client's close and is forgotten.
    fn finish_closing(&mut self, client: ClientId) {
        let Some(ws) = ws_of(self, client) else {
            return;
        };
        let delivered = ws.phase == WsPhase::Open
            && ws.queued.is_empty()
            && (!ws.can_hibernate || ws.pending.is_empty());
        if !delivered {
            return;
        }
        let Some(close) = ws.closing.take() else {
            return;
        };
        self.send_tunnel(client, TunnelToActor::WebSocketClose(close.close));
        self.remove_client(client);
    }

    /// Sends the oldest queued frame if the socket is open, its actor ready and its window
    /// admits it.
    fn send_next_queued(&mut self, now: Instant, client: ClientId) -> bool {
        let (window_bytes, window_messages) = (
            self.cx.config.socket_window_bytes,
            self.cx.config.socket_window_messages,
        );
        let Some(c) = self.clients.map.get_mut(&client) else {
            return false;
        };
        let Some(runner) = ready_runner(&self.actors, &self.runners, c.actor) else {
            return false;
        };
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return false;
        };
        if ws.phase != WsPhase::Open {
            return false;
        }
        let Some(len) = ws.queued.front().map(ClientFrame::len) else {
            return false;
        };
        let frame_len = link::websocket_message_len(len);
        if ws.can_hibernate && !ws.pending.admits(frame_len, window_bytes, window_messages) {
            return false;
        }
        let Some(frame) = ws.dequeue() else {
            return false;
        };
        self.cx.held_bytes -= len;
        self.cx.metrics.ws_messages_to_runner += 1;
        send_frame(
            now,
            client,
            c,
            frame,
            runner,
            &mut self.runners,
            &mut self.cx,
        );
        true
    }
    /// Pauses reads while the socket (or all sockets together) hold more than allowed, and
    /// resumes them once acks or sends make room.
    pub(crate) fn update_pause(&mut self, client: ClientId) {
        let cfg = &self.cx.config;
        let global_over = self.cx.held_bytes > cfg.pending_budget_bytes;
        let (window_bytes, window_messages, opening) = (
            cfg.socket_window_bytes,
            cfg.socket_window_messages,
            cfg.opening_buffer_bytes,
        );
        let Some(ws) = ws_of(self, client) else {
            return;
        };
        if ws.closing.is_some() {
            // No client to pause any more; its frames are all in already.
            ws.set_paused(false);
            self.cx.budget_paused.remove(&client);
            return;
        }
        let limit = if ws.can_hibernate {
            window_bytes
        } else {
            opening
        };
        let over = ws.queued_bytes + ws.pending.bytes() > limit
            || ws.queued.len() + ws.pending.len() > window_messages
            || global_over;
        if ws.set_paused(over) {
            if over {
                self.cx.metrics.reads_paused += 1;
                self.cx.push(Output::PauseClientReads { client });
            } else {
                self.cx.push(Output::ResumeClientReads { client });
            }
        }
        // Paused while the budget is exhausted, whatever paused it first: only a budget
        // recheck can see this socket's turn come once its own window has room again.
        if over && global_over {
            self.cx.budget_paused.insert(client);
        }
    }

    /// After bytes were freed: sockets paused by the global budget get another look.
    pub(crate) fn recheck_budget(&mut self) {
        if self.cx.held_bytes > self.cx.config.pending_budget_bytes
            || self.cx.budget_paused.is_empty()
        {
            return;
        }
        let waiting = std::mem::take(&mut self.cx.budget_paused);
        for client in waiting {
            self.update_pause(client);
        }
    }

    /// The runner accepted the socket: record whether it hibernates, then forward what the
    /// client sent meanwhile.
    pub(super) fn on_websocket_open(
        &mut self,
        now: Instant,
        client: ClientId,
        can_hibernate: bool,
    ) {
        self.cx.timers.cancel(TimerKey::WebSocketOpen(client));
        let Some(actor) = self.clients.map.get(&client).map(|c| c.actor) else {
            return;
        };
        if can_hibernate {
            let count = self.actors.map.get(&actor).map_or(0, |a| a.hibernatable);
            if count >= self.cx.config.max_hibernating_per_actor {
                self.cx.metrics.socket_limit_rejects += 1;
                let close = CloseFrame::new(1013, "torpor.actor_socket_limit");
                self.close_websocket_both_ways(client, close);
                return;
            }
        }
        self.cx.metrics.ws_opened += 1;
        if let Some(c) = self.clients.map.get(&client) {
            if let ClientKind::WebSocket(ws) = &c.kind {
                self.cx.notify(Notice::SocketOpened {
                    client,
                    actor,
                    request: c.request_id,
                    path: ws.path.clone(),
                    hibernatable: can_hibernate,
                });
            }
        }
        let Some(ws) = ws_of(self, client) else {
            return;
        };
        ws.opened(can_hibernate);
        if can_hibernate {
            if let Some(a) = self.actors.map.get_mut(&actor) {
                a.socket_listed();
            }
            // The row is written before any data message is forwarded.
            self.index_insert(now, client);
        }
        self.pump(now, client);
    }

    /// An actor frame for a client still there (`handle_tunnel_message` drops those for a
    /// client that closed).
    pub(super) fn on_websocket_message(&mut self, client: ClientId, msg: WebSocketData) {
        self.cx.metrics.ws_messages_to_client += 1;
        let frame = if msg.binary {
            ClientFrame::Binary(msg.data)
        } else {
            match String::from_utf8(msg.data) {
                Ok(text) => ClientFrame::Text(text),
                Err(err) => {
                    // The reference decodes lossily too; a text frame must be UTF-8.
                    self.cx.metrics.ws_invalid_utf8_from_runner += 1;
                    ClientFrame::Text(String::from_utf8_lossy(err.as_bytes()).into_owned())
                }
            }
        };
        self.cx.push(Output::SendClient { client, frame });
    }

    /// A cumulative ack: free what it covers, then let queued frames use the room.
    pub(super) fn on_websocket_ack(&mut self, now: Instant, client: ClientId, ack: u16) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return;
        };
        let last_sent = c.next_index.wrapping_sub(1);
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return;
        };
        if !ws.can_hibernate {
            return; // acks matter only to hibernatable sockets
        }
        if crate::hibernation::wrapping_gt(ack, last_sent) {
            self.cx.metrics.tunnel_dropped_illegal += 1; // acks a message never sent
            return;
        }
        let freed = ws.pending.ack(ack);
        self.cx.held_bytes -= freed;
        self.cx.metrics.ws_acks += 1;
        // An emptied buffer leaves its ack timer armed: it finds nothing due when it fires
        // (`Ws::ack_due`), which is cheaper than a timer update per ack.
        self.pump(now, client);
        self.recheck_budget();
    }

    /// The actor closed the socket (or refused it before opening).
    pub(super) fn on_websocket_close(&mut self, client: ClientId, close: WebSocketClose) {
        self.cx.metrics.ws_closed_by_runner += 1;
        let Some(c) = self.remove_client(client) else {
            return;
        };
        if c.gone() {
            return;
        }
        let close = match close.code {
            Some(code) => CloseFrame::new(code, close.reason.unwrap_or_default()),
            None => CloseFrame::new(1000, close.reason.unwrap_or_else(|| "ws.closed".into())),
        };
        self.cx.push(Output::CloseClient { client, close });
    }

    pub(crate) fn handle_client_closed(
        &mut self,
        now: Instant,
        client: ClientId,
        close: Option<CloseFrame>,
    ) {
        let Some(c) = self.clients.map.get(&client) else {
            return;
        };
        let ClientKind::WebSocket(ws) = &c.kind else {
            return;
        };
        if ws.closing.is_some() {
            return; // reported twice
        }
        self.cx.metrics.ws_closed_by_client += 1;
        // A stream that ended without a close frame is reported as a normal close.
        let msg = match close {
            Some(f) => WebSocketClose {
                code: Some(f.code),
                reason: Some(f.reason),
            },
            None => WebSocketClose {
                code: Some(1000),
                reason: None,
            },
        };
        let undelivered = ws.undelivered();
        match ws.phase {
            // Frames sent before the close still go first (guarantee 13): the socket lives on
            // without its client until they are delivered, then forwards the close.
            WsPhase::Waiting | WsPhase::Opening if undelivered => self.start_closing(client, msg),
            WsPhase::Open => {
                self.start_closing(client, msg);
                self.pump(now, client);
            }
            WsPhase::Hibernating if undelivered => {
                // Frames queued or never acked wake the actor (even with `wake_on_close` off):
                // they are delivered on that wake, then the close.
                self.cx.metrics.ws_closed_while_hibernating += 1;
                self.start_closing(client, msg);
                if let Some(actor) = self.clients.map.get(&client).map(|c| c.actor) {
                    self.wake_for_hibernating(now, actor, Some((client, "client close")));
                }
            }
            WsPhase::Waiting => {
                self.remove_client(client);
            }
            WsPhase::Opening => {
                self.send_tunnel(client, TunnelToActor::WebSocketClose(msg));
                self.remove_client(client);
            }
            WsPhase::Hibernating => {
                // Removes the client itself, before any wake it triggers lists sockets.
                self.client_closed_while_hibernating(now, client, msg);
            }
        }
    }

    fn start_closing(&mut self, client: ClientId, msg: WebSocketClose) {
        if let Some(ws) = ws_of(self, client) {
            ws.leave(msg);
        }
        self.update_pause(client);
    }

    pub(crate) fn on_websocket_open_timeout(&mut self, client: ClientId) {
        self.cx.metrics.ws_open_timeouts += 1;
        let close = CloseFrame::new(1011, "torpor.websocket_open_timeout");
        self.close_websocket_both_ways(client, close);
    }

    /// Attached un-acked messages waited too long since the last (re)send.
    pub(crate) fn on_ack_timeout(&mut self, now: Instant, client: ClientId) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return;
        };
        let running = self
            .actors
            .map
            .get(&c.actor)
            .is_some_and(|a| matches!(a.phase, Phase::Running { .. }));
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return;
        };
        let attached = ws.phase == WsPhase::Open && running;
        if ws.ack_due(client, now, attached, &mut self.cx) {
            self.cx.metrics.ws_ack_timeouts += 1;
            self.close_websocket_both_ways(client, CloseFrame::new(1011, "torpor.ack_timeout"));
        }
    }

    /// The adapter cannot hand this client its frames fast enough.
    pub(crate) fn handle_client_outbound_full(&mut self, client: ClientId) {
        if self.is_streaming_http(client) {
            self.abort_slow_http_client(client);
            return;
        }
        if ws_of(self, client).is_some_and(|ws| ws.closing.is_none()) {
            self.cx.metrics.ws_client_too_slow += 1;
            self.close_websocket_both_ways(client, CloseFrame::new(1008, "torpor.client_too_slow"));
        }
    }

    /// Closes the client with `close` and tells the runner the same, if it knows the socket.
    /// A socket listed in a start on its way is restored by the runner, so it hears the close
    /// once the actor runs.
    pub(crate) fn close_websocket_both_ways(&mut self, client: ClientId, close: CloseFrame) {
        let Some(ws) = ws_of(self, client) else {
            return;
        };
        let msg = WebSocketClose {
            code: Some(close.code),
            reason: Some(close.reason.clone()),
        };
        match ws.phase {
            WsPhase::Opening | WsPhase::Open => {
                self.send_tunnel(client, TunnelToActor::WebSocketClose(msg));
            }
            WsPhase::Hibernating => self.tell_runner_after_running(client, msg),
            WsPhase::Waiting => {}
        }
        let gone = self.remove_client(client).is_some_and(|c| c.gone());
        if !gone {
            self.cx.push(Output::CloseClient { client, close });
        }
    }
}

/// Sends one client frame with the client's next index; a hibernatable socket keeps the exact
/// bytes until acked and (re)starts its ack timer. Split borrows keep the per-frame path to one
/// client lookup.
fn send_frame(
    now: Instant,
    client: ClientId,
    c: &mut Client,
    frame: ClientFrame,
    (runner, protocol): (RunnerIdx, Protocol),
    runners: &mut Runners,
    cx: &mut Cx,
) {
    let kind = TunnelToActor::WebSocketMessage(client_message(frame));
    let (index, bytes) = tunnel_frame(c, cx.gateway_id, protocol, kind);
    if let ClientKind::WebSocket(ws) = &mut c.kind {
        if ws.can_hibernate {
            cx.held_bytes += bytes.len();
            ws.pending.push(index, bytes.clone());
            ws.ack_clock_sent(client, now, cx);
        }
    }
    send_or_hold_bytes(runners, cx, runner, bytes);
}

/// The WebSocket state of a client, if it is one.
pub(crate) fn ws_of(gw: &mut Gateway, client: ClientId) -> Option<&mut Ws> {
    gw.clients.ws_mut(client)
}

/// A client frame as a tunnel message: the payload moves, it is not copied.
fn client_message(frame: ClientFrame) -> WebSocketData {
    match frame {
        ClientFrame::Text(text) => WebSocketData {
            data: text.into_bytes(),
            binary: false,
        },
        ClientFrame::Binary(data) => WebSocketData { data, binary: true },
    }
}

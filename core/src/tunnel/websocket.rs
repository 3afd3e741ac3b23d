//! Client WebSockets: open, buffer until accepted, forward both ways, close both ways.

use std::collections::VecDeque;

use super::{ClientKind, Delivery, Ws, WsPhase, tunnel_send};
use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::io::{ClientFrame, CloseFrame, Output};
use crate::protocol::{
    Headers, ToClientTunnelMessageKind, ToClientWebSocketClose, ToClientWebSocketMessage,
    ToClientWebSocketOpen, ToServerWebSocketClose, ToServerWebSocketMessage,
};
use crate::time::Instant;
use crate::timer::TimerKey;

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
            headers,
            can_hibernate: false,
            buffered: VecDeque::new(),
            buffered_bytes: 0,
            held_bytes: 0,
            paused: false,
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
        ws.phase = WsPhase::Opening;
        let open = ToClientWebSocketOpen {
            actor_id: c.actor.to_string(),
            path: ws.path.clone(),
            headers: ws.headers.clone(),
        };
        let at = now.saturating_add(self.cx.config.websocket_open_timeout);
        self.cx.timers.set(TimerKey::WebSocketOpen(client), at);
        self.send_tunnel(client, ToClientTunnelMessageKind::WebSocketOpen(open));
    }

    pub(crate) fn handle_client_message(&mut self, client: ClientId, frame: ClientFrame) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return; // closed a moment ago
        };
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return;
        };
        if frame.len() > self.cx.config.max_forward_message_bytes {
            self.cx.metrics.ws_messages_too_big += 1;
            let reason = "torpor.message_too_big";
            self.close_websocket_both_ways(client, CloseFrame::new(1009, reason));
            return;
        }
        if ws.phase != WsPhase::Open {
            ws.buffered_bytes += frame.len();
            ws.buffered.push_back(frame);
            if ws.buffered_bytes > self.cx.config.opening_buffer_bytes && !ws.paused {
                ws.paused = true;
                self.cx.push(Output::PauseClientReads { client });
            }
            return;
        }
        // The per-frame path: one client lookup for the whole forward.
        self.cx.metrics.ws_messages_to_runner += 1;
        let len = frame.len();
        let kind = ToClientTunnelMessageKind::WebSocketMessage(client_message(frame));
        if tunnel_send(c, &self.actors, &mut self.runners, &mut self.cx, kind) == Delivery::Held {
            self.hold_bytes(client, len);
        }
    }

    /// Forwards a frame; while the runner reconnects it is held in order, and reads pause once
    /// the socket holds more than `opening_buffer_bytes`.
    fn forward_to_runner(&mut self, client: ClientId, frame: ClientFrame) {
        self.cx.metrics.ws_messages_to_runner += 1;
        let len = frame.len();
        let kind = ToClientTunnelMessageKind::WebSocketMessage(client_message(frame));
        if self.send_tunnel(client, kind) == Delivery::Held {
            self.hold_bytes(client, len);
        }
    }

    fn hold_bytes(&mut self, client: ClientId, len: usize) {
        let limit = self.cx.config.opening_buffer_bytes;
        let Some(c) = self.clients.map.get_mut(&client) else {
            return;
        };
        let runner = self.actors.map.get(&c.actor).and_then(|a| a.phase.runner());
        let ClientKind::WebSocket(ws) = &mut c.kind else {
            return;
        };
        ws.held_bytes += len;
        if ws.held_bytes > limit && !ws.paused {
            ws.paused = true;
            self.cx.push(Output::PauseClientReads { client });
            if let Some(instance) = runner.and_then(|r| self.runners.instances.get_mut(&r)) {
                instance.outbox_paused.insert(client);
            }
        }
    }

    /// The runner accepted the socket: forward what the client sent meanwhile.
    pub(super) fn on_websocket_open(&mut self, client: ClientId, can_hibernate: bool) {
        self.cx.timers.cancel(TimerKey::WebSocketOpen(client));
        self.cx.metrics.ws_opened += 1;
        let Some(ClientKind::WebSocket(ws)) =
            self.clients.map.get_mut(&client).map(|c| &mut c.kind)
        else {
            return;
        };
        ws.phase = WsPhase::Open;
        ws.can_hibernate = can_hibernate;
        ws.buffered_bytes = 0;
        let buffered = std::mem::take(&mut ws.buffered);
        let resume = std::mem::take(&mut ws.paused);
        for frame in buffered {
            self.forward_to_runner(client, frame);
        }
        if resume {
            self.cx.push(Output::ResumeClientReads { client });
        }
    }

    pub(super) fn on_websocket_message(&mut self, client: ClientId, msg: ToServerWebSocketMessage) {
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

    /// The actor closed the socket (or refused it before opening).
    pub(super) fn on_websocket_close(&mut self, client: ClientId, close: ToServerWebSocketClose) {
        self.cx.metrics.ws_closed_by_runner += 1;
        self.remove_client(client);
        let close = match close.code {
            Some(code) => CloseFrame::new(code, close.reason.unwrap_or_default()),
            None => CloseFrame::new(1000, close.reason.unwrap_or_else(|| "ws.closed".into())),
        };
        self.cx.push(Output::CloseClient { client, close });
    }

    pub(crate) fn handle_client_closed(&mut self, client: ClientId, close: Option<CloseFrame>) {
        let Some(c) = self.clients.map.get(&client) else {
            return;
        };
        let ClientKind::WebSocket(ws) = &c.kind else {
            return;
        };
        self.cx.metrics.ws_closed_by_client += 1;
        if ws.phase != WsPhase::Waiting {
            // A stream that ended without a close frame is reported as a normal close.
            let msg = match close {
                Some(f) => ToClientWebSocketClose {
                    code: Some(f.code),
                    reason: Some(f.reason),
                },
                None => ToClientWebSocketClose {
                    code: Some(1000),
                    reason: None,
                },
            };
            self.send_tunnel(client, ToClientTunnelMessageKind::WebSocketClose(msg));
        }
        self.remove_client(client);
    }

    pub(crate) fn on_websocket_open_timeout(&mut self, client: ClientId) {
        self.cx.metrics.ws_open_timeouts += 1;
        let close = CloseFrame::new(1011, "torpor.websocket_open_timeout");
        self.close_websocket_both_ways(client, close);
    }

    /// Closes the client with `close` and tells the runner the same, if it knows the socket.
    fn close_websocket_both_ways(&mut self, client: ClientId, close: CloseFrame) {
        let Some(c) = self.clients.map.get(&client) else {
            return;
        };
        let told_runner =
            matches!(&c.kind, ClientKind::WebSocket(ws) if ws.phase != WsPhase::Waiting);
        if told_runner {
            let msg = ToClientWebSocketClose {
                code: Some(close.code),
                reason: Some(close.reason.clone()),
            };
            self.send_tunnel(client, ToClientTunnelMessageKind::WebSocketClose(msg));
        }
        self.remove_client(client);
        self.cx.push(Output::CloseClient { client, close });
    }
}

/// A client frame as a tunnel message: the payload moves, it is not copied.
fn client_message(frame: ClientFrame) -> ToClientWebSocketMessage {
    match frame {
        ClientFrame::Text(text) => ToClientWebSocketMessage {
            data: text.into_bytes(),
            binary: false,
        },
        ClientFrame::Binary(data) => ToClientWebSocketMessage { data, binary: true },
    }
}

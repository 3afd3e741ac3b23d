//! Runner tunnel messages routed to their client.

use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::link::TunnelToClient as Kind;
use crate::runner::RunnerIdx;
use crate::time::Instant;
use crate::tunnel::{ClientKind, HttpPhase, WsPhase};
use torpor_protocol::shared::MessageId;

impl Gateway {
    /// Routes by (gateway id, request id). A message is accepted only if the request's actor is
    /// allocated to the sending runner *and* the kind is legal in the request's state; anything
    /// else is dropped and counted (no runner can write into another runner's sockets).
    pub(crate) fn handle_tunnel_message(
        &mut self,
        now: Instant,
        runner: RunnerIdx,
        id: MessageId,
        msg: Kind,
    ) {
        let Some(client) = self.route(id) else {
            self.cx.metrics.tunnel_dropped_unknown += 1;
            return;
        };
        let Some(c) = self.clients.map.get(&client) else {
            return;
        };
        let hosted = self.actors.map.get(&c.actor).and_then(|a| a.phase.runner()) == Some(runner);
        if !hosted {
            self.cx.metrics.tunnel_dropped_foreign += 1;
            return;
        }
        let gone = c.gone();
        let (ws, http) = match &c.kind {
            ClientKind::WebSocket(ws) => (Some(ws.phase), None),
            ClientKind::Http(http) => (None, Some(http.phase)),
        };
        match (msg, ws, http) {
            (Kind::WebSocketOpen { can_hibernate }, Some(WsPhase::Opening), _) => {
                self.on_websocket_open(now, client, can_hibernate);
            }
            (Kind::WebSocketMessage(_), Some(WsPhase::Open), _) if gone => {
                self.cx.metrics.ws_messages_to_closed_client += 1;
            }
            (Kind::WebSocketMessage(m), Some(WsPhase::Open), _) => {
                self.on_websocket_message(client, m);
            }
            (Kind::WebSocketAck { index }, Some(WsPhase::Open), _) => {
                self.on_websocket_ack(now, client, index);
            }
            (Kind::WebSocketClose(close), Some(WsPhase::Opening | WsPhase::Open), _) => {
                self.on_websocket_close(client, close);
            }
            (Kind::ResponseStart(start), _, Some(HttpPhase::Sent)) => {
                self.on_response_start(client, start);
            }
            (Kind::ResponseChunk(chunk), _, Some(HttpPhase::Streaming)) => {
                self.on_response_chunk(client, chunk);
            }
            (Kind::ResponseAbort, _, Some(phase @ (HttpPhase::Sent | HttpPhase::Streaming))) => {
                self.on_response_abort(client, phase);
            }
            // The request body went whole with its start: nothing is left to pace or cancel.
            (Kind::RequestBodyFlow, _, Some(_)) => {}
            _ => self.cx.metrics.tunnel_dropped_illegal += 1,
        }
    }

    fn route(&self, id: MessageId) -> Option<ClientId> {
        if id.gateway_id != self.cx.gateway_id {
            return None;
        }
        self.clients.requests.get(&id.request_id).copied()
    }
}

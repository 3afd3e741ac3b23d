//! Runner protocol v7 onto the link's vocabulary and back. The only module of the core that
//! names a v7 message.

use bytes::Bytes;

use torpor_protocol::shared::MessageId;
use torpor_protocol::v7::{
    Command, CommandStartActor, CommandWrapper, PROTOCOL_VERSION, ProtocolMetadata, ToClient,
    ToClientAckEvents, ToClientInit, ToClientKvResponse, ToClientPing, ToClientRequestStart,
    ToClientTunnelMessage, ToClientTunnelMessageKind, ToClientWebSocketClose,
    ToClientWebSocketMessage, ToClientWebSocketOpen, ToServer, ToServerTunnelMessageKind,
    ToServerWebSocketMessage,
};
use torpor_protocol::{DecodeError, Limits};

use super::{
    ActorCommand, ActorCommandKind, BodyChunk, FromRunner, KvCall, ResponseStart, RunnerHello,
    ToRunner, TunnelToActor, TunnelToClient, WebSocketClose, WebSocketData,
};

pub(super) const VERSION: u16 = PROTOCOL_VERSION;

pub(super) fn decode(bytes: &[u8], limits: Limits) -> Result<FromRunner, DecodeError> {
    // The per-frame path: an actor's WebSocket message read in place, its payload copied once.
    if let Some((id, data, binary)) = ToServerWebSocketMessage::decode_frame(bytes, limits) {
        return Ok(FromRunner::Tunnel(
            id,
            TunnelToClient::WebSocketMessage(WebSocketData {
                data: data.to_vec(),
                binary,
            }),
        ));
    }
    Ok(match ToServer::decode_with(bytes, limits)? {
        ToServer::Init(init) => FromRunner::Hello(RunnerHello {
            name: Some(init.name),
            total_slots: Some(init.total_slots),
            actor_names: super::actor_names(init.prepopulate_actor_names),
        }),
        ToServer::Events(events) => {
            FromRunner::ActorEvents(events.into_iter().map(super::actor_event).collect())
        }
        ToServer::AckCommands(ack) => FromRunner::CommandsSeen(ack.last_command_checkpoints),
        ToServer::Stopping => FromRunner::Stopping,
        ToServer::Pong(pong) => FromRunner::Pong { ts: pong.ts },
        ToServer::KvRequest(req) => FromRunner::Kv(KvCall {
            actor_id: req.actor_id,
            request_id: req.request_id,
            data: req.data,
        }),
        ToServer::TunnelMessage(msg) => {
            FromRunner::Tunnel(msg.message_id, tunnel_to_client(msg.message_kind))
        }
    })
}

fn tunnel_to_client(kind: ToServerTunnelMessageKind) -> TunnelToClient {
    use ToServerTunnelMessageKind as K;
    match kind {
        K::ResponseStart(start) => TunnelToClient::ResponseStart(ResponseStart {
            status: start.status,
            headers: start.headers,
            body: start.body,
            stream: start.stream,
        }),
        K::ResponseChunk(chunk) => TunnelToClient::ResponseChunk(BodyChunk {
            body: chunk.body,
            finish: chunk.finish,
        }),
        K::ResponseAbort => TunnelToClient::ResponseAbort,
        K::WebSocketOpen(open) => TunnelToClient::WebSocketOpen {
            can_hibernate: open.can_hibernate,
        },
        K::WebSocketMessage(m) => TunnelToClient::WebSocketMessage(WebSocketData {
            data: m.data,
            binary: m.binary,
        }),
        K::WebSocketMessageAck(ack) => TunnelToClient::WebSocketAck { index: ack.index },
        // `hibernate` is ignored, as the reference engine does: the socket ends either way.
        K::WebSocketClose(close) => TunnelToClient::WebSocketClose(WebSocketClose {
            code: close.code,
            reason: close.reason,
        }),
    }
}

pub(super) fn encode(msg: ToRunner) -> Bytes {
    let msg = match msg {
        ToRunner::Welcome(w) => ToClient::Init(ToClientInit {
            runner_id: w.runner_id,
            metadata: ProtocolMetadata {
                runner_lost_threshold: w.runner_lost_threshold_ms,
                actor_stop_threshold: w.actor_stop_threshold_ms,
                serverless_drain_grace_period: None,
            },
        }),
        ToRunner::Commands(commands) => {
            ToClient::Commands(commands.into_iter().map(command).collect())
        }
        ToRunner::EventsSeen(checkpoints) => ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: checkpoints,
        }),
        ToRunner::Kv { request_id, data } => {
            ToClient::KvResponse(ToClientKvResponse { request_id, data })
        }
        ToRunner::Ping { ts } => ToClient::Ping(ToClientPing { ts }),
    };
    msg.to_bytes().into()
}

fn command(ActorCommand { checkpoint, kind }: ActorCommand) -> CommandWrapper {
    let inner = match kind {
        ActorCommandKind::Start {
            config,
            hibernating,
        } => Command::StartActor(CommandStartActor {
            config,
            hibernating_requests: hibernating,
        }),
        // v7 has no reason: the runner learns what a stop means from the actor itself.
        ActorCommandKind::Stop(_) => Command::StopActor,
    };
    CommandWrapper { checkpoint, inner }
}

pub(super) fn encode_tunnel(message_id: MessageId, msg: TunnelToActor) -> Bytes {
    let message_kind = match msg {
        // The per-frame path: written straight from the payload.
        TunnelToActor::WebSocketMessage(m) => {
            return ToClientWebSocketMessage::encode_frame(message_id, &m.data, m.binary).into();
        }
        TunnelToActor::RequestStart(start) => {
            ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
                actor_id: start.actor_id,
                method: start.method,
                path: start.path,
                headers: start.headers,
                body: start.body,
                stream: false,
            })
        }
        TunnelToActor::RequestAbort => ToClientTunnelMessageKind::RequestAbort,
        TunnelToActor::WebSocketOpen(open) => {
            ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
                actor_id: open.actor_id,
                path: open.path,
                headers: open.headers,
            })
        }
        TunnelToActor::WebSocketClose(close) => {
            ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
                code: close.code,
                reason: close.reason,
            })
        }
    };
    ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id,
        message_kind,
    })
    .to_bytes()
    .into()
}

pub(super) const fn websocket_message_len(payload_len: usize) -> usize {
    ToClientWebSocketMessage::frame_len(payload_len)
}

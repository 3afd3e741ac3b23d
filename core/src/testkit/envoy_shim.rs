//! The test runners speak v7; an envoy speaks v8. This shim lets a v7 runner model drive an
//! envoy connection: its frames are rewritten into v8 on the way in and the gateway's v8 frames
//! into v7 on the way out, so the simulator's worlds can run v8 envoys (and v7 runners and v8
//! envoys side by side) with one runner model and one oracle.
//!
//! What v8 adds is dropped on the way out (a start's preloaded KV, a stop's reason, request
//! flow control) and left out on the way in (an envoy declares no slots and no name: its pool
//! comes from its URL). An envoy has no runner id: the init it gets carries [`ENVOY_RUNNER_ID`],
//! always the same, so the model, like a real envoy, never takes a new session for a reason
//! to stop its actors; only its own lost threshold does.

use torpor_protocol::v7::{
    self, ProtocolMetadata, ToClient, ToClientAckEvents, ToClientInit, ToClientKvResponse,
    ToClientPing, ToClientRequestChunk, ToClientRequestStart, ToClientTunnelMessage,
    ToClientTunnelMessageKind as V7In, ToClientWebSocketClose, ToClientWebSocketMessage,
    ToClientWebSocketOpen, ToServer, ToServerTunnelMessageKind as V7Out,
};
use torpor_protocol::v8::{
    self, HttpStreamAbortReason, HttpStreamAbortReasonKind, ToEnvoy,
    ToEnvoyTunnelMessageKind as V8In, ToRivet, ToRivetAckCommands, ToRivetKvRequest,
    ToRivetMetadata, ToRivetPong, ToRivetResponseAbort, ToRivetResponseChunk, ToRivetResponseStart,
    ToRivetTunnelMessage, ToRivetTunnelMessageKind as V8Out, ToRivetWebSocketClose,
    ToRivetWebSocketMessage, ToRivetWebSocketMessageAck, ToRivetWebSocketOpen,
};

/// The runner id an envoy model sees in every init.
pub const ENVOY_RUNNER_ID: &str = "envoy";

/// A runner model's frame as an envoy sends it.
pub fn to_rivet(msg: ToServer) -> ToRivet {
    match msg {
        ToServer::Init(init) => ToRivet::Metadata(ToRivetMetadata {
            prepopulate_actor_names: init.prepopulate_actor_names,
            metadata: init.metadata,
        }),
        ToServer::Events(events) => ToRivet::Events(events),
        ToServer::AckCommands(ack) => ToRivet::AckCommands(ToRivetAckCommands {
            last_command_checkpoints: ack.last_command_checkpoints,
        }),
        ToServer::Stopping => ToRivet::Stopping,
        ToServer::Pong(pong) => ToRivet::Pong(ToRivetPong { ts: pong.ts }),
        ToServer::KvRequest(kv) => ToRivet::KvRequest(ToRivetKvRequest {
            actor_id: kv.actor_id,
            request_id: kv.request_id,
            data: kv.data,
        }),
        ToServer::TunnelMessage(t) => ToRivet::TunnelMessage(ToRivetTunnelMessage {
            message_id: t.message_id,
            message_kind: match t.message_kind {
                V7Out::ResponseStart(s) => V8Out::ResponseStart(ToRivetResponseStart {
                    status: s.status,
                    headers: s.headers,
                    body: s.body,
                    stream: s.stream,
                }),
                V7Out::ResponseChunk(c) => V8Out::ResponseChunk(ToRivetResponseChunk {
                    body: c.body,
                    finish: c.finish,
                }),
                V7Out::ResponseAbort => V8Out::ResponseAbort(ToRivetResponseAbort {
                    reason: HttpStreamAbortReason {
                        kind: HttpStreamAbortReasonKind::HandlerError,
                        detail: None,
                    },
                }),
                V7Out::WebSocketOpen(o) => V8Out::WebSocketOpen(ToRivetWebSocketOpen {
                    can_hibernate: o.can_hibernate,
                }),
                V7Out::WebSocketMessage(m) => V8Out::WebSocketMessage(ToRivetWebSocketMessage {
                    data: m.data,
                    binary: m.binary,
                }),
                V7Out::WebSocketMessageAck(a) => {
                    V8Out::WebSocketMessageAck(ToRivetWebSocketMessageAck { index: a.index })
                }
                V7Out::WebSocketClose(c) => V8Out::WebSocketClose(ToRivetWebSocketClose {
                    code: c.code,
                    reason: c.reason,
                    hibernate: c.hibernate,
                }),
            },
        }),
    }
}

/// The gateway's frame to an envoy as a runner model reads it; `None` for what has no v7
/// counterpart (request-body credit, SQLite answers).
pub fn to_client(msg: ToEnvoy) -> Option<ToClient> {
    Some(match msg {
        ToEnvoy::Init(init) => ToClient::Init(ToClientInit {
            runner_id: ENVOY_RUNNER_ID.to_owned(),
            metadata: ProtocolMetadata {
                runner_lost_threshold: init.metadata.envoy_lost_threshold,
                actor_stop_threshold: init.metadata.actor_stop_threshold,
                serverless_drain_grace_period: None,
            },
        }),
        ToEnvoy::Commands(commands) => ToClient::Commands(
            commands
                .into_iter()
                .map(|c| v7::CommandWrapper {
                    checkpoint: c.checkpoint,
                    inner: match c.inner {
                        v8::Command::StartActor(s) => {
                            v7::Command::StartActor(v7::CommandStartActor {
                                config: s.config,
                                hibernating_requests: s.hibernating_requests,
                            })
                        }
                        v8::Command::StopActor(_) => v7::Command::StopActor,
                    },
                })
                .collect(),
        ),
        ToEnvoy::AckEvents(ack) => ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: ack.last_event_checkpoints,
        }),
        ToEnvoy::KvResponse(kv) => ToClient::KvResponse(ToClientKvResponse {
            request_id: kv.request_id,
            data: kv.data,
        }),
        ToEnvoy::Ping(ping) => ToClient::Ping(ToClientPing { ts: ping.ts }),
        ToEnvoy::TunnelMessage(t) => ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: t.message_id,
            message_kind: match t.message_kind {
                V8In::RequestStart(s) => V7In::RequestStart(ToClientRequestStart {
                    actor_id: s.actor_id,
                    method: s.method,
                    path: s.path,
                    headers: s.headers,
                    body: s.body,
                    stream: s.stream,
                }),
                V8In::RequestChunk(c) => V7In::RequestChunk(ToClientRequestChunk {
                    body: c.body,
                    finish: c.finish,
                }),
                V8In::RequestAbort(_) => V7In::RequestAbort,
                V8In::WebSocketOpen(o) => V7In::WebSocketOpen(ToClientWebSocketOpen {
                    actor_id: o.actor_id,
                    path: o.path,
                    headers: o.headers,
                }),
                V8In::WebSocketMessage(m) => V7In::WebSocketMessage(ToClientWebSocketMessage {
                    data: m.data,
                    binary: m.binary,
                }),
                V8In::WebSocketClose(c) => V7In::WebSocketClose(ToClientWebSocketClose {
                    code: c.code,
                    reason: c.reason,
                }),
                V8In::RequestBodyCancel | V8In::ResponseBodyWindowUpdate(_) => return None,
            },
        }),
        ToEnvoy::SqliteGetPagesResponse(_)
        | ToEnvoy::SqliteCommitResponse(_)
        | ToEnvoy::SqliteCommitStageBeginResponse(_)
        | ToEnvoy::SqliteCommitStageSegmentResponse(_)
        | ToEnvoy::SqliteCommitFinalizeResponse(_)
        | ToEnvoy::SqliteExecResponse(_)
        | ToEnvoy::SqliteExecuteResponse(_)
        | ToEnvoy::SqliteExecuteBatchResponse(_) => return None,
    })
}

//! Envoy protocol v8 onto the link's vocabulary and back. The only module of the core that
//! names a v8 message.
//!
//! What differs from v7, as the core sees it: the envoy's hello has no name and no slots (the
//! name is the connect URL's `pool_name`), its welcome carries no runner id, a stop says why,
//! requests and opens may name the actor generation (the gateway leaves that to the envoy: the
//! newest live instance), the envoy's request-body credit is moot (the gateway sends bodies
//! whole), responses are asked for whole (response-body credit is not granted yet), the SQLite
//! page calls go to the page store ([`crate::page_store`]) and remote SQL execution is refused.

use bytes::Bytes;
use torpor_protocol::shared::MessageId;
use torpor_protocol::v8::{
    Command, CommandStartActor, CommandStopActor, CommandWrapper, HttpStreamAbortReason,
    HttpStreamAbortReasonKind, PROTOCOL_VERSION, ProtocolMetadata, SqliteCommitFinalizeOk,
    SqliteCommitFinalizeResponse, SqliteCommitOk, SqliteCommitResponse, SqliteCommitStageBeginOk,
    SqliteCommitStageBeginResponse, SqliteCommitStageSegmentOk, SqliteCommitStageSegmentResponse,
    SqliteDirtyPage, SqliteErrorResponse, SqliteExecResponse, SqliteExecuteBatchResponse,
    SqliteExecuteResponse, SqliteFetchedPage, SqliteGetPagesOk, SqliteGetPagesResponse,
    StopActorReason, ToEnvoy, ToEnvoyAckEvents, ToEnvoyInit, ToEnvoyKvResponse, ToEnvoyPing,
    ToEnvoyRequestAbort, ToEnvoyRequestStart, ToEnvoySqliteCommitFinalizeResponse,
    ToEnvoySqliteCommitResponse, ToEnvoySqliteCommitStageBeginResponse,
    ToEnvoySqliteCommitStageSegmentResponse, ToEnvoySqliteExecResponse,
    ToEnvoySqliteExecuteBatchResponse, ToEnvoySqliteExecuteResponse, ToEnvoySqliteGetPagesResponse,
    ToEnvoyTunnelMessage, ToEnvoyTunnelMessageKind, ToEnvoyWebSocketClose, ToEnvoyWebSocketMessage,
    ToEnvoyWebSocketOpen, ToRivet, ToRivetTunnelMessageKind,
};
use torpor_protocol::{DecodeError, Limits};

use crate::page_store::{DirtyPage, PageAnswer, PageError, PageOp, PageOpKind};

use super::{
    ActorCommand, ActorCommandKind, BodyChunk, FromRunner, KvCall, PagesCall, ResponseStart,
    RunnerHello, StopReason, ToRunner, TunnelToActor, TunnelToClient, WebSocketClose,
    WebSocketData,
};

pub(super) const VERSION: u16 = PROTOCOL_VERSION;

pub(super) fn decode(bytes: &[u8], limits: Limits) -> Result<FromRunner, DecodeError> {
    let unserved = |request_id, kind| FromRunner::Unserved(refusal(request_id, kind));
    Ok(match ToRivet::decode_with(bytes, limits)? {
        ToRivet::Metadata(meta) => FromRunner::Hello(RunnerHello {
            name: None,
            total_slots: None,
            actor_names: super::actor_names(meta.prepopulate_actor_names),
        }),
        ToRivet::Events(events) => {
            FromRunner::ActorEvents(events.into_iter().map(super::actor_event).collect())
        }
        ToRivet::AckCommands(ack) => FromRunner::CommandsSeen(ack.last_command_checkpoints),
        ToRivet::Stopping => FromRunner::Stopping,
        ToRivet::Pong(pong) => FromRunner::Pong { ts: pong.ts },
        ToRivet::KvRequest(req) => FromRunner::Kv(KvCall {
            actor_id: req.actor_id,
            request_id: req.request_id,
            data: req.data,
        }),
        ToRivet::TunnelMessage(msg) => {
            FromRunner::Tunnel(msg.message_id, tunnel_to_client(msg.message_kind))
        }
        ToRivet::SqliteGetPagesRequest(r) => FromRunner::Pages(PagesCall {
            actor_id: r.data.actor_id,
            request_id: r.request_id,
            generation: r.data.expected_generation,
            op: PageOp::GetPages {
                pgnos: r.data.pgnos,
                expected_head: r.data.expected_head_txid,
            },
        }),
        ToRivet::SqliteCommitRequest(r) => FromRunner::Pages(PagesCall {
            actor_id: r.data.actor_id,
            request_id: r.request_id,
            generation: r.data.expected_generation,
            op: PageOp::Commit {
                pages: dirty_pages(r.data.dirty_pages),
                db_size_pages: r.data.db_size_pages,
                expected_head: r.data.expected_head_txid,
            },
        }),
        ToRivet::SqliteCommitStageBeginRequest(r) => FromRunner::Pages(PagesCall {
            actor_id: r.data.actor_id,
            request_id: r.request_id,
            generation: r.data.expected_generation,
            op: PageOp::StageBegin {
                expected_head: r.data.expected_head_txid,
            },
        }),
        ToRivet::SqliteCommitStageSegmentRequest(r) => FromRunner::Pages(PagesCall {
            actor_id: r.data.actor_id,
            request_id: r.request_id,
            generation: r.data.expected_generation,
            op: PageOp::StageSegment {
                txid: r.data.txid,
                first_pgno: r.data.first_pgno,
                pages: dirty_pages(r.data.dirty_pages),
            },
        }),
        ToRivet::SqliteCommitFinalizeRequest(r) => FromRunner::Pages(PagesCall {
            actor_id: r.data.actor_id,
            request_id: r.request_id,
            generation: r.data.expected_generation,
            op: PageOp::StageFinalize {
                txid: r.data.txid,
                db_size_pages: r.data.new_db_size_pages,
                segment_first_pgnos: r.data.segment_first_pgnos,
            },
        }),
        ToRivet::SqliteExecRequest(r) => unserved(r.request_id, RemoteSqlCall::Exec),
        ToRivet::SqliteExecuteRequest(r) => unserved(r.request_id, RemoteSqlCall::Execute),
        ToRivet::SqliteExecuteBatchRequest(r) => {
            unserved(r.request_id, RemoteSqlCall::ExecuteBatch)
        }
    })
}

fn tunnel_to_client(kind: ToRivetTunnelMessageKind) -> TunnelToClient {
    use ToRivetTunnelMessageKind as K;
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
        K::ResponseAbort(_) => TunnelToClient::ResponseAbort,
        K::RequestBodyWindowUpdate(_) | K::RequestBodyCancel => TunnelToClient::RequestBodyFlow,
        K::WebSocketOpen(open) => TunnelToClient::WebSocketOpen {
            can_hibernate: open.can_hibernate,
        },
        K::WebSocketMessage(m) => TunnelToClient::WebSocketMessage(WebSocketData {
            data: m.data,
            binary: m.binary,
        }),
        K::WebSocketMessageAck(ack) => TunnelToClient::WebSocketAck { index: ack.index },
        K::WebSocketClose(close) => TunnelToClient::WebSocketClose(WebSocketClose {
            code: close.code,
            reason: close.reason,
        }),
    }
}

pub(super) fn encode(msg: ToRunner) -> Bytes {
    let msg = match msg {
        ToRunner::Welcome(w) => ToEnvoy::Init(ToEnvoyInit {
            metadata: ProtocolMetadata {
                envoy_lost_threshold: w.runner_lost_threshold_ms,
                actor_stop_threshold: w.actor_stop_threshold_ms,
                max_response_payload_size: w.max_response_payload_bytes,
            },
        }),
        ToRunner::Commands(commands) => {
            ToEnvoy::Commands(commands.into_iter().map(command).collect())
        }
        ToRunner::EventsSeen(checkpoints) => ToEnvoy::AckEvents(ToEnvoyAckEvents {
            last_event_checkpoints: checkpoints,
        }),
        ToRunner::Kv { request_id, data } => {
            ToEnvoy::KvResponse(ToEnvoyKvResponse { request_id, data })
        }
        ToRunner::Ping { ts } => ToEnvoy::Ping(ToEnvoyPing { ts }),
    };
    msg.to_bytes().into()
}

fn dirty_pages(pages: Vec<SqliteDirtyPage>) -> Vec<DirtyPage> {
    pages
        .into_iter()
        .map(|p| DirtyPage {
            pgno: p.pgno,
            bytes: p.bytes,
        })
        .collect()
}

/// The answer to a page-store call, in the response type of its kind. An answer of another
/// kind's shape cannot come from the store; it is sent as that kind's error rather than lost.
pub(super) fn encode_pages(request_id: u32, kind: PageOpKind, answer: PageAnswer) -> Bytes {
    let error = |e: PageError| SqliteErrorResponse {
        group: e.group,
        code: e.code,
        message: e.message,
    };
    let mismatch = |answer: &PageAnswer| SqliteErrorResponse {
        group: "torpor".to_owned(),
        code: "internal_error".to_owned(),
        message: format!("the store answered a {kind:?} call with {answer:?}"),
    };
    let msg = match (kind, answer) {
        (PageOpKind::GetPages, answer) => {
            ToEnvoy::SqliteGetPagesResponse(ToEnvoySqliteGetPagesResponse {
                request_id,
                data: match answer {
                    PageAnswer::Pages { pages, head } => {
                        SqliteGetPagesResponse::GetPagesOk(SqliteGetPagesOk {
                            pages: pages
                                .into_iter()
                                .map(|(pgno, bytes)| SqliteFetchedPage { pgno, bytes })
                                .collect(),
                            head_txid: Some(head),
                        })
                    }
                    PageAnswer::Error(e) => SqliteGetPagesResponse::ErrorResponse(error(e)),
                    other => SqliteGetPagesResponse::ErrorResponse(mismatch(&other)),
                },
            })
        }
        (PageOpKind::Commit, answer) => {
            ToEnvoy::SqliteCommitResponse(ToEnvoySqliteCommitResponse {
                request_id,
                data: match answer {
                    PageAnswer::Committed { head } => {
                        SqliteCommitResponse::CommitOk(SqliteCommitOk {
                            head_txid: Some(head),
                        })
                    }
                    PageAnswer::Error(e) => SqliteCommitResponse::ErrorResponse(error(e)),
                    other => SqliteCommitResponse::ErrorResponse(mismatch(&other)),
                },
            })
        }
        (PageOpKind::StageBegin, answer) => {
            ToEnvoy::SqliteCommitStageBeginResponse(ToEnvoySqliteCommitStageBeginResponse {
                request_id,
                data: match answer {
                    PageAnswer::StageBegun { txid } => {
                        SqliteCommitStageBeginResponse::CommitStageBeginOk(
                            SqliteCommitStageBeginOk { txid },
                        )
                    }
                    PageAnswer::Error(e) => SqliteCommitStageBeginResponse::ErrorResponse(error(e)),
                    other => SqliteCommitStageBeginResponse::ErrorResponse(mismatch(&other)),
                },
            })
        }
        (PageOpKind::StageSegment, answer) => {
            ToEnvoy::SqliteCommitStageSegmentResponse(ToEnvoySqliteCommitStageSegmentResponse {
                request_id,
                data: match answer {
                    PageAnswer::Staged { staged_bytes } => {
                        SqliteCommitStageSegmentResponse::CommitStageSegmentOk(
                            SqliteCommitStageSegmentOk { staged_bytes },
                        )
                    }
                    PageAnswer::Error(e) => {
                        SqliteCommitStageSegmentResponse::ErrorResponse(error(e))
                    }
                    other => SqliteCommitStageSegmentResponse::ErrorResponse(mismatch(&other)),
                },
            })
        }
        (PageOpKind::StageFinalize, answer) => {
            ToEnvoy::SqliteCommitFinalizeResponse(ToEnvoySqliteCommitFinalizeResponse {
                request_id,
                data: match answer {
                    PageAnswer::Committed { head } => {
                        SqliteCommitFinalizeResponse::CommitFinalizeOk(SqliteCommitFinalizeOk {
                            head_txid: Some(head),
                        })
                    }
                    PageAnswer::Error(e) => SqliteCommitFinalizeResponse::ErrorResponse(error(e)),
                    other => SqliteCommitFinalizeResponse::ErrorResponse(mismatch(&other)),
                },
            })
        }
    };
    msg.to_bytes().into()
}

/// v8's remote SQL execution, which the gateway does not serve: RivetKit's native envoy runs
/// SQL itself over the page store (only builds without native SQLite ask the engine to).
#[derive(Debug, Clone, Copy)]
enum RemoteSqlCall {
    Exec,
    Execute,
    ExecuteBatch,
}

/// The refusal of a remote SQL call, encoded in that call's own response type, in the
/// engine's words for "not here".
fn refusal(request_id: u32, kind: RemoteSqlCall) -> Bytes {
    let e = SqliteErrorResponse {
        group: "sqlite".to_owned(),
        code: "remote_unavailable".to_owned(),
        message: "Remote SQLite is unavailable.".to_owned(),
    };
    let msg = match kind {
        RemoteSqlCall::Exec => ToEnvoy::SqliteExecResponse(ToEnvoySqliteExecResponse {
            request_id,
            data: SqliteExecResponse::ErrorResponse(e),
        }),
        RemoteSqlCall::Execute => ToEnvoy::SqliteExecuteResponse(ToEnvoySqliteExecuteResponse {
            request_id,
            data: SqliteExecuteResponse::ErrorResponse(e),
        }),
        RemoteSqlCall::ExecuteBatch => {
            ToEnvoy::SqliteExecuteBatchResponse(ToEnvoySqliteExecuteBatchResponse {
                request_id,
                data: SqliteExecuteBatchResponse::ErrorResponse(e),
            })
        }
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
            preloaded_kv: None,
        }),
        ActorCommandKind::Stop(reason) => Command::StopActor(CommandStopActor {
            reason: match reason {
                StopReason::Sleep => StopActorReason::SleepIntent,
                StopReason::Stop => StopActorReason::StopIntent,
                StopReason::Destroy => StopActorReason::Destroy,
                StopReason::GoingAway => StopActorReason::GoingAway,
            },
        }),
    };
    CommandWrapper { checkpoint, inner }
}

pub(super) fn encode_tunnel(message_id: MessageId, msg: TunnelToActor) -> Bytes {
    let message_kind = match msg {
        TunnelToActor::RequestStart(start) => {
            ToEnvoyTunnelMessageKind::RequestStart(ToEnvoyRequestStart {
                actor_id: start.actor_id,
                actor_generation: None,
                method: start.method,
                path: start.path,
                headers: start.headers,
                body: start.body,
                stream: false,
                // Answered whole: a streamed response would wait on credit the gateway does
                // not grant yet (`ToEnvoyResponseBodyWindowUpdate`).
                response_stream: false,
            })
        }
        TunnelToActor::RequestAbort => {
            ToEnvoyTunnelMessageKind::RequestAbort(ToEnvoyRequestAbort {
                actor_id: None,
                actor_generation: None,
                reason: HttpStreamAbortReason {
                    kind: HttpStreamAbortReasonKind::Cancelled,
                    detail: None,
                },
            })
        }
        TunnelToActor::WebSocketOpen(open) => {
            ToEnvoyTunnelMessageKind::WebSocketOpen(ToEnvoyWebSocketOpen {
                actor_id: open.actor_id,
                actor_generation: None,
                path: open.path,
                headers: open.headers,
            })
        }
        TunnelToActor::WebSocketMessage(m) => {
            ToEnvoyTunnelMessageKind::WebSocketMessage(ToEnvoyWebSocketMessage {
                data: m.data,
                binary: m.binary,
            })
        }
        TunnelToActor::WebSocketClose(close) => {
            ToEnvoyTunnelMessageKind::WebSocketClose(ToEnvoyWebSocketClose {
                code: close.code,
                reason: close.reason,
            })
        }
    };
    ToEnvoy::TunnelMessage(ToEnvoyTunnelMessage {
        message_id,
        message_kind,
    })
    .to_bytes()
    .into()
}

#[cfg(test)]
mod tests {
    use torpor_protocol::shared::{GatewayId, MessageId, RequestId};

    use super::super::{TunnelToActor, WebSocketData, websocket_message_len};

    /// The un-acked window charges a frame `websocket_message_len` before it is encoded: v8's
    /// frame must be exactly as long as v7's for every length class.
    #[test]
    fn a_v8_websocket_frame_has_the_length_the_window_charges() {
        for len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
            let id = MessageId {
                gateway_id: GatewayId::from_bytes([1, 2, 3, 4]),
                request_id: RequestId::from_bytes([5, 6, 7, 8]),
                message_index: 9,
            };
            let msg = TunnelToActor::WebSocketMessage(WebSocketData {
                data: vec![0; len],
                binary: true,
            });
            assert_eq!(
                super::encode_tunnel(id, msg).len(),
                websocket_message_len(len),
                "{len}"
            );
        }
    }
}

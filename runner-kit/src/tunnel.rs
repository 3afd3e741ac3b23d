//! The tunnel side of the process: client HTTP requests and WebSockets, the index rule and
//! the persist-then-ack contract.

use torpor_protocol::shared::{Headers, MessageId, RequestId};
use torpor_protocol::v7::{
    ToClientRequestStart, ToClientTunnelMessage, ToClientTunnelMessageKind as In,
    ToClientWebSocketMessage, ToServer, ToServerResponseChunk, ToServerResponseStart,
    ToServerTunnelMessage, ToServerTunnelMessageKind as Out, ToServerWebSocketClose,
    ToServerWebSocketMessage, ToServerWebSocketMessageAck, ToServerWebSocketOpen,
};

use super::process::{Process, Request, RequestKey, RequestKind};
use super::{RunnerEvent, StoredSocket};

/// Bytes per chunk of a streamed test response (`/stream/{n}`).
pub const STREAM_CHUNK: usize = 64 * 1024;

/// How far behind the last index a message still counts as a duplicate (the runner's window).
const DUPLICATE_WINDOW: u16 = 32_767;

impl Process {
    pub(super) fn tunnel_send(&mut self, key: RequestKey, kind: Out) {
        let message_index = match self.requests.get_mut(&key) {
            Some(r) => {
                let index = r.out_index;
                r.out_index = r.out_index.wrapping_add(1);
                index
            }
            None => 0,
        };
        self.send(&ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id: MessageId {
                gateway_id: key.0,
                request_id: key.1,
                message_index,
            },
            message_kind: kind,
        }));
    }

    pub(super) fn tunnel(&mut self, t: ToClientTunnelMessage) {
        let key = (t.message_id.gateway_id, t.message_id.request_id);
        let index = t.message_id.message_index;
        match t.message_kind {
            In::RequestStart(start) => self.http_start(key, start),
            In::RequestChunk(chunk) => {
                let finished = match self.requests.get_mut(&key) {
                    Some(Request {
                        kind: RequestKind::Http { body, .. },
                        ..
                    }) => {
                        body.extend_from_slice(&chunk.body);
                        chunk.finish
                    }
                    _ => false,
                };
                if finished {
                    if let Some(Request {
                        actor_id,
                        kind: RequestKind::Http { method, path, body },
                        ..
                    }) = self.requests.remove(&key)
                    {
                        self.respond(key, actor_id, method, path, body);
                    }
                }
            }
            In::RequestAbort => {
                if matches!(
                    self.requests.get(&key),
                    Some(Request {
                        kind: RequestKind::Http { .. },
                        ..
                    })
                ) {
                    self.requests.remove(&key);
                }
            }
            In::WebSocketOpen(open) => {
                if !self.actors.contains_key(&open.actor_id) {
                    // Unknown actor: the runner's close is dropped, so nothing is answered.
                    tracing::debug!(actor = %open.actor_id, "test runner: open for an unknown actor");
                    return;
                }
                let can_hibernate = self.config.can_hibernate;
                // A duplicate open replaces the adapter (runner 2.2.1), back at index 0.
                self.requests.insert(
                    key,
                    Request {
                        actor_id: open.actor_id.clone(),
                        kind: RequestKind::Socket { can_hibernate },
                        out_index: 0,
                    },
                );
                if can_hibernate {
                    self.storage.insert(
                        key,
                        StoredSocket {
                            actor_id: open.actor_id.clone(),
                            path: open.path.clone(),
                            last: 0,
                            seen: false,
                        },
                    );
                }
                self.tunnel_send(
                    key,
                    Out::WebSocketOpen(ToServerWebSocketOpen { can_hibernate }),
                );
                self.log.push(RunnerEvent::WebSocketOpened {
                    actor_id: open.actor_id,
                    request_id: key.1.to_bytes(),
                    path: open.path,
                });
            }
            In::WebSocketMessage(m) => self.ws_message(key, index, m),
            In::WebSocketClose(close) => {
                let Some(request) = self.requests.remove(&key) else {
                    return;
                };
                self.storage.remove(key);
                self.log.push(RunnerEvent::WebSocketClosed {
                    actor_id: request.actor_id.clone(),
                    request_id: key.1.to_bytes(),
                    code: close.code,
                });
                // The runner echoes the close; the gateway ignores it.
                let Request { out_index, .. } = request;
                self.send(&ToServer::TunnelMessage(ToServerTunnelMessage {
                    message_id: MessageId {
                        gateway_id: key.0,
                        request_id: key.1,
                        message_index: out_index,
                    },
                    message_kind: Out::WebSocketClose(ToServerWebSocketClose {
                        code: close.code,
                        reason: close.reason,
                        hibernate: false,
                    }),
                }));
            }
        }
    }

    fn http_start(&mut self, key: RequestKey, start: ToClientRequestStart) {
        if !self.actors.contains_key(&start.actor_id) {
            // Unknown actor: the runner never answers (§8).
            tracing::debug!(actor = %start.actor_id, "test runner: request for an unknown actor");
            return;
        }
        let body = start.body.unwrap_or_default();
        if start.stream {
            self.requests.insert(
                key,
                Request {
                    actor_id: start.actor_id,
                    kind: RequestKind::Http {
                        method: start.method,
                        path: start.path,
                        body,
                    },
                    out_index: 0,
                },
            );
        } else {
            self.respond(key, start.actor_id, start.method, start.path, body);
        }
    }

    /// Answers a whole request: `200`, `x-torpor-test: 1`, body `"{method} {path}\n"` followed by
    /// the request body. A path `/stream/{n}` is answered with a streamed body instead: `n`
    /// chunks of [`STREAM_CHUNK`] bytes, all sent at once, as an actor that does not wait for
    /// the client would.
    fn respond(
        &mut self,
        key: RequestKey,
        actor_id: String,
        method: String,
        path: String,
        body: Vec<u8>,
    ) {
        if let Some(n) = path.strip_prefix("/stream/").and_then(|n| n.parse().ok()) {
            self.stream_response(key, n);
            return;
        }
        let mut response = format!("{method} {path}\n").into_bytes();
        response.extend_from_slice(&body);
        let mut headers = Headers::new();
        headers.insert("x-torpor-test", "1".to_owned());
        // As a fetch `Response` seen by the npm runner: a body carries its length.
        headers.insert("content-length", response.len().to_string());
        self.log.push(RunnerEvent::HttpRequest {
            actor_id,
            request_id: key.1.to_bytes(),
            method,
            path,
            body,
        });
        self.send(&ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id: MessageId {
                gateway_id: key.0,
                request_id: key.1,
                message_index: 0,
            },
            message_kind: Out::ResponseStart(ToServerResponseStart {
                status: 200,
                headers,
                body: Some(response),
                stream: false,
            }),
        }));
    }

    fn stream_response(&mut self, key: RequestKey, chunks: u16) {
        let mut headers = Headers::new();
        headers.insert("x-torpor-test", "1".to_owned());
        let kinds = std::iter::once(Out::ResponseStart(ToServerResponseStart {
            status: 200,
            headers,
            body: None,
            stream: true,
        }))
        .chain((1..=chunks).map(|i| {
            Out::ResponseChunk(ToServerResponseChunk {
                body: vec![b's'; STREAM_CHUNK],
                finish: i == chunks,
            })
        }));
        for (index, kind) in (0u16..).zip(kinds) {
            self.send(&ToServer::TunnelMessage(ToServerTunnelMessage {
                message_id: MessageId {
                    gateway_id: key.0,
                    request_id: key.1,
                    message_index: index,
                },
                message_kind: kind,
            }));
        }
    }

    /// A client message. Hibernatable sockets apply the runner's index rule: `last + 1` is
    /// delivered (persisted, echoed, acked); at or up to 32,767 behind `last` is a duplicate
    /// (re-acked at the persisted index, not delivered); anything else is a gap, which closes
    /// the socket `1008 ws.message_index_skip`. Other sockets deliver everything, unacked.
    fn ws_message(&mut self, key: RequestKey, index: u16, m: ToClientWebSocketMessage) {
        let Some(request) = self.requests.get(&key) else {
            return; // not (or no longer) hosted here: dropped silently, as the runner does
        };
        let RequestKind::Socket { can_hibernate } = request.kind else {
            return;
        };
        let actor_id = request.actor_id.clone();
        if can_hibernate {
            let (last, seen) = self
                .storage
                .get(key)
                .map_or((0, false), |s| (s.last, s.seen));
            let behind = last.wrapping_sub(index);
            if index == last || (1..=DUPLICATE_WINDOW).contains(&behind) {
                if seen {
                    self.tunnel_send(
                        key,
                        Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index: last }),
                    );
                }
                return;
            }
            if index != last.wrapping_add(1) {
                tracing::warn!(?key, last, index, "test runner: message index gap");
                self.errors.push(format!(
                    "message index gap on {key:?}: last {last}, got {index}"
                ));
                self.requests.remove(&key);
                self.storage.remove(key);
                self.tunnel_send(
                    key,
                    Out::WebSocketClose(ToServerWebSocketClose {
                        code: Some(1008),
                        reason: Some("ws.message_index_skip".to_owned()),
                        hibernate: false,
                    }),
                );
                self.log.push(RunnerEvent::WebSocketClosed {
                    actor_id,
                    request_id: key.1.to_bytes(),
                    code: Some(1008),
                });
                return;
            }
            // The actor persists its index before acking.
            self.storage.set_last(key, index);
        }
        if self.config.record_messages {
            self.log.push(RunnerEvent::WebSocketMessage {
                actor_id,
                request_id: key.1.to_bytes(),
                index,
                data: m.data.clone(),
                binary: m.binary,
            });
        }
        self.tunnel_send(
            key,
            Out::WebSocketMessage(ToServerWebSocketMessage {
                data: m.data,
                binary: m.binary,
            }),
        );
        if can_hibernate {
            self.tunnel_send(
                key,
                Out::WebSocketMessageAck(ToServerWebSocketMessageAck { index }),
            );
        }
    }

    /// An actor → client message on an open socket; false if no such socket is hosted here.
    pub(super) fn send_to_client(
        &mut self,
        request_id: [u8; 4],
        data: Vec<u8>,
        binary: bool,
    ) -> bool {
        let rq = RequestId::from_bytes(request_id);
        let key = self.requests.iter().find_map(|(key, r)| {
            (key.1 == rq && matches!(r.kind, RequestKind::Socket { .. })).then_some(*key)
        });
        let Some(key) = key else {
            return false;
        };
        self.tunnel_send(
            key,
            Out::WebSocketMessage(ToServerWebSocketMessage { data, binary }),
        );
        true
    }
}

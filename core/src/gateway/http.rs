//! Client HTTP requests through the tunnel: request, streamed response, abort.

use crate::engine_error::EngineError;
use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::io::Output;
use crate::link::{BodyChunk, RequestStart, ResponseStart, TunnelToActor};
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::{ClientKind, Http, HttpPhase};
use torpor_protocol::shared::Headers;

impl Gateway {
    #[allow(clippy::too_many_arguments)] // mirrors the Input variant it unpacks
    pub(crate) fn handle_http_request(
        &mut self,
        now: Instant,
        client: ClientId,
        actor: &str,
        method: String,
        path: String,
        headers: Headers,
        body: Vec<u8>,
    ) {
        self.cx.metrics.http_requests += 1;
        let actor = match self.admit_client(actor) {
            Ok(id) => id,
            Err((status, reason)) => {
                self.cx.metrics.client_rejects += 1;
                self.http_error(client, status, &reason);
                return;
            }
        };
        let http = Http {
            phase: HttpPhase::Waiting,
            method,
            path,
            headers,
            body,
        };
        self.add_client(client, actor, ClientKind::Http(http));
        self.begin_or_wait(now, client, actor);
    }

    pub(super) fn begin_http(&mut self, now: Instant, client: ClientId) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return;
        };
        let ClientKind::Http(http) = &mut c.kind else {
            return;
        };
        http.phase = HttpPhase::Sent;
        let body = std::mem::take(&mut http.body);
        let start = RequestStart {
            actor_id: c.actor.to_string(),
            method: std::mem::take(&mut http.method),
            // Kept: `GET /actors/{id}/sockets` shows what each request is for.
            path: http.path.clone(),
            headers: std::mem::take(&mut http.headers),
            body: (!body.is_empty()).then_some(body),
        };
        let at = now.saturating_add(self.cx.config.http_response_timeout);
        self.cx.timers.set(TimerKey::HttpResponse(client), at);
        self.send_tunnel(client, TunnelToActor::RequestStart(start));
    }

    pub(super) fn on_response_start(&mut self, client: ClientId, start: ResponseStart) {
        self.cx.metrics.http_responses += 1;
        self.cx.timers.cancel(TimerKey::HttpResponse(client));
        if start.stream {
            if let Some(ClientKind::Http(http)) =
                self.clients.map.get_mut(&client).map(|c| &mut c.kind)
            {
                http.phase = HttpPhase::Streaming;
            }
        } else {
            self.remove_client(client);
        }
        self.cx.push(Output::HttpResponse {
            client,
            status: start.status,
            headers: start.headers,
            body: start.body.unwrap_or_default(),
            streaming: start.stream,
        });
    }

    pub(super) fn on_response_chunk(&mut self, client: ClientId, chunk: BodyChunk) {
        if chunk.finish {
            self.remove_client(client);
        }
        self.cx.push(Output::HttpBodyChunk {
            client,
            data: chunk.body,
            finish: chunk.finish,
        });
    }

    pub(super) fn on_response_abort(&mut self, client: ClientId, phase: HttpPhase) {
        self.cx.metrics.http_aborted += 1;
        self.remove_client(client);
        if phase == HttpPhase::Streaming {
            self.cx.push(Output::HttpAbort { client });
        } else {
            self.http_error(
                client,
                502,
                "torpor.response_aborted: the actor aborted the response",
            );
        }
    }

    pub(crate) fn handle_http_cancelled(&mut self, client: ClientId) {
        let Some(c) = self.clients.map.get(&client) else {
            return;
        };
        if matches!(&c.kind, ClientKind::Http(h) if h.phase != HttpPhase::Waiting) {
            self.send_tunnel(client, TunnelToActor::RequestAbort);
        }
        self.remove_client(client);
    }

    /// Whether `client` is an HTTP request whose response is being streamed to it.
    pub(crate) fn is_streaming_http(&self, client: ClientId) -> bool {
        self.clients.map.get(&client).is_some_and(
            |c| matches!(&c.kind, ClientKind::Http(h) if h.phase == HttpPhase::Streaming),
        )
    }

    /// The client does not read its streamed response (the protocol has no flow control for
    /// response streams, so its queue would grow without end): the response is aborted and
    /// the runner told to stop the request.
    pub(crate) fn abort_slow_http_client(&mut self, client: ClientId) {
        self.cx.metrics.http_client_too_slow += 1;
        self.send_tunnel(client, TunnelToActor::RequestAbort);
        self.remove_client(client);
        self.cx.push(Output::HttpAbort { client });
    }

    pub(crate) fn on_http_response_timeout(&mut self, client: ClientId) {
        self.cx.metrics.http_response_timeouts += 1;
        self.send_tunnel(client, TunnelToActor::RequestAbort);
        self.remove_client(client);
        self.http_error(
            client,
            504,
            "torpor.response_timeout: the actor did not respond in time",
        );
    }

    /// An error response generated by the gateway, in the engine's shape (`reason` is
    /// `group.code: message`).
    pub(crate) fn http_error(&mut self, client: ClientId, status: u16, reason: &str) {
        let error = EngineError::parse(reason);
        let mut headers = Headers::new();
        headers.insert("content-type", "application/json".to_owned());
        headers.insert("x-rivet-error", error.name());
        self.cx.push(Output::HttpResponse {
            client,
            status,
            headers,
            body: error.json(),
            streaming: false,
        });
    }
}

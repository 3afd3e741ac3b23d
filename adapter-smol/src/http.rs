//! The HTTP side: hyper serves each TCP connection; requests are routed to the runner and
//! client WebSocket upgrades, the actor HTTP proxy, the admin API, `/metrics` and `/healthz`.
//!
//! Checks return the finished error response as their `Err`: it is what the caller sends, and
//! only error paths build one.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use smol::Executor;
use smol::channel::{Receiver, Sender};
use smol::net::TcpStream;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use torpor_core::{ClientId, Input, RunnerConnId, RunnerParams};
use torpor_protocol::v7::Headers;
use tracing::debug;

use crate::api;
use crate::api_error::ApiError;
use crate::auth::{Audience, TOKEN_HEADER, TOKEN_PROTOCOL, Tokens, protocol_token};
use crate::body_budget::{BodyBudget, Reservation};
use crate::links::{Event, HttpLink, HttpOut, Verdict, socket_link};
use crate::metrics::AdapterMetrics;
use crate::websocket::{
    CLIENT_READ_BUFFER, CLOSE_GRACE, MAX_MESSAGE, RUNNER_READ_BUFFER, Socket, run_client,
    run_runner, ws_config,
};

pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) ex: Arc<Executor<'static>>,
    pub(crate) events: Sender<Event>,
    pub(crate) metrics: Arc<AdapterMetrics>,
    pub(crate) tokens: Tokens,
    pub(crate) next_id: AtomicU64,
    /// WebSockets still running (shutdown waits for their closes to go out).
    pub(crate) live_sockets: Arc<AtomicUsize>,
    /// HTTP request bodies held at once.
    pub(crate) body_budget: Arc<BodyBudget>,
    /// Time a client has to send a request head (or stay idle between requests).
    pub(crate) http_header_timeout: Duration,
    /// This gateway's URL, as `GET /datacenters` shows it.
    pub(crate) public_url: String,
    /// Runner configs by (namespace, runner name): accepted and shown, as on the engine;
    /// Torpor starts no serverless runners for them (see COMPATIBILITY.md).
    pub(crate) runner_configs: std::sync::Mutex<BTreeMap<(String, String), serde_json::Value>>,
}

impl Shared {
    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Serves one TCP connection (HTTP/1.1 with keep-alive and upgrades).
pub(crate) async fn serve_connection(shared: Arc<Shared>, tcp: TcpStream) {
    let metrics = Arc::clone(&shared.metrics);
    let shared_timeout = shared.http_header_timeout;
    metrics.http_connections.fetch_add(1, Ordering::Relaxed);
    let svc = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(route(shared, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .timer(SmolTimer::new())
        .header_read_timeout(shared_timeout)
        .serve_connection(FuturesIo::new(tcp), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        if e.is_timeout() {
            metrics.http_header_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        debug!(error = %e, "http connection ended with an error");
    }
    metrics.http_connections.fetch_sub(1, Ordering::Relaxed);
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    shared
        .metrics
        .http_server_requests
        .fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    let ray = ray_id();
    let mut response = if path == "/healthz" {
        match *req.method() {
            Method::GET | Method::HEAD => text(StatusCode::OK, "ok\n"),
            _ => ApiError::method_not_allowed("GET").response(),
        }
    } else if path == "/runners/connect" {
        runner_upgrade(&shared, req).await
    } else if let Some(rest) = path.strip_prefix("/gateway/") {
        match gateway_target(rest, req.uri().query()) {
            Ok(target) if is_upgrade(req.headers()) => {
                client_upgrade(&shared, req, target, &ray).await
            }
            Ok(target) => proxy_http(&shared, req, target).await,
            Err(e) => e.response(),
        }
    } else if path == "/metrics" {
        let metrics = &shared.metrics.admin_unauthorized;
        if let Err(e) = shared
            .tokens
            .check_api(Audience::Admin, req.headers(), metrics)
        {
            e.response()
        } else {
            metrics_page(&shared, req.method()).await
        }
    } else if api::serves(&path) {
        api::handle(&shared, req).await
    } else {
        ApiError::no_route().response()
    };
    if response.status().is_client_error() {
        shared
            .metrics
            .http_bad_requests
            .fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(v) = HeaderValue::from_str(&ray) {
        response.headers_mut().insert("x-rivet-ray-id", v);
    }
    response
}

/// An id for one request, in every response (`x-rivet-ray-id`) and in the reason of a
/// WebSocket the gateway closes right after accepting it, as the engine does.
fn ray_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Where a `/gateway/…` request goes.
struct GatewayTarget {
    /// The actor id as written (checked by the core).
    actor: String,
    /// The `/gateway/{actor_id}@{token}/` form's token, percent-decoded.
    token: Option<String>,
    /// What the actor sees as its path, with the query.
    path: String,
}

/// Parses `/gateway/{actor_id}[@token]/{path}` (`rest` is what follows `/gateway/`).
fn gateway_target(rest: &str, query: Option<&str>) -> Result<GatewayTarget, ApiError> {
    let (segment, sub) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (actor, token) = match segment.split_once('@') {
        Some(("", _) | (_, "")) => {
            return Err(ApiError::bad_request(
                "`/gateway/{actor_id}@{token}` needs both an actor id and a token",
            ));
        }
        Some((actor, token)) => (actor, Some(percent_decoded(token))),
        None => (segment, None),
    };
    let path = match query {
        Some(q) => format!("{sub}?{q}"),
        None => sub,
    };
    Ok(GatewayTarget {
        actor: percent_decoded(actor),
        token,
        path,
    })
}

/// A path segment with `%XX` escapes decoded (RivetKit writes both the actor id and the
/// token with `encodeURIComponent`).
pub(crate) fn percent_decoded(segment: &str) -> String {
    form_urlencoded::parse(format!("a={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn metrics_page(shared: &Shared, method: &Method) -> Response<Body> {
    if *method != Method::GET {
        return ApiError::method_not_allowed("GET").response();
    }
    let (tx, rx) = smol::channel::bounded(1);
    if shared
        .events
        .send(Event::Metrics { reply: tx })
        .await
        .is_err()
    {
        return unavailable();
    }
    match rx.recv().await {
        Ok(page) => {
            let mut resp = Response::new(full(page));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        Err(_) => unavailable(),
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket upgrades

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Checks an RFC 6455 upgrade request; returns the `Sec-WebSocket-Accept` value.
fn handshake(req: &Request<Incoming>) -> Result<HeaderValue, Response<Body>> {
    let bad = |msg: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "guard",
            "bad_websocket_handshake",
            msg,
        )
        .response()
    };
    if req.method() != Method::GET {
        return Err(bad("a WebSocket upgrade must be a GET"));
    }
    if !is_upgrade(req.headers()) {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "guard",
            "upgrade_required",
            "this endpoint only accepts WebSocket upgrades",
        )
        .response());
    }
    let connection_upgrade = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrade {
        return Err(bad("missing `Connection: upgrade`"));
    }
    if req.headers().get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        return Err(bad("`Sec-WebSocket-Version` must be 13"));
    }
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| bad("missing `Sec-WebSocket-Key`"))?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| bad("bad `Sec-WebSocket-Key`"))
}

/// Offered subprotocols, in order.
fn subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn switching(accept: HeaderValue, protocol: Option<&str>) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    resp
}

/// Sends `event` when dropped unless disarmed: a request abandoned mid-way (the peer hung up
/// while the core was deciding) still gets its end reported.
struct EndGuard {
    events: Sender<Event>,
    ex: Arc<Executor<'static>>,
    end: Option<Event>,
}

impl EndGuard {
    fn disarm(mut self) {
        self.end = None;
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            if let Err(smol::channel::TrySendError::Full(end)) = self.events.try_send(end) {
                let events = self.events.clone();
                self.ex
                    .spawn(async move {
                        let _ = events.send(end).await;
                    })
                    .detach();
            }
        }
    }
}

/// The TCP stream under an upgraded connection, with bytes hyper read past the handshake.
fn unwrap_upgraded(up: hyper::upgrade::Upgraded) -> Option<(TcpStream, Vec<u8>)> {
    let parts = up.downcast::<FuturesIo<TcpStream>>().ok()?;
    Some((parts.io.into_inner(), parts.read_buf.to_vec()))
}

/// What differs between runner and client upgrades besides their events.
struct Side<'a> {
    /// tungstenite's read buffer for the socket.
    read_buffer: usize,
    /// How a refusal is answered.
    refusal: Refusal<'a>,
}

const RUNNER_SIDE: Side<'static> = Side {
    read_buffer: RUNNER_READ_BUFFER,
    refusal: Refusal::Status,
};

/// How an upgrade the core refused is answered.
enum Refusal<'a> {
    /// With the HTTP error (runners).
    Status,
    /// As the engine answers a client WebSocket through the gateway: accepted (101), then
    /// closed at once with 1011 and the reason `group.code#ray_id`, which RivetKit parses into
    /// its error.
    AcceptThenClose {
        /// The request's ray id.
        ray: &'a str,
    },
}

/// What both upgrades share: ask the core (`open`, answered on `verdict`), then, if it accepts,
/// take the socket over from hyper and hand it to `run`. `end` is what the core hears if the
/// request or the upgrade is abandoned half-way. `Err` is the response to send instead.
async fn upgrade<F, Fut>(
    shared: &Arc<Shared>,
    req: &mut Request<Incoming>,
    open: Event,
    verdict: Receiver<Verdict>,
    end: impl Fn() -> Event + Send + 'static,
    side: Side<'_>,
    run: F,
) -> Result<(), Response<Body>>
where
    F: FnOnce(Socket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if shared.events.send(open).await.is_err() {
        return Err(unavailable());
    }
    let guard = EndGuard {
        events: shared.events.clone(),
        ex: Arc::clone(&shared.ex),
        end: Some(end()),
    };
    match verdict.recv().await {
        Ok(Verdict::Accept) => guard.disarm(),
        Ok(Verdict::Reject { status, reason }) => {
            guard.disarm();
            let error = ApiError::from_reason(status, &reason);
            return match side.refusal {
                Refusal::Status => Err(error.response()),
                Refusal::AcceptThenClose { ray } => {
                    close_after_accept(shared, req, format!("{}#{ray}", error.name()));
                    Ok(())
                }
            };
        }
        Err(_) => return Err(unavailable()),
    }
    let on_upgrade = hyper::upgrade::on(req);
    let ex = Arc::clone(&shared.ex);
    let shared = Arc::clone(shared);
    Arc::clone(&ex)
        .spawn(async move {
            let live = LiveSocket::new(&shared.live_sockets);
            let Some((tcp, part)) = on_upgrade.await.ok().and_then(unwrap_upgraded) else {
                let _ = shared.events.send(end()).await;
                return;
            };
            let ws = WebSocketStream::from_partially_read(
                tcp.clone(),
                part,
                Role::Server,
                Some(ws_config(side.read_buffer)),
            )
            .await;
            // A task of its own, sized for the socket's life: this one's upgrade states would
            // otherwise stay part of every open socket's memory.
            let socket = Socket::new(ws, tcp);
            ex.spawn(async move {
                let _live = live;
                run(socket).await;
            })
            .detach();
        })
        .detach();
    Ok(())
}

/// Completes the upgrade of a refused client, then closes it with 1011 and `reason` (cut to
/// the 123 bytes a close frame holds).
fn close_after_accept(shared: &Arc<Shared>, req: &mut Request<Incoming>, mut reason: String) {
    if reason.len() > 123 {
        let mut cut = 123;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    let on_upgrade = hyper::upgrade::on(req);
    shared
        .ex
        .spawn(async move {
            let Some((tcp, part)) = on_upgrade.await.ok().and_then(unwrap_upgraded) else {
                return;
            };
            let mut ws = WebSocketStream::from_partially_read(
                tcp,
                part,
                Role::Server,
                Some(ws_config(CLIENT_READ_BUFFER)),
            )
            .await;
            let frame = async_tungstenite::tungstenite::protocol::CloseFrame {
                code: async_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Error,
                reason: reason.into(),
            };
            let _ = smol::future::or(
                async {
                    let _ = ws.close(Some(frame)).await;
                },
                async {
                    smol::Timer::after(CLOSE_GRACE).await;
                },
            )
            .await;
        })
        .detach();
}

async fn runner_upgrade(shared: &Arc<Shared>, mut req: Request<Incoming>) -> Response<Body> {
    let accept = match handshake(&req) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let protocols = subprotocols(req.headers());
    let params = RunnerParams {
        protocol_version: param("protocol_version").and_then(|v| v.parse().ok()),
        namespace: param("namespace").unwrap_or_default(),
        runner_key: param("runner_key").unwrap_or_default(),
        token: protocol_token(&protocols).map(str::to_owned),
    };
    let conn = RunnerConnId::new(shared.id());
    let (link, outbox) = socket_link();
    let (verdict_tx, verdict_rx) = smol::channel::bounded(1);
    let open = Event::RunnerConnect {
        conn,
        params,
        link,
        verdict: verdict_tx,
    };
    let (ex, events, metrics) = (
        Arc::clone(&shared.ex),
        shared.events.clone(),
        Arc::clone(&shared.metrics),
    );
    let run = move |socket| async move {
        run_runner(&ex, socket, conn, outbox, events, metrics).await;
    };
    let end = move || Event::Input(Input::RunnerClosed { conn });
    if let Err(resp) = upgrade(shared, &mut req, open, verdict_rx, end, RUNNER_SIDE, run).await {
        return resp;
    }
    let protocol = protocols.iter().any(|p| p == "rivet").then_some("rivet");
    switching(accept, protocol)
}

async fn client_upgrade(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
    target: GatewayTarget,
    ray: &str,
) -> Response<Body> {
    let accept = match handshake(&req) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let protocols = subprotocols(req.headers());
    // The actor side does not negotiate subprotocols: answer `rivet` when offered (RivetKit
    // clients), else the client's first choice, so clients that insist on one still connect.
    let protocol = protocols
        .iter()
        .find(|p| *p == "rivet")
        .or(protocols.first())
        .map(String::as_str);
    let GatewayTarget { actor, token, path } = target;
    let refusals = &shared.metrics.gateway_unauthorized;
    if let Err(e) =
        shared
            .tokens
            .check_gateway(token.as_deref(), req.headers(), &protocols, refusals)
    {
        // Refused as every gateway WebSocket is: accepted, then closed with the reason.
        close_after_accept(shared, &mut req, format!("{}#{ray}", e.name()));
        return switching(accept, protocol);
    }
    let client = ClientId::new(shared.id());
    let (link, outbox) = socket_link();
    let (verdict_tx, verdict_rx) = smol::channel::bounded(1);
    let open = Event::ClientWebSocket {
        client,
        actor,
        path,
        headers: forwarded_headers(req.headers()),
        link,
        verdict: verdict_tx,
    };
    let (ex, events, metrics) = (
        Arc::clone(&shared.ex),
        shared.events.clone(),
        Arc::clone(&shared.metrics),
    );
    let run = move |socket| async move {
        run_client(&ex, socket, client, outbox, events, metrics).await;
    };
    let end = move || {
        Event::Input(Input::ClientClosed {
            client,
            close: None,
        })
    };
    let side = Side {
        read_buffer: CLIENT_READ_BUFFER,
        refusal: Refusal::AcceptThenClose { ray },
    };
    if let Err(resp) = upgrade(shared, &mut req, open, verdict_rx, end, side, run).await {
        return resp;
    }
    switching(accept, protocol)
}

/// Counts a running WebSocket for the shutdown wait.
struct LiveSocket(Arc<AtomicUsize>);

impl LiveSocket {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for LiveSocket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP proxy

enum BodyError {
    TooLarge,
    OverBudget,
    Read(hyper::Error),
}

/// After a refusal, reads and drops the rest of the body for a while, so a client still
/// sending gets to read the answer instead of a reset (as servers' lingering close does).
/// Nothing is kept, and the time is bounded.
fn drain(ex: &Executor<'static>, mut body: Incoming) {
    ex.spawn(async move {
        smol::future::or(
            async { while let Some(Ok(_)) = body.frame().await {} },
            async {
                smol::Timer::after(CLOSE_GRACE).await;
            },
        )
        .await;
    })
    .detach();
}

/// Reads a request body whole, within the message limit and the body budget. A declared
/// length is checked and reserved before anything is read, so a refused upload costs nothing.
async fn read_body(
    body: &mut Incoming,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, BodyError> {
    let declared = hyper::body::Body::size_hint(body)
        .upper()
        .and_then(|n| usize::try_from(n).ok());
    if let Some(n) = declared {
        if n > MAX_MESSAGE {
            return Err(BodyError::TooLarge);
        }
        if !reservation.cover(n) {
            return Err(BodyError::OverBudget);
        }
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            continue; // trailers are not forwarded
        };
        let total = out.len() + data.len();
        if total > MAX_MESSAGE {
            return Err(BodyError::TooLarge);
        }
        if !reservation.cover(total) {
            return Err(BodyError::OverBudget);
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

async fn proxy_http(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    target: GatewayTarget,
) -> Response<Body> {
    let GatewayTarget { actor, token, path } = target;
    let refusals = &shared.metrics.gateway_unauthorized;
    if let Err(e) = shared
        .tokens
        .check_gateway(token.as_deref(), req.headers(), &[], refusals)
    {
        drain(&shared.ex, req.into_body());
        return e.response();
    }
    let method = req.method().as_str().to_owned();
    let headers = forwarded_headers(req.headers());
    // Held until the actor's answer arrives (the end of this function).
    let mut reservation = shared.body_budget.reservation();
    let mut incoming = req.into_body();
    let read = read_body(&mut incoming, &mut reservation).await;
    if read.is_err() {
        drain(&shared.ex, incoming);
    }
    let body = match read {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "guard",
                "invalid_request_body",
                &format!("request body over {MAX_MESSAGE} bytes"),
            )
            .response();
        }
        Err(BodyError::OverBudget) => {
            shared
                .metrics
                .http_body_budget_rejects
                .fetch_add(1, Ordering::Relaxed);
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "torpor",
                "body_budget_exhausted",
                &format!(
                    "request bodies in flight would pass the gateway's budget of {} bytes; \
                     retry later",
                    shared.body_budget.limit()
                ),
            )
            .response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
        Err(BodyError::Read(e)) => {
            return ApiError::bad_request(&format!("reading the request body failed: {e}"))
                .response();
        }
    };
    let client = ClientId::new(shared.id());
    // Unbounded, but the core task bounds what it queues by `unsent` (see `Hub`).
    let (tx, rx) = smol::channel::unbounded();
    let unsent = Arc::new(AtomicUsize::new(0));
    let event = Event::Http {
        client,
        actor,
        method,
        path,
        headers,
        body,
        reply: HttpLink {
            reply: tx,
            unsent: Arc::clone(&unsent),
        },
    };
    if shared.events.send(event).await.is_err() {
        return unavailable();
    }
    let guard = EndGuard {
        events: shared.events.clone(),
        ex: Arc::clone(&shared.ex),
        end: Some(Event::Input(Input::HttpCancelled { client })),
    };
    let Ok(HttpOut::Head {
        status,
        headers,
        body,
        streaming,
    }) = rx.recv().await
    else {
        guard.disarm();
        return unavailable();
    };
    let body: Body = if streaming {
        // The guard moves into the stream: a client leaving mid-body cancels the request.
        let first = Some(Bytes::from(body));
        let state = (first, rx, Some(guard), false, unsent);
        let stream = smol::stream::unfold(state, |(first, rx, guard, done, unsent)| async move {
            if let Some(b) = first {
                return Some((Ok(Frame::data(b)), (None, rx, guard, done, unsent)));
            }
            if done {
                return None;
            }
            match rx.recv().await {
                Ok(HttpOut::Chunk { data, finish }) => {
                    // Taken by hyper, which asks for the next chunk once this one is written.
                    unsent.fetch_sub(data.len(), Ordering::AcqRel);
                    let guard = if finish {
                        if let Some(g) = guard {
                            g.disarm();
                        }
                        None
                    } else {
                        guard
                    };
                    Some((
                        Ok(Frame::data(Bytes::from(data))),
                        (None, rx, guard, finish, unsent),
                    ))
                }
                _ => {
                    if let Some(g) = guard {
                        g.disarm();
                    }
                    Some((
                        Err(io::Error::other("the actor aborted the response")),
                        (None, rx, None, true, unsent),
                    ))
                }
            }
        });
        StreamBody::new(stream).boxed_unsync()
    } else {
        guard.disarm();
        full(body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status_code(status);
    for (name, value) in headers.iter() {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Request headers as the actor gets them: lowercase names, repeats joined with `, `, and
/// without the gateway's token (`x-rivet-token`, `rivet_token.*` subprotocols), which is the
/// gateway's business and must not reach actor code or the hibernation index (the engine
/// strips it too).
fn forwarded_headers(map: &HeaderMap) -> Headers {
    let mut out = Headers::default();
    for name in map.keys() {
        if name.as_str() == TOKEN_HEADER {
            continue;
        }
        let values = map
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let joined = if *name == header::SEC_WEBSOCKET_PROTOCOL {
            values
                .flat_map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty() && !p.starts_with(TOKEN_PROTOCOL))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            values.collect::<Vec<_>>().join(", ")
        };
        out.insert(name.as_str(), joined);
    }
    out
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn empty() -> Body {
    full(Bytes::new())
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn unavailable() -> Response<Body> {
    ApiError::shutting_down().response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_paths_split_into_actor_token_and_path() {
        let t = gateway_target("abc@to%2Bk%40en/ws/x", Some("q=1")).unwrap();
        assert_eq!(
            (t.actor.as_str(), t.token.as_deref(), t.path.as_str()),
            ("abc", Some("to+k@en"), "/ws/x?q=1")
        );
        let t = gateway_target("abc", None).unwrap();
        assert_eq!(
            (t.actor.as_str(), t.token, t.path.as_str()),
            ("abc", None, "/")
        );
        assert!(gateway_target("abc@/x", None).is_err());
        assert!(gateway_target("@tok/x", None).is_err());
    }

    #[test]
    fn the_gateway_token_is_not_forwarded_to_the_actor() {
        let mut map = HeaderMap::new();
        map.insert("x-rivet-token", HeaderValue::from_static("secret"));
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer app"),
        );
        map.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("rivet, rivet_token.secret"),
        );
        map.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("rivet_encoding.json"),
        );
        let out = forwarded_headers(&map);
        assert_eq!(out.get("x-rivet-token"), None);
        assert_eq!(
            out.get("authorization").map(String::as_str),
            Some("Bearer app")
        );
        assert_eq!(
            out.get("sec-websocket-protocol").map(String::as_str),
            Some("rivet, rivet_encoding.json")
        );
    }
}

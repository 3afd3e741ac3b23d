//! WebSocket upgrades: the RFC 6455 handshake, asking the core whether to accept, and handing
//! the socket over from hyper to its own task — for runners (`/runners/connect`) and for
//! clients through the gateway (`/gateway/…`).
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use smol::channel::Receiver;
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;
use torpor_core::{ClientId, Input, RunnerConnId, RunnerParams};

use super::gateway_path::{GatewayTarget, forwarded_headers};
use super::{Body, EndGuard, Shared, empty, unavailable};
use crate::api_error::ApiError;
use crate::auth::protocol_token;
use crate::links::{Event, Verdict, socket_link};
use crate::websocket::{
    CLIENT_READ_BUFFER, CLOSE_GRACE, RUNNER_READ_BUFFER, Socket, run_client, run_runner, ws_config,
};

pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
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
pub(super) fn subprotocols(headers: &HeaderMap) -> Vec<String> {
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
            // otherwise stay part of every open socket's memory. The guard rides on a `map`,
            // not an async block, which would store the socket's future twice.
            let socket = Socket::new(ws, tcp);
            ex.spawn(run(socket).map(move |()| drop(live))).detach();
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

pub(super) async fn runner_upgrade(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
) -> Response<Body> {
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
    // `/envoys/connect` (envoy protocol 8) names its key `envoy_key` and its pool in the URL;
    // the core checks the version against them.
    let envoy = req.uri().path() == "/envoys/connect";
    let params = RunnerParams {
        protocol_version: param("protocol_version").and_then(|v| v.parse().ok()),
        namespace: param("namespace").unwrap_or_default(),
        runner_key: param(if envoy { "envoy_key" } else { "runner_key" }).unwrap_or_default(),
        token: protocol_token(&protocols).map(str::to_owned),
        pool_name: if envoy { param("pool_name") } else { None },
    };
    let conn = RunnerConnId::new(shared.id());
    let (link, outbox) = socket_link();
    let (verdict_tx, verdict_rx) = smol::channel::bounded(1);
    let open = Event::RunnerConnect {
        conn,
        peer: req.extensions().get::<super::ClientAddr>().map(|a| a.0),
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

/// The subprotocol the gateway answers. The actor side does not negotiate subprotocols:
/// `rivet` when offered (RivetKit clients), else the client's first choice, so clients that
/// insist on one still connect.
fn chosen_protocol(protocols: &[String]) -> Option<&str> {
    protocols
        .iter()
        .find(|p| *p == "rivet")
        .or(protocols.first())
        .map(String::as_str)
}

/// A gateway WebSocket refused before it reached an actor (a bad query-form path, an actor
/// that cannot be found, a wrong token): accepted, then closed with `group.code#ray`, as every
/// refused gateway WebSocket is, since RivetKit reads the reason from the close.
pub(super) fn refuse_upgrade(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
    e: &ApiError,
    ray: &str,
) -> Response<Body> {
    let accept = match handshake(&req) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let protocols = subprotocols(req.headers());
    close_after_accept(shared, &mut req, format!("{}#{ray}", e.name()));
    switching(accept, chosen_protocol(&protocols))
}

pub(super) async fn client_upgrade(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
    target: GatewayTarget,
    ray: &str,
) -> Response<Body> {
    let protocols = subprotocols(req.headers());
    let GatewayTarget { actor, token, path } = target;
    if !shared.policy().origin_allowed(req.headers()) {
        shared
            .metrics
            .origin_rejects
            .fetch_add(1, Ordering::Relaxed);
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        tracing::info!(%origin, actor = %actor, "websocket refused: origin not allowed");
        // A plain 403: the browser's page is not RivetKit's to read a close reason from.
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "guard",
            "origin_not_allowed",
            &format!("Origin `{origin}` is not in allowed_origins."),
        )
        .response();
    }
    let refusals = &shared.metrics.gateway_unauthorized;
    if let Err(e) =
        shared
            .policy()
            .tokens
            .check_gateway(token.as_deref(), req.headers(), &protocols, refusals)
    {
        return refuse_upgrade(shared, req, &e, ray);
    }
    let accept = match handshake(&req) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let protocol = chosen_protocol(&protocols);
    let client = ClientId::new(shared.id());
    let (link, outbox) = socket_link();
    let (verdict_tx, verdict_rx) = smol::channel::bounded(1);
    let open = Event::ClientWebSocket {
        client,
        peer: req.extensions().get::<super::ClientAddr>().map(|a| a.0),
        actor,
        path,
        headers: forwarded_headers(req.headers()),
        link,
        verdict: verdict_tx,
    };
    let (events, metrics) = (shared.events.clone(), Arc::clone(&shared.metrics));
    let run = move |socket| run_client(socket, client, outbox, events, metrics);
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

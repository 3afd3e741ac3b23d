//! The HTTP side: hyper serves each TCP connection and [`route`] sends each request where it
//! belongs — WebSocket upgrades of runners and clients ([`upgrade`]), the actor HTTP proxy
//! ([`proxy`]) for `/gateway/…` (whose paths [`gateway_path`] reads), the engine API
//! ([`crate::api`]), `/metrics` and `/healthz`.
//!
//! Checks return the finished error response as their `Err`: it is what the caller sends, and
//! only error paths build one.
#![allow(clippy::result_large_err)]

mod actor_query;
mod gateway_path;
mod ops;
mod proxy;
mod upgrade;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use smol::Executor;
use smol::channel::Sender;
use smol::net::TcpStream;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use tracing::{Instrument as _, debug, debug_span, warn};

use self::gateway_path::gateway_target;
pub(crate) use self::gateway_path::percent_decoded;
use self::proxy::proxy_http;
use self::upgrade::{client_upgrade, is_upgrade, refuse_upgrade, runner_upgrade};
use crate::api;
use crate::api_error::ApiError;
use crate::auth::{Audience, Policy};
use crate::body_budget::BodyBudget;
use crate::ip_limit::{IpGuard, IpLimiter};
use crate::links::Event;
use crate::metrics::AdapterMetrics;

pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) ex: Arc<Executor<'static>>,
    pub(crate) events: Sender<Event>,
    pub(crate) metrics: Arc<AdapterMetrics>,
    /// Tokens, origins, per-address limit, trusted proxies: replaced whole on a reload.
    pub(crate) policy: RwLock<Policy>,
    /// Connections per client address.
    pub(crate) ip_limiter: Arc<IpLimiter>,
    /// The database file (backups are written beside it before they are sent).
    pub(crate) database: PathBuf,
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
    pub(crate) runner_configs: Mutex<BTreeMap<(String, String), serde_json::Value>>,
}

impl Shared {
    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The policy in force.
    pub(crate) fn policy(&self) -> RwLockReadGuard<'_, Policy> {
        // Nothing panics while holding the write lock (it only swaps a value in), so a
        // poisoned lock still holds a whole policy.
        self.policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One TCP connection's standing with the per-address limit.
enum Admission {
    /// No limit, or its place is held (released on drop) for as long as the connection lives.
    Admitted { _place: Option<IpGuard> },
    /// From a trusted proxy: charged to the client its first request names.
    Undecided,
    /// Over the limit: every request is answered 429 and the connection closed.
    Refused,
}

/// What the requests of one TCP connection share.
struct Connection {
    peer: IpAddr,
    admission: Mutex<Admission>,
}

impl Connection {
    /// Whether a request from `client` may be served on this connection.
    fn admit(&self, shared: &Shared, client: IpAddr) -> bool {
        let Ok(mut admission) = self.admission.lock() else {
            return true;
        };
        if let Admission::Undecided = *admission {
            let limit = shared.policy().max_connections_per_ip;
            *admission = match shared.ip_limiter.acquire(client, limit) {
                Ok(guard) => Admission::Admitted { _place: guard },
                Err(()) => Admission::Refused,
            };
        }
        !matches!(*admission, Admission::Refused)
    }
}

/// Serves one TCP connection (HTTP/1.1 with keep-alive and upgrades).
pub(crate) async fn serve_connection(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let metrics = Arc::clone(&shared.metrics);
    let shared_timeout = shared.http_header_timeout;
    let peer = peer.ip();
    let admission = {
        let policy = shared.policy();
        if policy.trusts(peer) {
            Admission::Undecided
        } else {
            match shared
                .ip_limiter
                .acquire(peer, policy.max_connections_per_ip)
            {
                Ok(guard) => Admission::Admitted { _place: guard },
                Err(()) => Admission::Refused,
            }
        }
    };
    let conn = Arc::new(Connection {
        peer,
        admission: Mutex::new(admission),
    });
    metrics.http_connections.fetch_add(1, Ordering::Relaxed);
    let svc = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        let conn = Arc::clone(&conn);
        async move { Ok::<_, Infallible>(admit_and_route(shared, &conn, req).await) }
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

/// Applies the per-address limit, then routes the request in a span naming it and its client.
/// The client's address as the policy sees it, kept with the request for the logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

async fn admit_and_route(
    shared: Arc<Shared>,
    conn: &Connection,
    mut req: Request<Incoming>,
) -> Response<Body> {
    shared
        .metrics
        .http_server_requests
        .fetch_add(1, Ordering::Relaxed);
    let client = shared.policy().client_ip(conn.peer, req.headers());
    req.extensions_mut().insert(ClientAddr(client));
    let ray = ray_id();
    // Debug level: a span per request costs an allocation when enabled.
    let span = debug_span!("http", ray = %ray, client = %client);
    if !conn.admit(&shared, client) {
        shared
            .metrics
            .ip_limit_rejects
            .fetch_add(1, Ordering::Relaxed);
        warn!(
            %client,
            path = req.uri().path(),
            "connection refused: max_connections_per_ip"
        );
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "guard",
            "too_many_connections",
            "Too many connections from this address (max_connections_per_ip).",
        )
        .response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return finish(&shared, resp, &ray);
    }
    let response = route(&shared, req, &ray).instrument(span).await;
    finish(&shared, response, &ray)
}

/// Counts a refusal and stamps the ray id.
fn finish(shared: &Shared, mut response: Response<Body>, ray: &str) -> Response<Body> {
    if response.status().is_client_error() {
        shared
            .metrics
            .http_bad_requests
            .fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(v) = HeaderValue::from_str(ray) {
        response.headers_mut().insert("x-rivet-ray-id", v);
    }
    response
}

async fn route(shared: &Arc<Shared>, req: Request<Incoming>, ray: &str) -> Response<Body> {
    let shared = Arc::clone(shared);
    let path = req.uri().path().to_owned();
    let ray = ray.to_owned();
    if let Err(e) = ops::check_query(&path, req.uri().query()) {
        return e.response();
    }
    if path == "/healthz" {
        match *req.method() {
            Method::GET | Method::HEAD => text(StatusCode::OK, "ok\n"),
            _ => ApiError::method_not_allowed("GET").response(),
        }
    } else if path == "/readyz" {
        ops::readiness(&shared, req.method()).await
    } else if path == "/admin/backup" {
        ops::backup(&shared, &req).await
    } else if path == "/runners/connect" || path == "/envoys/connect" {
        runner_upgrade(&shared, req).await
    } else if let Some(rest) = path.strip_prefix("/gateway/") {
        let query = req.uri().query();
        let target = if actor_query::is_query_form(query) {
            actor_query::target(&shared, rest, query.unwrap_or(""), req.headers()).await
        } else {
            gateway_target(rest, query)
        };
        match target {
            Ok(target) if is_upgrade(req.headers()) => {
                client_upgrade(&shared, req, target, &ray).await
            }
            Ok(target) => proxy_http(&shared, req, target).await,
            Err(e) if is_upgrade(req.headers()) => refuse_upgrade(&shared, req, &e, &ray),
            Err(e) => e.response(),
        }
    } else if path == "/metrics" {
        let refusals = &shared.metrics.metrics_unauthorized;
        let checked = shared
            .policy()
            .tokens
            .check_api(Audience::Metrics, req.headers(), refusals);
        match checked {
            Err(e) => e.response(),
            Ok(()) => metrics_page(&shared, req.method()).await,
        }
    } else if api::serves(&path) {
        api::handle(&shared, req).await
    } else {
        ApiError::no_route().response()
    }
}

/// An id for one request, in every response (`x-rivet-ray-id`) and in the reason of a
/// WebSocket the gateway closes right after accepting it, as the engine does.
fn ray_id() -> String {
    format!("{:016x}", fastrand::u64(..))
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
        Ok(sample) => {
            let page = crate::metrics::render(sample, &shared.metrics);
            let mut resp = Response::new(full(page));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            resp
        }
        Err(_) => unavailable(),
    }
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

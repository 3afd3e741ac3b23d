//! The admin API over HTTP: JSON in and out, mapped onto the core's [`AdminCommand`]s.
//!
//! Parsers return the finished error response as their `Err` (see `http`).
#![allow(clippy::result_large_err)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use torpor_core::{ActorId, ActorInfo, AdminCommand, AdminReply, CreateActor, SocketInfo};

use crate::http::{Body, Shared, error_json, json_response, method_not_allowed, unavailable};
use crate::links::Event;

/// Largest admin request body (an actor's input is the only big field).
const MAX_BODY: usize = 4 << 20;

/// `POST /actors` and `PUT /actors` bodies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    key: Option<String>,
    runner_name: Option<String>,
    namespace: Option<String>,
    /// Base64.
    input: Option<String>,
}

pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let method = req.method().clone();
    let command = match (segments.as_slice(), &method) {
        ([], &Method::GET) => {
            let name = req.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "name")
                    .map(|(_, v)| v.into_owned())
            });
            AdminCommand::List { name }
        }
        ([], &Method::POST | &Method::PUT) => {
            let create = match create_body(req).await {
                Ok(c) => c,
                Err(resp) => return resp,
            };
            if method == Method::POST {
                AdminCommand::Create(create)
            } else {
                AdminCommand::GetOrCreate(create)
            }
        }
        ([], _) => return method_not_allowed("GET, POST, PUT"),
        ([id], m) => {
            let id = match actor_id(id) {
                Ok(id) => id,
                Err(resp) => return resp,
            };
            match *m {
                Method::GET => AdminCommand::Get(id),
                Method::DELETE => AdminCommand::Destroy(id),
                _ => return method_not_allowed("GET, DELETE"),
            }
        }
        ([id, "sleep"], m) => {
            if *m != Method::POST {
                return method_not_allowed("POST");
            }
            match actor_id(id) {
                Ok(id) => AdminCommand::Sleep(id),
                Err(resp) => return resp,
            }
        }
        ([id, "sockets"], m) => {
            if *m != Method::GET {
                return method_not_allowed("GET");
            }
            match actor_id(id) {
                Ok(id) => AdminCommand::Sockets(id),
                Err(resp) => return resp,
            }
        }
        _ => {
            return error_json(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no route for {path}"),
            );
        }
    };
    let (tx, rx) = smol::channel::bounded(1);
    if shared
        .events
        .send(Event::Admin { command, reply: tx })
        .await
        .is_err()
    {
        return unavailable();
    }
    match rx.recv().await {
        Ok(Ok(AdminReply::Actor { actor, created })) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_response(
                status,
                &json!({ "actor": actor_json(&actor), "created": created }),
            )
        }
        Ok(Ok(AdminReply::Actors(list))) => json_response(
            StatusCode::OK,
            &json!({ "actors": list.iter().map(actor_json).collect::<Vec<_>>() }),
        ),
        Ok(Ok(AdminReply::Sockets(list))) => json_response(
            StatusCode::OK,
            &json!({ "sockets": list.iter().map(socket_json).collect::<Vec<_>>() }),
        ),
        Ok(Ok(AdminReply::Done)) => json_response(StatusCode::OK, &json!({ "ok": true })),
        Ok(Err(e)) => {
            let code = match e.http_status() {
                404 => "not_found",
                409 => "conflict",
                400 => "invalid",
                500 => "store_failed",
                _ => "unavailable",
            };
            error_json(
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
                code,
                &e.to_string(),
            )
        }
        Err(_) => unavailable(),
    }
}

fn actor_id(s: &str) -> Result<ActorId, Response<Body>> {
    ActorId::parse(s).ok_or_else(|| {
        error_json(
            StatusCode::BAD_REQUEST,
            "invalid",
            &format!("{s:?} is not an actor id"),
        )
    })
}

async fn create_body(req: Request<Incoming>) -> Result<CreateActor, Response<Body>> {
    let bad = |msg: String| error_json(StatusCode::BAD_REQUEST, "invalid", &msg);
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| bad(format!("reading the body failed: {e}")))?
        .to_bytes();
    let body: CreateBody =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
    let input = body
        .input
        .map(|b64| {
            BASE64
                .decode(b64.as_bytes())
                .map_err(|e| bad(format!("`input` is not base64: {e}")))
        })
        .transpose()?;
    Ok(CreateActor {
        namespace: body.namespace.unwrap_or_else(|| "default".to_owned()),
        name: body.name,
        key: body.key,
        runner_name: body.runner_name.unwrap_or_else(|| "default".to_owned()),
        input,
        wall: crate::hub::wall(),
    })
}

fn actor_json(a: &ActorInfo) -> Value {
    json!({
        "actor_id": a.actor_id.to_string(),
        "namespace": a.namespace,
        "name": a.name,
        "key": a.key,
        "runner_name": a.runner_name,
        "state": a.state,
        "generation": a.generation,
        "create_ts": a.create_ts,
    })
}

fn socket_json(s: &SocketInfo) -> Value {
    json!({
        "client": s.client.get(),
        "request_id": s.request_id,
        "kind": s.kind,
        "state": s.state,
        "path": s.path,
        "can_hibernate": s.can_hibernate,
        "queued_messages": s.queued_messages,
        "unacked_messages": s.unacked_messages,
        "unacked_bytes": s.unacked_bytes,
        "paused": s.paused,
    })
}

//! The Rivet Engine's public HTTP API as RivetKit calls it (RIVETKIT.md), mapped onto the core's
//! [`AdminCommand`]s, plus Torpor's extensions (`/actors/{id}`, `/actors/{id}/sleep`,
//! `/actors/{id}/sockets`). Shapes, names and status codes follow the engine; COMPATIBILITY.md
//! lists every endpoint with its engine counterpart and the differences.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use torpor_core::{
    ActorFilter, ActorId, ActorInfo, AdminCommand, AdminError, AdminReply, CrashPolicy,
    CreateActor, NamespaceRecord, RunnerInfo, SocketInfo,
};

use crate::api_error::ApiError;
use crate::auth::Audience;
use crate::http::{Body, Shared, json_response};
use crate::links::Event;

/// Largest API request body (an actor's input is the only big field; the engine's limit).
const MAX_BODY: usize = 4 << 20;

/// The one datacenter Torpor is.
pub(crate) const DATACENTER: &str = "default";

/// `GET /actors` by ids: at most this many, as on the engine.
const MAX_ACTOR_IDS: usize = 32;

/// List page size unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// Largest list page a `limit` may ask for.
const MAX_LIMIT: usize = 1000;

/// One page of `items` in ascending `key` order, after `cursor` (the key of the last item of
/// the previous page), and the next cursor: as on the engine, the last item's key whenever the
/// page is not empty (an empty page ends the listing).
fn page_of<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    cursor: Option<&str>,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    items.sort_by_key(|i| key(i));
    let page: Vec<T> = items
        .into_iter()
        .filter(|i| cursor.is_none_or(|c| key(i).as_str() > c))
        .take(limit)
        .collect();
    let next = page.last().map(&key);
    (page, next)
}

#[derive(Clone, Copy)]
enum Route {
    Health,
    Metadata,
    Datacenters,
    RunnerConfigs,
    RunnerConfig,
    Runners,
    Namespaces,
    Actors,
    ActorNames,
    Actor,
    ActorKv,
    ActorSleep,
    ActorSockets,
}

static ROUTES: LazyLock<matchit::Router<Route>> = LazyLock::new(|| {
    let mut r = matchit::Router::new();
    for (path, route) in [
        ("/health", Route::Health),
        ("/metadata", Route::Metadata),
        ("/datacenters", Route::Datacenters),
        ("/runner-configs", Route::RunnerConfigs),
        ("/runner-configs/{name}", Route::RunnerConfig),
        ("/runners", Route::Runners),
        ("/namespaces", Route::Namespaces),
        ("/actors", Route::Actors),
        ("/actors/names", Route::ActorNames),
        ("/actors/{id}", Route::Actor),
        // A catch-all, so a base64 key with an unescaped `/` still finds its route.
        ("/actors/{id}/kv/keys/{*key}", Route::ActorKv),
        ("/actors/{id}/sleep", Route::ActorSleep),
        ("/actors/{id}/sockets", Route::ActorSockets),
    ] {
        r.insert(path, route).expect("routes are distinct");
    }
    r
});

/// Whether `path` is one of the API's routes.
pub(crate) fn serves(path: &str) -> bool {
    ROUTES.at(path).is_ok()
}

pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    match route(shared, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(),
    }
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let Ok(matched) = ROUTES.at(&path) else {
        return Err(ApiError::no_route());
    };
    let route = *matched.value;
    let param = |name: &str| matched.params.get(name).unwrap_or_default().to_owned();
    let method = req.method().clone();
    // As on the engine, health and metadata are open. The actor routes a RivetKit client
    // calls also take the client token; everything else needs the admin token (when set).
    let audience = match (route, &method) {
        (Route::Health | Route::Metadata, _) => None,
        (Route::Actors, &Method::GET | &Method::POST | &Method::PUT) => Some(Audience::Client),
        _ => Some(Audience::Admin),
    };
    if let Some(audience) = audience {
        let refusals = &shared.metrics.admin_unauthorized;
        shared
            .policy()
            .tokens
            .check_api(audience, req.headers(), refusals)?;
    }
    match (route, &method) {
        (Route::Health, &Method::GET) => Ok(json_response(
            StatusCode::OK,
            &json!({ "runtime": "engine", "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
        )),
        (Route::Metadata, &Method::GET) => Ok(json_response(
            StatusCode::OK,
            &json!({
                "runtime": "engine",
                "version": env!("CARGO_PKG_VERSION"),
                "server": "torpor",
            }),
        )),
        (Route::Datacenters, &Method::GET) => Ok(json_response(
            StatusCode::OK,
            &json!({
                "datacenters": [{ "label": 1, "name": DATACENTER, "url": shared.public_url }],
                "pagination": { "cursor": null },
            }),
        )),
        (Route::RunnerConfigs, &Method::GET) => {
            let q = Query::parse(&req, &["namespace", "runner_name", "limit", "cursor"])?;
            let namespace = q.namespace(shared).await?;
            let limit = q.limit()?;
            let matching: Vec<(String, Value)> = shared
                .runner_configs
                .lock()
                .expect("runner configs")
                .iter()
                .filter(|((ns, name), _)| {
                    *ns == namespace && q.get("runner_name").is_none_or(|n| n == name)
                })
                .map(|((_, name), cfg)| (name.clone(), cfg.clone()))
                .collect();
            let (page, next) = page_of(matching, |(name, _)| name.clone(), q.get("cursor"), limit);
            let list: serde_json::Map<String, Value> = page
                .into_iter()
                .map(|(name, cfg)| (name, json!({ "datacenters": { DATACENTER: cfg } })))
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({ "runner_configs": list, "pagination": { "cursor": next } }),
            ))
        }
        (Route::RunnerConfig, &Method::PUT) => {
            let q = Query::parse(&req, &["namespace"])?;
            let namespace = q.namespace(shared).await?;
            let name = crate::http::percent_decoded(&param("name"));
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                return Err(ApiError::invalid_input(
                    "A runner config name is 1 to 128 bytes without control characters.",
                ));
            }
            let body: RunnerConfigBody = json_body(req).await?;
            let mut config = None;
            for (dc, cfg) in body.datacenters {
                if dc != DATACENTER {
                    return Err(datacenter_not_found());
                }
                if !cfg.get("normal").is_some_and(Value::is_object)
                    && !cfg.get("serverless").is_some_and(Value::is_object)
                {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "runner_config",
                        "invalid",
                        "Invalid runner config: expected `normal` or `serverless`",
                    ));
                }
                config = Some(cfg);
            }
            let mut configs = shared.runner_configs.lock().expect("runner configs");
            let key = (namespace, name);
            let changed = match config {
                Some(cfg) => configs.insert(key, cfg.clone()) != Some(cfg),
                None => configs.remove(&key).is_some(),
            };
            Ok(json_response(
                StatusCode::OK,
                &json!({ "endpoint_config_changed": changed }),
            ))
        }
        (Route::RunnerConfig, &Method::DELETE) => {
            let q = Query::parse(&req, &["namespace"])?;
            let namespace = q.namespace(shared).await?;
            let name = crate::http::percent_decoded(&param("name"));
            shared
                .runner_configs
                .lock()
                .expect("runner configs")
                .remove(&(namespace, name));
            Ok(json_response(StatusCode::OK, &json!({})))
        }
        (Route::Runners, &Method::GET) => {
            let q = Query::parse(&req, &["namespace", "name", "limit", "cursor"])?;
            let namespace = q.namespace_name(); // the core checks it
            let name = q.get("name").map(str::to_owned);
            let limit = q.limit()?;
            match admin(shared, AdminCommand::Runners { namespace, name }).await? {
                AdminReply::Runners(list) => {
                    let (page, next) =
                        page_of(list, |r| r.runner_id.clone(), q.get("cursor"), limit);
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({
                            "runners": page.iter().map(runner_json).collect::<Vec<_>>(),
                            "pagination": { "cursor": next },
                        }),
                    ))
                }
                other => Err(unexpected(&other)),
            }
        }
        (Route::Namespaces, &Method::GET) => {
            let q = Query::parse(&req, &["name", "limit", "cursor"])?;
            let name = q.get("name").map(str::to_owned);
            let limit = q.limit()?;
            match admin(shared, AdminCommand::Namespaces { name }).await? {
                AdminReply::Namespaces(list) => {
                    let (page, next) = page_of(list, |n| n.name.clone(), q.get("cursor"), limit);
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({
                            "namespaces": page.iter().map(namespace_json).collect::<Vec<_>>(),
                            "pagination": { "cursor": next },
                        }),
                    ))
                }
                other => Err(unexpected(&other)),
            }
        }
        (Route::Namespaces, &Method::POST) => {
            Query::parse(&req, &[])?;
            let body: NamespaceBody = json_body(req).await?;
            let command = AdminCommand::CreateNamespace {
                name: body.name,
                display_name: body.display_name,
                wall: crate::hub::wall(),
            };
            match admin(shared, command).await? {
                AdminReply::Namespaces(list) if list.len() == 1 => Ok(json_response(
                    StatusCode::OK,
                    &json!({ "namespace": namespace_json(&list[0]) }),
                )),
                other => Err(unexpected(&other)),
            }
        }
        (Route::Actors, &Method::GET) => list_actors(shared, &req).await,
        (Route::Actors, &Method::POST | &Method::PUT) => {
            let q = Query::parse(&req, &["namespace"])?;
            let namespace = q.namespace_name(); // the core checks it
            let get_or_create = method == Method::PUT;
            let body: CreateBody = json_body(req).await?;
            let create = body.into_create(namespace, get_or_create)?;
            let command = if get_or_create {
                AdminCommand::GetOrCreate(create)
            } else {
                AdminCommand::Create(create)
            };
            match admin(shared, command).await? {
                AdminReply::Actor { actor, created } => {
                    let mut reply = json!({ "actor": actor_json(&actor) });
                    if get_or_create {
                        reply["created"] = json!(created);
                    }
                    Ok(json_response(StatusCode::OK, &reply))
                }
                other => Err(unexpected(&other)),
            }
        }
        (Route::ActorNames, &Method::GET) => {
            let q = Query::parse(&req, &["namespace", "limit", "cursor"])?;
            let namespace = q.namespace_name(); // the core checks it
            let limit = q.limit()?;
            let cursor = q.get("cursor");
            let AdminReply::ActorNames(names) =
                admin(shared, AdminCommand::ActorNames { namespace }).await?
            else {
                return Err(ApiError::shutting_down());
            };
            // By name, after the cursor (the last name of the previous page).
            let names: Vec<(String, String)> = names.into_iter().collect();
            let (names, next) = page_of(names, |(name, _)| name.clone(), cursor, limit);
            let page: serde_json::Map<String, Value> = names
                .into_iter()
                .map(|(name, metadata)| {
                    let metadata = serde_json::from_str::<Value>(&metadata)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    (name, json!({ "metadata": metadata }))
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({ "names": page, "pagination": { "cursor": next } }),
            ))
        }
        (Route::ActorKv, &Method::GET) => {
            let q = Query::parse(&req, &["namespace"])?;
            let actor = actor_in(shared, &param("id"), &q).await?;
            let encoded = crate::http::percent_decoded(&param("key"));
            let key = BASE64.decode(encoded.as_bytes()).map_err(|e| {
                ApiError::bad_request(&format!("the key is not base64 ({e}): {encoded:?}"))
            })?;
            let command = AdminCommand::KvGet {
                actor: actor.actor_id,
                key,
            };
            match admin(shared, command).await? {
                AdminReply::KvValue { value, update_ts } => Ok(json_response(
                    StatusCode::OK,
                    &json!({ "value": BASE64.encode(value), "update_ts": update_ts }),
                )),
                other => Err(unexpected(&other)),
            }
        }
        (Route::Actor, &Method::GET) => {
            let q = Query::parse(&req, &["namespace"])?;
            let actor = actor_in(shared, &param("id"), &q).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "actor": actor_json(&actor) }),
            ))
        }
        (Route::Actor, &Method::DELETE) => {
            let q = Query::parse(&req, &["namespace"])?;
            let actor = actor_in(shared, &param("id"), &q).await?;
            admin(shared, AdminCommand::Destroy(actor.actor_id)).await?;
            Ok(json_response(StatusCode::OK, &json!({})))
        }
        (Route::ActorSleep, &Method::POST) => {
            let q = Query::parse(&req, &["namespace"])?;
            let actor = actor_in(shared, &param("id"), &q).await?;
            admin(shared, AdminCommand::Sleep(actor.actor_id)).await?;
            Ok(json_response(StatusCode::OK, &json!({})))
        }
        (Route::ActorSockets, &Method::GET) => {
            let q = Query::parse(&req, &["namespace", "limit", "cursor"])?;
            let actor = actor_in(shared, &param("id"), &q).await?;
            let limit = q.limit()?;
            match admin(shared, AdminCommand::Sockets(actor.actor_id)).await? {
                AdminReply::Sockets(list) => {
                    // By client number; the cursor is the last one's, zero-padded so it sorts.
                    let key = |s: &SocketInfo| format!("{:020}", s.client.get());
                    let (page, next) = page_of(list, key, q.get("cursor"), limit);
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({
                            "sockets": page.iter().map(socket_json).collect::<Vec<_>>(),
                            "pagination": { "cursor": next },
                        }),
                    ))
                }
                other => Err(unexpected(&other)),
            }
        }
        (
            Route::Health
            | Route::Metadata
            | Route::Datacenters
            | Route::Runners
            | Route::ActorNames
            | Route::ActorKv
            | Route::ActorSockets,
            _,
        ) => Err(ApiError::method_not_allowed("GET")),
        (Route::RunnerConfigs, _) => Err(ApiError::method_not_allowed("GET")),
        (Route::Namespaces, _) => Err(ApiError::method_not_allowed("GET, POST")),
        (Route::RunnerConfig, _) => Err(ApiError::method_not_allowed("PUT, DELETE")),
        (Route::Actors, _) => Err(ApiError::method_not_allowed("GET, POST, PUT")),
        (Route::Actor, _) => Err(ApiError::method_not_allowed("GET, DELETE")),
        (Route::ActorSleep, _) => Err(ApiError::method_not_allowed("POST")),
    }
}

/// `GET /actors`, with the engine's selection rules: by ids, by name and key (at most one
/// live actor), or by name; newest first, paged by `create_ts`.
async fn list_actors(shared: &Shared, req: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(
        req,
        &[
            "namespace",
            "name",
            "key",
            "actor_ids",
            "actor_id",
            "include_destroyed",
            "limit",
            "cursor",
        ],
    )?;
    let namespace = q.namespace_name(); // the core checks it
    match q.get("include_destroyed") {
        None | Some("false") => {}
        Some("true") => {
            return Err(ApiError::bad_request(
                "`include_destroyed=true` is not supported: Torpor keeps no destroyed actors",
            ));
        }
        Some(other) => {
            return Err(ApiError::bad_request(&format!(
                "`include_destroyed` must be true or false, not {other:?}"
            )));
        }
    }
    let limit = q.limit()?;
    // Newest first; actors created in the same millisecond by id. The cursor names the last
    // actor of the previous page as `create_ts.actor_id` (a bare `create_ts`, as the engine
    // sends, skips that whole millisecond).
    let cursor = q
        .get("cursor")
        .map(|s| {
            let (ts, id) = s.split_once('.').map_or((s, None), |(t, i)| (t, Some(i)));
            let ts = ts.parse::<i64>().ok();
            let id = id.map(ActorId::parse);
            match (ts, id) {
                (Some(ts), None) => Ok((ts, None)),
                (Some(ts), Some(Some(id))) => Ok((ts, Some(id))),
                _ => Err(ApiError::bad_request(&format!(
                    "`cursor` is not one this API gave: {s:?}"
                ))),
            }
        })
        .transpose()?;
    let mut ids = Vec::new();
    for raw in q
        .all("actor_ids")
        .flat_map(|v| v.split(','))
        .chain(q.all("actor_id"))
    {
        let raw = raw.trim();
        let id = ActorId::parse(raw).ok_or_else(|| {
            ApiError::bad_request(&format!("invalid id in `actor_ids` query: {raw:?}"))
        })?;
        ids.push(id);
    }
    let (name, key) = (q.get("name"), q.get("key"));
    let filter = if !ids.is_empty() {
        if name.is_some() || key.is_some() {
            return Err(ApiError::invalid_input(
                "Cannot provide both actor_id and (name + key). Use either actor_id or (name + key).",
            ));
        }
        if ids.len() > MAX_ACTOR_IDS {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "validation",
                "too_many_actor_ids",
                &format!(
                    "Too many actor IDs provided. Maximum is {MAX_ACTOR_IDS}, got {}",
                    ids.len()
                ),
            )
            .with_metadata(json!({ "count": ids.len(), "max": MAX_ACTOR_IDS })));
        }
        ActorFilter::Ids(ids)
    } else {
        match (name, key) {
            (Some(name), Some(key)) => ActorFilter::Key {
                name: name.to_owned(),
                key: key.to_owned(),
            },
            (Some(name), None) => ActorFilter::Name(name.to_owned()),
            (None, Some(_)) => {
                return Err(ApiError::invalid_input(
                    "Name is required when key is provided.",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_input(
                    "Name is required when not using actor_ids.",
                ));
            }
        }
    };
    let AdminReply::Actors(list) = admin(shared, AdminCommand::List { namespace, filter }).await?
    else {
        return Err(ApiError::shutting_down());
    };
    let order = |a: &ActorInfo| (std::cmp::Reverse(a.create_ts), a.actor_id);
    let mut list = list;
    list.sort_by_key(order);
    let page: Vec<&ActorInfo> = list
        .iter()
        .filter(|a| match cursor {
            None => true,
            Some((ts, None)) => a.create_ts < ts,
            Some((ts, Some(id))) => order(a) > (std::cmp::Reverse(ts), id),
        })
        .take(limit)
        .collect();
    let next = page
        .last()
        .map(|a| format!("{}.{}", a.create_ts, a.actor_id));
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "actors": page.iter().map(|a| actor_json(a)).collect::<Vec<_>>(),
            "pagination": { "cursor": next },
        }),
    ))
}

/// The actor `id` of the query's namespace (`actor.not_found` for another namespace's).
async fn actor_in(shared: &Shared, id: &str, q: &Query) -> Result<ActorInfo, ApiError> {
    let namespace = q.namespace(shared).await?;
    let id = ActorId::parse(id)
        .ok_or_else(|| ApiError::bad_request(&format!("invalid actor id {id:?}")))?;
    match admin(shared, AdminCommand::Get(id)).await {
        Ok(AdminReply::Actor { actor, .. }) if actor.namespace == namespace => Ok(*actor),
        Ok(AdminReply::Actor { .. }) | Err(_) => Err(ApiError::from_admin(&AdminError::NotFound(
            "The actor does not exist or was destroyed.".to_owned(),
        ))),
        Ok(other) => Err(unexpected(&other)),
    }
}

/// Sends an admin command to the core and waits for its answer.
pub(crate) async fn admin(shared: &Shared, command: AdminCommand) -> Result<AdminReply, ApiError> {
    let (tx, rx) = smol::channel::bounded(1);
    if shared
        .events
        .send(Event::Admin { command, reply: tx })
        .await
        .is_err()
    {
        return Err(ApiError::shutting_down());
    }
    match rx.recv().await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(ApiError::from_admin(&e)),
        Err(_) => Err(ApiError::shutting_down()),
    }
}

pub(crate) fn unexpected(reply: &AdminReply) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "core",
        "internal_error",
        &format!("unexpected reply from the core: {reply:?}"),
    )
}

fn datacenter_not_found() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "datacenter",
        "not_found",
        "The provided datacenter does not exist.",
    )
}

/// A query string whose parameters are all known ones (anything else is a 400, never
/// ignored).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(req: &Request<Incoming>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            let expected = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::bad_request(&format!(
                "unknown query parameter `{k}`, expected one of {expected}"
            )));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`, [`DEFAULT_LIMIT`] when absent; 1 to [`MAX_LIMIT`].
    fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(&format!(
                    "`limit` must be a number from 1 to {MAX_LIMIT}, not {s:?}"
                ))),
            },
        }
    }

    /// `namespace` (default `default`), for commands the core checks it in.
    fn namespace_name(&self) -> String {
        self.get("namespace").unwrap_or("default").to_owned()
    }

    /// [`Query::namespace_name`], checked with the core (which knows those created at run
    /// time), for what the core does not check itself.
    async fn namespace(&self, shared: &Shared) -> Result<String, ApiError> {
        let namespace = self.namespace_name();
        let command = AdminCommand::Namespaces {
            name: Some(namespace.clone()),
        };
        match admin(shared, command).await? {
            AdminReply::Namespaces(list) if !list.is_empty() => Ok(namespace),
            _ => Err(ApiError::from_admin(&AdminError::NamespaceNotFound(
                format!("The namespace {namespace:?} does not exist."),
            ))),
        }
    }
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes into `T` (unknown fields are refused by
/// `T` itself).
async fn json_body<T: for<'de> Deserialize<'de>>(req: Request<Incoming>) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "api",
            "body_too_large",
            &format!("The request body is larger than the limit of {MAX_BODY} bytes."),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::bad_request(&format!("reading the body failed: {e}"))
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(&format!(
            "Failed to deserialize the JSON body into the target type: {e}"
        ))
    })
}

/// `POST /namespaces` bodies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamespaceBody {
    name: String,
    display_name: String,
}

/// `PUT /runner-configs/{name}` bodies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunnerConfigBody {
    datacenters: BTreeMap<String, Value>,
}

/// `POST /actors` and `PUT /actors` bodies, as the engine takes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    datacenter: Option<String>,
    name: String,
    key: Option<String>,
    /// Base64, passed to the actor as bytes on every start.
    input: Option<String>,
    runner_name_selector: String,
    crash_policy: String,
}

impl CreateBody {
    fn into_create(self, namespace: String, key_required: bool) -> Result<CreateActor, ApiError> {
        if self
            .datacenter
            .as_deref()
            .is_some_and(|dc| dc != DATACENTER)
        {
            return Err(datacenter_not_found());
        }
        if key_required && self.key.is_none() {
            return Err(ApiError::bad_request(
                "Failed to deserialize the JSON body into the target type: missing field `key`",
            ));
        }
        let crash_policy = CrashPolicy::parse(&self.crash_policy).ok_or_else(|| {
            ApiError::bad_request(&format!(
                "unknown crash_policy {:?}, expected `restart`, `sleep` or `destroy`",
                self.crash_policy
            ))
        })?;
        let input = self
            .input
            .map(|b64| {
                BASE64
                    .decode(b64.as_bytes())
                    .map_err(|e| ApiError::bad_request(&format!("`input` is not base64: {e}")))
            })
            .transpose()?;
        Ok(CreateActor {
            namespace,
            name: self.name,
            key: self.key,
            runner_name: self.runner_name_selector,
            input,
            crash_policy,
            wall: crate::hub::wall(),
        })
    }
}

/// The actor object as the engine returns it, plus Torpor's `state` and `generation`.
fn actor_json(a: &ActorInfo) -> Value {
    json!({
        "actor_id": a.actor_id.to_string(),
        "name": a.name,
        "key": a.key,
        "namespace_id": a.namespace,
        "datacenter": DATACENTER,
        "runner_name_selector": a.runner_name,
        "crash_policy": a.crash_policy.as_str(),
        "create_ts": a.create_ts,
        "start_ts": a.start_ts,
        "pending_allocation_ts": a.pending_allocation_ts,
        "connectable_ts": a.connectable_ts,
        "sleep_ts": a.sleep_ts,
        "reschedule_ts": null,
        "destroy_ts": null,
        "state": a.state,
        "generation": a.generation,
    })
}

/// A namespace as the engine shows it (`namespace_id` is its name: Torpor has no namespace
/// ids).
fn namespace_json(ns: &NamespaceRecord) -> Value {
    json!({
        "namespace_id": ns.name,
        "name": ns.name,
        "display_name": ns.display_name,
        "create_ts": ns.create_ts,
    })
}

/// A runner as the engine lists it (the fields Torpor knows), plus `connected` and
/// `draining`.
fn runner_json(r: &RunnerInfo) -> Value {
    json!({
        "runner_id": r.runner_id,
        "namespace_id": r.namespace,
        "datacenter": DATACENTER,
        "name": r.name,
        "key": r.key,
        "total_slots": r.total_slots,
        "remaining_slots": r.remaining_slots,
        "connected": r.connected,
        "draining": r.draining,
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

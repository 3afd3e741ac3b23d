//! The query form of the gateway path, as RivetKit 2.3 clients address actors:
//! `/gateway/{name}/{path}?rvt-namespace=…&rvt-method=get|getOrCreate&rvt-key=…&…`.
//!
//! The actor is named, not identified: the `rvt-*` parameters say how to find it (`get`) or
//! find-or-create it (`getOrCreate`), and are stripped before the request reaches the actor;
//! every other parameter is forwarded byte for byte. The rules and error codes are the
//! engine's (`guard.query_*`): unknown or repeated `rvt-*` parameters, a `get` with creation
//! parameters, a `getOrCreate` without a pool, an `@token` in the name, bad base64 input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use hyper::header::HeaderMap;
use torpor_core::{ActorFilter, AdminCommand, AdminReply, CrashPolicy, CreateActor};

use super::Shared;
use super::gateway_path::GatewayTarget;
use super::upgrade::subprotocols;
use crate::api::{DATACENTER, admin};
use crate::api_error::ApiError;

const RVT_PREFIX: &str = "rvt-";

/// How to find the actor.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// The actor with this key; 404 if there is none.
    Get,
    /// The actor with this key, created on `pool` if there is none.
    GetOrCreate {
        /// Runner pool (`rvt-runner` or `rvt-pool`).
        pool: String,
        /// `rvt-input`: the CBOR bytes the actor is created with.
        input: Option<Vec<u8>>,
        /// `rvt-crash-policy` (default `sleep`).
        crash_policy: CrashPolicy,
    },
}

/// A query-form gateway request, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ActorQuery {
    pub(super) namespace: String,
    pub(super) name: String,
    /// The key in the engine's serialized form (parts joined by `/`, see [`serialized_key`]).
    pub(super) key: String,
    pub(super) lookup: Lookup,
    /// `rvt-token`.
    pub(super) token: Option<String>,
    /// What the actor sees: the path after the name, with the query minus `rvt-*`.
    pub(super) path: String,
}

/// Whether a raw query string has any `rvt-*` parameter (the query form).
pub(super) fn is_query_form(raw_query: Option<&str>) -> bool {
    raw_query.is_some_and(|q| {
        q.split('&')
            .any(|part| part.split('=').next().unwrap_or("").starts_with(RVT_PREFIX))
    })
}

/// Parses `rest` (what follows `/gateway/`) and the raw query of a query-form request.
pub(super) fn parse(rest: &str, raw_query: &str) -> Result<ActorQuery, ApiError> {
    let (segment, sub) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if segment.contains('@') {
        return Err(query_error(
            "query_path_token_syntax",
            "query gateway paths must not use @token syntax",
        ));
    }
    let name = strictly_decoded(segment, "name")?;
    if name.is_empty() {
        return Err(query_error(
            "query_empty_actor_name",
            "query gateway actor name must not be empty",
        ));
    }
    let mut rvt = Rvt::default();
    let mut forwarded = Vec::new();
    for part in raw_query.split('&') {
        let raw_key = part.split('=').next().unwrap_or("");
        let Some(field) = raw_key.strip_prefix(RVT_PREFIX) else {
            if !part.is_empty() {
                forwarded.push(part);
            }
            continue;
        };
        let raw_value = part.get(raw_key.len() + 1..).unwrap_or("");
        // Form encoding: `+` is a space, then `%XX` escapes, which must make UTF-8.
        let value = strictly_decoded(&raw_value.replace('+', " "), raw_key)?;
        rvt.set(field, raw_key, value)?;
    }
    let path = if forwarded.is_empty() {
        sub.to_owned()
    } else {
        format!("{sub}?{}", forwarded.join("&"))
    };
    rvt.into_query(name, path)
}

/// A percent-encoded name or value, decoded; escapes that do not make UTF-8 are refused, not
/// replaced, so two different inputs never name the same actor.
fn strictly_decoded(raw: &str, what: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            query_error(
                "query_invalid_percent_encoding",
                &format!("invalid percent-encoding for query gateway param '{what}'"),
            )
        })
}

/// The `rvt-*` parameters as given.
#[derive(Default)]
struct Rvt {
    namespace: Option<String>,
    method: Option<String>,
    runner: Option<String>,
    pool: Option<String>,
    key: Option<String>,
    input: Option<String>,
    region: Option<String>,
    crash_policy: Option<String>,
    token: Option<String>,
    skip_ready_wait: Option<String>,
    /// An `rvt-*` name that is none of the above (refused once every parameter is read, so a
    /// repeated parameter is reported first, as the engine does).
    unknown: Option<String>,
    /// Every `rvt-*` name seen, to refuse repeats of known and unknown ones alike.
    seen: Vec<String>,
}

impl Rvt {
    fn set(&mut self, field: &str, raw_key: &str, value: String) -> Result<(), ApiError> {
        if self.seen.iter().any(|f| f == field) {
            return Err(query_error(
                "query_duplicate_param",
                &format!("duplicate query gateway param: {raw_key}"),
            ));
        }
        self.seen.push(field.to_owned());
        let slot = match field {
            "namespace" => &mut self.namespace,
            "method" => &mut self.method,
            "runner" => &mut self.runner,
            "pool" => &mut self.pool,
            "key" => &mut self.key,
            "input" => &mut self.input,
            "region" => &mut self.region,
            "crash-policy" => &mut self.crash_policy,
            "token" => &mut self.token,
            "skip-ready-wait" => &mut self.skip_ready_wait,
            _ => {
                self.unknown.get_or_insert_with(|| field.to_owned());
                return Ok(());
            }
        };
        *slot = Some(value);
        Ok(())
    }

    fn into_query(self, name: String, path: String) -> Result<ActorQuery, ApiError> {
        if let Some(field) = &self.unknown {
            return Err(invalid_params(&format!(
                "unknown field `{field}`, expected one of `namespace`, `method`, `runner`, \
                 `pool`, `key`, `input`, `region`, `crash-policy`, `token`, `skip-ready-wait`"
            )));
        }
        let namespace = self
            .namespace
            .ok_or_else(|| invalid_params("missing field `namespace`"))?;
        let method = self
            .method
            .ok_or_else(|| invalid_params("missing field `method`"))?;
        if let Some(v) = &self.skip_ready_wait {
            // Accepted as the engine does; Torpor always holds a request until its actor is
            // ready, so it changes nothing here.
            if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                return Err(invalid_params(&format!(
                    "invalid type: string {v:?}, expected a boolean"
                )));
            }
        }
        let key = serialized_key(&split_key(self.key.as_deref()));
        let lookup = match method.as_str() {
            "get" => {
                // As the engine's code does (its message also names rvt-pool, which it lets
                // through and which `get` has no use for).
                if self.input.is_some()
                    || self.region.is_some()
                    || self.crash_policy.is_some()
                    || self.runner.is_some()
                {
                    return Err(query_error(
                        "query_get_disallowed_params",
                        "query gateway method=get does not allow rvt-input, rvt-region, \
                         rvt-crash-policy, or rvt-pool params",
                    ));
                }
                Lookup::Get
            }
            "getOrCreate" => {
                if self
                    .region
                    .as_deref()
                    .is_some_and(|region| region != DATACENTER)
                {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "datacenter",
                        "not_found",
                        "The provided datacenter does not exist.",
                    ));
                }
                let pool = self.pool.or(self.runner).ok_or_else(|| {
                    query_error(
                        "query_missing_pool",
                        "query gateway method=getOrCreate requires rvt-pool param",
                    )
                })?;
                let input = self.input.as_deref().map(decode_input).transpose()?;
                let crash_policy = match self.crash_policy.as_deref() {
                    None => CrashPolicy::Sleep,
                    Some(p) => CrashPolicy::parse(p).ok_or_else(|| {
                        invalid_params(&format!(
                            "unknown crash policy: {p}, expected restart, sleep, or destroy"
                        ))
                    })?,
                };
                Lookup::GetOrCreate {
                    pool,
                    input,
                    crash_policy,
                }
            }
            other => {
                return Err(invalid_params(&format!(
                    "unknown method: {other}, expected get or getOrCreate"
                )));
            }
        };
        Ok(ActorQuery {
            namespace,
            name,
            key,
            lookup,
            token: self.token,
            path,
        })
    }
}

/// `rvt-key` is the key's parts joined by `,`; none or empty is the empty key.
fn split_key(raw: Option<&str>) -> Vec<&str> {
    match raw {
        None | Some("") => Vec::new(),
        Some(s) => s.split(',').collect(),
    }
}

/// The engine's stored form of a key: parts joined by `/`, with `\` and `/` escaped by a `\`,
/// an empty part written `\0`, and the empty key written `/`. RivetKit 2.2's `PUT /actors`
/// sends keys already in this form, so both ways of addressing meet the same actor.
fn serialized_key(parts: &[&str]) -> String {
    if parts.is_empty() {
        return "/".to_owned();
    }
    let escaped: Vec<String> = parts
        .iter()
        .map(|part| {
            if part.is_empty() {
                "\\0".to_owned()
            } else {
                part.replace('\\', "\\\\").replace('/', "\\/")
            }
        })
        .collect();
    escaped.join("/")
}

/// `rvt-input`: one CBOR value in unpadded base64url. It is checked here, as the engine checks
/// it, so a malformed input is the client's 400 and never an actor that cannot start; the
/// bytes themselves are the actor's and go on unchanged. Bytes after the value are refused too
/// (the engine lets them through): the actor reads one value, and RivetKit never sends more.
fn decode_input(value: &str) -> Result<Vec<u8>, ApiError> {
    let alphabet = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let bytes = match URL_SAFE_NO_PAD.decode(value.as_bytes()) {
        Ok(bytes) if alphabet => bytes,
        _ => {
            return Err(query_error(
                "query_invalid_base64_input",
                "invalid base64url in query gateway input",
            ));
        }
    };
    let mut rest = bytes.as_slice();
    let detail = match ciborium::from_reader::<ciborium::Value, _>(&mut rest) {
        Ok(_) if rest.is_empty() => return Ok(bytes),
        Ok(_) => format!("{} trailing byte(s) after the value", rest.len()),
        Err(e) => e.to_string(),
    };
    Err(query_error(
        "query_invalid_cbor_input",
        &format!("invalid query gateway input cbor: {detail}"),
    ))
}

fn query_error(code: &str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "guard", code, message)
}

fn invalid_params(detail: &str) -> ApiError {
    query_error(
        "query_invalid_params",
        &format!("invalid query gateway params: {detail}"),
    )
}

/// A query-form request's target: parsed, its gateway token checked (before anything is
/// created on its behalf), then its actor found or created. The target then goes where a
/// `/gateway/{actor_id}/…` request goes.
pub(super) async fn target(
    shared: &Shared,
    rest: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<GatewayTarget, ApiError> {
    let q = parse(rest, raw_query)?;
    let refusals = &shared.metrics.gateway_unauthorized;
    shared.policy().tokens.check_gateway(
        q.token.as_deref(),
        headers,
        &subprotocols(headers),
        refusals,
    )?;
    resolve(shared, q).await
}

/// Finds (or creates) the actor a query names.
async fn resolve(shared: &Shared, q: ActorQuery) -> Result<GatewayTarget, ApiError> {
    let ActorQuery {
        namespace,
        name,
        key,
        lookup,
        token,
        path,
    } = q;
    let actor = match lookup {
        Lookup::Get => {
            let filter = ActorFilter::Key {
                name: name.clone(),
                key: key.clone(),
            };
            match admin(shared, AdminCommand::List { namespace, filter }).await? {
                AdminReply::Actors(list) => list.into_iter().next().ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "actor",
                        "not_found",
                        &format!("no actor named {name:?} with key {key:?}"),
                    )
                })?,
                other => return Err(crate::api::unexpected(&other)),
            }
        }
        Lookup::GetOrCreate {
            pool,
            input,
            crash_policy,
        } => {
            let create = CreateActor {
                namespace,
                name,
                key: Some(key),
                runner_name: pool,
                input,
                crash_policy,
                wall: crate::hub::wall(),
            };
            match admin(shared, AdminCommand::GetOrCreate(create)).await? {
                AdminReply::Actor { actor, .. } => *actor,
                other => return Err(crate::api::unexpected(&other)),
            }
        }
    };
    Ok(GatewayTarget {
        actor: actor.actor_id.to_string(),
        token,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(rest: &str, query: &str) -> ActorQuery {
        parse(rest, query).unwrap_or_else(|e| panic!("{rest}?{query}: {}", e.name()))
    }

    fn refused(rest: &str, query: &str) -> String {
        match parse(rest, query) {
            Ok(q) => panic!("{rest}?{query} was accepted: {q:?}"),
            Err(e) => e.name(),
        }
    }

    #[test]
    fn a_get_or_create_action_strips_the_rvt_params_and_keeps_the_rest() {
        let q = parsed(
            "counter/action/increment",
            "x=1&rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=a-xyz\
             &rvt-input=oWF4AQ&rvt-crash-policy=restart&rvt-token=to%2Fk&y=a+b",
        );
        assert_eq!(
            q,
            ActorQuery {
                namespace: "default".into(),
                name: "counter".into(),
                key: "a-xyz".into(),
                lookup: Lookup::GetOrCreate {
                    pool: "default".into(),
                    input: Some(vec![0xa1, 0x61, 0x78, 0x01]),
                    crash_policy: CrashPolicy::Restart,
                },
                token: Some("to/k".into()),
                path: "/action/increment?x=1&y=a+b".into(),
            }
        );
    }

    #[test]
    fn keys_are_stored_in_the_engines_escaped_form() {
        let key = |raw: &str| parsed("room", &format!("rvt-namespace=d&rvt-method=get{raw}")).key;
        assert_eq!(key(""), "/");
        assert_eq!(key("&rvt-key="), "/");
        assert_eq!(key("&rvt-key=a,b,c"), "a/b/c");
        assert_eq!(
            key("&rvt-key=region-west%2F1,,x%5Cy"),
            "region-west\\/1/\\0/x\\\\y"
        );
        assert_eq!(key("&rvt-key=hello+world"), "hello world");
    }

    #[test]
    fn a_get_has_no_creation_params_and_a_path_of_its_own() {
        let q = parsed("lobby", "rvt-namespace=prod&rvt-method=get");
        assert_eq!((q.lookup, q.path.as_str()), (Lookup::Get, "/"));
        // `rvt-pool` is let through on a `get`, as the engine does.
        let q = parsed("lobby", "rvt-namespace=prod&rvt-method=get&rvt-pool=p");
        assert_eq!(q.lookup, Lookup::Get);
        for extra in [
            "rvt-runner=default",
            "rvt-input=oA",
            "rvt-crash-policy=sleep",
            "rvt-region=default",
        ] {
            assert_eq!(
                refused("lobby", &format!("rvt-namespace=d&rvt-method=get&{extra}")),
                "guard.query_get_disallowed_params",
                "{extra}"
            );
        }
    }

    #[test]
    fn malformed_queries_get_the_engines_errors() {
        let base = "rvt-namespace=d&rvt-method=getOrCreate&rvt-runner=default";
        for (rest, query, error) in [
            ("w", "rvt-method=get", "guard.query_invalid_params"),
            ("w", "rvt-namespace=d", "guard.query_invalid_params"),
            (
                "w",
                "rvt-namespace=d&rvt-method=put",
                "guard.query_invalid_params",
            ),
            (
                "w",
                &format!("{base}&rvt-color=red"),
                "guard.query_invalid_params",
            ),
            (
                "w",
                &format!("{base}&rvt-key=a&rvt-key=b"),
                "guard.query_duplicate_param",
            ),
            (
                "w",
                "rvt-namespace=d&rvt-method=getOrCreate",
                "guard.query_missing_pool",
            ),
            (
                "w",
                &format!("{base}&rvt-input=a+b"),
                "guard.query_invalid_base64_input",
            ),
            (
                "w",
                &format!("{base}&rvt-input=oA=="),
                "guard.query_invalid_base64_input",
            ),
            // A map announced with one entry and none given; a whole value, then a stray byte.
            (
                "w",
                &format!("{base}&rvt-input=oQ"),
                "guard.query_invalid_cbor_input",
            ),
            (
                "w",
                &format!("{base}&rvt-input=oAA"),
                "guard.query_invalid_cbor_input",
            ),
            (
                "w",
                &format!("{base}&rvt-crash-policy=panic"),
                "guard.query_invalid_params",
            ),
            (
                "w",
                &format!("{base}&rvt-skip-ready-wait=maybe"),
                "guard.query_invalid_params",
            ),
            (
                "w",
                &format!("{base}&rvt-region=mars"),
                "datacenter.not_found",
            ),
            ("w@tok/x", base, "guard.query_path_token_syntax"),
            // Escapes that do not make UTF-8 are refused, in a value or in the name.
            (
                "w",
                &format!("{base}&rvt-key=%FF"),
                "guard.query_invalid_percent_encoding",
            ),
            ("w%FE", base, "guard.query_invalid_percent_encoding"),
            // A repeat is reported before an unknown name; `get`'s own rules before the region.
            (
                "w",
                &format!("{base}&rvt-color=red&rvt-key=a&rvt-key=b"),
                "guard.query_duplicate_param",
            ),
            (
                "w",
                "rvt-namespace=d&rvt-method=get&rvt-region=mars",
                "guard.query_get_disallowed_params",
            ),
            ("/x", base, "guard.query_empty_actor_name"),
        ] {
            assert_eq!(refused(rest, query), error, "{rest}?{query}");
        }
    }

    #[test]
    fn only_rvt_params_make_the_query_form() {
        assert!(is_query_form(Some("a=1&rvt-method=get")));
        assert!(!is_query_form(Some("a=1&rvtx=2")));
        assert!(!is_query_form(None));
    }
}

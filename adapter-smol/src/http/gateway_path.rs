//! What a `/gateway/…` request means: the actor, the token of the `@{token}` form, the path the
//! actor sees, and the headers it gets.

use hyper::header::{self, HeaderMap};
use torpor_protocol::shared::Headers;

use crate::api_error::ApiError;
use crate::auth::{TOKEN_HEADER, TOKEN_PROTOCOL};

/// Where a `/gateway/…` request goes.
pub(super) struct GatewayTarget {
    /// The actor id as written (checked by the core).
    pub(super) actor: String,
    /// The `/gateway/{actor_id}@{token}/` form's token, percent-decoded.
    pub(super) token: Option<String>,
    /// What the actor sees as its path, with the query.
    pub(super) path: String,
}

/// Parses `/gateway/{actor_id}[@token]/{path}` (`rest` is what follows `/gateway/`).
pub(super) fn gateway_target(rest: &str, query: Option<&str>) -> Result<GatewayTarget, ApiError> {
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
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Request headers as the actor gets them: lowercase names, repeats joined with `, `, and
/// without the gateway's token (`x-rivet-token`, `rivet_token.*` subprotocols), which is the
/// gateway's business and must not reach actor code or the hibernation index (the engine
/// strips it too).
pub(super) fn forwarded_headers(map: &HeaderMap) -> Headers {
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

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

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

//! Tokens on the HTTP side: the admin token guards the API and `/metrics`; the client token,
//! when one is set, guards the gateway and the actor routes a RivetKit client calls (RivetKit's
//! client sends one token to both). The runner token is the core's (it decides runner joins).
//!
//! Tokens are compared in constant time, so a wrong guess's timing says nothing about how
//! much of it was right.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::{self, HeaderMap};
use subtle::ConstantTimeEq as _;

use crate::api_error::ApiError;

/// The header RivetKit sends its token in on HTTP through the gateway.
pub(crate) const TOKEN_HEADER: &str = "x-rivet-token";

/// The subprotocol prefix tokens are offered under on a WebSocket.
pub(crate) const TOKEN_PROTOCOL: &str = "rivet_token.";

/// The configured tokens and the counter of refusals.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// Guards every API route but `/health` and `/metadata`, `/metrics` too; also accepted
    /// wherever the client token is.
    pub(crate) admin: Option<String>,
    /// When set, the gateway and the client's actor routes need it (or the admin token).
    pub(crate) client: Option<String>,
}

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The operator: the admin token.
    Admin,
    /// A RivetKit client (`GET`/`POST`/`PUT /actors`): the client token or the admin token.
    Client,
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The first `rivet_token.<token>` entry of the offered subprotocols.
pub(crate) fn protocol_token(protocols: &[String]) -> Option<&str> {
    protocols
        .iter()
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL))
}

impl Tokens {
    /// Whether `presented` opens a route for `audience`.
    fn admits(&self, audience: Audience, presented: Option<&str>) -> bool {
        let accepted = match audience {
            Audience::Admin => [self.admin.as_deref(), None],
            Audience::Client if self.client.is_none() => [self.admin.as_deref(), None],
            Audience::Client => [self.client.as_deref(), self.admin.as_deref()],
        };
        if accepted.iter().all(Option::is_none) {
            return true;
        }
        presented.is_some_and(|p| accepted.iter().flatten().any(|t| same(t, p)))
    }

    /// An API request (`Authorization: Bearer`, as RivetKit sends it there).
    pub(crate) fn check_api(
        &self,
        audience: Audience,
        headers: &HeaderMap,
        refusals: &AtomicU64,
    ) -> Result<(), ApiError> {
        if self.admits(audience, bearer(headers)) {
            return Ok(());
        }
        refusals.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::forbidden(match audience {
            Audience::Admin => {
                "missing or wrong admin token (send `Authorization: Bearer <token>`)"
            }
            Audience::Client => {
                "missing or wrong token (send `Authorization: Bearer <token>` with the client or \
                 admin token)"
            }
        }))
    }

    /// A request through `/gateway/…`: open unless a client token is set (like the engine's
    /// open-source edition, which checks none); then the token comes in any form RivetKit
    /// sends it — the `/gateway/{id}@{token}/` path, `x-rivet-token`, a `rivet_token.*`
    /// subprotocol — or as `Authorization: Bearer`.
    pub(crate) fn check_gateway(
        &self,
        path_token: Option<&str>,
        headers: &HeaderMap,
        protocols: &[String],
        refusals: &AtomicU64,
    ) -> Result<(), ApiError> {
        if self.client.is_none() {
            return Ok(());
        }
        let presented = path_token
            .or_else(|| headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()))
            .or_else(|| protocol_token(protocols))
            .or_else(|| bearer(headers));
        if self.admits(Audience::Client, presented) {
            return Ok(());
        }
        refusals.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::forbidden(
            "missing or wrong token for the gateway (send `/gateway/{actor_id}@{token}/…`, \
             `x-rivet-token`, or a `rivet_token.<token>` subprotocol)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn tokens(admin: Option<&str>, client: Option<&str>) -> Tokens {
        Tokens {
            admin: admin.map(str::to_owned),
            client: client.map(str::to_owned),
        }
    }

    #[test]
    fn without_tokens_everything_is_open() {
        let t = tokens(None, None);
        let n = AtomicU64::new(0);
        assert!(t.check_api(Audience::Admin, &headers(&[]), &n).is_ok());
        assert!(t.check_api(Audience::Client, &headers(&[]), &n).is_ok());
        assert!(t.check_gateway(None, &headers(&[]), &[], &n).is_ok());
        assert_eq!(n.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_admin_token_opens_client_routes_but_not_the_other_way_round() {
        let t = tokens(Some("adm"), Some("cli"));
        let n = AtomicU64::new(0);
        let admin = headers(&[("authorization", "Bearer adm")]);
        let client = headers(&[("authorization", "bearer cli")]);
        assert!(t.check_api(Audience::Admin, &admin, &n).is_ok());
        assert!(t.check_api(Audience::Client, &admin, &n).is_ok());
        assert!(t.check_api(Audience::Client, &client, &n).is_ok());
        let refused = t.check_api(Audience::Admin, &client, &n).unwrap_err();
        assert_eq!(refused.name(), "api.forbidden");
        assert_eq!(n.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn with_only_an_admin_token_client_routes_need_it_and_the_gateway_is_open() {
        let t = tokens(Some("adm"), None);
        let n = AtomicU64::new(0);
        assert!(t.check_api(Audience::Client, &headers(&[]), &n).is_err());
        assert!(t.check_gateway(None, &headers(&[]), &[], &n).is_ok());
    }

    #[test]
    fn the_gateway_takes_the_token_in_every_form_rivetkit_sends() {
        let t = tokens(Some("adm"), Some("cli"));
        let n = AtomicU64::new(0);
        let none = headers(&[]);
        assert!(t.check_gateway(Some("cli"), &none, &[], &n).is_ok());
        assert!(t.check_gateway(Some("adm"), &none, &[], &n).is_ok());
        let header = headers(&[("x-rivet-token", "cli")]);
        assert!(t.check_gateway(None, &header, &[], &n).is_ok());
        let protocols = ["rivet".to_owned(), "rivet_token.cli".to_owned()];
        assert!(t.check_gateway(None, &none, &protocols, &n).is_ok());
        let bearer = headers(&[("authorization", "Bearer cli")]);
        assert!(t.check_gateway(None, &bearer, &[], &n).is_ok());
        assert_eq!(n.load(Ordering::Relaxed), 0);
        // The path form wins over the others: a wrong one there is refused.
        assert!(t.check_gateway(Some("nope"), &header, &[], &n).is_err());
        assert!(t.check_gateway(None, &none, &[], &n).is_err());
        let wrong = ["rivet_token.cl".to_owned()];
        assert!(t.check_gateway(None, &none, &wrong, &n).is_err());
        assert_eq!(n.load(Ordering::Relaxed), 3);
    }
}

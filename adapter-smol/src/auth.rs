//! Tokens on the HTTP side: the admin token guards the API and `/metrics`; the client token,
//! when one is set, guards the gateway and the actor routes a RivetKit client calls (RivetKit's
//! client sends one token to both). The runner token is the core's (it decides runner joins).
//!
//! Tokens are compared in constant time, so a wrong guess's timing says nothing about how
//! much of it was right.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::{self, HeaderMap};
use subtle::ConstantTimeEq as _;

use crate::api_error::ApiError;

/// The header RivetKit sends its token in on HTTP through the gateway.
pub(crate) const TOKEN_HEADER: &str = "x-rivet-token";

/// The subprotocol prefix tokens are offered under on a WebSocket.
pub(crate) const TOKEN_PROTOCOL: &str = "rivet_token.";

/// The configured tokens.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// Guards every API route but `/health` and `/metadata`, `/metrics` too; also accepted
    /// wherever the client or metrics token is.
    pub(crate) admin: Option<String>,
    /// When set, the gateway and the client's actor routes need it (or the admin token).
    pub(crate) client: Option<String>,
    /// When set, `/metrics` takes it (or the admin token): a scraper need not hold the admin
    /// token.
    pub(crate) metrics: Option<String>,
}

/// Who may connect, and how: the tokens, the allowed browser origins, the per-address limit
/// and the proxies believed about client addresses. Replaced whole on a reload.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    pub(crate) tokens: Tokens,
    /// Lowercase origins whose browser WebSockets are accepted; empty: any.
    pub(crate) allowed_origins: Vec<String>,
    /// Most connections from one client address; 0: no limit.
    pub(crate) max_connections_per_ip: usize,
    /// Peers whose `X-Forwarded-For` names the client.
    pub(crate) trusted_proxies: Vec<IpAddr>,
}

impl Policy {
    /// The policy a resolved configuration describes.
    pub(crate) fn from_config(c: &crate::config::ServeConfig) -> Self {
        Self {
            tokens: Tokens {
                admin: c.admin_token.clone(),
                client: c.client_token.clone(),
                metrics: c.metrics_token.clone(),
            },
            allowed_origins: c
                .allowed_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            max_connections_per_ip: c.max_connections_per_ip,
            trusted_proxies: c.trusted_proxy_addrs(),
        }
    }

    /// Whether a WebSocket with these headers may open: browsers always send `Origin`, other
    /// clients need not, and only browsers are what the list guards against.
    pub(crate) fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        if self.allowed_origins.is_empty() {
            return true;
        }
        match headers.get(header::ORIGIN).map(|v| v.to_str()) {
            None => true,
            Some(Ok(origin)) => {
                let origin = origin.trim().to_ascii_lowercase();
                self.allowed_origins.contains(&origin)
            }
            Some(Err(_)) => false,
        }
    }

    /// Whether `peer` is a trusted proxy.
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.contains(&peer)
    }

    /// The client's address: the peer's, or, from a trusted proxy, the last address its
    /// `X-Forwarded-For` names (the one the proxy itself saw; earlier entries are the
    /// client's own word).
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back()
            .unwrap_or(peer)
    }
}

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The operator: the admin token.
    Admin,
    /// A RivetKit client (`GET`/`POST`/`PUT /actors`): the client token or the admin token.
    Client,
    /// A scraper of `/metrics`: the metrics token or the admin token.
    Metrics,
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
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
            Audience::Metrics => [self.metrics.as_deref(), self.admin.as_deref()],
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
            Audience::Metrics => {
                "missing or wrong token for /metrics (send `Authorization: Bearer <token>` with \
                 the metrics or admin token)"
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
            metrics: None,
        }
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        let t = tokens(Some("adm"), None);
        let n = AtomicU64::new(0);
        for value in ["Bearer adm", "bearer adm", "BEARER adm", "BeArEr  adm"] {
            let h = headers(&[("authorization", value)]);
            assert!(t.check_api(Audience::Admin, &h, &n).is_ok(), "{value}");
        }
        let basic = headers(&[("authorization", "Basic adm")]);
        assert!(t.check_api(Audience::Admin, &basic, &n).is_err());
        assert_eq!(n.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn metrics_take_the_metrics_token_or_the_admin_token() {
        let t = Tokens {
            metrics: Some("scrape".into()),
            ..tokens(Some("adm"), Some("cli"))
        };
        let n = AtomicU64::new(0);
        for (value, ok) in [
            ("Bearer scrape", true),
            ("Bearer adm", true),
            ("Bearer cli", false),
        ] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(
                t.check_api(Audience::Metrics, &h, &n).is_ok(),
                ok,
                "{value}"
            );
        }
        // The metrics token opens nothing else.
        let h = headers(&[("authorization", "Bearer scrape")]);
        assert!(t.check_api(Audience::Admin, &h, &n).is_err());
        // With neither token, /metrics is open.
        let open = tokens(None, Some("cli"));
        assert!(open.check_api(Audience::Metrics, &headers(&[]), &n).is_ok());
    }

    #[test]
    fn origins_are_checked_only_when_listed_and_sent() {
        let mut p = Policy::default();
        let from = |o: &str| headers(&[("origin", o)]);
        assert!(p.origin_allowed(&from("https://evil.example")));
        p.allowed_origins = vec!["https://app.example".into()];
        assert!(p.origin_allowed(&from("https://APP.example")));
        assert!(!p.origin_allowed(&from("https://evil.example")));
        assert!(p.origin_allowed(&headers(&[])));
    }

    #[test]
    fn x_forwarded_for_is_believed_from_trusted_proxies_only() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        let p = Policy {
            trusted_proxies: vec![proxy],
            ..Policy::default()
        };
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7")]);
        assert_eq!(
            p.client_ip(proxy, &h),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(p.client_ip(other, &h), other);
        assert_eq!(p.client_ip(proxy, &headers(&[])), proxy);
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

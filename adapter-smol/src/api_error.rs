//! Every error the HTTP side answers, in the Rivet Engine's shape, which RivetKit parses into
//! its `RivetError`: a JSON body `{"group", "code", "message", "metadata"?}` and the
//! `x-rivet-error: group.code` header (RIVETKIT.md, "Error format").

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use torpor_core::{AdminError, EngineError};

use crate::http::{Body, full};

/// An error response (boxed: error paths are rare, and every `Result` stays small).
#[derive(Debug)]
pub(crate) struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    group: String,
    code: String,
    message: String,
    metadata: Option<Value>,
    allow: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, group: &str, code: &str, message: &str) -> Self {
        Self(Box::new(Parts {
            status,
            group: group.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
            metadata: None,
            allow: None,
        }))
    }

    pub(crate) fn with_metadata(mut self, metadata: Value) -> Self {
        self.0.metadata = Some(metadata);
        self
    }

    /// `api.bad_request`: the request cannot be parsed (unknown or malformed parameters or
    /// fields), with the reason as the engine words it.
    pub(crate) fn bad_request(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "api",
            "bad_request",
            &format!("Request is invalid: {reason}"),
        )
        .with_metadata(json!({ "reason": reason }))
    }

    /// `validation.invalid_input`: well-formed, but not a valid combination.
    pub(crate) fn invalid_input(message: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "invalid_input",
            message,
        )
        .with_metadata(json!({ "message": message }))
    }

    /// `api.not_found`: no such route.
    pub(crate) fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "api",
            "not_found",
            "The requested resource was not found",
        )
    }

    /// `api.forbidden`: a token is required and this one is missing or wrong.
    pub(crate) fn forbidden(what: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "api",
            "forbidden",
            &format!("Access denied: {what}"),
        )
    }

    /// `api.method_not_allowed`, with the `Allow` header.
    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "api",
            "method_not_allowed",
            &format!("allowed: {allow}"),
        );
        e.0.allow = Some(allow);
        e
    }

    /// `guard.service_unavailable`: the gateway is shutting down.
    pub(crate) fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "guard",
            "service_unavailable",
            "the gateway is shutting down",
        )
    }

    /// A refusal the core worded as `group.code: message`.
    pub(crate) fn from_reason(status: u16, reason: &str) -> Self {
        let e = EngineError::parse(reason);
        Self::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            e.group,
            e.code,
            e.message,
        )
    }

    /// An admin command the core refused.
    pub(crate) fn from_admin(e: &AdminError) -> Self {
        let (group, code) = e.group_code();
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let err = Self::new(status, group, code, &e.to_string());
        match e {
            AdminError::DuplicateKey { key, existing } => err.with_metadata(json!({
                "existing_actor_id": existing.to_string(),
                "key": key,
            })),
            _ => err,
        }
    }

    /// `group.code`.
    pub(crate) fn name(&self) -> String {
        format!("{}.{}", self.0.group, self.0.code)
    }

    pub(crate) fn response(self) -> Response<Body> {
        let name = self.name();
        let Parts {
            status,
            group,
            code,
            message,
            metadata,
            allow,
        } = *self.0;
        let mut body = json!({
            "group": group,
            "code": code,
            "message": message,
        });
        if let Some(metadata) = metadata {
            body["metadata"] = metadata;
        }
        let mut resp = Response::new(full(body.to_string()));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&name) {
            h.insert("x-rivet-error", v);
        }
        if let Some(allow) = allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

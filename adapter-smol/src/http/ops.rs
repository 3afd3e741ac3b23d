//! Torpor's operator routes beside the engine API: readiness (`/readyz`) and the online backup
//! (`/admin/backup`), and the rule that routes without parameters refuse any.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use smol::io::AsyncReadExt as _;
use tracing::{info, warn};

use super::{Body, Shared, json_response};
use crate::api_error::ApiError;
use crate::auth::Audience;
use crate::links::Event;

/// Routes without their own parameter parsing, and the parameters each takes (RivetKit names
/// the namespace on every engine call): any other is refused, never ignored.
const FIXED_QUERY: &[(&str, &[&str])] = &[
    ("/healthz", &[]),
    ("/readyz", &[]),
    ("/metrics", &[]),
    ("/admin/backup", &[]),
    ("/health", &[]),
    ("/metadata", &["namespace"]),
    ("/datacenters", &["namespace"]),
];

/// A 400 naming the parameter, for a route of [`FIXED_QUERY`].
pub(super) fn check_query(path: &str, query: Option<&str>) -> Result<(), ApiError> {
    let Some((_, allowed)) = FIXED_QUERY.iter().find(|(p, _)| *p == path) else {
        return Ok(());
    };
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(());
    };
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| !allowed.contains(&k.as_ref())) {
        None => Ok(()),
        Some((name, _)) if allowed.is_empty() => Err(ApiError::bad_request(&format!(
            "unknown query parameter `{name}` ({path} takes none)"
        ))),
        Some((name, _)) => Err(ApiError::bad_request(&format!(
            "unknown query parameter `{name}` ({path} takes {})",
            allowed.join(", ")
        ))),
    }
}

/// `GET /readyz`: 200 once the registry is restored (the port opens only after that) and the
/// store takes a write now; 503 with the reason otherwise. No token: load balancers call it.
pub(super) async fn readiness(shared: &Arc<Shared>, method: &Method) -> Response<Body> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return ApiError::method_not_allowed("GET").response();
    }
    let (reply, answer) = smol::channel::bounded(1);
    let probe = match shared.events.send(Event::Ready { reply }).await {
        Ok(()) => answer
            .recv()
            .await
            .unwrap_or_else(|_| Err("the core task stopped".to_owned())),
        Err(_) => Err("shutting down".to_owned()),
    };
    match probe {
        Ok(()) => json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ready", "restore": "done", "store": "writable"}),
        ),
        Err(reason) => {
            warn!(%reason, "not ready");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "not_ready", "store": reason}),
            )
        }
    }
}

/// `GET /admin/backup` (admin token): the whole database as one SQLite file, copied with
/// SQLite's online backup while torpor keeps serving. The copy is written beside the database,
/// unlinked, then streamed, so nothing is left behind if the client goes away.
pub(super) async fn backup(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<Body> {
    if *req.method() != Method::GET {
        return ApiError::method_not_allowed("GET").response();
    }
    let refusals = &shared.metrics.admin_unauthorized;
    let checked = shared
        .policy()
        .tokens
        .check_api(Audience::Admin, req.headers(), refusals);
    if let Err(e) = checked {
        return e.response();
    }
    let mut dest = shared.database.clone().into_os_string();
    dest.push(format!(
        ".backup-{}-{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let dest = std::path::PathBuf::from(dest);
    let (reply, answer) = smol::channel::bounded(1);
    let event = Event::Backup {
        dest: dest.clone(),
        reply,
    };
    if shared.events.send(event).await.is_err() {
        return ApiError::shutting_down().response();
    }
    let report = match answer.recv().await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&dest);
            warn!(error = %e, "backup failed");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "torpor",
                "backup_failed",
                &format!("The backup failed: {e}"),
            )
            .response();
        }
        Err(_) => return ApiError::shutting_down().response(),
    };
    let file = match std::fs::File::open(&dest) {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(&dest);
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "torpor",
                "backup_failed",
                &format!("Reading the backup failed: {e}"),
            )
            .response();
        }
    };
    // Open files outlive their name: the copy is gone from the directory now, and from the
    // disk once streamed.
    let _ = std::fs::remove_file(&dest);
    shared.metrics.backups.fetch_add(1, Ordering::Relaxed);
    info!(bytes = report.bytes, "backup taken");
    let reader = smol::Unblock::new(file);
    let chunks = futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buf = vec![0; 256 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    let mut resp = Response::new(StreamBody::new(chunks.boxed()).boxed_unsync());
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.sqlite3"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(report.bytes));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"torpor-backup.db\""),
    );
    resp
}

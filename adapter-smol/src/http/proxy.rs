//! The actor HTTP proxy: a request through `/gateway/…` is read whole (bounded, and held in
//! the shared body budget), handed to the core, and answered with the actor's response, whole
//! or streamed.
#![allow(clippy::result_large_err)]

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use smol::Executor;
use torpor_core::{ClientId, Input};

use super::gateway_path::{GatewayTarget, forwarded_headers};
use super::{Body, EndGuard, Shared, full, unavailable};
use crate::api_error::ApiError;
use crate::body_budget::Reservation;
use crate::links::{Event, HttpLink, HttpOut};
use crate::websocket::{CLOSE_GRACE, MAX_MESSAGE};

enum BodyError {
    TooLarge,
    OverBudget,
    Read(hyper::Error),
}

/// After a refusal, reads and drops the rest of the body for a while, so a client still
/// sending gets to read the answer instead of a reset (as servers' lingering close does).
/// Nothing is kept, and the time is bounded.
fn drain(ex: &Executor<'static>, mut body: Incoming) {
    ex.spawn(async move {
        smol::future::or(
            async { while let Some(Ok(_)) = body.frame().await {} },
            async {
                smol::Timer::after(CLOSE_GRACE).await;
            },
        )
        .await;
    })
    .detach();
}

/// Reads a request body whole, within the message limit and the body budget. A declared
/// length is checked and reserved before anything is read, so a refused upload costs nothing.
async fn read_body(
    body: &mut Incoming,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, BodyError> {
    let declared = hyper::body::Body::size_hint(body)
        .upper()
        .and_then(|n| usize::try_from(n).ok());
    if let Some(n) = declared {
        if n > MAX_MESSAGE {
            return Err(BodyError::TooLarge);
        }
        if !reservation.cover(n) {
            return Err(BodyError::OverBudget);
        }
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            continue; // trailers are not forwarded
        };
        let total = out.len() + data.len();
        if total > MAX_MESSAGE {
            return Err(BodyError::TooLarge);
        }
        if !reservation.cover(total) {
            return Err(BodyError::OverBudget);
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

pub(super) async fn proxy_http(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    target: GatewayTarget,
) -> Response<Body> {
    let GatewayTarget { actor, token, path } = target;
    let refusals = &shared.metrics.gateway_unauthorized;
    if let Err(e) =
        shared
            .policy()
            .tokens
            .check_gateway(token.as_deref(), req.headers(), &[], refusals)
    {
        drain(&shared.ex, req.into_body());
        return e.response();
    }
    let method = req.method().as_str().to_owned();
    let headers = forwarded_headers(req.headers());
    // Held until the actor's answer arrives (the end of this function).
    let mut reservation = shared.body_budget.reservation();
    let mut incoming = req.into_body();
    let read = read_body(&mut incoming, &mut reservation).await;
    if read.is_err() {
        drain(&shared.ex, incoming);
    }
    let body = match read {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "guard",
                "invalid_request_body",
                &format!("request body over {MAX_MESSAGE} bytes"),
            )
            .response();
        }
        Err(BodyError::OverBudget) => {
            shared
                .metrics
                .http_body_budget_rejects
                .fetch_add(1, Ordering::Relaxed);
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "torpor",
                "body_budget_exhausted",
                &format!(
                    "request bodies in flight would pass the gateway's budget of {} bytes; \
                     retry later",
                    shared.body_budget.limit()
                ),
            )
            .response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
        Err(BodyError::Read(e)) => {
            return ApiError::bad_request(&format!("reading the request body failed: {e}"))
                .response();
        }
    };
    let client = ClientId::new(shared.id());
    // Unbounded, but the core task bounds what it queues by `unsent` (see `Hub`).
    let (tx, rx) = smol::channel::unbounded();
    let unsent = Arc::new(AtomicUsize::new(0));
    let event = Event::Http {
        client,
        actor,
        method,
        path,
        headers,
        body,
        reply: HttpLink {
            reply: tx,
            unsent: Arc::clone(&unsent),
            reported_full: false,
        },
    };
    if shared.events.send(event).await.is_err() {
        return unavailable();
    }
    let guard = EndGuard {
        events: shared.events.clone(),
        ex: Arc::clone(&shared.ex),
        end: Some(Event::Input(Input::HttpCancelled { client })),
    };
    let Ok(HttpOut::Head {
        status,
        headers,
        body,
        streaming,
    }) = rx.recv().await
    else {
        guard.disarm();
        return unavailable();
    };
    let body: Body = if streaming {
        // The guard moves into the stream: a client leaving mid-body cancels the request.
        let first = Some(Bytes::from(body));
        let state = (first, rx, Some(guard), false, unsent);
        let stream = smol::stream::unfold(state, |(first, rx, guard, done, unsent)| async move {
            if let Some(b) = first {
                return Some((Ok(Frame::data(b)), (None, rx, guard, done, unsent)));
            }
            if done {
                return None;
            }
            match rx.recv().await {
                Ok(HttpOut::Chunk { data, finish }) => {
                    // Taken by hyper, which asks for the next chunk once this one is written.
                    unsent.fetch_sub(data.len(), Ordering::AcqRel);
                    let guard = if finish {
                        if let Some(g) = guard {
                            g.disarm();
                        }
                        None
                    } else {
                        guard
                    };
                    Some((
                        Ok(Frame::data(Bytes::from(data))),
                        (None, rx, guard, finish, unsent),
                    ))
                }
                _ => {
                    if let Some(g) = guard {
                        g.disarm();
                    }
                    Some((
                        Err(io::Error::other("the actor aborted the response")),
                        (None, rx, None, true, unsent),
                    ))
                }
            }
        });
        StreamBody::new(stream).boxed_unsync()
    } else {
        guard.disarm();
        full(body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status_code(status);
    for (name, value) in headers.iter() {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
}

//! The hibernation index as store operations: the row written before any message, batched
//! refreshes, deletes on every close path, retries, and the startup purge.

use super::hibernation::{delete_of, split_store, text, text_to};
use super::hibernation_flow::touched;
use super::websocket::{to_runner, tunnel, ws_close};
use super::{driver, setup};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::io::{CloseFrame, Input, Output};
use crate::protocol::*;
use crate::store::{HibernationRow, Snapshot, StoreFailure, StoreReply, StoreRequest};
use crate::testkit::driver::*;
use crate::time::{Instant, UnixMillis};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The index (guarantee 8)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_row_is_written_before_the_first_message_is_forwarded() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    d.auto_store = false;
    let client = ClientId::new(d.fresh());
    let mut headers = Headers::new();
    headers.insert("x-room", "7".to_owned());
    let out = d.step(Input::ClientWebSocket {
        client,
        actor: actor.to_string(),
        path: "/ws?room=7".into(),
        headers: headers.clone(),
    });
    let rq = tunnel_to(&out, conn)[0].message_id;
    assert_eq!(d.client_send(client, text("early")), vec![]);
    assert_eq!(d.client_send(client, text("second")), vec![]);
    let out = d.accept_websocket(conn, rq, true);
    let [Output::Store { request, .. }, rest @ ..] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        *request,
        StoreRequest::PutHibernation(HibernationRow {
            actor,
            gateway_id: d.gw.gateway_id(),
            request_id: rq.request_id,
            path: "/ws?room=7".into(),
            headers,
        })
    );
    assert_eq!(
        rest,
        [
            text_to(conn, rq, 1, "early"),
            text_to(conn, rq, 2, "second")
        ]
    );
    assert_eq!((d.gw.metrics().index_writes, d.gw.index_rows()), (1, 1));
    // A non-hibernatable socket gets no row.
    let (n, out) = d.open_websocket(actor, "/n");
    let rn = tunnel_to(&out, conn)[0].message_id;
    assert_eq!(d.accept_websocket(conn, rn, false), vec![]);
    assert_eq!(d.client_send(n, text("x")), vec![text_to(conn, rn, 1, "x")]);
    assert_eq!((d.gw.metrics().index_writes, d.gw.index_rows()), (1, 1));
}

#[test]
fn rows_are_refreshed_every_half_threshold_with_jitter_while_hibernating_too() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let rqs: Vec<MessageId> = (0..3)
        .map(|i| d.open_accepted(conn, actor, &format!("/{i}"), true).1)
        .collect();
    d.advance(Duration::from_secs(10));
    d.sleep_actor(conn, &start.checkpoint, 1);
    assert_eq!(d.gw.hibernating_socket_count(), 3);
    let out = d.advance(Duration::from_millis(34_999));
    assert_eq!(index_ops(&out), vec![], "nothing before 45 s");
    let out = d.advance(Duration::from_millis(1_101));
    let ops = index_ops(&out);
    let mut ids = touched(&ops);
    ids.sort();
    let mut want: Vec<RequestId> = rqs.iter().map(|r| r.request_id).collect();
    want.sort();
    assert_eq!(ids, want, "each row once within 45 s + 1 s jitter: {ops:?}");
    for op in &ops {
        let StoreRequest::TouchHibernation { gateway_id, .. } = op else {
            panic!("only touches: {ops:?}")
        };
        assert_eq!(*gateway_id, d.gw.gateway_id());
    }
    assert_eq!(d.gw.metrics().index_refreshed_rows, 3);
    // The next round comes 45 s (+ jitter) later; the stale-row collection rides on it.
    let out = d.advance(Duration::from_millis(42_000));
    assert_eq!(index_ops(&out), vec![]);
    let out = d.advance(Duration::from_millis(4_300));
    let ops = index_ops(&out);
    let mut ids = touched(&ops);
    ids.sort();
    assert_eq!(ids, want);
    let gcs: Vec<&StoreRequest> = ops
        .iter()
        .filter(|r| matches!(r, StoreRequest::GcHibernation { .. }))
        .collect();
    assert_eq!(
        gcs,
        vec![&StoreRequest::GcHibernation {
            older_than: Duration::from_secs(90)
        }]
    );
    assert_eq!(d.gw.metrics().index_refreshed_rows, 6);
}

#[test]
fn all_rows_due_at_a_tick_are_refreshed_in_one_operation() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let rqs: Vec<MessageId> = (0..3)
        .map(|i| d.open_accepted(conn, actor, &format!("/{i}"), true).1)
        .collect();
    let out = d.advance(Duration::from_secs(44));
    assert_eq!(index_ops(&out), vec![]);
    // The adapter was busy: one timeout call at 47 s finds all three due.
    let out = d.jump(Duration::from_secs(3));
    let ops = index_ops(&out);
    let [StoreRequest::TouchHibernation { gateway_id, rows }] = ops.as_slice() else {
        panic!("one batch: {ops:?}")
    };
    assert_eq!(*gateway_id, d.gw.gateway_id());
    let mut ids: Vec<RequestId> = rows.iter().map(|k| k.request_id).collect();
    ids.sort();
    let mut want: Vec<RequestId> = rqs.iter().map(|r| r.request_id).collect();
    want.sort();
    assert_eq!(ids, want);
    let m = d.gw.metrics();
    assert_eq!((m.index_refresh_batches, m.index_refreshed_rows), (1, 3));
    // One batch of 3 rows: above the 1-row bound, within the 10-row one.
    let batches: Vec<_> =
        d.gw.histograms()
            .index_refresh_batch_rows
            .buckets()
            .collect();
    assert_eq!(&batches[..2], &[(Some(1), 0), (Some(10), 1)]);
}

#[test]
fn a_client_close_while_attached_deletes_the_row() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.auto_store = false;
    // m1 is not acked yet: the close waits for it (guarantee 13), the row stays.
    let (out, stores) = split_store(d.step(Input::ClientClosed {
        client: h,
        close: Some(CloseFrame::new(1000, "bye")),
    }));
    assert_eq!((out, stores), (vec![], vec![]));
    let (out, stores) = split_store(d.ws_ack(conn, rq, 1));
    assert_eq!(
        out,
        vec![to_runner(
            conn,
            tunnel(rq, 2, ws_close(Some(1000), Some("bye")))
        )]
    );
    assert_eq!(stores, vec![delete_of(&d, rq)]);
    assert_eq!(
        (
            d.gw.index_rows(),
            d.gw.held_bytes(),
            d.gw.metrics().index_deletes
        ),
        (0, 0, 1)
    );
}

#[test]
fn a_runner_close_deletes_the_row() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.auto_store = false;
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
            code: Some(4000),
            reason: Some("done".into()),
            hibernate: false,
        }),
    );
    let (out, stores) = split_store(out);
    assert_eq!(
        out,
        vec![Output::CloseClient {
            client: h,
            close: CloseFrame::new(4000, "done"),
        }]
    );
    assert_eq!(stores, vec![delete_of(&d, rq)]);
    assert_eq!((d.gw.index_rows(), d.gw.held_bytes()), (0, 0));
}

#[test]
fn a_failed_row_write_is_retried_with_backoff_and_the_socket_keeps_working() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    d.auto_store = false;
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    let out = d.accept_websocket(conn, rq, true);
    let [(op, put)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    assert!(matches!(put, StoreRequest::PutHibernation(_)), "{put:?}");
    assert_eq!(d.complete_store(op, Err(StoreFailure::Busy)), vec![]);
    let m = d.gw.metrics();
    assert_eq!((m.store_errors, m.store_retries), (1, 1));
    // The socket works meanwhile.
    assert_eq!(
        d.client_send(h, text("m1")),
        vec![text_to(conn, rq, 1, "m1")]
    );
    // First retry: 50–100 ms (equal jitter on the 100 ms base).
    let out = without_pings(d.advance(Duration::from_millis(49)));
    assert_eq!(out, vec![]);
    let out = without_pings(d.advance(Duration::from_millis(51)));
    let [(op2, again)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    assert_eq!(again, put, "the same row, rewritten");
    // It fails again: the second retry waits 100–200 ms.
    assert_eq!(
        d.complete_store(op2, Err(StoreFailure::Io("disk".into()))),
        vec![]
    );
    let out = without_pings(d.advance(Duration::from_millis(99)));
    assert_eq!(out, vec![]);
    let out = without_pings(d.advance(Duration::from_millis(101)));
    let [(op3, again)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    assert_eq!(again, put);
    assert_eq!(d.complete_store(op3, Ok(StoreReply::Done)), vec![]);
    let m = d.gw.metrics();
    assert_eq!((m.store_errors, m.store_retries), (2, 2));
    assert_eq!(
        d.client_send(h, text("m2")),
        vec![text_to(conn, rq, 2, "m2")]
    );
    assert_eq!(d.gw.index_rows(), 1);
    assert_eq!(d.gw.client_count(), 1);
}

#[test]
fn a_failed_row_delete_is_retried_as_it_was() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.auto_store = false;
    let out = d.step(Input::ClientClosed {
        client: h,
        close: None,
    });
    let [(op, delete)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    assert_eq!(delete, delete_of(&d, rq));
    assert_eq!(d.complete_store(op, Err(StoreFailure::Busy)), vec![]);
    let out = without_pings(d.advance(Duration::from_millis(100)));
    let [(op2, again)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    assert_eq!(again, delete);
    assert_eq!(d.complete_store(op2, Ok(StoreReply::Done)), vec![]);
    let out = without_pings(d.advance(Duration::from_secs(5)));
    assert_eq!(out, vec![]);
}

#[test]
fn a_row_write_retry_after_the_socket_closed_is_dropped() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    d.auto_store = false;
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    let out = d.accept_websocket(conn, rq, true);
    let [(op, _)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    d.complete_store(op, Err(StoreFailure::Busy));
    let out = d.step(Input::ClientClosed {
        client: h,
        close: None,
    });
    let [(del, delete)] = <[_; 1]>::try_from(store_requests(&out)).unwrap();
    assert_eq!(delete, delete_of(&d, rq));
    d.complete_store(del, Ok(StoreReply::Done));
    let out = d.advance(Duration::from_secs(2));
    assert_eq!(
        index_ops(&out),
        vec![],
        "a late retry must not revive the closed socket's row"
    );
}

#[test]
fn startup_purges_earlier_incarnations_and_collects_stale_rows() {
    let now = Instant::from_millis(0);
    let mut gw = Gateway::new(Config::default(), 3, now, UnixMillis(WALL_EPOCH)).unwrap();
    gw.restore(now, Snapshot::default()).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| gw.poll_output()).collect();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        index_ops(&out),
        vec![
            StoreRequest::PurgeHibernation {
                keep: gw.gateway_id()
            },
            StoreRequest::GcHibernation {
                older_than: Duration::from_secs(90)
            },
        ]
    );
}

//! The hibernation index as store operations: the lease renewed before the first row, the row
//! written before any message, one lease renewal per interval whatever the number of rows,
//! deletes on every close path, retries, and the startup purge.

use super::hibernation::{delete_of, split_store, text, text_to};
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
use crate::timer::TimerKey;
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
    headers.insert("cookie", "session=secret".to_owned());
    headers.insert("authorization", "Bearer secret".to_owned());
    let out = d.step(Input::ClientWebSocket {
        client,
        actor: actor.to_string(),
        path: "/ws?room=7".into(),
        headers: headers.clone(),
    });
    // Credentials are never persisted: the row says they were sent, not what they were.
    let mut persisted = Headers::new();
    persisted.insert("x-room", "7".to_owned());
    persisted.insert("cookie", "[redacted]".to_owned());
    persisted.insert("authorization", "[redacted]".to_owned());
    let rq = tunnel_to(&out, conn)[0].message_id;
    assert_eq!(d.client_send(client, text("early")), vec![]);
    assert_eq!(d.client_send(client, text("second")), vec![]);
    let out = d.accept_websocket(conn, rq, true);
    // The gateway's first row: its lease is renewed first, so the row is never stale.
    let [
        Output::Store { request: lease, .. },
        Output::Store { request, .. },
        rest @ ..,
    ] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        *lease,
        StoreRequest::RenewLease {
            gateway_id: d.gw.gateway_id()
        }
    );
    assert_eq!(
        *request,
        StoreRequest::PutHibernation(Box::new(HibernationRow {
            actor,
            gateway_id: d.gw.gateway_id(),
            request_id: rq.request_id,
            path: "/ws?room=7".into(),
            headers: persisted,
        }))
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

fn renewals(ops: &[StoreRequest]) -> usize {
    ops.iter()
        .filter(|r| matches!(r, StoreRequest::RenewLease { .. }))
        .count()
}

#[test]
fn the_lease_is_renewed_every_half_threshold_with_jitter_while_rows_exist_hibernating_too() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let clients: Vec<ClientId> = (0..3)
        .map(|i| d.open_accepted(conn, actor, &format!("/{i}"), true).0)
        .collect();
    assert_eq!(
        d.gw.metrics().index_lease_renewals,
        1,
        "once, before the first row"
    );
    d.advance(Duration::from_secs(10));
    d.sleep_actor(conn, &start.checkpoint, 1);
    assert_eq!(d.gw.hibernating_socket_count(), 3);
    let out = d.advance(Duration::from_millis(34_999));
    assert_eq!(index_ops(&out), vec![], "nothing before 45 s");
    let out = d.advance(Duration::from_millis(1_001));
    assert_eq!(
        index_ops(&out),
        vec![StoreRequest::RenewLease {
            gateway_id: d.gw.gateway_id()
        }],
        "one renewal within 45 s + 1 s jitter, no per-row write"
    );
    // The next round comes 45 s (+ jitter) later; the stale-row collection rides on it.
    let out = d.advance(Duration::from_millis(43_900));
    assert_eq!(index_ops(&out), vec![]);
    let out = d.advance(Duration::from_millis(2_100));
    assert_eq!(
        index_ops(&out),
        vec![
            StoreRequest::RenewLease {
                gateway_id: d.gw.gateway_id()
            },
            StoreRequest::GcHibernation {
                older_than: Duration::from_secs(90)
            }
        ]
    );
    assert_eq!(d.gw.metrics().index_lease_renewals, 3);
    // Once the rows are gone the lease lapses: an idle gateway writes nothing.
    for client in clients {
        d.step(Input::ClientClosed {
            client,
            close: Some(CloseFrame::new(1000, "")),
        });
    }
    assert_eq!(d.gw.index_rows(), 0);
    d.advance(Duration::from_secs(47));
    let out = d.advance(Duration::from_secs(600));
    assert_eq!(index_ops(&out), vec![]);
    assert_eq!(d.gw.metrics().index_lease_renewals, 3);
    assert_eq!(d.gw.cx.timers.deadline_of(TimerKey::LeaseRenewal), None);
}

/// The keepalive of the whole index is one write per period, with 1 socket or 200.
#[test]
fn keepalive_writes_per_interval_do_not_depend_on_the_number_of_sockets() {
    let count_for = |sockets: usize| {
        let mut d = driver();
        let (conn, actor, _) = setup(&mut d);
        for i in 0..sockets {
            d.open_accepted(conn, actor, &format!("/{i}"), true);
        }
        let out = d.advance(Duration::from_secs(600));
        let ops = index_ops(&out);
        (ops.len(), renewals(&ops))
    };
    let one = count_for(1);
    let many = count_for(200);
    assert_eq!(one, many, "index writes over 10 minutes");
    // 600 s / (45 s + jitter): 13 renewals, plus the collections riding on them.
    assert_eq!(one.1, 13);
}

#[test]
fn a_socket_opened_while_the_lease_is_fresh_does_not_renew_it_again() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (first, _) = d.open_accepted(conn, actor, "/a", true);
    d.step(Input::ClientClosed {
        client: first,
        close: Some(CloseFrame::new(1000, "")),
    });
    d.advance(Duration::from_secs(10));
    d.open_accepted(conn, actor, "/b", true);
    assert_eq!(d.gw.metrics().index_lease_renewals, 1);
    // The renewals go on from the first one while the row lives.
    let out = d.advance(Duration::from_secs(120));
    assert_eq!(renewals(&index_ops(&out)), 2);
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
    let [(lease, _), (op, put)] = <[_; 2]>::try_from(store_requests(&out)).unwrap();
    assert_eq!(d.complete_store(lease, Ok(StoreReply::Done)), vec![]);
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
    let [(lease, _), (op, _)] = <[_; 2]>::try_from(store_requests(&out)).unwrap();
    d.complete_store(lease, Ok(StoreReply::Done));
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
    gw.restore(now, UnixMillis(WALL_EPOCH), Snapshot::default())
        .unwrap();
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

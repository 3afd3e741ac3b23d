//! Tests that kill mutants the rest of the suite let live (`scripts/mutants`, MUTANTS.md): each
//! pins one exact behaviour of the runner session, the tunnel, hibernation or the actor
//! lifecycle that a mutation of the code would change, through the driver only.

use std::time::Duration;

use super::hibernation::*;
use super::websocket::{to_runner, tunnel, ws_close, ws_message};
use super::{driver, driver_with, setup};
use crate::config::Config;
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::testkit::driver::*;

fn bye() -> Option<CloseFrame> {
    Some(CloseFrame::new(1000, "bye"))
}

// ---------------------------------------------------------------------------------------------
// tunnel/websocket.rs
// ---------------------------------------------------------------------------------------------

/// `handle_client_closed`: with nothing queued, a close while the open is in flight is
/// forwarded at once and the socket is forgotten; it does not linger until the runner accepts.
#[test]
fn a_close_while_opening_with_nothing_queued_goes_to_the_runner_at_once() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    let out = d.step(Input::ClientClosed {
        client: h,
        close: bye(),
    });
    assert_eq!(
        out,
        vec![to_runner(
            conn,
            tunnel(rq, 1, ws_close(Some(1000), Some("bye")))
        )]
    );
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.metrics().ws_closed_by_client, 1);
    // The runner's late accept finds nobody: no row, no second close.
    let out = d.accept_websocket(conn, rq, true);
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_unknown, 1);
    assert_eq!(d.gw.index_rows(), 0);
}

/// `handle_client_closed`: a socket still waiting for its actor, with nothing queued, is
/// forgotten at once; the runner never hears of it.
#[test]
fn a_close_while_waiting_for_the_actor_with_nothing_queued_is_never_opened() {
    let mut d = driver();
    let (actor, _) = d.create_actor("chat", None, "default"); // no runner yet
    let (h, out) = d.open_websocket(actor, "/ws");
    assert_eq!(out, vec![Output::AcceptClient { client: h }]);
    let out = d.step(Input::ClientClosed {
        client: h,
        close: bye(),
    });
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.client_count(), 0);
    let (conn, out) = d.connect_runner("k", "default", 4);
    let (_, start, list) = only_start(&out);
    assert_eq!(list, vec![]);
    let out = d.report_running(conn, &start);
    assert_eq!(tunnel_to(&out, conn), vec![], "no open for a closed socket");
}

// ---------------------------------------------------------------------------------------------
// hibernation/mod.rs
// ---------------------------------------------------------------------------------------------

/// `hibernate_socket` / `undelivered`: a client that closed while the runner link was down,
/// with every frame acked, ends when the allocation does (the runner is lost): it is not
/// hibernated, the next start does not list it, and it wakes the actor only as a close does.
#[test]
fn a_closed_socket_with_everything_acked_ends_with_its_allocation_instead_of_hibernating() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.ws_ack(conn, rq, 1);
    d.step(Input::RunnerClosed { conn });
    let out = d.step(Input::ClientClosed {
        client: h,
        close: bye(),
    });
    assert_eq!(out, vec![], "the close waits for the runner");
    assert_eq!(d.gw.client_count(), 1);
    let (out, stores) = split_store(without_pings(d.advance(Duration::from_secs(16))));
    assert_eq!(out, vec![], "nothing to say to a client that is gone");
    assert_eq!(stores, vec![delete_for(&d, actor, rq)]);
    assert_eq!(d.gw.metrics().runners_lost, 1);
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.metrics().ws_closed_while_hibernating, 1);
    assert_eq!(d.gw.metrics().wakes_for_close, 1);
    assert_eq!(d.gw.metrics().ws_hibernated, 0);
    assert_eq!(d.gw.metrics().wakes_for_hibernation, 0);
    // Woken to observe the close, on the next runner; the socket is not restored.
    let (_, out) = d.connect_runner("k2", "default", 4);
    let (_, _, list) = only_start(&out);
    assert_eq!(list, vec![]);
}

/// `resume_hibernating`: a wake re-attaches a socket and resends its un-acked messages, but
/// pumps (and so pauses or resumes reads) only a socket with queued frames or paused reads. A
/// message larger than the window went alone without pausing the reads; the wake leaves them
/// so, and the next frame pauses them as it queues.
#[test]
fn a_wake_does_not_pause_a_socket_whose_reads_were_never_paused() {
    let mut d = driver_with(Config {
        socket_window_bytes: 64,
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    let big = vec![7u8; 100];
    let out = d.client_send(h, ClientFrame::Binary(big.clone()));
    assert_eq!(
        out,
        vec![to_runner(conn, tunnel(rq, 1, ws_message(&big, true)))],
        "alone, a message larger than the window still goes"
    );
    d.sleep_actor(conn, &start.checkpoint, 1);
    let (_http, out) = d.http_request(actor, "GET", "/", b"");
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    let out = d.report_running(conn, &start1);
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::PauseClientReads { .. } | Output::ResumeClientReads { .. }
        )),
        "{out:?}"
    );
    assert_eq!(d.gw.paused_socket_count(), 0);
    assert_eq!(tunnel_to(&out, conn)[0], {
        let ToClient::TunnelMessage(t) = tunnel(rq, 1, ws_message(&big, true)) else {
            unreachable!()
        };
        t
    });
    let out = d.client_send(h, text("m2"));
    assert_eq!(out, vec![Output::PauseClientReads { client: h }]);
    assert_eq!(d.gw.paused_socket_count(), 1);
}

/// `resend_unacked`: a runner reconnect resends the un-acked messages of attached sockets only.
/// A hibernating socket listed in a start still on its way gets nothing before the actor runs;
/// then its un-acked message goes first, and the frame that woke the actor after it.
#[test]
fn a_reconnect_before_running_resends_nothing_of_a_hibernating_socket() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1")); // never acked
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(h, text("q"));
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(2));
    let (conn2, out) = d.connect_runner("k", "default", 4);
    assert_eq!(commands(&out), vec![(conn2, start1.clone())]);
    assert_eq!(tunnel_to(&out, conn2), vec![], "nothing before Running");
    assert_eq!(d.gw.metrics().ws_messages_resent_on_reconnect, 0);
    let out = d.report_running(conn2, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn2, rq, 1, "m1"),
            text_to(conn2, rq, 2, "q"),
            acked(conn2, &start1.checkpoint, 0),
        ]
    );
}

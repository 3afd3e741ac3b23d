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

/// `handle_client_message`: the budget is inclusive. A frame that brings the bytes held to
/// exactly `pending_budget_bytes` goes through the per-frame path without a pause, even when
/// it alone is larger than the socket's window.
#[test]
fn held_bytes_exactly_at_the_budget_do_not_pause_the_reads() {
    let big = vec![9u8; 100];
    let held = held_frame_len(&big);
    assert!(held > 100);
    let mut d = driver_with(Config {
        socket_window_bytes: 64,
        pending_budget_bytes: held,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    let out = d.client_send(h, ClientFrame::Binary(big.clone()));
    assert_eq!(
        out,
        vec![to_runner(conn, tunnel(rq, 1, ws_message(&big, true)))]
    );
    assert_eq!(d.gw.held_bytes(), held);
    assert_eq!(d.gw.paused_socket_count(), 0);
    assert_eq!(d.gw.metrics().reads_paused, 0);
}

/// The size of the frame held for one client message of `data` (ids are fixed-size, so it does
/// not depend on the request or the index).
fn held_frame_len(data: &[u8]) -> usize {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, _) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, ClientFrame::Binary(data.to_vec()));
    d.gw.held_bytes()
}

/// `update_pause`: the window is inclusive. Reads paused by a full window resume once an ack
/// lets the queued frame go, even though the bytes held are then exactly the window.
#[test]
fn a_window_filled_exactly_resumes_the_reads() {
    let l = held_frame_len(b"m1");
    let mut d = driver_with(Config {
        socket_window_bytes: 2 * l,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, ClientFrame::Binary(b"m1".to_vec()));
    d.client_send(h, ClientFrame::Binary(b"m2".to_vec()));
    assert_eq!(d.gw.held_bytes(), 2 * l);
    let out = d.client_send(h, ClientFrame::Binary(b"m3".to_vec()));
    assert_eq!(out, vec![Output::PauseClientReads { client: h }]);
    let out = d.ws_ack(conn, rq, 1);
    assert_eq!(
        out,
        vec![
            to_runner(conn, tunnel(rq, 3, ws_message(b"m3", true))),
            Output::ResumeClientReads { client: h },
        ]
    );
    assert_eq!(d.gw.held_bytes(), 2 * l);
    assert_eq!(d.gw.paused_socket_count(), 0);
}

/// `recheck_budget`: the budget is inclusive here too. An ack that brings the bytes held down
/// to exactly `pending_budget_bytes` resumes a socket the budget paused.
#[test]
fn an_ack_down_to_exactly_the_budget_resumes_a_socket_it_paused() {
    let l = held_frame_len(b"m1");
    let mut d = driver_with(Config {
        socket_window_bytes: 3 * l,
        pending_budget_bytes: 3 * l,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (x, xrq) = d.open_accepted(conn, actor, "/x", true);
    let (y, yrq) = d.open_accepted(conn, actor, "/y", true);
    d.client_send(x, ClientFrame::Binary(b"x1".to_vec()));
    d.client_send(x, ClientFrame::Binary(b"x2".to_vec()));
    let out = d.client_send(y, ClientFrame::Binary(b"y1".to_vec()));
    assert_eq!(
        out,
        vec![to_runner(conn, tunnel(yrq, 1, ws_message(b"y1", true)))],
        "at the budget, not past it"
    );
    let out = d.client_send(y, ClientFrame::Binary(b"y2".to_vec()));
    assert_eq!(
        out,
        vec![
            to_runner(conn, tunnel(yrq, 2, ws_message(b"y2", true))),
            Output::PauseClientReads { client: y },
        ],
        "past the budget (y's own window has room)"
    );
    let out = d.ws_ack(conn, xrq, 1);
    assert_eq!(d.gw.held_bytes(), 3 * l);
    assert_eq!(out, vec![Output::ResumeClientReads { client: y }]);
    assert_eq!(d.gw.paused_socket_count(), 0);
}

/// `handle_tunnel_message`: an actor frame for a socket whose client closed (its close waits
/// behind a queued frame) reaches nobody and is counted.
#[test]
fn an_actor_frame_for_a_client_that_closed_is_dropped_and_counted() {
    let mut d = driver_with(Config {
        socket_window_messages: 1,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.client_send(h, text("m2")); // queued behind m1's ack
    let out = d.step(Input::ClientClosed {
        client: h,
        close: bye(),
    });
    assert_eq!(out, vec![]);
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: b"late".to_vec(),
            binary: false,
        }),
    );
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().ws_messages_to_closed_client, 1);
    assert_eq!(d.gw.metrics().ws_messages_to_client, 0);
    // The close still follows m2 once the runner acks.
    let out = d.ws_ack(conn, rq, 1);
    assert_eq!(out, vec![text_to(conn, rq, 2, "m2")]);
    let (out, stores) = split_store(d.ws_ack(conn, rq, 2));
    assert_eq!(
        out,
        vec![to_runner(
            conn,
            tunnel(rq, 3, ws_close(Some(1000), Some("bye")))
        )]
    );
    assert_eq!(stores, vec![delete_for(&d, actor, rq)]);
    assert_eq!(d.gw.client_count(), 0);
}

/// `on_websocket_message`: a text frame from the actor that is not UTF-8 reaches the client
/// decoded lossily (as the reference does), and is counted.
#[test]
fn an_actor_text_frame_that_is_not_utf8_is_decoded_lossily_and_counted() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", false);
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: b"caf\xe9!".to_vec(),
            binary: false,
        }),
    );
    assert_eq!(
        out,
        vec![Output::SendClient {
            client: h,
            frame: ClientFrame::Text("caf\u{fffd}!".into()),
        }]
    );
    assert_eq!(d.gw.metrics().ws_invalid_utf8_from_runner, 1);
    assert_eq!(d.gw.metrics().ws_messages_to_client, 1);
    // Valid text is not counted.
    d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: "café".as_bytes().to_vec(),
            binary: false,
        }),
    );
    assert_eq!(d.gw.metrics().ws_invalid_utf8_from_runner, 1);
    assert_eq!(d.gw.metrics().ws_messages_to_client, 2);
}

/// `handle_client_closed`: a close while hibernating with a queued frame is counted once; the
/// frame that woke the actor goes first, and the close once the runner acked it.
#[test]
fn a_close_while_hibernating_behind_a_queued_frame_is_counted_and_follows_the_frame() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(h, text("late"));
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    let out = d.step(Input::ClientClosed {
        client: h,
        close: bye(),
    });
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().ws_closed_while_hibernating, 1);
    assert_eq!(
        d.gw.metrics().wakes_for_close,
        0,
        "the frame woke it already"
    );
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 1, "late"),
            acked(conn, &start1.checkpoint, 0)
        ]
    );
    let (out, stores) = split_store(d.ws_ack(conn, rq, 1));
    assert_eq!(
        out,
        vec![to_runner(
            conn,
            tunnel(rq, 2, ws_close(Some(1000), Some("bye")))
        )]
    );
    assert_eq!(stores, vec![delete_for(&d, actor, rq)]);
    assert_eq!(d.gw.metrics().ws_closed_while_hibernating, 1);
    assert_eq!(d.gw.client_count(), 0);
}

/// `send_next_queued`: frames that waited in the queue count as forwarded when they go.
#[test]
fn queued_frames_count_as_forwarded_when_they_go() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    assert_eq!(d.client_send(h, text("q1")), vec![]);
    assert_eq!(d.client_send(h, text("q2")), vec![]);
    assert_eq!(d.gw.metrics().ws_messages_to_runner, 0);
    let out = d.accept_websocket(conn, rq, false);
    assert_eq!(
        out,
        vec![text_to(conn, rq, 1, "q1"), text_to(conn, rq, 2, "q2")]
    );
    assert_eq!(d.gw.metrics().ws_messages_to_runner, 2);
}

/// `relieve_budget` / `after_pause`: a client just paused by an exhausted budget that only a
/// sleeping actor's acks can free wakes that actor, and the wake is counted; its resend, once
/// acked, frees the budget and the client resumes.
#[test]
fn a_client_paused_by_the_budget_wakes_the_sleeping_actor_that_holds_it() {
    let l = held_frame_len(b"m1");
    let mut d = driver_with(Config {
        socket_window_bytes: 2 * l,
        pending_budget_bytes: 2 * l,
        ..Config::default()
    });
    let (conn, sleeper, start) = setup(&mut d);
    let (a, arq) = d.open_accepted(conn, sleeper, "/a", true);
    d.client_send(a, ClientFrame::Binary(b"a1".to_vec())); // never acked
    d.sleep_actor(conn, &start.checkpoint, 1);
    let (other, _) = d.running_actor(conn, "other");
    let (x, xrq) = d.open_accepted(conn, other, "/x", true);
    d.client_send(x, ClientFrame::Binary(b"x1".to_vec()));
    assert_eq!(
        d.gw.metrics().wakes_for_budget,
        0,
        "at the budget, not past it"
    );
    let (out, _) = split_store(d.client_send(x, ClientFrame::Binary(b"x2".to_vec())));
    assert_eq!(
        out[..2],
        [
            to_runner(conn, tunnel(xrq, 2, ws_message(b"x2", true))),
            Output::PauseClientReads { client: x },
        ]
    );
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(arq)]);
    assert_eq!(d.gw.metrics().wakes_for_budget, 1);
    assert_eq!(d.gw.metrics().wakes_for_hibernation, 1);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            to_runner(conn, tunnel(arq, 1, ws_message(b"a1", true))),
            acked(conn, &start1.checkpoint, 0),
        ]
    );
    let out = d.ws_ack(conn, arq, 1);
    assert_eq!(out, vec![Output::ResumeClientReads { client: x }]);
    assert_eq!(d.gw.metrics().wakes_for_budget, 1);
}

/// `relieve_budget`: past the budget with no client waiting for it (the one it paused closed),
/// an actor that stops with un-acked messages is not woken for them (guarantee 5).
#[test]
fn past_the_budget_with_no_client_waiting_un_acked_messages_alone_never_wake() {
    let l = held_frame_len(b"m1");
    let mut d = driver_with(Config {
        socket_window_bytes: 2 * l,
        pending_budget_bytes: 2 * l,
        ..Config::default()
    });
    let (conn, sleeper, start) = setup(&mut d);
    let (a, _) = d.open_accepted(conn, sleeper, "/a", true);
    d.client_send(a, ClientFrame::Binary(b"a1".to_vec())); // never acked
    let (other, _) = d.running_actor(conn, "other");
    let (x, _) = d.open_accepted(conn, other, "/x", true);
    d.client_send(x, ClientFrame::Binary(b"x1".to_vec()));
    let out = d.client_send(x, ClientFrame::Binary(b"x2".to_vec()));
    assert_eq!(out.last(), Some(&Output::PauseClientReads { client: x }));
    // x's client leaves; its frames wait for their acks, nobody waits for the budget.
    d.step(Input::ClientClosed {
        client: x,
        close: bye(),
    });
    assert!(d.gw.held_bytes() > d.gw.config().pending_budget_bytes);
    assert_eq!(d.gw.paused_socket_count(), 0);
    let out = d.sleep_actor(conn, &start.checkpoint, 1);
    assert_eq!(start_commands(&out), vec![], "{out:?}");
    assert_eq!(d.gw.hibernating_socket_count(), 1);
    assert_eq!(d.gw.metrics().wakes_for_budget, 0);
    let out = d.advance(Duration::from_secs(600));
    assert_eq!(start_commands(&out), vec![]);
}

/// `after_pause`: only a client whose reads the frame *just* paused looks for budget to free.
/// A client already paused by its own window whose last frames (read before the pause) push
/// the bytes held past the budget wakes nobody: its own acks free the budget, and it resumes.
#[test]
fn a_client_already_paused_by_its_window_wakes_no_sleeping_actor_for_the_budget() {
    let l = held_frame_len(b"m1");
    let budget = 2 * l + 2;
    let mut d = driver_with(Config {
        socket_window_messages: 1,
        socket_window_bytes: budget,
        pending_budget_bytes: budget,
        ..Config::default()
    });
    let (conn, sleeper, start) = setup(&mut d);
    let (a, _) = d.open_accepted(conn, sleeper, "/a", true);
    d.client_send(a, ClientFrame::Binary(b"a1".to_vec())); // never acked
    d.sleep_actor(conn, &start.checkpoint, 1);
    let (other, _) = d.running_actor(conn, "other");
    let (y, yrq) = d.open_accepted(conn, other, "/y", true);
    let y_msg = |i: u16, data: &[u8]| to_runner(conn, tunnel(yrq, i, ws_message(data, true)));
    assert_eq!(
        d.client_send(y, ClientFrame::Binary(b"y1".to_vec())),
        vec![y_msg(1, b"y1")]
    );
    assert_eq!(
        d.client_send(y, ClientFrame::Binary(b"y2".to_vec())),
        vec![Output::PauseClientReads { client: y }],
        "its window is full; the budget is not exceeded"
    );
    let out = d.client_send(y, ClientFrame::Binary(b"y3".to_vec()));
    assert!(d.gw.held_bytes() > budget);
    assert_eq!(out, vec![], "past the budget, but already paused: no wake");
    assert_eq!(d.gw.metrics().wakes_for_budget, 0);
    assert_eq!(d.gw.hibernating_socket_count(), 1);
    assert_eq!(d.ws_ack(conn, yrq, 1), vec![y_msg(2, b"y2")]);
    assert_eq!(
        d.ws_ack(conn, yrq, 2),
        vec![y_msg(3, b"y3"), Output::ResumeClientReads { client: y }]
    );
    assert_eq!(d.gw.metrics().wakes_for_budget, 0);
    assert_eq!(d.gw.hibernating_socket_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// gateway/actor_events.rs
// ---------------------------------------------------------------------------------------------

/// `handle_ack_commands` / `stop_stray_instance`: a runner acking a start for an actor instance
/// the gateway does not own there (an unknown actor, or an older generation) is told to stop
/// exactly that instance, one checkpoint index further; an ack for the current instance is
/// left alone.
#[test]
fn an_acked_start_of_an_instance_the_gateway_does_not_own_is_stopped() {
    let mut d = driver();
    let (conn, _actor, start) = setup(&mut d);
    let stray = ActorCheckpoint {
        actor_id: "9b2f8a44-8f4e-4a39-9a57-1d2f3c4b5a69".into(),
        generation: 3,
        index: 4,
    };
    let stale = ActorCheckpoint {
        generation: start.checkpoint.generation + 1,
        ..start.checkpoint.clone()
    };
    let ack = ToServer::AckCommands(ToServerAckCommands {
        last_command_checkpoints: vec![start.checkpoint.clone(), stray.clone(), stale.clone()],
    });
    let out = d.runner_send(conn, &ack);
    let stop = |c: &ActorCheckpoint| CommandWrapper {
        checkpoint: ActorCheckpoint {
            index: c.index + 1,
            ..c.clone()
        },
        inner: Command::StopActor,
    };
    assert_eq!(
        out,
        vec![
            to_runner(conn, ToClient::Commands(vec![stop(&stray)])),
            to_runner(conn, ToClient::Commands(vec![stop(&stale)])),
        ]
    );
    assert_eq!(d.gw.metrics().stray_actors_stopped, 2);
}

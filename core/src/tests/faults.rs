//! Faults on the runner link and at the edges of a socket's life that must not lose a frame
//! (DESIGN.md guarantees 1–3, 5): a reconnect resends what was never acked, requests in flight
//! on a dropped link fail at once, pauses always end, frames sent before a client's close reach
//! the actor before the close, the ack timeout only runs against a running actor, and a socket
//! closed while its actor starts is closed on the runner too.

use std::time::Duration;

use super::hibernation::*;
use super::websocket::ws_close;
use super::{driver, driver_with, setup};
use crate::config::Config;
use crate::ids::{ClientId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::testkit::driver::*;

/// Every tunnel message in `out` for `request`, as (runner, index, kind).
fn for_request(
    out: &[Output],
    request: MessageId,
) -> Vec<(RunnerConnId, u16, ToClientTunnelMessageKind)> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendRunner { conn, bytes } => match ToClient::decode(bytes) {
                Ok(ToClient::TunnelMessage(t)) if t.message_id.request_id == request.request_id => {
                    Some((*conn, t.message_id.message_index, t.message_kind))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn message(s: &str) -> ToClientTunnelMessageKind {
    super::websocket::ws_message(s.as_bytes(), false)
}

fn runner_disconnected_502(client: ClientId) -> Output {
    super::error_response(
        client,
        502,
        "torpor",
        "runner_disconnected",
        "the runner connection dropped while the request was in flight",
    )
}

// ---------------------------------------------------------------------------------------------
// Defect 1: a runner reconnect resends un-acked messages; in-flight opens and requests fail
// ---------------------------------------------------------------------------------------------

/// An open hibernatable socket with m1..m3 sent and m1 acked.
fn three_sent_one_acked(d: &mut Driver) -> (RunnerConnId, ClientId, MessageId, Vec<Output>) {
    let (conn, actor, _) = setup(d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    let mut sent = Vec::new();
    for i in 1..=3u16 {
        sent.extend(d.client_send(h, text(&format!("m{i}"))));
    }
    d.ws_ack(conn, rq, 1);
    (conn, h, rq, sent)
}

#[test]
fn reconnect_resends_unacked_messages_with_their_bytes_before_anything_new() {
    let mut d = driver();
    let (conn, h, rq, sent) = three_sent_one_acked(&mut d);
    let out = d.step(Input::RunnerClosed { conn });
    assert!(
        no_client_closes(&out),
        "a hibernatable socket stays open: {out:?}"
    );
    d.advance(Duration::from_secs(1));
    assert_eq!(d.client_send(h, text("m4")), vec![], "queued while away");
    let (conn2, out) = d.connect_runner("k", "default", 4);
    assert_eq!(
        for_request(&out, rq),
        vec![
            (conn2, 2, message("m2")),
            (conn2, 3, message("m3")),
            (conn2, 4, message("m4")),
        ],
        "un-acked first, original indices, then the queued frame"
    );
    let resent: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::SendRunner { conn, bytes } if *conn == conn2 => Some(bytes),
            _ => None,
        })
        .collect();
    for original in &sent[1..] {
        let Output::SendRunner { bytes, .. } = original else {
            panic!("{original:?}")
        };
        assert!(resent.contains(&bytes), "resent with the exact bytes");
    }
    assert_eq!(d.gw.metrics().ws_messages_resent_on_reconnect, 2);
    // Acked after the reconnect: no ack timeout, nothing closes.
    d.ws_ack(conn2, rq, 4);
    let out = d.advance(Duration::from_secs(60));
    assert!(no_client_closes(&out), "{out:?}");
    assert_eq!(d.gw.held_bytes(), 0);
}

#[test]
fn a_replaced_session_resends_unacked_messages_on_the_new_connection() {
    let mut d = driver();
    let (conn, _h, rq, _) = three_sent_one_acked(&mut d);
    // The runner noticed the dead link first: its new connection arrives before ours closes.
    let (conn2, out) = d.connect_runner("k", "default", 4);
    assert_eq!(
        for_request(&out, rq),
        vec![(conn2, 2, message("m2")), (conn2, 3, message("m3"))]
    );
    assert!(d.step(Input::RunnerClosed { conn }).is_empty());
}

#[test]
fn http_request_in_flight_fails_502_at_a_link_drop_and_the_runner_hears_the_abort() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, out) = d.http_request(actor, "POST", "/x", b"body");
    let rq = tunnel_to(&out, conn)[0].message_id;
    let out = d.step(Input::RunnerClosed { conn });
    assert_eq!(out, vec![runner_disconnected_502(client)]);
    assert_eq!(d.gw.metrics().requests_failed_runner_disconnected, 1);
    let (conn2, out) = d.connect_runner("k", "default", 4);
    assert_eq!(
        for_request(&out, rq),
        vec![(conn2, 1, ToClientTunnelMessageKind::RequestAbort)]
    );
    // A late answer finds nobody.
    let out = d.runner_tunnel(
        conn2,
        rq,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers: Headers::new(),
            body: None,
            stream: false,
        }),
    );
    assert_eq!(out, vec![]);
}

#[test]
fn streamed_response_in_flight_is_aborted_at_a_link_drop() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, out) = d.http_request(actor, "GET", "/stream", b"");
    let rq = tunnel_to(&out, conn)[0].message_id;
    d.start_streaming(conn, rq);
    let out = d.step(Input::RunnerClosed { conn });
    assert_eq!(out, vec![Output::HttpAbort { client }]);
}

#[test]
fn websocket_opening_and_non_hibernatable_sockets_close_1011_at_a_link_drop() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (plain, plain_rq) = d.open_accepted(conn, actor, "/plain", false);
    let (opening, out) = d.open_websocket(actor, "/opening");
    let opening_rq = tunnel_to(&out, conn)[0].message_id;
    let (kept, _) = d.open_accepted(conn, actor, "/kept", true);
    let out = d.step(Input::RunnerClosed { conn });
    let reason = "torpor.runner_disconnected";
    let mut closes: Vec<Output> = out
        .into_iter()
        .filter(|o| matches!(o, Output::CloseClient { .. }))
        .collect();
    closes.sort_by_key(|o| match o {
        Output::CloseClient { client, .. } => *client,
        _ => unreachable!(),
    });
    assert_eq!(
        closes,
        vec![
            Output::CloseClient {
                client: plain,
                close: CloseFrame::new(1011, reason)
            },
            Output::CloseClient {
                client: opening,
                close: CloseFrame::new(1011, reason)
            },
        ],
        "the hibernatable socket {kept} stays"
    );
    assert_eq!(d.gw.client_count(), 1);
    let (conn2, out) = d.connect_runner("k", "default", 4);
    assert_eq!(
        for_request(&out, plain_rq),
        vec![(conn2, 1, ws_close(Some(1011), Some(reason)))]
    );
    assert_eq!(
        for_request(&out, opening_rq),
        vec![(conn2, 1, ws_close(Some(1011), Some(reason)))]
    );
}

/// An open in flight at a link drop whose client already left with a frame to deliver is not
/// failed (nobody could be told): the reconnected runner hears a close for the old request id,
/// then the open again under a fresh one, and the frame and the close follow it.
#[test]
fn an_open_in_flight_at_a_link_drop_whose_client_left_is_retried_on_the_reconnect() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h, text("early"));
    client_close(&mut d, h);
    let out = d.step(Input::RunnerClosed { conn });
    assert!(no_client_closes(&out));
    assert_eq!(d.gw.metrics().ws_opens_retried, 1);
    assert_eq!(d.gw.metrics().requests_failed_runner_disconnected, 0);
    let (conn2, out) = d.connect_runner("k", "default", 4);
    let reason = "torpor.runner_disconnected";
    assert_eq!(
        for_request(&out, rq),
        vec![(conn2, 1, ws_close(Some(1011), Some(reason)))]
    );
    let opens = tunnel_to(&out, conn2);
    let rq2 = opens.last().expect("an open").message_id;
    assert_ne!(rq2.request_id, rq.request_id);
    assert!(matches!(
        opens.last().unwrap().message_kind,
        ToClientTunnelMessageKind::WebSocketOpen(_)
    ));
    let out = d.accept_websocket(conn2, rq2, false);
    assert_eq!(
        for_request(&out, rq2),
        vec![(conn2, 1, message("early")), (conn2, 2, bye())]
    );
    assert_eq!(d.gw.client_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Defect 2: a socket paused by its window, then held by the budget, resumes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_socket_paused_by_its_window_resumes_once_the_budget_frees_too() {
    let payload = |i: u8| ClientFrame::Binary(vec![i; 100]);
    let frame_len = msg_bytes(
        MessageId {
            gateway_id: GatewayId::from_bytes([0; 4]),
            request_id: RequestId::from_bytes([0; 4]),
            message_index: 0,
        },
        0,
        &[0; 100],
        true,
    )
    .len();
    let mut d = driver_with(Config {
        socket_window_messages: 2,
        // Between what `a` holds alone and what `a` and `b` hold together.
        pending_budget_bytes: 4 * frame_len,
        socket_window_bytes: 4 * frame_len,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (a, a_rq) = d.open_accepted(conn, actor, "/a", true);
    let (b, b_rq) = d.open_accepted(conn, actor, "/b", true);
    // `a` fills its window (two un-acked) and one more frame queues: paused by the window.
    d.client_send(a, payload(1));
    d.client_send(a, payload(2));
    assert_eq!(
        d.client_send(a, payload(3)),
        vec![Output::PauseClientReads { client: a }]
    );
    // `b`'s frames (some already in flight when it was paused) exhaust the global budget.
    for i in 1..=5 {
        d.client_send(b, payload(10 + i));
    }
    assert!(d.gw.held_bytes() > d.gw.config().pending_budget_bytes);
    // `a`'s window frees while the budget is still exhausted: `a` stays paused for now.
    d.ws_ack(conn, a_rq, 2);
    assert!(d.gw.held_bytes() > d.gw.config().pending_budget_bytes);
    // `b` is acked: the budget has room and `a`'s window has room, so `a` reads again.
    let out = d.ws_ack(conn, b_rq, 2);
    assert!(d.gw.held_bytes() <= d.gw.config().pending_budget_bytes);
    assert!(
        out.contains(&Output::ResumeClientReads { client: a }),
        "{out:?}"
    );
    d.ws_ack(conn, b_rq, 4);
    d.ws_ack(conn, b_rq, 5);
    d.ws_ack(conn, a_rq, 3);
    assert_eq!(d.gw.paused_socket_count(), 0);
    assert_eq!(d.gw.held_bytes(), 0);
}

#[test]
fn budget_freed_by_sending_a_plain_socket_s_queued_frames_resumes_the_others() {
    // Found by the core_steps oracle: a non-hibernatable socket's queued frames stop counting
    // once sent (nothing is kept for them), which frees budget without any ack or close.
    let mut d = driver_with(Config {
        socket_window_bytes: 4096,
        pending_budget_bytes: 4096,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (a, _a_rq) = d.open_accepted(conn, actor, "/a", true);
    let (plain, out) = d.open_websocket(actor, "/plain");
    let plain_rq = tunnel_to(&out, conn)[0].message_id;
    for i in 0..3u8 {
        d.client_send(plain, ClientFrame::Binary(vec![i; 1000])); // queued: still opening
    }
    d.client_send(a, ClientFrame::Binary(vec![7; 1000]));
    let out = d.client_send(a, ClientFrame::Binary(vec![8; 1000]));
    assert_eq!(
        out.last(),
        Some(&Output::PauseClientReads { client: a }),
        "budget full"
    );
    let out = d.accept_websocket(conn, plain_rq, false);
    assert!(d.gw.held_bytes() <= d.gw.config().pending_budget_bytes);
    assert!(
        out.contains(&Output::ResumeClientReads { client: a }),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Defect 3: frames a client sent before its close reach the actor before the close
// ---------------------------------------------------------------------------------------------

fn client_close(d: &mut Driver, client: ClientId) -> Vec<Output> {
    d.step(Input::ClientClosed {
        client,
        close: Some(CloseFrame::new(1000, "bye")),
    })
}

fn bye() -> ToClientTunnelMessageKind {
    ws_close(Some(1000), Some("bye"))
}

#[test]
fn send_then_close_with_a_full_window_delivers_the_queued_frame_then_the_close() {
    let mut d = driver_with(Config {
        socket_window_messages: 1,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.client_send(h, text("m2")); // queued: the window holds one
    let out = client_close(&mut d, h);
    assert_eq!(for_request(&out, rq), vec![], "m2 first, after m1's ack");
    let out = d.ws_ack(conn, rq, 1);
    assert_eq!(for_request(&out, rq), vec![(conn, 2, message("m2"))]);
    let out = d.ws_ack(conn, rq, 2);
    assert_eq!(for_request(&out, rq), vec![(conn, 3, bye())]);
    assert!(no_client_closes(&out), "the client is gone already");
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.held_bytes(), 0);
}

#[test]
fn send_then_close_while_the_actor_stops_delivers_on_the_wake_then_closes() {
    let mut d = driver_with(Config {
        wake_on_close: false, // the queued data wakes it anyway
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    let mut seen = d.client_send(h, text("late"));
    seen.extend(client_close(&mut d, h));
    seen.extend(d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error)));
    let (_, start2, list) = only_start(&seen);
    assert_eq!(
        list,
        vec![listed(rq)],
        "the closing socket is restored to deliver"
    );
    seen.extend(d.report_running(conn, &start2));
    seen.extend(d.ws_ack(conn, rq, 1));
    assert_eq!(
        for_request(&seen, rq),
        vec![(conn, 1, message("late")), (conn, 2, bye())]
    );
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn send_then_close_while_the_open_is_in_progress_delivers_after_the_open() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h, text("early"));
    let out = client_close(&mut d, h);
    assert_eq!(for_request(&out, rq), vec![]);
    let out = d.accept_websocket(conn, rq, false);
    assert_eq!(
        for_request(&out, rq),
        vec![(conn, 1, message("early")), (conn, 2, bye())],
        "a non-hibernatable socket needs no ack before the close"
    );
    assert!(no_client_closes(&out));
    assert_eq!(d.gw.client_count(), 0);
}

/// The actor crashes while the open of a socket whose client already left (with a frame to
/// deliver) is in flight: nobody can be told, so the open is retried at the next start under a
/// fresh request id, and the runner is told to close the old one (an instance that took it
/// late must not keep it). A late answer to the old open is not taken for the new one.
#[test]
fn send_then_close_while_the_open_is_in_progress_survives_a_crash_of_the_actor() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h, text("early"));
    client_close(&mut d, h);
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert_eq!(
        for_request(&out, rq),
        vec![(conn, 1, ws_close(Some(1001), Some("actor.crashed")))]
    );
    assert!(no_client_closes(&out), "the client is gone already");
    let (_, start2, list) = only_start(&out);
    assert_eq!(list, vec![], "the socket was never open on the actor");
    assert_eq!(d.gw.metrics().ws_opens_retried, 1);
    let out = d.report_running(conn, &start2);
    let opens = tunnel_to(&out, conn);
    assert_eq!(opens.len(), 1, "{out:?}");
    let rq2 = opens[0].message_id;
    assert_ne!(rq2.request_id, rq.request_id);
    assert_eq!(rq2.message_index, 0);
    assert!(matches!(
        opens[0].message_kind,
        ToClientTunnelMessageKind::WebSocketOpen(_)
    ));
    assert_eq!(
        d.accept_websocket(conn, rq, true),
        vec![],
        "the old open's late answer"
    );
    let out = d.accept_websocket(conn, rq2, false);
    assert_eq!(
        for_request(&out, rq2),
        vec![(conn, 1, message("early")), (conn, 2, bye())]
    );
    assert_eq!(d.gw.client_count(), 0);
}

/// A driver whose crashed actors restart after 1 ms however often they crash (the tests of
/// interrupted opens crash one start after another; the crash-loop delay has its own tests).
fn driver_restarting_at_once() -> Driver {
    driver_with(Config {
        crash_restart_delay: Duration::from_millis(1),
        crash_restart_delay_max: Duration::from_millis(1),
        ..Config::default()
    })
}

/// The actor of `checkpoint` crashes; what follows, including its restart 1 ms later.
fn crash_and_restart(
    d: &mut Driver,
    conn: RunnerConnId,
    checkpoint: &ActorCheckpoint,
) -> Vec<Output> {
    let mut out = d.report_state(conn, checkpoint, 1, stopped(StopCode::Error));
    out.extend(d.advance(Duration::from_millis(1)));
    out
}

/// An actor that crashes on every open of such a socket is not restarted for it forever: after
/// `MAX_INTERRUPTED_ALLOCATIONS` retries its frames are given up, counted, and the actor sleeps.
#[test]
fn an_open_interrupted_by_every_start_is_given_up_after_the_retries() {
    let mut d = driver_restarting_at_once();
    let (conn, actor, mut start) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let mut rq = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h, text("poison"));
    client_close(&mut d, h);
    for retry in 1..=crate::tunnel::MAX_INTERRUPTED_ALLOCATIONS {
        let out = crash_and_restart(&mut d, conn, &start.checkpoint);
        assert_eq!(for_request(&out, rq).len(), 1, "the runner hears a close");
        assert_eq!(u64::from(retry), d.gw.metrics().ws_opens_retried);
        start = only_start(&out).1;
        let out = d.report_running(conn, &start);
        rq = tunnel_to(&out, conn)[0].message_id;
    }
    let out = crash_and_restart(&mut d, conn, &start.checkpoint);
    assert_eq!(
        for_request(&out, rq),
        vec![(conn, 1, ws_close(Some(1001), Some("actor.crashed")))]
    );
    assert_eq!(start_commands(&out), vec![], "no more starts for it");
    assert_eq!(d.gw.metrics().ws_left_frames_given_up, 1);
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.held_bytes(), 0);
}

/// The retries count allocations *in a row* that end before the socket gets anywhere: one that
/// opens it starts the count again (found by the sim_seed fuzzer: a socket whose open had been
/// retried three times, then opened and sent its frame, was given up at the next interrupted
/// start).
#[test]
fn an_open_that_succeeds_after_retries_starts_the_count_again() {
    let mut d = driver_restarting_at_once();
    let (conn, actor, mut start) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let mut rq = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h, text("late"));
    client_close(&mut d, h);
    for _ in 1..=crate::tunnel::MAX_INTERRUPTED_ALLOCATIONS {
        let out = crash_and_restart(&mut d, conn, &start.checkpoint);
        start = only_start(&out).1;
        let out = d.report_running(conn, &start);
        rq = tunnel_to(&out, conn)[0].message_id;
    }
    // The last retry opens: the frame goes out and is not acked yet.
    let out = d.accept_websocket(conn, rq, true);
    assert_eq!(for_request(&out, rq), vec![(conn, 1, message("late"))]);
    // A crash detaches it; the wake's start never runs (start timeout).
    let out = crash_and_restart(&mut d, conn, &start.checkpoint);
    let (_, _, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    let out = d.advance(d.gw.config().actor_start_timeout);
    assert_eq!(d.gw.metrics().ws_left_frames_given_up, 0);
    assert_eq!(
        d.gw.client_count(),
        1,
        "one interrupted start since it opened"
    );
    let (_, start, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    // The next start runs: the frame is resent with its index, acked, then the close follows.
    let mut seen = d.report_running(conn, &start);
    seen.extend(d.ws_ack(conn, rq, 1));
    assert_eq!(
        for_request(&seen, rq),
        vec![(conn, 1, message("late")), (conn, 2, bye())]
    );
    assert_eq!(d.gw.client_count(), 0);
}

/// The same crash with the client still connected: it is told (1001), and the runner too.
#[test]
fn a_crash_while_the_open_is_in_progress_closes_a_connected_client_and_the_runner_side() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h, text("early"));
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert_eq!(
        for_request(&out, rq),
        vec![(conn, 1, ws_close(Some(1001), Some("actor.crashed")))]
    );
    assert!(out.contains(&Output::CloseClient {
        client: h,
        close: CloseFrame::new(1001, "actor.crashed"),
    }));
    assert_eq!(start_commands(&out), vec![]);
    assert_eq!(d.gw.metrics().ws_opens_retried, 0);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn send_then_close_while_hibernating_wakes_even_without_wake_on_close() {
    let mut d = driver_with(Config {
        wake_on_close: false,
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    assert_eq!(d.gw.hibernating_socket_count(), 1);
    let mut seen = d.client_send(h, text("after sleep"));
    seen.extend(client_close(&mut d, h));
    let (_, start2, list) = only_start(&seen);
    assert_eq!(list, vec![listed(rq)]);
    seen.extend(d.report_running(conn, &start2));
    seen.extend(d.ws_ack(conn, rq, 1));
    assert_eq!(
        for_request(&seen, rq),
        vec![(conn, 1, message("after sleep")), (conn, 2, bye())]
    );
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn a_left_client_s_frames_outlive_the_wake_deadline_and_reach_the_actor_when_it_runs() {
    // Found by the sim_seed fuzzer: the wake deadline gave up on a left client's hibernating
    // socket like on a connected one, so the actor's next start did not list it and the actor
    // saw the close (stale metadata) without the frames sent before it. A connected client is
    // told (1011) and may resend; a left client cannot be, so its frames wait for the start,
    // bounded by the close-wake rule (at most three start timeouts), not by the wake deadline.
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    d.step(Input::RunnerClosed { conn });
    let mut seen = d.client_send(h, text("while no runner"));
    seen.extend(client_close(&mut d, h));
    assert_eq!(start_commands(&seen), vec![], "no runner to start it on");
    d.advance(Duration::from_secs(91)); // past the 90 s wake deadline
    assert_eq!(
        d.gw.client_count(),
        1,
        "the left client's socket waits for the start"
    );
    let (conn2, out) = d.connect_runner("r2", "default", 10);
    let (_, start2, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    let mut seen = d.report_running(conn2, &start2);
    seen.extend(d.ws_ack(conn2, rq, 1));
    assert_eq!(
        for_request(&seen, rq),
        vec![(conn2, 1, message("while no runner")), (conn2, 2, bye())]
    );
    assert_eq!(d.gw.client_count(), 0);
}

/// What bounds such a socket instead: starts that never run. After
/// `MAX_INTERRUPTED_ALLOCATIONS` retries the left client's frames are given up and counted, and
/// the actor is not started again for them.
#[test]
fn a_left_client_s_frames_are_given_up_after_starts_that_never_run() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, _rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    let mut seen = d.client_send(h, text("never delivered"));
    seen.extend(client_close(&mut d, h));
    let mut starts = start_commands(&seen).len();
    assert_eq!(starts, 1);
    let timeout = d.gw.config().actor_start_timeout;
    for retry in 1..=crate::tunnel::MAX_INTERRUPTED_ALLOCATIONS {
        // The runner never reports Running.
        let out = d.advance(timeout);
        starts += start_commands(&out).len();
        assert_eq!(starts, 1 + usize::from(retry), "retry {retry}: {out:?}");
        assert_eq!(d.gw.client_count(), 1);
    }
    let out = d.advance(timeout);
    assert_eq!(d.gw.metrics().ws_left_frames_given_up, 1);
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.held_bytes(), 0);
    let mut later = out;
    later.extend(d.advance(timeout * 4));
    assert_eq!(start_commands(&later), vec![], "no more starts for it");
}

// ---------------------------------------------------------------------------------------------
// Defect 4: the ack timeout does not run while the actor stops
// ---------------------------------------------------------------------------------------------

#[test]
fn a_slow_stop_hibernates_the_socket_instead_of_timing_out_its_acks() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, _rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1")); // t = 0, never acked
    d.advance(Duration::from_secs(1));
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    let out = d.advance(Duration::from_millis(29_500));
    assert!(no_client_closes(&out), "{out:?}");
    d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(d.gw.hibernating_socket_count(), 1);
    assert_eq!(d.gw.metrics().ws_ack_timeouts, 0);
}

// ---------------------------------------------------------------------------------------------
// Defect 5: a socket the gateway closes while its actor starts is closed on the runner too
// ---------------------------------------------------------------------------------------------

/// A hibernating socket whose frame woke its actor: the start listing it is on its way.
fn listed_in_a_start(d: &mut Driver) -> (RunnerConnId, ClientId, MessageId, CommandWrapper) {
    let (conn, actor, start) = setup(d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(h, text("wake"));
    let (_, start2, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    (conn, h, rq, start2)
}

#[test]
fn too_big_while_the_actor_starts_closes_the_restored_socket_on_the_runner() {
    let mut d = driver_with(Config {
        max_forward_message_bytes: 10,
        ..Config::default()
    });
    let (conn, h, rq, start) = listed_in_a_start(&mut d);
    let out = d.client_send(h, text("far too big for the limit"));
    assert!(out.contains(&Output::CloseClient {
        client: h,
        close: CloseFrame::new(1009, "torpor.message_too_big"),
    }));
    let out = d.report_running(conn, &start);
    assert_eq!(
        for_request(&out, rq),
        vec![(
            conn,
            1,
            ws_close(Some(1009), Some("torpor.message_too_big"))
        )]
    );
}

#[test]
fn too_slow_while_the_actor_starts_closes_the_restored_socket_on_the_runner() {
    let mut d = driver();
    let (conn, h, rq, start) = listed_in_a_start(&mut d);
    d.step(Input::ClientOutboundFull { client: h });
    let out = d.report_running(conn, &start);
    assert_eq!(
        for_request(&out, rq),
        vec![(
            conn,
            1,
            ws_close(Some(1008), Some("torpor.client_too_slow"))
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Defect 7: wake_on_close while the actor stops
// ---------------------------------------------------------------------------------------------

#[test]
fn client_close_while_hibernating_and_the_actor_stops_wakes_it_after_the_stop() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    // An alarm wakes the actor with the socket hibernating and nothing queued.
    let alarm = EventWrapper {
        checkpoint: ActorCheckpoint {
            index: 1,
            ..start.checkpoint.clone()
        },
        inner: Event::ActorSetAlarm(EventActorSetAlarm {
            alarm_ts: Some(WALL_EPOCH + 5_000),
        }),
    };
    d.runner_send(conn, &ToServer::Events(vec![alarm]));
    d.sleep_actor(conn, &start.checkpoint, 2);
    let out = d.advance(Duration::from_secs(6));
    let (_, start2, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    // The actor asks to sleep before it ever ran: stopping, with the socket still hibernating.
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start2.checkpoint, 0, ActorIntent::Sleep)]),
    );
    let out = client_close(&mut d, h);
    assert!(start_commands(&out).is_empty());
    let out = d.report_state(conn, &start2.checkpoint, 1, stopped(StopCode::Error));
    let (_, _, list) = only_start(&out);
    assert_eq!(
        list,
        vec![],
        "woken to observe the close; the socket is not listed"
    );
}

/// A close wake (`wake_on_close`) whose start no runner takes up in time is made again, up to
/// three timeouts in a row; then it is given up (the close is observed at the next start).
#[test]
fn a_close_wake_is_retried_after_a_start_timeout_three_times_then_given_up() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, _rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = client_close(&mut d, h);
    let mut starts = start_commands(&out).len();
    assert_eq!(starts, 1, "woken to observe the close");
    let timeout = d.gw.config().actor_start_timeout;
    for retry in 1..=3 {
        // The runner never reports Running.
        let out = d.advance(timeout);
        starts += start_commands(&out).len();
        assert_eq!(starts, 1 + retry, "retry {retry}: {out:?}");
    }
    let out = d.advance(timeout);
    assert_eq!(
        start_commands(&out),
        vec![],
        "given up after three timeouts"
    );
    assert_eq!(d.gw.metrics().actor_start_timeouts, 4);
    let out = d.advance(timeout * 4);
    assert_eq!(start_commands(&out), vec![]);
}

// ---------------------------------------------------------------------------------------------
// What the mutation run found unguarded
// ---------------------------------------------------------------------------------------------

#[test]
fn ack_timers_run_again_after_a_reconnect_and_close_a_socket_never_acked() {
    let mut d = driver();
    let (conn, h, rq, _) = three_sent_one_acked(&mut d);
    d.step(Input::RunnerClosed { conn });
    // Away for longer than the ack timeout: the timers are stopped meanwhile.
    let out = d.advance(Duration::from_secs(14));
    assert!(no_client_closes(&out));
    let (conn2, _) = d.connect_runner("k", "default", 4);
    // They run again from the reconnect: the runner never acks, the socket closes 30 s later.
    let out = d.advance(Duration::from_millis(29_999));
    assert!(no_client_closes(&out), "{out:?}");
    let (out, _row_delete) = split_store(d.advance(Duration::from_millis(1)));
    assert_eq!(
        out,
        closed_both_ways(conn2, rq, 4, h, 1011, "torpor.ack_timeout")
    );
}

#[test]
fn an_ack_before_the_wrap_is_legal_once_the_sent_index_has_wrapped() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    // Indices 1..=65,535, then 0 and 1 after the wrap; acked as they go, but not the last few.
    for i in 1..=65_537u32 {
        d.client_send(h, ClientFrame::Binary(i.to_le_bytes().to_vec()));
        if i % 1_000 == 0 && i < 65_000 {
            d.ws_ack(conn, rq, i as u16);
        }
    }
    let held = d.gw.held_bytes();
    // 65,535 precedes the last sent index (1) in wrapping order: a legal, partial ack.
    d.ws_ack(conn, rq, 65_535);
    assert_eq!(d.gw.metrics().tunnel_dropped_illegal, 0);
    assert!(d.gw.held_bytes() < held);
    // An ack past the last sent index is not.
    d.ws_ack(conn, rq, 2);
    assert_eq!(d.gw.metrics().tunnel_dropped_illegal, 1);
    d.ws_ack(conn, rq, 1);
    assert_eq!(d.gw.held_bytes(), 0);
}

// ---------------------------------------------------------------------------------------------
// Defect 6: a store failure retrying cannot fix is never retried and has a defined effect
// ---------------------------------------------------------------------------------------------

#[test]
fn a_corrupt_store_refuses_the_create_and_destroys_the_actor_without_retrying() {
    use crate::admin::{AdminCommand, AdminError, CreateActor};
    use crate::store::{StoreFailure, StoreRequest};
    use crate::time::UnixMillis;
    let mut d = driver();
    d.auto_store = false;
    let (req, out) = d.admin(AdminCommand::Create(CreateActor {
        namespace: "default".into(),
        name: "chat".into(),
        key: None,
        runner_name: "default".into(),
        input: None,
        crash_policy: crate::store::CrashPolicy::Sleep,
        wall: UnixMillis(WALL_EPOCH),
    }));
    let [(op, StoreRequest::PutActor(record))] = <[_; 1]>::try_from(store_requests(&out)).unwrap()
    else {
        panic!("{out:?}")
    };
    let out = d.complete_store(op, Err(StoreFailure::Corrupt("malformed page".into())));
    let (rest, stores) = split_store(out);
    assert_eq!(
        rest,
        vec![Output::AdminReply {
            req,
            reply: Err(AdminError::Store(
                "torpor.store_failed: the actor could not be stored (store corrupt: malformed page)"
                    .into()
            )),
        }]
    );
    assert_eq!(stores, vec![StoreRequest::DeleteActor(record.id)]);
    assert_eq!(d.gw.metrics().store_permanent_failures, 1);
    assert_eq!(d.gw.metrics().store_retries, 0);
    assert!(d.gw.actors.map.is_empty(), "nothing half-created is left");
    assert_eq!(d.gw.poll_timeout_reason(), None, "no retry is armed");
}

#[test]
fn a_constraint_failure_on_an_index_row_is_counted_and_leaves_the_socket_alone() {
    use crate::store::{StoreFailure, StoreReply, StoreRequest};
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    d.auto_store = false;
    let (h, out) = d.open_websocket(actor, "/ws");
    let rq = tunnel_to(&out, conn)[0].message_id;
    let out = d.accept_websocket(conn, rq, true);
    let [
        (lease, StoreRequest::RenewLease { .. }),
        (op, StoreRequest::PutHibernation(_)),
    ] = <[_; 2]>::try_from(store_requests(&out)).unwrap()
    else {
        panic!("{out:?}")
    };
    assert_eq!(d.complete_store(lease, Ok(StoreReply::Done)), vec![]);
    let out = d.complete_store(op, Err(StoreFailure::Constraint("UNIQUE".into())));
    assert_eq!(out, vec![]);
    let out = d.advance(Duration::from_secs(10));
    assert!(store_requests(&out).is_empty(), "never retried: {out:?}");
    assert_eq!(d.gw.metrics().store_permanent_failures, 1);
    assert_eq!(
        d.client_send(h, text("still open")),
        vec![text_to(conn, rq, 1, "still open")]
    );
}

// ---------------------------------------------------------------------------------------------
// Defect 7: a stop replayed for an actor the runner never started does not stall
// ---------------------------------------------------------------------------------------------

fn phase_name(d: &Driver, actor: crate::ids::ActorId) -> &'static str {
    d.gw.actors
        .map
        .get(&actor)
        .map_or("gone", |a| a.phase.name())
}

#[test]
fn a_stop_replayed_for_a_start_lost_with_the_link_settles_on_the_first_pong() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 4);
    let (actor, out) = d.create_actor("chat", None, "default");
    assert_eq!(
        start_commands(&out).len(),
        1,
        "the start goes out and is lost"
    );
    d.step(Input::RunnerClosed { conn });
    d.admin(crate::admin::AdminCommand::Sleep(actor));
    assert_eq!(phase_name(&d, actor), "stopping");
    d.auto_pong = false;
    let (conn2, out) = d.connect_runner("k", "default", 4);
    let stops: Vec<_> = commands(&out)
        .into_iter()
        .filter(|(_, c)| c.inner == Command::StopActor)
        .collect();
    assert_eq!(stops.len(), 1, "only the stop is replayed: {out:?}");
    let pings: Vec<i64> = sent_to(&out, conn2)
        .into_iter()
        .filter_map(|m| match m {
            ToClient::Ping(p) => Some(p.ts),
            _ => None,
        })
        .collect();
    assert_eq!(pings.len(), 1, "a ping right after the init: {out:?}");
    assert_eq!(phase_name(&d, actor), "stopping");
    // The runner answers it after everything it buffered: it never reported the actor, so it
    // does not have it, and the stop it ignores is settled now instead of after 30 s.
    d.runner_send(conn2, &ToServer::Pong(ToServerPong { ts: pings[0] }));
    assert_eq!(phase_name(&d, actor), "sleeping");
    assert_eq!(d.gw.metrics().stops_settled_unstarted, 1);
}

#[test]
fn a_stop_replayed_for_an_actor_that_ran_still_waits_for_stopped() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 4);
    let (actor, start) = d.running_actor(conn, "chat");
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    d.step(Input::RunnerClosed { conn });
    let (conn2, _) = d.connect_runner("k", "default", 4); // answers the ping at once
    assert_eq!(phase_name(&d, actor), "stopping");
    d.report_state(conn2, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(phase_name(&d, actor), "sleeping");
    assert_eq!(d.gw.metrics().stops_settled_unstarted, 0);
}

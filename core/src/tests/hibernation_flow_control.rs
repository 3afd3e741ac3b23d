//! Hibernation flow control: windows and the global budget, acks and the ack timeout,
//! actor → client delivery, slow clients and the per-actor socket limit.

use super::hibernation::*;
use super::websocket::{to_runner, tunnel, ws_close, ws_message};
use super::{driver, driver_with, setup};
use crate::config::Config;
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::testkit::driver::*;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Windows and the global budget (guarantee 2)
// ---------------------------------------------------------------------------------------------

#[test]
fn full_message_window_pauses_reads_and_acks_resume_them_in_order() {
    let mut d = driver_with(Config {
        socket_window_messages: 4,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    for i in 1..=4u16 {
        let out = d.client_send(h, text(&format!("m{i}")));
        assert_eq!(out, vec![text_to(conn, rq, i, &format!("m{i}"))]);
    }
    // The window is full: the next frame queues and reads pause; one more in flight queues.
    assert_eq!(
        d.client_send(h, text("m5")),
        vec![Output::PauseClientReads { client: h }]
    );
    assert_eq!(d.client_send(h, text("m6")), vec![]);
    assert_eq!(d.gw.metrics().reads_paused, 1);
    // An ack for one message makes room for one: still over, still paused.
    assert_eq!(d.ws_ack(conn, rq, 1), vec![text_to(conn, rq, 5, "m5")]);
    // Two more acked: m6 goes and reads resume.
    assert_eq!(
        d.ws_ack(conn, rq, 3),
        vec![
            text_to(conn, rq, 6, "m6"),
            Output::ResumeClientReads { client: h }
        ]
    );
    assert_eq!(
        d.client_send(h, text("m7")),
        vec![text_to(conn, rq, 7, "m7")]
    );
    assert_eq!(d.ws_ack(conn, rq, 7), vec![]);
    assert_eq!(d.gw.held_bytes(), 0);
}

/// A burst queued behind a full window gives its slots back once it is sent and acked: a
/// socket's buffers do not keep a burst's size while idle.
#[test]
fn queue_and_window_give_a_bursts_capacity_back_when_they_drain() {
    use crate::hibernation::KEEP_CAPACITY;
    use crate::tunnel::ClientKind;
    let mut d = driver_with(Config {
        socket_window_messages: 1,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    for i in 0..200 {
        d.client_send(h, text(&format!("m{i}")));
    }
    let capacities = |d: &Driver| match &d.gw.clients.map[&h].kind {
        ClientKind::WebSocket(ws) => (ws.queued.capacity(), ws.pending.capacity()),
        ClientKind::Http(_) => unreachable!(),
    };
    assert!(capacities(&d).0 >= 199, "{:?}", capacities(&d));
    for i in 1..=200u16 {
        d.ws_ack(conn, rq, i);
    }
    assert_eq!(d.gw.held_bytes(), 0);
    let (queued, pending) = capacities(&d);
    assert!(
        queued <= KEEP_CAPACITY && pending <= KEEP_CAPACITY,
        "{queued} / {pending}"
    );
}

#[test]
fn full_byte_window_pauses_reads_and_an_ack_resumes_them() {
    let mut d = driver_with(Config {
        socket_window_bytes: 100,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    let frame = |b: u8| ClientFrame::Binary(vec![b; 30]);
    let sent = |i: u16, b: u8| to_runner(conn, tunnel(rq, i, ws_message(&[b; 30], true)));
    assert_eq!(d.client_send(h, frame(1)), vec![sent(1, 1)]);
    assert_eq!(d.client_send(h, frame(2)), vec![sent(2, 2)]);
    let held = d.gw.held_bytes();
    assert_eq!(
        held,
        msg_bytes(rq, 1, &[1; 30], true).len() * 2,
        "un-acked bytes are the encoded frames"
    );
    assert_eq!(
        d.client_send(h, frame(3)),
        vec![Output::PauseClientReads { client: h }]
    );
    assert_eq!(d.gw.held_bytes(), held + 30, "queued payload counts too");
    assert_eq!(
        d.ws_ack(conn, rq, 1),
        vec![sent(3, 3), Output::ResumeClientReads { client: h }]
    );
    assert_eq!(d.gw.held_bytes(), held);
}

#[test]
fn global_budget_pauses_hibernating_sockets_and_an_ack_resumes_them() {
    let mut d = driver_with(Config {
        socket_window_bytes: 600,
        pending_budget_bytes: 1000,
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (a, ra) = d.open_accepted(conn, actor, "/a", true);
    let (b, rb) = d.open_accepted(conn, actor, "/b", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(a, ClientFrame::Binary(vec![1; 500]));
    let (_, start1, _) = only_start(&out);
    assert_eq!(d.client_send(b, ClientFrame::Binary(vec![2; 500])), vec![]);
    assert_eq!(d.gw.held_bytes(), 1000, "at the budget, not over it");
    // Each socket is within its own window; together they are over the budget.
    assert_eq!(
        d.client_send(b, ClientFrame::Binary(vec![3])),
        vec![Output::PauseClientReads { client: b }]
    );
    assert_eq!(
        d.client_send(a, ClientFrame::Binary(vec![4])),
        vec![Output::PauseClientReads { client: a }]
    );
    // The wake sends what queued; still over the budget, so reads stay paused.
    let out = d.report_running(conn, &start1);
    let bin = |rq, i, data: &[u8]| to_runner(conn, tunnel(rq, i, ws_message(data, true)));
    assert_eq!(
        out,
        vec![
            bin(ra, 1, &[1; 500]),
            bin(ra, 2, &[4]),
            bin(rb, 1, &[2; 500]),
            bin(rb, 2, &[3]),
            acked(conn, &start1.checkpoint, 0),
        ]
    );
    assert!(d.gw.held_bytes() > 1000);
    // An ack on one socket brings the total under the budget: both resume.
    assert_eq!(
        d.ws_ack(conn, ra, 2),
        vec![
            Output::ResumeClientReads { client: a },
            Output::ResumeClientReads { client: b },
        ]
    );
    assert_eq!(
        d.gw.held_bytes(),
        msg_bytes(rb, 1, &[2; 500], true).len() + msg_bytes(rb, 2, &[3], true).len()
    );
}

#[test]
fn global_budget_pauses_attached_sockets_too() {
    let mut d = driver_with(Config {
        socket_window_bytes: 600,
        pending_budget_bytes: 1000,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (a, ra) = d.open_accepted(conn, actor, "/a", true);
    let (b, _rb) = d.open_accepted(conn, actor, "/b", true);
    let out = d.client_send(a, ClientFrame::Binary(vec![1; 450]));
    assert_eq!(out.len(), 1, "{out:?}");
    let out = d.client_send(b, ClientFrame::Binary(vec![2; 450]));
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(d.gw.held_bytes() <= 1000);
    // Within a's window, but it takes the total over the budget.
    let out = d.client_send(a, ClientFrame::Binary(vec![3; 100]));
    assert!(d.gw.held_bytes() > 1000);
    assert!(
        out.contains(&Output::PauseClientReads { client: a }),
        "held {} > budget 1000 but no pause: {out:?}",
        d.gw.held_bytes()
    );
    let out = d.ws_ack(conn, ra, 2);
    assert!(
        out.contains(&Output::ResumeClientReads { client: a }),
        "{out:?}"
    );
}

#[test]
fn frames_queued_while_hibernating_count_toward_the_window_and_arrive_in_order() {
    let mut d = driver_with(Config {
        socket_window_messages: 4,
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.client_send(h, text("m2"));
    d.sleep_actor(conn, &start.checkpoint, 1);
    // Two un-acked plus queued frames: the third queued frame is over the window of 4.
    let out = d.client_send(h, text("q1"));
    let (_, start1, _) = only_start(&out);
    assert_eq!(d.client_send(h, text("q2")), vec![]);
    assert_eq!(
        d.client_send(h, text("q3")),
        vec![Output::PauseClientReads { client: h }]
    );
    assert_eq!(d.client_send(h, text("q4")), vec![]);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 1, "m1"),
            text_to(conn, rq, 2, "m2"),
            text_to(conn, rq, 3, "q1"),
            text_to(conn, rq, 4, "q2"),
            acked(conn, &start1.checkpoint, 0),
        ],
        "the window admits two more after the resends"
    );
    assert_eq!(
        d.ws_ack(conn, rq, 2),
        vec![
            text_to(conn, rq, 5, "q3"),
            text_to(conn, rq, 6, "q4"),
            Output::ResumeClientReads { client: h },
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Acks (RUNNER-PROTOCOL §9.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn ack_for_an_index_never_sent_is_dropped_and_frees_nothing() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    // Before any message, only the open (index 0) was sent.
    assert_eq!(d.ws_ack(conn, rq, 1), vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_illegal, 1);
    d.client_send(h, text("m1"));
    let held = d.gw.held_bytes();
    assert_eq!(d.ws_ack(conn, rq, 5), vec![]);
    assert_eq!(d.ws_ack(conn, rq, 2), vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_illegal, 3);
    assert_eq!(d.gw.metrics().ws_acks, 0);
    assert_eq!(d.gw.held_bytes(), held, "frees nothing");
    // m1 is still pending: it is resent after a sleep.
    d.sleep_actor(conn, &start.checkpoint, 1);
    let (_http, out) = d.http_request(actor, "GET", "/", b"");
    let (_, start1, _) = only_start(&out);
    let out = d.report_running(conn, &start1);
    assert_eq!(tunnel_to(&out, conn)[0].message_id.message_index, 1);
    assert_eq!(d.ws_ack(conn, rq, 1), vec![]);
    assert_eq!(d.gw.held_bytes(), 0);
}

#[test]
fn acks_for_non_hibernatable_sockets_are_ignored() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", false);
    assert_eq!(
        d.client_send(h, text("m1")),
        vec![text_to(conn, rq, 1, "m1")]
    );
    assert_eq!(
        d.gw.held_bytes(),
        0,
        "nothing kept for a non-hibernatable socket"
    );
    assert_eq!(d.ws_ack(conn, rq, 1), vec![]);
    assert_eq!(d.ws_ack(conn, rq, 9), vec![]);
    let m = d.gw.metrics();
    assert_eq!((m.ws_acks, m.tunnel_dropped_illegal), (0, 0));
    assert_eq!(d.gw.index_rows(), 0);
    assert_eq!(
        d.client_send(h, text("m2")),
        vec![text_to(conn, rq, 2, "m2")]
    );
}

#[test]
fn a_stale_ack_frees_nothing() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    for m in ["m1", "m2", "m3"] {
        d.client_send(h, text(m));
    }
    assert_eq!(d.ws_ack(conn, rq, 2), vec![]);
    let held = d.gw.held_bytes();
    assert_eq!(held, msg_bytes(rq, 3, b"m3", false).len());
    assert_eq!(d.ws_ack(conn, rq, 1), vec![]);
    assert_eq!(d.ws_ack(conn, rq, 0), vec![]);
    assert_eq!(d.ws_ack(conn, rq, 2), vec![]);
    assert_eq!(d.gw.held_bytes(), held);
    // Exactly m3 is resent on the next wake.
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(h, text("m4"));
    let (_, start1, _) = only_start(&out);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 3, "m3"),
            text_to(conn, rq, 4, "m4"),
            acked(conn, &start1.checkpoint, 0),
        ]
    );
}

#[test]
fn an_ack_sent_while_the_actor_stops_is_applied() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.client_send(h, text("m2"));
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    assert_eq!(d.ws_ack(conn, rq, 2), vec![]);
    assert_eq!(d.gw.held_bytes(), 0);
    d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    let out = d.client_send(h, text("m3"));
    let (_, start1, _) = only_start(&out);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 3, "m3"),
            acked(conn, &start1.checkpoint, 0)
        ],
        "nothing to resend"
    );
    assert_eq!(d.gw.metrics().ws_messages_resent, 0);
}

#[test]
fn cumulative_acks_free_messages_across_the_index_wrap() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    // Up to index 65533, acked in chunks as the runner would.
    for i in 1..=65_533u32 {
        d.client_send(h, ClientFrame::Binary(i.to_le_bytes().to_vec()));
        if i % 1000 == 0 {
            d.ws_ack(conn, rq, i as u16);
        }
    }
    d.ws_ack(conn, rq, 65_533);
    assert_eq!(d.gw.held_bytes(), 0);
    // 65534, 65535, 0, 1, 2.
    for i in 65_534..=65_538u32 {
        let out = d.client_send(h, ClientFrame::Binary(i.to_le_bytes().to_vec()));
        assert_eq!(
            out,
            vec![to_runner(
                conn,
                tunnel(rq, i as u16, ws_message(&i.to_le_bytes(), true))
            )]
        );
    }
    let frame_len = msg_bytes(rq, 0, &0u32.to_le_bytes(), true).len();
    assert_eq!(d.gw.held_bytes(), 5 * frame_len);
    // An ack past the wrap covers 65534, 65535 and 0.
    assert_eq!(d.ws_ack(conn, rq, 0), vec![]);
    assert_eq!(d.gw.held_bytes(), 2 * frame_len);
    assert_eq!(d.ws_ack(conn, rq, 65_535), vec![], "stale after the wrap");
    assert_eq!(d.gw.held_bytes(), 2 * frame_len);
    // The rest is resent with its wrapped indices after a sleep.
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(h, text("next"));
    let (_, start1, _) = only_start(&out);
    let out = d.report_running(conn, &start1);
    let t: Vec<u16> = tunnel_to(&out, conn)
        .iter()
        .map(|t| t.message_id.message_index)
        .collect();
    assert_eq!(t, vec![1, 2, 3], "resends 1 and 2, then the new frame");
    assert_eq!(d.ws_ack(conn, rq, 3), vec![]);
    assert_eq!(d.gw.held_bytes(), 0);
}

// ---------------------------------------------------------------------------------------------
// The ack timeout (guarantee 5, §17 #3)
// ---------------------------------------------------------------------------------------------

#[test]
fn ack_timeout_closes_30_s_after_the_last_send() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.advance(Duration::from_secs(10));
    d.client_send(h, text("m2")); // moves the deadline to 40 s
    let out = without_pings(d.advance(Duration::from_millis(29_999)));
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.client_count(), 1);
    let (out, stores) = split_store(without_pings(d.advance(Duration::from_millis(1))));
    assert_eq!(
        out,
        closed_both_ways(conn, rq, 3, h, 1011, "torpor.ack_timeout")
    );
    assert_eq!(stores, vec![delete_of(&d, rq)]);
    assert_eq!(d.gw.metrics().ws_ack_timeouts, 1);
    assert_eq!(d.gw.held_bytes(), 0);
    assert_eq!(d.gw.index_rows(), 0);
}

#[test]
fn a_send_after_a_full_ack_gets_its_own_ack_timeout() {
    // The timer armed by m1 stays armed through m1's ack (it is moved lazily, not per frame);
    // when it fires at 30 s it must find m2 not due until 30 s after m2 was sent.
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.advance(Duration::from_secs(29));
    d.ws_ack(conn, rq, 1);
    d.advance(Duration::from_millis(500));
    d.client_send(h, text("m2")); // at 29.5 s: due at 59.5 s
    let (out, _) = split_store(without_pings(d.advance(Duration::from_millis(29_999))));
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().ws_ack_timeouts, 0);
    let (out, _) = split_store(without_pings(d.advance(Duration::from_millis(1))));
    assert_eq!(
        out,
        closed_both_ways(conn, rq, 3, h, 1011, "torpor.ack_timeout")
    );
    assert_eq!(d.gw.metrics().ws_ack_timeouts, 1);
}

#[test]
fn a_full_ack_stops_the_ack_timer() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.advance(Duration::from_secs(29));
    d.ws_ack(conn, rq, 1);
    let out = d.advance(Duration::from_secs(120));
    assert!(no_client_closes(&out), "{out:?}");
    assert_eq!(d.gw.metrics().ws_ack_timeouts, 0);
    assert_eq!(
        d.client_send(h, text("m2")),
        vec![text_to(conn, rq, 2, "m2")]
    );
}

#[test]
fn ack_timeout_does_not_run_while_hibernating_and_restarts_at_the_resend() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.advance(Duration::from_secs(5));
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.advance(Duration::from_secs(600));
    assert!(no_client_closes(&out), "{out:?}");
    assert_eq!(d.gw.hibernating_socket_count(), 1);
    let out = d.client_send(h, text("m2"));
    let (_, start1, _) = only_start(&out);
    d.advance(Duration::from_secs(3));
    d.report_running(conn, &start1);
    // 30 s from the resend, not from the original send.
    let out = without_pings(d.advance(Duration::from_millis(29_999)));
    assert!(no_client_closes(&out), "{out:?}");
    let (out, stores) = split_store(without_pings(d.advance(Duration::from_millis(1))));
    assert_eq!(
        out,
        closed_both_ways(conn, rq, 3, h, 1011, "torpor.ack_timeout")
    );
    assert_eq!(stores, vec![delete_of(&d, rq)]);
}

#[test]
fn ack_timeout_does_not_kill_a_socket_whose_runner_went_away() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, _rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.advance(Duration::from_secs(20));
    // The runner drops: no ack can arrive. At 35 s the runner is lost and the socket hibernates.
    d.step(Input::RunnerClosed { conn });
    let out = d.advance(Duration::from_secs(16));
    assert!(
        no_client_closes(&out),
        "never kill an HWS because its runner went away: {out:?}"
    );
    assert_eq!(d.gw.metrics().ws_ack_timeouts, 0);
    assert_eq!(d.gw.hibernating_socket_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Actor → client (guarantee 3) and policy closes
// ---------------------------------------------------------------------------------------------

#[test]
fn actor_messages_sent_while_the_actor_stops_reach_the_client() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rh) = d.open_accepted(conn, actor, "/h", true);
    let (n, rn) = d.open_accepted(conn, actor, "/n", false);
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    for (rq, client, data) in [(rh, h, "bye h"), (rn, n, "bye n")] {
        let out = d.runner_tunnel(
            conn,
            rq,
            ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
                data: data.as_bytes().to_vec(),
                binary: false,
            }),
        );
        assert_eq!(
            out,
            vec![Output::SendClient {
                client,
                frame: text(data),
            }]
        );
    }
    let out = d.runner_tunnel(
        conn,
        rh,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: vec![0, 1],
            binary: true,
        }),
    );
    assert_eq!(
        out,
        vec![Output::SendClient {
            client: h,
            frame: ClientFrame::Binary(vec![0, 1]),
        }]
    );
    assert_eq!(d.gw.metrics().ws_messages_to_client, 3);
    assert_eq!(d.gw.metrics().tunnel_dropped_illegal, 0);
}

#[test]
fn slow_client_is_closed_with_1008_both_ways_and_its_row_deleted() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.auto_store = false;
    let (out, stores) = split_store(d.step(Input::ClientOutboundFull { client: h }));
    assert_eq!(
        out,
        closed_both_ways(conn, rq, 2, h, 1008, "torpor.client_too_slow")
    );
    assert_eq!(stores, vec![delete_of(&d, rq)]);
    assert_eq!(d.gw.metrics().ws_client_too_slow, 1);
    assert_eq!(
        (d.gw.client_count(), d.gw.held_bytes(), d.gw.index_rows()),
        (0, 0, 0)
    );
    // The runner's echo is dropped.
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
            code: Some(1008),
            reason: Some("torpor.client_too_slow".into()),
            hibernate: false,
        }),
    );
    assert_eq!(out, vec![]);
}

#[test]
fn per_actor_limit_refuses_the_third_hibernatable_socket_with_1013() {
    let mut d = driver_with(Config {
        max_hibernating_per_actor: 2,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (h1, _r1) = d.open_accepted(conn, actor, "/1", true);
    let (_h2, _r2) = d.open_accepted(conn, actor, "/2", true);
    let (h3, out) = d.open_websocket(actor, "/3");
    let r3 = tunnel_to(&out, conn)[0].message_id;
    d.client_send(h3, text("early"));
    let out = d.accept_websocket(conn, r3, true);
    assert_eq!(
        out,
        vec![
            to_runner(
                conn,
                tunnel(
                    r3,
                    1,
                    ws_close(Some(1013), Some("torpor.actor_socket_limit"))
                )
            ),
            Output::CloseClient {
                client: h3,
                close: CloseFrame::new(1013, "torpor.actor_socket_limit"),
            },
        ],
        "no row, nothing forwarded"
    );
    assert_eq!(d.gw.metrics().socket_limit_rejects, 1);
    assert_eq!(d.gw.index_rows(), 2);
    assert_eq!(d.gw.held_bytes(), 0);
    // Non-hibernatable sockets are not limited.
    for i in 0..3 {
        let (n, rn) = d.open_accepted(conn, actor, "/n", false);
        assert_eq!(
            d.client_send(n, text("x")),
            vec![text_to(conn, rn, 1, "x")],
            "non-hibernatable socket {i}"
        );
    }
    // One hibernatable socket leaves; a new one fits.
    d.step(Input::ClientClosed {
        client: h1,
        close: None,
    });
    let (h4, out) = d.open_websocket(actor, "/4");
    let r4 = tunnel_to(&out, conn)[0].message_id;
    let out = d.accept_websocket(conn, r4, true);
    assert!(no_client_closes(&out), "{out:?}");
    assert_eq!(d.gw.index_rows(), 2);
    assert_eq!(
        d.client_send(h4, text("in")),
        vec![text_to(conn, r4, 1, "in")]
    );
    assert_eq!(d.gw.metrics().socket_limit_rejects, 1);
}

#[test]
fn hibernating_sockets_count_toward_the_per_actor_limit() {
    let mut d = driver_with(Config {
        max_hibernating_per_actor: 1,
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (_h1, r1) = d.open_accepted(conn, actor, "/1", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    // A new socket wakes the actor; the hibernating one still counts.
    let (h2, out) = d.open_websocket(actor, "/2");
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(r1)]);
    let out = d.report_running(conn, &start1);
    let r2 = tunnel_to(&out, conn)[0].message_id;
    let out = d.accept_websocket(conn, r2, true);
    assert_eq!(
        out,
        vec![
            to_runner(
                conn,
                tunnel(
                    r2,
                    1,
                    ws_close(Some(1013), Some("torpor.actor_socket_limit"))
                )
            ),
            Output::CloseClient {
                client: h2,
                close: CloseFrame::new(1013, "torpor.actor_socket_limit"),
            },
        ]
    );
}

//! Hibernation, part 1: entering it, waking, resends, acks, windows and backpressure, the ack
//! timeout, policy closes and limits (DESIGN.md guarantees 1–6, RUNNER-PROTOCOL §9 and §17).
//! Index operations, client closes while asleep, runner loss, the wake deadline, gateway
//! restarts and the long model run are in `hibernation_flow`.

use std::time::Duration;

use super::websocket::{to_runner, tunnel, ws_close, ws_message};
use crate::admin::{AdminCommand, AdminReply};
use crate::config::Config;
use crate::ids::{ActorId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::store::StoreRequest;
use crate::testkit::driver::*;

use super::{driver, driver_with, setup};

pub(super) fn text(s: &str) -> ClientFrame {
    ClientFrame::Text(s.into())
}

/// The encoded client message the gateway sends for `request` at `index`.
pub(super) fn msg_bytes(request: MessageId, index: u16, data: &[u8], binary: bool) -> Vec<u8> {
    tunnel(request, index, ws_message(data, binary)).to_bytes()
}

/// `SendRunner` of a text client message.
pub(super) fn text_to(conn: RunnerConnId, request: MessageId, index: u16, s: &str) -> Output {
    to_runner(
        conn,
        tunnel(request, index, ws_message(s.as_bytes(), false)),
    )
}

/// The gateway's event ack for the checkpoint's actor and generation at `index`.
pub(super) fn acked(conn: RunnerConnId, checkpoint: &ActorCheckpoint, index: i64) -> Output {
    to_runner(
        conn,
        ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: vec![ActorCheckpoint {
                index,
                ..checkpoint.clone()
            }],
        }),
    )
}

/// The `hibernatingRequests` entry of a socket.
pub(super) fn listed(request: MessageId) -> HibernatingRequest {
    HibernatingRequest {
        gateway_id: request.gateway_id,
        request_id: request.request_id,
    }
}

/// Entries sorted by request id, as a start command must list them.
pub(super) fn sorted(mut list: Vec<HibernatingRequest>) -> Vec<HibernatingRequest> {
    list.sort_by_key(|h| h.request_id);
    list
}

/// The one start command in `out` and its `hibernatingRequests`.
pub(super) fn only_start(
    out: &[Output],
) -> (RunnerConnId, CommandWrapper, Vec<HibernatingRequest>) {
    let starts = start_commands(out);
    let [(conn, start)] = <[_; 1]>::try_from(starts).unwrap_or_else(|s| panic!("{s:?}"));
    let Command::StartActor(s) = &start.inner else {
        unreachable!()
    };
    let list = s.hibernating_requests.clone();
    (conn, start, list)
}

/// `out` without store requests (whose op ids are the core's), and the store requests.
pub(super) fn split_store(out: Vec<Output>) -> (Vec<Output>, Vec<StoreRequest>) {
    let stores = store_requests(&out).into_iter().map(|(_, r)| r).collect();
    let rest = out
        .into_iter()
        .filter(|o| !matches!(o, Output::Store { .. }))
        .collect();
    (rest, stores)
}

/// The row deletion of a socket of this gateway: its actor is found from the live socket, or
/// is the test's only actor once the socket is gone.
pub(super) fn delete_of(d: &Driver, request: MessageId) -> StoreRequest {
    let live =
        d.gw.clients
            .map
            .values()
            .find(|c| c.request_id == request.request_id)
            .map(|c| c.actor);
    let actor = live.unwrap_or_else(|| {
        let ids: Vec<ActorId> = d.gw.actors.map.keys().copied().collect();
        assert_eq!(
            ids.len(),
            1,
            "delete_of: the socket is gone; use delete_for"
        );
        ids[0]
    });
    delete_for(d, actor, request)
}

/// The row deletion of `actor`'s socket `request`.
pub(super) fn delete_for(d: &Driver, actor: ActorId, request: MessageId) -> StoreRequest {
    StoreRequest::DeleteHibernation {
        gateway_id: d.gw.gateway_id(),
        key: crate::store::IndexKey {
            actor,
            request_id: request.request_id,
        },
    }
}

/// What a gateway-initiated close produces: the runner hears it for request `rq` at message
/// `index`, then the client gets the same code and reason.
pub(super) fn closed_both_ways(
    conn: RunnerConnId,
    rq: MessageId,
    index: u16,
    client: crate::ids::ClientId,
    code: u16,
    reason: &str,
) -> Vec<Output> {
    vec![
        to_runner(conn, tunnel(rq, index, ws_close(Some(code), Some(reason)))),
        Output::CloseClient {
            client,
            close: CloseFrame::new(code, reason),
        },
    ]
}

pub(super) fn no_client_closes(out: &[Output]) -> bool {
    !out.iter().any(|o| matches!(o, Output::CloseClient { .. }))
}

// ---------------------------------------------------------------------------------------------
// Entering hibernation (guarantee 4)
// ---------------------------------------------------------------------------------------------

#[test]
fn sleep_hibernates_the_three_hibernatable_sockets_and_closes_the_other_with_1001() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (_h1, r1) = d.open_accepted(conn, actor, "/a", true);
    let (n, _rn) = d.open_accepted(conn, actor, "/n", false);
    let (_h2, r2) = d.open_accepted(conn, actor, "/b", true);
    let (h3, r3) = d.open_accepted(conn, actor, "/c", true);
    assert_eq!(d.gw.index_rows(), 3);

    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    assert_eq!(
        out,
        vec![
            to_runner(
                conn,
                ToClient::Commands(vec![CommandWrapper {
                    checkpoint: ActorCheckpoint {
                        index: 1,
                        ..start.checkpoint.clone()
                    },
                    inner: Command::StopActor,
                }])
            ),
            acked(conn, &start.checkpoint, 1),
        ]
    );
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(
        out,
        vec![
            Output::CloseClient {
                client: n,
                close: CloseFrame::new(1001, "actor.sleeping"),
            },
            acked(conn, &start.checkpoint, 2),
        ],
        "no close to the hibernating clients, nothing to the runner for them"
    );
    assert_eq!(d.gw.hibernating_socket_count(), 3);
    assert_eq!(d.gw.client_count(), 3);
    assert_eq!(d.gw.index_rows(), 3, "hibernating sockets keep their rows");
    assert_eq!(d.gw.metrics().ws_hibernated, 3);
    assert_eq!(d.gw.metrics().ws_closed_actor_stopped, 1);

    // The next start lists exactly the three, sorted by request id.
    let out = d.client_send(h3, text("wake"));
    assert!(tunnel_to(&out, conn).is_empty(), "nothing before Running");
    let (c, start1, list) = only_start(&out);
    assert_eq!(c, conn);
    assert_eq!(
        start1.checkpoint,
        ActorCheckpoint {
            actor_id: actor.to_string(),
            generation: 1,
            index: 0,
        }
    );
    assert_eq!(list, sorted(vec![listed(r1), listed(r2), listed(r3)]));
    assert!(
        list.windows(2).all(|w| w[0].request_id < w[1].request_id),
        "{list:?}"
    );
}

#[test]
fn a_start_for_another_reason_lists_and_resumes_the_hibernating_sockets() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.client_send(h, text("m1"));
    d.sleep_actor(conn, &start.checkpoint, 1);
    // An HTTP request wakes the actor: the start still lists the socket.
    let (_http, out) = d.http_request(actor, "GET", "/", b"");
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    let out = d.report_running(conn, &start1);
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(
        ToClient::TunnelMessage(t[0].clone()),
        tunnel(rq, 1, ws_message(b"m1", false)),
        "the un-acked message is resent before anything else"
    );
    assert!(matches!(
        t[1].message_kind,
        ToClientTunnelMessageKind::RequestStart(_)
    ));
    assert_eq!(d.gw.hibernating_socket_count(), 0);
    assert_eq!(d.gw.metrics().ws_resumed, 1);
    // Re-attached: frames go straight through with the next index.
    let out = d.client_send(h, text("m2"));
    assert_eq!(out, vec![text_to(conn, rq, 2, "m2")]);
}

#[test]
fn a_start_replayed_after_a_runner_reconnect_still_lists_the_socket() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.sleep_actor(conn, &start.checkpoint, 1);
    let out = d.client_send(h, text("q"));
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    // The runner drops before Running and comes back with the same key: the start is replayed
    // (its effect was not observed), with the socket still listed.
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(2));
    let (conn2, out) = d.connect_runner("k", "default", 4);
    assert_eq!(
        commands(&out),
        vec![(conn2, start1.clone())],
        "the replay is the same start, listing the socket"
    );
    let out = d.report_running(conn2, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn2, rq, 1, "q"),
            acked(conn2, &start1.checkpoint, 0)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Resends and the re-wake loop (guarantees 1, 5, 6)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_message_whose_ack_was_lost_is_resent_with_its_original_bytes_and_never_rewakes() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    let out = d.client_send(h, ClientFrame::Binary(vec![1, 2, 3]));
    let [
        Output::SendRunner {
            conn: c,
            bytes: first,
        },
    ] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(*c, conn);
    let first = first.clone();
    assert_eq!(first, msg_bytes(rq, 1, &[1, 2, 3], true));
    assert_eq!(d.gw.held_bytes(), first.len());

    // The actor processed it and went to sleep; the runner dropped its ack.
    d.sleep_actor(conn, &start.checkpoint, 1);
    assert_eq!(d.gw.held_bytes(), first.len(), "kept until acked");
    let out = d.advance(Duration::from_secs(600));
    assert_eq!(
        start_commands(&out),
        vec![],
        "un-acked messages alone never wake"
    );
    assert!(no_client_closes(&out), "{out:?}");

    // A real wake resends it byte for byte, then the new frame.
    let out = d.client_send(h, text("m2"));
    let (_, start1, _) = only_start(&out);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            Output::SendRunner {
                conn,
                bytes: first.clone(),
            },
            text_to(conn, rq, 2, "m2"),
            acked(conn, &start1.checkpoint, 0),
        ]
    );

    // The runner drops the duplicate without acking; the ack of m2 is lost in the next sleep.
    d.sleep_actor(conn, &start1.checkpoint, 1);
    let out = d.advance(Duration::from_secs(600));
    assert_eq!(start_commands(&out), vec![], "no re-wake loop");
    assert!(no_client_closes(&out), "{out:?}");
    assert_eq!(d.gw.metrics().actor_starts, 2);
    assert_eq!(d.gw.metrics().wakes_for_hibernation, 1);

    let out = d.client_send(h, text("m3"));
    let (_, start2, _) = only_start(&out);
    assert_eq!(start2.checkpoint.generation, 2);
    let out = d.report_running(conn, &start2);
    assert_eq!(
        out,
        vec![
            Output::SendRunner { conn, bytes: first },
            Output::SendRunner {
                conn,
                bytes: msg_bytes(rq, 2, b"m2", false).into(),
            },
            text_to(conn, rq, 3, "m3"),
            acked(conn, &start2.checkpoint, 0),
        ]
    );
    assert_eq!(d.gw.metrics().ws_messages_resent, 3);
    // A later cumulative ack clears everything.
    assert_eq!(d.ws_ack(conn, rq, 3), vec![]);
    assert_eq!(d.gw.held_bytes(), 0);
    assert_eq!(d.gw.metrics().ws_acks, 1);
}

#[test]
fn wake_resends_unacked_then_sends_queued_frames_with_fresh_indices_and_no_new_open() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    for (i, m) in ["m1", "m2", "m3"].into_iter().enumerate() {
        let out = d.client_send(h, text(m));
        assert_eq!(out, vec![text_to(conn, rq, i as u16 + 1, m)]);
    }
    assert_eq!(d.ws_ack(conn, rq, 1), vec![]);
    d.sleep_actor(conn, &start.checkpoint, 1);
    d.advance(Duration::from_secs(5));

    let woke_at = d.now;
    let out = d.client_send(h, text("q1"));
    let (c, start1, list) = only_start(&out);
    assert_eq!(
        (c, start1.checkpoint.generation, start1.checkpoint.index),
        (conn, start.checkpoint.generation + 1, 0)
    );
    assert_eq!(list, vec![listed(rq)]);
    // Frames while the actor starts queue behind the first.
    assert_eq!(d.client_send(h, text("q2")), vec![]);
    d.advance(Duration::from_millis(250));
    assert_eq!(d.client_send(h, ClientFrame::Binary(vec![9])), vec![]);
    assert_eq!(d.gw.hibernating_socket_count(), 1);

    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            Output::SendRunner {
                conn,
                bytes: msg_bytes(rq, 2, b"m2", false).into(),
            },
            Output::SendRunner {
                conn,
                bytes: msg_bytes(rq, 3, b"m3", false).into(),
            },
            text_to(conn, rq, 4, "q1"),
            text_to(conn, rq, 5, "q2"),
            to_runner(conn, tunnel(rq, 6, ws_message(&[9], true))),
            acked(conn, &start1.checkpoint, 0),
        ]
    );
    assert_eq!(d.gw.hibernating_socket_count(), 0);
    let m = d.gw.metrics();
    assert_eq!(
        (
            m.wakes_for_hibernation,
            m.wakes_completed,
            d.gw.histograms().wake_latency_ms.sum(),
            m.ws_resumed,
            m.ws_messages_resent
        ),
        (
            1,
            1,
            d.now.saturating_since(woke_at).as_millis() as u64,
            1,
            2
        )
    );
    // 250 ms lands in the (100, 250] bucket: nothing at or below 100, one at or below 250.
    let wake = &d.gw.histograms().wake_latency_ms;
    assert_eq!((wake.sum(), wake.count()), (250, 1));
    let at = |le: u64| {
        wake.buckets()
            .find(|(bound, _)| *bound == Some(le))
            .map(|(_, n)| n)
    };
    assert_eq!((at(100), at(250)), (Some(0), Some(1)));
}

#[test]
fn frames_sent_while_the_actor_stops_wake_it_right_after_stopped() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    // Not sent to the stopping instance.
    assert_eq!(d.client_send(h, text("late")), vec![]);
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    assert!(no_client_closes(&out));
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 1, "late"),
            acked(conn, &start1.checkpoint, 0)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Crash and destroy (guarantee 4)
// ---------------------------------------------------------------------------------------------

#[test]
fn crash_hibernates_hibernatable_sockets_and_does_not_restart_without_queued_frames() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/h", true);
    let (n, _) = d.open_accepted(conn, actor, "/n", false);
    d.client_send(h, text("m1"));
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert_eq!(
        out,
        vec![
            Output::CloseClient {
                client: n,
                close: CloseFrame::new(1001, "actor.crashed"),
            },
            acked(conn, &start.checkpoint, 1),
        ]
    );
    assert_eq!(d.gw.metrics().actor_crashes, 1);
    assert_eq!(d.gw.hibernating_socket_count(), 1);
    let out = d.advance(Duration::from_secs(600));
    assert_eq!(start_commands(&out), vec![]);
    assert!(no_client_closes(&out));
    // The next frame wakes it, and m1 is resent.
    let out = d.client_send(h, text("m2"));
    let (_, start1, list) = only_start(&out);
    assert_eq!(list, vec![listed(rq)]);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 1, "m1"),
            text_to(conn, rq, 2, "m2"),
            acked(conn, &start1.checkpoint, 0),
        ]
    );
}

#[test]
fn crash_with_queued_frames_restarts_the_actor_at_once() {
    let mut d = driver_with(Config {
        socket_window_messages: 1,
        ..Config::default()
    });
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/h", true);
    assert_eq!(
        d.client_send(h, text("m1")),
        vec![text_to(conn, rq, 1, "m1")]
    );
    assert_eq!(
        d.client_send(h, text("m2")),
        vec![Output::PauseClientReads { client: h }]
    );
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert!(no_client_closes(&out));
    let (c, start1, list) = only_start(&out);
    assert_eq!(
        (c, start1.checkpoint.generation, list),
        (conn, 1, vec![listed(rq)])
    );
    assert_eq!(d.gw.metrics().wakes_for_hibernation, 1);
    let out = d.report_running(conn, &start1);
    assert_eq!(
        out,
        vec![
            text_to(conn, rq, 1, "m1"),
            acked(conn, &start1.checkpoint, 0)
        ],
        "the window admits only the resend"
    );
    assert_eq!(
        d.ws_ack(conn, rq, 1),
        vec![
            text_to(conn, rq, 2, "m2"),
            Output::ResumeClientReads { client: h }
        ]
    );
}

#[test]
fn destroy_closes_hibernating_sockets_with_1001_actor_destroyed() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h1, r1) = d.open_accepted(conn, actor, "/1", true);
    let (h2, r2) = d.open_accepted(conn, actor, "/2", true);
    d.client_send(h1, text("m1"));
    d.sleep_actor(conn, &start.checkpoint, 1);
    d.client_send(h2, text("q")); // wakes it; destroy it while it starts
    d.auto_store = false;
    let (_req, out) = d.admin(AdminCommand::Destroy(actor));
    let stop = commands(&out);
    assert_eq!(stop.len(), 1);
    assert_eq!(stop[0].1.inner, Command::StopActor);
    assert!(no_client_closes(&out));
    let (out, stores) =
        split_store(d.report_state(conn, &stop[0].1.checkpoint, 0, stopped(StopCode::Ok)));
    assert_eq!(
        out,
        vec![
            Output::CloseClient {
                client: h1,
                close: CloseFrame::new(1001, "actor.destroyed"),
            },
            Output::CloseClient {
                client: h2,
                close: CloseFrame::new(1001, "actor.destroyed"),
            },
            acked(conn, &stop[0].1.checkpoint, 0),
        ]
    );
    assert_eq!(
        stores,
        vec![
            delete_for(&d, actor, r1),
            delete_for(&d, actor, r2),
            StoreRequest::DeleteActor(actor)
        ]
    );
    assert_eq!(
        (
            d.gw.hibernating_socket_count(),
            d.gw.held_bytes(),
            d.gw.index_rows(),
            d.gw.client_count()
        ),
        (0, 0, 0, 0)
    );
    let op = store_requests(&d.step(Input::ClientClosed {
        client: h1,
        close: None,
    }));
    assert_eq!(
        op,
        vec![],
        "a late close of a destroyed socket does nothing"
    );
}

#[test]
fn destroying_a_sleeping_actor_closes_its_hibernating_sockets() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (h1, r1) = d.open_accepted(conn, actor, "/1", true);
    let (h2, r2) = d.open_accepted(conn, actor, "/2", true);
    d.client_send(h2, text("m1"));
    d.sleep_actor(conn, &start.checkpoint, 1);
    d.auto_store = false;
    let (req, out) = d.admin(AdminCommand::Destroy(actor));
    let all = store_requests(&out);
    let (out, stores) = split_store(out);
    assert_eq!(
        out,
        vec![
            Output::CloseClient {
                client: h1,
                close: CloseFrame::new(1001, "actor.destroyed"),
            },
            Output::CloseClient {
                client: h2,
                close: CloseFrame::new(1001, "actor.destroyed"),
            },
        ]
    );
    assert_eq!(
        stores,
        vec![
            delete_for(&d, actor, r1),
            delete_for(&d, actor, r2),
            StoreRequest::DeleteActor(actor)
        ]
    );
    assert_eq!(tunnel_to(&out, conn), vec![], "nothing to the runner");
    assert_eq!((d.gw.held_bytes(), d.gw.index_rows()), (0, 0));
    let (delete_op, _) = all.last().cloned().unwrap();
    let out = d.complete_store(delete_op, Ok(crate::store::StoreReply::Done));
    assert_eq!(
        out,
        vec![Output::AdminReply {
            req,
            reply: Ok(AdminReply::Done),
        }]
    );
    // Nothing is left to wake: no start ever follows.
    let out = d.advance(Duration::from_secs(200));
    assert_eq!(start_commands(&out), vec![]);
}

/// The operator's story of one socket, as the core tells it: opened, hibernated with its actor,
/// the wake its frame caused, restored (with the one resend), ended.
#[test]
fn notices_tell_one_sockets_life_in_order() {
    use crate::notice::Notice;
    let mut d = driver();
    d.keep_notices = true;
    let (conn, actor, start) = setup(&mut d);
    let (h, rq) = d.open_accepted(conn, actor, "/ws", true);
    assert_eq!(
        d.client_send(h, text("m1")),
        vec![text_to(conn, rq, 1, "m1")]
    );
    d.sleep_actor(conn, &start.checkpoint, 1);
    d.notices.clear();
    let (_, start1, _) = only_start(&d.client_send(h, text("q1")));
    d.report_running(conn, &start1);
    // Everything acked: the close ends the socket at once.
    d.ws_ack(conn, rq, 2);
    d.step(Input::ClientClosed {
        client: h,
        close: Some(CloseFrame::new(1000, "bye")),
    });
    let generation = start1.checkpoint.generation;
    let expected_tail = [
        Notice::ActorWaking {
            actor,
            cause: "client frame",
            socket: Some((h, rq.request_id)),
        },
        Notice::ActorStarting {
            actor,
            name: "chat".into(),
            generation,
            runner: "k".into(),
        },
        Notice::ActorRunning { actor, generation },
        Notice::SocketRestored {
            client: h,
            actor,
            request: rq.request_id,
            resent: 1,
        },
    ];
    assert_eq!(d.notices[..expected_tail.len()], expected_tail[..]);
    assert!(
        d.notices[expected_tail.len()..].contains(&Notice::SocketEnded {
            client: h,
            actor,
            request: rq.request_id
        }),
        "{:?}",
        d.notices
    );
}

#[test]
fn notices_tell_the_open_and_the_hibernation() {
    use crate::notice::Notice;
    let mut d = driver();
    d.keep_notices = true;
    let (conn, actor, start) = setup(&mut d);
    d.notices.clear();
    let (h, rq) = d.open_accepted(conn, actor, "/ws?x=1", true);
    assert_eq!(
        d.notices,
        vec![Notice::SocketOpened {
            client: h,
            actor,
            request: rq.request_id,
            path: "/ws?x=1".into(),
            hibernatable: true,
        }]
    );
    d.notices.clear();
    d.sleep_actor(conn, &start.checkpoint, 1);
    let generation = start.checkpoint.generation;
    assert_eq!(
        d.notices,
        vec![
            Notice::ActorStopping {
                actor,
                generation,
                intent: "sleep",
            },
            Notice::ActorStopped {
                actor,
                generation,
                cause: "actor.sleeping",
            },
            Notice::SocketHibernated {
                client: h,
                actor,
                request: rq.request_id,
            },
        ]
    );
}

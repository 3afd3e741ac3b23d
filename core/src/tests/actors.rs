//! Actor lifecycle: placement, start and stop timeouts, event dedupe and acks, what a stop means,
//! wakes, alarms and stale generations.

use std::time::Duration;

use crate::admin::{AdminCommand, AdminError};
use crate::config::Config;
use crate::ids::RunnerConnId;
use crate::io::{CloseFrame, Input, Output};
use crate::protocol::*;
use crate::store::StoreRequest;
use crate::testkit::driver::*;

use super::{driver, state_of};

/// The one start command in `out`.
fn only_start(out: &[Output]) -> (RunnerConnId, CommandWrapper) {
    let starts = start_commands(out);
    let [start] = <[_; 1]>::try_from(starts).unwrap_or_else(|s| panic!("{s:?}"));
    start
}

/// The checkpoint of the command at `index` for the same actor and generation.
fn at(checkpoint: &ActorCheckpoint, index: i64) -> ActorCheckpoint {
    ActorCheckpoint {
        index,
        ..checkpoint.clone()
    }
}

fn ack(checkpoints: Vec<ActorCheckpoint>) -> ToClient {
    ToClient::AckEvents(ToClientAckEvents {
        last_event_checkpoints: checkpoints,
    })
}

/// Puts a running actor to sleep (intent, stop, `Stopped{Error}`), its events numbered from
/// `index`.
fn sleep_at(d: &mut Driver, conn: RunnerConnId, start: &CommandWrapper, index: i64) {
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, index, ActorIntent::Sleep)]),
    );
    assert_eq!(commands(&out).len(), 1);
    d.report_state(conn, &start.checkpoint, index + 1, stopped(StopCode::Error));
}

/// Puts a running actor with no other events to sleep.
fn sleep(d: &mut Driver, conn: RunnerConnId, start: &CommandWrapper) {
    sleep_at(d, conn, start, 1);
}

#[test]
fn placement_fills_least_loaded_runners_by_slot_ratio() {
    let mut d = driver();
    let (r1, _) = d.connect_runner("r1", "default", 1);
    let (r2, _) = d.connect_runner("r2", "default", 2);
    let (r3, _) = d.connect_runner("r3", "default", 3);
    let mut placed = Vec::new();
    for i in 0..6 {
        let (id, out) = d.create_actor(&format!("a{i}"), None, "default");
        let (conn, start) = only_start(&out);
        assert_eq!(actor_of(&start), id);
        assert_eq!(start.checkpoint.generation, 0);
        d.report_running(conn, &start);
        placed.push((conn, start));
    }
    let conns: Vec<RunnerConnId> = placed.iter().map(|(c, _)| *c).collect();
    // Lowest allocated/slots ratio first, ties to the earliest runner.
    assert_eq!(conns, vec![r1, r2, r3, r3, r2, r3]);

    // Every slot is taken: the 7th actor waits.
    let (a7, out) = d.create_actor("a7", None, "default");
    assert!(commands(&out).is_empty(), "{out:?}");
    assert_eq!(state_of(&mut d, a7), "starting");

    // The first actor sleeps and frees r1's slot: the 7th starts there at once.
    let (c1, s1) = placed[0].clone();
    let out = d.runner_send(
        c1,
        &ToServer::Events(vec![intent(&s1.checkpoint, 1, ActorIntent::Sleep)]),
    );
    assert_eq!(start_commands(&out), vec![]);
    let out = d.report_state(c1, &s1.checkpoint, 2, stopped(StopCode::Error));
    let (conn, start) = only_start(&out);
    assert_eq!((conn, actor_of(&start)), (r1, a7));
    assert_eq!(
        start.checkpoint,
        ActorCheckpoint {
            actor_id: a7.to_string(),
            generation: 0,
            index: 0,
        }
    );
}

#[test]
fn actor_without_runner_waits_and_starts_when_one_connects() {
    let mut d = driver();
    let (actor, out) = d.create_actor("chat", Some("room"), "default");
    assert!(commands(&out).is_empty());
    assert_eq!(state_of(&mut d, actor), "starting");
    d.advance(Duration::from_secs(10));
    let (conn, out) = d.connect_runner("k", "default", 1);
    assert_eq!(
        commands(&out),
        vec![(
            conn,
            CommandWrapper {
                checkpoint: ActorCheckpoint {
                    actor_id: actor.to_string(),
                    generation: 0,
                    index: 0,
                },
                inner: Command::StartActor(CommandStartActor {
                    config: ActorConfig {
                        name: "chat".into(),
                        key: Some("room".into()),
                        create_ts: WALL_EPOCH,
                        input: None,
                    },
                    hibernating_requests: vec![],
                }),
            }
        )]
    );
    // The start deadline counts from the placement, not from the creation.
    let out = without_pings(d.advance(Duration::from_millis(29_999)));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(d.gw.metrics().actor_start_timeouts, 0);
}

#[test]
fn start_timeout_fails_waiting_clients() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("chat", None, "default");
    let (_, start) = only_start(&out);
    let (ws, out) = d.open_websocket(actor, "/");
    assert_eq!(out, vec![Output::AcceptClient { client: ws }]);
    let (http, out) = d.http_request(actor, "GET", "/", b"");
    assert!(out.is_empty(), "{out:?}");

    let out = without_pings(d.advance(Duration::from_millis(29_999)));
    assert!(out.is_empty(), "{out:?}");
    let out = without_pings(d.advance(Duration::from_millis(1)));
    let mut headers = Headers::new();
    headers.insert("content-type", "text/plain; charset=utf-8".to_owned());
    assert_eq!(
        out,
        vec![
            // The runner may still start it: make sure that instance does not linger.
            Output::SendRunner {
                conn,
                bytes: ToClient::Commands(vec![CommandWrapper {
                    checkpoint: at(&start.checkpoint, 1),
                    inner: Command::StopActor,
                }])
                .to_bytes()
                .into(),
            },
            Output::CloseClient {
                client: ws,
                close: CloseFrame::new(1011, "torpor.actor_start_timeout"),
            },
            super::error_response(
                http,
                503,
                "torpor",
                "actor_start_timeout",
                "torpor.actor_start_timeout"
            ),
        ]
    );
    assert_eq!(d.gw.metrics().actor_start_timeouts, 1);
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(state_of(&mut d, actor), "sleeping");

    // A late Running for the timed-out generation is a stray.
    let out = d.report_running(conn, &start);
    assert_eq!(
        sent_to(&out, conn),
        vec![ToClient::Commands(vec![CommandWrapper {
            checkpoint: at(&start.checkpoint, 1),
            inner: Command::StopActor,
        }])]
    );
    assert_eq!(d.gw.metrics().events_stale, 1);
}

#[test]
fn events_are_deduplicated_and_every_batch_is_acked() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("chat", None, "default");
    let (_, start) = only_start(&out);
    let out = d.report_running(conn, &start);
    assert_eq!(out.len(), 1);
    assert_eq!(
        sent_to(&out, conn),
        vec![ack(vec![at(&start.checkpoint, 0)])]
    );

    // Running again with the same index: ignored, still acked.
    let out = d.report_running(conn, &start);
    assert_eq!(
        sent_to(&out, conn),
        vec![ack(vec![at(&start.checkpoint, 0)])]
    );
    assert_eq!(d.gw.metrics().events_duplicate, 1);
    assert_eq!(d.gw.metrics().actor_running, 1);

    // A batch of two new events is acked with the last one.
    let alarm = |index, ts| EventWrapper {
        checkpoint: at(&start.checkpoint, index),
        inner: Event::ActorSetAlarm(EventActorSetAlarm { alarm_ts: Some(ts) }),
    };
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![alarm(1, WALL_EPOCH + 1), alarm(2, WALL_EPOCH + 2)]),
    );
    assert_eq!(
        sent_to(&out, conn),
        vec![ack(vec![at(&start.checkpoint, 2)])]
    );

    // A re-sent sleep intent at an old index does nothing.
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 2, ActorIntent::Sleep)]),
    );
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn,
            bytes: ack(vec![at(&start.checkpoint, 2)]).to_bytes().into(),
        }]
    );
    assert_eq!(d.gw.metrics().events_duplicate, 2);
    assert_eq!(state_of(&mut d, actor), "running");
}

#[test]
fn events_for_an_old_generation_are_ignored() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start0) = d.running_actor(conn, "chat");
    sleep(&mut d, conn, &start0);
    let (_client, out) = d.open_websocket(actor, "/");
    let (_, start1) = only_start(&out);
    assert_eq!(start1.checkpoint.generation, 1);
    d.report_running(conn, &start1);

    // A sleep intent for generation 0 (index past anything seen) must not stop generation 1.
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start0.checkpoint, 9, ActorIntent::Sleep)]),
    );
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().events_stale, 1);
    assert_eq!(state_of(&mut d, actor), "running");
}

#[test]
fn unsolicited_stopped_for_an_old_generation_does_not_stop_the_current_one() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start0) = d.running_actor(conn, "chat");
    sleep(&mut d, conn, &start0);
    let (_client, out) = d.http_request(actor, "GET", "/", b"");
    let (_, start1) = only_start(&out);
    let out = d.report_running(conn, &start1);
    assert_eq!(tunnel_to(&out, conn).len(), 1, "the request went through");

    let out = d.report_state(conn, &start0.checkpoint, 7, stopped(StopCode::Error));
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().actor_crashes, 0);
    assert_eq!(d.gw.metrics().events_stale, 1);
    assert_eq!(
        d.gw.client_count(),
        1,
        "the in-flight request is not failed"
    );
    assert_eq!(state_of(&mut d, actor), "running");
}

#[test]
fn crash_with_a_waiting_request_restarts_with_next_generation() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("chat", None, "default");
    let (_, start0) = only_start(&out);
    let (_client, out) = d.http_request(actor, "GET", "/x", b"");
    assert!(out.is_empty());

    // `onActorStart` threw: Stopped with no intent, before any Running.
    let out = d.report_state(conn, &start0.checkpoint, 0, stopped(StopCode::Error));
    assert_eq!(d.gw.metrics().actor_crashes, 1);
    let (c, start1) = only_start(&out);
    assert_eq!(c, conn);
    assert_eq!(
        start1,
        CommandWrapper {
            checkpoint: ActorCheckpoint {
                generation: 1,
                ..start0.checkpoint.clone()
            },
            inner: start0.inner.clone(),
        }
    );
    assert_eq!(
        sent_to(&out, conn).last(),
        Some(&ack(vec![at(&start0.checkpoint, 0)]))
    );

    let out = d.report_running(conn, &start1);
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: actor.to_string(),
            method: "GET".into(),
            path: "/x".into(),
            headers: Headers::new(),
            body: None,
            stream: false,
        })
    );
}

#[test]
fn stop_intent_and_stopped_ok_destroys_the_actor() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Stop)]),
    );
    assert_eq!(
        commands(&out),
        vec![(
            conn,
            CommandWrapper {
                checkpoint: at(&start.checkpoint, 1),
                inner: Command::StopActor,
            }
        )]
    );
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Ok));
    let [Output::Store { op: _, request }, ack_out] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(*request, StoreRequest::DeleteActor(actor));
    assert_eq!(
        *ack_out,
        Output::SendRunner {
            conn,
            bytes: ack(vec![at(&start.checkpoint, 2)]).to_bytes().into(),
        }
    );
    assert_eq!(d.gw.metrics().actors_destroyed, 1);
    assert_eq!(
        d.admin_now(AdminCommand::Get(actor)),
        Err(AdminError::NotFound(format!("actor {actor} not found")))
    );
    // Clients can no longer reach it.
    let (client, out) = d.open_websocket(actor, "/");
    assert_eq!(
        out,
        vec![Output::RejectClient {
            client,
            status: 404,
            reason: format!(
                "actor.not_found: The actor \"{actor}\" does not exist or was destroyed."
            ),
        }]
    );
}

#[test]
fn stop_intent_and_stopped_error_leaves_the_actor_wakeable() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Stop)]),
    );
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn,
            bytes: ack(vec![at(&start.checkpoint, 2)]).to_bytes().into(),
        }]
    );
    assert_eq!(d.gw.metrics().actors_destroyed, 0);
    assert_eq!(d.gw.metrics().actor_crashes, 0);
    assert_eq!(state_of(&mut d, actor), "sleeping");
    let (_client, out) = d.open_websocket(actor, "/");
    let (c, start1) = only_start(&out);
    assert_eq!(
        (c, start1.checkpoint.generation, start1.checkpoint.index),
        (conn, 1, 0)
    );
}

#[test]
fn request_between_sleep_intent_and_stopped_is_served_after_restart() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    assert_eq!(state_of(&mut d, actor), "stopping");
    let (client, out) = d.http_request(actor, "POST", "/late", b"body");
    assert!(out.is_empty(), "not sent to the stopping instance: {out:?}");

    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    let (c, start1) = only_start(&out);
    assert_eq!((c, start1.checkpoint.generation), (conn, 1));
    assert!(tunnel_to(&out, conn).is_empty(), "waits for Running");
    assert!(!out.iter().any(|o| matches!(o, Output::HttpResponse { .. })));

    let out = d.report_running(conn, &start1);
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].message_id.message_index, 0);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: actor.to_string(),
            method: "POST".into(),
            path: "/late".into(),
            headers: Headers::new(),
            body: Some(b"body".to_vec()),
            stream: false,
        })
    );
    let out = d.runner_tunnel(
        conn,
        t[0].message_id,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers: Headers::new(),
            body: None,
            stream: false,
        }),
    );
    assert_eq!(
        out,
        vec![Output::HttpResponse {
            client,
            status: 200,
            headers: Headers::new(),
            body: vec![],
            streaming: false,
        }]
    );
}

#[test]
fn due_alarm_wakes_a_sleeping_actor_without_any_request() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    let alarm_ts = WALL_EPOCH + 60_000;
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![EventWrapper {
            checkpoint: at(&start.checkpoint, 1),
            inner: Event::ActorSetAlarm(EventActorSetAlarm {
                alarm_ts: Some(alarm_ts),
            }),
        }]),
    );
    let persisted: Vec<Option<i64>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Store {
                request: StoreRequest::PutActor(r),
                ..
            } if r.id == actor => Some(r.alarm_ts),
            _ => None,
        })
        .collect();
    assert_eq!(persisted, vec![Some(alarm_ts)], "the alarm is durable");

    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 2, ActorIntent::Sleep)]),
    );
    d.report_state(conn, &start.checkpoint, 3, stopped(StopCode::Error));
    assert_eq!(state_of(&mut d, actor), "sleeping");

    let out = d.advance(Duration::from_millis(59_999));
    assert!(commands(&out).is_empty(), "{out:?}");
    let out = d.advance(Duration::from_millis(1));
    let (c, start1) = only_start(&out);
    assert_eq!(c, conn);
    assert_eq!(
        start1.checkpoint,
        ActorCheckpoint {
            actor_id: actor.to_string(),
            generation: 1,
            index: 0,
        }
    );
    assert_eq!(d.gw.metrics().alarms_fired, 1);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn stop_timeout_counts_and_leaves_the_actor_wakeable() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    let out = d.advance(Duration::from_millis(29_999));
    assert!(commands(&out).is_empty());
    assert_eq!(state_of(&mut d, actor), "stopping");
    let out = d.advance(Duration::from_millis(1));
    assert!(commands(&out).is_empty(), "{out:?}");
    assert_eq!(d.gw.metrics().actor_stop_timeouts, 1);
    assert_eq!(state_of(&mut d, actor), "sleeping");

    let (_client, out) = d.open_websocket(actor, "/");
    let (c, start1) = only_start(&out);
    assert_eq!((c, start1.checkpoint.generation), (conn, 1));
    // A very late Stopped for generation 0 changes nothing.
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(out, vec![]);
    assert_eq!(state_of(&mut d, actor), "starting");
}

#[test]
fn actor_waiting_for_a_runner_fails_its_clients_after_the_start_timeout() {
    let mut d = driver();
    let (actor, _) = d.create_actor("chat", None, "default");
    d.advance(Duration::from_secs(10));
    let (ws, _) = d.open_websocket(actor, "/");
    let out = d.advance(Duration::from_millis(19_999));
    assert_eq!(out, vec![]);
    let out = d.advance(Duration::from_millis(1));
    assert_eq!(
        out,
        vec![Output::CloseClient {
            client: ws,
            close: CloseFrame::new(1011, "torpor.actor_start_timeout"),
        }]
    );
    assert_eq!(d.gw.metrics().actor_start_timeouts, 1);
    assert_eq!(state_of(&mut d, actor), "sleeping");
    // A runner arriving later starts nothing until something needs the actor again.
    let (_conn, out) = d.connect_runner("k", "default", 1);
    assert_eq!(commands(&out), vec![]);
}

#[test]
fn full_waiting_queue_refuses_new_requests_with_503() {
    let mut d = Driver::new(Config {
        max_waiting_requests_per_actor: 2,
        ..Config::default()
    });
    let (actor, _) = d.create_actor("chat", None, "default");
    let (_a, out) = d.open_websocket(actor, "/");
    assert_eq!(out.len(), 1);
    let (_b, out) = d.http_request(actor, "GET", "/", b"");
    assert_eq!(out, vec![]);
    let (c, out) = d.open_websocket(actor, "/");
    assert_eq!(
        out,
        vec![Output::RejectClient {
            client: c,
            status: 503,
            reason: "torpor.actor_queue_full: the actor is starting and its request queue is full"
                .into(),
        }]
    );
    assert_eq!(d.gw.client_count(), 2);
    assert_eq!(d.gw.metrics().waiting_queue_full, 1);
}

#[test]
fn due_alarm_with_no_runner_starts_the_actor_once_a_runner_connects() {
    // RUNNER-PROTOCOL §6.8: "When the actor is asleep and now ≥ alarmTs, wake it." The actor
    // re-arms its alarms itself only once it actually starts.
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.runner_send(
        conn,
        &ToServer::Events(vec![EventWrapper {
            checkpoint: at(&start.checkpoint, 1),
            inner: Event::ActorSetAlarm(EventActorSetAlarm {
                alarm_ts: Some(WALL_EPOCH + 60_000),
            }),
        }]),
    );
    sleep_at(&mut d, conn, &start, 2);
    // The runner goes away for good (a deploy) before the alarm is due.
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(20));
    assert_eq!(d.gw.metrics().runners_lost, 1);
    // The alarm comes due with no runner; none arrives within the start timeout, so the
    // actor, still owed its alarm, keeps waiting for one (retrying every start timeout).
    d.advance(Duration::from_secs(80));
    assert_eq!(state_of(&mut d, actor), "starting");
    assert!(d.gw.metrics().actor_start_timeouts >= 1);
    // A runner connects: the actor, still owed its alarm, starts without any request.
    let (conn2, mut out) = d.connect_runner("k2", "default", 1);
    out.extend(d.advance(Duration::from_secs(31)));
    let starts: Vec<_> = start_commands(&out)
        .into_iter()
        .map(|(c, w)| (c, actor_of(&w)))
        .collect();
    assert_eq!(starts, vec![(conn2, actor)], "{out:?}");
}

/// An actor whose start fails every time, with a request waiting: the first crash restarts it
/// at once, each further one waits twice as long (1 s, 2 s, 4 s, … up to 30 s), and a crash
/// long after the last one counts as a first crash again. Before this, such an actor restarted
/// about 900 times in 40 s (seen with RivetKit 2.3 while its SQLite store was missing).
#[test]
fn a_crash_loop_restarts_with_growing_delays() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("chat", None, "default");
    let (_, mut start) = only_start(&out);
    let (_client, _) = d.http_request(actor, "GET", "/x", b"");

    // Crash 1: restarted at once.
    let out = d.report_state(conn, &start.checkpoint, 0, stopped(StopCode::Error));
    (_, start) = only_start(&out);
    assert_eq!(start.checkpoint.generation, 1);
    // Crashes 2, 3, 4: held back 1 s, 2 s, 4 s.
    for (generation, held) in [(2, 1_000), (3, 2_000), (4, 4_000)] {
        let out = d.report_state(conn, &start.checkpoint, 0, stopped(StopCode::Error));
        assert!(start_commands(&out).is_empty(), "{out:?}");
        let out = d.advance(Duration::from_millis(held - 1));
        assert!(start_commands(&out).is_empty(), "started before {held} ms");
        let out = d.advance(Duration::from_millis(1));
        (_, start) = only_start(&out);
        assert_eq!(start.checkpoint.generation, generation);
    }
    assert_eq!(d.gw.metrics().actor_restarts_delayed, 3);
    // The start works this time; a crash ten minutes later is a first crash again.
    d.report_running(conn, &start);
    d.advance(Duration::from_secs(600));
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert!(
        start_commands(&out).is_empty(),
        "no request waits: it sleeps"
    );
    let (_client, out) = d.http_request(actor, "GET", "/y", b"");
    let (_, start) = only_start(&out);
    assert_eq!(start.checkpoint.generation, 5);
    assert_eq!(d.gw.metrics().actor_restarts_delayed, 3);
}

/// A crash-looping actor destroyed while its restart is held back is gone for good: its
/// delay timer goes with it.
#[test]
fn a_destroy_cancels_a_held_back_restart() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("chat", None, "default");
    let (_, start) = only_start(&out);
    d.http_request(actor, "GET", "/x", b"");
    let out = d.report_state(conn, &start.checkpoint, 0, stopped(StopCode::Error));
    let (_, start) = only_start(&out);
    let out = d.report_state(conn, &start.checkpoint, 0, stopped(StopCode::Error));
    assert!(start_commands(&out).is_empty());
    d.admin(AdminCommand::Destroy(actor));
    let out = d.advance(Duration::from_secs(60));
    assert!(start_commands(&out).is_empty(), "{out:?}");
}

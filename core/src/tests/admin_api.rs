//! Admin commands: create (durable before the reply), conflicts, get-or-create, list, destroy,
//! sleep, and registry write retries.

use std::time::Duration;

use crate::admin::{
    ActorFilter, ActorInfo, AdminCommand, AdminError, AdminReply, CreateActor, SocketInfo,
};
use crate::config::Config;
use crate::ids::{ActorId, AdminReqId, RunnerConnId};
use crate::io::ClientFrame;
use crate::io::{Input, Output};
use crate::protocol::*;
use crate::store::{ActorRecord, CrashPolicy, StoreFailure, StoreReply, StoreRequest};
use crate::testkit::driver::*;
use crate::time::UnixMillis;

fn driver() -> Driver {
    Driver::new(Config::default())
}

fn create(name: &str, key: Option<&str>) -> CreateActor {
    CreateActor {
        namespace: "default".into(),
        name: name.into(),
        key: key.map(Into::into),
        runner_name: "default".into(),
        input: Some(b"in".to_vec()),
        crash_policy: CrashPolicy::Sleep,
        wall: UnixMillis(WALL_EPOCH + 5),
    }
}

fn info(id: ActorId, name: &str, key: Option<&str>, state: &'static str) -> ActorInfo {
    ActorInfo {
        actor_id: id,
        namespace: "default".into(),
        name: name.into(),
        key: key.map(Into::into),
        runner_name: "default".into(),
        state,
        generation: 0,
        create_ts: WALL_EPOCH + 5,
        crash_policy: CrashPolicy::Sleep,
        start_ts: None,
        connectable_ts: None,
        sleep_ts: None,
        // No runner: it waits for one since its creation (at the driver's epoch).
        pending_allocation_ts: Some(WALL_EPOCH),
    }
}

/// Creates an actor through the admin API (auto-completed store) and returns its id.
fn create_ok(d: &mut Driver, name: &str, key: Option<&str>) -> ActorId {
    let (req, out) = d.admin(AdminCommand::Create(create(name, key)));
    out.iter()
        .find_map(|o| match o {
            Output::AdminReply {
                req: r,
                reply:
                    Ok(AdminReply::Actor {
                        actor,
                        created: true,
                    }),
            } if *r == req => Some(actor.actor_id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{out:?}"))
}

fn reply(req: AdminReqId, reply: Result<AdminReply, AdminError>) -> Output {
    Output::AdminReply { req, reply }
}

#[test]
fn create_replies_only_once_the_registry_row_is_durable() {
    let mut d = driver();
    d.auto_store = false;
    let (req, out) = d.admin(AdminCommand::Create(create("chat", Some("room-1"))));
    let [Output::Store { op, request }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let StoreRequest::PutActor(record) = request else {
        panic!("{request:?}")
    };
    let id = record.id;
    assert_eq!(
        **record,
        ActorRecord {
            id,
            namespace: "default".into(),
            name: "chat".into(),
            key: Some("room-1".into()),
            runner_name: "default".into(),
            create_ts: WALL_EPOCH + 5,
            input: Some(b"in".to_vec()),
            generation: 0,
            alarm_ts: None,
            crash_policy: CrashPolicy::Sleep,
        }
    );
    let out = d.step(Input::StoreDone {
        op: *op,
        result: Ok(StoreReply::Done),
    });
    assert_eq!(
        out,
        vec![reply(
            req,
            Ok(AdminReply::Actor {
                actor: Box::new(info(id, "chat", Some("room-1"), "starting")),
                created: true,
            })
        )]
    );
    assert_eq!(d.gw.metrics().actors_created, 1);
}

#[test]
fn create_with_an_existing_name_and_key_conflicts() {
    let mut d = driver();
    let id = create_ok(&mut d, "chat", Some("room-1"));
    let (req, out) = d.admin(AdminCommand::Create(create("chat", Some("room-1"))));
    let err = AdminError::DuplicateKey {
        key: "room-1".into(),
        existing: id,
    };
    assert_eq!(err.http_status(), 400);
    assert_eq!(err.group_code(), ("actor", "duplicate_key"));
    assert_eq!(
        err.to_string(),
        format!("Actor key 'room-1' already in use for actor '{id}'")
    );
    assert_eq!(out, vec![reply(req, Err(err))]);
    // Another key, or another name with the same key, is fine.
    create_ok(&mut d, "chat", Some("room-2"));
    create_ok(&mut d, "game", Some("room-1"));
    assert_eq!(d.gw.metrics().actors_created, 3);
}

#[test]
fn get_or_create_returns_the_existing_actor() {
    let mut d = driver();
    let id = create_ok(&mut d, "chat", Some("room-1"));
    let (req, out) = d.admin(AdminCommand::GetOrCreate(create("chat", Some("room-1"))));
    assert_eq!(
        out,
        vec![reply(
            req,
            Ok(AdminReply::Actor {
                actor: Box::new(info(id, "chat", Some("room-1"), "starting")),
                created: false,
            })
        )],
        "no store write, no second actor"
    );
    // A new key creates.
    let (req, out) = d.admin(AdminCommand::GetOrCreate(create("chat", Some("room-9"))));
    let created = out.iter().find_map(|o| match o {
        Output::AdminReply {
            req: r,
            reply: Ok(AdminReply::Actor { actor, created }),
        } if *r == req => Some((actor.key.clone(), *created)),
        _ => None,
    });
    assert_eq!(created, Some((Some("room-9".into()), true)));
    assert_eq!(d.gw.metrics().actors_created, 2);
}

#[test]
fn list_filters_by_name() {
    let mut d = driver();
    let c1 = create_ok(&mut d, "chat", Some("1"));
    let g = create_ok(&mut d, "game", None);
    let c2 = create_ok(&mut d, "chat", None);
    let mut chats = vec![
        info(c1, "chat", Some("1"), "starting"),
        info(c2, "chat", None, "starting"),
    ];
    chats.sort_by_key(|i| i.actor_id);
    assert_eq!(
        d.admin_now(AdminCommand::List {
            namespace: "default".into(),
            filter: ActorFilter::Name("chat".into()),
        }),
        Ok(AdminReply::Actors(chats.clone()))
    );
    let mut all = chats;
    all.push(info(g, "game", None, "starting"));
    all.sort_by_key(|i| i.actor_id);
    assert_eq!(
        d.admin_now(AdminCommand::List {
            namespace: "default".into(),
            filter: ActorFilter::All,
        }),
        Ok(AdminReply::Actors(all))
    );
    assert_eq!(
        d.admin_now(AdminCommand::List {
            namespace: "default".into(),
            filter: ActorFilter::Name("none".into()),
        }),
        Ok(AdminReply::Actors(vec![]))
    );
}

#[test]
fn destroy_of_a_running_actor_stops_it_and_replies_after_the_delete() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.auto_store = false;
    let (req, out) = d.admin(AdminCommand::Destroy(actor));
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn,
            bytes: ToClient::Commands(vec![CommandWrapper {
                checkpoint: ActorCheckpoint {
                    index: 1,
                    ..start.checkpoint.clone()
                },
                inner: Command::StopActor,
            }])
            .to_bytes()
            .into(),
        }],
        "no reply yet"
    );
    // The runner reports ERROR for a stop it did not ask for; a destroy is a destroy anyway.
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    let Some((op, request)) = out.iter().find_map(|o| match o {
        Output::Store { op, request } => Some((*op, request.clone())),
        _ => None,
    }) else {
        panic!("{out:?}")
    };
    assert_eq!(request, StoreRequest::DeleteActor(actor));
    assert!(
        !out.iter().any(|o| matches!(o, Output::AdminReply { .. })),
        "{out:?}"
    );
    let out = d.step(Input::StoreDone {
        op,
        result: Ok(StoreReply::Done),
    });
    assert_eq!(out, vec![reply(req, Ok(AdminReply::Done))]);
    assert_eq!(
        d.admin_now(AdminCommand::Get(actor)),
        Err(AdminError::NotFound(format!("actor {actor} not found")))
    );
    assert_eq!(d.gw.metrics().actors_destroyed, 1);
}

#[test]
fn sleep_of_a_running_actor_sends_stop_and_replies_at_once() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    let (req, out) = d.admin(AdminCommand::Sleep(actor));
    assert_eq!(
        out,
        vec![
            Output::SendRunner {
                conn,
                bytes: ToClient::Commands(vec![CommandWrapper {
                    checkpoint: ActorCheckpoint {
                        index: 1,
                        ..start.checkpoint.clone()
                    },
                    inner: Command::StopActor,
                }])
                .to_bytes()
                .into(),
            },
            reply(req, Ok(AdminReply::Done)),
        ]
    );
    d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert_eq!(d.gw.metrics().actor_crashes, 0);
    assert_eq!(
        d.admin_now(AdminCommand::Get(actor)),
        Ok(AdminReply::Actor {
            actor: Box::new(ActorInfo {
                actor_id: actor,
                namespace: "default".into(),
                name: "chat".into(),
                key: None,
                runner_name: "default".into(),
                state: "sleeping",
                generation: 0,
                create_ts: WALL_EPOCH,
                crash_policy: CrashPolicy::Sleep,
                start_ts: Some(WALL_EPOCH),
                connectable_ts: None,
                sleep_ts: Some(WALL_EPOCH),
                pending_allocation_ts: None,
            }),
            created: false,
        })
    );
    let missing = ActorId::parse("00000000-0000-4000-8000-000000000000").unwrap();
    assert_eq!(
        d.admin_now(AdminCommand::Sleep(missing)),
        Err(AdminError::NotFound(format!("actor {missing} not found")))
    );
}

#[test]
fn failed_registry_write_is_retried_after_a_backoff_with_a_new_op() {
    let mut d = driver();
    d.auto_store = false;
    let (req, out) = d.admin(AdminCommand::Create(create("chat", None)));
    let [Output::Store { op: first, request }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let (first, request) = (*first, request.clone());
    let out = d.step(Input::StoreDone {
        op: first,
        result: Err(StoreFailure::Busy),
    });
    assert_eq!(out, vec![], "no reply while the write is not durable");
    assert_eq!(d.gw.metrics().store_errors, 1);
    assert_eq!(d.gw.metrics().store_retries, 1);
    // Base 100 ms with equal jitter: the retry comes within [50, 100] ms.
    let retry_at = d.gw.poll_timeout().expect("retry armed").as_millis();
    assert!((50..=100).contains(&retry_at), "{retry_at}");
    assert_eq!(d.advance(Duration::from_millis(retry_at - 1)), vec![]);
    let out = d.advance(Duration::from_millis(1));
    let [
        Output::Store {
            op: second,
            request: again,
        },
    ] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_ne!(*second, first);
    assert_eq!(*again, request);
    // The first op's completion arriving again is a late duplicate.
    let out = d.step(Input::StoreDone {
        op: first,
        result: Ok(StoreReply::Done),
    });
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().store_late_completions, 1);
    let StoreRequest::PutActor(record) = request else {
        panic!()
    };
    let out = d.step(Input::StoreDone {
        op: *second,
        result: Ok(StoreReply::Done),
    });
    assert_eq!(
        out,
        vec![reply(
            req,
            Ok(AdminReply::Actor {
                actor: Box::new(info(record.id, "chat", None, "starting")),
                created: true,
            })
        )]
    );
}

#[test]
fn sockets_lists_each_connection_with_its_state_and_buffers() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    let (ws, request) = d.open_accepted(conn, actor, "/room?x=1", true);
    d.client_send(ws, ClientFrame::Text("hi".into()));
    let (http, _) = d.http_request(actor, "GET", "/api", b"");

    let Ok(AdminReply::Sockets(list)) = d.admin_now(AdminCommand::Sockets(actor)) else {
        panic!("sockets reply");
    };
    let [a, b, c, dd] = request.request_id.to_bytes();
    assert_eq!(
        list,
        vec![
            SocketInfo {
                client: ws,
                request_id: format!("{a:02x}{b:02x}{c:02x}{dd:02x}"),
                kind: "websocket",
                state: "open",
                path: "/room?x=1".into(),
                can_hibernate: true,
                queued_messages: 0,
                unacked_messages: 1,
                unacked_bytes: list[0].unacked_bytes,
                paused: false,
            },
            SocketInfo {
                client: http,
                request_id: list[1].request_id.clone(),
                kind: "http",
                state: "sent",
                path: "/api".into(),
                can_hibernate: false,
                queued_messages: 0,
                unacked_messages: 0,
                unacked_bytes: 0,
                paused: false,
            },
        ]
    );
    assert!(list[0].unacked_bytes > 2, "the encoded frame is held");

    // After a sleep the socket is listed as hibernating; the finished HTTP request is gone.
    d.sleep_actor(conn, &start.checkpoint, 1);
    let Ok(AdminReply::Sockets(list)) = d.admin_now(AdminCommand::Sockets(actor)) else {
        panic!("sockets reply");
    };
    let states: Vec<_> = list.iter().map(|s| (s.client, s.state)).collect();
    assert_eq!(states, vec![(ws, "hibernating")]);

    let missing = ActorId::parse("00000000-0000-4000-8000-000000000000").unwrap();
    assert_eq!(
        d.admin_now(AdminCommand::Sockets(missing)),
        Err(AdminError::NotFound(format!("actor {missing} not found")))
    );
}

/// Found by the `core_steps` fuzz body: destroying an actor that waits for a runner left its
/// start deadline armed for a deleted actor.
#[test]
fn destroy_while_waiting_for_a_runner_disarms_the_start_deadline() {
    let mut d = driver();
    let (actor, _) = d.create_actor("chat", None, "default");
    assert!(d.admin_now(AdminCommand::Get(actor)).is_ok());
    let (req, out) = d.admin(AdminCommand::Destroy(actor));
    assert!(out.contains(&reply(req, Ok(AdminReply::Done))), "{out:?}");
    // The driver checks every invariant (no timer outlives its actor) after each step.
    assert_eq!(d.gw.poll_timeout(), None, "nothing left to time out");
    let out = d.advance(Duration::from_secs(120));
    assert!(out.is_empty(), "{out:?}");
}

/// A running actor created with `crash_policy`, its start command and the runner.
fn running_with_policy(
    d: &mut Driver,
    policy: CrashPolicy,
) -> (RunnerConnId, ActorId, CommandWrapper) {
    let (conn, _) = d.connect_runner("k", "default", 4);
    let (req, out) = d.admin(AdminCommand::Create(CreateActor {
        crash_policy: policy,
        ..create("svc", None)
    }));
    assert!(matches!(
        out.iter().find_map(|o| match o {
            Output::AdminReply { req: r, reply } if *r == req => Some(reply),
            _ => None,
        }),
        Some(Ok(AdminReply::Actor { created: true, .. }))
    ));
    let (_, start) = start_commands(&out).remove(0);
    let id = actor_of(&start);
    d.report_running(conn, &start);
    (conn, id, start)
}

#[test]
fn crash_policy_destroy_destroys_an_actor_that_crashes() {
    let mut d = driver();
    let (conn, id, start) = running_with_policy(&mut d, CrashPolicy::Destroy);
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert!(
        store_requests(&out)
            .iter()
            .any(|(_, r)| *r == StoreRequest::DeleteActor(id)),
        "{out:?}"
    );
    assert_eq!(
        d.admin_now(AdminCommand::Get(id)),
        Err(AdminError::NotFound(format!("actor {id} not found")))
    );
    assert_eq!(d.gw.metrics().actors_destroyed_by_crash_policy, 1);
}

/// A runner lost under a running actor is a crash of that actor: its crash policy applies.
#[test]
fn crash_policy_destroy_destroys_an_actor_whose_runner_is_lost() {
    let mut d = super::driver(); // answers pings through the long waits
    let (conn, id, _) = running_with_policy(&mut d, CrashPolicy::Destroy);
    d.step(Input::RunnerClosed { conn });
    let out = d.advance(Config::default().runner_lost_threshold);
    assert_eq!(d.gw.metrics().runners_lost, 1);
    assert!(
        store_requests(&out)
            .iter()
            .any(|(_, r)| *r == StoreRequest::DeleteActor(id)),
        "{out:?}"
    );
    assert_eq!(d.gw.metrics().actors_destroyed_by_crash_policy, 1);
}

/// A start no runner took up in time is not a crash: the actor sleeps whatever its policy, and
/// a runner lost under an actor stopping to sleep ends in a sleep too.
#[test]
fn crash_policy_destroy_spares_a_start_timeout_and_a_loss_during_a_sleep() {
    let mut d = super::driver(); // answers pings through the long waits
    d.connect_runner("k", "default", 4);
    let (_, out) = d.admin(AdminCommand::Create(CreateActor {
        crash_policy: CrashPolicy::Destroy,
        ..create("svc", None)
    }));
    let id = actor_of(&start_commands(&out)[0].1);
    let out = d.advance(Config::default().actor_start_timeout);
    assert!(
        !store_requests(&out)
            .iter()
            .any(|(_, r)| *r == StoreRequest::DeleteActor(id)),
        "{out:?}"
    );
    assert_eq!(super::state_of(&mut d, id), "sleeping");
    assert_eq!(d.gw.metrics().actors_destroyed_by_crash_policy, 0);

    let mut d = super::driver(); // answers pings through the long waits
    let (conn, id, start) = running_with_policy(&mut d, CrashPolicy::Destroy);
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    d.step(Input::RunnerClosed { conn });
    d.advance(Config::default().runner_lost_threshold);
    assert_eq!(d.gw.metrics().runners_lost, 1);
    assert_eq!(super::state_of(&mut d, id), "sleeping");
    assert_eq!(d.gw.metrics().actors_destroyed_by_crash_policy, 0);
}

#[test]
fn crash_policy_restart_starts_a_crashed_actor_again_and_sleep_does_not() {
    let mut d = driver();
    let (conn, _, start) = running_with_policy(&mut d, CrashPolicy::Restart);
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1, "{out:?}");
    assert_eq!(
        starts[0].1.checkpoint.generation,
        start.checkpoint.generation + 1
    );
    assert_eq!(d.gw.metrics().actors_restarted_by_crash_policy, 1);
    // A restarted actor that crashes before it ever runs is not restarted again.
    let out = d.report_state(conn, &starts[0].1.checkpoint, 0, stopped(StopCode::Error));
    assert_eq!(start_commands(&out), vec![]);

    let mut d = driver();
    let (conn, id, start) = running_with_policy(&mut d, CrashPolicy::Sleep);
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    assert_eq!(start_commands(&out), vec![]);
    let Ok(AdminReply::Actor { actor, .. }) = d.admin_now(AdminCommand::Get(id)) else {
        panic!()
    };
    assert_eq!(
        (actor.state, actor.crash_policy),
        ("sleeping", CrashPolicy::Sleep)
    );
}

#[test]
fn list_by_ids_and_by_key_stays_in_the_namespace_and_never_returns_another_key() {
    let mut d = driver();
    let a = create_ok(&mut d, "counter", Some("a"));
    let b = create_ok(&mut d, "counter", Some("b"));
    let list = |d: &mut Driver, namespace: &str, filter: ActorFilter| match d.admin_now(
        AdminCommand::List {
            namespace: namespace.into(),
            filter,
        },
    ) {
        Ok(AdminReply::Actors(l)) => Ok(l.iter().map(|i| i.actor_id).collect::<Vec<_>>()),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    let key = |k: &str| ActorFilter::Key {
        name: "counter".into(),
        key: k.into(),
    };
    assert_eq!(list(&mut d, "default", key("a")), Ok(vec![a]));
    assert_eq!(list(&mut d, "default", key("b")), Ok(vec![b]));
    assert_eq!(list(&mut d, "default", key("c")), Ok(vec![]));
    let missing = ActorId::parse("00000000-0000-4000-8000-000000000000").unwrap();
    assert_eq!(
        list(&mut d, "default", ActorFilter::Ids(vec![b, missing, a, b])),
        Ok(vec![a, b]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect())
    );
    assert_eq!(
        list(&mut d, "other", ActorFilter::Ids(vec![a])),
        Err(AdminError::NamespaceNotFound(
            "The namespace \"other\" does not exist.".into()
        ))
    );
}

#[test]
fn kv_get_reads_one_key_through_the_store_and_names_a_missing_key() {
    let mut d = driver();
    let id = create_ok(&mut d, "chat", Some("room"));
    d.auto_store = false;
    let (req, out) = d.admin(AdminCommand::KvGet {
        actor: id,
        key: b"k".to_vec(),
    });
    let [Output::Store { op, request }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        *request,
        StoreRequest::Kv {
            actor: id,
            request: Box::new(KvRequestData::Get(KvGetRequest {
                keys: vec![b"k".to_vec()]
            })),
        }
    );
    let found = KvResponseData::Get(KvGetResponse {
        keys: vec![b"k".to_vec()],
        values: vec![b"v".to_vec()],
        metadata: vec![KvMetadata {
            version: b"1".to_vec(),
            update_ts: 1234,
        }],
    });
    let out = d.complete_store(*op, Ok(StoreReply::Kv(found)));
    assert_eq!(
        out,
        vec![reply(
            req,
            Ok(AdminReply::KvValue {
                value: b"v".to_vec(),
                update_ts: 1234
            })
        )]
    );

    let (req, out) = d.admin(AdminCommand::KvGet {
        actor: id,
        key: b"missing".to_vec(),
    });
    let [Output::Store { op, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let empty = KvResponseData::Get(KvGetResponse {
        keys: vec![],
        values: vec![],
        metadata: vec![],
    });
    let out = d.complete_store(*op, Ok(StoreReply::Kv(empty)));
    assert_eq!(out, vec![reply(req, Err(AdminError::KvKeyNotFound))]);

    // A store failure is the caller's to retry, never retried behind its back.
    let (req, out) = d.admin(AdminCommand::KvGet {
        actor: id,
        key: b"k".to_vec(),
    });
    let [Output::Store { op, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let out = d.complete_store(*op, Err(StoreFailure::Busy));
    assert!(
        matches!(out.as_slice(), [Output::AdminReply { req: r, reply: Err(AdminError::Unavailable(_)) }] if *r == req),
        "{out:?}"
    );
    assert!(
        d.advance(Duration::from_secs(60))
            .iter()
            .all(|o| !matches!(o, Output::Store { .. }))
    );

    // An unknown actor never reaches the store.
    let unknown = ActorId::mint(&mut fastrand::Rng::with_seed(99));
    assert_eq!(
        d.admin_now(AdminCommand::KvGet {
            actor: unknown,
            key: b"k".to_vec()
        }),
        Err(AdminError::NotFound(format!("actor {unknown} not found")))
    );
}

#[test]
fn actor_names_are_those_of_actors_and_those_runners_announce() {
    let mut d = driver();
    create_ok(&mut d, "chat", Some("a"));
    create_ok(&mut d, "chat", Some("b"));
    create_ok(&mut d, "counter", None);
    let conn = RunnerConnId::new(d.fresh());
    d.step(Input::RunnerConnect {
        conn,
        params: runner_params("r1"),
    });
    let mut announced = StrMap::new();
    announced.insert(
        "counter",
        ActorName {
            metadata: r#"{"icon":"c"}"#.into(),
        },
    );
    announced.insert(
        "room",
        ActorName {
            metadata: "{}".into(),
        },
    );
    d.runner_send(
        conn,
        &ToServer::Init(ToServerInit {
            name: "default".into(),
            version: 1,
            total_slots: 10,
            prepopulate_actor_names: Some(announced),
            metadata: None,
        }),
    );
    let names = d.admin_now(AdminCommand::ActorNames {
        namespace: "default".into(),
    });
    let expected: std::collections::BTreeMap<String, String> = [
        ("chat", "{}"),
        ("counter", r#"{"icon":"c"}"#),
        ("room", "{}"),
    ]
    .into_iter()
    .map(|(n, m)| (n.to_owned(), m.to_owned()))
    .collect();
    assert_eq!(names, Ok(AdminReply::ActorNames(expected)));
    assert!(matches!(
        d.admin_now(AdminCommand::ActorNames {
            namespace: "nope".into()
        }),
        Err(AdminError::NamespaceNotFound(_))
    ));
}

/// The wall clock is an input like `now`: a step of the wall clock (an NTP correction) shows in
/// the timestamps at once, without the monotonic clock moving.
#[test]
fn timestamps_come_from_the_wall_clock_given_with_the_input() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.wall_offset += 3_600_000; // the wall clock steps one hour ahead; `now` does not move
    d.admin(AdminCommand::Sleep(actor));
    d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    let Ok(AdminReply::Actor { actor: info, .. }) = d.admin_now(AdminCommand::Get(actor)) else {
        panic!("no actor")
    };
    assert_eq!(info.start_ts, Some(WALL_EPOCH));
    assert_eq!(info.sleep_ts, Some(WALL_EPOCH + 3_600_000));
    assert_eq!(d.gw.wall_clock(), UnixMillis(WALL_EPOCH + 3_600_000));
}

/// A destroy while the actor is already stopping to sleep takes over: the stop ends in a
/// destroy, not a sleep (and a later sleep request would not undo it). Kills the `==` → `!=`
/// mutant of `stop_actor` and the `actor_stops` counter mutant the actor/ mutation run found.
#[test]
fn a_destroy_while_the_actor_stops_to_sleep_destroys_it() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    let (_, out) = d.admin(AdminCommand::Destroy(actor));
    assert!(
        !out.iter().any(|o| matches!(o, Output::SendRunner { .. })),
        "the stop under way is not sent again: {out:?}"
    );
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Ok));
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Store { request: StoreRequest::DeleteActor(a), .. } if *a == actor
        )),
        "destroyed, not asleep: {out:?}"
    );
    assert_eq!(d.gw.metrics().actor_stops, 1);
    assert_eq!(
        d.admin_now(AdminCommand::Get(actor)),
        Err(AdminError::NotFound(format!("actor {actor} not found")))
    );
}

#[test]
fn names_and_keys_are_length_limited_and_free_of_control_characters() {
    let mut d = driver();
    let long = "n".repeat(129);
    for (command, message) in [
        (
            create("chat\0room", None),
            "`name` must not contain control characters (NUL, newlines, …)",
        ),
        (
            create(&long, None),
            "`name` is too long (129 bytes; max 128)",
        ),
        (
            create("chat", Some("a\0b")),
            "Key label must not contain NUL characters.",
        ),
        (
            CreateActor {
                runner_name: "pool\n".into(),
                ..create("chat", None)
            },
            "`runner_name_selector` must not contain control characters (NUL, newlines, …)",
        ),
    ] {
        let (req, out) = d.admin(AdminCommand::Create(command));
        assert_eq!(
            out,
            vec![reply(req, Err(AdminError::Invalid(message.to_owned())))]
        );
    }
    // 128 bytes is fine.
    create_ok(&mut d, &"n".repeat(128), None);
}

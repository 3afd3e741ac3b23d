use std::time::Duration;

use crate::admin::{AdminCommand, AdminReply};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ids::{ActorId, AdminReqId};
use crate::io::{Input, Output};
use crate::store::{ActorRecord, Snapshot, StoreRequest};
use crate::testkit::driver::*;
use crate::time::{Instant, UnixMillis};

fn record(id: ActorId, alarm_ts: Option<i64>) -> ActorRecord {
    ActorRecord {
        id,
        namespace: "default".into(),
        name: "room".into(),
        key: Some("r1".into()),
        runner_name: "default".into(),
        create_ts: WALL_EPOCH - 1000,
        input: Some(vec![1, 2, 3]),
        generation: 4,
        alarm_ts,
        crash_policy: crate::store::CrashPolicy::Sleep,
    }
}

/// A gateway started at `now` from a store holding `record`.
fn restored_gateway(now: Instant, record: ActorRecord) -> Gateway {
    let mut gw = Gateway::new(Config::default(), 1, now, UnixMillis(WALL_EPOCH)).unwrap();
    let snapshot = Snapshot {
        actors: vec![record],
        namespaces: vec![],
    };
    gw.restore(now, UnixMillis(WALL_EPOCH), snapshot).unwrap();
    gw
}

#[test]
fn restored_registry_is_served_and_generations_continue() {
    let id = ActorId::parse("6f9619ff-8b86-4011-b42d-00cf4fc964ff").unwrap();
    let now = Instant::from_millis(0);
    let mut gw = restored_gateway(now, record(id, None));
    // Restore twice, or after traffic, is misuse.
    assert!(
        gw.restore(now, UnixMillis(WALL_EPOCH), Snapshot::default())
            .is_err()
    );
    // The startup purge: rows of earlier incarnations are ghosts.
    let startup: Vec<Output> = std::iter::from_fn(|| gw.poll_output()).collect();
    assert!(
        startup.iter().any(|o| matches!(
            o,
            Output::Store { request: StoreRequest::PurgeHibernation { keep }, .. }
                if *keep == gw.gateway_id()
        )),
        "{startup:?}"
    );
    let req = AdminReqId::new(1);
    gw.handle(
        now,
        UnixMillis(WALL_EPOCH),
        Input::Admin {
            req,
            command: AdminCommand::Get(id),
        },
    )
    .unwrap();
    let Some(Output::AdminReply {
        reply: Ok(AdminReply::Actor { actor, created }),
        ..
    }) = gw.poll_output()
    else {
        panic!("no reply")
    };
    assert!(!created);
    assert_eq!(
        (actor.state, actor.generation, actor.key.as_deref()),
        ("sleeping", 5, Some("r1")),
        "the stored generation 4 may have been followed by an unstored 5: it counts as used"
    );

    let mut d = Driver::from_gateway(gw, now);
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (_client, out) = d.open_websocket(id, "/");
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1);
    let (c, start) = &starts[0];
    assert_eq!(*c, conn);
    assert_eq!(
        start.checkpoint.generation, 6,
        "generations keep growing across restarts, past any the old incarnation may have used"
    );
    let crate::protocol::Command::StartActor(s) = &start.inner else {
        panic!()
    };
    assert_eq!(s.config.input, Some(vec![1, 2, 3]));
    assert_eq!(s.config.create_ts, WALL_EPOCH - 1000);
    assert!(s.hibernating_requests.is_empty());
}

#[test]
fn restored_alarm_wakes_the_actor_when_due() {
    let id = ActorId::parse("00000000-0000-4000-8000-000000000001").unwrap();
    let now = Instant::from_millis(0);
    let gw = restored_gateway(now, record(id, Some(WALL_EPOCH + 60_000)));
    assert_eq!(gw.poll_timeout(), Some(Instant::from_millis(60_000)));
    let mut d = Driver::from_gateway(gw, now);
    d.auto_pong = true;
    let (conn, _) = d.connect_runner("k", "default", 1);
    let out = d.advance(Duration::from_secs(59));
    assert!(start_commands(&out).is_empty());
    let out = d.advance(Duration::from_secs(1));
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1, "{out:?}");
    assert_eq!(starts[0].0, conn);
    assert_eq!(d.gw.metrics().alarms_fired, 1);
}

/// Generation reuse: the stored generation is 4, and the old incarnation may have run 5
/// unstored. The first start after the restart waits for 5 to be stored before it takes 6, so
/// a second restart (stored 5, counting 6 as used) can never start 6 twice; a later start whose
/// predecessor's write is still in flight waits for it the same way.
#[test]
fn a_start_never_takes_a_generation_more_than_one_past_the_stored_one() {
    let id = ActorId::parse("6f9619ff-8b86-4011-b42d-00cf4fc964ff").unwrap();
    let now = Instant::from_millis(0);
    let gw = restored_gateway(now, record(id, None));
    let mut d = Driver::from_gateway(gw, now);
    d.auto_store = false;
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (_client, out) = d.open_websocket(id, "/");
    assert_eq!(start_commands(&out), vec![], "5 is not stored yet");
    let [(op, StoreRequest::PutActor(row))] = <[_; 1]>::try_from(store_requests(&out)).unwrap()
    else {
        panic!("{out:?}")
    };
    assert_eq!(row.generation, 5);
    assert_eq!(d.gw.metrics().starts_waiting_for_store, 1);
    let out = d.complete_store(op, Ok(crate::store::StoreReply::Done));
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1, "{out:?}");
    assert_eq!(starts[0].1.checkpoint.generation, 6);
    // 6 crashes before its row is stored: 7 waits for 6.
    let put6 = store_requests(&out)[0].0;
    let out = d.report_state(
        conn,
        &starts[0].1.checkpoint,
        1,
        stopped(crate::protocol::StopCode::Error),
    );
    assert_eq!(start_commands(&out), vec![]);
    assert_eq!(d.gw.metrics().starts_waiting_for_store, 2);
    let rewrite = store_requests(&out);
    assert!(
        matches!(&rewrite[..], [(_, StoreRequest::PutActor(r))] if r.generation == 6),
        "{rewrite:?}"
    );
    let out = d.complete_store(put6, Ok(crate::store::StoreReply::Done));
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1, "{out:?}");
    assert_eq!(starts[0].1.checkpoint.generation, 7);
}

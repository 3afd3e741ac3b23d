//! The oracles are not constant: each test breaks one thing in a healthy world and requires the
//! check that exists for it to fire.

use super::Sim;
use super::runner::Adapter;
use crate::ids::ClientId;
use crate::io::ClientFrame;
use crate::protocol::RequestId;

/// A world after some quiet traffic: every socket open, messages persisted and acked, nothing
/// in flight.
fn settled() -> Sim {
    let mut sim = Sim::new(3);
    for client in open_clients(&sim) {
        sim.send_from(client);
    }
    for _ in 0..3 {
        sim.actor_work(true);
        sim.deliver(None);
        sim.complete_store(false);
    }
    assert_eq!(sim.check_safety(), Ok(()), "the world starts healthy");
    sim
}

fn open_clients(sim: &Sim) -> Vec<ClientId> {
    sim.ws
        .iter()
        .filter(|(_, c)| c.is_open())
        .map(|(id, _)| *id)
        .collect()
}

/// An open hibernatable client with a persisted message, and its request.
fn hibernatable(sim: &Sim) -> (ClientId, RequestId) {
    sim.ws
        .iter()
        .filter(|(_, c)| c.is_open() && c.opened == Some(true))
        .find_map(|(id, c)| {
            let rq = c.request?;
            (sim.durable.get(&rq)?.log.len() == 1).then_some((*id, rq))
        })
        .expect("a hibernatable socket with one persisted message")
}

fn fails_with(sim: &mut Sim, what: &str) {
    match sim.check_safety() {
        Err(why) => assert!(why.contains(what), "expected {what:?}, got {why}"),
        Ok(()) => panic!("expected a violation containing {what:?}"),
    }
}

#[test]
fn a_log_that_is_not_a_prefix_of_what_was_sent_fails() {
    let mut sim = settled();
    let (_, rq) = hibernatable(&sim);
    sim.durable
        .get_mut(&rq)
        .unwrap()
        .log
        .push(b"invented".to_vec());
    fails_with(&mut sim, "not a prefix");
}

#[test]
fn an_actor_frame_the_gateway_did_not_forward_fails() {
    let mut sim = settled();
    let (client, _) = hibernatable(&sim);
    sim.ws
        .get_mut(&client)
        .unwrap()
        .expect
        .push_back(ClientFrame::Binary(b"lost".to_vec()));
    sim.check_forwarded(client);
    fails_with(&mut sim, "dropped a frame");
}

#[test]
fn a_pause_with_room_in_the_window_and_the_budget_fails() {
    let mut sim = settled();
    let (client, _) = hibernatable(&sim);
    sim.ws.get_mut(&client).unwrap().paused = true;
    fails_with(&mut sim, "paused while neither");
}

#[test]
fn a_socket_the_runner_holds_but_the_gateway_forgot_fails() {
    let mut sim = settled();
    let gateway = sim.gateway_id;
    let (proc, actor) = sim.instances()[0];
    let instance = sim
        .procs
        .get_mut(&proc)
        .and_then(|r| r.instances.get_mut(&actor))
        .unwrap();
    instance.sockets.insert(
        RequestId::from_bytes([9, 9, 9, 9]),
        Adapter {
            gateway,
            hibernatable: true,
            last: 0,
            handled: Vec::new(),
            acked: 0,
        },
    );
    fails_with(&mut sim, "never told the runner");
}

#[test]
fn an_incomplete_log_when_the_actor_sees_the_clients_close_fails() {
    let mut sim = settled();
    let (client, rq) = hibernatable(&sim);
    let c = sim.ws.get_mut(&client).unwrap();
    c.closed_by_client = true;
    c.sent.push(b"never delivered".to_vec());
    sim.observe_close(rq, "close frame", Some((0, 1)));
    let why = sim.failure.clone().expect("a violation");
    assert!(why.contains("before the runner acked"), "{why}");
}

#[test]
fn an_early_or_detached_ack_timeout_fails() {
    let mut sim = settled();
    let (client, _) = hibernatable(&sim);
    sim.check_ack_timeout(client);
    let why = sim.failure.clone().expect("a violation");
    assert!(why.contains("after its last (re)send"), "{why}");
}

#[test]
fn a_socket_left_open_when_its_runner_link_drops_fails() {
    let mut sim = settled();
    let (client, rq) = hibernatable(&sim);
    let conn = sim.request_conn[&rq];
    // As if the runner had refused hibernation: the gateway must close it at once.
    sim.ws.get_mut(&client).unwrap().opened = Some(false);
    sim.check_disconnect(conn);
    let why = sim.failure.clone().expect("a violation");
    assert!(why.contains("torpor.runner_disconnected"), "{why}");
}

#[test]
fn the_store_is_compared_row_by_row() {
    let mut sim = settled();
    assert_eq!(sim.check_store(), Ok(()));
    let key = *sim.store.index.keys().next().expect("an index row");
    let row = sim.store.index.remove(&key).unwrap();
    assert!(sim.check_store().unwrap_err().contains("has no index row"));
    let mut moved = row.clone();
    moved.path = "/elsewhere".into();
    sim.store.index.insert(key, moved);
    assert!(sim.check_store().unwrap_err().contains("index row of"));
    sim.store.index.insert(key, row);
    let stray = (key.0, RequestId::from_bytes([7, 7, 7, 7]));
    let copy = sim.store.index[&key].clone();
    sim.store.index.insert(stray, copy);
    assert!(
        sim.check_store()
            .unwrap_err()
            .contains("not a live hibernatable")
    );
    sim.store.index.remove(&stray);
    let actor = *sim.store.actors.keys().next().unwrap();
    sim.store.actors.get_mut(&actor).unwrap().generation += 7;
    assert!(sim.check_store().unwrap_err().contains("the store holds"));
}

#[test]
fn liveness_owes_every_open_socket_its_last_exchange() {
    let sim = settled();
    let gap = sim.progress_gap().expect("no last message was sent yet");
    assert!(gap.contains("never got its actor's last message") || gap.contains("messages sent"));
}

#[test]
fn one_seed_replays_exactly() {
    for seed in [11, 4423] {
        let run = || {
            let mut sim = Sim::new(seed);
            let outcome = sim.run();
            let logs: Vec<_> = sim.durable.values().map(|d| d.log.clone()).collect();
            format!(
                "{outcome:?} {:?} {:?} {logs:?}",
                sim.stats,
                sim.d.gw.metrics()
            )
        };
        assert_eq!(run(), run(), "seed {seed}");
    }
}

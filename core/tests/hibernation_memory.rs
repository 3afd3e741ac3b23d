//! Core heap bytes per hibernating socket (empty un-acked buffer), measured with a counting
//! global allocator: sockets open on actors of 1,000 sockets each, which then sleep. 10,000
//! sockets by default; `TORPOR_CORE_SOCKETS=1000000` holds a million in the core alone (no file
//! descriptors), as BENCHMARKS.md reports. One test per binary so no other thread allocates
//! meanwhile.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use torpor_core::testkit::driver::{Driver, intent, stopped, tunnel_to};
use torpor_core::{ClientId, Config};
use torpor_protocol::shared::ActorIntent;
use torpor_protocol::v7::{ToServer, ToServerTunnelMessageKind, ToServerWebSocketOpen};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, SeqCst);
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PER_ACTOR: usize = 1_000;

#[test]
fn a_hibernating_socket_costs_at_most_512_heap_bytes() {
    let sockets: usize = std::env::var("TORPOR_CORE_SOCKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let actor_count = sockets.div_ceil(PER_ACTOR);
    let config = Config {
        // Room for every socket (the limit is a safety valve; this measures the state).
        max_clients: sockets + 1,
        ..Config::default()
    };
    let mut d = Driver::new(config);
    d.check = false;
    let (conn, _) = d.connect_runner("k", "default", actor_count as u32);
    let mut actors = Vec::new();
    for a in 0..actor_count {
        actors.push(d.running_actor(conn, &format!("room-{a}")));
    }
    // Outputs of the setup are dropped; measure the gateway's own heap from here.
    let before = LIVE.load(SeqCst);
    let mut clients: Vec<ClientId> = Vec::new();
    for (actor, _) in &actors {
        for _ in 0..PER_ACTOR {
            let (client, out) = d.open_websocket(*actor, "/ws");
            let rq = tunnel_to(&out, conn)[0].message_id;
            drop(out);
            let open = ToServerTunnelMessageKind::WebSocketOpen(ToServerWebSocketOpen {
                can_hibernate: true,
            });
            drop(d.runner_tunnel(conn, rq, open));
            clients.push(client);
        }
    }
    for (_, start) in &actors {
        let cp = &start.checkpoint;
        drop(d.runner_send(
            conn,
            &ToServer::Events(vec![intent(cp, 1, ActorIntent::Sleep)]),
        ));
        drop(d.report_state(
            conn,
            cp,
            2,
            stopped(torpor_protocol::shared::StopCode::Error),
        ));
    }
    let n = actor_count * PER_ACTOR;
    assert_eq!(d.gw.hibernating_socket_count(), n);
    assert_eq!(d.gw.held_bytes(), 0, "empty un-acked buffers");
    let after = LIVE.load(SeqCst);
    let own = clients.capacity() * size_of::<ClientId>();
    let per_socket = (after - before - own) as f64 / n as f64;
    println!("core heap per hibernating socket: {per_socket:.0} bytes ({n} sockets)");
    assert!(
        per_socket <= 512.0,
        "{per_socket:.0} bytes per hibernating socket"
    );
}

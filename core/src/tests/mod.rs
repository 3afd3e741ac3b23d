//! Scenario tests through the in-test driver: each asserts the exact outputs, with runner bytes
//! decoded back to protocol types.

mod actors;
mod admin_api;
mod basics;
mod determinism;
mod envoy;
mod faults;
mod hibernation;
mod hibernation_flow;
mod hibernation_flow_control;
mod hibernation_index;
mod hibernation_sim;
mod http;
mod isolation;
mod mutants;
mod restore;
mod runner;
mod websocket;

use crate::admin::{AdminCommand, AdminReply};
use crate::config::Config;
use crate::ids::{ActorId, RunnerConnId};
use crate::protocol::CommandWrapper;
use crate::testkit::driver::Driver;

/// The actor's state as the admin API reports it (`running`, `sleeping`, …).
pub(super) fn state_of(d: &mut Driver, actor: ActorId) -> &'static str {
    match d.admin_now(AdminCommand::Get(actor)) {
        Ok(AdminReply::Actor { actor, .. }) => actor.state,
        other => panic!("{other:?}"),
    }
}

/// A driver whose runners answer pings, so long clock jumps keep them connected.
pub(super) fn driver_with(config: Config) -> Driver {
    let mut d = Driver::new(config);
    d.auto_pong = true;
    d
}

/// [`driver_with`] the default config.
pub(super) fn driver() -> Driver {
    driver_with(Config::default())
}

/// A running actor on a fresh runner `k` with 4 slots.
pub(super) fn setup(d: &mut Driver) -> (RunnerConnId, ActorId, CommandWrapper) {
    let (conn, _) = d.connect_runner("k", "default", 4);
    let (actor, start) = d.running_actor(conn, "chat");
    (conn, actor, start)
}

/// The gateway's own error response, in the engine's shape: JSON `{group, code, message}` and
/// the `x-rivet-error` header.
pub(super) fn error_response(
    client: crate::ids::ClientId,
    status: u16,
    group: &str,
    code: &str,
    message: &str,
) -> crate::io::Output {
    let mut headers = crate::protocol::Headers::new();
    headers.insert("content-type", "application/json".to_owned());
    headers.insert("x-rivet-error", format!("{group}.{code}"));
    crate::io::Output::HttpResponse {
        client,
        status,
        headers,
        body: serde_json::json!({ "group": group, "code": code, "message": message })
            .to_string()
            .into_bytes(),
        streaming: false,
    }
}

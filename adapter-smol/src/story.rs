//! The operator's logs of runners, actors and sockets, from the core's [`Notice`]s.
//!
//! Targets and levels, chosen so `info` is useful and stays quiet under load:
//! * `torpor::runner` (info): connected, disconnected, replaced, lost;
//! * `torpor::actor` (info): created, starting, running, stopping, stopped, waking, destroyed;
//! * `torpor::socket` (debug): each client WebSocket's opened, hibernated, restored, closed and
//!   ended, inside a `socket` span carrying `request_id` and `actor_id`, so one socket's story
//!   can be filtered (`--log info,torpor::socket=debug`). Closes for a limit or an error are
//!   `info` there.

use std::collections::HashMap;
use std::net::IpAddr;

use torpor_core::{ClientId, CloseFrame, Notice, RunnerConnId};
use torpor_protocol::shared::RequestId;
use tracing::{Span, debug, debug_span, info};

/// The request id as logs show it: eight hex digits, as the actor's tunnel carries it.
pub(crate) fn request_hex(request: RequestId) -> String {
    let [a, b, c, d] = request.to_bytes();
    format!("{a:02x}{b:02x}{c:02x}{d:02x}")
}

/// Spans of the sockets the core has open, and the addresses of connections not yet told.
#[derive(Default)]
pub(crate) struct Story {
    sockets: HashMap<ClientId, Span>,
    /// Client addresses from the upgrade until the socket opens (or is refused or ends).
    client_ips: HashMap<ClientId, IpAddr>,
    /// Runner addresses from the upgrade until the runner disconnects (or is refused).
    runner_ips: HashMap<RunnerConnId, IpAddr>,
}

/// An address for a log field (`-` when unknown).
fn addr(ip: Option<&IpAddr>) -> String {
    ip.map_or_else(|| "-".to_owned(), ToString::to_string)
}

impl Story {
    /// A runner asks to connect from `ip`.
    pub(crate) fn runner_address(&mut self, conn: RunnerConnId, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.runner_ips.insert(conn, ip);
        }
    }

    /// The core refused a runner.
    pub(crate) fn runner_refused(&mut self, conn: RunnerConnId) {
        self.runner_ips.remove(&conn);
    }

    /// A client asks to open a WebSocket from `ip`.
    pub(crate) fn client_address(&mut self, client: ClientId, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.client_ips.insert(client, ip);
        }
    }

    /// The core refused a client's WebSocket.
    pub(crate) fn refused(&mut self, client: ClientId) {
        self.client_ips.remove(&client);
    }

    /// Logs one notice.
    pub(crate) fn tell(&mut self, notice: Notice) {
        match notice {
            Notice::RunnerIdentified {
                conn,
                namespace,
                name,
                key,
                protocol,
                resumed,
            } => info!(
                target: "torpor::runner",
                %conn, address = %addr(self.runner_ips.get(&conn)), %namespace, %name, %key,
                protocol, resumed,
                "runner connected"
            ),
            Notice::RunnerDisconnected {
                conn,
                namespace,
                key,
            } => info!(
                target: "torpor::runner",
                %conn, address = %addr(self.runner_ips.remove(&conn).as_ref()), %namespace, %key,
                "runner disconnected; its actors wait for it until runner_lost_threshold"
            ),
            Notice::RunnerReplaced { old, new, key } => info!(
                target: "torpor::runner",
                %old, %new, %key,
                "runner session replaced by a new connection with the same key"
            ),
            Notice::RunnerLost {
                namespace,
                key,
                actors,
            } => info!(
                target: "torpor::runner",
                %namespace, %key, actors,
                "runner lost: it stayed away past runner_lost_threshold; its actors start elsewhere"
            ),
            Notice::ActorCreated {
                actor,
                namespace,
                name,
                key,
            } => info!(
                target: "torpor::actor",
                actor_id = %actor, %namespace, %name, key = key.as_deref().unwrap_or(""),
                "actor created"
            ),
            Notice::ActorStarting {
                actor,
                name,
                generation,
                runner,
            } => info!(
                target: "torpor::actor",
                actor_id = %actor, %name, generation, %runner,
                "actor starting"
            ),
            Notice::ActorRunning { actor, generation } => info!(
                target: "torpor::actor",
                actor_id = %actor, generation,
                "actor running"
            ),
            Notice::ActorStopping {
                actor,
                generation,
                intent,
            } => info!(
                target: "torpor::actor",
                actor_id = %actor, generation, intent,
                "actor stopping"
            ),
            Notice::ActorStopped {
                actor,
                generation,
                cause,
            } => info!(
                target: "torpor::actor",
                actor_id = %actor, generation, cause,
                "actor stopped"
            ),
            Notice::ActorWaking {
                actor,
                cause,
                socket,
            } => {
                info!(target: "torpor::actor", actor_id = %actor, cause, "actor waking");
                if let Some((client, _)) = socket {
                    self.in_socket(client, || {
                        debug!(target: "torpor::socket", cause, "socket wakes its actor");
                    });
                }
            }
            Notice::ActorDestroyed { actor } => info!(
                target: "torpor::actor",
                actor_id = %actor,
                "actor destroyed"
            ),
            Notice::SocketOpened {
                client,
                actor,
                request,
                path,
                hibernatable,
            } => {
                let span = debug_span!(
                    target: "torpor::socket",
                    "socket",
                    request_id = %request_hex(request),
                    actor_id = %actor,
                    client_ip = %addr(self.client_ips.remove(&client).as_ref()),
                );
                span.in_scope(|| {
                    debug!(target: "torpor::socket", %client, %path, hibernatable, "socket opened");
                });
                // With the socket story filtered out (the default), keep nothing per socket.
                if !span.is_disabled() {
                    self.sockets.insert(client, span);
                }
            }
            Notice::SocketHibernated { client, .. } => {
                self.in_socket(client, || {
                    debug!(target: "torpor::socket", "socket hibernating: the actor stopped; the client stays connected");
                });
            }
            Notice::SocketRestored { client, resent, .. } => {
                self.in_socket(client, || {
                    debug!(target: "torpor::socket", resent, "socket restored on the actor's new generation");
                });
            }
            Notice::SocketEnded { client, .. } => {
                self.in_socket(client, || debug!(target: "torpor::socket", "socket ended"));
                self.sockets.remove(&client);
                self.client_ips.remove(&client);
            }
        }
    }

    /// The gateway closes a client's socket.
    pub(crate) fn gateway_closed(&self, client: ClientId, close: &CloseFrame) {
        let (code, reason) = (close.code, close.reason.as_str());
        self.in_socket(client, || {
            // Normal ends are the socket's story; limits and errors are an operator's business.
            if matches!(code, 1000 | 1001 | 1012) {
                debug!(target: "torpor::socket", %client, code, reason, "socket closed by the gateway");
            } else {
                info!(target: "torpor::socket", %client, code, reason, "socket closed by the gateway");
            }
        });
    }

    /// The client closed its socket (or its stream ended).
    pub(crate) fn client_closed(&self, client: ClientId, close: Option<&CloseFrame>) {
        self.in_socket(client, || match close {
            Some(c) => debug!(
                target: "torpor::socket",
                code = c.code, reason = %c.reason, "socket closed by the client"
            ),
            None => debug!(target: "torpor::socket", "socket stream ended without a close frame"),
        });
    }

    fn in_socket(&self, client: ClientId, f: impl FnOnce()) {
        match self.sockets.get(&client) {
            Some(span) => span.in_scope(f),
            None => f(),
        }
    }
}

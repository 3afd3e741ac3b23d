//! [`Notice`]: what an operator reads about — a step in the life of a runner, an actor or a
//! client socket. The core has no logger (it does no IO); it queues notices, and the adapter
//! drains them with [`crate::Gateway::poll_notice`] into its logs.
//!
//! A notice is an observation, like a metric, not an obligation like an [`crate::Output`]: an
//! embedder that never drains them loses nothing but the newest ones past [`NOTICES_KEPT`]
//! (counted in `notices_dropped`).

use crate::ids::{ActorId, ClientId, RunnerConnId};
use torpor_protocol::shared::RequestId;

/// Notices kept undrained before new ones are dropped: a bound for embedders that never read
/// them.
pub const NOTICES_KEPT: usize = 65_536;

/// One step worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A runner sent its init and was accepted (or resumed its session).
    RunnerIdentified {
        /// Its connection.
        conn: RunnerConnId,
        /// Namespace.
        namespace: String,
        /// Runner (pool) name.
        name: String,
        /// Runner key (one per runner process).
        key: String,
        /// Protocol version (7 runner, 8 envoy).
        protocol: u16,
        /// Its earlier session's actors are still its own (a reconnect within the threshold).
        resumed: bool,
    },
    /// A runner's connection ended; its actors wait `runner_lost_threshold` for it.
    RunnerDisconnected {
        /// The connection.
        conn: RunnerConnId,
        /// Namespace.
        namespace: String,
        /// Runner key.
        key: String,
    },
    /// A newer connection with the same key replaced a live one.
    RunnerReplaced {
        /// The replaced connection (closed).
        old: RunnerConnId,
        /// The new one.
        new: RunnerConnId,
        /// Runner key.
        key: String,
    },
    /// A runner stayed away past the threshold: its actors are lost and start elsewhere.
    RunnerLost {
        /// Namespace.
        namespace: String,
        /// Runner key.
        key: String,
        /// Actors it hosted.
        actors: usize,
    },
    /// An actor was created.
    ActorCreated {
        /// The actor.
        actor: ActorId,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Key, if any.
        key: Option<String>,
    },
    /// A start command went to a runner.
    ActorStarting {
        /// The actor.
        actor: ActorId,
        /// Its name.
        name: String,
        /// Its new generation.
        generation: u32,
        /// The runner's key.
        runner: String,
    },
    /// The actor reported running.
    ActorRunning {
        /// The actor.
        actor: ActorId,
        /// Generation.
        generation: u32,
    },
    /// A stop command went to the runner.
    ActorStopping {
        /// The actor.
        actor: ActorId,
        /// Generation.
        generation: u32,
        /// `sleep`, `stop`, `destroy` or `drain`.
        intent: &'static str,
    },
    /// An allocation ended.
    ActorStopped {
        /// The actor.
        actor: ActorId,
        /// Generation.
        generation: u32,
        /// Why, as sockets that cannot outlive it are told (`actor.sleeping`,
        /// `actor.crashed`, `torpor.runner_lost`, …).
        cause: &'static str,
    },
    /// A sleeping actor is woken for its hibernating sockets.
    ActorWaking {
        /// The actor.
        actor: ActorId,
        /// `client frame`, `client close`, or `frames held for hibernating sockets`.
        cause: &'static str,
        /// The socket (client, request id) whose frame or close wakes it, if one does.
        socket: Option<(ClientId, RequestId)>,
    },
    /// The actor was destroyed.
    ActorDestroyed {
        /// The actor.
        actor: ActorId,
    },
    /// A client WebSocket was accepted by its actor.
    SocketOpened {
        /// The client.
        client: ClientId,
        /// Its actor.
        actor: ActorId,
        /// The request id the actor knows it by, for its whole life.
        request: RequestId,
        /// Path (with query) after the actor id.
        path: String,
        /// Whether it hibernates when the actor sleeps.
        hibernatable: bool,
    },
    /// The socket's actor stopped; the client stays connected and its frames queue.
    SocketHibernated {
        /// The client.
        client: ClientId,
        /// Its actor.
        actor: ActorId,
        /// Its request id.
        request: RequestId,
    },
    /// The socket is attached to its actor's new generation again.
    SocketRestored {
        /// The client.
        client: ClientId,
        /// Its actor.
        actor: ActorId,
        /// Its request id.
        request: RequestId,
        /// Un-acked messages sent again.
        resent: usize,
    },
    /// The core let go of a client WebSocket.
    SocketEnded {
        /// The client.
        client: ClientId,
        /// Its actor.
        actor: ActorId,
        /// Its request id.
        request: RequestId,
    },
}

impl Notice {
    /// The client socket the notice is about, if any.
    pub fn client(&self) -> Option<ClientId> {
        match self {
            Self::SocketOpened { client, .. }
            | Self::SocketHibernated { client, .. }
            | Self::SocketRestored { client, .. }
            | Self::SocketEnded { client, .. } => Some(*client),
            _ => None,
        }
    }
}

//! The admin API's commands and replies (the HTTP mapping lives in the smol adapter).

use std::fmt;

use crate::ids::{ActorId, ClientId};
use crate::time::UnixMillis;

/// Create an actor (`POST /actors`) or get-or-create it by name and key (`PUT /actors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateActor {
    /// Namespace; `default` unless given.
    pub namespace: String,
    /// Actor name.
    pub name: String,
    /// Optional key; (name, key) is unique.
    pub key: Option<String>,
    /// Runner pool to place it on.
    pub runner_name: String,
    /// Opaque input bytes.
    pub input: Option<Vec<u8>>,
    /// Now, as wall-clock time (becomes `createTs`).
    pub wall: UnixMillis,
}

/// An admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// Create; 409 if (name, key) exists.
    Create(CreateActor),
    /// Return the actor with this (name, key), creating it if needed.
    GetOrCreate(CreateActor),
    /// One actor.
    Get(ActorId),
    /// All actors, or those with this name.
    List {
        /// Filter by name.
        name: Option<String>,
    },
    /// Stop the actor if running and delete it with its KV data.
    Destroy(ActorId),
    /// Put the actor to sleep.
    Sleep(ActorId),
    /// The actor's client connections (`GET /actors/{id}/sockets`).
    Sockets(ActorId),
}

/// What an admin request returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// One actor; `created` tells get-or-create which happened.
    Actor {
        /// The actor.
        actor: ActorInfo,
        /// Whether this request created it.
        created: bool,
    },
    /// Several actors, by id.
    Actors(Vec<ActorInfo>),
    /// An actor's client connections, by client id.
    Sockets(Vec<SocketInfo>),
    /// Done, nothing to return.
    Done,
}

/// An actor as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInfo {
    /// Id.
    pub actor_id: ActorId,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Key.
    pub key: Option<String>,
    /// Runner pool.
    pub runner_name: String,
    /// `sleeping`, `starting`, `running` or `stopping`.
    pub state: &'static str,
    /// Current generation.
    pub generation: u32,
    /// Creation time, epoch ms.
    pub create_ts: i64,
}

/// One client connection of an actor, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// The adapter's id for the connection.
    pub client: ClientId,
    /// The tunnel request id, as 8 lowercase hex digits.
    pub request_id: String,
    /// `websocket` or `http`.
    pub kind: &'static str,
    /// WebSockets: `waiting`, `opening`, `open` or `hibernating`; HTTP: `waiting`, `sent` or
    /// `streaming`.
    pub state: &'static str,
    /// Path after the actor id.
    pub path: String,
    /// The runner allowed this socket to hibernate.
    pub can_hibernate: bool,
    /// Client frames accepted and not yet sent to the runner.
    pub queued_messages: usize,
    /// Sent to the runner and not yet acked.
    pub unacked_messages: usize,
    /// Bytes of those un-acked messages.
    pub unacked_bytes: usize,
    /// Reads of the client are paused (window or budget full).
    pub paused: bool,
}

/// An admin request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No such actor (404).
    NotFound(String),
    /// Conflicts with existing state (409).
    Conflict(String),
    /// The request is invalid (400).
    Invalid(String),
    /// Cannot be done now (503).
    Unavailable(String),
    /// The store failed for good (500): nothing durable was done.
    Store(String),
}

impl AdminError {
    /// The HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Invalid(_) => 400,
            Self::Unavailable(_) => 503,
            Self::Store(_) => 500,
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Invalid(m)
            | Self::Unavailable(m)
            | Self::Store(m) => f.write_str(m),
        }
    }
}

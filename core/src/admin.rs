//! The admin API's commands and replies (the HTTP mapping lives in the smol adapter).

use std::fmt;

use crate::ids::ActorId;
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
}

impl AdminError {
    /// The HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Invalid(_) => 400,
            Self::Unavailable(_) => 503,
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(m) | Self::Conflict(m) | Self::Invalid(m) | Self::Unavailable(m) => {
                f.write_str(m)
            }
        }
    }
}

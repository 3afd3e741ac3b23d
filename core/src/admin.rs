//! The admin API's commands and replies (the HTTP mapping lives in the smol adapter).

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{ActorId, ClientId};
use crate::store::{CrashPolicy, NamespaceRecord};
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
    /// What a crash means for it.
    pub crash_policy: CrashPolicy,
    /// Now, as wall-clock time (becomes `createTs`).
    pub wall: UnixMillis,
}

/// Which actors `GET /actors` returns, as the engine selects them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorFilter {
    /// These ids (the namespace must match; missing ones are left out).
    Ids(Vec<ActorId>),
    /// The one live actor with this name and key, if any.
    Key {
        /// Name.
        name: String,
        /// Key, exactly as stored.
        key: String,
    },
    /// Every actor with this name.
    Name(String),
    /// Every actor (Torpor extension: the engine requires a name).
    All,
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
    /// The actors of a namespace that match, newest first.
    List {
        /// Namespace.
        namespace: String,
        /// Which ones.
        filter: ActorFilter,
    },
    /// Stop the actor if running and delete it with its KV data.
    Destroy(ActorId),
    /// Put the actor to sleep.
    Sleep(ActorId),
    /// The actor's client connections (`GET /actors/{id}/sockets`).
    Sockets(ActorId),
    /// Creates a namespace (`POST /namespaces`); answered once it is stored.
    CreateNamespace {
        /// Name: `[a-z0-9-]`, at most 64, no leading, trailing or double `-`.
        name: String,
        /// Display name: 1 to 128 bytes, no leading, trailing or double spaces.
        display_name: String,
        /// Now (becomes `create_ts`).
        wall: UnixMillis,
    },
    /// Every namespace (`GET /namespaces`), or the one with this name.
    Namespaces {
        /// Name.
        name: Option<String>,
    },
    /// One KV entry of an actor (`GET /actors/{id}/kv/keys/{key}`), read through the store in
    /// order with the runner's own KV requests.
    KvGet {
        /// The actor.
        actor: ActorId,
        /// The key's bytes.
        key: Vec<u8>,
    },
    /// The actor names of a namespace (`GET /actors/names`): those its actors have and those
    /// its runners announced (`prepopulateActorNames`), by name, with JSON metadata.
    ActorNames {
        /// Namespace.
        namespace: String,
    },
    /// The runners of a namespace (`GET /runners`), optionally of one runner name.
    Runners {
        /// Namespace.
        namespace: String,
        /// Runner name.
        name: Option<String>,
    },
}

/// What an admin request returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// One actor; `created` tells get-or-create which happened.
    Actor {
        /// The actor (boxed: it would make every [`crate::Output`] four times its size, and
        /// every frame's output moves through the outbox).
        actor: Box<ActorInfo>,
        /// Whether this request created it.
        created: bool,
    },
    /// Several actors, by id.
    Actors(Vec<ActorInfo>),
    /// An actor's client connections, by client id.
    Sockets(Vec<SocketInfo>),
    /// Runners, by key.
    Runners(Vec<RunnerInfo>),
    /// Namespaces, by name.
    Namespaces(Vec<NamespaceRecord>),
    /// A KV entry.
    KvValue {
        /// The value.
        value: Vec<u8>,
        /// When it was last written, epoch ms.
        update_ts: i64,
    },
    /// Actor names with their metadata (JSON text; `{}` when only actors have the name).
    ActorNames(BTreeMap<String, String>),
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
    /// What a crash means for it.
    pub crash_policy: CrashPolicy,
    /// When it first ran in this gateway incarnation, epoch ms.
    pub start_ts: Option<i64>,
    /// When it last became running, while it runs.
    pub connectable_ts: Option<i64>,
    /// When it last fell asleep, while it sleeps.
    pub sleep_ts: Option<i64>,
    /// When it started waiting for a runner, while it waits.
    pub pending_allocation_ts: Option<i64>,
}

/// A runner process as the admin API shows it (kept while connected or within its lost
/// threshold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerInfo {
    /// Id given in its init.
    pub runner_id: String,
    /// Namespace.
    pub namespace: String,
    /// Runner name (the pool actors select).
    pub name: String,
    /// Its `runner_key`.
    pub key: String,
    /// Slots it announced.
    pub total_slots: u32,
    /// Slots not taken by actors.
    pub remaining_slots: u32,
    /// Connected now (else within its lost threshold).
    pub connected: bool,
    /// Draining: no new actors.
    pub draining: bool,
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

/// An admin request that failed, named as the Rivet Engine names the same situation
/// (`group.code`; see [`AdminError::group_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// `actor.not_found`: no such actor (in this namespace).
    NotFound(String),
    /// `namespace.not_found`.
    NamespaceNotFound(String),
    /// `namespace.name_not_unique`: a namespace with this name exists.
    NamespaceExists,
    /// `namespace.failed_to_create`: the name or display name is invalid (the reason).
    NamespaceInvalid(String),
    /// `actor.duplicate_key`: an actor with this name and key exists.
    DuplicateKey {
        /// The key asked for.
        key: String,
        /// The actor that holds it.
        existing: ActorId,
    },
    /// `actor.kv_key_not_found`: the actor has no entry under that key.
    KvKeyNotFound,
    /// `validation.invalid_input`: the request is invalid.
    Invalid(String),
    /// `guard.service_unavailable`: cannot be done now.
    Unavailable(String),
    /// `torpor.store_failed`: the store failed for good; nothing durable was done.
    Store(String),
}

impl AdminError {
    /// The HTTP status, as the engine's public API answers (every named error is a 400 there).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound(_)
            | Self::NamespaceNotFound(_)
            | Self::NamespaceExists
            | Self::NamespaceInvalid(_)
            | Self::DuplicateKey { .. }
            | Self::KvKeyNotFound
            | Self::Invalid(_) => 400,
            Self::Unavailable(_) => 503,
            Self::Store(_) => 500,
        }
    }

    /// The engine's error group and code.
    pub fn group_code(&self) -> (&'static str, &'static str) {
        match self {
            Self::NotFound(_) => ("actor", "not_found"),
            Self::NamespaceNotFound(_) => ("namespace", "not_found"),
            Self::NamespaceExists => ("namespace", "name_not_unique"),
            Self::NamespaceInvalid(_) => ("namespace", "failed_to_create"),
            Self::DuplicateKey { .. } => ("actor", "duplicate_key"),
            Self::KvKeyNotFound => ("actor", "kv_key_not_found"),
            Self::Invalid(_) => ("validation", "invalid_input"),
            Self::Unavailable(_) => ("guard", "service_unavailable"),
            Self::Store(_) => ("torpor", "store_failed"),
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateKey { key, existing } => {
                write!(f, "Actor key '{key}' already in use for actor '{existing}'")
            }
            Self::NamespaceExists => f.write_str("Namespace name must be unique."),
            Self::KvKeyNotFound => f.write_str("The KV key does not exist for this actor."),
            Self::NamespaceInvalid(reason) => write!(f, "Failed to create namespace: {reason}"),
            Self::NotFound(m)
            | Self::NamespaceNotFound(m)
            | Self::Invalid(m)
            | Self::Unavailable(m)
            | Self::Store(m) => f.write_str(m),
        }
    }
}

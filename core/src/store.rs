//! Storage as outputs: requests the core emits, replies it receives, and the durable records.

use std::fmt;

use std::time::Duration;

use crate::ids::ActorId;
use crate::page_store::{PageAnswer, PageOp};
use torpor_protocol::shared::{GatewayId, Headers, KvRequestData, KvResponseData, RequestId};

/// The durable part of an actor (the registry row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorRecord {
    /// Id.
    pub id: ActorId,
    /// Namespace it lives in.
    pub namespace: String,
    /// Name (the runner's actor type).
    pub name: String,
    /// Optional key, unique with the name.
    pub key: Option<String>,
    /// Runner pool it is placed on.
    pub runner_name: String,
    /// Creation time, epoch ms.
    pub create_ts: i64,
    /// Opaque input passed on every start.
    pub input: Option<Vec<u8>>,
    /// Last generation allocated, so generations keep growing across gateway restarts.
    pub generation: u32,
    /// Pending alarm, epoch ms.
    pub alarm_ts: Option<i64>,
    /// What a crash means for it.
    pub crash_policy: CrashPolicy,
}

/// What happens to an actor when it stops without having asked to (it crashed, or its runner
/// was lost), as on the Rivet Engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrashPolicy {
    /// Started again at once.
    Restart,
    /// Asleep until something needs it (RivetKit's choice).
    #[default]
    Sleep,
    /// Destroyed.
    Destroy,
}

impl CrashPolicy {
    /// The engine's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Sleep => "sleep",
            Self::Destroy => "destroy",
        }
    }

    /// Parses the engine's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "restart" => Some(Self::Restart),
            "sleep" => Some(Self::Sleep),
            "destroy" => Some(Self::Destroy),
            _ => None,
        }
    }
}

/// What the store must do. Every request is idempotent (keyed by natural key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    /// Insert or replace the actor's registry row (boxed: the largest request by far, and every
    /// output moves through the outbox).
    PutActor(Box<ActorRecord>),
    /// Delete the actor's registry row and all its KV and SQLite data.
    DeleteActor(ActorId),
    /// Insert a namespace (created at run time).
    PutNamespace(NamespaceRecord),
    /// Execute a runner's KV request for this actor; reply with [`StoreReply::Kv`].
    Kv {
        /// The actor whose keys these are.
        actor: ActorId,
        /// The request, exactly as the runner sent it (boxed, like the rows: outputs stay small).
        request: Box<KvRequestData>,
    },
    /// Execute an actor's SQLite page-store call ([`crate::page_store`]), fenced by the
    /// caller's generation against the registry's; reply with [`StoreReply::Pages`].
    Pages {
        /// The actor whose database it is.
        actor: ActorId,
        /// The calling instance's generation.
        generation: u64,
        /// The call (boxed: pages are large, and outputs stay small).
        op: Box<PageOp>,
    },
    /// Insert or replace a hibernation index row (written once per socket: it stays alive
    /// through its gateway's lease).
    PutHibernation(Box<HibernationRow>),
    /// Renew this gateway incarnation's lease to the store's wall clock: its rows are live
    /// while the lease is fresh. One write per renewal period, whatever the number of rows.
    RenewLease {
        /// The gateway incarnation.
        gateway_id: GatewayId,
    },
    /// Delete one row (the socket ended).
    DeleteHibernation {
        /// The gateway incarnation owning the row.
        gateway_id: GatewayId,
        /// The socket and its actor.
        key: IndexKey,
    },
    /// Delete every row and lease of other gateway incarnations (at startup: their sockets
    /// died with them).
    PurgeHibernation {
        /// This incarnation, whose rows stay.
        keep: GatewayId,
    },
    /// Delete the rows of gateways whose lease was not renewed for `older_than` (or that have
    /// none), and those leases.
    GcHibernation {
        /// Age limit.
        older_than: Duration,
    },
}

/// Which row of the hibernation index: a socket and its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexKey {
    /// The actor behind the socket.
    pub actor: ActorId,
    /// The socket's request id.
    pub request_id: RequestId,
}

/// One hibernatable socket in the index (for inspection and restart purges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HibernationRow {
    /// The actor behind the socket.
    pub actor: ActorId,
    /// Gateway incarnation.
    pub gateway_id: GatewayId,
    /// The socket's request id.
    pub request_id: RequestId,
    /// Path after the actor prefix.
    pub path: String,
    /// Request headers.
    pub headers: Headers,
}

/// A successful store result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// The write is durable.
    Done,
    /// A KV response (which may itself be a `KvErrorResponse` for invalid requests).
    Kv(KvResponseData),
    /// A page-store answer (which may itself be a refusal: a fence, a limit).
    Pages(PageAnswer),
}

/// A failed store operation, by class (the adapter maps its own errors to these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFailure {
    /// The database is locked; retrying soon will likely work.
    Busy,
    /// An I/O error (disk full, permissions, …).
    Io(String),
    /// A constraint was violated.
    Constraint(String),
    /// The database is corrupt.
    Corrupt(String),
}

impl StoreFailure {
    /// Whether retrying can help: a busy or failing disk may recover; a constraint violation
    /// or a corrupt database will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy | Self::Io(_))
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str("store busy"),
            Self::Io(m) => write!(f, "store I/O error: {m}"),
            Self::Constraint(m) => write!(f, "store constraint violated: {m}"),
            Self::Corrupt(m) => write!(f, "store corrupt: {m}"),
        }
    }
}

/// What the store held at startup, handed to [`crate::Gateway::restore`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every registry row.
    pub actors: Vec<ActorRecord>,
    /// Namespaces created at run time (those of the config exist anyway).
    pub namespaces: Vec<NamespaceRecord>,
}

/// A namespace created through the API (`POST /namespaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRecord {
    /// Name (`[a-z0-9-]`, as on the engine).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Creation time, epoch ms.
    pub create_ts: i64,
}

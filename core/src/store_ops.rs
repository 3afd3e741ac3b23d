//! Store operations in flight: issue, complete, retry.
//!
//! Transient failures (busy, I/O) of registry and index writes are retried with capped
//! exponential backoff until they succeed (a retry writes the actor's *current* row, so a late
//! retry never reverts a newer write). Permanent ones (constraint, corruption) are never
//! retried: each has a defined effect (`store_failed_for_good`). KV and page-store requests are
//! not retried: the runner gets an error response and decides.

use crate::ids::{ActorId, AdminReqId, ClientId};
use crate::runner::RunnerIdx;
use crate::store::StoreRequest;

/// What a completion is for.
#[derive(Debug)]
pub(crate) enum Purpose {
    /// A registry row update.
    PutActor {
        actor: ActorId,
        /// The generation the write carries: once it is durable, a restart never reuses it.
        generation: u32,
    },
    /// A namespace created at run time; the admin request is answered on success.
    CreateNamespace {
        record: crate::store::NamespaceRecord,
        req: AdminReqId,
    },
    /// The first row of a new actor; the admin request is answered on success.
    CreateActor { actor: ActorId, req: AdminReqId },
    /// Deleting a destroyed actor; its admin requests are answered on success.
    DeleteActor {
        actor: ActorId,
        waiters: Vec<AdminReqId>,
    },
    /// A hibernation index row for a live socket (retried only while the socket lives).
    IndexPut(ClientId),
    /// Another index operation, retried as it was.
    Index(StoreRequest),
    /// A runner's KV request; answered on the runner's current connection.
    Kv { runner: RunnerIdx, request_id: u32 },
    /// A runner's page-store call; answered like a KV request (not retried: the actor's VFS
    /// gets the error and decides).
    Pages {
        runner: RunnerIdx,
        request_id: u32,
        kind: crate::page_store::PageOpKind,
    },
    /// `GET /actors/{id}/kv/keys/{key}`: one key read for the admin API (not retried, like a
    /// runner's KV request: the caller gets the error).
    AdminKvGet(AdminReqId),
}

#[derive(Debug)]
pub(crate) struct PendingOp {
    pub(crate) purpose: Purpose,
    /// Failed attempts so far.
    pub(crate) attempts: u32,
}

impl PendingOp {
    /// The same operation after one more failed attempt.
    pub(crate) fn failed_once_more(self) -> Self {
        Self {
            purpose: self.purpose,
            attempts: self.attempts + 1,
        }
    }
}

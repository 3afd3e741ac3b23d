//! The hibernation index as store operations: a row per hibernatable socket, written once
//! when the runner accepts it and deleted on every close path; the rows stay alive through this
//! gateway incarnation's **lease**, one row renewed every half eligibility threshold while it
//! has rows. Keepalive therefore costs one store write per interval whatever the number of
//! sockets; a row is stale when its gateway's lease is (DESIGN.md guarantee 8).
//!
//! Memory is authoritative on one node (the `hibernatingRequests` of a start come from live
//! sockets, never from rows), so index failures are retried and counted but never touch a
//! socket.

use crate::time::Instant;

/// The index's bookkeeping: how many rows this incarnation has, and its lease.
#[derive(Default)]
pub(crate) struct IndexSchedule {
    /// Live rows (written, not deleted).
    pub(crate) rows: usize,
    /// When the lease was last renewed (issued), if ever.
    pub(crate) lease_renewed: Option<Instant>,
    /// The next stale-row collection rides on a renewal at or after this: an idle gateway
    /// emits nothing, and rows of this incarnation are deleted by their owner anyway.
    pub(crate) next_gc: Instant,
}

impl IndexSchedule {
    pub(crate) fn len(&self) -> usize {
        self.rows
    }
}

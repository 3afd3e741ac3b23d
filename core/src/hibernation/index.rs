//! The hibernation index as store operations: a row per hibernatable socket, written once
//! when the runner accepts it and deleted on every close path; the rows stay alive through this
//! gateway incarnation's **lease**, one row renewed every half eligibility threshold while it
//! has rows. Keepalive therefore costs one store write per interval whatever the number of
//! sockets; a row is stale when its gateway's lease is (DESIGN.md guarantee 8).
//!
//! Memory is authoritative on one node (the `hibernatingRequests` of a start come from live
//! sockets, never from rows), so index failures are retried and counted but never touch a
//! socket.

use std::time::Duration;

use crate::time::Instant;

/// The index's bookkeeping: how many rows this incarnation has, and its lease.
#[derive(Default)]
pub(crate) struct IndexSchedule {
    /// Live rows (written, not deleted).
    rows: usize,
    /// When the lease was last renewed (issued), if ever.
    lease_renewed: Option<Instant>,
    /// The next stale-row collection rides on a renewal at or after this: an idle gateway
    /// emits nothing, and rows of this incarnation are deleted by their owner anyway.
    next_gc: Instant,
}

impl IndexSchedule {
    /// Live rows.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// A socket's row was issued.
    pub(crate) fn row_written(&mut self) {
        self.rows += 1;
    }

    /// A socket's row delete was issued.
    pub(crate) fn row_deleted(&mut self) {
        self.rows -= 1;
    }

    /// When the lease was renewed, if that was less than `fresh_for` ago: no renewal needed.
    pub(crate) fn fresh_renewal(&self, now: Instant, fresh_for: Duration) -> Option<Instant> {
        self.lease_renewed
            .filter(|at| now.saturating_since(*at) < fresh_for)
    }

    /// A renewal was issued now.
    pub(crate) fn renewed(&mut self, now: Instant) {
        self.lease_renewed = Some(now);
    }

    /// Whether stale rows are due for collection.
    pub(crate) fn gc_due(&self, now: Instant) -> bool {
        now >= self.next_gc
    }

    /// A collection was issued now; the next is due `every` later.
    pub(crate) fn collected(&mut self, now: Instant, every: Duration) {
        self.next_gc = now.saturating_add(every);
    }
}

//! [`BodyBudget`]: the HTTP request bodies the adapter holds at once. A body is read whole
//! before the core sees it and kept until the actor answers; without a bound, many large
//! uploads at once (each up to the 32 MiB message limit) could exhaust the gateway's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) struct BodyBudget {
    used: AtomicUsize,
    limit: usize,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// The most that may be held at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// An empty reservation, grown as a body arrives and given back when dropped.
    pub(crate) fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: Arc::clone(self),
            bytes: 0,
        }
    }
}

/// Bytes one request holds against the [`BodyBudget`].
pub(crate) struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Reservation {
    /// Grows the reservation to `total` bytes; `false`, with nothing more reserved, if that
    /// would take the budget past its limit.
    pub(crate) fn cover(&mut self, total: usize) -> bool {
        let Some(more) = total.checked_sub(self.bytes).filter(|&m| m > 0) else {
            return true;
        };
        let limit = self.budget.limit;
        let grown = self
            .budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|&n| n <= limit)
            });
        if grown.is_ok() {
            self.bytes = total;
        }
        grown.is_ok()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_limit_and_give_back_on_drop() {
        let budget = BodyBudget::new(100);
        let mut a = budget.reservation();
        assert!(a.cover(60));
        assert!(a.cover(40), "shrinking or equal is free");
        let mut b = budget.reservation();
        assert!(b.cover(40));
        assert!(!b.cover(41), "60 + 41 is over 100");
        assert!(b.cover(40), "a refused growth keeps what was reserved");
        drop(a);
        assert!(b.cover(100), "a's 60 came back");
        let mut c = budget.reservation();
        assert!(!c.cover(1));
        drop(b);
        assert!(c.cover(100));
    }
}

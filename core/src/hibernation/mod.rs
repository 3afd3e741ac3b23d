//! WebSocket hibernation: sockets that outlive their actor's allocation.
//!
//! When the actor of an open hibernatable socket stops for any reason, the socket detaches: no
//! close goes to either side, its un-acked messages stay, client frames queue (reads pause at
//! the window), and it is listed in every later start of the actor. The first queued frame (or
//! a due alarm) wakes the actor; once it runs, the socket re-attaches without a new open, its
//! un-acked messages are resent with their original indices and bytes, and queued frames follow
//! with fresh indices. Un-acked messages alone never wake an actor.

mod index;
mod pending;

pub(crate) use index::IndexSchedule;
pub(crate) use pending::{KEEP_CAPACITY, Pending, wrapping_gt};

use bytes::Bytes;

/// A client close the runner must still hear about: the socket was listed in a start command
/// already on its way, so the runner will restore it (RUNNER-PROTOCOL §17 #14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseAfterRunning {
    pub(crate) frame: Bytes,
}

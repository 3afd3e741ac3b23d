//! Caller misuse: sequences a correct adapter never produces.

use std::fmt;

use crate::ids::{ClientId, OpId, RunnerConnId};
use crate::time::Instant;

/// The adapter broke the core's contract. The core's state is unchanged when this is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// `now` is earlier than a previous call's.
    TimeWentBack {
        /// The latest `now` seen.
        last: Instant,
        /// The `now` passed.
        now: Instant,
    },
    /// Outputs were still queued: drain [`crate::Gateway::poll_output`] before the next input.
    NotDrained,
    /// A runner connection id that is already in use.
    DuplicateRunnerConn(RunnerConnId),
    /// A client id that is already in use.
    DuplicateClient(ClientId),
    /// A completion for an op id the core never issued.
    UnknownOp(OpId),
    /// [`crate::Gateway::restore`] after traffic started, or twice.
    LateRestore,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimeWentBack { last, now } => {
                write!(f, "time went back from {last:?} to {now:?}")
            }
            Self::NotDrained => f.write_str("handle called with outputs still queued"),
            Self::DuplicateRunnerConn(c) => write!(f, "runner connection {c} already exists"),
            Self::DuplicateClient(c) => write!(f, "client {c} already exists"),
            Self::UnknownOp(op) => write!(f, "completion for {op}, which was never issued"),
            Self::LateRestore => f.write_str("restore must come first and only once"),
        }
    }
}

impl std::error::Error for UsageError {}

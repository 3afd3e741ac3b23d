//! `torpor-core`: the sans-IO heart of Torpor, a WebSocket hibernation gateway.
//!
//! The crate has no clock, no sockets, no threads and no ambient randomness: adapters feed it
//! bytes and time and execute what it asks for. It holds one state machine, [`Gateway`]; the
//! runner protocol's codec is `torpor-protocol`'s, mapped onto the core's own vocabulary in
//! `link`.
//!
//! # Driving the gateway
//!
//! 1. Build it with [`Gateway::new`] (config, seed, clocks) and load the store's snapshot with
//!    [`Gateway::restore`] before any traffic. Every call takes both clocks: `now`, monotonic,
//!    for deadlines, and the wall clock ([`UnixMillis`]) for timestamps and alarms; the core
//!    never derives one from the other.
//! 2. Feed one input with [`Gateway::handle`] (or due timers with [`Gateway::handle_timeout`]),
//!    then call [`Gateway::poll_output`] until it returns `None`, executing each [`Output`].
//! 3. Read [`Gateway::poll_timeout`]; wake at the earlier of that deadline and the next input.
//! 4. `now` never goes back; `handle` with outputs still queued is [`UsageError::NotDrained`].
//!    Every `Err` leaves the state exactly as it was.
//!
//! ```no_run
//! use torpor_core::{Config, Gateway, Instant, Snapshot, UnixMillis};
//! let now = Instant::from_millis(0);
//! let mut gw = Gateway::new(Config::default(), 42, now, UnixMillis(1_700_000_000_000)).unwrap();
//! let wall = UnixMillis(1_700_000_000_000);
//! gw.restore(now, wall, Snapshot::default()).unwrap();
//! loop {
//!     while let Some(output) = gw.poll_output() {
//!         // execute: write frames, close sockets, run store ops, answer admin requests …
//!         # let _ = output;
//!     }
//!     // wait for the next input or gw.poll_timeout(), then:
//!     gw.handle_timeout(Instant::from_millis(1), UnixMillis(1_700_000_000_001)).unwrap();
//!     # break;
//! }
//! ```
//!
//! Same seed and same inputs give byte-identical outputs.
#![warn(missing_docs)]
// Peer data must never panic the core: no unwrap or expect outside tests and the testkit.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod actor;
mod admin;
mod config;
mod cx;
mod engine_error;
mod error;
mod gateway;
mod hibernation;
mod ids;
mod io;
pub mod kv_policy;
mod link;
mod metrics;
mod notice;
pub mod page_store;
/// The simulator's runner model and the tests play a v7 runner: its messages with their shared
/// types, under one crate-private name. The core itself sees only `link`'s vocabulary.
#[cfg(any(test, feature = "testkit"))]
mod protocol {
    #[cfg(test)]
    pub(crate) use torpor_protocol::StrMap;
    pub(crate) use torpor_protocol::shared::*;
    pub(crate) use torpor_protocol::v7::*;
}
mod runner;
mod store;
mod store_ops;
#[cfg(test)]
mod tests;
mod time;
mod timer;
mod tunnel;

pub use admin::{
    ActorFilter, ActorInfo, AdminCommand, AdminError, AdminReply, CreateActor, RunnerInfo,
    SocketInfo,
};
pub use config::{Config, ConfigError};
pub use engine_error::EngineError;
pub use error::UsageError;
pub use gateway::Gateway;
pub use ids::{ActorId, AdminReqId, ClientId, OpId, RunnerConnId};
pub use io::{ClientFrame, CloseFrame, Input, Output, RunnerParams};
pub use metrics::{Histogram, Histograms, Metrics};
pub use notice::{NOTICES_KEPT, Notice};
pub use runner::RunnerIdx;
pub use store::{
    ActorRecord, CrashPolicy, HibernationRow, IndexKey, NamespaceRecord, Snapshot, StoreFailure,
    StoreReply, StoreRequest,
};
pub use time::{Instant, UnixMillis};
pub use timer::TimerKey;

#[cfg(any(test, feature = "testkit"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod testkit;

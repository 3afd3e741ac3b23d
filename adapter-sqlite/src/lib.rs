//! `torpor-sqlite`: executes the core's store operations against one SQLite file — the
//! hibernation index, the actor registry, actor KV and actors' SQLite databases (pages).
//!
//! [`Store`] is synchronous (an embedder's own loop can call [`Store::execute`] directly);
//! [`Writer`] runs it on the one thread that owns the connection, batching everything queued
//! into one transaction. Startup: [`Store::open`] migrates, [`Store::snapshot`] loads the
//! registry for `Gateway::restore`, and the core's first outputs purge index rows of earlier
//! gateway incarnations.
#![warn(missing_docs)]

mod error;
mod kv;
mod pages;
mod schema;
mod store;
mod writer;

pub use error::OpenError;
pub use store::{
    BackupReport, BackupSummary, Completion, IndexRow, Store, actor_exists, count_rows,
    inspect_file,
};
pub use writer::{Writer, wall_ms};

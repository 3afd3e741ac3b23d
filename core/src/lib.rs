//! `torpor-core`: the sans-IO heart of Torpor, a WebSocket hibernation gateway.
//!
//! The crate has no clock, no sockets, no threads and no ambient randomness: the adapters feed
//! it bytes and time and execute what it asks for. Today it holds the runner-protocol codec
//! ([`protocol`]); the gateway state machine builds on it.
#![warn(missing_docs)]

pub mod protocol;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

//! `torpor-smol`: drives the core over real sockets with smol, hyper and async-tungstenite,
//! and ships the `torpor` binary.
//!
//! One task owns the [`torpor_core::Gateway`] (the hub); every connection has its own tasks and
//! talks to the hub through a bounded channel; the hub writes to per-socket queues; store
//! operations run on the `torpor-sqlite` writer thread. [`runtime::Background`] runs a whole
//! server on its own threads (tests, benches, embedding).
#![warn(missing_docs)]

mod api;
mod api_error;
mod auth;
pub mod backup;
mod body_budget;
pub mod config;
mod http;
mod hub;
mod ip_limit;
mod links;
pub mod logging;
mod metrics;
mod outbox;
pub mod runtime;
pub mod server;
mod story;
mod websocket;

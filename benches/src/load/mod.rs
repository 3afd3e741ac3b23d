//! `torpor-load`: drives client sockets through a running gateway to a Rust runner hosting echo
//! actors, and the same clients against a direct echo server, and reports both side by side.

pub mod admin;
pub mod clients;
pub mod echo_server;
pub mod procs;
pub mod stats;

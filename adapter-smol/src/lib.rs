//! `torpor-smol`: drives the core over real sockets with smol and async-tungstenite.
//!
//! Built so far: the `torpor serve` settings ([`config`]): flags, `TORPOR_*` environment
//! variables and a TOML file, resolved and validated with errors naming the setting. The
//! HTTP/WebSocket server and the `torpor` binary are next.
#![warn(missing_docs)]

pub mod config;

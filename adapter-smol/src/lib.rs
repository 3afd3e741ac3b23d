//! `torpor-smol`: drives the core over real sockets with smol and async-tungstenite.
//!
//! Not built yet: the HTTP/WebSocket server and the `torpor` binary arrive with the server
//! issue. The crate exists so the workspace layout is final.

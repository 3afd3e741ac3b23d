//! Scenario tests through the in-test driver: each asserts the exact outputs, with runner bytes
//! decoded back to protocol types.

mod actors;
mod admin_api;
mod basics;
mod determinism;
mod hibernation;
mod hibernation_flow;
mod hibernation_sim;
mod http;
mod isolation;
mod restore;
mod runner;
mod websocket;

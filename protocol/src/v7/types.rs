//! v7's own types: protocol metadata and commands.
//!
//! Field names are the schema's in snake case; field order is the schema's and defines the bytes.

use crate::shared::{ActorCheckpoint, ActorConfig, HibernatingRequest};
use crate::wire::{wire_struct, wire_union};

wire_struct! {
    /// Values the runner gets in `ToClientInit` (all milliseconds).
    pub struct ProtocolMetadata {
        /// Disconnect duration after which the runner stops its actors (0 disables it).
        pub runner_lost_threshold: i64,
        /// Unused by the TypeScript runner.
        pub actor_stop_threshold: i64,
        /// Serverless runners only.
        pub serverless_drain_grace_period: Option<i64>,
    }
}

// ---------------------------------------------------------------- commands (server → runner)

wire_struct! {
    /// Body of `Command::StartActor`.
    pub struct CommandStartActor {
        /// Actor configuration.
        pub config: ActorConfig,
        /// Every live hibernatable socket of the actor.
        pub hibernating_requests: Vec<HibernatingRequest>,
    }
}

wire_union! {
    /// A command to the runner about one actor.
    pub enum Command: "Command", "" {
        /// Start (or replace) the actor instance.
        0 => StartActor(CommandStartActor),
        /// Stop the actor instance of the checkpoint's generation.
        1 => StopActor,
    }
}

wire_struct! {
    /// A command with its checkpoint.
    pub struct CommandWrapper {
        /// Actor, generation and command index.
        pub checkpoint: ActorCheckpoint,
        /// The command.
        pub inner: Command,
    }
}

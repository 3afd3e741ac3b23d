//! v8's own actor types: protocol metadata, preloaded KV, and commands (a stop carries its
//! reason; a start carries the actor's preloaded KV).
//!
//! Field names are the schema's in snake case; field order is the schema's and defines the bytes.

use crate::shared::{ActorCheckpoint, ActorConfig, HibernatingRequest, KvMetadata};
use crate::wire::{wire_enum, wire_struct, wire_union};

wire_struct! {
    /// Values the envoy gets in `ToEnvoyInit` (thresholds in milliseconds).
    pub struct ProtocolMetadata {
        /// Disconnect duration after which the envoy stops its actors.
        pub envoy_lost_threshold: i64,
        /// How long an actor may take to stop.
        pub actor_stop_threshold: i64,
        /// Largest response body the engine accepts in one message.
        pub max_response_payload_size: u64,
    }
}

wire_struct! {
    /// One KV entry handed to a starting actor.
    pub struct PreloadedKvEntry {
        /// Key bytes.
        pub key: Vec<u8>,
        /// Value bytes.
        pub value: Vec<u8>,
        /// Its metadata.
        pub metadata: KvMetadata,
    }
}

wire_struct! {
    /// KV the engine read ahead for a starting actor, and what it was asked for.
    pub struct PreloadedKv {
        /// The entries found.
        pub entries: Vec<PreloadedKvEntry>,
        /// Keys that were looked up (found or not).
        pub requested_get_keys: Vec<Vec<u8>>,
        /// Prefixes that were listed.
        pub requested_prefixes: Vec<Vec<u8>>,
    }
}

wire_struct! {
    /// Body of `Command::StartActor`.
    pub struct CommandStartActor {
        /// Actor configuration.
        pub config: ActorConfig,
        /// Every live hibernatable socket of the actor.
        pub hibernating_requests: Vec<HibernatingRequest>,
        /// KV read ahead for the actor, if any.
        pub preloaded_kv: Option<PreloadedKv>,
    }
}

wire_enum! {
    /// Why the engine stops an actor.
    pub enum StopActorReason {
        /// The actor asked to sleep.
        0 => SleepIntent,
        /// The actor asked to stop.
        1 => StopIntent,
        /// The actor is destroyed.
        2 => Destroy,
        /// The envoy is going away.
        3 => GoingAway,
        /// The envoy was lost.
        4 => Lost,
    }
}

wire_struct! {
    /// Body of `Command::StopActor`.
    pub struct CommandStopActor {
        /// Why.
        pub reason: StopActorReason,
    }
}

wire_union! {
    /// A command to the envoy about one actor.
    pub enum Command: "Command", "" {
        /// Start (or replace) the actor instance.
        0 => StartActor(CommandStartActor),
        /// Stop the actor instance of the checkpoint's generation.
        1 => StopActor(CommandStopActor),
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

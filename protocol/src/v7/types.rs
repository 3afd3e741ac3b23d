//! v7's own types: actor names, protocol metadata, events and commands.
//!
//! Field names are the schema's in snake case; field order is the schema's and defines the bytes.

use crate::shared::{ActorCheckpoint, ActorConfig, HibernatingRequest, StopCode};
use crate::wire::{wire_struct, wire_union};

wire_struct! {
    /// An actor name the runner can host, with JSON metadata.
    pub struct ActorName {
        /// JSON text.
        pub metadata: String,
    }
}

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

// ---------------------------------------------------------------- events (runner → server)

wire_union! {
    /// What the actor asks the server to do with it.
    pub enum ActorIntent: "ActorIntent", "" {
        /// `sleepActor`.
        0 => Sleep,
        /// `stopActor` / `destroyActor`.
        1 => Stop,
    }
}

wire_struct! {
    /// Body of `ActorState::Stopped`.
    pub struct ActorStateStopped {
        /// Stop code (a sleep reports `Error`).
        pub code: StopCode,
        /// Optional message.
        pub message: Option<String>,
    }
}

wire_union! {
    /// Actor state reported by the runner.
    pub enum ActorState: "ActorState", "" {
        /// The actor is running (sent before `onActorStart` completes).
        0 => Running,
        /// The actor stopped.
        1 => Stopped(ActorStateStopped),
    }
}

wire_struct! {
    /// Body of `Event::ActorIntent`.
    pub struct EventActorIntent {
        /// The intent.
        pub intent: ActorIntent,
    }
}

wire_struct! {
    /// Body of `Event::ActorStateUpdate`.
    pub struct EventActorStateUpdate {
        /// The new state.
        pub state: ActorState,
    }
}

wire_struct! {
    /// Body of `Event::ActorSetAlarm`.
    pub struct EventActorSetAlarm {
        /// Alarm time in epoch milliseconds, or `None` to clear.
        pub alarm_ts: Option<i64>,
    }
}

wire_union! {
    /// A runner event about one actor.
    pub enum Event: "Event", "" {
        /// Sleep or stop intent.
        0 => ActorIntent(EventActorIntent),
        /// Running or stopped.
        1 => ActorStateUpdate(EventActorStateUpdate),
        /// Alarm set or cleared.
        2 => ActorSetAlarm(EventActorSetAlarm),
    }
}

wire_struct! {
    /// An event with its checkpoint (for dedupe and acks).
    pub struct EventWrapper {
        /// Actor, generation and event index.
        pub checkpoint: ActorCheckpoint,
        /// The event.
        pub inner: Event,
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

//! The two top-level frames: `ToServer` (runner → server) and `ToClient` (server → runner).

use super::tunnel::{ToClientTunnelMessage, ToServerTunnelMessage};
use super::types::{CommandWrapper, ProtocolMetadata};
use crate::map::StrMap;
use crate::shared::{ActorCheckpoint, ActorName, EventWrapper, KvRequestData, KvResponseData};
use crate::wire::{wire_struct, wire_union};

wire_struct! {
    /// The runner's first frame.
    pub struct ToServerInit {
        /// Runner name (placement pool).
        pub name: String,
        /// Application version.
        pub version: u32,
        /// Declared capacity.
        pub total_slots: u32,
        /// Actor names this runner hosts, with JSON metadata.
        pub prepopulate_actor_names: Option<StrMap<ActorName>>,
        /// JSON metadata.
        pub metadata: Option<String>,
    }
}

wire_struct! {
    /// Last start command processed per actor (sent every 5 minutes).
    pub struct ToServerAckCommands {
        /// Checkpoints.
        pub last_command_checkpoints: Vec<ActorCheckpoint>,
    }
}

wire_struct! {
    /// Answer to `ToClientPing`, echoing its `ts`.
    pub struct ToServerPong {
        /// The ping's timestamp.
        pub ts: i64,
    }
}

wire_struct! {
    /// A KV request of one actor.
    pub struct ToServerKvRequest {
        /// The actor.
        pub actor_id: String,
        /// Runner-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: KvRequestData,
    }
}

wire_union! {
    /// Runner → server frame.
    pub enum ToServer: "ToServer", "" {
        /// Handshake.
        0 => Init(ToServerInit),
        /// Actor events.
        1 => Events(Vec<EventWrapper>),
        /// Command acknowledgements.
        2 => AckCommands(ToServerAckCommands),
        /// The runner is draining.
        3 => Stopping,
        /// Ping answer.
        4 => Pong(ToServerPong),
        /// KV request.
        5 => KvRequest(ToServerKvRequest),
        /// Tunnel message.
        6 => TunnelMessage(ToServerTunnelMessage),
    }
}

wire_struct! {
    /// Handshake answer.
    pub struct ToClientInit {
        /// Stable per runner key; a change makes the runner stop all its actors.
        pub runner_id: String,
        /// Timing parameters.
        pub metadata: ProtocolMetadata,
    }
}

wire_struct! {
    /// Acknowledged events per actor.
    pub struct ToClientAckEvents {
        /// Checkpoints.
        pub last_event_checkpoints: Vec<ActorCheckpoint>,
    }
}

wire_struct! {
    /// Answer to a KV request.
    pub struct ToClientKvResponse {
        /// The request's id.
        pub request_id: u32,
        /// The response.
        pub data: KvResponseData,
    }
}

wire_struct! {
    /// Liveness probe; the runner echoes `ts`.
    pub struct ToClientPing {
        /// Epoch milliseconds.
        pub ts: i64,
    }
}

wire_union! {
    /// Server → runner frame.
    pub enum ToClient: "ToClient", "" {
        /// Handshake answer.
        0 => Init(ToClientInit),
        /// Actor commands.
        1 => Commands(Vec<CommandWrapper>),
        /// Event acknowledgements.
        2 => AckEvents(ToClientAckEvents),
        /// KV response.
        3 => KvResponse(ToClientKvResponse),
        /// Tunnel message.
        4 => TunnelMessage(ToClientTunnelMessage),
        /// Ping.
        5 => Ping(ToClientPing),
    }
}

crate::wire::frame_codec!(ToServer, ToClient);

//! A read-only view of the gateway's state for the test driver, the simulator and the fuzz
//! oracles (compiled with `testkit` and for tests only). They drive the gateway through its
//! public API and look at it through this view, never through the sub-machines' fields, so a
//! sub-machine can change how it keeps its state without breaking them.

use super::Gateway;
use crate::actor::Phase;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::runner::RunnerIdx;
use crate::store::ActorRecord;
use crate::tunnel::{ClientKind, WsPhase};
use torpor_protocol::shared::RequestId;

/// The view; see [`Gateway::inspect`].
#[derive(Clone, Copy)]
pub(crate) struct Inspect<'a> {
    gw: &'a Gateway,
}

/// One client WebSocket as the gateway holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketView {
    pub(crate) actor: ActorId,
    pub(crate) request_id: RequestId,
    pub(crate) phase: WsPhase,
    pub(crate) can_hibernate: bool,
    /// Accepted frames not sent to the runner yet.
    pub(crate) queued_messages: usize,
    pub(crate) queued_bytes: usize,
    /// Sent messages kept until acked (hibernatable sockets).
    pub(crate) unacked_messages: usize,
    pub(crate) unacked_bytes: usize,
    /// Its client's reads are paused.
    pub(crate) paused: bool,
    /// The index its next tunnel message gets.
    pub(crate) next_index: u16,
}

impl Gateway {
    /// The read-only inspection view.
    pub(crate) fn inspect(&self) -> Inspect<'_> {
        Inspect { gw: self }
    }
}

impl<'a> Inspect<'a> {
    /// Every client it holds (WebSockets and HTTP requests).
    pub(crate) fn clients(&self) -> impl Iterator<Item = ClientId> + 'a {
        self.gw.clients.map.keys().copied()
    }

    /// The client a request id routes to.
    pub(crate) fn client_of(&self, request: RequestId) -> Option<ClientId> {
        self.gw.clients.requests.get(&request).copied()
    }

    /// The request id a client is known to the runner by.
    pub(crate) fn request_of(&self, client: ClientId) -> Option<RequestId> {
        self.gw.clients.map.get(&client).map(|c| c.request_id)
    }

    /// The actor a client belongs to.
    pub(crate) fn actor_of(&self, client: ClientId) -> Option<ActorId> {
        self.gw.clients.map.get(&client).map(|c| c.actor)
    }

    /// A client WebSocket's state (`None` for HTTP requests and clients it no longer holds).
    pub(crate) fn socket(&self, client: ClientId) -> Option<SocketView> {
        let c = self.gw.clients.map.get(&client)?;
        let ClientKind::WebSocket(ws) = &c.kind else {
            return None;
        };
        Some(SocketView {
            actor: c.actor,
            request_id: c.request_id,
            phase: ws.phase,
            can_hibernate: ws.can_hibernate,
            queued_messages: ws.queued.len(),
            queued_bytes: ws.queued_bytes,
            unacked_messages: ws.pending.len(),
            unacked_bytes: ws.pending.bytes(),
            paused: ws.paused,
            next_index: c.next_index,
        })
    }

    /// Every actor in the registry, in id order.
    pub(crate) fn actors(&self) -> Vec<ActorId> {
        let mut ids: Vec<ActorId> = self.gw.actors.map.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// An actor's allocation phase.
    pub(crate) fn actor_phase(&self, actor: ActorId) -> Option<Phase> {
        self.gw.actors.map.get(&actor).map(|a| a.phase)
    }

    /// Whether requests can go to the actor now (it runs on a connected runner).
    pub(crate) fn actor_ready(&self, actor: ActorId) -> bool {
        crate::tunnel::ready(&self.gw.actors, &self.gw.runners, actor)
    }

    /// An actor's registry record, as the gateway last wrote it.
    pub(crate) fn actor_record(&self, actor: ActorId) -> Option<&'a ActorRecord> {
        self.gw.actors.map.get(&actor).map(|a| &a.record)
    }

    /// The runner instance a live connection is bound to.
    pub(crate) fn runner_of_conn(&self, conn: RunnerConnId) -> Option<RunnerIdx> {
        self.gw.runners.instance_of(conn)
    }

    /// A runner instance's live connection.
    pub(crate) fn conn_of_runner(&self, runner: RunnerIdx) -> Option<RunnerConnId> {
        self.gw.runners.conn_of(runner)
    }

    /// Whether the gateway still holds this runner connection (open, bound or not).
    pub(crate) fn conn_is_open(&self, conn: RunnerConnId) -> bool {
        self.gw.runners.conns.contains_key(&conn)
    }

    /// Frames held for each runner instance while it is away.
    pub(crate) fn runner_outboxes(&self) -> impl Iterator<Item = (RunnerIdx, usize)> + 'a {
        self.gw
            .runners
            .instances
            .iter()
            .map(|(idx, i)| (*idx, i.outbox.len()))
    }

    /// Store operations issued and not completed yet (retries included).
    pub(crate) fn store_ops_in_flight(&self) -> usize {
        self.gw.ops.len()
    }
}

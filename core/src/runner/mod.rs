//! Runner connections and runner instances.
//!
//! A *connection* is one WebSocket; a *runner instance* is one runner process, identified by
//! its `runner_key` and kept across reconnects until it has been gone for the lost threshold.
//! Actors are allocated to instances, so a reconnect with the same key resumes them untouched.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use bytes::Bytes;

use crate::admin::RunnerInfo;
use crate::ids::{ActorId, RunnerConnId};
use crate::io::RunnerParams;
use crate::link::Protocol;
use crate::time::Instant;

/// A runner instance, numbered by the core.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunnerIdx(u64);

impl fmt::Debug for RunnerIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "runner#{}", self.0)
    }
}

pub(crate) struct RunnerConn {
    pub(crate) params: RunnerParams,
    /// What it speaks (from its `protocol_version`).
    pub(crate) protocol: Protocol,
    /// Bound once `ToServerInit` arrives.
    pub(crate) instance: Option<RunnerIdx>,
    pub(crate) last_pong: Instant,
    /// `ts` of the ping sent right after a reconnect's init. The runner answers it only after
    /// it resent everything it held for us (events, tunnel messages), so its pong shows what
    /// the runner does not have.
    pub(crate) barrier: Option<i64>,
}

pub(crate) struct RunnerInstance {
    /// Opaque id sent in `ToClientInit`; stable while the instance lives.
    pub(crate) runner_id: String,
    pub(crate) namespace: String,
    pub(crate) runner_key: String,
    /// What its connections speak. A pool's runners all speak one protocol, so an actor never
    /// moves between protocols and its encoded un-acked frames stay valid for any runner of it.
    pub(crate) protocol: Protocol,
    /// Runner name (placement pool), from `ToServerInit` (v7) or the connect URL (v8).
    pub(crate) name: String,
    pub(crate) total_slots: u32,
    /// The live connection, if any.
    pub(crate) conn: Option<RunnerConnId>,
    /// `ToServerStopping` received: no new placements.
    pub(crate) draining: bool,
    /// Actor names it announced in its init (`prepopulateActorNames`), with their JSON
    /// metadata.
    pub(crate) actor_names: BTreeMap<String, String>,
    /// Actors allocated here (starting, running or stopping).
    pub(crate) actors: BTreeSet<ActorId>,
    /// Encoded tunnel and KV messages held while disconnected, sent in order on reconnect
    /// (the runner holds its own side the same way). Commands are not held: they are replayed
    /// by observation instead.
    pub(crate) outbox: VecDeque<Bytes>,
}

impl RunnerInstance {
    /// Whether a new actor of `namespace`/`runner_name` may be placed here.
    pub(crate) fn can_host(&self, namespace: &str, runner_name: &str) -> bool {
        self.conn.is_some()
            && !self.draining
            && self.namespace == namespace
            && self.name == runner_name
            && self.actors.len() < self.total_slots as usize
    }
}

#[derive(Default)]
pub(crate) struct Runners {
    pub(crate) conns: BTreeMap<RunnerConnId, RunnerConn>,
    pub(crate) instances: BTreeMap<RunnerIdx, RunnerInstance>,
    pub(crate) by_key: BTreeMap<(String, String), RunnerIdx>,
    next_idx: u64,
}

impl Runners {
    /// The instances of `namespace` (of runner name `name`, if given), by key.
    pub(crate) fn describe(&self, namespace: &str, name: Option<&str>) -> Vec<RunnerInfo> {
        let mut list: Vec<RunnerInfo> = self
            .instances
            .values()
            .filter(|i| i.namespace == namespace && name.is_none_or(|n| n == i.name))
            .map(|i| {
                let taken = u32::try_from(i.actors.len()).unwrap_or(u32::MAX);
                RunnerInfo {
                    runner_id: i.runner_id.clone(),
                    namespace: i.namespace.clone(),
                    name: i.name.clone(),
                    key: i.runner_key.clone(),
                    total_slots: i.total_slots,
                    remaining_slots: i.total_slots.saturating_sub(taken),
                    connected: i.conn.is_some(),
                    draining: i.draining,
                }
            })
            .collect();
        list.sort_by(|a, b| a.key.cmp(&b.key));
        list
    }

    /// The actor names the instances of `namespace` announced, with their metadata (a later
    /// instance's metadata for a name wins).
    pub(crate) fn announced_names<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.instances
            .values()
            .filter(move |i| i.namespace == namespace)
            .flat_map(|i| i.actor_names.iter())
            .map(|(name, metadata)| (name.as_str(), metadata.as_str()))
    }

    pub(crate) fn next_idx(&mut self) -> RunnerIdx {
        let idx = RunnerIdx(self.next_idx);
        self.next_idx += 1;
        idx
    }

    /// The instance bound to a live connection.
    pub(crate) fn instance_of(&self, conn: RunnerConnId) -> Option<RunnerIdx> {
        self.conns.get(&conn).and_then(|c| c.instance)
    }

    /// The live connection of an instance.
    pub(crate) fn conn_of(&self, idx: RunnerIdx) -> Option<RunnerConnId> {
        self.instances.get(&idx).and_then(|i| i.conn)
    }

    /// The protocol a connection speaks, if it is still there.
    pub(crate) fn protocol_of_conn(&self, conn: RunnerConnId) -> Option<Protocol> {
        self.conns.get(&conn).map(|c| c.protocol)
    }

    /// The protocol a runner instance speaks, if it is still there.
    pub(crate) fn protocol_of(&self, idx: RunnerIdx) -> Option<Protocol> {
        self.instances.get(&idx).map(|i| i.protocol)
    }

    /// The protocol the runners of a pool speak, if any runner of it is known.
    pub(crate) fn pool_protocol(&self, namespace: &str, name: &str) -> Option<Protocol> {
        self.instances
            .values()
            .find(|i| i.namespace == namespace && i.name == name)
            .map(|i| i.protocol)
    }

    /// Least-loaded instance that can host the actor: lowest allocated/slots ratio, then
    /// lowest index (deterministic).
    pub(crate) fn place(&self, namespace: &str, runner_name: &str) -> Option<RunnerIdx> {
        self.instances
            .iter()
            .filter(|(_, r)| r.can_host(namespace, runner_name))
            .min_by(|(ia, a), (ib, b)| {
                // a.len/a.slots < b.len/b.slots, compared without division.
                let la = a.actors.len() as u64 * u64::from(b.total_slots);
                let lb = b.actors.len() as u64 * u64::from(a.total_slots);
                la.cmp(&lb).then(ia.cmp(ib))
            })
            .map(|(idx, _)| *idx)
    }
}

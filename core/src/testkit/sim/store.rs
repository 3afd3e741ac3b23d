//! The simulated store: it executes operations in issue order, late, and fails some with every
//! class an adapter can return; what it holds is compared row by row with what the gateway's
//! state says it should hold.
//!
//! Expected handling of failures (DESIGN §Parts, RUNNER-PROTOCOL §17 #17): `Busy` and `Io` are
//! retried with backoff until they succeed; `Constraint` and `Corrupt` are not retried, and the
//! operation simply has no effect (an index row is not written or not deleted, a lease not
//! renewed; a registry row keeps its previous value).

use std::collections::{BTreeMap, BTreeSet};

use super::Sim;
use crate::ids::{ActorId, OpId};
use crate::io::Input;
use crate::protocol::{GatewayId, Headers, RequestId};
use crate::store::{ActorRecord, StoreFailure, StoreReply, StoreRequest};
use crate::time::Instant;

/// An operation issued and not completed yet.
#[derive(Debug)]
pub(super) struct PendingStore {
    pub(super) op: OpId,
    pub(super) request: StoreRequest,
    /// When the gateway issued it.
    pub(super) issued: Instant,
}

/// One hibernation index row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexRow {
    pub(super) actor: ActorId,
    pub(super) path: String,
    pub(super) headers: Headers,
}

type RowKey = (GatewayId, RequestId);

/// What the store holds, plus what its failures excuse.
#[derive(Debug, Default)]
pub(super) struct ModelStore {
    pub(super) actors: BTreeMap<ActorId, ActorRecord>,
    pub(super) index: BTreeMap<RowKey, IndexRow>,
    /// Gateway leases: the store's wall clock at their last renewal.
    pub(super) leases: BTreeMap<GatewayId, i64>,
    /// Rows whose write failed for good: they must stay absent.
    pub(super) unwritten: BTreeSet<RowKey>,
    /// Rows whose delete failed for good: they may linger until collected.
    pub(super) undeleted: BTreeSet<RowKey>,
    /// Rows of live sockets the store collected as stale although the gateway renewed its
    /// lease on time (a slow store, or a renewal that failed): they may be absent.
    pub(super) aged_out: BTreeSet<RowKey>,
    /// A purge of earlier incarnations' rows failed for good: such rows may linger.
    pub(super) purge_failed: bool,
    /// Actors whose latest registry write or delete failed for good.
    pub(super) registry_failed: BTreeSet<ActorId>,
    /// When the gateway last issued a renewal of its lease.
    pub(super) lease_issued: Option<Instant>,
}

impl ModelStore {
    /// Executes `request` at wall-clock `wall`. Returns the rows a stale-row collection
    /// removed.
    pub(super) fn apply(&mut self, request: &StoreRequest, wall: i64) -> Vec<RowKey> {
        match request {
            StoreRequest::PutActor(record) => {
                self.actors.insert(record.id, (**record).clone());
                self.registry_failed.remove(&record.id);
            }
            StoreRequest::DeleteActor(id) => {
                self.actors.remove(id);
                self.registry_failed.remove(id);
            }
            // The simulated worlds create no namespaces.
            StoreRequest::PutNamespace(_) => {}
            StoreRequest::PutHibernation(row) => {
                let key = (row.gateway_id, row.request_id);
                self.index.insert(
                    key,
                    IndexRow {
                        actor: row.actor,
                        path: row.path.clone(),
                        headers: row.headers.clone(),
                    },
                );
            }
            StoreRequest::RenewLease { gateway_id } => {
                self.leases.insert(*gateway_id, wall);
            }
            StoreRequest::DeleteHibernation { gateway_id, key } => {
                self.index.remove(&(*gateway_id, key.request_id));
            }
            StoreRequest::PurgeHibernation { keep } => {
                self.index.retain(|(g, _), _| g == keep);
                self.leases.retain(|g, _| g == keep);
            }
            StoreRequest::GcHibernation { older_than } => {
                let limit = wall - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
                let fresh = |g: &GatewayId| self.leases.get(g).is_some_and(|at| *at >= limit);
                let stale: Vec<RowKey> = self
                    .index
                    .keys()
                    .filter(|(g, _)| !fresh(g))
                    .copied()
                    .collect();
                for k in &stale {
                    self.index.remove(k);
                }
                self.leases.retain(|_, at| *at >= limit);
                return stale;
            }
            StoreRequest::Kv { .. } | StoreRequest::Pages { .. } => {}
        }
        Vec::new()
    }

    /// A permanent failure of `request`: it had no effect, and excuses what that leaves.
    fn failed_for_good(&mut self, request: &StoreRequest) {
        match request {
            StoreRequest::PutActor(record) => {
                self.registry_failed.insert(record.id);
            }
            StoreRequest::DeleteActor(id) => {
                self.registry_failed.insert(*id);
            }
            StoreRequest::PutNamespace(_) => {}
            StoreRequest::PutHibernation(row) => {
                self.unwritten.insert((row.gateway_id, row.request_id));
            }
            StoreRequest::DeleteHibernation { gateway_id, key } => {
                self.undeleted.insert((*gateway_id, key.request_id));
            }
            StoreRequest::PurgeHibernation { .. } => self.purge_failed = true,
            StoreRequest::RenewLease { .. }
            | StoreRequest::GcHibernation { .. }
            | StoreRequest::Kv { .. }
            | StoreRequest::Pages { .. } => {}
        }
    }
}

impl Sim {
    /// The gateway issued a store operation.
    pub(super) fn on_store_request(&mut self, op: OpId, request: StoreRequest) {
        let retried = match &request {
            StoreRequest::PutHibernation(row) => {
                let key = (row.gateway_id, row.request_id);
                self.store.unwritten.contains(&key).then_some("write")
            }
            StoreRequest::DeleteHibernation { gateway_id, key } => self
                .store
                .undeleted
                .contains(&(*gateway_id, key.request_id))
                .then_some("delete"),
            StoreRequest::RenewLease { .. } => {
                self.store.lease_issued = Some(self.d.now);
                None
            }
            _ => None,
        };
        if let Some(what) = retried {
            self.note(format!(
                "the {what} of an index row was issued again after it failed for good: {request:?}"
            ));
        }
        self.pending_store.push_back(PendingStore {
            op,
            request,
            issued: self.d.now,
        });
    }

    /// The store works through its queue in order; with `faults`, it completes one operation,
    /// which may fail.
    pub(super) fn complete_store(&mut self, faults: bool) {
        let mut rounds = 0;
        while let Some(p) = self.pending_store.pop_front() {
            rounds += 1;
            assert!(rounds < 100_000, "store livelock");
            let fail = faults && self.rng.f64() < self.params.store_error;
            let result = if fail {
                Err(self.draw_failure(&p.request))
            } else {
                let wall = self.wall_ms();
                let collected = self.store.apply(&p.request, wall);
                self.check_collected(&collected, p.issued);
                Ok(StoreReply::Done)
            };
            if self.trace {
                eprintln!(
                    "{:?} store: {:?} {:?} → {result:?}",
                    self.d.now, p.op, p.request
                );
            }
            let out = self.d.step(Input::StoreDone { op: p.op, result });
            self.observe(out);
            if faults {
                break; // one completion per step: later ones arrive in later steps
            }
        }
    }

    fn draw_failure(&mut self, request: &StoreRequest) -> StoreFailure {
        if self.rng.f64() < self.params.store_permanent {
            self.store.failed_for_good(request);
            if self.rng.bool() {
                self.stats.store_constraint += 1;
                StoreFailure::Constraint("UNIQUE constraint failed".into())
            } else {
                self.stats.store_corrupt += 1;
                StoreFailure::Corrupt("database disk image is malformed".into())
            }
        } else if self.rng.bool() {
            self.stats.store_busy += 1;
            StoreFailure::Busy
        } else {
            self.stats.store_io += 1;
            StoreFailure::Io("disk full".into())
        }
    }

    /// A stale-row collection removed `collected`: fine for closed sockets and for rows whose
    /// lease the gateway renewed on schedule (the store was slow, or the renewal failed); a
    /// live socket's row collected because the gateway skipped a renewal is a gateway bug.
    fn check_collected(&mut self, collected: &[RowKey], gc_issued: Instant) {
        let half = self.config.hibernation_eligible_threshold / 2;
        // The renewal period plus its jitter (1 s) and some slack.
        let period = half + std::time::Duration::from_millis(1_200);
        for key in collected {
            if !self.live_hibernatable(key.1) || key.0 != self.gateway_id {
                continue;
            }
            let last = self.store.lease_issued;
            let late = last.is_none_or(|at| gc_issued.saturating_since(at) > period);
            if late {
                self.note(format!(
                    "the index row of live {:?} aged out: the gateway last renewed its lease at {last:?}, collection issued at {gc_issued:?}",
                    key.1
                ));
            }
            self.store.aged_out.insert(*key);
        }
    }

    /// The request belongs to a hibernatable socket of this incarnation that is still open
    /// (the runner accepted it with `canHibernate` and neither side closed it).
    pub(super) fn live_hibernatable(&self, rq: RequestId) -> bool {
        self.by_request
            .get(&rq)
            .and_then(|c| self.ws.get(c))
            .is_some_and(|c| c.is_open() && c.opened == Some(true))
    }

    /// Quiet: the store holds exactly what the gateway's state says, row by row, except what
    /// permanent failures excuse.
    pub(super) fn check_store(&mut self) -> Result<(), String> {
        // Quiet: nothing queued at the store and no failed operation waiting for its retry
        // (at most `store_retry_max` away).
        for _ in 0..30 {
            self.complete_store(false);
            if self.d.gw.inspect().store_ops_in_flight() == 0 {
                break;
            }
            self.advance(std::time::Duration::from_secs(1));
            self.deliver(None);
        }
        if self.d.gw.inspect().store_ops_in_flight() != 0 {
            return Err(format!(
                "{} store operations never completed: {:?}",
                self.d.gw.inspect().store_ops_in_flight(),
                self.pending_store
                    .iter()
                    .map(|p| &p.request)
                    .collect::<Vec<_>>()
            ));
        }
        let view = self.d.gw.inspect();
        for id in view.actors() {
            let held = self.store.actors.get(&id);
            let record = view.actor_record(id);
            if held != record && !self.store.registry_failed.contains(&id) {
                return Err(format!(
                    "{id}: the store holds {held:?}, the gateway {record:?}"
                ));
            }
        }
        if let Some(id) =
            self.store.actors.keys().find(|id| {
                view.actor_phase(**id).is_none() && !self.store.registry_failed.contains(id)
            })
        {
            return Err(format!("{id} is in the store but not in the gateway"));
        }
        let live: Vec<(RequestId, ActorId)> = self
            .ws
            .values()
            .filter(|c| c.is_open() && c.opened == Some(true))
            .filter_map(|c| c.request.map(|rq| (rq, c.actor)))
            .collect();
        for (rq, actor) in &live {
            let key = (self.gateway_id, *rq);
            let row = self.store.index.get(&key);
            if self.store.unwritten.contains(&key) {
                if row.is_some() {
                    return Err(format!(
                        "the index row of {rq:?} is stored although its write failed for good (retried?)"
                    ));
                }
                continue;
            }
            match row {
                None if self.store.aged_out.contains(&key) => {}
                None => return Err(format!("live hibernatable {rq:?} has no index row")),
                Some(r) if r.actor != *actor || r.path != "/ws" || !r.headers.is_empty() => {
                    return Err(format!(
                        "the index row of {rq:?} is {r:?}, {actor} /ws expected"
                    ));
                }
                Some(_) => {}
            }
        }
        for key in self.store.index.keys() {
            let expected = if key.0 == self.gateway_id {
                live.iter().any(|(rq, _)| *rq == key.1) || self.store.undeleted.contains(key)
            } else {
                self.store.purge_failed
            };
            if !expected {
                return Err(format!(
                    "the store holds an index row for {:?}/{:?}, which is not a live hibernatable socket",
                    key.0, key.1
                ));
            }
        }
        Ok(())
    }
}

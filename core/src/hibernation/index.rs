//! The hibernation index as store operations: a row per hibernatable socket, written when the
//! runner accepts it, refreshed in one batch per tick, deleted on every close path.
//!
//! Memory is authoritative on one node (the `hibernatingRequests` of a start come from live
//! sockets, never from rows), so index failures are retried and counted but never touch a
//! socket.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::store::{HibernationRow, StoreRequest};
use crate::store_ops::Purpose;
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::{ClientKind, IdMap};

/// Keepalive due times of live index rows.
#[derive(Default)]
pub(crate) struct IndexSchedule {
    due: BTreeSet<(Instant, ClientId)>,
    at: IdMap<ClientId, Instant>,
    /// The next stale-row collection rides on a refresh tick at or after this: an idle gateway
    /// emits nothing, and rows of this incarnation are deleted by their owner anyway.
    next_gc: Instant,
}

impl IndexSchedule {
    fn set(&mut self, client: ClientId, at: Instant) {
        if let Some(old) = self.at.insert(client, at) {
            self.due.remove(&(old, client));
        }
        self.due.insert((at, client));
    }

    fn remove(&mut self, client: ClientId) {
        if let Some(old) = self.at.remove(&client) {
            self.due.remove(&(old, client));
        }
    }

    fn first(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }
}

impl Gateway {
    /// Keepalive period: half the eligibility threshold plus up to 1 s of seeded jitter, so
    /// rows written together spread their refreshes.
    fn next_refresh(&mut self, now: Instant) -> Instant {
        let half = self.cx.config.hibernation_eligible_threshold / 2;
        let jitter = Duration::from_millis(self.cx.rng.u64(0..1000));
        now.saturating_add(half + jitter)
    }

    fn arm_index_refresh(&mut self) {
        match self.index.first() {
            Some(at) => self.cx.timers.set(TimerKey::IndexRefresh, at),
            None => self.cx.timers.cancel(TimerKey::IndexRefresh),
        }
    }

    /// The index row of a live hibernatable socket.
    pub(crate) fn index_row(&self, client: ClientId) -> Option<StoreRequest> {
        let c = self.clients.map.get(&client)?;
        let ClientKind::WebSocket(ws) = &c.kind else {
            return None;
        };
        Some(StoreRequest::PutHibernation(HibernationRow {
            actor: c.actor,
            gateway_id: self.cx.gateway_id,
            request_id: c.request_id,
            path: ws.path.clone(),
            headers: ws.headers.clone(),
        }))
    }

    fn issue_index(&mut self, request: StoreRequest) {
        self.issue_store(request.clone(), Purpose::Index(request));
    }

    /// The runner accepted a hibernatable socket: write its row and schedule refreshes.
    pub(crate) fn index_insert(&mut self, now: Instant, client: ClientId) {
        let Some(row) = self.index_row(client) else {
            return;
        };
        self.cx.metrics.index_writes += 1;
        self.issue_store(row, Purpose::IndexPut(client));
        let at = self.next_refresh(now);
        self.index.set(client, at);
        self.arm_index_refresh();
    }

    /// The socket ended: delete its row (every close path goes through `remove_client`).
    pub(crate) fn index_remove(
        &mut self,
        client: ClientId,
        request_id: crate::protocol::RequestId,
    ) {
        self.index.remove(client);
        self.arm_index_refresh();
        self.cx.metrics.index_deletes += 1;
        let request = StoreRequest::DeleteHibernation {
            gateway_id: self.cx.gateway_id,
            request_id,
        };
        self.issue_index(request);
    }

    /// Refreshes every row due now in one store operation.
    pub(crate) fn on_index_refresh(&mut self, now: Instant) {
        let mut request_ids = Vec::new();
        while let Some(&(at, client)) = self.index.due.first() {
            if at > now {
                break;
            }
            self.index.due.pop_first();
            self.index.at.remove(&client);
            if let Some(c) = self.clients.map.get(&client) {
                request_ids.push(c.request_id);
                let next = self.next_refresh(now);
                self.index.set(client, next);
            }
        }
        self.arm_index_refresh();
        if now >= self.index.next_gc {
            self.collect_stale_rows(now);
        }
        if !request_ids.is_empty() {
            self.cx.metrics.index_refresh_batches += 1;
            self.cx.metrics.index_refreshed_rows += request_ids.len() as u64;
            let request = StoreRequest::TouchHibernation {
                gateway_id: self.cx.gateway_id,
                request_ids,
            };
            self.issue_index(request);
        }
    }

    /// At startup: earlier incarnations' rows are ghosts (their sockets died with them), and
    /// stale rows go too.
    pub(crate) fn index_startup(&mut self, now: Instant) {
        let keep = self.cx.gateway_id;
        self.issue_index(StoreRequest::PurgeHibernation { keep });
        self.collect_stale_rows(now);
    }

    fn collect_stale_rows(&mut self, now: Instant) {
        let older_than = self.cx.config.hibernation_eligible_threshold;
        self.index.next_gc = now.saturating_add(older_than);
        self.issue_index(StoreRequest::GcHibernation { older_than });
    }
}

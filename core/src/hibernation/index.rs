//! The hibernation index as store operations: a row per hibernatable socket, written when the
//! runner accepts it, refreshed in one batch per tick, deleted on every close path.
//!
//! Memory is authoritative on one node (the `hibernatingRequests` of a start come from live
//! sockets, never from rows), so index failures are retried and counted but never touch a
//! socket.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::store::{HibernationRow, IndexKey, StoreRequest};
use crate::store_ops::Purpose;
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::ClientKind;

/// Keepalive schedule of live index rows: a coarse timing wheel. Refresh periods are long
/// (half the eligibility threshold) and jittered, so due times are bucketed to
/// [`BUCKET_MS`] and a tick costs a push per row instead of ordered-set operations.
/// Closed sockets are dropped lazily when their bucket comes due.
#[derive(Default)]
pub(crate) struct IndexSchedule {
    /// Bucket number (due time / `BUCKET_MS`) → sockets due then.
    buckets: BTreeMap<u64, Vec<ClientId>>,
    /// Live rows (scheduled sockets that have not closed).
    rows: usize,
    /// The next stale-row collection rides on a refresh tick at or after this: an idle gateway
    /// emits nothing, and rows of this incarnation are deleted by their owner anyway.
    next_gc: Instant,
}

/// Keepalive timing resolution. Far below the 45 s period and its 1 s jitter.
const BUCKET_MS: u64 = 100;

impl IndexSchedule {
    fn schedule(&mut self, client: ClientId, at: Instant) {
        let bucket = at.as_millis().div_ceil(BUCKET_MS);
        self.buckets.entry(bucket).or_default().push(client);
    }

    /// The time the earliest bucket comes due.
    fn first(&self) -> Option<Instant> {
        self.buckets
            .first_key_value()
            .map(|(b, _)| Instant::from_millis(b * BUCKET_MS))
    }

    /// Takes every bucket due at `now`.
    fn take_due(&mut self, now: Instant) -> Vec<ClientId> {
        let mut due = Vec::new();
        while let Some(entry) = self.buckets.first_entry() {
            if entry.key() * BUCKET_MS > now.as_millis() {
                break;
            }
            let mut bucket = entry.remove();
            if due.is_empty() {
                due = bucket;
            } else {
                due.append(&mut bucket);
            }
        }
        due
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
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
        self.index.schedule(client, at);
        self.index.rows += 1;
        self.arm_index_refresh();
    }

    /// The socket ended: delete its row (every close path goes through `remove_client`).
    pub(crate) fn index_remove(&mut self, key: IndexKey) {
        // Its schedule entry is dropped when its bucket comes due.
        self.index.rows -= 1;
        self.cx.metrics.index_deletes += 1;
        let request = StoreRequest::DeleteHibernation {
            gateway_id: self.cx.gateway_id,
            key,
        };
        self.issue_index(request);
    }

    /// Refreshes every row due now in one store operation.
    pub(crate) fn on_index_refresh(&mut self, now: Instant) {
        let due = self.index.take_due(now);
        let mut rows = Vec::with_capacity(due.len());
        for client in due {
            let live = match self.clients.map.get(&client) {
                Some(c) => matches!(&c.kind, ClientKind::WebSocket(ws) if ws.can_hibernate)
                    .then_some(IndexKey {
                        actor: c.actor,
                        request_id: c.request_id,
                    }),
                None => None,
            };
            if let Some(key) = live {
                rows.push(key);
                let next = self.next_refresh(now);
                self.index.schedule(client, next);
            }
        }
        self.arm_index_refresh();
        if now >= self.index.next_gc {
            self.collect_stale_rows(now);
        }
        if !rows.is_empty() {
            self.cx.metrics.index_refresh_batches += 1;
            self.cx.metrics.index_refreshed_rows += rows.len() as u64;
            self.cx
                .histograms
                .index_refresh_batch_rows
                .observe(rows.len() as u64);
            let request = StoreRequest::TouchHibernation {
                gateway_id: self.cx.gateway_id,
                rows,
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

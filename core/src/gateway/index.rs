//! The hibernation index: rows written before a socket's first data message, deleted on close,
//! kept alive by the incarnation's lease.

use crate::gateway::Gateway;
use crate::ids::ClientId;
use crate::store::{HibernationRow, IndexKey, StoreRequest};
use crate::store_ops::Purpose;
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::ClientKind;
use std::time::Duration;
use torpor_protocol::shared::Headers;

impl Gateway {
    /// Lease period: half the eligibility threshold plus up to 1 s of seeded jitter (gateways
    /// sharing a store spread their renewals).
    fn lease_period(&mut self) -> Duration {
        let half = self.cx.config.hibernation_eligible_threshold / 2;
        half + Duration::from_millis(self.cx.rng.u64(0..1000))
    }

    /// The index row of a live hibernatable socket.
    pub(crate) fn index_row(&self, client: ClientId) -> Option<StoreRequest> {
        let c = self.clients.map.get(&client)?;
        let ClientKind::WebSocket(ws) = &c.kind else {
            return None;
        };
        Some(StoreRequest::PutHibernation(Box::new(HibernationRow {
            actor: c.actor,
            gateway_id: self.cx.gateway_id,
            request_id: c.request_id,
            path: ws.path.clone(),
            headers: redacted(ws.headers.unpack()),
        })))
    }

    fn issue_index(&mut self, request: StoreRequest) {
        self.issue_store(request.clone(), Purpose::Index(request));
    }

    /// The runner accepted a hibernatable socket: make sure the lease is fresh (renewing it
    /// first if the gateway had no rows for a while), then write the row.
    pub(crate) fn index_insert(&mut self, now: Instant, client: ClientId) {
        let Some(row) = self.index_row(client) else {
            return;
        };
        self.keep_lease(now);
        self.cx.metrics.index_writes += 1;
        self.issue_store(row, Purpose::IndexPut(client));
        self.index.row_written();
    }

    /// Keeps renewals going while there are rows. With the renewal timer armed, nothing to do;
    /// otherwise (no rows until now) the lease is renewed at once unless a renewal is recent,
    /// and the timer armed for the next.
    fn keep_lease(&mut self, now: Instant) {
        if self.cx.timers.deadline_of(TimerKey::LeaseRenewal).is_some() {
            return;
        }
        let half = self.cx.config.hibernation_eligible_threshold / 2;
        let renewed = match self.index.fresh_renewal(now, half) {
            Some(at) => at,
            None => {
                self.renew_lease(now);
                now
            }
        };
        let at = renewed.saturating_add(self.lease_period());
        self.cx.timers.set(TimerKey::LeaseRenewal, at);
    }

    fn renew_lease(&mut self, now: Instant) {
        self.index.renewed(now);
        self.cx.metrics.index_lease_renewals += 1;
        let request = StoreRequest::RenewLease {
            gateway_id: self.cx.gateway_id,
        };
        self.issue_index(request);
    }

    /// The socket ended: delete its row (every close path goes through `remove_client`).
    pub(crate) fn index_remove(&mut self, key: IndexKey) {
        self.index.row_deleted();
        self.cx.metrics.index_deletes += 1;
        let request = StoreRequest::DeleteHibernation {
            gateway_id: self.cx.gateway_id,
            key,
        };
        self.issue_index(request);
    }

    /// The renewal timer: renew while there are rows (else let the lease lapse: nothing of
    /// this incarnation depends on it), and collect stale rows on their cadence.
    pub(crate) fn on_lease_renewal(&mut self, now: Instant) {
        if self.index.len() > 0 {
            self.renew_lease(now);
            let at = now.saturating_add(self.lease_period());
            self.cx.timers.set(TimerKey::LeaseRenewal, at);
        }
        if self.index.gc_due(now) {
            self.collect_stale_rows(now);
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
        self.index.collected(now, older_than);
        self.issue_index(StoreRequest::GcHibernation { older_than });
    }
}

/// Headers whose values are credentials: the index keeps that they were sent, not what.
const REDACTED_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// What the index persists of a socket's headers (for inspection): credentials redacted.
fn redacted(mut headers: Headers) -> Headers {
    for name in REDACTED_HEADERS {
        if headers.get(name).is_some() {
            headers.insert(*name, "[redacted]".to_owned());
        }
    }
    headers
}

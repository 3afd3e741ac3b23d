//! Store operations: issued with a purpose, retried with backoff, completed in order.

use crate::admin::{AdminError, AdminReply};
use crate::gateway::Gateway;
use crate::ids::OpId;
use crate::io::Output;
use crate::link::ToRunner;
use crate::page_store::{PageAnswer, PageError};
use crate::runner::RunnerIdx;
use crate::store::{StoreFailure, StoreReply, StoreRequest};
use crate::store_ops::{PendingOp, Purpose};
use crate::time::Instant;
use crate::timer::TimerKey;
use std::time::Duration;
use torpor_protocol::shared::{KvErrorResponse, KvResponseData};

impl Gateway {
    pub(crate) fn issue_store(&mut self, request: StoreRequest, purpose: Purpose) {
        self.issue_store_attempt(request, purpose, 0);
    }

    fn issue_store_attempt(&mut self, request: StoreRequest, purpose: Purpose, attempts: u32) {
        let op = self.cx.next_op();
        self.cx.metrics.store_ops += 1;
        self.ops.insert(op, PendingOp { purpose, attempts });
        self.cx.push(Output::Store { op, request });
    }

    pub(crate) fn handle_store_done(
        &mut self,
        now: Instant,
        op: OpId,
        result: Result<StoreReply, StoreFailure>,
    ) {
        if self
            .cx
            .timers
            .deadline_of(TimerKey::StoreRetry(op))
            .is_some()
        {
            // Completed again while a retry is scheduled: a duplicate completion.
            self.cx.metrics.store_late_completions += 1;
            return;
        }
        let Some(pending) = self.ops.remove(&op) else {
            self.cx.metrics.store_late_completions += 1;
            return;
        };
        match result {
            Ok(reply) => self.store_succeeded(now, pending.purpose, reply),
            Err(failure) => {
                self.cx.metrics.store_errors += 1;
                self.store_failed(now, op, pending, &failure);
            }
        }
    }

    fn store_succeeded(&mut self, now: Instant, purpose: Purpose, reply: StoreReply) {
        match purpose {
            Purpose::PutActor { actor, generation } => {
                self.generation_stored(now, actor, generation);
            }
            Purpose::IndexPut(_) | Purpose::Index(_) => {}
            Purpose::CreateNamespace { record, req } => {
                self.reply_admin(req, Ok(AdminReply::Namespaces(vec![record])));
            }
            Purpose::CreateActor { actor, req } => {
                let reply = match self.actors.map.get(&actor) {
                    Some(a) => Ok(AdminReply::Actor {
                        actor: Box::new(a.info()),
                        created: true,
                    }),
                    None => Err(AdminError::NotFound(format!(
                        "actor {actor} was destroyed while being created"
                    ))),
                };
                self.reply_admin(req, reply);
            }
            Purpose::DeleteActor { waiters, .. } => {
                for req in waiters {
                    self.reply_admin(req, Ok(AdminReply::Done));
                }
            }
            Purpose::Kv { runner, request_id } => {
                let data = match reply {
                    StoreReply::Kv(data) => data,
                    other => KvResponseData::Error(KvErrorResponse {
                        message: format!(
                            "internal error: the store answered a KV request with {other:?}"
                        ),
                    }),
                };
                self.send_kv_response(runner, request_id, data);
            }
            Purpose::Pages {
                runner,
                request_id,
                kind,
            } => {
                let answer = match reply {
                    StoreReply::Pages(answer) => {
                        if matches!(answer, PageAnswer::Error(_)) {
                            self.cx.metrics.sqlite_store_refusals += 1;
                        }
                        answer
                    }
                    other => PageAnswer::Error(PageError::unavailable(format!(
                        "internal error: the store answered a page call with {other:?}"
                    ))),
                };
                self.send_pages_answer(runner, request_id, kind, answer);
            }
            Purpose::AdminKvGet(req) => {
                let reply = match reply {
                    StoreReply::Kv(KvResponseData::Get(got)) => {
                        match (got.values.into_iter().next(), got.metadata.first()) {
                            (Some(value), Some(meta)) => Ok(AdminReply::KvValue {
                                value,
                                update_ts: meta.update_ts,
                            }),
                            _ => Err(AdminError::KvKeyNotFound),
                        }
                    }
                    // The store's own validation (a key too long, say), in its words.
                    StoreReply::Kv(KvResponseData::Error(e)) => Err(AdminError::Invalid(e.message)),
                    other => Err(AdminError::Store(format!(
                        "torpor.store_failed: unexpected answer to a KV read: {other:?}"
                    ))),
                };
                self.reply_admin(req, reply);
            }
        }
    }

    fn store_failed(&mut self, now: Instant, op: OpId, pending: PendingOp, failure: &StoreFailure) {
        if let Purpose::Kv { runner, request_id } = pending.purpose {
            let data = KvResponseData::Error(KvErrorResponse {
                message: failure.to_string(),
            });
            self.send_kv_response(runner, request_id, data);
            return;
        }
        if let Purpose::Pages {
            runner,
            request_id,
            kind,
        } = pending.purpose
        {
            let answer = PageAnswer::Error(PageError::unavailable(failure.to_string()));
            self.send_pages_answer(runner, request_id, kind, answer);
            return;
        }
        if let Purpose::AdminKvGet(req) = pending.purpose {
            let err =
                AdminError::Unavailable(format!("the KV read failed ({failure}); retry later"));
            self.reply_admin(req, Err(err));
            return;
        }
        if !failure.is_transient() {
            self.cx.metrics.store_permanent_failures += 1;
            self.store_failed_for_good(now, pending.purpose, failure);
            return;
        }
        self.cx.metrics.store_retries += 1;
        let delay = self.retry_delay(pending.attempts);
        self.ops.insert(op, pending.failed_once_more());
        self.cx
            .timers
            .set(TimerKey::StoreRetry(op), now.saturating_add(delay));
    }

    /// A failure retrying cannot fix. The in-memory state stays authoritative for this
    /// incarnation: index rows exist for inspection and restart purges only, and an actor's
    /// registry row is written again on its next change. What cannot stand is an admin request
    /// told its effect is durable: a create is refused and its actor destroyed, a destroy's
    /// waiters hear that the row outlives it.
    fn store_failed_for_good(&mut self, now: Instant, purpose: Purpose, failure: &StoreFailure) {
        match purpose {
            Purpose::CreateActor { actor, req } => {
                let err = AdminError::Store(format!(
                    "torpor.store_failed: the actor could not be stored ({failure})"
                ));
                self.reply_admin(req, Err(err));
                let allocated = self
                    .actors
                    .map
                    .get(&actor)
                    .is_some_and(|a| a.phase.runner().is_some());
                if allocated {
                    self.stop_actor(now, actor, crate::actor::StopIntent::Destroy);
                } else if self.actors.map.contains_key(&actor) {
                    self.destroy_actor(now, actor);
                }
            }
            Purpose::CreateNamespace { record, req } => {
                self.namespaces.remove(&record.name);
                let err = AdminError::Store(format!(
                    "torpor.store_failed: the namespace could not be stored ({failure})"
                ));
                self.reply_admin(req, Err(err));
            }
            Purpose::DeleteActor { waiters, .. } => {
                for req in waiters {
                    let err = AdminError::Store(format!(
                        "torpor.store_failed: the actor is destroyed here but its row could not be deleted ({failure})"
                    ));
                    self.reply_admin(req, Err(err));
                }
            }
            Purpose::PutActor { actor, .. } => {
                // A placement waiting for this write asks for another on its next try.
                if let Some(a) = self.actors.map.get_mut(&actor) {
                    a.generation_write_failed();
                }
            }
            Purpose::IndexPut(_)
            | Purpose::Index(_)
            | Purpose::Kv { .. }
            | Purpose::Pages { .. }
            | Purpose::AdminKvGet(_) => {}
        }
    }

    /// Capped exponential backoff with "equal jitter": half fixed, half drawn from the seeded RNG.
    fn retry_delay(&mut self, attempts: u32) -> Duration {
        let base = self.cx.config.store_retry_base.as_millis() as u64;
        let max = self.cx.config.store_retry_max.as_millis() as u64;
        let full = base.saturating_mul(1u64 << attempts.min(20)).min(max);
        let half = full / 2;
        Duration::from_millis(half + self.cx.rng.u64(0..=full - half))
    }

    pub(crate) fn on_store_retry(&mut self, now: Instant, op: OpId) {
        let Some(mut pending) = self.ops.remove(&op) else {
            return;
        };
        let request = match &mut pending.purpose {
            Purpose::PutActor { actor, .. } | Purpose::CreateActor { actor, .. } => {
                match self.actors.map.get(actor) {
                    Some(a) => {
                        // The retry writes the current row, so it carries the current generation.
                        if let Purpose::PutActor { generation, .. } = &mut pending.purpose {
                            *generation = a.record.generation;
                        }
                        StoreRequest::PutActor(Box::new(a.record.clone()))
                    }
                    None => {
                        // Destroyed meanwhile: nothing to write; answer a waiting creator.
                        self.store_succeeded(now, pending.purpose, StoreReply::Done);
                        return;
                    }
                }
            }
            Purpose::DeleteActor { actor, .. } => StoreRequest::DeleteActor(*actor),
            Purpose::CreateNamespace { record, .. } => StoreRequest::PutNamespace(record.clone()),
            Purpose::IndexPut(client) => {
                // Rewrite the row only while the socket lives: a late retry must not revive
                // the row of a closed socket.
                match self.index_row(*client) {
                    Some(row) => row,
                    None => return,
                }
            }
            Purpose::Index(request) => request.clone(),
            Purpose::Kv { .. } | Purpose::Pages { .. } | Purpose::AdminKvGet(_) => return,
        };
        self.issue_store_attempt(request, pending.purpose, pending.attempts);
    }

    /// Answers on the runner's live connection, or holds the answer until it reconnects: the
    /// runner keeps an unanswered request pending for 30 s and never re-sends it.
    pub(crate) fn send_kv_response(
        &mut self,
        runner: RunnerIdx,
        request_id: u32,
        data: KvResponseData,
    ) {
        self.send_or_hold(runner, ToRunner::Kv { request_id, data });
    }
}

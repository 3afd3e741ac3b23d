//! Runner SQLite page-store calls (v8), checked against the actor's ownership and generation
//! and answered through the store, which fences them again against its own registry row and
//! applies the calls' own checks (`page_store::validate`).

use crate::gateway::Gateway;
use crate::ids::ActorId;
use crate::link::PagesCall;
use crate::page_store::{self, PageAnswer, PageError, PageOpKind};
use crate::runner::RunnerIdx;
use crate::store::StoreRequest;
use crate::store_ops::Purpose;

impl Gateway {
    /// A runner may only touch the database of an actor allocated to it, as the generation it
    /// started: a stale instance (an older generation) is refused here, before the store.
    pub(crate) fn handle_pages_call(&mut self, runner: RunnerIdx, call: PagesCall) {
        let kind = call.op.kind();
        // The call's own checks (page numbers, sizes) are the store's, once, with its fences.
        match self.page_caller(runner, &call) {
            Err(refused) => {
                self.cx.metrics.sqlite_calls_rejected += 1;
                self.send_pages_answer(runner, call.request_id, kind, PageAnswer::Error(refused));
            }
            Ok((actor, generation)) => {
                self.cx.metrics.sqlite_calls += 1;
                let request = StoreRequest::Pages {
                    actor,
                    generation,
                    op: Box::new(call.op),
                };
                let purpose = Purpose::Pages {
                    runner,
                    request_id: call.request_id,
                    kind,
                };
                self.issue_store(request, purpose);
            }
        }
    }

    /// The calling actor and generation, if the runner hosts that generation now (starting,
    /// running, or stopping: an actor flushes its database while it stops).
    fn page_caller(
        &self,
        runner: RunnerIdx,
        call: &PagesCall,
    ) -> Result<(ActorId, u64), PageError> {
        let Some(generation) = call.generation else {
            return Err(PageError::invalid("the call names no actor generation"));
        };
        let (id, actor) = ActorId::parse(&call.actor_id)
            .and_then(|id| self.actors.map.get(&id).map(|a| (id, a)))
            .ok_or_else(PageError::actor_not_found)?;
        if actor.phase.runner() != Some(runner) {
            return Err(PageError::actor_not_found());
        }
        page_store::check_generation(generation, Some(actor.record.generation))?;
        Ok((id, generation))
    }

    /// Answers on the runner's live connection, or holds the answer until it reconnects.
    pub(crate) fn send_pages_answer(
        &mut self,
        runner: RunnerIdx,
        request_id: u32,
        kind: PageOpKind,
        answer: PageAnswer,
    ) {
        let Some(protocol) = self.runners.protocol_of(runner) else {
            return;
        };
        // A v7 runner makes no page call, so it is never answered one.
        if let Some(bytes) = protocol.encode_pages(request_id, kind, answer) {
            self.send_or_hold_bytes(runner, bytes);
        }
    }
}

//! Runner KV requests, checked against the actor's ownership and answered through the store.

use crate::gateway::Gateway;
use crate::ids::ActorId;
use crate::link::KvCall;
use crate::runner::RunnerIdx;
use crate::store::StoreRequest;
use crate::store_ops::Purpose;
use torpor_protocol::shared::{KvErrorResponse, KvResponseData};

impl Gateway {
    /// A runner may only touch the KV data of actors allocated to it. The error messages are
    /// the reference's, which runner code may match on.
    pub(crate) fn handle_kv_request(&mut self, runner: RunnerIdx, req: KvCall) {
        let owner = ActorId::parse(&req.actor_id)
            .and_then(|id| self.actors.map.get(&id).map(|a| (id, a.phase.runner())));
        let actor = match owner {
            None => Err("actor does not exist"),
            Some((_, r)) if r != Some(runner) => Err("actor does not belong to runner"),
            Some((id, _)) => Ok(id),
        };
        match actor {
            Err(message) => {
                self.cx.metrics.kv_rejected += 1;
                let data = KvResponseData::Error(KvErrorResponse {
                    message: message.to_owned(),
                });
                self.send_kv_response(runner, req.request_id, data);
            }
            Ok(actor) => {
                self.cx.metrics.kv_requests += 1;
                let request = StoreRequest::Kv {
                    actor,
                    request: Box::new(req.data),
                };
                let purpose = Purpose::Kv {
                    runner,
                    request_id: req.request_id,
                };
                self.issue_store(request, purpose);
            }
        }
    }
}

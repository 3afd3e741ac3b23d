//! Admin commands on the registry.

use super::{Actor, Phase, StopIntent};
use crate::admin::{AdminCommand, AdminError, AdminReply, CreateActor};
use crate::gateway::Gateway;
use crate::ids::{ActorId, AdminReqId};
use crate::io::Output;
use crate::store::{ActorRecord, StoreRequest};
use crate::store_ops::Purpose;
use crate::time::Instant;

impl Gateway {
    pub(crate) fn handle_admin(&mut self, now: Instant, req: AdminReqId, command: AdminCommand) {
        let reply = match command {
            AdminCommand::Create(create) => self.admin_create(now, req, create, false),
            AdminCommand::GetOrCreate(create) => self.admin_create(now, req, create, true),
            AdminCommand::Get(id) => self
                .actors
                .map
                .get(&id)
                .map(|a| AdminReply::Actor {
                    actor: a.info(),
                    created: false,
                })
                .ok_or_else(|| not_found(id))
                .map(Some),
            AdminCommand::List { name } => Ok(Some(AdminReply::Actors(
                self.actors
                    .map
                    .values()
                    .filter(|a| name.as_ref().is_none_or(|n| *n == a.record.name))
                    .map(Actor::info)
                    .collect(),
            ))),
            AdminCommand::Destroy(id) => self.admin_destroy(now, req, id),
            AdminCommand::Sleep(id) => self.admin_sleep(now, id),
            AdminCommand::Sockets(id) => self
                .actors
                .map
                .get(&id)
                .map(|a| {
                    let ids = a.clients.iter().chain(&a.waiting).copied();
                    Some(AdminReply::Sockets(self.clients.describe(ids)))
                })
                .ok_or_else(|| not_found(id)),
        };
        match reply {
            Ok(Some(reply)) => self.reply_admin(req, Ok(reply)),
            Ok(None) => {} // answered when the store op completes
            Err(err) => self.reply_admin(req, Err(err)),
        }
    }

    pub(crate) fn reply_admin(&mut self, req: AdminReqId, reply: Result<AdminReply, AdminError>) {
        self.cx.push(Output::AdminReply { req, reply });
    }

    /// `Ok(None)`: the reply follows once the registry row is durable.
    fn admin_create(
        &mut self,
        now: Instant,
        req: AdminReqId,
        create: CreateActor,
        get_existing: bool,
    ) -> Result<Option<AdminReply>, AdminError> {
        validate_create(&create, &self.cx.config.namespaces)?;
        if let Some(key) = &create.key {
            if let Some(id) = self
                .actors
                .find_by_key(&create.namespace, &create.name, key)
            {
                if !get_existing {
                    return Err(AdminError::Conflict(format!(
                        "actor with name {:?} and key {key:?} already exists: {id}",
                        create.name
                    )));
                }
                let info = self.actors.map.get(&id).map(Actor::info);
                return info
                    .map(|actor| {
                        Some(AdminReply::Actor {
                            actor,
                            created: false,
                        })
                    })
                    .ok_or_else(|| not_found(id));
            }
        }
        let id = ActorId::mint(&mut self.cx.rng);
        let record = ActorRecord {
            id,
            namespace: create.namespace,
            name: create.name,
            key: create.key,
            runner_name: create.runner_name,
            create_ts: create.wall.0,
            input: create.input,
            generation: 0,
            alarm_ts: None,
        };
        self.actors.insert(Actor::new(record.clone(), false));
        self.cx.metrics.actors_created += 1;
        self.issue_store(
            StoreRequest::PutActor(Box::new(record)),
            Purpose::CreateActor { actor: id, req },
        );
        // Like Rivet, a new actor starts right away.
        self.wake_actor(now, id);
        Ok(None)
    }

    fn admin_destroy(
        &mut self,
        now: Instant,
        req: AdminReqId,
        id: ActorId,
    ) -> Result<Option<AdminReply>, AdminError> {
        let actor = self.actors.map.get_mut(&id).ok_or_else(|| not_found(id))?;
        actor.destroy_waiters.push(req);
        match actor.phase {
            Phase::Sleeping | Phase::Placing => self.destroy_actor(now, id),
            Phase::Starting { .. } | Phase::Running { .. } | Phase::Stopping { .. } => {
                self.stop_actor(now, id, StopIntent::Destroy);
            }
        }
        Ok(None)
    }

    fn admin_sleep(&mut self, now: Instant, id: ActorId) -> Result<Option<AdminReply>, AdminError> {
        if !self.actors.map.contains_key(&id) {
            return Err(not_found(id));
        }
        self.stop_actor(now, id, StopIntent::Sleep);
        Ok(Some(AdminReply::Done))
    }
}

fn not_found(id: ActorId) -> AdminError {
    AdminError::NotFound(format!("actor {id} not found"))
}

fn validate_create(create: &CreateActor, namespaces: &[String]) -> Result<(), AdminError> {
    if !namespaces.contains(&create.namespace) {
        return Err(AdminError::Invalid(format!(
            "unknown namespace {:?}",
            create.namespace
        )));
    }
    for (field, value) in [("name", &create.name), ("runner_name", &create.runner_name)] {
        if value.is_empty() {
            return Err(AdminError::Invalid(format!("`{field}` must not be empty")));
        }
    }
    Ok(())
}

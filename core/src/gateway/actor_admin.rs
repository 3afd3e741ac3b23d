//! The admin API on actors and namespaces: create, look up, list, destroy, sleep, KV reads.

use crate::actor::{Actor, Phase, StopIntent};
use crate::admin::{ActorFilter, AdminCommand, AdminError, AdminReply, CreateActor};
use crate::gateway::Gateway;
use crate::ids::{ActorId, AdminReqId};
use crate::io::Output;
use crate::notice::Notice;
use crate::store::{ActorRecord, NamespaceRecord, StoreRequest};
use crate::store_ops::Purpose;
use crate::time::Instant;
use std::collections::BTreeMap;
use torpor_protocol::shared::{KvGetRequest, KvRequestData};

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
                    actor: Box::new(a.info()),
                    created: false,
                })
                .ok_or_else(|| not_found(id))
                .map(Some),
            AdminCommand::List { namespace, filter } => self
                .admin_list(&namespace, &filter)
                .map(|l| Some(AdminReply::Actors(l))),
            AdminCommand::Destroy(id) => self.admin_destroy(now, req, id),
            AdminCommand::Sleep(id) => self.admin_sleep(now, id),
            AdminCommand::CreateNamespace {
                name,
                display_name,
                wall,
            } => self.admin_create_namespace(req, name, display_name, wall),
            AdminCommand::Namespaces { name } => Ok(Some(AdminReply::Namespaces(
                self.namespaces
                    .values()
                    .filter(|ns| name.as_ref().is_none_or(|n| *n == ns.name))
                    .cloned()
                    .collect(),
            ))),
            AdminCommand::KvGet { actor, key } => self.admin_kv_get(req, actor, key),
            AdminCommand::ActorNames { namespace } => {
                if self.namespaces.contains_key(&namespace) {
                    Ok(Some(AdminReply::ActorNames(self.actor_names(&namespace))))
                } else {
                    Err(namespace_not_found(&namespace))
                }
            }
            AdminCommand::Runners { namespace, name } => {
                if self.namespaces.contains_key(&namespace) {
                    Ok(Some(AdminReply::Runners(
                        self.runners.describe(&namespace, name.as_deref()),
                    )))
                } else {
                    Err(namespace_not_found(&namespace))
                }
            }
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

    /// `Ok(None)`: the store answers (see [`Purpose::AdminKvGet`]).
    fn admin_kv_get(
        &mut self,
        req: AdminReqId,
        actor: ActorId,
        key: Vec<u8>,
    ) -> Result<Option<AdminReply>, AdminError> {
        if !self.actors.map.contains_key(&actor) {
            return Err(not_found(actor));
        }
        let request = StoreRequest::Kv {
            actor,
            request: Box::new(KvRequestData::Get(KvGetRequest { keys: vec![key] })),
        };
        self.issue_store(request, Purpose::AdminKvGet(req));
        Ok(None)
    }

    /// The names the namespace's actors have (metadata `{}`), overlaid by those its runners
    /// announced with their metadata.
    fn actor_names(&self, namespace: &str) -> BTreeMap<String, String> {
        let mut names: BTreeMap<String, String> = self
            .actors
            .map
            .values()
            .filter(|a| a.record.namespace == namespace)
            .map(|a| (a.record.name.clone(), "{}".to_owned()))
            .collect();
        for (name, metadata) in self.runners.announced_names(namespace) {
            names.insert(name.to_owned(), metadata.to_owned());
        }
        names
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
        if !self.namespaces.contains_key(&create.namespace) {
            return Err(namespace_not_found(&create.namespace));
        }
        validate_create(&create)?;
        if let Some(key) = &create.key {
            if let Some(id) = self
                .actors
                .find_by_key(&create.namespace, &create.name, key)
            {
                if !get_existing {
                    return Err(AdminError::DuplicateKey {
                        key: key.clone(),
                        existing: id,
                    });
                }
                let info = self.actors.map.get(&id).map(Actor::info);
                return info
                    .map(|actor| {
                        Some(AdminReply::Actor {
                            actor: Box::new(actor),
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
            crash_policy: create.crash_policy,
        };
        self.cx.notify(Notice::ActorCreated {
            actor: id,
            namespace: record.namespace.clone(),
            name: record.name.clone(),
            key: record.key.clone(),
        });
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

    /// `POST /namespaces`: `Ok(None)`, the reply follows once the row is durable (the
    /// namespace exists from now on; it goes again if the store refuses it for good).
    fn admin_create_namespace(
        &mut self,
        req: AdminReqId,
        name: String,
        display_name: String,
        wall: crate::time::UnixMillis,
    ) -> Result<Option<AdminReply>, AdminError> {
        validate_namespace(&name, &display_name).map_err(AdminError::NamespaceInvalid)?;
        if self.namespaces.contains_key(&name) {
            return Err(AdminError::NamespaceExists);
        }
        let record = NamespaceRecord {
            name: name.clone(),
            display_name,
            create_ts: wall.0,
        };
        self.namespaces.insert(name, record.clone());
        self.issue_store(
            StoreRequest::PutNamespace(record.clone()),
            Purpose::CreateNamespace { record, req },
        );
        Ok(None)
    }

    /// `GET /actors`: the namespace's actors that match, newest first.
    fn admin_list(
        &self,
        namespace: &str,
        filter: &ActorFilter,
    ) -> Result<Vec<crate::admin::ActorInfo>, AdminError> {
        if !self.namespaces.contains_key(namespace) {
            return Err(namespace_not_found(namespace));
        }
        let in_ns = |a: &&Actor| a.record.namespace == namespace;
        let mut list: Vec<&Actor> = match filter {
            ActorFilter::Ids(ids) => ids
                .iter()
                .filter_map(|id| self.actors.map.get(id))
                .filter(in_ns)
                .collect(),
            ActorFilter::Key { name, key } => self
                .actors
                .find_by_key(namespace, name, key)
                .and_then(|id| self.actors.map.get(&id))
                .into_iter()
                .collect(),
            ActorFilter::Name(name) => self
                .actors
                .map
                .values()
                .filter(in_ns)
                .filter(|a| a.record.name == *name)
                .collect(),
            ActorFilter::All => self.actors.map.values().filter(in_ns).collect(),
        };
        list.sort_by_key(|a| (std::cmp::Reverse(a.record.create_ts), a.record.id));
        list.dedup_by_key(|a| a.record.id);
        Ok(list.into_iter().map(Actor::info).collect())
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

fn namespace_not_found(namespace: &str) -> AdminError {
    AdminError::NamespaceNotFound(format!("The namespace {namespace:?} does not exist."))
}

/// Longest key, as on the engine (`actor.key_too_large`).
const MAX_KEY_BYTES: usize = 1024;

/// Longest actor name and runner name: they are map keys in the store, in every listing and
/// in logs.
pub(crate) const MAX_NAME_BYTES: usize = 128;

fn validate_create(create: &CreateActor) -> Result<(), AdminError> {
    for (field, value) in [
        ("name", &create.name),
        ("runner_name_selector", &create.runner_name),
    ] {
        if value.is_empty() {
            return Err(AdminError::Invalid(format!("`{field}` must not be empty")));
        }
        if value.len() > MAX_NAME_BYTES {
            return Err(AdminError::Invalid(format!(
                "`{field}` is too long ({} bytes; max {MAX_NAME_BYTES})",
                value.len()
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(AdminError::Invalid(format!(
                "`{field}` must not contain control characters (NUL, newlines, …)"
            )));
        }
    }
    match create.key.as_deref() {
        Some("") => Err(AdminError::Invalid("Key label cannot be empty.".to_owned())),
        Some(k) if k.len() > MAX_KEY_BYTES => Err(AdminError::Invalid(format!(
            "Key label too large (max {MAX_KEY_BYTES} bytes)"
        ))),
        Some(k) if k.contains('\0') => Err(AdminError::Invalid(
            "Key label must not contain NUL characters.".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// The engine's rules for a namespace's name and display name; the reason it breaks one.
fn validate_namespace(name: &str, display_name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name too short".to_owned());
    }
    if name.len() > 64 {
        return Err("name too long".to_owned());
    }
    let ident = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ident {
        return Err("invalid name".to_owned());
    }
    if display_name.is_empty() {
        return Err("display name too short".to_owned());
    }
    if display_name.len() > 128 {
        return Err("display name too long".to_owned());
    }
    let tidy = !display_name.chars().any(|c| c.is_whitespace() && c != ' ')
        && display_name.trim() == display_name
        && !display_name.contains("  ");
    if !tidy {
        return Err("invalid display name".to_owned());
    }
    Ok(())
}

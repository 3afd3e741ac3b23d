//! Identifier newtypes. Adapter-assigned ids ([`ClientId`], [`RunnerConnId`], [`AdminReqId`])
//! come from the adapter's counters; the core mints [`ActorId`]s from its seeded RNG and
//! [`OpId`]s from a counter.

use std::fmt;

/// A lookup map for the per-frame hot path (clients, requests, actors). The keys are ids the
/// core mints or numbers itself, never chosen by a peer (a peer can only look one up), so the
/// Fx hash (a multiply per word, against SipHash's rounds) is safe here; it has no random state,
/// so the map stays deterministic. Whatever iterates one to produce outputs sorts first or
/// goes through an ordered index (such as `Actor::clients`), so output order never depends on
/// hashing.
#[allow(clippy::disallowed_types)]
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

macro_rules! counter_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a raw number.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }
            /// The raw number.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "#{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

counter_id!(
    /// One client connection (a WebSocket or one HTTP request), numbered by the adapter.
    ClientId,
    "client"
);
counter_id!(
    /// One runner WebSocket connection, numbered by the adapter.
    RunnerConnId,
    "runner_conn"
);
counter_id!(
    /// One admin API request awaiting its reply, numbered by the adapter.
    AdminReqId,
    "admin"
);
counter_id!(
    /// One store operation, numbered by the core.
    OpId,
    "op"
);

/// An actor: a UUID, rendered in its hyphenated form on the wire and in URLs.
///
/// Held as the UUID's big-endian value split in two `u64`s, high half first: ids order exactly
/// as the UUIDs' bytes do while a comparison is two integer compares (every proxied frame
/// looks its actor up by id), and the id keeps the 8-byte alignment of the structs that
/// hold it (a `u128` would ask for 16).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId([u64; 2]);

impl ActorId {
    /// Wraps a UUID.
    pub const fn from_uuid(id: uuid::Uuid) -> Self {
        let (high, low) = id.as_u64_pair();
        Self([high, low])
    }

    /// Parses the hyphenated (or simple) form; `None` if it is not a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s).ok().map(Self::from_uuid)
    }

    /// Mints a random (version 4 layout) id from the core's seeded RNG.
    pub(crate) fn mint(rng: &mut fastrand::Rng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        Self::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The UUID.
    pub const fn uuid(self) -> uuid::Uuid {
        let [high, low] = self.0;
        uuid::Uuid::from_u64_pair(high, low)
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.uuid())
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.uuid().hyphenated(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::ActorId;

    /// Actor ids sort as their UUIDs' bytes do: admin listings and every ordered map keyed by
    /// actor depend on it. Pairs that differ only in a late byte, and across the `u64` halves,
    /// are where a wrong integer order would show.
    #[test]
    fn actor_ids_sort_by_their_bytes() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut ids: Vec<ActorId> = (0..200).map(|_| ActorId::mint(&mut rng)).collect();
        let base = *rng.choice(&ids).expect("ids");
        for at in [0, 7, 8, 15] {
            let mut bytes = *base.uuid().as_bytes();
            bytes[at] = bytes[at].wrapping_add(1);
            ids.push(ActorId::from_uuid(uuid::Uuid::from_bytes(bytes)));
        }
        let mut by_id = ids.clone();
        by_id.sort();
        let mut by_bytes = ids;
        by_bytes.sort_by_key(|id| *id.uuid().as_bytes());
        assert_eq!(by_id, by_bytes);
    }
}

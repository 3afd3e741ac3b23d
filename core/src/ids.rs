//! Identifier newtypes. Adapter-assigned ids ([`ClientId`], [`RunnerConnId`], [`AdminReqId`])
//! come from the adapter's counters; the core mints [`ActorId`]s from its seeded RNG and
//! [`OpId`]s from a counter.

use std::fmt;

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
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(uuid::Uuid);

impl ActorId {
    /// Wraps a UUID.
    pub const fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }

    /// Parses the hyphenated (or simple) form; `None` if it is not a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s).ok().map(Self)
    }

    /// Mints a random (version 4 layout) id from the core's seeded RNG.
    pub(crate) fn mint(rng: &mut fastrand::Rng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The UUID.
    pub const fn uuid(self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.0)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

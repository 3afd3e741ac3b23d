//! Named deadlines in one ordered index.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{ActorId, ClientId, OpId, RunnerConnId};
use crate::runner::RunnerIdx;
use crate::time::Instant;

/// Every deadline the core can arm. Ordered, so expiry order is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKey {
    /// The connection must send `ToServerInit` by then.
    RunnerInit(RunnerConnId),
    /// Send the next ping.
    RunnerPing(RunnerConnId),
    /// The runner must have answered a ping by then (moved on every pong).
    RunnerPongDue(RunnerConnId),
    /// A disconnected runner instance's actors are lost.
    RunnerLost(RunnerIdx),
    /// The actor must be `Running` by then.
    ActorStart(ActorId),
    /// The actor must be `Stopped` by then.
    ActorStop(ActorId),
    /// The sleeping actor's alarm is due.
    ActorAlarm(ActorId),
    /// A crash-looping actor may be started again (see `Config::crash_restart_delay`).
    ActorRestart(ActorId),
    /// The runner must answer the WebSocket open by then.
    WebSocketOpen(ClientId),
    /// The runner must start the HTTP response by then.
    HttpResponse(ClientId),
    /// Retry a failed store operation.
    StoreRetry(OpId),
    /// An attached hibernatable socket's un-acked messages waited too long.
    AckTimeout(ClientId),
    /// A woken actor's hibernating sockets give up waiting.
    WakeDeadline(ActorId),
    /// Renew the hibernation index lease (and collect stale rows when due).
    LeaseRenewal,
}

/// Deadlines by time and by key; setting a key replaces its earlier deadline.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_deadline: BTreeSet<(Instant, TimerKey)>,
    by_key: BTreeMap<TimerKey, Instant>,
}

impl Timers {
    pub(crate) fn set(&mut self, key: TimerKey, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.by_deadline.remove(&(old, key));
        }
        self.by_deadline.insert((at, key));
    }

    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_deadline.remove(&(old, key));
        }
    }

    pub(crate) fn next(&self) -> Option<(Instant, TimerKey)> {
        self.by_deadline.first().copied()
    }

    /// Removes and returns the earliest key due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let &(at, key) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    pub(crate) fn deadline_of(&self, key: TimerKey) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// Every armed key.
    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn keys(&self) -> impl Iterator<Item = TimerKey> + '_ {
        self.by_key.keys().copied()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_pop_is_ordered() {
        let mut t = Timers::default();
        let a = TimerKey::RunnerPing(RunnerConnId::new(1));
        let b = TimerKey::RunnerPing(RunnerConnId::new(2));
        t.set(a, Instant::from_millis(50));
        t.set(b, Instant::from_millis(20));
        t.set(a, Instant::from_millis(10));
        assert_eq!(t.len(), 2);
        assert_eq!(t.next(), Some((Instant::from_millis(10), a)));
        assert_eq!(t.pop_due(Instant::from_millis(5)), None);
        assert_eq!(t.pop_due(Instant::from_millis(30)), Some(a));
        assert_eq!(t.pop_due(Instant::from_millis(30)), Some(b));
        assert_eq!(t.pop_due(Instant::from_millis(100)), None);
        t.set(a, Instant::from_millis(1));
        t.cancel(a);
        assert_eq!(t.next(), None);
    }
}

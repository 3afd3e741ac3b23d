//! Counters and histograms kept by the core, read through [`crate::Gateway::metrics`] and
//! [`crate::Gateway::histograms`]. An output is an obligation; a metric is an observation.

macro_rules! counters {
    ($( $(#[doc = $doc:literal])+ $name:ident ),* $(,)?) => {
        /// Monotonic counters (Prometheus `counter`s).
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Metrics {
            $( $(#[doc = $doc])+ pub $name: u64, )*
        }

        impl Metrics {
            /// Every counter as `(name, help, value)`, for exporters.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
                [$( (stringify!($name), concat!($($doc),+), self.$name), )*].into_iter()
            }
        }
    };
}

counters! {
    /// Runner connections accepted.
    runner_connects,
    /// Runner connections refused (version, namespace, token, limit, a pool of the other
    /// protocol).
    runner_rejects,
    /// Runner calls refused because the gateway does not serve them (v8's remote SQL execution).
    runner_calls_refused,
    /// Runner frames that failed to decode (the runner is closed).
    runner_decode_errors,
    /// Runner text frames ignored.
    runner_text_frames,
    /// Runners closed for not sending `ToServerInit` in time.
    runner_init_timeouts,
    /// Runners closed for a stale pong.
    runner_ping_timeouts,
    /// Runner sessions resumed by a reconnect with the same key.
    runner_reconnects,
    /// Older sessions closed because the same key connected again.
    runner_sessions_replaced,
    /// HTTP requests, opening WebSockets and non-hibernatable WebSockets failed because their
    /// runner connection dropped while they were in flight.
    requests_failed_runner_disconnected,
    /// Un-acked client messages resent on a runner reconnect.
    ws_messages_resent_on_reconnect,
    /// Actor → client messages dropped because the client had already closed.
    ws_messages_to_closed_client,
    /// Runner instances declared lost after the threshold.
    runners_lost,
    /// Commands re-sent after a reconnect because their effect was not observed.
    commands_replayed,
    /// Stops settled on a reconnect because the runner showed it never had the actor (its
    /// start was lost with the link), instead of waiting for the stop timeout.
    stops_settled_unstarted,
    /// Events ignored as duplicates (index already seen).
    events_duplicate,
    /// Events ignored for another generation or an actor the runner does not host.
    events_stale,
    /// Placements that waited for the store to hold the actor's current generation first
    /// (see `Actor::durable_generation`).
    starts_waiting_for_store,
    /// Actors destroyed because they crashed (or lost their runner) with crash policy `destroy`.
    actors_destroyed_by_crash_policy,
    /// Actors started again because they crashed (or lost their runner) with crash policy
    /// `restart`.
    actors_restarted_by_crash_policy,
    /// Starts of crash-looping actors held back (`Config::crash_restart_delay`).
    actor_restarts_delayed,
    /// Stray actor instances told to stop.
    stray_actors_stopped,
    /// Actor starts sent.
    actor_starts,
    /// Actors that reported `Running`.
    actor_running,
    /// Actor stops observed.
    actor_stops,
    /// Stops with no preceding intent (crashes).
    actor_crashes,
    /// Actors that did not report `Running` in time.
    actor_start_timeouts,
    /// Actors that did not report `Stopped` in time.
    actor_stop_timeouts,
    /// Alarms that woke a sleeping actor.
    alarms_fired,
    /// Actors created.
    actors_created,
    /// Actors destroyed.
    actors_destroyed,
    /// Tunnel messages dropped: unknown gateway or request.
    tunnel_dropped_unknown,
    /// Tunnel messages dropped: the request's actor is not hosted by the sending runner.
    tunnel_dropped_foreign,
    /// Tunnel messages dropped: the message kind is not legal in the request's state.
    tunnel_dropped_illegal,
    /// KV requests refused: actor unknown or hosted elsewhere.
    kv_rejected,
    /// KV requests executed.
    kv_requests,
    /// SQLite page-store calls refused before the store: actor unknown, hosted elsewhere or by
    /// a newer generation, or no generation named.
    sqlite_calls_rejected,
    /// SQLite page-store calls passed to the store (which may still refuse them on its fences).
    sqlite_calls,
    /// SQLite page-store calls the store refused: malformed, over a limit, or stopped by its
    /// generation or head fence (answered in the engine's error shape).
    sqlite_store_refusals,
    /// Client connections refused (unknown actor, limits).
    client_rejects,
    /// Client WebSockets opened on an actor.
    ws_opened,
    /// WebSocket opens not answered in time.
    ws_open_timeouts,
    /// Client → actor WebSocket messages forwarded.
    ws_messages_to_runner,
    /// Actor → client WebSocket messages forwarded.
    ws_messages_to_client,
    /// Client messages over the forward limit (closed with 1009).
    ws_messages_too_big,
    /// Actor text messages that were not UTF-8 (sent with replacement characters).
    ws_invalid_utf8_from_runner,
    /// WebSockets closed by the client.
    ws_closed_by_client,
    /// WebSockets closed by the actor.
    ws_closed_by_runner,
    /// WebSockets closed because their actor stopped.
    ws_closed_actor_stopped,
    /// Opens of sockets whose clients had left with frames undelivered, retried under a fresh
    /// request id because the actor's allocation ended or the runner link dropped while they
    /// were in flight.
    ws_opens_retried,
    /// Sockets of clients that left with frames undelivered, dropped with those frames after
    /// `MAX_INTERRUPTED_ALLOCATIONS` allocations in a row ended before the socket was open or
    /// restored (an actor that crashes on every start must not loop).
    ws_left_frames_given_up,
    /// HTTP requests received.
    http_requests,
    /// HTTP responses started by actors.
    http_responses,
    /// HTTP requests whose response did not start in time.
    http_response_timeouts,
    /// HTTP requests failed with 503 because the actor stopped or could not start.
    http_failed_unavailable,
    /// HTTP responses aborted by the actor.
    http_aborted,
    /// Requests refused because an actor's waiting queue was full.
    waiting_queue_full,
    /// Store operations issued.
    store_ops,
    /// Store operations that failed.
    store_errors,
    /// Store retries scheduled.
    store_retries,
    /// Store operations that failed for good (constraint violated, database corrupt): never
    /// retried; see DESIGN.md "Store failures" for what each means.
    store_permanent_failures,
    /// Completions for operations no longer in flight.
    store_late_completions,
    /// Client reads paused (window or global budget full).
    reads_paused,
    /// Cumulative acks applied to hibernatable sockets.
    ws_acks,
    /// Attached sockets closed because acks stopped coming.
    ws_ack_timeouts,
    /// Sockets closed because their client did not read.
    ws_client_too_slow,
    /// Streamed HTTP responses aborted because their client did not read.
    http_client_too_slow,
    /// New hibernatable sockets refused by the per-actor limit.
    socket_limit_rejects,
    /// Sockets that went into hibernation.
    ws_hibernated,
    /// Sockets re-attached after a wake.
    ws_resumed,
    /// Un-acked messages resent after a wake.
    ws_messages_resent,
    /// Clients that closed while their socket hibernated.
    ws_closed_while_hibernating,
    /// Hibernating sockets closed because their actor did not wake in time.
    ws_wake_timeouts,
    /// Wakes caused by a client frame on a hibernating socket.
    wakes_for_hibernation,
    /// Wakes caused by a client closing a hibernating socket (`wake_on_close`).
    wakes_for_close,
    /// Wakes of sleeping actors whose hibernating sockets' un-acked messages held an
    /// exhausted budget that a paused client was waiting for.
    wakes_for_budget,
    /// Wakes for hibernating sockets that completed (actor running again).
    wakes_completed,
    /// Hibernation index rows written.
    index_writes,
    /// Hibernation index rows deleted.
    index_deletes,
    /// Renewals of this gateway's hibernation index lease (the keepalive of all its rows).
    index_lease_renewals,
    /// Notices for the logs dropped because the embedder did not drain them
    /// (`notice::NOTICES_KEPT`).
    notices_dropped,
}

/// Upper bounds of the wake latency buckets, in milliseconds.
const WAKE_LATENCY_MS: &[u64] = &[
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

/// Distributions (Prometheus `histogram`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histograms {
    /// Wake latency in milliseconds: from the first client frame for a sleeping actor's
    /// hibernating sockets to the actor running again.
    pub wake_latency_ms: Histogram,
}

impl Default for Histograms {
    fn default() -> Self {
        Self {
            wake_latency_ms: Histogram::new(WAKE_LATENCY_MS),
        }
    }
}

impl Histograms {
    /// Every histogram as `(name, help, histogram)`, for exporters.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, &Histogram)> + '_ {
        [(
            "wake_latency_ms",
            "Wake latency in ms: first client frame for a sleeping actor to the actor running.",
            &self.wake_latency_ms,
        )]
        .into_iter()
    }
}

/// Observations counted into buckets with fixed upper bounds, plus their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    bounds: &'static [u64],
    /// `counts[i]` holds observations above `bounds[i - 1]` and at most `bounds[i]`; the last
    /// slot holds those above every bound.
    counts: Vec<u64>,
    sum: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (ascending).
    pub fn new(bounds: &'static [u64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, value: u64) {
        let bucket = self.bounds.partition_point(|&b| b < value);
        if let Some(n) = self.counts.get_mut(bucket) {
            *n += 1;
        }
        self.sum = self.sum.saturating_add(value);
    }

    /// Cumulative counts by upper bound, ending with `None` (+Inf): Prometheus buckets.
    pub fn buckets(&self) -> impl Iterator<Item = (Option<u64>, u64)> + '_ {
        let bounds = self.bounds.iter().map(|&b| Some(b)).chain([None]);
        bounds.zip(self.counts.iter()).scan(0, |total, (bound, n)| {
            *total += n;
            Some((bound, *total))
        })
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of the observations.
    pub fn sum(&self) -> u64 {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let mut h = Histogram::new(&[1, 10, 100]);
        for v in [0, 1, 2, 10, 11, 100, 5_000] {
            h.observe(v);
        }
        let buckets: Vec<_> = h.buckets().collect();
        assert_eq!(
            buckets,
            [(Some(1), 2), (Some(10), 4), (Some(100), 6), (None, 7)]
        );
        assert_eq!((h.count(), h.sum()), (7, 5_124));
    }
}

//! The fault and workload mix of one world, and the counts of what fired.

/// Fault and workload mix for one run, drawn from the seed (swarm testing: each seed stresses
/// a different corner).
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Steps in the fault phase.
    pub steps: usize,
    /// Probability that a handled message is persisted at once.
    pub persist_now: f64,
    /// Probability that a persist is followed by its ack at once.
    pub ack_now: f64,
    /// Per-step probability of an actor asking to sleep.
    pub sleep: f64,
    /// Per-step probability of an actor crashing (possibly between persist and ack).
    pub crash: f64,
    /// Per-step probability of a runner process dying.
    pub runner_crash: f64,
    /// Per-step probability of a client closing.
    pub client_close: f64,
    /// Per-step probability of a client sending a few messages and closing at once.
    pub send_then_close: f64,
    /// Per-step probability of a runner connection dropping, losing what was in flight.
    pub runner_drop: f64,
    /// Probability that the gateway hears of a dropped connection only late (after the runner
    /// reconnected, or by its ping timeout).
    pub late_detect: f64,
    /// Probability that a dropped runner comes back as a new process with a new key.
    pub replace_process: f64,
    /// Per-step probability that the links deliver only part of what is in flight.
    pub link_hold: f64,
    /// Per-step probability of a runner sending malformed bytes.
    pub garbage: f64,
    /// Per-step probability of the gateway restarting.
    pub restart: f64,
    /// Per-step probability of a client being reported too slow to read.
    pub slow_client: f64,
    /// Per-step probability of an actor setting an alarm and going to sleep.
    pub alarm: f64,
    /// Per-step probability of an actor sending a message to one of its clients.
    pub actor_send: f64,
    /// Probability that the runner answers `canHibernate = false` for a new socket.
    pub non_hibernatable: f64,
    /// Per-step probability of an HTTP request.
    pub http: f64,
    /// Probability that an HTTP response is streamed.
    pub http_stream: f64,
    /// Per-step probability of a runner sending `ToServerAckCommands`.
    pub ack_commands: f64,
    /// Probability that an actor takes a while to stop (`onActorStop` flushing).
    pub slow_stop: f64,
    /// Probability that a store operation fails.
    pub store_error: f64,
    /// Share of store failures that are permanent (constraint or corruption).
    pub store_permanent: f64,
    /// Probability that a step leaves the store's queue unprocessed.
    pub store_delay: f64,
    /// Messages one client sends in a single burst step (0: no burst), enough to wrap the u16
    /// message index in the worlds that have one.
    pub burst: usize,
    /// `Config::socket_window_messages`.
    pub window_messages: usize,
    /// `Config::socket_window_bytes`.
    pub window_bytes: usize,
    /// `Config::pending_budget_bytes`.
    pub budget_bytes: usize,
    /// `Config::wake_on_close`.
    pub wake_on_close: bool,
}

/// One world in this many wraps a message index: a burst costs as much as a few hundred
/// ordinary worlds.
const BURST_ONE_IN: u64 = 400;

impl SimParams {
    /// Draws a mix from `rng`.
    pub fn draw(rng: &mut fastrand::Rng) -> Self {
        let window_bytes = 64 + rng.usize(0..256);
        // Tight worlds: a global budget barely above one window, so the budget pauses sockets
        // that their own windows would not.
        let budget_bytes = if rng.bool() {
            window_bytes + rng.usize(0..window_bytes)
        } else {
            2048 + rng.usize(0..2048)
        };
        Self {
            steps: 40 + rng.usize(0..80),
            persist_now: rng.f64(),
            ack_now: rng.f64(),
            sleep: rng.f64() * 0.08,
            crash: rng.f64() * 0.04,
            runner_crash: rng.f64() * 0.02,
            client_close: rng.f64() * 0.02,
            send_then_close: rng.f64() * 0.05,
            runner_drop: 0.01 + rng.f64() * 0.06,
            late_detect: rng.f64(),
            replace_process: rng.f64() * 0.3,
            link_hold: rng.f64() * 0.6,
            garbage: rng.f64() * 0.01,
            restart: rng.f64() * 0.01,
            slow_client: rng.f64() * 0.015,
            alarm: rng.f64() * 0.03,
            actor_send: rng.f64() * 0.15,
            non_hibernatable: rng.f64() * 0.5,
            http: rng.f64() * 0.06,
            http_stream: rng.f64(),
            ack_commands: rng.f64() * 0.03,
            slow_stop: rng.f64() * 0.5,
            store_error: rng.f64() * 0.15,
            store_permanent: rng.f64() * 0.4,
            store_delay: rng.f64() * 0.8,
            burst: if rng.u64(0..BURST_ONE_IN) == 0 {
                66_000 + rng.usize(0..4_000)
            } else {
                0
            },
            window_messages: 1 + rng.usize(0..8),
            window_bytes,
            budget_bytes,
            wake_on_close: rng.f64() < 0.8,
        }
    }
}

macro_rules! stats {
    ($( $(#[doc = $doc:literal])+ $name:ident ),* $(,)?) => {
        /// Fault and event counts of one run (or of many, added up).
        #[derive(Debug, Default, Clone, Copy)]
        pub struct SimStats {
            $( $(#[doc = $doc])+ pub $name: u64, )*
        }

        impl SimStats {
            /// Adds another run's counts.
            pub fn add(&mut self, o: &Self) {
                $( self.$name += o.$name; )*
            }

            /// 1 for each count above zero (added up over runs: how many runs saw it).
            pub fn fired(&self) -> Self {
                Self {
                    $( $name: u64::from(self.$name > 0), )*
                }
            }

            /// Every count with its name, for reports.
            pub fn counts(&self) -> Vec<(&'static str, u64)> {
                vec![$( (stringify!($name), self.$name), )*]
            }
        }
    };
}

stats! {
    /// Worlds whose actors are served by v8 envoys only (1 per such world).
    envoy_worlds,
    /// Worlds with a v7 runner pool and a v8 envoy pool side by side (1 per such world).
    mixed_worlds,
    /// Gateway restarts.
    restarts,
    /// Runner connections dropped with frames in flight (the process kept its state).
    runner_drops,
    /// Drops the gateway heard of only late.
    late_detections,
    /// Reconnects that reached the gateway before it noticed the old connection died
    /// ("session replaced").
    sessions_replaced,
    /// Dropped runners that came back as a new process with a new key.
    process_replacements,
    /// Runner processes crashed.
    runner_crashes,
    /// Gateway → runner frames lost on dead links.
    frames_lost_to_runner,
    /// Runner → gateway frames lost on dead links.
    frames_lost_to_gateway,
    /// Tunnel messages a disconnected runner buffered and sent after its next init.
    runner_buffered,
    /// Malformed runner frames.
    garbage,
    /// Store operations failed with `Busy`.
    store_busy,
    /// Store operations failed with `Io`.
    store_io,
    /// Store operations failed with `Constraint`.
    store_constraint,
    /// Store operations failed with `Corrupt`.
    store_corrupt,
    /// Alarms set before a sleep.
    alarms,
    /// Clients reported too slow.
    slow_clients,
    /// Client messages persisted by actors.
    persisted,
    /// Actor → client messages received by clients.
    actor_messages,
    /// Sockets the runner accepted as non-hibernatable.
    non_hibernatable,
    /// HTTP requests sent.
    http_requests,
    /// HTTP responses streamed by actors.
    http_streamed,
    /// HTTP requests failed with `torpor.runner_disconnected`.
    http_runner_disconnected,
    /// `ToServerAckCommands` sent.
    ack_commands,
    /// Client reads paused.
    pauses,
    /// Client reads resumed.
    resumes,
    /// Pauses that happened while the global budget was over.
    budget_pauses,
    /// Sockets whose client → actor message index wrapped past 65,535.
    index_wraps,
    /// Send-then-close on a hibernating socket of a sleeping actor.
    close_sleeping,
    /// Send-then-close while the actor was starting.
    close_starting,
    /// Send-then-close while the actor ran and the socket's window was full.
    close_running_full,
    /// Send-then-close while the actor was stopping.
    close_stopping,
    /// Actors that took a while to stop.
    slow_stops,
}

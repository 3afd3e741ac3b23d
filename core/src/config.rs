//! Gateway configuration: every knob with its default and the reason for the number.

use std::fmt;
use std::time::Duration;

/// Everything the core's behaviour depends on besides its inputs. Build with
/// [`Config::default`], adjust fields, and [`Config::validate`] (done by [`crate::Gateway::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Namespaces runners may join. `default` is the one the runner uses unless told otherwise.
    pub namespaces: Vec<String>,
    /// Token runners must present (`rivet_token.<token>` subprotocol); `None` = no check.
    pub runner_token: Option<String>,
    /// A runner must send `ToServerInit` this soon after connecting (reference: 5 s).
    pub runner_init_timeout: Duration,
    /// Interval between `ToClientPing`s (reference: 3 s).
    pub runner_ping_interval: Duration,
    /// A runner whose last pong is older than this is disconnected (reference: 15 s).
    pub runner_pong_timeout: Duration,
    /// A disconnected runner's actors are lost after this unless the same runner key reconnects.
    /// Also sent to the runner as `runnerLostThreshold` (reference: 15 s).
    pub runner_lost_threshold: Duration,
    /// An actor must report `Running` this soon after its start command, or after it started
    /// waiting for a runner (reference: 30 s).
    pub actor_start_timeout: Duration,
    /// An actor must report `Stopped` this soon after its stop command (reference: 30 s). Sent to
    /// the runner as `actorStopThreshold`.
    pub actor_stop_timeout: Duration,
    /// The runner must answer `ToClientWebSocketOpen` this soon (reference: 15 s).
    pub websocket_open_timeout: Duration,
    /// The runner must start an HTTP response this soon. 5 min, not the reference's 300 s of
    /// silence for unknown actors: requests only go to running actors here.
    pub http_response_timeout: Duration,
    /// Most client requests (opens and HTTP) queued per actor while it starts; beyond it new
    /// ones get 503. Bounds memory while a runner is missing.
    pub max_waiting_requests_per_actor: usize,
    /// Largest client message forwarded to a runner: the npm runner refuses payloads over
    /// 20 MiB, so larger ones are closed with 1009 instead of killing the actor's handler.
    pub max_forward_message_bytes: usize,
    /// Client frames buffered per socket before the runner accepts its open; beyond it the
    /// adapter is told to pause reading that client.
    pub opening_buffer_bytes: usize,
    /// Most runner connections at once (each holds a socket and actor state).
    pub max_runners: usize,
    /// Most client connections (WebSockets + in-flight HTTP requests) at once.
    pub max_clients: usize,
    /// First retry delay of a failed store operation; doubles per attempt up to
    /// `store_retry_max`.
    pub store_retry_base: Duration,
    /// Longest delay between store retries.
    pub store_retry_max: Duration,
    /// An actor that crashes again (or loses its runner again) within `crash_streak_reset` of
    /// its last crash is started again only after this delay, doubled per further crash up to
    /// `crash_restart_delay_max`; the first crash restarts at once. The engine does the same
    /// (2 s base there), so a start that always fails does not spin the runner.
    pub crash_restart_delay: Duration,
    /// Longest delay before a crash-looping actor is started again.
    pub crash_restart_delay_max: Duration,
    /// A crash this long after the previous one counts as the first again (engine: 10 min).
    pub crash_streak_reset: Duration,
    /// Decode limits for runner frames.
    pub decode_limits: torpor_protocol::Limits,
    /// An attached hibernatable socket closes (1011 `torpor.ack_timeout`) when its oldest
    /// un-acked message has waited this long since the last (re)send. Paused while detached.
    pub ack_timeout: Duration,
    /// Hibernating sockets close (1011 `torpor.actor_wake_timeout`) if their actor is not
    /// running this long after a wake began.
    pub wake_deadline: Duration,
    /// Index rows older than this are garbage; live rows are refreshed every half of it.
    pub hibernation_eligible_threshold: Duration,
    /// Un-acked bytes one hibernatable socket may have outstanding before its reads pause.
    pub socket_window_bytes: usize,
    /// Un-acked messages one socket may have outstanding. At most 32,767 so the wrapping u16
    /// index comparison is never ambiguous (RUNNER-PROTOCOL §17 #12).
    pub socket_window_messages: usize,
    /// Bytes held for clients across all sockets (un-acked plus queued) before reads pause.
    pub pending_budget_bytes: usize,
    /// A client whose unsent actor → client bytes exceed this is closed with 1008
    /// `torpor.client_too_slow` (measured by the adapter, which reports it as an input). A
    /// streamed HTTP response past it is aborted (reported as the client going away).
    pub client_outbound_max_bytes: usize,
    /// Most hibernatable sockets per actor; beyond it new ones close with 1013.
    pub max_hibernating_per_actor: usize,
    /// Wake an actor when a client closes its hibernating socket, so its close handler runs
    /// promptly (Cloudflare dispatches `webSocketClose` the same way).
    pub wake_on_close: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespaces: vec!["default".to_owned()],
            runner_token: None,
            runner_init_timeout: Duration::from_secs(5),
            runner_ping_interval: Duration::from_secs(3),
            runner_pong_timeout: Duration::from_secs(15),
            runner_lost_threshold: Duration::from_secs(15),
            actor_start_timeout: Duration::from_secs(30),
            actor_stop_timeout: Duration::from_secs(30),
            websocket_open_timeout: Duration::from_secs(15),
            http_response_timeout: Duration::from_secs(300),
            max_waiting_requests_per_actor: 1024,
            max_forward_message_bytes: 20 * 1024 * 1024,
            opening_buffer_bytes: 1024 * 1024,
            max_runners: 1024,
            max_clients: 1_000_000,
            store_retry_base: Duration::from_millis(100),
            store_retry_max: Duration::from_secs(10),
            crash_restart_delay: Duration::from_secs(1),
            crash_restart_delay_max: Duration::from_secs(30),
            crash_streak_reset: Duration::from_secs(600),
            decode_limits: torpor_protocol::Limits::DEFAULT,
            ack_timeout: Duration::from_secs(30),
            wake_deadline: Duration::from_secs(90),
            hibernation_eligible_threshold: Duration::from_secs(90),
            socket_window_bytes: 4 * 1024 * 1024,
            socket_window_messages: 32_767,
            pending_budget_bytes: 512 * 1024 * 1024,
            client_outbound_max_bytes: 4 * 1024 * 1024,
            max_hibernating_per_actor: 32_768,
            wake_on_close: true,
        }
    }
}

/// A configuration field that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as named in [`Config`].
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config `{}`: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn bad(field: &'static str, problem: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        field,
        problem: problem.into(),
    })
}

/// Durations are configured in whole milliseconds; zero means "never" nowhere.
fn positive_ms(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return bad(field, "must be greater than zero");
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        return bad(field, "must be a whole number of milliseconds");
    }
    Ok(())
}

impl Config {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.namespaces.is_empty() {
            bad("namespaces", "at least one namespace is required")?;
        }
        if let Some(ns) = self.namespaces.iter().find(|n| n.is_empty()) {
            bad("namespaces", format!("empty namespace name {ns:?}"))?;
        }
        if self.runner_token.as_deref() == Some("") {
            bad(
                "runner_token",
                "must not be empty (omit it to disable the check)",
            )?;
        }
        for (field, d) in [
            ("runner_init_timeout", self.runner_init_timeout),
            ("runner_ping_interval", self.runner_ping_interval),
            ("runner_pong_timeout", self.runner_pong_timeout),
            ("runner_lost_threshold", self.runner_lost_threshold),
            ("actor_start_timeout", self.actor_start_timeout),
            ("actor_stop_timeout", self.actor_stop_timeout),
            ("websocket_open_timeout", self.websocket_open_timeout),
            ("http_response_timeout", self.http_response_timeout),
            ("store_retry_base", self.store_retry_base),
            ("store_retry_max", self.store_retry_max),
            ("crash_restart_delay", self.crash_restart_delay),
            ("crash_restart_delay_max", self.crash_restart_delay_max),
            ("crash_streak_reset", self.crash_streak_reset),
            ("ack_timeout", self.ack_timeout),
            ("wake_deadline", self.wake_deadline),
            (
                "hibernation_eligible_threshold",
                self.hibernation_eligible_threshold,
            ),
        ] {
            positive_ms(field, d)?;
        }
        if self.runner_pong_timeout <= self.runner_ping_interval {
            bad(
                "runner_pong_timeout",
                "must be longer than runner_ping_interval, or every runner times out",
            )?;
        }
        if self.store_retry_max < self.store_retry_base {
            bad("store_retry_max", "must be at least store_retry_base")?;
        }
        if self.crash_restart_delay_max < self.crash_restart_delay {
            bad(
                "crash_restart_delay_max",
                "must be at least crash_restart_delay",
            )?;
        }
        for (field, n) in [
            (
                "max_waiting_requests_per_actor",
                self.max_waiting_requests_per_actor,
            ),
            ("max_forward_message_bytes", self.max_forward_message_bytes),
            ("opening_buffer_bytes", self.opening_buffer_bytes),
            ("max_runners", self.max_runners),
            ("max_clients", self.max_clients),
            ("socket_window_bytes", self.socket_window_bytes),
            ("socket_window_messages", self.socket_window_messages),
            ("pending_budget_bytes", self.pending_budget_bytes),
            ("client_outbound_max_bytes", self.client_outbound_max_bytes),
            ("max_hibernating_per_actor", self.max_hibernating_per_actor),
        ] {
            if n == 0 {
                bad(field, "must be greater than zero")?;
            }
        }
        if self.socket_window_messages > 32_767 {
            bad(
                "socket_window_messages",
                "must be at most 32767 (half the u16 index space)",
            )?;
        }
        if self.pending_budget_bytes < self.socket_window_bytes {
            bad(
                "pending_budget_bytes",
                "must be at least socket_window_bytes",
            )?;
        }
        if self.hibernation_eligible_threshold < Duration::from_secs(2) {
            bad(
                "hibernation_eligible_threshold",
                "must be at least 2 s (rows are refreshed every half of it, with up to 1 s jitter)",
            )?;
        }
        if self.max_forward_message_bytes > self.decode_limits.data_len_max {
            bad(
                "max_forward_message_bytes",
                "must not exceed decode_limits.data_len_max",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn nonsense_is_rejected_naming_the_field() {
        let cases: Vec<(&str, Config)> = vec![
            (
                "namespaces",
                Config {
                    namespaces: vec![],
                    ..Config::default()
                },
            ),
            (
                "namespaces",
                Config {
                    namespaces: vec![String::new()],
                    ..Config::default()
                },
            ),
            (
                "runner_token",
                Config {
                    runner_token: Some(String::new()),
                    ..Config::default()
                },
            ),
            (
                "runner_ping_interval",
                Config {
                    runner_ping_interval: Duration::ZERO,
                    ..Config::default()
                },
            ),
            (
                "actor_start_timeout",
                Config {
                    actor_start_timeout: Duration::from_micros(1500),
                    ..Config::default()
                },
            ),
            (
                "runner_pong_timeout",
                Config {
                    runner_pong_timeout: Duration::from_secs(2),
                    ..Config::default()
                },
            ),
            (
                "store_retry_max",
                Config {
                    store_retry_max: Duration::from_millis(10),
                    ..Config::default()
                },
            ),
            (
                "max_clients",
                Config {
                    max_clients: 0,
                    ..Config::default()
                },
            ),
            (
                "socket_window_messages",
                Config {
                    socket_window_messages: 32_768,
                    ..Config::default()
                },
            ),
            (
                "pending_budget_bytes",
                Config {
                    pending_budget_bytes: 1024,
                    ..Config::default()
                },
            ),
            (
                "hibernation_eligible_threshold",
                Config {
                    hibernation_eligible_threshold: Duration::from_secs(1),
                    ..Config::default()
                },
            ),
            (
                "max_forward_message_bytes",
                Config {
                    max_forward_message_bytes: 64 << 20,
                    ..Config::default()
                },
            ),
        ];
        for (field, config) in cases {
            let err = config.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains(field));
        }
    }
}

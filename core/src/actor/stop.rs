//! Why an actor stops: what the gateway or the actor asked for, and what the stop means.

/// How many starts in a row a close wake (`wake_on_close`) may time out before it is given up.
pub(crate) const MAX_CLOSE_WAKE_START_TIMEOUTS: u8 = 3;

/// Why the gateway stops an actor, or what the actor asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopIntent {
    /// `EventActorIntent{Sleep}` or an admin sleep.
    Sleep,
    /// `EventActorIntent{Stop}`: destroyed if it stops with `OK`, else wakeable.
    Stop,
    /// Admin destroy.
    Destroy,
    /// Its runner is draining.
    Drain,
}

/// Why an allocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// `Stopped` after an intent.
    Intent(StopIntent),
    /// `Stopped` with no intent.
    Crash,
    /// The runner stayed away past the lost threshold.
    RunnerLost,
    /// No `Stopped` within the stop timeout.
    StopTimeout,
    /// No `Running` within the start timeout.
    StartTimeout,
}

impl StopIntent {
    /// For logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sleep => "sleep",
            Self::Stop => "stop",
            Self::Destroy => "destroy",
            Self::Drain => "drain",
        }
    }
}

impl StopCause {
    /// Close reason for sockets that cannot outlive the allocation.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Intent(StopIntent::Sleep) => "actor.sleeping",
            Self::Intent(StopIntent::Stop | StopIntent::Drain) => "actor.stopped",
            Self::Intent(StopIntent::Destroy) => "actor.destroyed",
            Self::Crash => "actor.crashed",
            Self::RunnerLost => "torpor.runner_lost",
            Self::StopTimeout => "torpor.actor_stop_timeout",
            Self::StartTimeout => "torpor.actor_start_timeout",
        }
    }
}

//! The context lent to every sub-machine: outbox, timers, RNG, metrics, config and counters.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::config::Config;
use crate::ids::{ActorId, ClientId, OpId, RunnerConnId};
use crate::io::{CloseFrame, Output};
use crate::metrics::{Histograms, Metrics};
use crate::notice::{NOTICES_KEPT, Notice};
use crate::time::{Instant, UnixMillis};
use crate::timer::Timers;
use torpor_protocol::shared::{GatewayId, RequestId};

/// Output slots the queue keeps once drained: enough for one input's outputs in steady traffic.
const OUTPUTS_KEPT: usize = 64;

pub(crate) struct Cx {
    pub(crate) config: Config,
    pub(crate) out: VecDeque<Output>,
    /// For the operator's logs (see [`Notice`]).
    pub(crate) notices: VecDeque<Notice>,
    pub(crate) timers: Timers,
    pub(crate) rng: fastrand::Rng,
    pub(crate) metrics: Metrics,
    pub(crate) histograms: Histograms,
    pub(crate) gateway_id: GatewayId,
    /// Bytes held for clients across all sockets: un-acked plus queued.
    pub(crate) held_bytes: usize,
    /// Sockets paused because `held_bytes` exceeded the global budget.
    pub(crate) budget_paused: BTreeSet<ClientId>,
    /// When each pending wake for hibernating sockets began (for the latency metric).
    pub(crate) wake_started: BTreeMap<ActorId, Instant>,
    next_op: u64,
    /// The wall clock, as the adapter gave it with the current input (never derived from the
    /// monotonic clock: the two may drift apart, and the wall one may step).
    pub(crate) wall: UnixMillis,
    /// Request ids are `counter * mul + add (mod 2^32)` with `mul` odd: a bijection, so ids look
    /// random yet never repeat within 2^32 requests of one incarnation (actors persist the
    /// (gateway, request) pair, so a reused pair could revive stale metadata).
    rid_mul: u32,
    rid_add: u32,
    rid_counter: u32,
}

impl Cx {
    /// Queues a notice for the operator's logs; past [`NOTICES_KEPT`] undrained, it is
    /// dropped and counted.
    pub(crate) fn notify(&mut self, notice: Notice) {
        if self.notices.len() < NOTICES_KEPT {
            self.notices.push_back(notice);
        } else {
            self.metrics.notices_dropped += 1;
        }
    }

    pub(crate) fn new(config: Config, seed: u64, wall: UnixMillis) -> Self {
        // The wall clock at startup is mixed in, so a restart with a configured seed still gets a
        // fresh gateway id and request-id sequence (actors persist those pairs; a reused pair
        // could revive stale metadata). Same seed and same inputs still replay exactly.
        let mixed = seed ^ (wall.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = fastrand::Rng::with_seed(mixed);
        let mut gw = [0u8; 4];
        rng.fill(&mut gw);
        let rid_mul = rng.u32(..) | 1;
        let rid_add = rng.u32(..);
        Self {
            config,
            out: VecDeque::new(),
            notices: VecDeque::new(),
            timers: Timers::default(),
            rng,
            metrics: Metrics::default(),
            histograms: Histograms::default(),
            gateway_id: GatewayId::from_bytes(gw),
            held_bytes: 0,
            budget_paused: BTreeSet::new(),
            wake_started: BTreeMap::new(),
            next_op: 0,
            wall,
            rid_mul,
            rid_add,
            rid_counter: 0,
        }
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.out.push_back(output);
    }

    /// The next output for the adapter. Once drained, the queue gives back what a burst (a
    /// restore, a runner's return) grew it past [`OUTPUTS_KEPT`].
    pub(crate) fn pop_output(&mut self) -> Option<Output> {
        let output = self.out.pop_front();
        if self.out.is_empty() {
            self.out.shrink_to(OUTPUTS_KEPT);
        }
        output
    }

    pub(crate) fn close_runner(&mut self, conn: RunnerConnId, code: u16, reason: &str) {
        self.push(Output::CloseRunner {
            conn,
            close: CloseFrame::new(code, reason),
        });
    }

    pub(crate) fn next_op(&mut self) -> OpId {
        let op = OpId::new(self.next_op);
        self.next_op += 1;
        op
    }

    /// True if `op` was issued by this core (it may have completed since).
    pub(crate) fn issued(&self, op: OpId) -> bool {
        op.get() < self.next_op
    }

    pub(crate) fn next_request_id(&mut self) -> RequestId {
        let raw = self
            .rid_counter
            .wrapping_mul(self.rid_mul)
            .wrapping_add(self.rid_add);
        self.rid_counter = self.rid_counter.wrapping_add(1);
        RequestId::from_bytes(raw.to_le_bytes())
    }

    /// Wall-clock milliseconds now (given with the current input).
    pub(crate) fn wall_now(&self) -> i64 {
        self.wall.0
    }

    /// The monotonic instant at which wall-clock time `wall_ms` arrives, by the wall clock's
    /// reading now (now, if past).
    pub(crate) fn instant_at_wall(&self, now: Instant, wall_ms: i64) -> Instant {
        let ahead = wall_ms.saturating_sub(self.wall_now());
        let ahead = u64::try_from(ahead).unwrap_or(0);
        now.saturating_add(std::time::Duration::from_millis(ahead))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;

    #[test]
    fn a_drained_output_queue_gives_back_what_a_burst_grew() {
        let mut cx = Cx::new(Config::default(), 1, UnixMillis(0));
        for n in 0..10_000 {
            cx.push(Output::AcceptClient {
                client: ClientId::new(n),
            });
        }
        assert!(cx.out.capacity() >= 10_000);
        let mut drained = 0;
        while cx.pop_output().is_some() {
            drained += 1;
        }
        assert_eq!(drained, 10_000);
        assert!(cx.out.capacity() <= OUTPUTS_KEPT, "{}", cx.out.capacity());
        // A short queue keeps its buffer: nothing is reallocated per input.
        cx.push(Output::AcceptClient {
            client: ClientId::new(1),
        });
        let kept = cx.out.capacity();
        cx.pop_output();
        assert_eq!(cx.out.capacity(), kept);
    }
}

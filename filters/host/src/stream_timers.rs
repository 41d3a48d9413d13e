//! Timers for paused HTTP streams, driven by the root context's tick.
//!
//! proxy-wasm has one timer per root context: `set_tick_period`, which calls `on_tick` every
//! period. The streams a root context paused wait in a [`DelayQueue`]; the tick period is kept at
//! the time left to the nearest deadline (whole milliseconds, Envoy's timer unit), and switched
//! off when nothing waits. A stream that ends while paused must be [`StreamTimers::cancel`]led
//! from its `on_done`, so that nothing is resumed on a dead stream.

use std::time::{Duration, SystemTime};

use crate::delay_queue::DelayQueue;
use crate::vm_host::VmHost;

/// Envoy's tick resolution.
const GRANULARITY: Duration = Duration::from_millis(1);

/// At most this many streams are released per tick; the rest go on the next tick, 1ms later.
///
/// Envoy defers what a tick asks for (resume, local reply) until `on_tick` returns, then runs
/// the deferred actions one by one; when a released stream calls back into the same VM at once
/// (a direct response or local reply passes through the module's `on_http_response_headers`),
/// that nested call runs the *remaining* deferred actions before returning. Each released
/// stream so nests one level deeper, and a few hundred at once overflow V8's stack
/// ("Maximum call stack size exceeded"), which fails the VM. A bounded batch bounds the depth.
const MAX_RELEASED_PER_TICK: usize = 32;

/// The paused streams of one root context and the state of its tick.
#[derive(Debug)]
pub struct StreamTimers<T> {
    queue: DelayQueue<T>,
    /// The period last given to the host; zero when the tick is off.
    period: Duration,
    /// When the next tick is expected, if the tick is on.
    next_tick: Option<SystemTime>,
    /// While anything waits, the tick comes at least this often (a heartbeat for the owner).
    max_period: Duration,
}

impl<T> Default for StreamTimers<T> {
    fn default() -> Self {
        Self::with_max_period(Duration::MAX)
    }
}

impl<T> StreamTimers<T> {
    /// Timers whose tick, while any stream waits, comes at least every `max_period`.
    pub fn with_max_period(max_period: Duration) -> Self {
        Self {
            queue: DelayQueue::default(),
            period: Duration::ZERO,
            next_tick: None,
            max_period: max_period.max(GRANULARITY),
        }
    }

    /// Holds `stream` until `deadline`; `payload` says what to do then.
    pub fn schedule(&mut self, host: &impl VmHost, stream: u32, deadline: SystemTime, payload: T) {
        self.queue.insert(stream, deadline, payload);
        let now = host.now();
        if self.next_tick.is_none_or(|tick| deadline < tick) {
            self.arm(host, deadline, now);
        }
    }

    /// Forgets `stream` (it ended); returns its payload if it was still waiting.
    pub fn cancel(&mut self, stream: u32) -> Option<T> {
        self.queue.remove(stream)
    }

    /// Whether `stream` is still waiting.
    pub fn is_waiting(&self, stream: u32) -> bool {
        self.queue.contains(stream)
    }

    /// For `on_tick`: removes and returns the due entries (at most
    /// [`MAX_RELEASED_PER_TICK`], earliest first), and sets the next tick.
    pub fn take_due(&mut self, host: &impl VmHost) -> Vec<(u32, T)> {
        let now = host.now();
        let mut due = Vec::new();
        while due.len() < MAX_RELEASED_PER_TICK {
            let Some(entry) = self.queue.pop_due(now) else {
                break;
            };
            due.push(entry);
        }
        match self.queue.next_deadline() {
            Some(deadline) => self.arm(host, deadline, now),
            None => self.set_period(host, Duration::ZERO, now),
        }
        due
    }

    fn arm(&mut self, host: &impl VmHost, deadline: SystemTime, now: SystemTime) {
        let left = deadline
            .duration_since(now)
            .unwrap_or_default()
            .min(self.max_period);
        // Round up: a tick before the deadline would only have to be re-armed.
        let millis = left.as_nanos().div_ceil(GRANULARITY.as_nanos());
        let period = GRANULARITY * u32::try_from(millis).unwrap_or(u32::MAX).max(1);
        self.set_period(host, period, now);
    }

    fn set_period(&mut self, host: &impl VmHost, period: Duration, now: SystemTime) {
        if period != self.period {
            if let Err(status) = host.set_tick_period(period) {
                log::error!("cannot set the tick period to {period:?}: {status:?}");
                return;
            }
            self.period = period;
        }
        // Envoy re-arms the timer with the same period after each tick.
        self.next_tick = (!period.is_zero()).then(|| now + period);
    }
}

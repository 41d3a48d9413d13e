//! Per-VM state shared by the root context and its streams: paused streams, active-fault
//! slots, randomness and metrics.

use std::cell::RefCell;
use std::collections::BTreeSet;

use engine::fault::{Abort, Draws, FaultPlan, FaultRules, ABORT_BODY, ABORT_DETAILS};
use host::{Counter, Gauge, LocalReply, SharedCounter, StreamTimers};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, Status};

/// The shared-data key of the active-fault count, one per VM id (every worker sees it).
const ACTIVE_FAULTS_KEY: &str = "fault.active_faults";

/// What a delayed stream does when its delay is over.
#[derive(Debug, Clone, Copy)]
struct AfterDelay {
    abort: Option<Abort>,
}

/// Envoy's fault filter stats, as `wasmcustom.fault.*`.
struct Metrics {
    delays_injected: Counter,
    aborts_injected: Counter,
    faults_overflow: Counter,
    active_faults: Gauge,
}

impl Metrics {
    fn define() -> Result<Self, Status> {
        Ok(Self {
            delays_injected: Counter::define("fault.delays_injected")?,
            aborts_injected: Counter::define("fault.aborts_injected")?,
            faults_overflow: Counter::define("fault.faults_overflow")?,
            active_faults: Gauge::define("fault.active_faults")?,
        })
    }
}

pub struct Runtime {
    timers: RefCell<StreamTimers<AfterDelay>>,
    /// Streams of this VM that hold an active-fault slot.
    active: RefCell<BTreeSet<u32>>,
    /// Slots in use across all workers, for `maxActiveFaults`.
    slots: SharedCounter,
    metrics: Metrics,
}

impl Runtime {
    pub fn start() -> Result<Self, String> {
        let metrics =
            Metrics::define().map_err(|status| format!("cannot define metrics: {status:?}"))?;
        Ok(Self {
            timers: RefCell::default(),
            active: RefCell::default(),
            slots: SharedCounter::open(ACTIVE_FAULTS_KEY),
            metrics,
        })
    }

    /// Decides and starts the faults of stream `id`, in its `on_http_request_headers`.
    pub fn on_request(&self, id: u32, rules: &FaultRules) -> Action {
        let request = host::RequestHeaders::new();
        let cluster = if rules.uses_upstream_cluster() {
            host::route_cluster(&request)
        } else {
            None
        };
        let Some(policy) = rules.select(&request, cluster.as_deref()) else {
            return Action::Continue;
        };
        let draws = Draws {
            delay: host::random::next_u64(),
            abort: host::random::next_u64(),
        };
        let limit = rules.max_active_faults().map_or(u64::MAX, u64::from);
        let planned = policy
            .decide(&request, draws)
            .plan(|| self.take_slot(id, limit));
        self.metrics
            .faults_overflow
            .increment(u64::from(planned.overflows));
        match planned.plan {
            FaultPlan::Continue => Action::Continue,
            FaultPlan::Abort(abort) => {
                self.abort(abort);
                Action::Pause
            }
            FaultPlan::Delay {
                duration,
                then_abort,
            } => {
                log::debug!("fault: delaying request {}ms", duration.as_millis());
                self.metrics.delays_injected.increment(1);
                self.timers.borrow_mut().schedule(
                    id,
                    host::now() + duration,
                    AfterDelay { abort: then_abort },
                );
                Action::Pause
            }
        }
    }

    /// The root's tick: ends the delays that are due.
    pub fn on_tick(&self) {
        let due = self.timers.borrow_mut().take_due();
        for (id, after) in due {
            if !host::enter_stream(id) {
                self.release_slot(id);
                continue;
            }
            match after.abort {
                Some(abort) => self.abort(abort),
                None => {
                    // A delay alone stops counting as active when it ends, as in Envoy.
                    self.release_slot(id);
                    if let Err(status) = hostcalls::resume_http_request() {
                        log::warn!("fault: cannot resume stream {id}: {status:?}");
                    }
                }
            }
        }
    }

    pub fn is_delayed(&self, id: u32) -> bool {
        self.timers.borrow().is_waiting(id)
    }

    /// Stream `id` is over: nothing may resume it, and its slot is free.
    pub fn finish(&self, id: u32) {
        self.timers.borrow_mut().cancel(id);
        self.release_slot(id);
    }

    /// Answers the current (or effective) stream with `abort`.
    fn abort(&self, abort: Abort) {
        self.metrics.aborts_injected.increment(1);
        let (status, grpc_status) = match abort {
            Abort::Http(status) => (u32::from(status), None),
            Abort::Grpc(code) => (200, Some(code)),
        };
        let reply = LocalReply {
            status,
            body: ABORT_BODY,
            details: ABORT_DETAILS,
            grpc_status,
        };
        if let Err(status) = host::send_local_reply(reply) {
            log::warn!("fault: cannot send the abort reply: {status:?}");
        }
    }

    fn take_slot(&self, id: u32, limit: u64) -> bool {
        if !self.slots.increment_below(limit) {
            return false;
        }
        self.active.borrow_mut().insert(id);
        self.metrics.active_faults.add(1);
        true
    }

    fn release_slot(&self, id: u32) {
        if self.active.borrow_mut().remove(&id) {
            self.slots.decrement();
            self.metrics.active_faults.add(-1);
        }
    }
}

//! Fault injection for a module's streams: Envoy's fault filter behaviour around a compiled
//! [`FaultPolicy`] — paused streams resumed from the root's tick, aborts as local replies,
//! active-fault slots shared by every worker, and the fault filter's stats. The fault module
//! and the router (VirtualService `fault`) both run their faults through it.

use std::cell::RefCell;
use std::collections::BTreeSet;

use engine::fault::{Abort, Draws, FaultPlan, FaultPolicy, ABORT_BODY, ABORT_DETAILS};
use engine::RequestView;
use proxy_wasm::types::{Action, Status};

use crate::shared_slots::{SharedSlots, HEARTBEAT};
use crate::{abi, Counter, Gauge, LocalReply, StreamTimers};

/// What a delayed stream does when its delay is over.
#[derive(Debug, Clone, Copy)]
struct AfterDelay {
    abort: Option<Abort>,
}

/// Envoy's fault filter stats, as `wasmcustom.<prefix>.*`.
struct Metrics {
    delays_injected: Counter,
    aborts_injected: Counter,
    faults_overflow: Counter,
    active_faults: Gauge,
}

impl Metrics {
    fn define(prefix: &str) -> Result<Self, Status> {
        Ok(Self {
            delays_injected: Counter::define(&format!("{prefix}.delays_injected"))?,
            aborts_injected: Counter::define(&format!("{prefix}.aborts_injected"))?,
            faults_overflow: Counter::define(&format!("{prefix}.faults_overflow"))?,
            active_faults: Gauge::define(&format!("{prefix}.active_faults"))?,
        })
    }
}

pub struct FaultInjection {
    timers: RefCell<StreamTimers<AfterDelay>>,
    /// Streams of this VM that hold an active-fault slot.
    active: RefCell<BTreeSet<u32>>,
    /// Slots in use across all workers, for `maxActiveFaults`; a dead VM's slots expire.
    slots: SharedSlots,
    metrics: Metrics,
}

impl FaultInjection {
    /// Defines the stats `<stats_prefix>.delays_injected` (and the rest) and opens the
    /// shared active-fault slots `<stats_prefix>.active_faults`, seen by every worker. A VM
    /// reloaded after a trap starts afresh here: the slots the dead VM held expire
    /// ([`SharedSlots`]), and the gauge is set from the live total on the next change.
    pub fn start(stats_prefix: &str) -> Result<Self, String> {
        let metrics = Metrics::define(stats_prefix)
            .map_err(|status| format!("cannot define metrics: {status:?}"))?;
        Ok(Self {
            // While streams wait, the tick doubles as this VM's heartbeat for its slots.
            timers: RefCell::new(StreamTimers::with_max_period(HEARTBEAT)),
            active: RefCell::default(),
            slots: SharedSlots::open(format!("{stats_prefix}.active_faults.holders")),
            metrics,
        })
    }

    /// Decides and starts `policy`'s faults for stream `id`, in its `on_http_request_headers`;
    /// at most `max_active` faults run at once across workers.
    pub fn inject(
        &self,
        id: u32,
        policy: &FaultPolicy,
        request: &impl RequestView,
        max_active: u64,
    ) -> Action {
        let draws = Draws {
            delay: crate::random::next_u64(),
            abort: crate::random::next_u64(),
        };
        let planned = policy
            .decide(request, draws)
            .plan(|| self.take_slot(id, max_active));
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
                let Some(deadline) = crate::now().checked_add(duration) else {
                    log::warn!(
                        "fault: delay of {duration:?} is past the clock's range; not delayed"
                    );
                    self.release_slot(id);
                    return Action::Continue;
                };
                log::debug!("fault: delaying request {}ms", duration.as_millis());
                self.metrics.delays_injected.increment(1);
                self.timers
                    .borrow_mut()
                    .schedule(id, deadline, AfterDelay { abort: then_abort });
                Action::Pause
            }
        }
    }

    /// The root's tick: ends the delays that are due, and tells the other VMs this one is
    /// alive while it holds slots.
    pub fn on_tick(&self) {
        let due = self.timers.borrow_mut().take_due();
        if due.is_empty() && !self.active.borrow().is_empty() {
            if let Some(total) = self.slots.heartbeat() {
                self.metrics.active_faults.set(total);
            }
        }
        for (id, after) in due {
            if !crate::enter_stream(id) {
                self.release_slot(id);
                continue;
            }
            match after.abort {
                Some(abort) => self.abort(abort),
                None => {
                    // A delay alone stops counting as active when it ends, as in Envoy.
                    self.release_slot(id);
                    if let Err(status) = abi::resume_http_request() {
                        log::warn!("fault: cannot resume stream {id}: {status:?}");
                    }
                }
            }
        }
    }

    /// Whether stream `id` is held by a delay.
    pub fn is_delayed(&self, id: u32) -> bool {
        self.timers.borrow().is_waiting(id)
    }

    /// What a body or trailers callback of stream `id` answers: while the stream is delayed
    /// they wait too, so they cannot push the request on.
    pub fn hold_while_delayed(&self, id: u32) -> Action {
        if self.is_delayed(id) {
            Action::Pause
        } else {
            Action::Continue
        }
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
            headers: &[],
            body: ABORT_BODY.as_bytes(),
            details: ABORT_DETAILS,
            grpc_status,
        };
        if let Err(status) = crate::send_local_reply(reply) {
            log::warn!("fault: cannot send the abort reply: {status:?}");
        }
    }

    fn take_slot(&self, id: u32, limit: u64) -> bool {
        let Some(total) = self.slots.take_below(limit) else {
            return false;
        };
        self.active.borrow_mut().insert(id);
        self.metrics.active_faults.set(total);
        true
    }

    fn release_slot(&self, id: u32) {
        if self.active.borrow_mut().remove(&id) {
            if let Some(total) = self.slots.release() {
                self.metrics.active_faults.set(total);
            }
        }
    }
}

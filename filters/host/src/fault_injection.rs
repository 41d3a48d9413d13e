//! Fault injection for a module's streams: Envoy's fault filter behaviour around a compiled
//! [`FaultPolicy`] — paused streams resumed from the root's tick, aborts as local replies,
//! active-fault slots shared by every worker, and the fault filter's stats. The fault module
//! and the router (VirtualService `fault`) both run their faults through it. What it asks of
//! the stream in its callback goes to a [`StreamHost`], what it does from the tick or for the
//! whole VM to a [`VmHost`], so it runs on [`crate::FakeHost`] and [`crate::FakeVm`] too.

use std::cell::RefCell;
use std::collections::BTreeSet;

use engine::fault::{Abort, Draws, FaultPlan, FaultPolicy, ABORT_BODY, ABORT_DETAILS};
use engine::RequestView;
use proxy_wasm::types::{Action, MetricType, Status};

use crate::shared_slots::{SharedSlots, HEARTBEAT};
use crate::stream_host::StreamHost;
use crate::vm_host::VmHost;
use crate::{LocalReply, ProxyWasm, StreamTimers};

/// What a delayed stream does when its delay is over.
#[derive(Debug, Clone, Copy)]
struct AfterDelay {
    abort: Option<Abort>,
}

/// Envoy's fault filter stats, as `wasmcustom.<prefix>.*`: their ids on the VM's host.
struct Metrics {
    delays_injected: u32,
    aborts_injected: u32,
    faults_overflow: u32,
    active_faults: u32,
}

impl Metrics {
    fn define(host: &impl VmHost, prefix: &str) -> Result<Self, Status> {
        let define = |kind, name| host.define_metric(kind, &format!("{prefix}.{name}"));
        Ok(Self {
            delays_injected: define(MetricType::Counter, "delays_injected")?,
            aborts_injected: define(MetricType::Counter, "aborts_injected")?,
            faults_overflow: define(MetricType::Counter, "faults_overflow")?,
            active_faults: define(MetricType::Gauge, "active_faults")?,
        })
    }
}

/// The fault runtime of one module in one VM, on the VM's host `V`.
pub struct FaultInjection<V: VmHost = ProxyWasm> {
    host: V,
    timers: RefCell<StreamTimers<AfterDelay>>,
    /// Streams of this VM that hold an active-fault slot.
    active: RefCell<BTreeSet<u32>>,
    /// Slots in use across all workers, for `maxActiveFaults`; a dead VM's slots expire.
    slots: SharedSlots,
    metrics: Metrics,
}

impl<V: VmHost> FaultInjection<V> {
    /// Defines the stats `<stats_prefix>.delays_injected` (and the rest) and opens the
    /// shared active-fault slots `<stats_prefix>.active_faults`, seen by every worker. A VM
    /// reloaded after a trap starts afresh here: the slots the dead VM held expire
    /// ([`SharedSlots`]), and the gauge is set from the live total on the next change.
    pub fn start(stats_prefix: &str, host: V) -> Result<Self, String> {
        let metrics = Metrics::define(&host, stats_prefix)
            .map_err(|status| format!("cannot define metrics: {status:?}"))?;
        Ok(Self {
            host,
            // While streams wait, the tick doubles as this VM's heartbeat for its slots.
            timers: RefCell::new(StreamTimers::with_max_period(HEARTBEAT)),
            active: RefCell::default(),
            slots: SharedSlots::open(format!("{stats_prefix}.active_faults.holders")),
            metrics,
        })
    }

    /// The VM's host the runtime calls.
    pub fn host(&self) -> &V {
        &self.host
    }

    /// Decides and starts `policy`'s faults for stream `id`, in its `on_http_request_headers`
    /// on `stream` (whose request, as read, is `request`): an abort answers `stream` now, a
    /// delay pauses it until the tick. At most `max_active` faults run at once across workers.
    pub fn inject(
        &self,
        id: u32,
        policy: &FaultPolicy,
        request: &impl RequestView,
        stream: &mut impl StreamHost,
        max_active: u64,
    ) -> Action {
        let draws = Draws {
            delay: crate::random::next_u64(),
            abort: crate::random::next_u64(),
        };
        let planned = policy
            .decide(request, draws)
            .plan(|| self.take_slot(id, max_active));
        self.count(self.metrics.faults_overflow, u64::from(planned.overflows));
        match planned.plan {
            FaultPlan::Continue => Action::Continue,
            FaultPlan::Abort(abort) => {
                self.count(self.metrics.aborts_injected, 1);
                if let Err(status) = stream.send_local_reply(abort_reply(&abort)) {
                    log::warn!("fault: cannot send the abort reply: {status:?}");
                }
                Action::Pause
            }
            FaultPlan::Delay {
                duration,
                then_abort,
            } => {
                let Some(deadline) = self.host.now().checked_add(duration) else {
                    log::warn!(
                        "fault: delay of {duration:?} is past the clock's range; not delayed"
                    );
                    self.release_slot(id);
                    return Action::Continue;
                };
                log::debug!("fault: delaying request {}ms", duration.as_millis());
                self.count(self.metrics.delays_injected, 1);
                self.timers.borrow_mut().schedule(
                    &self.host,
                    id,
                    deadline,
                    AfterDelay { abort: then_abort },
                );
                Action::Pause
            }
        }
    }

    /// The root's tick: ends the delays that are due, and tells the other VMs this one is
    /// alive while it holds slots.
    pub fn on_tick(&self) {
        let due = self.timers.borrow_mut().take_due(&self.host);
        if due.is_empty() && !self.active.borrow().is_empty() {
            if let Some(total) = self.slots.heartbeat(&self.host) {
                self.set_active_faults(total);
            }
        }
        for (id, after) in due {
            if let Err(status) = self.host.enter_stream(id) {
                log::warn!("stream {id} is gone ({status:?}); not resuming it");
                self.release_slot(id);
                continue;
            }
            match after.abort {
                Some(abort) => {
                    self.count(self.metrics.aborts_injected, 1);
                    if let Err(status) = self.host.send_local_reply(abort_reply(&abort)) {
                        log::warn!("fault: cannot send the abort reply: {status:?}");
                    }
                }
                None => {
                    // A delay alone stops counting as active when it ends, as in Envoy.
                    self.release_slot(id);
                    if let Err(status) = self.host.resume_request() {
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

    fn take_slot(&self, id: u32, limit: u64) -> bool {
        let Some(total) = self.slots.take_below(&self.host, limit) else {
            return false;
        };
        self.active.borrow_mut().insert(id);
        self.set_active_faults(total);
        true
    }

    fn release_slot(&self, id: u32) {
        if self.active.borrow_mut().remove(&id) {
            if let Some(total) = self.slots.release(&self.host) {
                self.set_active_faults(total);
            }
        }
    }

    fn count(&self, counter: u32, by: u64) {
        if by == 0 {
            return;
        }
        if let Err(status) = self
            .host
            .increment_metric(counter, i64::try_from(by).unwrap_or(i64::MAX))
        {
            log::warn!("fault: cannot count metric {counter}: {status:?}");
        }
    }

    fn set_active_faults(&self, total: u64) {
        if let Err(status) = self.host.record_metric(self.metrics.active_faults, total) {
            log::warn!("fault: cannot set the active faults gauge: {status:?}");
        }
    }
}

/// The local reply of `abort`, as Envoy's fault filter sends it.
fn abort_reply(abort: &Abort) -> LocalReply<'static> {
    let (status, grpc_status) = match *abort {
        Abort::Http(status) => (u32::from(status), None),
        Abort::Grpc(code) => (200, Some(code)),
    };
    LocalReply {
        status,
        headers: &[],
        body: ABORT_BODY.as_bytes(),
        details: ABORT_DETAILS,
        grpc_status,
    }
}

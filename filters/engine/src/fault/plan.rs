//! Applying the active-faults limit to a decision, in the order Envoy's fault filter does.

use std::time::Duration;

use super::policy::{Abort, FaultDecision};

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPlan {
    /// No fault: the request goes on.
    Continue,
    /// Answer now with an abort.
    Abort(Abort),
    /// Hold the request for `duration`, then abort with `then_abort` or let it go on.
    Delay {
        /// How long to hold the request.
        duration: Duration,
        /// The abort to answer with when the delay ends, if one was drawn too.
        then_abort: Option<Abort>,
    },
}

/// A plan and how many faults the active-faults limit refused on the way (`faults_overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedFaults {
    /// What to do with the request.
    pub plan: FaultPlan,
    /// Faults drawn but dropped because `maxActiveFaults` were already active.
    pub overflows: u32,
}

impl FaultDecision {
    /// Takes an active-fault slot through `try_acquire` for the first fault that gets one.
    ///
    /// As in Envoy: a request holds at most one slot whatever it injects; the delay asks
    /// first, and if the limit refuses it, the abort asks on its own (a second overflow if
    /// refused again). An abort that follows a granted delay needs no second slot.
    pub fn plan(self, mut try_acquire: impl FnMut() -> bool) -> PlannedFaults {
        let mut overflows = 0;
        if let Some(duration) = self.delay {
            if try_acquire() {
                return PlannedFaults {
                    plan: FaultPlan::Delay {
                        duration,
                        then_abort: self.abort,
                    },
                    overflows,
                };
            }
            overflows += 1;
        }
        if let Some(abort) = self.abort {
            if try_acquire() {
                return PlannedFaults {
                    plan: FaultPlan::Abort(abort),
                    overflows,
                };
            }
            overflows += 1;
        }
        PlannedFaults {
            plan: FaultPlan::Continue,
            overflows,
        }
    }
}

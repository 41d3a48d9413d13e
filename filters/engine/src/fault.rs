//! Fault injection: Istio's `HTTPFaultInjection` (`delay`, `abort`) with Envoy's fault filter
//! semantics, compiled once and decided per request from random draws the host supplies.
//!
//! [`FaultPolicy`] is one compiled `fault` block, the piece a VirtualService route carries;
//! [`FaultRules`] is the fault module's config: an ordered list of `{match, delay, abort,
//! upstreamCluster}` rules where the first match applies. Nothing here draws randomness or
//! reads a clock, so every percentage edge is testable exactly.

mod grpc_status;
mod plan;
mod policy;
mod rules;
mod spec;

pub use crate::percentage::FractionalPercent;
pub use grpc_status::{grpc_status_code, GRPC_STATUS_NAMES};
pub use plan::{FaultPlan, PlannedFaults};
pub use policy::{
    Abort, Draws, FaultDecision, FaultPolicy, HeaderControl, DEFAULT_MAX_HEADER_DELAY,
};
pub use rules::FaultRules;
pub use spec::{AbortSpec, DelaySpec, FaultConfig, FaultRuleSpec, HttpFaultInjection};

/// The body of every injected abort, as Envoy's fault filter writes it.
pub const ABORT_BODY: &str = "fault filter abort";

/// The response code details of every injected abort, as Envoy's fault filter records them.
pub const ABORT_DETAILS: &str = "fault_filter_abort";

/// Request headers that control faults when a rule opts in (Envoy's names).
pub mod headers {
    /// Delay in milliseconds.
    pub const DELAY_REQUEST: &str = "x-envoy-fault-delay-request";
    /// Percent of requests to delay, capped by the rule's percentage.
    pub const DELAY_REQUEST_PERCENTAGE: &str = "x-envoy-fault-delay-request-percentage";
    /// HTTP status to abort with (200..599).
    pub const ABORT_REQUEST: &str = "x-envoy-fault-abort-request";
    /// gRPC status code (number) to abort with, when no HTTP status is given.
    pub const ABORT_GRPC_REQUEST: &str = "x-envoy-fault-abort-grpc-request";
    /// Percent of requests to abort, capped by the rule's percentage.
    pub const ABORT_REQUEST_PERCENTAGE: &str = "x-envoy-fault-abort-request-percentage";
}

#[cfg(test)]
mod tests;

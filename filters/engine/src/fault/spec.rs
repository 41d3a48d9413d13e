//! The fault config as written: Istio's `HTTPFaultInjection` and the module's rule list.

use serde::Deserialize;

use crate::percentage::PercentSpec;

use crate::request_match::HttpMatchRequest;

/// Istio's `HTTPFaultInjection`, the `fault` of a VirtualService HTTP route.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpFaultInjection {
    /// `delay`: hold the request before it goes on.
    pub delay: Option<DelaySpec>,
    /// `abort`: answer the request from the gateway.
    pub abort: Option<AbortSpec>,
}

/// `HTTPFaultInjection.Delay`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DelaySpec {
    /// `"5s"`, `"100ms"`: at least 1ms, in whole milliseconds.
    pub fixed_delay: Option<String>,
    /// Hidden in Istio's docs and refused by its validation; refused here too.
    pub exponential_delay: Option<String>,
    /// The share of requests delayed; no percentage means none, as in Istio.
    pub percentage: Option<PercentSpec>,
    /// Deprecated integer percent; Istio still uses it when `percentage` is absent.
    pub percent: Option<i32>,
    /// Module extension (Envoy's `header_delay`): the delay comes from
    /// `x-envoy-fault-delay-request`.
    pub header_delay: Option<Empty>,
}

/// `HTTPFaultInjection.Abort`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AbortSpec {
    /// The HTTP status to answer with (200..599).
    pub http_status: Option<i32>,
    /// A gRPC status name, e.g. `"UNAVAILABLE"`.
    pub grpc_status: Option<String>,
    /// Hidden in Istio's docs and refused by its validation; refused here too.
    pub http2_error: Option<String>,
    /// The share of requests aborted; no percentage means none, as in Istio.
    pub percentage: Option<PercentSpec>,
    /// Module extension (Envoy's `header_abort`): the status comes from
    /// `x-envoy-fault-abort-request` or `x-envoy-fault-abort-grpc-request`.
    pub header_abort: Option<Empty>,
}

/// An empty message (`{}`), for fields whose presence is the setting.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// One rule of the fault module: when `match` holds (and the route goes to `upstreamCluster`,
/// if set), inject `delay` and/or `abort`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultRuleSpec {
    /// Any block may match (OR); each block's conditions must all hold (AND); none means all.
    #[serde(rename = "match", default)]
    pub matches: Vec<HttpMatchRequest>,
    /// `delay`, as in a VirtualService.
    pub delay: Option<DelaySpec>,
    /// `abort`, as in a VirtualService.
    pub abort: Option<AbortSpec>,
    /// Only requests whose route goes to this Envoy cluster (Envoy's `upstream_cluster`).
    pub upstream_cluster: Option<String>,
}

/// The fault module's plugin configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultConfig {
    /// Ordered; the first rule that matches a request applies.
    pub rules: Vec<FaultRuleSpec>,
    /// At most this many requests carry an active fault at once, across all workers
    /// (Envoy's `max_active_faults`); unset means unlimited.
    pub max_active_faults: Option<u32>,
    /// The longest delay a `headerDelay` rule injects (`"10s"` by default): a longer
    /// `x-envoy-fault-delay-request` is held to it.
    pub max_header_delay: Option<String>,
}

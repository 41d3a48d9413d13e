//! The naming modes: which metric names and which labels the module emits.
//!
//! - [`Naming::Gateway`] (the default): `gateway_*` metrics with Istio's request labels plus the
//!   route; never collides with anything Istio emits.
//! - [`Naming::Istio`]: Istio's standard metrics (`istio_requests_total`, …) with all of
//!   Istio's standard labels, as istio/proxy's `istio_stats` filter writes them for a gateway
//!   (reporter `source`), plus the route labels. For a plain-Envoy gateway, so that Istio's
//!   dashboards and Kiali work unchanged.
//! - [`Naming::IstioRoutes`]: for inside Istio, whose native stats already emit the `istio_*`
//!   metrics: only route-level series under their own names, labelled with the labels they
//!   share with Istio's series (so PromQL can join the two on them) plus the route, and no
//!   copy of Istio's series.

use serde::Deserialize;

use super::names::{
    Measure, MetricKind, ISTIO_REQUESTS_TOTAL, ISTIO_REQUEST_BYTES, ISTIO_REQUEST_DURATION,
    ISTIO_RESPONSE_BYTES, REQUESTS_TOTAL, REQUEST_BYTES, REQUEST_DURATION, RESPONSE_BYTES,
    ROUTE_REQUESTS_TOTAL, ROUTE_REQUEST_DURATION,
};

/// How the metrics and their labels are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Naming {
    /// `gateway_*` metrics, Istio's request labels plus the route (the default).
    #[default]
    Gateway,
    /// Istio's standard metrics and labels, plus the route.
    Istio,
    /// Route series beside Istio's own, joined to them by their shared labels.
    IstioRoutes,
}

/// One metric the module records: its name, how it accumulates and what it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The Prometheus name (the stat name's last part).
    pub name: &'static str,
    /// Counter or histogram.
    pub kind: MetricKind,
    /// What is recorded per request.
    pub measure: Measure,
}

const fn metric(name: &'static str, kind: MetricKind, measure: Measure) -> Metric {
    Metric {
        name,
        kind,
        measure,
    }
}

const GATEWAY_METRICS: [Metric; 4] = [
    metric(REQUESTS_TOTAL, MetricKind::Counter, Measure::Request),
    metric(REQUEST_DURATION, MetricKind::Histogram, Measure::DurationMs),
    metric(REQUEST_BYTES, MetricKind::Histogram, Measure::RequestBytes),
    metric(
        RESPONSE_BYTES,
        MetricKind::Histogram,
        Measure::ResponseBytes,
    ),
];

const ISTIO_METRICS: [Metric; 4] = [
    metric(ISTIO_REQUESTS_TOTAL, MetricKind::Counter, Measure::Request),
    metric(
        ISTIO_REQUEST_DURATION,
        MetricKind::Histogram,
        Measure::DurationMs,
    ),
    metric(
        ISTIO_REQUEST_BYTES,
        MetricKind::Histogram,
        Measure::RequestBytes,
    ),
    metric(
        ISTIO_RESPONSE_BYTES,
        MetricKind::Histogram,
        Measure::ResponseBytes,
    ),
];

/// Inside Istio the sizes stay Istio's (per service); what Istio cannot tell is how many
/// requests each route served and how long they took.
const ROUTE_METRICS: [Metric; 2] = [
    metric(ROUTE_REQUESTS_TOTAL, MetricKind::Counter, Measure::Request),
    metric(
        ROUTE_REQUEST_DURATION,
        MetricKind::Histogram,
        Measure::DurationMs,
    ),
];

/// The gateway mode's labels, in the order they are encoded into stat names.
pub const GATEWAY_LABELS: [&str; 13] = [
    "reporter",
    "request_protocol",
    "request_method",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_subset",
    "destination_port",
    "route_name",
    "virtual_service",
];

/// Istio's standard labels in the order istio/proxy's `istio_stats` filter writes them for a
/// client-side reporter (a gateway), then the route labels.
pub const ISTIO_LABELS: [&str; 27] = [
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
    "route_name",
    "virtual_service",
];

/// The labels the route series share with Istio's own (the join keys: the same values as on
/// Istio's `istio_requests_total` at the same gateway), then the route.
pub const ISTIO_ROUTE_LABELS: [&str; 12] = [
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "request_protocol",
    "response_code",
    "response_flags",
    "destination_subset",
    "route_name",
    "virtual_service",
];

/// Every label any mode emits, each once: what a bootstrap's `stats_tags` must cover.
pub fn all_labels() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    for label in GATEWAY_LABELS
        .iter()
        .chain(&ISTIO_LABELS)
        .chain(&ISTIO_ROUTE_LABELS)
    {
        if !all.contains(label) {
            all.push(label);
        }
    }
    all
}

impl Naming {
    /// The metrics recorded for every request.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Naming::Gateway => &GATEWAY_METRICS,
            Naming::Istio => &ISTIO_METRICS,
            Naming::IstioRoutes => &ROUTE_METRICS,
        }
    }

    /// The built-in labels, in encoding order (user dimensions follow them).
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Naming::Gateway => &GATEWAY_LABELS,
            Naming::Istio => &ISTIO_LABELS,
            Naming::IstioRoutes => &ISTIO_ROUTE_LABELS,
        }
    }

    /// The name the config uses for this mode.
    pub fn config_name(self) -> &'static str {
        match self {
            Naming::Gateway => "gateway",
            Naming::Istio => "istio",
            Naming::IstioRoutes => "istioRoutes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn no_label_ends_with_another() {
        // The tag regexes are not anchored: `(code=\.=…)` would match inside `response_code=.=`.
        let all = all_labels();
        for a in &all {
            for b in &all {
                assert!(a == b || !a.ends_with(b), "{a} ends with {b}");
            }
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_route_labels_are_istio_labels_or_the_route() {
        for label in ISTIO_ROUTE_LABELS {
            assert!(
                ISTIO_LABELS.contains(&label) || label == "destination_subset",
                "{label}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn only_the_istio_mode_uses_istios_metric_names() {
        for naming in [Naming::Gateway, Naming::IstioRoutes] {
            assert!(naming
                .metrics()
                .iter()
                .all(|metric| !metric.name.starts_with("istio_")));
        }
        assert!(Naming::Istio
            .metrics()
            .iter()
            .all(|metric| metric.name.starts_with("istio_")));
    }
}

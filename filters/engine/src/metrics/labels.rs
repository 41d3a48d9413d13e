//! The labels of one request, computed from what Envoy and the router tell about it.

use super::config::MetricsConfig;
use super::destination::Destination;
use super::naming::GATEWAY_LABELS;
use super::response_flags;
use super::sanitize::{label_value, UNKNOWN};
use super::workload::Workload;

/// The gateway mode's labels, in the order they are encoded into stat names.
pub const BUILTIN_LABELS: [&str; 13] = GATEWAY_LABELS;

/// The value every label but `reporter` takes in the overflow series (see [`super::LabelSets`]).
pub const OVERFLOW: &str = "other";

/// Istio's revision when the peer is unknown (istio/proxy `istio_stats`).
const LATEST: &str = "latest";

/// What is known about a finished request; `None` where Envoy or the router said nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The request's `:method`.
    pub method: Option<String>,
    /// The request's `content-type`: `application/grpc…` makes the protocol `grpc`.
    pub content_type: Option<String>,
    /// The HTTP status of the response.
    pub response_code: Option<i64>,
    /// The response's `grpc-status`, for gRPC requests.
    pub grpc_status: Option<i64>,
    /// Envoy's `response.flags` bitmask.
    pub response_flags: u64,
    /// The Envoy cluster the request went to.
    pub cluster: Option<String>,
    /// The VirtualService route the router chose.
    pub route_name: Option<String>,
    /// `namespace/name`.
    pub virtual_service: Option<String>,
    /// The URI SAN of the proxy's own certificate towards the upstream (`source_principal`).
    pub local_principal: Option<String>,
    /// The URI SAN of the upstream's certificate (`destination_principal`).
    pub peer_principal: Option<String>,
    /// The user's dimensions, in config order.
    pub dimensions: Vec<Option<String>>,
}

/// Label names and sanitised values, in encoding order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    /// Name and value pairs.
    pub labels: Vec<(String, String)>,
}

/// What one request's labels are computed from.
struct Request<'a> {
    config: &'a MetricsConfig,
    workload: &'a Workload,
    facts: &'a RequestFacts,
    destination: Option<Destination<'a>>,
    is_grpc: bool,
}

impl Request<'_> {
    fn destination_part(&self, pick: for<'d> fn(&Destination<'d>) -> Option<&'d str>) -> String {
        label_value(self.destination.as_ref().and_then(pick).unwrap_or(UNKNOWN))
    }

    fn value(&self, label: &str) -> String {
        let facts = self.facts;
        let workload = self.workload;
        let text = |value: Option<&String>| label_value(value.map_or("", String::as_str));
        match label {
            "reporter" => label_value(&self.config.reporter),
            "request_protocol" => (if self.is_grpc { "grpc" } else { "http" }).to_owned(),
            "request_method" => text(facts.method.as_ref()),
            "response_code" => facts.response_code.unwrap_or(0).to_string(),
            // Istio leaves the gRPC status empty for plain HTTP.
            "grpc_response_status" => match (self.is_grpc, facts.grpc_status) {
                (true, Some(status)) => status.to_string(),
                _ => String::new(),
            },
            "response_flags" => response_flags::short_names(facts.response_flags),
            "destination_service" => self.destination_part(|d| Some(d.service)),
            "destination_service_name" => self.destination_part(|d| Some(d.service_name)),
            "destination_service_namespace" => self.destination_part(|d| d.service_namespace),
            "destination_subset" => self.destination_part(|d| d.subset),
            "destination_port" => self.destination_part(|d| d.port),
            "route_name" => text(facts.route_name.as_ref()),
            "virtual_service" => text(facts.virtual_service.as_ref()),
            "source_workload" => label_value(&workload.name),
            "source_workload_namespace" => label_value(&workload.namespace),
            "source_canonical_service" => label_value(&workload.canonical_service),
            "source_canonical_revision" => label_value(&workload.canonical_revision),
            "source_app" => label_value(&workload.app),
            "source_version" => label_value(&workload.version),
            "source_cluster" => label_value(&workload.cluster),
            "source_principal" => text(facts.local_principal.as_ref()),
            "destination_principal" => text(facts.peer_principal.as_ref()),
            // Istio's peer: a gateway without Istio's metadata exchange knows nothing of it,
            // and Istio's own stats say so the same way.
            "destination_canonical_revision" => LATEST.to_owned(),
            // Istio sets the policy only on the server side; a client reports `unknown`.
            _ => UNKNOWN.to_owned(),
        }
    }
}

impl LabelSet {
    /// The labels of a request under `config`'s naming mode; the proxy runs as `workload`.
    pub fn of_request(config: &MetricsConfig, workload: &Workload, facts: &RequestFacts) -> Self {
        let request = Request {
            config,
            workload,
            facts,
            destination: facts.cluster.as_deref().map(Destination::from_cluster),
            is_grpc: facts
                .content_type
                .as_deref()
                .is_some_and(|content_type| content_type.starts_with("application/grpc")),
        };
        let mut labels: Vec<(String, String)> = config
            .naming
            .labels()
            .iter()
            .map(|name| ((*name).to_owned(), request.value(name)))
            .collect();
        for (index, name) in config.dimension_names.iter().enumerate() {
            let value = facts.dimensions.get(index).cloned().flatten();
            labels.push((name.clone(), label_value(value.as_deref().unwrap_or(""))));
        }
        Self { labels }
    }

    /// The series that takes every request past the cardinality cap: `reporter` kept, every
    /// other label `other`.
    pub fn overflow(config: &MetricsConfig) -> Self {
        let names = config
            .naming
            .labels()
            .iter()
            .map(|name| (*name).to_owned())
            .chain(config.dimension_names.iter().cloned());
        let labels = names
            .map(|name| {
                let value = if name == "reporter" {
                    label_value(&config.reporter)
                } else {
                    OVERFLOW.to_owned()
                };
                (name, value)
            })
            .collect();
        Self { labels }
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }

    /// The tags part of a stat name: `name=.=value;.;` for every label, in order. It identifies
    /// the label set, so it is also the key the label set is cached under.
    pub fn encoded(&self) -> String {
        let mut encoded = String::new();
        for (name, value) in &self.labels {
            encoded.push_str(name);
            encoded.push_str("=.=");
            encoded.push_str(value);
            encoded.push_str(";.;");
        }
        encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::naming::{Naming, ISTIO_LABELS, ISTIO_ROUTE_LABELS};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn facts() -> RequestFacts {
        RequestFacts {
            method: Some("GET".into()),
            content_type: None,
            response_code: Some(200),
            grpc_status: None,
            response_flags: 0,
            cluster: Some("outbound|9080|v1|reviews.prod.svc.cluster.local".into()),
            route_name: Some("reviews.v1".into()),
            virtual_service: Some("prod/reviews".into()),
            local_principal: None,
            peer_principal: None,
            dimensions: vec![Some("acme".into())],
        }
    }

    fn config(naming: &str, dimensions: &[&str]) -> MetricsConfig {
        let dimensions: Vec<String> = dimensions
            .iter()
            .map(|name| format!(r#"{{"name": "{name}", "requestHeader": "x-{name}"}}"#))
            .collect();
        let json = format!(
            r#"{{"naming": "{naming}", "dimensions": [{}]}}"#,
            dimensions.join(",")
        );
        MetricsConfig::from_json(json.as_bytes()).expect("valid config")
    }

    fn gateway_labels(dimensions: &[&str], facts: &RequestFacts) -> LabelSet {
        LabelSet::of_request(&config("gateway", dimensions), &Workload::default(), facts)
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn ingress_gateway() -> Workload {
        Workload {
            name: "istio-ingressgateway".into(),
            namespace: "istio-system".into(),
            canonical_service: "istio-ingressgateway".into(),
            canonical_revision: "latest".into(),
            app: "istio-ingressgateway".into(),
            version: "unknown".into(),
            cluster: "Kubernetes".into(),
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_routed_request_has_every_label() {
        let labels = gateway_labels(&["tenant"], &facts());
        let expected = [
            ("reporter", "source"),
            ("request_protocol", "http"),
            ("request_method", "GET"),
            ("response_code", "200"),
            ("grpc_response_status", ""),
            ("response_flags", "-"),
            ("destination_service", "reviews.prod.svc.cluster.local"),
            ("destination_service_name", "reviews"),
            ("destination_service_namespace", "prod"),
            ("destination_subset", "v1"),
            ("destination_port", "9080"),
            ("route_name", "reviews.v1"),
            ("virtual_service", "prod/reviews"),
            ("tenant", "acme"),
        ];
        assert_eq!(labels.labels, pairs(&expected));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_istio_mode_has_istios_labels_in_istios_order() {
        let mut facts = facts();
        facts.peer_principal = Some("spiffe://cluster.local/ns/prod/sa/reviews".into());
        let labels = LabelSet::of_request(&config("istio", &[]), &ingress_gateway(), &facts);
        let expected = [
            ("reporter", "source"),
            ("source_workload", "istio-ingressgateway"),
            ("source_canonical_service", "istio-ingressgateway"),
            ("source_canonical_revision", "latest"),
            ("source_workload_namespace", "istio-system"),
            ("source_principal", "unknown"),
            ("source_app", "istio-ingressgateway"),
            ("source_version", "unknown"),
            ("source_cluster", "Kubernetes"),
            ("destination_workload", "unknown"),
            ("destination_workload_namespace", "unknown"),
            (
                "destination_principal",
                "spiffe://cluster.local/ns/prod/sa/reviews",
            ),
            ("destination_app", "unknown"),
            ("destination_version", "unknown"),
            ("destination_service", "reviews.prod.svc.cluster.local"),
            ("destination_canonical_service", "unknown"),
            ("destination_canonical_revision", "latest"),
            ("destination_service_name", "reviews"),
            ("destination_service_namespace", "prod"),
            ("destination_cluster", "unknown"),
            ("request_protocol", "http"),
            ("response_code", "200"),
            ("grpc_response_status", ""),
            ("response_flags", "-"),
            ("connection_security_policy", "unknown"),
            ("route_name", "reviews.v1"),
            ("virtual_service", "prod/reviews"),
        ];
        assert_eq!(labels.labels, pairs(&expected));
        assert_eq!(labels.labels.len(), ISTIO_LABELS.len());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_route_series_share_istios_values_for_the_join_labels() {
        let facts = facts();
        let istio = LabelSet::of_request(&config("istio", &[]), &ingress_gateway(), &facts);
        let routes = LabelSet::of_request(&config("istioRoutes", &[]), &ingress_gateway(), &facts);
        let names: Vec<&str> = routes
            .labels
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ISTIO_ROUTE_LABELS);
        for (name, value) in &routes.labels {
            if let Some(istio_value) = istio.get(name) {
                assert_eq!(istio_value, value, "{name}");
            }
        }
        assert_eq!(routes.get("destination_subset"), Some("v1"));
        assert_eq!(config("istioRoutes", &[]).naming, Naming::IstioRoutes);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn grpc_requests_carry_their_status() {
        let mut facts = facts();
        facts.content_type = Some("application/grpc+proto".into());
        facts.grpc_status = Some(14);
        let labels = gateway_labels(&[], &facts);
        assert_eq!(labels.get("request_protocol"), Some("grpc"));
        assert_eq!(labels.get("grpc_response_status"), Some("14"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_unrouted_request_is_unknown_where_nothing_is_known() {
        let facts = RequestFacts {
            method: Some("GET".into()),
            response_code: Some(404),
            response_flags: 1 << 8,
            dimensions: vec![None],
            ..RequestFacts::default()
        };
        let labels = gateway_labels(&["tenant"], &facts);
        assert_eq!(labels.get("response_flags"), Some("NR"));
        for name in [
            "destination_service",
            "destination_service_name",
            "destination_service_namespace",
            "destination_subset",
            "destination_port",
            "route_name",
            "virtual_service",
            "tenant",
        ] {
            assert_eq!(labels.get(name), Some("unknown"), "{name}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn no_response_is_code_zero() {
        let facts = RequestFacts::default();
        let labels = gateway_labels(&[], &facts);
        assert_eq!(labels.get("response_code"), Some("0"));
        assert_eq!(labels.get("request_method"), Some("unknown"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn values_are_sanitised() {
        let mut facts = facts();
        facts.dimensions = vec![Some("a;.;reporter=.=x".into())];
        facts.method = Some("GE T".into());
        let labels = gateway_labels(&["tenant"], &facts);
        assert_eq!(labels.get("tenant"), Some("a_._reporter_._x"));
        assert_eq!(labels.get("request_method"), Some("GE_T"));
        let workload = Workload {
            name: "gw;.;reporter=.=x".into(),
            ..ingress_gateway()
        };
        let labels = LabelSet::of_request(&config("istio", &[]), &workload, &facts);
        assert_eq!(labels.get("source_workload"), Some("gw_._reporter_._x"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_overflow_series_keeps_only_the_reporter() {
        for naming in ["gateway", "istio", "istioRoutes"] {
            let config = config(naming, &["tenant"]);
            let labels = LabelSet::overflow(&config);
            assert_eq!(labels.labels.len(), config.naming.labels().len() + 1);
            assert_eq!(labels.get("reporter"), Some("source"));
            assert!(labels
                .labels
                .iter()
                .skip(1)
                .all(|(_, value)| value == OVERFLOW));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn encoding_uses_istios_tag_form() {
        let labels = LabelSet {
            labels: vec![("a".into(), "1".into()), ("b".into(), "x.y".into())],
        };
        assert_eq!(labels.encoded(), "a=.=1;.;b=.=x.y;.;");
    }
}

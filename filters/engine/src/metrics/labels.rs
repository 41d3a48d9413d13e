//! The labels of one request, computed from what Envoy and the router tell about it.

use super::destination::Destination;
use super::response_flags;
use super::sanitize::{label_value, UNKNOWN};

/// The built-in labels, in the order they are encoded into stat names.
pub const BUILTIN_LABELS: [&str; 13] = [
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

/// The value every label but `reporter` takes in the overflow series (see [`super::LabelSets`]).
pub const OVERFLOW: &str = "other";

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
    /// The user's dimensions, in config order.
    pub dimensions: Vec<Option<String>>,
}

/// Label names and sanitised values, in encoding order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    /// Name and value pairs.
    pub labels: Vec<(String, String)>,
}

impl LabelSet {
    /// The labels of a request; `dimension_names` are the user's, in config order.
    pub fn of_request(reporter: &str, dimension_names: &[String], facts: &RequestFacts) -> Self {
        let is_grpc = facts
            .content_type
            .as_deref()
            .is_some_and(|content_type| content_type.starts_with("application/grpc"));
        let destination = facts.cluster.as_deref().map(Destination::from_cluster);
        let part = |pick: for<'d> fn(&Destination<'d>) -> Option<&'d str>| {
            label_value(destination.as_ref().and_then(pick).unwrap_or(UNKNOWN))
        };
        // Istio leaves the gRPC status empty for plain HTTP.
        let grpc_status = match (is_grpc, facts.grpc_status) {
            (true, Some(status)) => status.to_string(),
            _ => String::new(),
        };
        let builtin = [
            label_value(reporter),
            (if is_grpc { "grpc" } else { "http" }).to_owned(),
            label_value(facts.method.as_deref().unwrap_or("")),
            facts.response_code.unwrap_or(0).to_string(),
            grpc_status,
            response_flags::short_names(facts.response_flags),
            part(|d| Some(d.service)),
            part(|d| Some(d.service_name)),
            part(|d| d.service_namespace),
            part(|d| d.subset),
            part(|d| d.port),
            label_value(facts.route_name.as_deref().unwrap_or("")),
            label_value(facts.virtual_service.as_deref().unwrap_or("")),
        ];
        let mut labels: Vec<(String, String)> = BUILTIN_LABELS
            .iter()
            .map(|name| (*name).to_owned())
            .zip(builtin)
            .collect();
        for (index, name) in dimension_names.iter().enumerate() {
            let value = facts.dimensions.get(index).cloned().flatten();
            labels.push((name.clone(), label_value(value.as_deref().unwrap_or(""))));
        }
        Self { labels }
    }

    /// The series that takes every request past the cardinality cap: `reporter` kept, every
    /// other label `other`.
    pub fn overflow(reporter: &str, dimension_names: &[String]) -> Self {
        let names = BUILTIN_LABELS
            .iter()
            .map(|name| (*name).to_owned())
            .chain(dimension_names.iter().cloned());
        let labels = names
            .map(|name| {
                let value = if name == "reporter" {
                    label_value(reporter)
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
            dimensions: vec![Some("acme".into())],
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_routed_request_has_every_label() {
        let labels = LabelSet::of_request("source", &["tenant".into()], &facts());
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
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        assert_eq!(labels.labels, expected);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn grpc_requests_carry_their_status() {
        let mut facts = facts();
        facts.content_type = Some("application/grpc+proto".into());
        facts.grpc_status = Some(14);
        let labels = LabelSet::of_request("source", &[], &facts);
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
        let labels = LabelSet::of_request("source", &["tenant".into()], &facts);
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
        let labels = LabelSet::of_request("source", &[], &facts);
        assert_eq!(labels.get("response_code"), Some("0"));
        assert_eq!(labels.get("request_method"), Some("unknown"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn values_are_sanitised() {
        let mut facts = facts();
        facts.dimensions = vec![Some("a;.;reporter=.=x".into())];
        facts.method = Some("GE T".into());
        let labels = LabelSet::of_request("source", &["tenant".into()], &facts);
        assert_eq!(labels.get("tenant"), Some("a_._reporter_._x"));
        assert_eq!(labels.get("request_method"), Some("GE_T"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_overflow_series_keeps_only_the_reporter() {
        let labels = LabelSet::overflow("source", &["tenant".into()]);
        assert_eq!(labels.labels.len(), BUILTIN_LABELS.len() + 1);
        assert_eq!(labels.get("reporter"), Some("source"));
        assert!(labels
            .labels
            .iter()
            .skip(1)
            .all(|(_, value)| value == OVERFLOW));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn encoding_uses_istios_tag_form() {
        let labels = LabelSet {
            labels: vec![("a".into(), "1".into()), ("b".into(), "x.y".into())],
        };
        assert_eq!(labels.encoded(), "a=.=1;.;b=.=x.y;.;");
    }
}

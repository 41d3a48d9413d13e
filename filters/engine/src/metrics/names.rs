//! The metrics the module emits, and how their stat names carry the labels.

use super::labels::LabelSet;

/// Counter: requests, by label set.
pub const REQUESTS_TOTAL: &str = "gateway_requests_total";
/// Histogram: from the request's first byte to the response's last, in milliseconds.
pub const REQUEST_DURATION: &str = "gateway_request_duration_milliseconds";
/// Histogram: request size in bytes, headers included (Envoy's `request.total_size`).
pub const REQUEST_BYTES: &str = "gateway_request_bytes";
/// Histogram: response size in bytes, headers included (Envoy's `response.total_size`).
pub const RESPONSE_BYTES: &str = "gateway_response_bytes";

/// Istio's standard request metrics, as istio/proxy's `istio_stats` filter names them.
pub const ISTIO_REQUESTS_TOTAL: &str = "istio_requests_total";
/// Istio's request duration histogram, in milliseconds.
pub const ISTIO_REQUEST_DURATION: &str = "istio_request_duration_milliseconds";
/// Istio's request size histogram.
pub const ISTIO_REQUEST_BYTES: &str = "istio_request_bytes";
/// Istio's response size histogram.
pub const ISTIO_RESPONSE_BYTES: &str = "istio_response_bytes";

/// Counter: requests per VirtualService route, beside Istio's own metrics (`istioRoutes`).
pub const ROUTE_REQUESTS_TOTAL: &str = "gateway_route_requests_total";
/// Histogram: their duration in milliseconds (`istioRoutes`).
pub const ROUTE_REQUEST_DURATION: &str = "gateway_route_request_duration_milliseconds";

/// How a metric accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A counter: one per request.
    Counter,
    /// A histogram: one sample per request.
    Histogram,
}

/// What a metric records for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// One: the request itself.
    Request,
    /// `request.duration`, in whole milliseconds.
    DurationMs,
    /// `request.total_size`.
    RequestBytes,
    /// `response.total_size`.
    ResponseBytes,
}

/// The stat name of `metric` for one label set: the tags first, as Istio's stats do, then the
/// metric's name, which is all that is left once Envoy's tag regexes have cut the tags out.
pub fn stat_name(labels: &LabelSet, metric: &str) -> String {
    let mut name = labels.encoded();
    name.push_str(metric);
    name
}

/// The `stats_config.stats_tags[].regex` that extracts label `name`, as Istio's bootstrap
/// writes one for each of its `extraStatTags`.
pub fn stats_tag_regex(name: &str) -> String {
    format!(r"({name}=\.=(.*?);\.;)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn stat_names_put_tags_before_the_metric() {
        let labels = LabelSet {
            labels: vec![("reporter".into(), "source".into())],
        };
        assert_eq!(
            stat_name(&labels, REQUESTS_TOTAL),
            "reporter=.=source;.;gateway_requests_total"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_tag_regex_is_istios() {
        assert_eq!(stats_tag_regex("route_name"), r"(route_name=\.=(.*?);\.;)");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_tag_regex_cuts_exactly_one_tag() {
        let regex = regex::Regex::new(&stats_tag_regex("b")).expect("valid regex");
        let name = "a=.=x.y;.;b=.=outbound|80||s.ns.svc;.;c=.=;.;m";
        let captures = regex.captures(name).expect("tag found");
        assert_eq!(&captures[1], "b=.=outbound|80||s.ns.svc;.;");
        assert_eq!(&captures[2], "outbound|80||s.ns.svc");
    }
}

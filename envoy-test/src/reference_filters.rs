//! Module configs and the native Envoy filters that do the same work, shared by the e2e tests
//! that prove the pairs agree and by the benchmarks that time them side by side.

use serde_json::{json, Value};

use envoy_runner::HttpFilter;

/// Ten header rules for the headers module (docs/headers.md, "Benchmark entry")...
pub const HEADERS_TEN_RULES: &str = r#"{"rules": [
    {"request": {"set": {"x-gateway": "edge-1"}}},
    {"request": {"add": {"x-forwarded-client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}}},
    {"request": {"remove": ["x-internal-secret"]}},
    {"request": {"set": {"x-legacy-user": "%REQ(x-user)%"}}},
    {"request": {"add": {"x-tags": "gateway"}}},
    {"response": {"set": {"strict-transport-security": "max-age=31536000"}}},
    {"response": {"set": {"x-content-type-options": "nosniff"}}},
    {"response": {"set": {"x-frame-options": "DENY"}}},
    {"response": {"remove": ["x-powered-by"]}},
    {"response": {"add": {"x-request-id-echo": "%REQ(x-request-id)%"}}}
]}"#;

/// ...and the same ten rules as Envoy's native `header_mutation` filter.
pub fn native_header_mutation_ten_rules() -> HttpFilter {
    let set = |key: &str, value: &str| {
        json!({"append": {"header": {"key": key, "value": value},
                          "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}})
    };
    let add = |key: &str, value: &str| {
        json!({"append": {"header": {"key": key, "value": value},
                          "append_action": "APPEND_IF_EXISTS_OR_ADD"}})
    };
    let remove = |key: &str| json!({"remove": key});
    let mutations: Value = json!({
        "request_mutations": [
            set("x-gateway", "edge-1"),
            add("x-forwarded-client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
            remove("x-internal-secret"),
            set("x-legacy-user", "%REQ(x-user)%"),
            add("x-tags", "gateway"),
        ],
        "response_mutations": [
            set("strict-transport-security", "max-age=31536000"),
            set("x-content-type-options", "nosniff"),
            set("x-frame-options", "DENY"),
            remove("x-powered-by"),
            add("x-request-id-echo", "%REQ(x-request-id)%"),
        ],
    });
    HttpFilter::Raw(json!({
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": mutations,
        },
    }))
}

/// The request headers that make every one of the ten header rules do work.
pub const HEADERS_BENCH_REQUEST_HEADERS: [(&str, &str); 4] = [
    ("x-user", "jason"),
    ("x-internal-secret", "s3cr3t"),
    ("x-tags", "client"),
    ("x-gateway", "spoofed"),
];

/// A 300 ms delay and a 503 abort for the fault module, each selected by an `x-fault` header...
pub const FAULT_DELAY_AND_ABORT: &str = r#"{"rules": [
    {"match": [{"headers": {"x-fault": {"exact": "delay"}}}],
     "delay": {"fixedDelay": "300ms", "percentage": {"value": 100}}},
    {"match": [{"headers": {"x-fault": {"exact": "abort"}}}],
     "abort": {"httpStatus": 503, "percentage": {"value": 100}}}
]}"#;

/// ...and the same as two native `envoy.filters.http.fault` filters (one filter carries one
/// header selector, so a delay and an abort with different selectors take two).
pub fn native_fault_delay_and_abort() -> [HttpFilter; 2] {
    let fault = |name: &str, selector: &str, fault: Value| {
        let mut config = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "headers": [{"name": "x-fault", "string_match": {"exact": selector}}],
        });
        if let (Some(config), Some(fault)) = (config.as_object_mut(), fault.as_object()) {
            config.extend(fault.clone());
        }
        HttpFilter::Raw(json!({"name": name, "typed_config": config}))
    };
    [
        fault(
            "native-delay",
            "delay",
            json!({"delay": {"fixed_delay": "0.3s", "percentage": {"numerator": 100}}}),
        ),
        fault(
            "native-abort",
            "abort",
            json!({"abort": {"http_status": 503, "percentage": {"numerator": 100}}}),
        ),
    ]
}

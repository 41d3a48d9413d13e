use std::time::Duration;

use wasm_bindgen_test::wasm_bindgen_test;

use super::*;
use crate::error::FieldPath;
use crate::fault::policy::DEFAULT_MAX_HEADER_DELAY;
use crate::request::HeaderList;

fn rules(json: &str) -> FaultRules {
    FaultRules::from_json(json.as_bytes()).expect("valid fault config")
}

fn error(json: &str) -> String {
    FaultRules::from_json(json.as_bytes())
        .expect_err("invalid fault config")
        .to_string()
}

fn policy(json: &str) -> FaultPolicy {
    let spec: HttpFaultInjection = serde_json::from_str(json).expect("valid fault JSON");
    FaultPolicy::compile(
        &spec,
        HeaderControl::Allowed {
            max_delay: DEFAULT_MAX_HEADER_DELAY,
        },
        &FieldPath::root(),
    )
    .expect("compiles")
}

fn request() -> HeaderList {
    HeaderList::get("bookinfo", "/ratings/0")
}

/// A draw that lands exactly on `index` of the denominator's range.
fn draws(delay: u64, abort: u64) -> Draws {
    Draws { delay, abort }
}

const ALWAYS: Draws = Draws { delay: 0, abort: 0 };

#[wasm_bindgen_test(unsupported = test)]
fn bookinfo_delay_applies_to_jason_only() {
    let rules = rules(
        r#"{"rules": [{"match": [{"headers": {"end-user": {"exact": "jason"}}}],
                       "delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}]}"#,
    );
    let jason = request().with("end-user", "jason");
    assert_eq!(
        rules.decide(&jason, None, ALWAYS).delay,
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        rules.decide(&request().with("end-user", "mary"), None, ALWAYS),
        FaultDecision::default()
    );
    assert_eq!(
        rules.decide(&request(), None, ALWAYS),
        FaultDecision::default()
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn the_first_matching_rule_wins_and_no_match_means_every_request() {
    let rules = rules(
        r#"{"rules": [
              {"match": [{"uri": {"prefix": "/ratings"}}], "abort": {"httpStatus": 503, "percentage": {"value": 100}}},
              {"abort": {"httpStatus": 400, "percentage": {"value": 100}}}
           ]}"#,
    );
    assert_eq!(
        rules.decide(&request(), None, ALWAYS).abort,
        Some(Abort::Http(503))
    );
    assert_eq!(
        rules
            .decide(&HeaderList::get("bookinfo", "/reviews"), None, ALWAYS)
            .abort,
        Some(Abort::Http(400))
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn match_blocks_are_alternatives() {
    let rules = rules(
        r#"{"rules": [{"match": [{"headers": {"end-user": {"exact": "jason"}}}, {"uri": {"exact": "/x"}}],
                       "abort": {"httpStatus": 500, "percentage": {"value": 100}}}]}"#,
    );
    assert!(rules
        .decide(&request().with("end-user", "jason"), None, ALWAYS)
        .abort
        .is_some());
    assert!(rules
        .decide(&HeaderList::get("a", "/x"), None, ALWAYS)
        .abort
        .is_some());
    assert!(rules.decide(&request(), None, ALWAYS).abort.is_none());
}

#[wasm_bindgen_test(unsupported = test)]
fn upstream_cluster_restricts_a_rule_to_one_route_cluster() {
    let rules = rules(
        r#"{"rules": [{"upstreamCluster": "outbound|9080||ratings.default.svc.cluster.local",
                       "abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 100}}}]}"#,
    );
    assert!(rules.uses_upstream_cluster());
    let ratings = Some("outbound|9080||ratings.default.svc.cluster.local");
    assert_eq!(
        rules.decide(&request(), ratings, ALWAYS).abort,
        Some(Abort::Grpc(14))
    );
    assert!(rules
        .decide(&request(), Some("other"), ALWAYS)
        .abort
        .is_none());
    assert!(rules.decide(&request(), None, ALWAYS).abort.is_none());
}

#[wasm_bindgen_test(unsupported = test)]
fn istio_percentages_become_per_million_truncated() {
    let path = FieldPath::root();
    let tenth = FractionalPercent::from_istio(0.1, &path).expect("valid");
    assert_eq!((tenth.numerator(), tenth.denominator()), (1_000, 1_000_000));
    let smallest = FractionalPercent::from_istio(0.0001, &path).expect("valid");
    assert_eq!(smallest.numerator(), 1);
    // Go's uint32(0.57 * 10000) is 5699: Istio truncates a float product, and so do we.
    let truncated = FractionalPercent::from_istio(0.57, &path).expect("valid");
    assert_eq!(truncated.numerator(), 5_699);
    let tiny = FractionalPercent::from_istio(0.0003, &path).expect("valid");
    assert_eq!(tiny.numerator(), 2);
    let all = FractionalPercent::from_istio(100.0, &path).expect("valid");
    assert_eq!(all.numerator(), 1_000_000);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_draw_is_enabled_below_the_numerator_modulo_the_denominator() {
    let path = FieldPath::root();
    let twenty = FractionalPercent::from_istio(20.0, &path).expect("valid");
    assert!(twenty.enabled(0));
    assert!(twenty.enabled(199_999));
    assert!(!twenty.enabled(200_000));
    assert!(!twenty.enabled(999_999));
    assert!(twenty.enabled(1_000_000 + 199_999));
    assert!(!twenty.enabled(u64::MAX)); // u64::MAX % 1e6 = 551_615
    let smallest = FractionalPercent::from_istio(0.0001, &path).expect("valid");
    assert!(smallest.enabled(0));
    assert!(!smallest.enabled(1));
    let all = FractionalPercent::from_istio(100.0, &path).expect("valid");
    assert!(all.enabled(999_999) && all.enabled(u64::MAX));
    let none = FractionalPercent::from_istio(0.0, &path).expect("valid");
    assert!(!none.enabled(0));
    assert!(!FractionalPercent::ZERO.enabled(0));
}

#[wasm_bindgen_test(unsupported = test)]
fn twenty_percent_selects_exactly_a_fifth_of_uniform_draws() {
    let policy = policy(r#"{"abort": {"httpStatus": 500, "percentage": {"value": 20}}}"#);
    let aborted = (0..1_000_000u64)
        .filter(|&draw| policy.decide(&request(), draws(0, draw)).abort.is_some())
        .count();
    assert_eq!(aborted, 200_000);
}

#[wasm_bindgen_test(unsupported = test)]
fn absent_percentage_injects_nothing() {
    let policy = policy(r#"{"delay": {"fixedDelay": "1s"}, "abort": {"httpStatus": 500}}"#);
    assert_eq!(policy.decide(&request(), ALWAYS), FaultDecision::default());
    let empty = policy_with_percent(r#"{}"#);
    assert_eq!(empty.decide(&request(), ALWAYS), FaultDecision::default());
}

fn policy_with_percent(percentage: &str) -> FaultPolicy {
    policy(&format!(
        r#"{{"abort": {{"httpStatus": 500, "percentage": {percentage}}}}}"#
    ))
}

#[wasm_bindgen_test(unsupported = test)]
fn the_deprecated_integer_percent_counts_per_hundred_when_percentage_is_absent() {
    let policy = policy(r#"{"delay": {"fixedDelay": "1s", "percent": 30}}"#);
    assert!(policy.decide(&request(), draws(129, 0)).delay.is_some());
    assert!(policy.decide(&request(), draws(130, 0)).delay.is_none());
    let both = policy_both();
    assert!(both.decide(&request(), draws(0, 0)).delay.is_none());
}

fn policy_both() -> FaultPolicy {
    // `percentage` wins over `percent`, as in Istio's translation.
    policy(r#"{"delay": {"fixedDelay": "1s", "percent": 100, "percentage": {"value": 0}}}"#)
}

#[wasm_bindgen_test(unsupported = test)]
fn delay_and_abort_use_independent_draws() {
    let policy = policy(
        r#"{"delay": {"fixedDelay": "100ms", "percentage": {"value": 50}},
            "abort": {"httpStatus": 503, "percentage": {"value": 50}}}"#,
    );
    let in_range = 0;
    let out_of_range = 600_000;
    assert_eq!(
        policy.decide(&request(), draws(in_range, in_range)),
        FaultDecision {
            delay: Some(Duration::from_millis(100)),
            abort: Some(Abort::Http(503))
        }
    );
    assert_eq!(
        policy.decide(&request(), draws(in_range, out_of_range)),
        FaultDecision {
            delay: Some(Duration::from_millis(100)),
            abort: None
        }
    );
    assert_eq!(
        policy.decide(&request(), draws(out_of_range, in_range)),
        FaultDecision {
            delay: None,
            abort: Some(Abort::Http(503))
        }
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn grpc_statuses_are_istio_names() {
    assert_eq!(grpc_status_code("OK"), Some(0));
    assert_eq!(grpc_status_code("UNAVAILABLE"), Some(14));
    assert_eq!(grpc_status_code("UNAUTHENTICATED"), Some(16));
    assert_eq!(grpc_status_code("unavailable"), None);
    assert_eq!(grpc_status_code("14"), None);
    assert_eq!(GRPC_STATUS_NAMES.len(), 17);
    let policy = policy(r#"{"abort": {"grpcStatus": "NOT_FOUND", "percentage": {"value": 100}}}"#);
    assert_eq!(
        policy.decide(&request(), ALWAYS).abort,
        Some(Abort::Grpc(5))
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn header_delay_reads_milliseconds_and_a_capped_percentage() {
    let rules =
        rules(r#"{"rules": [{"delay": {"headerDelay": {}, "percentage": {"value": 50}}}]}"#);
    let delayed = request().with(headers::DELAY_REQUEST, "250");
    assert_eq!(
        rules.decide(&delayed, None, ALWAYS).delay,
        Some(Duration::from_millis(250))
    );
    // No header, a malformed one, or 0 ms: no delay.
    assert_eq!(rules.decide(&request(), None, ALWAYS).delay, None);
    let malformed = request().with(headers::DELAY_REQUEST, "soon");
    assert_eq!(rules.decide(&malformed, None, ALWAYS).delay, None);
    let zero = request().with(headers::DELAY_REQUEST, "0");
    assert_eq!(rules.decide(&zero, None, ALWAYS).delay, None);
    // Only the first value counts.
    let repeated = request()
        .with(headers::DELAY_REQUEST, "10")
        .with(headers::DELAY_REQUEST, "20");
    assert_eq!(
        rules.decide(&repeated, None, ALWAYS).delay,
        Some(Duration::from_millis(10))
    );
    // The configured 50% caps the header's percentage; a smaller one lowers it.
    let ninety = delayed
        .clone()
        .with(headers::DELAY_REQUEST_PERCENTAGE, "90");
    assert!(rules
        .decide(&ninety, None, draws(499_999, 0))
        .delay
        .is_some());
    assert!(rules
        .decide(&ninety, None, draws(500_000, 0))
        .delay
        .is_none());
    let ten = delayed.with(headers::DELAY_REQUEST_PERCENTAGE, "10");
    assert!(rules.decide(&ten, None, draws(99_999, 0)).delay.is_some());
    assert!(rules.decide(&ten, None, draws(100_000, 0)).delay.is_none());
}

#[wasm_bindgen_test(unsupported = test)]
fn header_abort_prefers_http_then_grpc() {
    let rules =
        rules(r#"{"rules": [{"abort": {"headerAbort": {}, "percentage": {"value": 100}}}]}"#);
    let decide = |request: &HeaderList| rules.decide(request, None, ALWAYS).abort;
    assert_eq!(decide(&request()), None);
    assert_eq!(
        decide(&request().with(headers::ABORT_REQUEST, "503")),
        Some(Abort::Http(503))
    );
    assert_eq!(
        decide(
            &request()
                .with(headers::ABORT_REQUEST, "503")
                .with(headers::ABORT_GRPC_REQUEST, "14")
        ),
        Some(Abort::Http(503))
    );
    // Out of range or not a number: the HTTP header is ignored and the gRPC one may apply.
    assert_eq!(decide(&request().with(headers::ABORT_REQUEST, "600")), None);
    assert_eq!(decide(&request().with(headers::ABORT_REQUEST, "199")), None);
    assert_eq!(
        decide(
            &request()
                .with(headers::ABORT_REQUEST, "x")
                .with(headers::ABORT_GRPC_REQUEST, "14")
        ),
        Some(Abort::Grpc(14))
    );
    assert_eq!(
        decide(&request().with(headers::ABORT_GRPC_REQUEST, "17")),
        None
    );
    let zero_percent = request()
        .with(headers::ABORT_REQUEST, "500")
        .with(headers::ABORT_REQUEST_PERCENTAGE, "0");
    assert_eq!(decide(&zero_percent), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn fixed_faults_ignore_the_control_headers() {
    let policy = policy(
        r#"{"delay": {"fixedDelay": "1s", "percentage": {"value": 100}},
            "abort": {"httpStatus": 500, "percentage": {"value": 100}}}"#,
    );
    let request = request()
        .with(headers::DELAY_REQUEST, "5")
        .with(headers::DELAY_REQUEST_PERCENTAGE, "0")
        .with(headers::ABORT_REQUEST, "404")
        .with(headers::ABORT_REQUEST_PERCENTAGE, "0");
    assert_eq!(
        policy.decide(&request, ALWAYS),
        FaultDecision {
            delay: Some(Duration::from_secs(1)),
            abort: Some(Abort::Http(500))
        }
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn virtual_service_faults_refuse_header_control() {
    let spec: HttpFaultInjection =
        serde_json::from_str(r#"{"delay": {"headerDelay": {}, "percentage": {"value": 1}}}"#)
            .expect("valid JSON");
    let path = FieldPath::root().field("http").index(0).field("fault");
    let error = FaultPolicy::compile(&spec, HeaderControl::Refused, &path)
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with("http[0].fault.delay.headerDelay: header-controlled faults"),
        "{error}"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn the_limit_grants_one_slot_per_request_delay_first() {
    let both = FaultDecision {
        delay: Some(Duration::from_millis(5)),
        abort: Some(Abort::Http(503)),
    };
    let mut asked = 0;
    let granted = both.plan(|| {
        asked += 1;
        true
    });
    assert_eq!(
        asked, 1,
        "an abort after a granted delay needs no second slot"
    );
    assert_eq!(
        granted,
        PlannedFaults {
            plan: FaultPlan::Delay {
                duration: Duration::from_millis(5),
                then_abort: Some(Abort::Http(503))
            },
            overflows: 0
        }
    );
    // Delay refused: the abort asks on its own.
    let mut answers = [false, true].into_iter();
    assert_eq!(
        both.plan(|| answers.next().unwrap_or(false)),
        PlannedFaults {
            plan: FaultPlan::Abort(Abort::Http(503)),
            overflows: 1
        }
    );
    assert_eq!(
        both.plan(|| false),
        PlannedFaults {
            plan: FaultPlan::Continue,
            overflows: 2
        }
    );
    let mut asked = 0;
    let nothing = FaultDecision::default().plan(|| {
        asked += 1;
        true
    });
    assert_eq!(asked, 0, "no fault, no slot");
    assert_eq!(nothing.plan, FaultPlan::Continue);
}

#[wasm_bindgen_test(unsupported = test)]
fn max_active_faults_is_read() {
    assert_eq!(rules(r#"{"rules": []}"#).max_active_faults(), None);
    assert_eq!(
        rules(r#"{"rules": [], "maxActiveFaults": 3}"#).max_active_faults(),
        Some(3)
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn bad_configs_name_the_field_and_the_reason() {
    let cases = [
        (r#"{"rules": [{}]}"#, "rules[0]: HTTP fault injection must have an abort and/or a delay"),
        (
            r#"{"rules": [{"abort": {"httpStatus": 600, "percentage": {"value": 1}}}]}"#,
            "rules[0].abort.httpStatus: HTTP status 600 is not in range 200-599",
        ),
        (
            r#"{"rules": [{"abort": {"httpStatus": 199}}]}"#,
            "rules[0].abort.httpStatus: HTTP status 199 is not in range 200-599",
        ),
        (
            r#"{"rules": [{"abort": {"percentage": {"value": 1}}}]}"#,
            "rules[0].abort: abort configured, but error type not set: set httpStatus or grpcStatus",
        ),
        (
            r#"{"rules": [{"abort": {"httpStatus": 500, "grpcStatus": "INTERNAL"}}]}"#,
            "rules[0].abort: httpStatus, grpcStatus and headerAbort are mutually exclusive",
        ),
        (
            r#"{"rules": [{"abort": {"http2Error": "REFUSED_STREAM"}}]}"#,
            "rules[0].abort.http2Error: HTTP/2 abort fault injection not supported yet",
        ),
        (
            r#"{"rules": [{"abort": {"httpStatus": 500, "percentage": {"value": 100.5}}}]}"#,
            "rules[0].abort.percentage: percentage 100.5 is neither 0.0, nor in range [0.0001, 100.0]",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "1s", "percentage": {"value": 0.00001}}}]}"#,
            "rules[0].delay.percentage: percentage 0.00001 is neither 0.0, nor in range [0.0001, 100.0]",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "1s", "percentage": {"value": -1}}}]}"#,
            "rules[0].delay.percentage: percentage -1 is neither 0.0, nor in range [0.0001, 100.0]",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "1s", "percent": 101}}]}"#,
            "rules[0].delay.percent: percentage 101 is not in range 0..100",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "500us"}}]}"#,
            "rules[0].delay.fixedDelay: duration must be greater than 1ms",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "1.5ms"}}]}"#,
            "rules[0].delay.fixedDelay: only durations to ms precision are supported",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "5"}}]}"#,
            "rules[0].delay.fixedDelay: invalid duration \"5\": missing unit",
        ),
        (
            r#"{"rules": [{"delay": {"percentage": {"value": 1}}}]}"#,
            "rules[0].delay: fixedDelay is required",
        ),
        (
            r#"{"rules": [{"delay": {"exponentialDelay": "1s"}}]}"#,
            "rules[0].delay.exponentialDelay: exponentialDelay not supported yet",
        ),
        (
            r#"{"rules": [{"delay": {"fixedDelay": "1s", "headerDelay": {}}}]}"#,
            "rules[0].delay: fixedDelay and headerDelay are mutually exclusive",
        ),
        (
            r#"{"rules": [{"abort": {"grpcStatus": "Unavailable"}}]}"#,
            "rules[0].abort.grpcStatus: gRPC status \"Unavailable\" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'",
        ),
        (
            r#"{"rules": [{"match": [{"headers": {"end-user": {"exact": "a"}}}, {"uri": {"regex": "(("}}], "abort": {"httpStatus": 500}}]}"#,
            "rules[0].match[1].uri.regex: unclosed group",
        ),
        (
            r#"{"rules": [{"match": [{"gateways": ["gw"]}], "abort": {"httpStatus": 500}}]}"#,
            "rules[0].match[0].gateways: not supported in fault rules: the module runs on one gateway",
        ),
        (
            r#"{"rules": [{"upstreamCluster": "", "abort": {"httpStatus": 500}}]}"#,
            "rules[0].upstreamCluster: must not be empty (omit it to match every cluster)",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(error(json), expected, "{json}");
    }
    let unknown = error(r#"{"rules": [{"delay": {"fixedDelay": "1s", "percentag": {}}}]}"#);
    assert!(
        unknown.starts_with("rules[0].delay.percentag: unknown field"),
        "{unknown}"
    );
    let missing = error(r#"{"maxActiveFaults": 1}"#);
    assert!(missing.contains("missing field `rules`"), "{missing}");
    let negative = error(r#"{"rules": [], "maxActiveFaults": -1}"#);
    assert!(
        negative.starts_with("maxActiveFaults: invalid value"),
        "{negative}"
    );
}

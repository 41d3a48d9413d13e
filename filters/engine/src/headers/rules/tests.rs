use super::*;
use crate::headers::edit::apply;
use crate::headers::test_support::{request_input, FixedAttributes, FixedResponse};
use crate::request::HeaderList;
use wasm_bindgen_test::wasm_bindgen_test;

fn rules(json: &str) -> HeaderRules {
    HeaderRules::from_json(json.as_bytes()).expect("valid config")
}

fn error(json: &str) -> String {
    HeaderRules::from_json(json.as_bytes())
        .expect_err("invalid config")
        .to_string()
}

/// The request after the request phase, and what was remembered for the response.
fn run_request(rules: &HeaderRules, request: &HeaderList) -> (HeaderList, RememberedRequest) {
    let plan = rules.on_request(&request_input(request, &FixedAttributes));
    let mut edited = request.clone();
    apply(&plan.edits, &mut edited);
    (edited, plan.remembered)
}

fn run_response(
    rules: &HeaderRules,
    remembered: &RememberedRequest,
    response: &FixedResponse,
) -> HeaderList {
    let edits = rules.on_response(remembered, response, &FixedAttributes);
    let mut headers = response.headers.clone();
    apply(&edits, &mut headers);
    headers
}

const CONFIG: &str = r#"{"rules": [
  {"name": "security", "response": {"set": {"x-frame-options": "DENY"}, "remove": ["server"]}},
  {"name": "api", "match": [{"uri": {"prefix": "/api/"}}, {"headers": {"x-api": {}}}],
   "request": {"set": {"x-client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}, "remove": ["x-internal-*"]},
   "response": {"add": {"x-api-version": "2"}}},
  {"name": "errors", "match": [{"uri": {"prefix": "/api/"}}], "responseStatus": ["5xx", 404],
   "response": {"set": {"cache-control": "no-store"}}},
  {"name": "legacy", "match": [{"method": {"exact": "POST"}}],
   "request": {"set": {"x-legacy-user": "%REQ(x-user)%"}, "queryParams": {"set": {"v": "2"}, "remove": ["debug"]}}}
]}"#;

#[wasm_bindgen_test(unsupported = test)]
fn rules_without_match_apply_to_every_request() {
    let rules = rules(CONFIG);
    let request = HeaderList::get("a", "/home");
    let (edited, matched) = run_request(&rules, &request);
    assert_eq!(edited.header("x-client"), None);
    let response = FixedResponse::new(200).with("server", "upstream");
    let headers = run_response(&rules, &matched, &response);
    assert_eq!(headers.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(headers.header("server"), None);
    assert_eq!(headers.header("x-api-version"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn any_match_block_selects_the_rule_for_both_phases() {
    let rules = rules(CONFIG);
    for request in [
        HeaderList::get("a", "/api/items"),
        HeaderList::get("a", "/other").with("x-api", "1"),
    ] {
        let request = request
            .with("x-internal-token", "s")
            .with("x-internal-b", "t");
        let (edited, matched) = run_request(&rules, &request);
        assert_eq!(edited.header("x-client").as_deref(), Some("10.1.2.3"));
        assert_eq!(edited.header("x-internal-token"), None);
        assert_eq!(edited.header("x-internal-b"), None);
        let headers = run_response(&rules, &matched, &FixedResponse::new(200));
        assert_eq!(headers.header("x-api-version").as_deref(), Some("2"));
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn request_time_matches_are_remembered_for_the_response() {
    let rules = rules(CONFIG);
    let request = HeaderList::get("a", "/api/items");
    let (_, matched) = run_request(&rules, &request);
    // Whatever happens to the request afterwards, the decision taken at request time holds.
    let headers = run_response(&rules, &matched, &FixedResponse::new(503));
    assert_eq!(headers.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(headers.header("x-api-version").as_deref(), Some("2"));
}

#[wasm_bindgen_test(unsupported = test)]
fn status_conditions_gate_response_operations() {
    let rules = rules(CONFIG);
    let request = HeaderList::get("a", "/api/items");
    let (_, matched) = run_request(&rules, &request);
    for (status, expected) in [
        (200, None),
        (404, Some("no-store")),
        (403, None),
        (500, Some("no-store")),
        (503, Some("no-store")),
    ] {
        let headers = run_response(&rules, &matched, &FixedResponse::new(status));
        assert_eq!(
            headers.header("cache-control").as_deref(),
            expected,
            "{status}"
        );
    }
    let (_, unmatched) = run_request(&rules, &HeaderList::get("a", "/home"));
    let headers = run_response(&rules, &unmatched, &FixedResponse::new(503));
    assert_eq!(headers.header("cache-control"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn query_edits_apply_to_the_path() {
    let rules = rules(CONFIG);
    let request = HeaderList::default()
        .with(":method", "POST")
        .with(":path", "/form?debug=1&v=1&x=y")
        .with("x-user", "jason");
    let (edited, _) = run_request(&rules, &request);
    assert_eq!(edited.header(":path").as_deref(), Some("/form?v=2&x=y"));
    assert_eq!(edited.header("x-legacy-user").as_deref(), Some("jason"));
}

#[wasm_bindgen_test(unsupported = test)]
fn query_edits_build_on_an_earlier_path_rewrite() {
    let rules = rules(
        r#"{"rules": [
            {"request": {"set": {":path": "/v2%REQ(:path)%"}}},
            {"request": {"queryParams": {"set": {"from": "v1"}}}},
            {"request": {"queryParams": {"remove": ["absent"]}}}
        ]}"#,
    );
    let request = HeaderList::get("a", "/items?q=1");
    let plan = rules.on_request(&request_input(&request, &FixedAttributes));
    assert_eq!(
        plan.edits,
        [
            HeaderEdit::Set {
                name: ":path".into(),
                value: "/v2/items?q=1".into()
            },
            HeaderEdit::Set {
                name: ":path".into(),
                value: "/v2/items?q=1&from=v1".into()
            },
        ]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn later_rules_see_the_request_as_it_arrived_and_win_on_conflicts() {
    let rules = rules(
        r#"{"rules": [
            {"request": {"set": {"x-user": "rewritten", "x-tier": "one"}}},
            {"match": [{"headers": {"x-user": {"exact": "jason"}}}],
             "request": {"set": {"x-tier": "gold", "x-copy": "%REQ(x-user)%"}}}
        ]}"#,
    );
    let request = HeaderList::get("a", "/").with("x-user", "jason");
    let (edited, _) = run_request(&rules, &request);
    assert_eq!(edited.header("x-user").as_deref(), Some("rewritten"));
    assert_eq!(edited.header("x-tier").as_deref(), Some("gold"));
    assert_eq!(edited.header("x-copy").as_deref(), Some("jason"));
}

#[wasm_bindgen_test(unsupported = test)]
fn match_fields_are_the_routers() {
    let rules = rules(
        r#"{"rules": [{"match": [{"method": {"exact": "GET"}, "authority": {"prefix": "shop."},
            "queryParams": {"preview": {}}, "withoutHeaders": {"x-bot": {}}, "port": 8080}],
            "request": {"add": {"x-preview": "1"}}}]}"#,
    );
    let request = HeaderList::get("shop.example.com", "/p?preview").on_port(8080);
    let matched = |request: &HeaderList| rules.remember(request).matched().to_vec();
    assert_eq!(matched(&request), [0]);
    assert!(matched(&request.clone().with("x-bot", "1")).is_empty());
    assert!(matched(&HeaderList::get("shop.example.com", "/p").on_port(8080)).is_empty());
    assert!(matched(&HeaderList::get("shop.example.com", "/p?preview").on_port(80)).is_empty());
}

#[wasm_bindgen_test(unsupported = test)]
fn response_templates_read_the_request_as_remembered() {
    let rules = rules(
        r#"{"rules": [{"match": [{"uri": {"prefix": "/api/"}}], "response": {"set": {
            "x-echo-id": "%REQUEST_ID%", "x-path": "%REQ(:path)%", "x-user": "%REQ(x-absent?x-user)%"}}}]}"#,
    );
    let request = HeaderList::get("a", "/api/items")
        .with("x-request-id", "abc")
        .with("x-user", "jason")
        .with("x-unread", "not remembered");
    let (_, remembered) = run_request(&rules, &request);
    assert_eq!(remembered.headers.header("x-unread"), None);
    let headers = run_response(&rules, &remembered, &FixedResponse::new(200));
    assert_eq!(headers.header("x-echo-id").as_deref(), Some("abc"));
    assert_eq!(headers.header("x-path").as_deref(), Some("/api/items"));
    assert_eq!(headers.header("x-user").as_deref(), Some("jason"));
}

#[wasm_bindgen_test(unsupported = test)]
fn an_unseen_request_gets_only_the_rules_without_match() {
    let rules = rules(CONFIG);
    let remembered = rules.remember_unseen_request();
    assert_eq!(remembered.matched(), [0]);
    let response = FixedResponse::new(503).with("server", "envoy");
    let headers = run_response(&rules, &remembered, &response);
    assert_eq!(headers.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(headers.header("server"), None);
    assert_eq!(headers.header("cache-control"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn phases_report_whether_they_have_work() {
    let response_only = rules(r#"{"rules": [{"response": {"remove": ["server"]}}]}"#);
    assert!(!response_only.has_request_operations());
    assert!(response_only.has_response_operations());
    let query_only = rules(r#"{"rules": [{"request": {"queryParams": {"remove": ["a"]}}}]}"#);
    assert!(query_only.has_request_operations());
    assert!(!query_only.has_response_operations());
    assert!(rules(r#"{"rules": []}"#)
        .remember(&HeaderList::get("a", "/"))
        .matched()
        .is_empty());
}

#[wasm_bindgen_test(unsupported = test)]
fn invalid_rules_name_the_field() {
    let cases = [
        (
            r#"{"rules": [{"match": [{"uri": {"regex": "(("}}], "request": {"add": {"a": "b"}}}]}"#,
            "rules[0].match[0].uri.regex: unclosed group",
        ),
        (
            r#"{"rules": [{}]}"#,
            "rules[0]: a rule needs request or response operations",
        ),
        (
            r#"{"rules": [{"request": {}, "response": {}}]}"#,
            "rules[0]: a rule needs request or response operations",
        ),
        (
            r#"{"rules": [{"responseStatus": ["5xx"], "request": {"add": {"a": "b"}}, "response": {"add": {"a": "b"}}}]}"#,
            "rules[0].responseStatus: limits response operations only",
        ),
        (
            r#"{"rules": [{"responseStatus": ["5xx"], "request": {"add": {"a": "b"}}}]}"#,
            "rules[0].responseStatus: limits response operations only",
        ),
        (
            r#"{"rules": [{"response": {"add": {"a": "b"}}}, {"responseStatus": [700], "response": {"add": {"a": "b"}}}]}"#,
            "rules[1].responseStatus[0]: invalid status \"700\"",
        ),
        (
            r#"{"rules": [{"response": {"set": {":status": "200"}}}]}"#,
            "rules[0].response.set.:status: :status is a pseudo-header",
        ),
        (
            r#"{"rules": [{"request": {"set": {"x-a": "%RESP(x)%"}}}]}"#,
            "rules[0].request.set.x-a: %RESP(...)% reads the response",
        ),
        (
            r#"{"rules": [{"request": {"queryParams": {"set": {"a=b": "1"}}}}]}"#,
            "rules[0].request.queryParams.set.a=b: \"a=b\" is not a valid query parameter name",
        ),
        (
            r#"{"rules": [{"match": [{"gateways": ["gw"]}], "request": {"add": {"a": "b"}}}]}"#,
            "rules[0].match[0].gateways: not supported in header rules",
        ),
        (
            r#"{"rules": [{"response": {"add": {"a": "b"}, "queryParams": {}}}]}"#,
            "rules[0].response.queryParams: unknown field `queryParams`",
        ),
        (
            r#"{"rules": [{"match": {"uri": {"exact": "/"}}, "request": {"add": {"a": "b"}}}]}"#,
            "rules[0].match: invalid type: map, expected a sequence",
        ),
        (r#"{"rule": []}"#, "rule: unknown field `rule`"),
    ];
    for (json, expected) in cases {
        let reason = error(json);
        assert!(reason.starts_with(expected), "{json}:\n  {reason}");
    }
}

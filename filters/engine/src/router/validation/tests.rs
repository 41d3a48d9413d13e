//! Istio's own validation test tables (`pkg/config/validation`: `validation_test.go`,
//! `virtualservice_test.go`), their inputs written as the JSON a VirtualService has and their
//! verdicts checked against the router's. A case whose verdict the router deliberately does
//! not share is listed with the reason (see `docs/validation.md`).

use base64::Engine as _;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::router::RouteTable;
use crate::{ConfigError, ConfigWarning};

/// One Istio test case: its name in Istio's table, the input, and Istio's verdict.
struct Case {
    name: &'static str,
    input: String,
    valid: bool,
    /// Istio's table also expects (or rules out) a warning.
    warning: Option<bool>,
    /// Why the router's verdict differs, when it deliberately does.
    differs: Option<&'static str>,
}

fn case(name: &'static str, input: impl Into<String>, valid: bool) -> Case {
    Case {
        name,
        input: input.into(),
        valid,
        warning: None,
        differs: None,
    }
}

impl Case {
    fn warns(mut self, warning: bool) -> Self {
        self.warning = Some(warning);
        self
    }

    fn differs(mut self, reason: &'static str) -> Self {
        self.differs = Some(reason);
        self
    }
}

fn compile(config: &str) -> Result<RouteTable, ConfigError> {
    RouteTable::from_json(config.as_bytes())
}

/// Checks every case of a table; returns how many it checked.
fn check(table: &str, cases: Vec<Case>, wrap: impl Fn(&str) -> String) -> usize {
    let count = cases.len();
    for case in cases {
        let config = wrap(&case.input);
        let result = compile(&config);
        let expected_valid = case.valid != case.differs.is_some();
        let context = format!(
            "{table} / {:?}: Istio says valid={}, input {config}",
            case.name, case.valid
        );
        match (&result, expected_valid) {
            (Ok(_), true) | (Err(_), false) => {}
            (Ok(_), false) => panic!("{context}: accepted"),
            (Err(error), true) => panic!("{context}: refused with {error}"),
        }
        if let (Some(warning), Ok(table)) = (case.warning, &result) {
            let warnings: Vec<&ConfigWarning> = table
                .warnings()
                .iter()
                .filter(|warning| !warning.reason.starts_with("no hosts:"))
                .filter(|warning| !warning.reason.contains("is passed through as written"))
                .collect();
            assert_eq!(
                !warnings.is_empty(),
                warning,
                "{context}: warnings {warnings:?}"
            );
        }
    }
    count
}

/// A route of a VirtualService with one host.
fn in_route(route: &str) -> String {
    format!(r#"{{"hosts": ["foo.bar"], "http": [{route}]}}"#)
}

/// A route of a delegate VirtualService (no hosts).
fn in_delegate(route: &str) -> String {
    format!(r#"{{"http": [{route}]}}"#)
}

/// A route of a root VirtualService whose delegate `test/test` exists.
fn in_root(route: &str) -> String {
    format!(
        r#"{{"virtualServices": [
        {{"name": "root", "spec": {{"hosts": ["foo.bar"], "http": [{route}]}}}},
        {{"name": "test", "namespace": "test", "spec": {{"http": [{{"route": [{{"destination": {{"host": "foo.baz"}}}}]}}]}}}}]}}"#
    )
}

const DESTINATION: &str = r#"{"destination": {"host": "foo.baz"}}"#;
const TO_FOO_BAZ: &str = r#""route": [{"destination": {"host": "foo.baz"}}]"#;
const TO_FOO_BAR: &str = r#""route": [{"destination": {"host": "foo.bar"}}]"#;
const DELEGATE: &str = r#""delegate": {"name": "test", "namespace": "test"}"#;
const REDIRECT: &str = r#""redirect": {"uri": "/", "authority": "foo.biz"}"#;

fn route_with(fields: &str) -> String {
    format!("{{{fields}}}")
}

/// `TestValidateVirtualService`.
fn virtual_service_cases() -> Vec<Case> {
    let simple_http = format!(r#""http": [{{{TO_FOO_BAZ}}}]"#);
    vec![
        case("simple", format!(r#"{{"hosts": ["foo.bar"], {simple_http}}}"#), true),
        case(
            "allow sni based domains",
            r#"{"hosts": ["outbound_.15010_._.istiod.istio-system.svc.cluster.local"], "gateways": ["ns1/gateway"],
               "tls": [{"match": [{"sniHosts": ["outbound_.15010_._.istiod.istio-system.svc.cluster.local"]}],
                        "route": [{"destination": {"host": "istio.istio-system.svc.cluster.local"}}]}]}"#,
            true,
        ),
        case("duplicate hosts", format!(r#"{{"hosts": ["*.foo.bar", "*.bar"], {simple_http}}}"#), false),
        case("with no destination", r#"{"hosts": ["*.foo.bar", "*.bar"], "http": [{"route": [{}]}]}"#, false),
        case(
            "destination with out hosts",
            r#"{"hosts": ["*.foo.bar", "*.bar"], "http": [{"route": [{"destination": {}}]}]}"#,
            false,
        ),
        case("delegate with no hosts", format!("{{{simple_http}}}"), true),
        case("bad host", format!(r#"{{"hosts": ["foo.ba!r"], {simple_http}}}"#), false),
        case("no tcp or http routing", r#"{"hosts": ["foo.bar"]}"#, false),
        case(
            "bad gateway",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["b@dgateway"], {simple_http}}}"#),
            false,
        ),
        case(
            "FQDN for gateway",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["gateway.example.com"], {simple_http}}}"#),
            true,
        )
        .warns(true),
        case(
            "namespace/name for gateway",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["ns1/gateway"], {simple_http}}}"#),
            true,
        ),
        case(
            "namespace/* for gateway",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["ns1/*"], {simple_http}}}"#),
            false,
        ),
        case(
            "*/name for gateway",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["*/gateway"], {simple_http}}}"#),
            false,
        ),
        case("wildcard for mesh gateway", format!(r#"{{"hosts": ["*"], {simple_http}}}"#), false)
            .differs("without a configured `gateway`, every VirtualService applies to the gateway the module runs on, none to a mesh (checked in gateway mode below)"),
        case(
            "wildcard for non-mesh gateway",
            format!(r#"{{"hosts": ["*"], "gateways": ["somegateway"], {simple_http}}}"#),
            true,
        ),
        case("missing tcp route", r#"{"hosts": ["foo.bar"], "tcp": [{"match": [{"port": 999}]}]}"#, false),
        case(
            "missing tls route",
            r#"{"hosts": ["foo.bar"], "tls": [{"match": [{"port": 999, "sniHosts": ["foo.bar"]}]}]}"#,
            false,
        ),
        case(
            "deprecated mirror",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["ns1/gateway"], "http": [{{"mirrorPercent": 5, {TO_FOO_BAZ}}}]}}"#),
            true,
        )
        .warns(true),
        case(
            "set authority",
            format!(r#"{{"hosts": ["foo.bar"], "http": [{{"headers": {{"request": {{"set": {{":authority": "foo"}}}}}}, {TO_FOO_BAZ}}}]}}"#),
            true,
        )
        .warns(false),
        case(
            "set authority in destination",
            r#"{"hosts": ["foo.bar"], "http": [{"route": [{"destination": {"host": "foo.baz"},
                "headers": {"request": {"set": {":authority": "foo"}}}}]}]}"#,
            true,
        )
        .warns(false),
        case(
            "set authority in rewrite and header",
            format!(r#"{{"hosts": ["foo.bar"], "http": [{{"headers": {{"request": {{"set": {{":authority": "foo"}}}}}},
                "rewrite": {{"authority": "bar"}}, {TO_FOO_BAZ}}}]}}"#),
            false,
        ),
        case(
            "non-method-get",
            format!(r#"{{"hosts": ["foo.bar"], "http": [{{{TO_FOO_BAZ}, "match": [
                {{"uri": {{"prefix": "/api/v1/product"}}}},
                {{"uri": {{"prefix": "/api/v1/products"}}, "method": {{"exact": "GET"}}}}]}}]}}"#),
            true,
        )
        .warns(true),
        case(
            "uri-with-prefix-exact",
            format!(r#"{{"hosts": ["foo.bar"], "http": [{{{TO_FOO_BAZ}, "match": [
                {{"uri": {{"prefix": "/"}}}},
                {{"uri": {{"exact": "/"}}, "method": {{"exact": "GET"}}}}]}}]}}"#),
            true,
        )
        .warns(false),
        case(
            "jwt claim route without gateway",
            format!(r#"{{"hosts": ["foo.bar"], "gateways": ["mesh"], "http": [{{{TO_FOO_BAZ}, "match": [
                {{"uri": {{"prefix": "/"}}, "headers": {{"@request.auth.claims.foo": {{"exact": "bar"}}}}}}]}}]}}"#),
            false,
        ),
        case(
            "ip address as sni host",
            r#"{"hosts": ["foo.bar"], "tls": [{"route": [{"destination": {"host": "foo.baz"}}],
                "match": [{"port": 999, "sniHosts": ["1.1.1.1"]}]}]}"#,
            true,
        )
        .warns(true),
        case(
            "invalid wildcard as sni host",
            r#"{"hosts": ["foo.bar"], "tls": [{"route": [{"destination": {"host": "foo.baz"}}],
                "match": [{"port": 999, "sniHosts": ["foo.*.com"]}]}]}"#,
            false,
        ),
    ]
}

/// `TestValidateChainingVirtualService`.
fn chaining_cases() -> Vec<Case> {
    vec![
        case(
            "root simple",
            in_root_vs(&format!(r#"{{"hosts": ["foo.bar"], "gateways": ["test-gateway"], "http": [{{{DELEGATE}}}]}}"#)),
            true,
        ),
        case(
            "root applies to sidecar with delegate",
            in_root_vs(&format!(r#"{{"hosts": ["foo.bar"], "http": [{{{DELEGATE}}}]}}"#)),
            true,
        ),
        case(
            "root with delegate and destination in one route",
            in_root_vs(&format!(r#"{{"hosts": ["foo.bar"], "http": [{{{DELEGATE}, {TO_FOO_BAZ}}}]}}"#)),
            false,
        ),
        case("delegate with no destination", r#"{"hosts": [], "http": [{}]}"#, false),
        case("delegate with delegate", format!(r#"{{"hosts": [], "http": [{{{DELEGATE}}}]}}"#), false),
        case(
            "delegate with TCP route",
            r#"{"hosts": [], "tcp": [{"route": [{"destination": {"host": "foo.baz"}}]}]}"#,
            false,
        ),
        case(
            "delegate with gateway",
            format!(r#"{{"hosts": [], "gateways": ["test"], "http": [{{{TO_FOO_BAZ}}}]}}"#),
            false,
        ),
        case(
            "delegate with sourceNamespace",
            format!(r#"{{"hosts": [], "http": [{{"match": [{{"sourceNamespace": "test"}}], {TO_FOO_BAZ}}}]}}"#),
            true,
        )
        .differs("sourceNamespace selects sidecars by their namespace; a gateway module cannot honour it, so it is refused"),
    ]
}

/// A whole VirtualService spec as a root, beside its delegate `test/test` (the bare form
/// when the spec is itself a delegate, as Istio validates it alone).
fn in_root_vs(spec: &str) -> String {
    format!(
        r#"{{"virtualServices": [{{"name": "root", "spec": {spec}}},
        {{"name": "test", "namespace": "test", "spec": {{"http": [{{"route": [{{"destination": {{"host": "foo.baz"}}}}]}}]}}}}]}}"#
    )
}

/// The header operations Istio's tables share, on a destination.
fn header_cases() -> Vec<Case> {
    let on_destination = |headers: &str| {
        route_with(&format!(
            r#""route": [{{"destination": {{"host": "foo.baz"}}, "headers": {headers}}}]"#
        ))
    };
    vec![
        case("request response headers", route_with(TO_FOO_BAZ), true),
        case(
            "valid headers",
            on_destination(
                r#"{"request": {"add": {"name": ""}, "set": {"name": ""}, "remove": ["name"]},
                    "response": {"add": {"name": ""}, "set": {"name": ""}, "remove": ["name"]}}"#,
            ),
            true,
        ),
        case(
            "empty header name - request add",
            on_destination(r#"{"request": {"add": {"": "value"}}}"#),
            false,
        ),
        case(
            "empty header name - request set",
            on_destination(r#"{"request": {"set": {"": "value"}}}"#),
            false,
        ),
        case(
            "empty header name - request remove",
            on_destination(r#"{"request": {"remove": [""]}}"#),
            false,
        ),
        case(
            "empty header name - response add",
            on_destination(r#"{"response": {"add": {"": "value"}}}"#),
            false,
        ),
        case(
            "empty header name - response set",
            on_destination(r#"{"response": {"set": {"": "value"}}}"#),
            false,
        ),
        case(
            "empty header name - response remove",
            on_destination(r#"{"response": {"remove": [""]}}"#),
            false,
        ),
    ]
}

/// `TestValidateHTTPRoute`.
fn http_route_cases() -> Vec<Case> {
    let response_set = |name: &str, value: &str, add: bool| {
        route_with(&format!(
            r#""route": [{{"destination": {{"host": "foo.baz"}}, "headers": {{"response": {{"{}": {{"{name}": "{value}"}}}}}}}}]"#,
            if add { "add" } else { "set" }
        ))
    };
    let mut cases = vec![
        case("empty", "{}", false),
        case("simple", route_with(TO_FOO_BAZ), true),
        case("no destination", r#"{"route": [{}]}"#, false),
        case(
            "weighted",
            r#"{"route": [{"destination": {"host": "foo.baz.south"}, "weight": 25}, {"destination": {"host": "foo.baz.east"}, "weight": 75}]}"#,
            true,
        ),
        case(
            "total weight > 100",
            r#"{"route": [{"destination": {"host": "foo.baz.south"}, "weight": 550}, {"destination": {"host": "foo.baz.east"}, "weight": 500}]}"#,
            true,
        ),
        case(
            "total weight < 100",
            r#"{"route": [{"destination": {"host": "foo.baz.south"}, "weight": 49}, {"destination": {"host": "foo.baz.east"}, "weight": 50}]}"#,
            true,
        ),
        case("simple redirect", r#"{"redirect": {"uri": "/lerp", "authority": "foo.biz"}}"#, true),
        case(
            "prefix_rewrite redirect with prefix URI match",
            r#"{"match": [{"uri": {"prefix": "/foo"}}], "redirect": {"prefixRewrite": "/bar"}}"#,
            true,
        ),
        case(
            "prefix_rewrite redirect with exact URI match is invalid",
            r#"{"match": [{"uri": {"exact": "/foo"}}], "redirect": {"prefixRewrite": "/bar"}}"#,
            false,
        ),
        case(
            "prefix_rewrite redirect with regex URI match is invalid",
            r#"{"match": [{"uri": {"regex": "/foo.*"}}], "redirect": {"prefixRewrite": "/bar"}}"#,
            false,
        ),
        case(
            "prefix_rewrite redirect with no URI match (wildcard) is valid",
            r#"{"match": [{"headers": {"x-foo": {"exact": "bar"}}}], "redirect": {"prefixRewrite": "/bar"}}"#,
            true,
        ),
        case(
            "conflicting redirect and route",
            format!(r#"{{{TO_FOO_BAZ}, "redirect": {{"uri": "/lerp", "authority": "foo.biz"}}}}"#),
            false,
        ),
        case("envoy escaped % set", response_set("i-love-istio", "100%%", false), true),
        case("envoy variable set", response_set("name", "%HOSTNAME%", false), true),
        case("envoy unescaped % set", response_set("name", "abcd%oijasodifj", false), false),
        case("envoy escaped % add", response_set("i-love-istio", "100%% and more", true), true),
        case("envoy variable add", response_set("name", "hello %HOSTNAME%", true), true),
        case("envoy unescaped % add", response_set("name", "abcd%oijasodifj", true), false),
        case(
            "null header match",
            format!(r#"{{{TO_FOO_BAR}, "match": [{{"headers": {{"header": null}}}}]}}"#),
            false,
        ),
        case(
            "empty prefix header match",
            format!(r#"{{{TO_FOO_BAR}, "match": [{{"headers": {{"emptyprefix": {{"prefix": ""}}}}}}]}}"#),
            false,
        ),
        case("nil match", route_with(TO_FOO_BAR), true),
        case("match with nil element", format!(r#"{{{TO_FOO_BAR}, "match": [null]}}"#), true)
            .differs("a null match block exists only in Go; in JSON or YAML `null` is not a match block and is refused"),
        case("invalid mirror percent", format!(r#"{{"mirrorPercent": 101, {TO_FOO_BAR}}}"#), false),
        case("invalid mirror percentage", format!(r#"{{"mirrorPercentage": {{"value": 101}}, {TO_FOO_BAR}}}"#), false),
        case("valid mirror percentage", format!(r#"{{"mirrorPercentage": {{"value": 1}}, {TO_FOO_BAR}}}"#), true),
        case("negative mirror percentage", format!(r#"{{"mirrorPercentage": {{"value": -1}}, {TO_FOO_BAR}}}"#), false),
        case("mirrors without destination", format!(r#"{{"mirrors": [{{}}], {TO_FOO_BAR}}}"#), false),
        case(
            "mirrors invalid mirror percentage",
            format!(r#"{{"mirrors": [{DESTINATION}, {{"destination": {{"host": "foo.baz"}}, "percentage": {{"value": 101}}}}], {TO_FOO_BAR}}}"#),
            false,
        ),
        case(
            "mirrors valid mirror percentage",
            format!(r#"{{"mirrors": [{{"destination": {{"host": "foo.baz"}}, "percentage": {{"value": 1}}}},
                {{"destination": {{"host": "foo.baz"}}, "percentage": {{"value": 50}}}}], {TO_FOO_BAR}}}"#),
            true,
        ),
        case(
            "mirrors negative mirror percentage",
            format!(r#"{{"mirrors": [{{"destination": {{"host": "foo.baz"}}, "percentage": {{"value": -1}}}}], {TO_FOO_BAR}}}"#),
            false,
        ),
        case(
            "conflicting mirror and mirrors",
            format!(r#"{{"mirror": {{"host": "foo.baz"}}, "mirrors": [{{"destination": {{"host": "foo.bar"}}}}], {TO_FOO_BAZ}}}"#),
            false,
        ),
    ];
    cases.extend(header_cases());
    cases
}

/// `TestValidateRootHTTPRoute`.
fn root_route_cases() -> Vec<Case> {
    let with_match = |action: &str, block: &str| format!(r#"{{{action}, "match": [{block}]}}"#);
    vec![
        case("simple", route_with(DELEGATE), true),
        case(
            "route and delegate conflict",
            format!(r#"{{{TO_FOO_BAZ}, {DELEGATE}}}"#),
            false,
        ),
        case(
            "redirect and delegate conflict",
            format!(r#"{{"redirect": {{"uri": "/lerp", "authority": "foo.biz"}}, {DELEGATE}}}"#),
            false,
        ),
        case(
            "null header match",
            with_match(DELEGATE, r#"{"headers": {"header": null}}"#),
            false,
        ),
        case(
            "prefix header match",
            with_match(DELEGATE, r#"{"headers": {"header": {"prefix": "test"}}}"#),
            true,
        ),
        case(
            "empty prefix header match (delegate)",
            with_match(DELEGATE, r#"{"headers": {"header": {"prefix": ""}}}"#),
            false,
        ),
        case(
            "exact header match",
            with_match(DELEGATE, r#"{"headers": {"header": {"exact": "test"}}}"#),
            true,
        ),
        case(
            "regex header match",
            with_match(DELEGATE, r#"{"headers": {"header": {"regex": "test"}}}"#),
            true,
        ),
        case(
            "exact without headers match",
            with_match(
                REDIRECT,
                r#"{"withoutHeaders": {"header": {"exact": "test"}}}"#,
            ),
            true,
        ),
        case(
            "regex without headers match",
            with_match(
                REDIRECT,
                r#"{"withoutHeaders": {"header": {"regex": "test"}}}"#,
            ),
            true,
        ),
        case(
            "regex without headers match ?",
            with_match(
                REDIRECT,
                r#"{"withoutHeaders": {"header": {"regex": "?"}}}"#,
            ),
            false,
        ),
        case(
            "regex without headers match *",
            with_match(
                REDIRECT,
                r#"{"withoutHeaders": {"header": {"regex": "*"}}}"#,
            ),
            true,
        ),
        case(
            "regex uri match",
            with_match(DELEGATE, r#"{"uri": {"regex": "test"}}"#),
            true,
        ),
        case(
            "prefix uri match",
            with_match(DELEGATE, r#"{"uri": {"prefix": "test"}}"#),
            true,
        ),
        case(
            "exact uri match",
            with_match(DELEGATE, r#"{"uri": {"exact": "test"}}"#),
            true,
        ),
        case(
            "prefix queryParams match",
            with_match(DELEGATE, r#"{"queryParams": {"q": {"prefix": "test"}}}"#),
            true,
        ),
        case(
            "exact queryParams match",
            with_match(DELEGATE, r#"{"queryParams": {"q": {"exact": "test"}}}"#),
            true,
        ),
        case(
            "regex queryParams match",
            with_match(DELEGATE, r#"{"headers": {"q": {"regex": "test"}}}"#),
            true,
        ),
        case(
            "empty prefix match in method",
            with_match(REDIRECT, r#"{"method": {"prefix": ""}}"#),
            false,
        ),
        case(
            "empty regex match in method",
            with_match(REDIRECT, r#"{"method": {"regex": ""}}"#),
            false,
        ),
        case(
            "empty prefix match in uri",
            with_match(REDIRECT, r#"{"uri": {"prefix": ""}}"#),
            true,
        ),
        case(
            "empty regex match in uri",
            with_match(REDIRECT, r#"{"uri": {"regex": ""}}"#),
            false,
        ),
        case(
            "empty regex match in query",
            with_match(REDIRECT, r#"{"queryParams": {"q": {"regex": ""}}}"#),
            false,
        ),
        case(
            "empty regex match in scheme",
            with_match(REDIRECT, r#"{"scheme": {"regex": ""}}"#),
            false,
        ),
        case(
            "empty prefix match in scheme",
            with_match(REDIRECT, r#"{"scheme": {"prefix": ""}}"#),
            false,
        ),
        case(
            "empty prefix header match",
            r#"{"match": [{"headers": {"header": {"prefix": ""}}}]}"#,
            false,
        ),
    ]
}

/// `TestValidateDelegateHTTPRoute`.
fn delegate_route_cases() -> Vec<Case> {
    let mut cases = vec![
        case("empty", "{}", false),
        case("simple", route_with(TO_FOO_BAZ), true),
        case("no destination", r#"{"route": [{}]}"#, false),
        case(
            "weighted",
            r#"{"route": [{"destination": {"host": "foo.baz.south"}, "weight": 25}, {"destination": {"host": "foo.baz.east"}, "weight": 75}]}"#,
            true,
        ),
        case(
            "total weight > 100",
            r#"{"route": [{"destination": {"host": "foo.baz.south"}, "weight": 55}, {"destination": {"host": "foo.baz.east"}, "weight": 50}]}"#,
            true,
        ),
        case(
            "total weight < 100",
            r#"{"route": [{"destination": {"host": "foo.baz.south"}, "weight": 49}, {"destination": {"host": "foo.baz.east"}, "weight": 50}]}"#,
            true,
        ),
        case("simple redirect", r#"{"redirect": {"uri": "/lerp", "authority": "foo.biz"}}"#, true),
        case(
            "conflicting redirect and route",
            format!(r#"{{{TO_FOO_BAZ}, "redirect": {{"uri": "/lerp", "authority": "foo.biz"}}}}"#),
            false,
        ),
        case(
            "null header match",
            format!(r#"{{{TO_FOO_BAR}, "match": [{{"headers": {{"header": null}}}}]}}"#),
            false,
        ),
        case("nil match", route_with(TO_FOO_BAR), true),
        case("match with nil element", format!(r#"{{{TO_FOO_BAR}, "match": [null]}}"#), true)
            .differs("a null match block exists only in Go; in JSON or YAML `null` is not a match block and is refused"),
        case("invalid mirror percent", format!(r#"{{"mirrorPercent": 101, {TO_FOO_BAR}}}"#), false),
        case("invalid mirror percentage", format!(r#"{{"mirrorPercentage": {{"value": 101}}, {TO_FOO_BAR}}}"#), false),
        case("valid mirror percentage", format!(r#"{{"mirrorPercentage": {{"value": 1}}, {TO_FOO_BAR}}}"#), true),
        case("negative mirror percentage", format!(r#"{{"mirrorPercentage": {{"value": -1}}, {TO_FOO_BAR}}}"#), false),
        case("delegate route with delegate", route_with(DELEGATE), false),
    ];
    cases.extend(header_cases());
    cases
}

/// `TestValidateCORSPolicy`.
fn cors_cases() -> Vec<Case> {
    let policy = |methods: &str, expose: &str, max_age: &str, origins: &str| {
        format!(
            r#"{{{TO_FOO_BAZ}, "corsPolicy": {{"allowMethods": {methods}, "allowHeaders": ["header1", "header2"],
                "exposeHeaders": {expose}, "maxAge": "{max_age}"{origins}}}}}"#
        )
    };
    vec![
        case(
            "valid",
            policy(r#"["GET", "POST"]"#, r#"["header3"]"#, "2s", ""),
            true,
        ),
        case(
            "bad method",
            policy(r#"["GET", "PUTT"]"#, r#"["header3"]"#, "2s", ""),
            false,
        ),
        case(
            "bad header",
            policy(r#"["GET", "POST"]"#, r#"[""]"#, "2s", ""),
            false,
        ),
        case(
            "bad max age",
            policy(r#"["GET", "POST"]"#, r#"["header3"]"#, "2s42ns", ""),
            false,
        ),
        case(
            "empty matchType AllowOrigins",
            policy(
                r#"["GET", "POST"]"#,
                r#"["header3"]"#,
                "2s",
                r#", "allowOrigins": [{"exact": ""}, {"prefix": ""}, {"regex": ""}]"#,
            ),
            false,
        ),
        case(
            "non empty matchType AllowOrigins",
            policy(
                r#"["GET", "POST"]"#,
                r#"["header3"]"#,
                "2s",
                r#", "allowOrigins": [{"exact": "exact"}, {"prefix": "prefix"}, {"regex": "regex"}]"#,
            ),
            true,
        ),
    ]
}

/// `TestValidateHTTPStatus`, through a direct response.
fn http_status_cases() -> Vec<Case> {
    [
        (-100, false),
        (0, false),
        (200, true),
        (600, true),
        (601, false),
    ]
    .into_iter()
    .map(|(status, valid)| {
        case(
            "validateHTTPStatus",
            format!(r#"{{"directResponse": {{"status": {status}}}}}"#),
            valid,
        )
    })
    .collect()
}

fn with_fault(fault: &str) -> String {
    format!(r#"{{{TO_FOO_BAZ}, "fault": {fault}}}"#)
}

/// `TestValidateHTTPFaultInjectionAbort`.
fn abort_cases() -> Vec<Case> {
    let abort = |body: &str| with_fault(&format!(r#"{{"abort": {{{body}}}}}"#));
    vec![
        case("nil", route_with(TO_FOO_BAZ), true),
        case(
            "valid",
            abort(r#""percentage": {"value": 20}, "httpStatus": 200"#),
            true,
        ),
        case("valid default", abort(r#""httpStatus": 200"#), true),
        case(
            "invalid http status",
            abort(r#""percentage": {"value": 20}, "httpStatus": 9000"#),
            false,
        ),
        case(
            "invalid low http status",
            abort(r#""percentage": {"value": 20}, "httpStatus": 100"#),
            false,
        ),
        case(
            "valid percentage",
            abort(r#""percentage": {"value": 0.001}, "httpStatus": 200"#),
            true,
        ),
        case(
            "invalid fractional percent",
            abort(r#""percentage": {"value": -10.0}, "httpStatus": 200"#),
            false,
        ),
        case("grpc: nil", route_with(TO_FOO_BAZ), true),
        case(
            "grpc: valid",
            abort(r#""percentage": {"value": 20}, "grpcStatus": "DEADLINE_EXCEEDED""#),
            true,
        ),
        case(
            "grpc: valid default percentage",
            abort(r#""grpcStatus": "DEADLINE_EXCEEDED""#),
            true,
        ),
        case(
            "grpc: invalid status",
            abort(r#""percentage": {"value": 20}, "grpcStatus": "BAD_STATUS""#),
            false,
        ),
        case(
            "grpc: valid percentage",
            abort(r#""percentage": {"value": 0.001}, "grpcStatus": "INTERNAL""#),
            true,
        ),
        case(
            "grpc: invalid fractional percent",
            abort(r#""percentage": {"value": -10.0}, "grpcStatus": "DEADLINE_EXCEEDED""#),
            false,
        ),
    ]
}

/// `TestValidateHTTPFaultInjectionDelay`.
fn delay_cases() -> Vec<Case> {
    let delay = |body: &str| with_fault(&format!(r#"{{"delay": {{{body}}}}}"#));
    vec![
        case("nil", route_with(TO_FOO_BAZ), true),
        case(
            "valid fixed",
            delay(r#""percentage": {"value": 20}, "fixedDelay": "3s""#),
            true,
        ),
        case("valid default", delay(r#""fixedDelay": "3s""#), true),
        case(
            "invalid percent",
            delay(r#""percentage": {"value": 101}, "fixedDelay": "3s""#),
            false,
        ),
        case(
            "invalid delay",
            delay(r#""percentage": {"value": 20}, "fixedDelay": "3s42ns""#),
            false,
        ),
        case(
            "valid fractional percentage",
            delay(r#""percentage": {"value": 0.001}, "fixedDelay": "3s""#),
            true,
        ),
        case(
            "invalid fractional percentage",
            delay(r#""percentage": {"value": -10.0}, "fixedDelay": "3s""#),
            false,
        ),
    ]
}

/// `TestValidateHTTPRetry`.
fn retry_cases() -> Vec<Case> {
    let retries = |body: &str| format!(r#"{{{TO_FOO_BAZ}, "retries": {{{body}}}}}"#);
    vec![
        case(
            "valid",
            retries(r#""attempts": 10, "perTryTimeout": "2s", "retryOn": "5xx,gateway-error""#),
            true,
        ),
        case("disable retries", retries(r#""attempts": 0"#), true),
        case(
            "invalid, retry policy configured but attempts set to zero",
            retries(r#""attempts": 0, "perTryTimeout": "2s", "retryOn": "5xx,gateway-error""#),
            false,
        ),
        case("valid default", retries(r#""attempts": 10"#), true),
        case(
            "valid http status retryOn",
            retries(r#""attempts": 10, "perTryTimeout": "2s", "retryOn": "503,connect-failure""#),
            true,
        ),
        case(
            "invalid attempts",
            retries(r#""attempts": -1, "perTryTimeout": "2s""#),
            false,
        ),
        case(
            "invalid timeout",
            retries(r#""attempts": 10, "perTryTimeout": "2s1ns""#),
            false,
        ),
        case(
            "timeout too small",
            retries(r#""attempts": 10, "perTryTimeout": "999ns""#),
            false,
        ),
        case(
            "invalid backoff",
            retries(r#""attempts": 10, "backoff": "999ns""#),
            false,
        ),
        case(
            "invalid policy retryOn",
            retries(r#""attempts": 10, "perTryTimeout": "2s", "retryOn": "5xx,invalid policy""#),
            false,
        ),
        case(
            "invalid http status retryOn",
            retries(r#""attempts": 10, "perTryTimeout": "2s", "retryOn": "600,connect-failure""#),
            false,
        ),
        case(
            "invalid, retryRemoteLocalities configured but attempts set to zero",
            retries(r#""attempts": 0, "retryRemoteLocalities": false"#),
            false,
        ),
    ]
}

/// `TestValidateHTTPRewrite` and `TestValidateUriRegexRewrite`.
fn rewrite_cases() -> Vec<Case> {
    let rewrite = |body: &str| format!(r#"{{{TO_FOO_BAZ}, "rewrite": {body}}}"#);
    let regex =
        r#""uriRegexRewrite": {"match": "^/service/([^/]+)(/.*)$", "rewrite": "\\2/instance/\\1"}"#;
    vec![
        case("nil in", route_with(TO_FOO_BAZ), true),
        case(
            "uri and authority",
            rewrite(r#"{"uri": "/path/to/resource", "authority": "foobar.org"}"#),
            true,
        ),
        case("uri", rewrite(r#"{"uri": "/path/to/resource"}"#), true),
        case("authority", rewrite(r#"{"authority": "foobar.org"}"#), true),
        case("uriRegexRewrite", rewrite(&format!("{{{regex}}}")), true),
        case(
            "uriRegexRewrite and authority",
            rewrite(&format!(r#"{{"authority": "foobar.org", {regex}}}"#)),
            true,
        ),
        case(
            "uriRegexRewrite and uri",
            rewrite(&format!(r#"{{"uri": "/path/to/resource", {regex}}}"#)),
            false,
        ),
        case(
            "no uri, uriRegexRewrite, or authority",
            rewrite("{}"),
            false,
        ),
        case("uriRegexRewrite nil", route_with(TO_FOO_BAZ), true),
        case(
            "uriRegexRewrite happy path",
            rewrite(&format!("{{{regex}}}")),
            true,
        ),
        case(
            "uriRegexRewrite missing match",
            rewrite(r#"{"uriRegexRewrite": {"rewrite": "\\2/instance/\\1"}}"#),
            false,
        ),
        case(
            "uriRegexRewrite missing rewrite",
            rewrite(r#"{"uriRegexRewrite": {"match": "^/service/([^/]+)(/.*)$"}}"#),
            false,
        ),
        case(
            "uriRegexRewrite invalid regex patterns",
            rewrite(r#"{"uriRegexRewrite": {"match": "[", "rewrite": "["}}"#),
            false,
        ),
    ]
}

/// `TestValidateHTTPRedirect`.
fn redirect_cases() -> Vec<Case> {
    let redirect = |body: &str| format!(r#"{{"redirect": {body}}}"#);
    vec![
        case("nil redirect", route_with(TO_FOO_BAZ), true),
        case(
            "empty uri and authority",
            redirect(r#"{"uri": "", "authority": ""}"#),
            false,
        ),
        case(
            "too small redirect code",
            redirect(r#"{"uri": "t", "authority": "", "redirectCode": 299}"#),
            false,
        ),
        case(
            "too large redirect code",
            redirect(r#"{"uri": "t", "authority": "", "redirectCode": 400}"#),
            false,
        ),
        case(
            "empty authority",
            redirect(r#"{"uri": "t", "authority": ""}"#),
            true,
        ),
        case(
            "empty uri",
            redirect(r#"{"uri": "", "authority": "t"}"#),
            true,
        ),
        case(
            "empty redirect code",
            redirect(r#"{"uri": "t", "authority": "t", "redirectCode": 0}"#),
            true,
        ),
        case(
            "normal redirect",
            redirect(r#"{"uri": "t", "authority": "t", "redirectCode": 308}"#),
            true,
        ),
        case(
            "prefix_rewrite alone",
            redirect(r#"{"prefixRewrite": "/bar"}"#),
            true,
        ),
        case(
            "prefix_rewrite with authority",
            redirect(r#"{"authority": "foo.example.com", "prefixRewrite": "/"}"#),
            true,
        ),
        case(
            "uri and prefix_rewrite mutually exclusive",
            redirect(r#"{"uri": "/old", "prefixRewrite": "/new"}"#),
            false,
        ),
    ]
}

/// `TestValidateHTTPDirectResponse`.
fn direct_response_cases() -> Vec<Case> {
    let direct =
        |status: u32, body: &str| format!(r#"{{"directResponse": {{"status": {status}{body}}}}}"#);
    let text = |size: usize| format!(r#", "body": {{"string": "{}"}}"#, "a".repeat(size));
    let bytes = |size: usize| {
        let encoded = base64::engine::general_purpose::STANDARD.encode("a".repeat(size));
        format!(r#", "body": {{"bytes": "{encoded}"}}"#)
    };
    const KB: usize = 1024;
    const MB: usize = 1024 * KB;
    vec![
        case("nil redirect", route_with(TO_FOO_BAZ), true).warns(false),
        case("status 200", direct(200, ""), true).warns(false),
        case("status 100", direct(199, ""), false),
        case("status 600", direct(601, ""), false),
        case(
            "with string body",
            direct(200, r#", "body": {"string": "hello"}"#),
            true,
        )
        .warns(false),
        case(
            "with string body over 100kb",
            direct(200, &text(101 * KB)),
            true,
        )
        .warns(true),
        case(
            "with string body over 1mb",
            direct(200, &text(2 * MB)),
            false,
        ),
        case("with bytes body", direct(200, &bytes(5)), true).warns(false),
        case(
            "with bytes body over 100kb",
            direct(200, &bytes(100 * KB + 1)),
            true,
        )
        .warns(true),
        case(
            "with bytes body over 1mb",
            direct(200, &bytes(MB + 1)),
            false,
        ),
    ]
}

/// `TestValidateDestination`.
fn destination_cases() -> Vec<Case> {
    let to = |destination: &str| format!(r#"{{"route": [{{"destination": {destination}}}]}}"#);
    vec![
        case("empty", to("{}"), false),
        case("simple", to(r#"{"host": "foo.bar"}"#), true),
        case(
            "full",
            to(r#"{"host": "foo.bar", "subset": "shiny", "port": {"number": 5000}}"#),
            true,
        ),
        case(
            "unnumbered-selector",
            to(r#"{"host": "foo.bar", "subset": "shiny", "port": {}}"#),
            false,
        ),
    ]
}

/// `TestValidateRouteDestination` (TCP destinations; the same rules hold for HTTP ones).
fn route_destination_cases() -> Vec<Case> {
    let to = |destinations: &str| format!(r#"{{"route": {destinations}}}"#);
    let pair = |a: i64, b: i64| {
        to(&format!(
            r#"[{{"destination": {{"host": "foo.baz.south"}}, "weight": {a}}}, {{"destination": {{"host": "foo.baz.east"}}, "weight": {b}}}]"#
        ))
    };
    vec![
        case(
            "simple",
            to(r#"[{"destination": {"host": "foo.baz"}}]"#),
            true,
        ),
        case(
            "wildcard dash",
            to(r#"[{"destination": {"host": "*-foo.baz"}}]"#),
            true,
        ),
        case(
            "wildcard prefix",
            to(r#"[{"destination": {"host": "*foo.baz"}}]"#),
            true,
        ),
        case("wildcard", to(r#"[{"destination": {"host": "*"}}]"#), false),
        case(
            "bad wildcard",
            to(r#"[{"destination": {"host": "foo.*"}}]"#),
            false,
        ),
        case(
            "bad fqdn",
            to(r#"[{"destination": {"host": "default/baz"}}]"#),
            false,
        ),
        case("no destination", to("[{}]"), false),
        case("weighted", pair(25, 75), true),
        case("weight < 0", pair(5, -1), false),
        case("total weight > 100", pair(550, 500), true),
        case("total weight < 100", pair(49, 50), true),
        case("total weight = 100", pair(100, 0), true),
        case(
            "weight = 0",
            to(r#"[{"destination": {"host": "foo.baz.south"}, "weight": 0}]"#),
            true,
        ),
        case(
            "total weight = 0 with multi RouteDestination",
            pair(0, 0),
            false,
        ),
    ]
}

/// `TestValidateHTTPHeaderValue`, on a route's response headers.
fn header_value_cases() -> Vec<Case> {
    [
        ("foo", true),
        ("%HOSTNAME%", true),
        ("100%%", true),
        ("prefix %HOSTNAME% suffix", true),
        ("%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%", true),
        ("%DYNAMIC_METADATA(com.test.my_filter)%", true),
        ("%START_TIME%%", false),
        ("abc%123", false),
    ]
    .into_iter()
    .map(|(value, valid)| {
        case(
            "ValidateHTTPHeaderValue",
            format!(r#"{{{TO_FOO_BAZ}, "headers": {{"response": {{"set": {{"x-value": "{value}"}}}}}}}}"#),
            valid,
        )
    })
    .collect()
}

/// `TestValidateHTTPHeaderName` (`ValidateHTTPHeaderNameOrJwtClaimRoute`), as match headers.
fn header_name_cases() -> Vec<Case> {
    [
        ("header1", true),
        ("X-Requested-With", true),
        (":authority", true),
        ("funky!$#_", true),
        ("", false),
        ("::", false),
        ("illegal\\\"char", false),
    ]
    .into_iter()
    .map(|(name, valid)| {
        case(
            "ValidateHTTPHeaderNameOrJwtClaimRoute",
            format!(
                r#"{{{TO_FOO_BAZ}, "match": [{{"headers": {{"{name}": {{"exact": "a"}}}}}}]}}"#
            ),
            valid,
        )
    })
    .collect()
}

/// `Test_validateExportTo`, the cases for configs other than ServiceEntry and DestinationRule.
fn export_to_cases() -> Vec<Case> {
    [
        ("empty exportTo is okay", "[]", true),
        ("* is allowed", r#"["*"]"#, true),
        (". and ns1 are allowed", r#"[".", "ns1"]"#, true),
        (
            "bunch of namespaces in exportTo is okay",
            r#"["ns1", "ns2", "ns5"]"#,
            true,
        ),
        (
            "~ not allowed for non service entry configs",
            r#"["~", "ns1"]"#,
            false,
        ),
        (". and * together are not allowed", r#"[".", "*"]"#, false),
        (
            "* and ns1 together are not allowed",
            r#"["*", "ns1"]"#,
            false,
        ),
        (
            ". and same namespace in exportTo is not okay",
            r#"[".", "ns5"]"#,
            false,
        ),
        (
            "duplicate namespaces in exportTo is not okay",
            r#"["ns1", "ns2", "ns1"]"#,
            false,
        ),
        ("invalid namespace names are not okay", r#"["ns1_"]"#, false),
    ]
    .into_iter()
    .map(|(name, export_to, valid)| case(name, export_to, valid))
    .collect()
}

#[wasm_bindgen_test(unsupported = test)]
fn istio_validation_tables() {
    let bare = |spec: &str| spec.to_owned();
    let mut ported = 0;
    ported += check("TestValidateVirtualService", virtual_service_cases(), bare);
    ported += check("TestValidateChainingVirtualService", chaining_cases(), bare);
    ported += check("TestValidateHTTPRoute", http_route_cases(), in_route);
    ported += check("TestValidateRootHTTPRoute", root_route_cases(), in_root);
    ported += check(
        "TestValidateDelegateHTTPRoute",
        delegate_route_cases(),
        in_delegate,
    );
    ported += check("TestValidateCORSPolicy", cors_cases(), in_route);
    ported += check("TestValidateHTTPStatus", http_status_cases(), in_route);
    ported += check(
        "TestValidateHTTPFaultInjectionAbort",
        abort_cases(),
        in_route,
    );
    ported += check(
        "TestValidateHTTPFaultInjectionDelay",
        delay_cases(),
        in_route,
    );
    ported += check("TestValidateHTTPRetry", retry_cases(), in_route);
    ported += check("TestValidateHTTPRewrite", rewrite_cases(), in_route);
    ported += check("TestValidateHTTPRedirect", redirect_cases(), in_route);
    ported += check(
        "TestValidateHTTPDirectResponse",
        direct_response_cases(),
        in_route,
    );
    ported += check("TestValidateDestination", destination_cases(), in_route);
    ported += check(
        "TestValidateRouteDestination",
        route_destination_cases(),
        in_route,
    );
    ported += check(
        "TestValidateHTTPHeaderValue",
        header_value_cases(),
        in_route,
    );
    ported += check("TestValidateHTTPHeaderName", header_name_cases(), in_route);
    ported += check("Test_validateExportTo", export_to_cases(), |export_to| {
        format!(
            r#"{{"virtualServices": [{{"name": "vs", "namespace": "ns5", "spec":
                {{"hosts": ["foo.bar"], "exportTo": {export_to}, "http": [{{{TO_FOO_BAZ}}}]}}}}]}}"#
        )
    });
    // In gateway mode, a VirtualService without `gateways` is bound to the mesh, as in Istio.
    check(
        "TestValidateVirtualService (gateway mode)",
        vec![case(
            "wildcard for mesh gateway",
            format!(r#"{{"hosts": ["*"], "http": [{{{TO_FOO_BAZ}}}]}}"#),
            false,
        )],
        |spec| {
            format!(
                r#"{{"gateway": "istio-system/ingressgateway", "virtualServices": [{{"name": "vs", "spec": {spec}}}]}}"#
            )
        },
    );
    // Istio's cases, each counted once (some tables repeat the shared header cases).
    assert_eq!(
        ported, 243,
        "update docs/validation.md when the count changes"
    );
}

fn respond<'t>(
    table: &'t RouteTable,
    request: &crate::request::HeaderList,
) -> super::super::LocalResponse<'t> {
    match table.select(request, &mut || 0) {
        crate::router::Decision::Respond(response) => response,
        other => panic!("expected a local response, got {other:?}"),
    }
}

fn warnings_of(config: &str) -> Vec<String> {
    compile(config)
        .expect("valid config")
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn error_of(config: &str) -> String {
    compile(config).expect_err("invalid config").to_string()
}

/// `redirect.prefixRewrite` replaces the matched prefix and keeps the rest, query included,
/// as Envoy's redirect `prefix_rewrite` does.
#[wasm_bindgen_test(unsupported = test)]
fn redirect_prefix_rewrite_replaces_the_matched_prefix() {
    let table = compile(
        r#"{"hosts": ["*"], "http": [
          {"match": [{"uri": {"prefix": "/foo/"}}], "redirect": {"authority": "foo.example.com", "prefixRewrite": "/"}},
          {"redirect": {"prefixRewrite": "/root"}}]}"#,
    )
    .expect("valid");
    let request = |path| {
        crate::request::HeaderList::get("example.com", path).with("x-forwarded-proto", "http")
    };
    assert_eq!(
        respond(&table, &request("/foo/bar?x=1")).headers,
        [("location", "http://foo.example.com/bar?x=1".to_owned())]
    );
    // Without a `uri` match, Istio's route matches prefix `/`, which is replaced.
    assert_eq!(
        respond(&table, &request("/a/b")).headers,
        [("location", "http://example.com/roota/b".to_owned())]
    );
}

/// A `withoutHeaders` regex `*` is Istio's presence match: the block requires the header to be
/// absent.
#[wasm_bindgen_test(unsupported = test)]
fn without_headers_star_requires_the_header_absent() {
    let table = compile(
        r#"{"hosts": ["*"], "http": [{"match": [{"withoutHeaders": {"x-debug": {"regex": "*"}}}],
            "directResponse": {"status": 204}}]}"#,
    )
    .expect("valid");
    let plain = crate::request::HeaderList::get("a", "/");
    assert_eq!(respond(&table, &plain).status, 204);
    let debug = plain.with("x-debug", "");
    assert!(matches!(
        table.select(&debug, &mut || 0),
        crate::router::Decision::NoRoute
    ));
}

#[wasm_bindgen_test(unsupported = test)]
fn warnings_name_their_field() {
    let warnings = warnings_of(
        r#"{"hosts": ["*"], "gateways": ["gateway.example.com"], "http": [
          {"match": [{"uri": {"prefix": "/a"}}], "directResponse": {"status": 600}},
          {"match": [{"uri": {"prefix": "/b"}}], "route": [{"destination": {"host": "b"}}], "mirrorPercent": 5,
           "retries": {"attempts": 2, "backoff": "2s", "retryRemoteLocalities": true, "retryIgnorePreviousHosts": false},
           "headers": {"response": {"set": {"x-node": "%HOSTNAME%"}}}},
          {"match": [{"uri": {"prefix": "/a/b"}}], "route": [{"destination": {"host": "c"}}]}]}"#,
    );
    let expected_starts = [
        "gateways[0]: using legacy gatewayName format \"gateway.example.com\"",
        "http[0].directResponse.status: 600 is past HTTP's 200-599",
        "http[1].headers.response.set.x-node: %HOSTNAME% is passed through as written",
        "http[1].mirrorPercent: using deprecated setting",
        "http[1].retries.backoff: not applied: Envoy takes the retry back-off from the route's retry_policy.retry_back_off",
        "http[1].retries.retryRemoteLocalities: not applied",
        "http[1].retries.retryIgnorePreviousHosts: not applied",
        "http[2].match[0]: virtualService rule #2 match #0 of prefix /a/b is not used (duplicate/overlapping match in rule #0 of prefix /a on #0)",
    ];
    assert_eq!(warnings.len(), expected_starts.len(), "{warnings:#?}");
    for (warning, start) in warnings.iter().zip(expected_starts) {
        assert!(
            warning.starts_with(start),
            "{warning} should start with {start}"
        );
    }
}

/// 600 is accepted as Istio accepts it, and answered as such; `backoff` is accepted and leaves
/// the `x-envoy-*` retry headers as they were.
#[wasm_bindgen_test(unsupported = test)]
fn accepted_beyond_envoy_still_behaves() {
    let table = compile(
        r#"{"hosts": ["*"], "http": [
          {"match": [{"uri": {"prefix": "/teapot"}}], "directResponse": {"status": 600}},
          {"route": [{"destination": {"host": "a"}}], "retries": {"attempts": 3, "retryOn": "5xx", "backoff": "100ms"}}]}"#,
    )
    .expect("valid");
    assert_eq!(
        respond(&table, &crate::request::HeaderList::get("a", "/teapot")).status,
        600
    );
    let crate::router::Decision::Forward(forward) =
        table.select(&crate::request::HeaderList::get("a", "/"), &mut || 0)
    else {
        panic!("forwarded");
    };
    assert_eq!(
        forward.router_headers,
        [
            (crate::router::CUSTOM_RETRIES_HEADER, "custom".to_owned()),
            ("x-envoy-max-retries", "3".to_owned()),
            ("x-envoy-retry-on", "5xx".to_owned())
        ]
    );
}

/// A delegate without hosts in the bare form is accepted, routes nothing, and says why.
#[wasm_bindgen_test(unsupported = test)]
fn a_lone_delegate_routes_nothing_with_a_warning() {
    let warnings = warnings_of(r#"{"http": [{"route": [{"destination": {"host": "a"}}]}]}"#);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("hosts: no hosts: a delegate VirtualService"));
}

#[wasm_bindgen_test(unsupported = test)]
fn errors_are_readable() {
    assert_eq!(
        error_of(
            r#"{"hosts": ["a.com"], "http": [{"route": [{"destination": {"host": "a"}}],
            "headers": {"request": {"set": {"": "x"}}}}]}"#
        ),
        r#"http[0].headers.request.set[""]: header name cannot be empty"#
    );
    assert_eq!(
        error_of(
            r#"{"hosts": ["a.com"], "http": [{"match": [{"headers": {"x": null}}], "route": [{"destination": {"host": "a"}}]}]}"#
        ),
        "http[0].match[0].headers.x: invalid type: null, expected an object"
    );
    assert_eq!(
        error_of(
            r#"{"hosts": ["*.com", "a.com"], "http": [{"route": [{"destination": {"host": "a"}}]}]}"#
        ),
        "hosts[1]: duplicate hosts in virtual service: *.com & a.com"
    );
    assert_eq!(
        error_of(
            r#"{"hosts": ["a.com"], "gateways": ["ns1/*"], "http": [{"route": [{"destination": {"host": "a"}}]}]}"#
        ),
        r#"gateways[0]: invalid value for gateway name: "*""#
    );
    assert_eq!(
        error_of(
            r#"{"hosts": ["a.com"], "http": [{"route": [{"destination": {"host": "foo.*"}}]}]}"#
        ),
        r#"http[0].route[0].destination.host: domain name "foo.*" invalid (label "*" invalid)"#
    );
    assert_eq!(
        error_of(r#"{"virtualServices": [{"name": "a", "namespace": "ns", "spec": {"hosts": ["a.com"], "exportTo": ["ns", "."],
            "http": [{"route": [{"destination": {"host": "a"}}]}]}}]}"#),
        "virtualServices[0].spec.exportTo[1]: duplicate entries in exportTo: . and current namespace ns"
    );
    assert_eq!(
        error_of(
            r#"{"hosts": ["a.com"], "http": [{"route": [{"destination": {"host": "a"}}], "rewrite": {"authority": "b"},
            "headers": {"request": {"add": {"Host": "c"}}}}]}"#
        ),
        r#"http[0].headers.request.add.Host: authority header cannot be set multiple times: have "b", attempting to set "c""#
    );
    assert_eq!(
        error_of(
            r#"{"hosts": ["a.com"], "http": [{"route": [{"destination": {"host": "a"}}], "corsPolicy": {"allowMethods": ["GET", "FETCH"]}}]}"#
        ),
        r#"http[0].corsPolicy.allowMethods[1]: "FETCH" is not a supported HTTP method"#
    );
}

/// Istio makes a request `set` or `add` of `host`/`:authority` the route's authority rewrite.
#[wasm_bindgen_test(unsupported = test)]
fn host_in_request_headers_rewrites_the_authority() {
    let table = compile(
        r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}],
            "headers": {"request": {"add": {"Host": "b.internal"}}}}]}"#,
    )
    .expect("valid");
    let crate::router::Decision::Forward(forward) =
        table.select(&crate::request::HeaderList::get("a", "/"), &mut || 0)
    else {
        panic!("forwarded");
    };
    let request = crate::request::HeaderList::get("a", "/");
    let mut edits = Vec::new();
    forward.headers[1].request.edits(
        &crate::headers::TemplateInput {
            request: &request,
            response: None,
            attributes: &NoStream,
        },
        &mut edits,
    );
    assert_eq!(
        edits,
        [crate::headers::HeaderEdit::Set {
            name: ":authority".to_owned(),
            value: "b.internal".to_owned()
        }]
    );
}

use crate::stream::NoAttributes as NoStream;

/// An empty `domainSuffix` makes `name.namespace` hosts, with no trailing dot.
#[wasm_bindgen_test(unsupported = test)]
fn an_empty_domain_suffix_leaves_no_trailing_dot() {
    let table = compile(
        r#"{"domainSuffix": "", "virtualServices": [{"name": "a", "namespace": "shop",
            "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]}}]}"#,
    )
    .expect("valid");
    let crate::router::Decision::Forward(forward) =
        table.select(&crate::request::HeaderList::get("a", "/"), &mut || 0)
    else {
        panic!("forwarded");
    };
    assert_eq!(forward.cluster, "outbound|80||reviews.shop");
}

//! Route selection, end to end through the engine: JSON config in, decision out.

use wasm_bindgen_test::wasm_bindgen_test;

use super::{Decision, RouteTable};
use crate::request::HeaderList;

fn table(json: &str) -> RouteTable {
    RouteTable::from_json(json.as_bytes()).expect("valid config")
}

fn error(json: &str) -> String {
    RouteTable::from_json(json.as_bytes())
        .expect_err("invalid config")
        .to_string()
}

fn cluster_for<'a>(table: &'a RouteTable, authority: &str, path: &str) -> Option<&'a str> {
    match table.select(&HeaderList::get(authority, path)) {
        Decision::Forward { cluster, .. } => Some(cluster),
        Decision::NoRoute => None,
    }
}

const BOOKINFO: &str = r#"{
  "hosts": ["*"],
  "http": [
    {"name": "login", "match": [{"uri": {"exact": "/login"}}],
     "route": [{"destination": {"host": "auth", "port": {"number": 8080}}}]},
    {"name": "api", "match": [{"name": "v", "uri": {"regex": "/api/v[0-9]+/.*"}}],
     "route": [{"destination": {"host": "api", "subset": "v2"}}]},
    {"match": [{"uri": {"prefix": "/static"}}, {"uri": {"prefix": "/assets"}}],
     "route": [{"destination": {"host": "cdn.example.org", "port": {"number": 443}}}]}
  ]
}"#;

#[wasm_bindgen_test(unsupported = test)]
fn exact_prefix_and_regex_pick_their_clusters() {
    let table = table(BOOKINFO);
    let cluster = |path| cluster_for(&table, "shop.example.com", path);
    assert_eq!(
        cluster("/login"),
        Some("outbound|8080||auth.default.svc.cluster.local")
    );
    assert_eq!(
        cluster("/login?next=/"),
        Some("outbound|8080||auth.default.svc.cluster.local")
    );
    assert_eq!(cluster("/login/"), None);
    assert_eq!(
        cluster("/api/v2/users"),
        Some("outbound|80|v2|api.default.svc.cluster.local")
    );
    assert_eq!(cluster("/api/vx/users"), None);
    assert_eq!(
        cluster("/assets/a.css"),
        Some("outbound|443||cdn.example.org")
    );
    assert_eq!(cluster("/static"), Some("outbound|443||cdn.example.org"));
}

#[wasm_bindgen_test(unsupported = test)]
fn route_names_join_route_and_match_names() {
    let table = table(BOOKINFO);
    let Decision::Forward {
        route_name,
        virtual_service,
        ..
    } = table.select(&HeaderList::get("a", "/api/v1/x"))
    else {
        panic!("expected a route");
    };
    assert_eq!(route_name, "api.v");
    assert_eq!(virtual_service, "default/inline");
}

#[wasm_bindgen_test(unsupported = test)]
fn first_match_wins_and_a_route_without_match_takes_everything() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "first"}}]},
            {"match": [{"uri": {"prefix": "/a/b"}}], "route": [{"destination": {"host": "never"}}]},
            {"route": [{"destination": {"host": "fallback"}}]}
        ]}"#,
    );
    assert_eq!(
        cluster_for(&table, "x", "/a/b"),
        Some("outbound|80||first.default.svc.cluster.local")
    );
    assert_eq!(
        cluster_for(&table, "x", "/zzz"),
        Some("outbound|80||fallback.default.svc.cluster.local")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn hosts_select_the_virtual_service() {
    let table = table(
        r#"{"virtualServices": [
            {"name": "shop", "namespace": "prod", "spec": {"hosts": ["shop.example.com"],
              "http": [{"route": [{"destination": {"host": "shop"}}]}]}},
            {"name": "wild", "namespace": "prod", "spec": {"hosts": ["*.example.com"],
              "http": [{"route": [{"destination": {"host": "wild"}}]}]}},
            {"name": "short", "namespace": "prod", "spec": {"hosts": ["internal"],
              "http": [{"route": [{"destination": {"host": "internal"}}]}]}}
        ], "domainSuffix": "svc.corp.local"}"#,
    );
    assert_eq!(
        cluster_for(&table, "shop.example.com:8080", "/"),
        Some("outbound|80||shop.prod.svc.corp.local")
    );
    assert_eq!(
        cluster_for(&table, "blog.example.com", "/"),
        Some("outbound|80||wild.prod.svc.corp.local")
    );
    assert_eq!(
        cluster_for(&table, "internal.prod.svc.corp.local", "/"),
        Some("outbound|80||internal.prod.svc.corp.local")
    );
    assert_eq!(cluster_for(&table, "example.org", "/"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn virtual_services_sharing_a_host_merge_in_order() {
    let table = table(
        r#"{"virtualServices": [
            {"name": "a", "spec": {"hosts": ["x.com"],
              "http": [{"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "a"}}]}]}},
            {"name": "b", "spec": {"hosts": ["x.com"],
              "http": [{"route": [{"destination": {"host": "b"}}]}]}}
        ]}"#,
    );
    assert_eq!(
        cluster_for(&table, "x.com", "/a"),
        Some("outbound|80||a.default.svc.cluster.local")
    );
    assert_eq!(
        cluster_for(&table, "x.com", "/b"),
        Some("outbound|80||b.default.svc.cluster.local")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn a_configured_gateway_filters_virtual_services() {
    let config = r#"{"gateway": "istio-system/ingressgateway", "virtualServices": [
        {"name": "bound", "namespace": "shop", "spec": {"hosts": ["*"],
          "gateways": ["istio-system/ingressgateway"],
          "http": [{"match": [{"uri": {"prefix": "/bound"}}], "route": [{"destination": {"host": "bound"}}]}]}},
        {"name": "mesh", "namespace": "shop", "spec": {"hosts": ["*"],
          "http": [{"route": [{"destination": {"host": "mesh"}}]}]}}
    ]}"#;
    let table = table(config);
    assert_eq!(
        cluster_for(&table, "x", "/bound"),
        Some("outbound|80||bound.shop.svc.cluster.local")
    );
    assert_eq!(cluster_for(&table, "x", "/other"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn errors_name_the_field_and_the_reason() {
    assert_eq!(
        error(
            r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}]},
            {"match": [{"uri": {"regex": "/(a"}}], "route": [{"destination": {"host": "a"}}]}]}"#
        ),
        "http[1].match[0].uri.regex: unclosed group"
    );
    assert_eq!(
        error(r#"{"hosts": [], "http": []}"#),
        "hosts: virtual service must have at least one host"
    );
    assert!(error(r#"{"hosts": ["*"], "http": [{"match": [{"uri": {"exact": "/", "prefix": "/"}}], "route": [{"destination": {"host": "a"}}]}]}"#)
        .starts_with("http[0].match[0].uri: only one of"));
    assert!(
        error(r#"{"hosts": ["*"], "htp": []}"#).starts_with("htp: unknown field `htp`"),
        "{}",
        error(r#"{"hosts": ["*"], "htp": []}"#)
    );
    assert_eq!(
        error(r#"{"virtualServices": [{"name": "a", "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a", "port": {"number": 70000}}}]}]}}]}"#),
        "virtualServices[0].spec.http[0].route[0].destination.port.number: port number 70000 must be in the range 1..65535"
    );
    assert_eq!(
        error(r#"{"hosts": ["*"], "http": [{"route": []}]}"#),
        "http[0].route: at least one destination is required"
    );
}

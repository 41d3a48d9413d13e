//! The module's stream logic on the fake host: what Envoy would see, without Envoy.

// Tests stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use engine::headers::HeaderRules;
use engine::request::HeaderList;
use engine::RequestView;
use host::{FakeHost, HeaderMapKind, HostCall};

use super::HeadersStream;

fn stream(config: &str) -> HeadersStream {
    HeadersStream {
        rules: Some(Rc::new(HeaderRules::from_json(config.as_bytes()).unwrap())),
        remembered: None,
    }
}

fn ok() -> HeaderList {
    HeaderList::default().with(":status", "200")
}

#[test]
fn request_edits_land_on_the_request_headers() {
    let mut stream = stream(
        r#"{"rules": [{"request": {"set": {"x-client": "%REQ(x-user)%"}, "remove": ["x-internal-*"]}}]}"#,
    );
    let mut host = FakeHost::new(
        HeaderList::get("a", "/")
            .with("x-user", "alice")
            .with("x-internal-a", "1")
            .with("x-internal-b", "2"),
    );
    stream.on_request(&mut host);
    assert_eq!(host.request.header("x-client").as_deref(), Some("alice"));
    assert_eq!(host.request.header("x-internal-a"), None);
    assert_eq!(host.request.header("x-internal-b"), None);
}

/// Envoy shows no request headers once the request has gone upstream: a shell that read them in
/// the response phase, instead of remembering them on the request, would write an empty value.
#[test]
fn response_templates_read_the_request_remembered_on_the_way_in() {
    let mut stream =
        stream(r#"{"rules": [{"response": {"set": {"x-served-for": "%REQ(x-user)%"}}}]}"#);
    let mut host = FakeHost::new(HeaderList::get("a", "/").with("x-user", "alice"));
    stream.on_request(&mut host);
    host.respond(ok());
    stream.on_response(&mut host);
    assert_eq!(
        host.response.header("x-served-for").as_deref(),
        Some("alice")
    );
}

/// The rules' `match` is decided on the request: a shell that matched again on the response
/// (where the request reads empty) would drop the rule.
#[test]
fn a_rule_that_matched_the_request_edits_its_response() {
    let mut stream = stream(
        r#"{"rules": [{"match": [{"uri": {"prefix": "/api"}}], "response": {"set": {"x-api": "yes"}}}]}"#,
    );
    let mut host = FakeHost::new(HeaderList::get("a", "/api/v1"));
    stream.on_request(&mut host);
    host.respond(ok());
    stream.on_response(&mut host);
    assert_eq!(host.response.header("x-api").as_deref(), Some("yes"));

    let mut other = FakeHost::new(HeaderList::get("a", "/web"));
    stream.on_request(&mut other);
    other.respond(ok());
    stream.on_response(&mut other);
    assert_eq!(other.response.header("x-api"), None);
}

/// An earlier filter answered (a fault abort, an ext_authz 403): this filter sees a response
/// for a request it never saw, and only the rules without `match` apply.
#[test]
fn a_response_to_an_unseen_request_gets_only_the_unconditional_rules() {
    let mut stream = stream(
        r#"{"rules": [
            {"match": [{"uri": {"prefix": "/api"}}], "response": {"set": {"x-api": "yes"}}},
            {"response": {"set": {"x-frame-options": "DENY"}}}
        ]}"#,
    );
    let mut host = FakeHost::new(HeaderList::get("a", "/api"));
    host.respond(HeaderList::default().with(":status", "403"));
    stream.on_response(&mut host);
    assert_eq!(
        host.response.header("x-frame-options").as_deref(),
        Some("DENY")
    );
    assert_eq!(host.response.header("x-api"), None);
}

#[test]
fn status_conditions_read_the_response_status() {
    let mut stream = stream(
        r#"{"rules": [{"responseStatus": ["5xx"], "response": {"set": {"cache-control": "no-store"}}}]}"#,
    );
    let mut host = FakeHost::new(HeaderList::get("a", "/"));
    stream.on_request(&mut host);
    host.respond(HeaderList::default().with(":status", "503"));
    stream.on_response(&mut host);
    assert_eq!(
        host.response.header("cache-control").as_deref(),
        Some("no-store")
    );

    let mut fine = FakeHost::new(HeaderList::get("a", "/"));
    stream.on_request(&mut fine);
    fine.respond(ok());
    stream.on_response(&mut fine);
    assert_eq!(fine.response.header("cache-control"), None);
}

#[test]
fn an_unconfigured_stream_changes_nothing() {
    let mut stream = HeadersStream {
        rules: None,
        remembered: None,
    };
    let request = HeaderList::get("a", "/").with("x-user", "alice");
    let mut host = FakeHost::new(request.clone());
    stream.on_request(&mut host);
    host.respond(ok());
    stream.on_response(&mut host);
    assert_eq!(host.request.header("x-user").as_deref(), Some("alice"));
    assert_eq!(host.response.header(":status").as_deref(), Some("200"));
    assert!(host.local_replies.is_empty());
}

/// Security headers on every response need nothing of the request: the request phase makes
/// no host call, and the response phase only writes (no status read without a status rule).
#[test]
fn response_only_rules_cost_no_request_call_and_no_response_read() {
    let mut stream = stream(
        r#"{"rules": [{"response": {"set": {"x-frame-options": "DENY"}, "remove": ["x-powered-by"]}}]}"#,
    );
    let mut host = FakeHost::new(HeaderList::get("a", "/").with("x-user", "alice"));
    stream.on_request(&mut host);
    assert_eq!(host.take_calls(), []);
    // Not even the plan and its allocations: the response phase takes the unseen-request rules.
    assert!(stream.remembered.is_none());
    host.respond(ok().with("x-powered-by", "php"));
    stream.on_response(&mut host);
    assert_eq!(
        host.take_calls(),
        [
            HostCall::RemoveHeader(HeaderMapKind::Response, "x-powered-by".into()),
            HostCall::SetHeader(HeaderMapKind::Response, "x-frame-options".into()),
        ]
    );
    assert_eq!(
        host.response.header("x-frame-options").as_deref(),
        Some("DENY")
    );
    assert_eq!(host.response.header("x-powered-by"), None);
}

/// Request edits only: the response phase makes no host call at all.
#[test]
fn request_only_rules_cost_no_response_call() {
    let mut stream = stream(r#"{"rules": [{"request": {"set": {"x-gateway": "edge-1"}}}]}"#);
    let mut host = FakeHost::new(HeaderList::get("a", "/"));
    stream.on_request(&mut host);
    assert_eq!(
        host.take_calls(),
        [HostCall::SetHeader(
            HeaderMapKind::Request,
            "x-gateway".into()
        )]
    );
    host.respond(ok());
    stream.on_response(&mut host);
    assert_eq!(host.take_calls(), []);
}

/// The rules read a couple of request headers: each is one lookup, not the whole map.
#[test]
fn a_template_reads_its_request_header_alone() {
    let mut stream = stream(
        r#"{"rules": [{"request": {"set": {"x-legacy-user": "%REQ(x-user)%"}}},
                      {"response": {"set": {"x-request-id-echo": "%REQ(x-request-id)%"}}}]}"#,
    );
    let mut host = FakeHost::new(
        HeaderList::get("a", "/")
            .with("x-user", "alice")
            .with("x-request-id", "r1"),
    );
    stream.on_request(&mut host);
    let calls = host.take_calls();
    assert!(
        !calls.contains(&HostCall::ReadHeaderMap(HeaderMapKind::Request)),
        "{calls:?}"
    );
    assert!(calls.contains(&HostCall::ReadHeader(
        HeaderMapKind::Request,
        "x-user".into()
    )));
    host.respond(ok());
    stream.on_response(&mut host);
    assert_eq!(
        host.response.header("x-request-id-echo").as_deref(),
        Some("r1")
    );
}

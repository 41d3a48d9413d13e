use super::*;
use crate::headers::edit::apply;
use crate::headers::test_support::{request_input, FixedAttributes, FixedResponse};
use crate::request::HeaderList;
use wasm_bindgen_test::wasm_bindgen_test;

fn spec(json: &str) -> HeaderOperationsSpec {
    serde_json::from_str(json).expect("HeaderOperations JSON")
}

fn compile(json: &str, phase: Phase) -> Result<HeaderOperations, ConfigError> {
    HeaderOperations::compile(&spec(json), phase, &FieldPath::root().field("request"))
}

fn edits(json: &str, request: &HeaderList) -> Vec<HeaderEdit> {
    let operations = compile(json, Phase::Request).expect("compiles");
    let mut out = Vec::new();
    operations.edits(&request_input(request, &FixedAttributes), &mut out);
    out
}

fn set(name: &str, value: &str) -> HeaderEdit {
    HeaderEdit::Set {
        name: name.into(),
        value: value.into(),
    }
}

fn add(name: &str, value: &str) -> HeaderEdit {
    HeaderEdit::Add {
        name: name.into(),
        value: value.into(),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn remove_then_set_then_add() {
    let request = HeaderList::get("a", "/").with("x-user", "jason");
    let out = edits(
        r#"{"add": {"X-Trace": "t-%REQ(x-user)%"}, "set": {"x-user": "anonymous"},
            "remove": ["x-debug", "X-Internal-*"]}"#,
        &request,
    );
    assert_eq!(
        out,
        [
            HeaderEdit::Remove("x-debug".into()),
            HeaderEdit::RemovePrefix("x-internal-".into()),
            set("x-user", "anonymous"),
            add("x-trace", "t-jason"),
        ]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn set_overwrites_every_value_and_add_appends() {
    let mut request = HeaderList::get("a", "/")
        .with("x-multi", "1")
        .with("x-multi", "2")
        .with("x-list", "a");
    let out = edits(
        r#"{"set": {"x-multi": "one"}, "add": {"x-list": "b", "x-new": "n"}}"#,
        &request,
    );
    apply(&out, &mut request);
    assert_eq!(request.header("x-multi").as_deref(), Some("one"));
    assert_eq!(request.header("x-list").as_deref(), Some("a,b"));
    assert_eq!(request.header("x-new").as_deref(), Some("n"));
}

#[wasm_bindgen_test(unsupported = test)]
fn values_that_render_empty_are_skipped() {
    let request = HeaderList::get("a", "/").with("x-keep", "k");
    let out = edits(
        r#"{"set": {"x-keep": "%REQ(x-absent)%", "x-empty": ""}, "add": {"x-a": "%REQ(x-absent)%"}}"#,
        &request,
    );
    assert!(out.is_empty(), "{out:?}");
}

#[wasm_bindgen_test(unsupported = test)]
fn pseudo_headers_authority_and_path_can_be_set() {
    let request = HeaderList::get("old.example.com", "/v1/items");
    let out = edits(
        r#"{"set": {":authority": "new.example.com", ":path": "/v2%REQ(:path)%"}}"#,
        &request,
    );
    assert_eq!(
        out,
        [
            set(":authority", "new.example.com"),
            set(":path", "/v2/v1/items")
        ]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn a_path_must_start_with_a_literal_slash() {
    for value in ["v2", "", "%REQ(x-path)%"] {
        let json = format!(r#"{{"set": {{":path": "{value}"}}}}"#);
        let error = compile(&json, Phase::Request).expect_err(value);
        assert_eq!(
            error.to_string(),
            "request.set.:path: a :path must start with a literal '/'"
        );
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn response_operations_can_read_the_response() {
    let operations = compile(
        r#"{"set": {"x-served-by": "%RESP(x-upstream)%/%REQ(x-user)%"}, "remove": ["x-upstream"]}"#,
        Phase::Response,
    )
    .expect("compiles");
    let request = HeaderList::get("a", "/").with("x-user", "jason");
    let response = FixedResponse::new(200).with("x-upstream", "pod-7");
    let input = TemplateInput {
        request: &request,
        response: Some(&response),
        attributes: &FixedAttributes,
    };
    let mut out = Vec::new();
    operations.edits(&input, &mut out);
    assert_eq!(
        out,
        [
            HeaderEdit::Remove("x-upstream".into()),
            set("x-served-by", "pod-7/jason")
        ]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn bad_names_and_values_are_refused_with_their_path() {
    let cases = [
        (
            r#"{"set": {"bad name": "v"}}"#,
            "request.set.bad name: \"bad name\" is not a valid header name",
        ),
        (
            r#"{"add": {"x-a": "v\r\nx-injected: 1"}}"#,
            "request.add.x-a: header values must not contain CR (\\r)",
        ),
        (
            r#"{"set": {"x-a": "v\u0000"}}"#,
            "request.set.x-a: header values must not contain NUL (\\0)",
        ),
        (
            r#"{"set": {":method": "POST"}}"#,
            "request.set.:method: :method is a pseudo-header",
        ),
        (
            r#"{"add": {":path": "/x"}}"#,
            "request.add.:path: :path is a pseudo-header",
        ),
        (
            r#"{"remove": ["x-a", ":authority"]}"#,
            "request.remove[1]: :authority is a pseudo-header",
        ),
        (
            r#"{"remove": ["*"]}"#,
            "request.remove[0]: \"*\" would remove every header",
        ),
        (
            r#"{"remove": ["bad prefix*"]}"#,
            "request.remove[0]: \"bad prefix\" is not a valid header name prefix",
        ),
        (
            r#"{"set": {"host": "a"}}"#,
            "request.set.host: Envoy keeps the Host header as the :authority",
        ),
        (
            r#"{"set": {"x-a": "%NOPE%"}}"#,
            "request.set.x-a: unknown operator %NOPE%",
        ),
    ];
    for (json, expected) in cases {
        let error = compile(json, Phase::Request).expect_err(json).to_string();
        assert!(error.starts_with(expected), "{json}: {error}");
    }
    let error = compile(r#"{"set": {":authority": "a"}}"#, Phase::Response).expect_err("response");
    assert!(
        error.reason.contains("cannot be changed in a response"),
        "{error}"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn unknown_fields_are_refused() {
    let error = crate::config::from_slice::<HeaderOperationsSpec>(br#"{"sett": {}}"#)
        .expect_err("unknown field");
    assert_eq!(error.path, "sett");
}

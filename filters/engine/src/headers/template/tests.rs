use super::*;
use crate::headers::test_support::{request_input, FixedAttributes, FixedResponse, NoAttributes};
use crate::request::HeaderList;
use wasm_bindgen_test::wasm_bindgen_test;

fn path() -> FieldPath {
    FieldPath::root().field("set").field("x-out")
}

fn parse(text: &str, phase: Phase) -> Template {
    Template::parse(text, phase, &path()).expect("valid template")
}

fn error(text: &str, phase: Phase) -> String {
    Template::parse(text, phase, &path())
        .expect_err("invalid template")
        .to_string()
}

fn render(text: &str, request: &HeaderList) -> String {
    parse(text, Phase::Request).render(&request_input(request, &FixedAttributes))
}

#[wasm_bindgen_test(unsupported = test)]
fn literals_and_escaped_percent() {
    let request = HeaderList::get("a", "/");
    assert_eq!(render("plain", &request), "plain");
    assert_eq!(render("100%% sure", &request), "100% sure");
    assert_eq!(render("%%%%", &request), "%%");
    assert_eq!(parse("a%%b", Phase::Request).as_literal(), Some("a%b"));
    assert_eq!(parse("", Phase::Request).as_literal(), Some(""));
    assert_eq!(parse("%REQ(x)%", Phase::Request).as_literal(), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn request_headers_with_fallback_and_length() {
    let request = HeaderList::get("shop.example.com", "/p?q=1")
        .with("x-user", "jason")
        .with("x-multi", "a")
        .with("x-multi", "b");
    assert_eq!(render("user=%REQ(X-User)%;", &request), "user=jason;");
    assert_eq!(render("%REQ(x-missing)%", &request), "");
    assert_eq!(render("%REQ(x-missing?x-user)%", &request), "jason");
    assert_eq!(render("%REQ(x-user?x-missing)%", &request), "jason");
    assert_eq!(render("%REQ(x-user):3%", &request), "jas");
    assert_eq!(render("%REQ(x-user):30%", &request), "jason");
    // Envoy's %REQ(...)% renders the first value of a repeated header.
    assert_eq!(render("%REQ(x-multi)%", &request), "a");
    assert_eq!(
        render("%REQ(:authority)%%REQ(:path)%", &request),
        "shop.example.com/p?q=1"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn truncation_counts_bytes_as_envoy_does() {
    // Envoy keeps the first N bytes, even inside a UTF-8 sequence.
    let request = HeaderList::get("a", "/").with("x-name", "h\u{e9}llo");
    let cut = render("%REQ(x-name):2%", &request);
    assert_eq!(&*crate::raw_text::encode(&cut), b"h\xc3");
    assert_eq!(render("%REQ(x-name):3%", &request), "h\u{e9}");
    // A byte that is not UTF-8 counts as one byte, not as the four of its escape.
    let latin1 = crate::raw_text::decode(b"Jos\xe9!");
    let request = HeaderList::get("a", "/").with("x-name", &latin1);
    let cut = render("%REQ(x-name):4%", &request);
    assert_eq!(&*crate::raw_text::encode(&cut), b"Jos\xe9");
}

#[wasm_bindgen_test(unsupported = test)]
fn stream_attributes() {
    let request = HeaderList::get("a", "/").with("x-request-id", "7f1c-req");
    let cases = [
        ("%DOWNSTREAM_REMOTE_ADDRESS%", "10.1.2.3:45678"),
        ("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.1.2.3"),
        ("%REQUEST_ID%", "7f1c-req"),
        ("%STREAM_ID%", "7f1c-req"),
        ("%ROUTE_NAME%", "reviews.v2"),
        (
            "%UPSTREAM_CLUSTER%",
            "outbound|9080|v2|reviews.default.svc.cluster.local",
        ),
        ("%START_TIME%", "2024-02-29T23:59:59.999Z"),
        ("[%REQUEST_ID%|%ROUTE_NAME%]", "[7f1c-req|reviews.v2]"),
    ];
    for (template, expected) in cases {
        assert_eq!(render(template, &request), expected, "{template}");
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn templates_list_the_request_headers_they_read() {
    let template = parse(
        "%REQ(x-a?x-b)%-%REQUEST_ID%-%ROUTE_NAME%-%REQ(:path)%",
        Phase::Request,
    );
    let names: Vec<&str> = template.request_headers_read().collect();
    assert_eq!(names, ["x-a", "x-b", "x-request-id", ":path"]);
}

#[wasm_bindgen_test(unsupported = test)]
fn unknown_attributes_render_as_nothing() {
    let request = HeaderList::get("a", "/");
    let template = parse("[%ROUTE_NAME%][%START_TIME%]", Phase::Request);
    assert_eq!(
        template.render(&request_input(&request, &NoAttributes)),
        "[][]"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn addresses_lose_their_port() {
    assert_eq!(without_port("1.2.3.4:80"), "1.2.3.4");
    assert_eq!(without_port("[2001:db8::1]:443"), "2001:db8::1");
    assert_eq!(without_port("2001:db8::1"), "2001:db8::1");
    assert_eq!(without_port("envoy"), "envoy");
}

#[wasm_bindgen_test(unsupported = test)]
fn response_headers_in_the_response_phase() {
    let request = HeaderList::get("a", "/").with("x-user", "jason");
    let response = FixedResponse::new(200)
        .with("x-upstream", "v2")
        .with("x-upstream", "v3");
    let template = parse("%RESP(x-upstream)% for %REQ(x-user)%", Phase::Response);
    let input = TemplateInput {
        request: &request,
        response: Some(&response),
        attributes: &FixedAttributes,
    };
    assert_eq!(template.render(&input), "v2 for jason");
}

#[wasm_bindgen_test(unsupported = test)]
fn unknown_operators_are_config_errors_naming_field_and_operator() {
    let reason = error("id=%REQUESTID%", Phase::Request);
    assert!(
        reason.starts_with("set.x-out: unknown operator %REQUESTID% (known: %REQ(name)%"),
        "{reason}"
    );
    assert!(error("%FOO(bar)%", Phase::Request).contains("unknown operator %FOO%"));
    assert!(error("%req(x)%", Phase::Request).contains("'%' must start an operator"));
}

#[wasm_bindgen_test(unsupported = test)]
fn malformed_operators_are_config_errors() {
    let cases = [
        (
            "50%",
            "'%' must start an operator such as %REQ(x-name)% or be doubled (%%)",
        ),
        ("50% off", "'%' must start an operator"),
        ("%REQ(x-user", "unterminated operator %REQ(: missing ')'"),
        (
            "%REQ(x-user)",
            "unterminated operator %REQ: expected a closing '%'",
        ),
        ("%REQ%", "operator %REQ% needs a header name: %REQ(x-name)%"),
        ("%REQ(bad name)%", "\"bad name\" is not a valid header name"),
        ("%REQ(x?)%", "\"\" is not a valid header name"),
        (
            "%REQ(x):abc%",
            "a maximum length after ':' must be a number",
        ),
        (
            "%START_TIME(%s)%",
            "takes no argument, found (%s); custom formats are not supported",
        ),
        ("%ROUTE_NAME:4%", "does not take a maximum length"),
    ];
    for (template, expected) in cases {
        let reason = error(template, Phase::Request);
        assert!(reason.starts_with("set.x-out: "), "{reason}");
        assert!(reason.contains(expected), "{template}: {reason}");
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn response_operators_are_refused_in_request_operations() {
    assert!(error("%RESP(x-a)%", Phase::Request).contains("only available in response operations"));
    assert!(Template::parse("%RESP(x-a)%", Phase::Response, &path()).is_ok());
}

#[wasm_bindgen_test(unsupported = test)]
fn control_characters_are_refused() {
    assert_eq!(
        error("a\r\nInjected: 1", Phase::Request),
        "set.x-out: header values must not contain CR (\\r)"
    );
    assert!(error("a\nb", Phase::Request).ends_with("LF (\\n)"));
    assert!(error("a\0b", Phase::Request).ends_with("NUL (\\0)"));
}

/// Istio accepts any operator Envoy's parser can delimit; those the module does not render are
/// sent as written, each with a warning naming the field.
#[wasm_bindgen_test(unsupported = test)]
fn unknown_operators_pass_through_as_written_with_a_warning() {
    let mut warnings = Vec::new();
    let template = Template::parse_passing_through(
        "host %HOSTNAME% user %REQ(x-user)% at %START_TIME(%s)% %DYNAMIC_METADATA([\"a\", \"b\"])%",
        Phase::Request,
        &path(),
        &mut warnings,
    )
    .expect("accepted");
    let request = HeaderList::get("a", "/").with("x-user", "jason");
    assert_eq!(
        template.render(&request_input(&request, &FixedAttributes)),
        "host %HOSTNAME% user jason at %START_TIME(%s)% %DYNAMIC_METADATA([\"a\", \"b\"])%"
    );
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0]
        .to_string()
        .starts_with("set.x-out: %HOSTNAME% is passed through as written: unknown operator"));
    // What Envoy's parser cannot delimit stays an error.
    assert!(
        Template::parse_passing_through("%FOO(bar", Phase::Request, &path(), &mut warnings)
            .is_err()
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn literals_render_as_their_own_utf8_even_in_the_escape_range() {
    let request = HeaderList::get("a", "/");
    let text = "a\u{10FF0A}b";
    let rendered = render(text, &request);
    assert_eq!(&*crate::raw_text::encode(&rendered), text.as_bytes());
}

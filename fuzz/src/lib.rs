//! What each fuzz target checks, one function per target, each taking the raw input bytes.
//!
//! The same file is the body of the engine's stable property test
//! (`filters/engine/tests/properties.rs` includes it by path and feeds it seeded pseudo-random
//! inputs), so a property holds in `make test` and under `make fuzz` alike. It therefore uses
//! only `engine` and `std`. A violated property panics (that is how libFuzzer and the test
//! runner notice); nothing here may panic for any other reason.

use std::borrow::Cow;
use std::sync::OnceLock;

use engine::error::FieldPath;
use engine::fault::FaultRules;
use engine::headers::{
    HeaderRules, Phase, QueryParamOperations, QueryParamOperationsSpec, ResponseView,
    StreamAttributes, Template, TemplateInput,
};
use engine::metrics::MetricsConfig;
use engine::raw_text::{decode, encode, has_escapes};
use engine::request::HeaderList;
use engine::router::{Decision, RouteTable};
use engine::RequestView;

/// The route table `route_select` selects from: every kind of match and action the router has.
pub const SELECT_TABLE: &str = include_str!("../select_table.json");

/// The request fields a `route_select` input sets, in order, one per line.
pub const SELECT_FIELDS: [&str; 9] = [
    ":method",
    ":path",
    ":authority",
    "end-user",
    "x-user",
    "origin",
    "cookie",
    "access-control-request-method",
    "x-canary",
];

/// The request headers a `header_templates` input sets after its template line.
pub const TEMPLATE_FIELDS: [&str; 3] = ["x-a", "x-b", "x-request-id"];

/// `router_config`: any bytes either compile or fail with an error naming a field; a table
/// that compiles routes an ordinary request without panicking.
pub fn router_config(data: &[u8]) {
    match RouteTable::from_json(data) {
        Ok(table) => {
            let request = HeaderList::get("example.com", "/").with("x-user", "u");
            let _ = table.select(&request, &mut || 0);
        }
        Err(error) => check_error(&error),
    }
}

/// `headers_config`: likewise for the headers module, rendering both phases once.
pub fn headers_config(data: &[u8]) {
    match HeaderRules::from_json(data) {
        Ok(rules) => {
            let request = HeaderList::get("example.com", "/p?a=1&b=2").with("x-user", "u");
            let input = TemplateInput {
                request: &request,
                response: None,
                attributes: &Attributes,
            };
            let plan = rules.on_request(&input);
            let response = Response {
                status: 503,
                headers: HeaderList::default().with("server", "envoy"),
            };
            let _ = rules.on_response(&plan.remembered, &response, &Attributes);
        }
        Err(error) => check_error(&error),
    }
}

/// `fault_config`: likewise for the fault module.
pub fn fault_config(data: &[u8]) {
    match FaultRules::from_json(data) {
        Ok(rules) => {
            let request = HeaderList::get("example.com", "/ratings").with("end-user", "jason");
            let _ = rules.select(&request, Some("outbound|9080||ratings"));
        }
        Err(error) => check_error(&error),
    }
}

/// `metrics_config`: likewise for the metrics module.
pub fn metrics_config(data: &[u8]) {
    if let Err(error) = MetricsConfig::from_json(data) {
        check_error(&error);
    }
}

/// The table `route_select` uses, compiled once.
pub fn select_table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| match RouteTable::from_json(SELECT_TABLE.as_bytes()) {
        Ok(table) => table,
        Err(error) => panic!("select_table.json does not compile: {error}"),
    })
}

/// `route_select`: arbitrary bytes as `:method`, `:path`, `:authority` and a few headers
/// ([`SELECT_FIELDS`], one per line), decoded as the host shell decodes them. Selection never
/// panics, and every value the decision would write back encodes to bytes without CR, LF or
/// NUL (the input has none: Envoy refuses them) and is in decoded form, so `encode` is exact.
/// A prefix rewrite keeps the bytes after the prefix exactly.
pub fn route_select(data: &[u8]) {
    let fields = split_fields(data, SELECT_FIELDS.len());
    let request = request_of(&SELECT_FIELDS, &fields);
    let mut draws = fields.iter().map(|field| field.len() as u64);
    let mut random = move || {
        draws
            .next()
            .unwrap_or(7)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    match select_table().select(&request, &mut random) {
        Decision::Forward(forward) => {
            if let Some(path) = &forward.path {
                check_written(":path", path);
                if forward.route_name == "rewrite-v1" {
                    let raw_path = fields.get(1).map(Vec::as_slice).unwrap_or_default();
                    let expected = [b"/", raw_path.get(4..).unwrap_or_default()].concat();
                    assert_eq!(
                        &*encode(path),
                        &expected[..],
                        "prefix rewrite of {raw_path:?}"
                    );
                }
            }
            if let Some(authority) = forward.authority {
                check_written(":authority", authority);
            }
            for (name, value) in forward.router_headers.iter().chain(&forward.cors_headers) {
                check_written(name, value);
            }
            assert!(!forward.cluster.is_empty());
        }
        Decision::Respond(response) => {
            assert!(
                (200..=599).contains(&response.status),
                "{}",
                response.status
            );
            for (name, value) in &response.headers {
                check_written(name, value);
            }
        }
        // Without `servicePorts` every destination is known; either way, nothing is written.
        Decision::UnknownService { cluster, .. } => assert!(!cluster.is_empty()),
        Decision::NoRoute => {}
    }
}

/// `header_templates`: the first line is a template (parsed when it is UTF-8, as config text
/// is), the next lines the values of [`TEMPLATE_FIELDS`]. `%REQ(x-a)%` copies x-a's bytes
/// exactly, with a fallback and around literals too, and `%REQ(x-a):N%` copies the first N
/// bytes (Envoy truncates bytes); the fuzzed template renders without panicking.
pub fn header_templates(data: &[u8]) {
    let fields = split_fields(data, 1 + TEMPLATE_FIELDS.len());
    let values = fields.get(1..).unwrap_or_default();
    let request = request_of(&TEMPLATE_FIELDS, values);
    let input = TemplateInput {
        request: &request,
        response: None,
        attributes: &Attributes,
    };
    let raw_a = values.first().map(Vec::as_slice);
    let raw_b = values.get(1).map(Vec::as_slice);
    let rendered = |text: &str| -> Vec<u8> {
        match Template::parse(text, Phase::Request, &FieldPath::root()) {
            Ok(template) => {
                let out = template.render(&input);
                check_decoded_form("template", &out);
                encode(&out).into_owned()
            }
            Err(error) => panic!("{text:?} does not parse: {error}"),
        }
    };
    assert_eq!(rendered("%REQ(x-a)%"), raw_a.unwrap_or_default());
    assert_eq!(
        rendered("%REQ(x-a?x-b)%"),
        raw_a.or(raw_b).unwrap_or_default()
    );
    let around = [b"<".as_slice(), raw_a.unwrap_or_default(), b">"].concat();
    assert_eq!(rendered("<%REQ(x-a)%>"), around);
    let max = usize::from(data.first().copied().unwrap_or_default() % 16);
    let raw = raw_a.unwrap_or_default();
    assert_eq!(
        rendered(&format!("%REQ(x-a):{max}%")),
        raw.get(..max).unwrap_or(raw)
    );
    let fuzzed = fields.first().map(Vec::as_slice).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(fuzzed) {
        for phase in [Phase::Request, Phase::Response] {
            if let Ok(template) = Template::parse(text, phase, &FieldPath::root()) {
                let response = Response {
                    status: 200,
                    headers: request_of(&TEMPLATE_FIELDS, values),
                };
                let input = TemplateInput {
                    request: &request,
                    response: Some(&response),
                    attributes: &Attributes,
                };
                check_decoded_form("fuzzed template", &template.render(&input));
            }
        }
    }
}

/// The edits `query_edits` applies: removals, a literal set and a templated set.
pub const QUERY_EDITS: &str =
    r#"{"remove": ["debug", "token"], "set": {"page": "1", "user": "%REQ(x-user)%"}}"#;

/// `query_edits`: the first line is a `:path`, the second an `x-user` value. The edited path
/// keeps everything before `?` and every parameter it does not edit byte-exact and in order,
/// and `user` is x-user's bytes percent-encoded, once (left alone when x-user is empty).
pub fn query_edits(data: &[u8]) {
    static OPERATIONS: OnceLock<QueryParamOperations> = OnceLock::new();
    let operations = OPERATIONS.get_or_init(|| {
        let spec: QueryParamOperationsSpec = match serde_json::from_str(QUERY_EDITS) {
            Ok(spec) => spec,
            Err(error) => panic!("QUERY_EDITS: {error}"),
        };
        match QueryParamOperations::compile(&spec, &FieldPath::root()) {
            Ok(operations) => operations,
            Err(error) => panic!("QUERY_EDITS: {error}"),
        }
    });
    let fields = split_fields(data, 2);
    let raw_path = fields.first().map(Vec::as_slice).unwrap_or_default();
    let raw_user = fields.get(1).map(Vec::as_slice);
    let request = request_of(&[":path", "x-user"], &fields);
    let input = TemplateInput {
        request: &request,
        response: None,
        attributes: &Attributes,
    };
    let edited = operations.apply_to_path(&decode(raw_path), &input);
    check_written(":path", &edited);
    let edited = encode(&edited);

    let (raw_before, raw_query) = split_query(raw_path);
    let (before, query) = split_query(&edited);
    assert_eq!(before, raw_before, "the path before '?'");
    // A set whose value renders empty is skipped: `user` is then left as it was.
    let user = raw_user
        .filter(|user| !user.is_empty())
        .map(percent_encoded);
    let edited_keys: &[&[u8]] = match user {
        Some(_) => &[b"debug", b"token", b"page", b"user"],
        None => &[b"debug", b"token", b"page"],
    };
    let kept = |query: &[u8]| -> Vec<Vec<u8>> {
        query
            .split(|&byte| byte == b'&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let key = pair.split(|&byte| byte == b'=').next().unwrap_or_default();
                !edited_keys.contains(&key)
            })
            .map(<[u8]>::to_vec)
            .collect()
    };
    assert_eq!(kept(query), kept(raw_query), "parameters not edited");
    let pairs: Vec<&[u8]> = query.split(|&byte| byte == b'&').collect();
    assert!(pairs.contains(&b"page=1".as_slice()), "{edited:?}");
    if let Some(user) = user {
        let rendered: Vec<&[u8]> = pairs
            .iter()
            .filter_map(|pair| pair.strip_prefix(b"user=".as_slice()))
            .collect();
        assert_eq!(rendered, [user.as_slice()], "user={raw_user:?}");
    }
}

/// `encode(decode(bytes))` is `bytes`, and `decode` borrows exactly the plain UTF-8 inputs.
pub fn raw_text_round_trip(data: &[u8]) {
    let text = decode(data);
    assert_eq!(&*encode(&text), data);
    assert_eq!(engine::raw_text::decode_owned(data.to_vec()), text);
    let plain = std::str::from_utf8(data).is_ok_and(|text| !has_escapes(text));
    assert_eq!(matches!(text, Cow::Borrowed(_)), plain, "{data:?}");
    assert_eq!(has_escapes(&text), !plain);
}

/// A config error names where it is and why.
fn check_error(error: &engine::ConfigError) {
    assert!(!error.reason.is_empty(), "an error without a reason");
    let _ = error.to_string();
}

/// A value the module writes back: no CR, LF or NUL, and exactly representable as bytes.
fn check_written(name: &str, value: &str) {
    check_decoded_form(name, value);
    let bytes = encode(value);
    assert!(
        !bytes.iter().any(|byte| matches!(byte, b'\r' | b'\n' | 0)),
        "{name}: {bytes:?} holds CR, LF or NUL"
    );
}

/// `value` is what `decode` makes of its bytes, so writing it as `encode(value)` is exact.
fn check_decoded_form(name: &str, value: &str) {
    assert_eq!(decode(&encode(value)), value, "{name}: not in decoded form");
}

/// Up to `count` fields, one per line (later lines are ignored), CR and NUL dropped: Envoy
/// refuses header values holding CR, LF or NUL.
fn split_fields(data: &[u8], count: usize) -> Vec<Vec<u8>> {
    data.split(|&byte| byte == b'\n')
        .take(count)
        .map(|field| {
            field
                .iter()
                .copied()
                .filter(|byte| !matches!(byte, b'\r' | 0))
                .collect()
        })
        .collect()
}

/// A request with `names[i]` set to the decoded `fields[i]`.
fn request_of(names: &[&str], fields: &[Vec<u8>]) -> HeaderList {
    names
        .iter()
        .zip(fields)
        .fold(HeaderList::default(), |request, (name, field)| {
            request.with(name, &decode(field))
        })
}

fn split_query(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().position(|&byte| byte == b'?') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => (path, b""),
    }
}

/// Percent-encoding of everything but RFC 3986 unreserved characters, byte by byte.
fn percent_encoded(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &byte in value {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
    out
}

/// Stream attributes as Envoy reports them for a routed request.
struct Attributes;

impl StreamAttributes for Attributes {
    fn downstream_remote_address(&self) -> Option<String> {
        Some("[2001:db8::1]:45678".to_owned())
    }
    fn route_name(&self) -> Option<String> {
        Some("reviews.v2".to_owned())
    }
    fn upstream_cluster(&self) -> Option<String> {
        Some("outbound|9080|v2|reviews.default.svc.cluster.local".to_owned())
    }
    fn start_time_unix_nanos(&self) -> Option<i64> {
        Some(1_709_251_199_999_000_000)
    }
}

struct Response {
    status: u16,
    headers: HeaderList,
}

impl ResponseView for Response {
    fn status(&self) -> Option<u16> {
        Some(self.status)
    }
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers.first_header_value(name)
    }
}

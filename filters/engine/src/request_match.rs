//! Istio's `HTTPMatchRequest`, shared by the router, header and fault modules: every condition
//! set in one block must hold.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::FieldPath;
use crate::stream::RequestView;
use crate::string_match::{MatchOptions, StringMatch, StringMatchSpec};
use crate::ConfigError;

mod mismatch;
pub use mismatch::Mismatch;

/// One `match` block as written in a VirtualService.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// The block's name; routes name it `<http name>.<match name>`.
    pub name: Option<String>,
    /// The `:path` without the query string.
    pub uri: Option<StringMatchSpec>,
    /// The URI scheme (`http`, `https`).
    pub scheme: Option<StringMatchSpec>,
    /// The HTTP method.
    pub method: Option<StringMatchSpec>,
    /// The `:authority`.
    pub authority: Option<StringMatchSpec>,
    /// Headers that must be present and match (an empty match: present).
    #[serde(default)]
    pub headers: BTreeMap<String, StringMatchSpec>,
    /// Headers that must not match (or be absent).
    #[serde(default)]
    pub without_headers: BTreeMap<String, StringMatchSpec>,
    /// Query parameters that must match.
    #[serde(default)]
    pub query_params: BTreeMap<String, StringMatchSpec>,
    /// The port the request came in on.
    pub port: Option<u32>,
    /// `uri` compares case-insensitively.
    #[serde(default)]
    pub ignore_uri_case: bool,
    /// Gateways this block is limited to (`namespace/name` or a bare name).
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Only names the route's stats in Istio; accepted and otherwise unused here.
    pub stat_prefix: Option<String>,
    /// Sidecar-only (`sourceLabels`); refused on a gateway.
    #[serde(default)]
    pub source_labels: BTreeMap<String, String>,
    /// Sidecar-only (`sourceNamespace`); refused on a gateway.
    pub source_namespace: Option<String>,
}

/// A compiled match block.
#[derive(Debug, Clone, Default)]
pub struct RequestMatch {
    /// The block's name.
    pub name: Option<String>,
    uri: Option<StringMatch>,
    // Boxed: rare beside `uri`, and a large table holds one block per route.
    scheme: Option<Box<StringMatch>>,
    method: Option<Box<StringMatch>>,
    authority: Option<Box<StringMatch>>,
    headers: Vec<(String, StringMatch)>,
    without_headers: Vec<(String, StringMatch)>,
    query_params: Vec<(String, StringMatch)>,
    port: Option<u16>,
    /// The match-level `gateways`, `namespace/name` qualified; empty means "any".
    pub gateways: Vec<String>,
}

impl RequestMatch {
    /// Validates and compiles `spec`; `namespace` qualifies short gateway names.
    pub fn compile(
        spec: &HttpMatchRequest,
        namespace: &str,
        path: &FieldPath,
    ) -> Result<Self, ConfigError> {
        if !spec.source_labels.is_empty() {
            return Err(path
                .field("sourceLabels")
                .error("not supported: it selects sidecars, and this module runs on a gateway"));
        }
        if spec.source_namespace.is_some() {
            return Err(path
                .field("sourceNamespace")
                .error("not supported: it selects sidecars, and this module runs on a gateway"));
        }
        let uri_options = MatchOptions {
            allow_empty_prefix: true,
            ignore_case: spec.ignore_uri_case,
            allow_presence: false,
        };
        let present_allowed = MatchOptions {
            allow_presence: true,
            ..MatchOptions::default()
        };
        let single = |field: &str, value: &Option<StringMatchSpec>, options| {
            value
                .as_ref()
                .map(|spec| StringMatch::compile(spec, &path.field(field), options))
                .transpose()
        };
        // `port: 0` is protobuf's unset port, as Istio reads it.
        let port = spec
            .port
            .filter(|&port| port != 0)
            .map(|port| path.field("port").port(port))
            .transpose()?;
        // Istio makes `uri: {}` Envoy's default `prefix: /`, which matches every path.
        let uri = spec
            .uri
            .as_ref()
            .filter(|uri| **uri != StringMatchSpec::default());
        // Istio's `canBeConvertedToPresentMatch`: a `withoutHeaders` regex `*` is a presence
        // match (so the block requires the header to be absent), not a regex.
        let without_headers = spec
            .without_headers
            .iter()
            .map(|(name, condition)| {
                let condition = if condition.regex.as_deref() == Some("*")
                    && condition.exact.is_none()
                    && condition.prefix.is_none()
                {
                    StringMatchSpec::default()
                } else {
                    condition.clone()
                };
                (name.clone(), condition)
            })
            .collect();
        Ok(Self {
            name: spec.name.clone(),
            uri: single("uri", &uri.cloned(), uri_options)?,
            // `{}` on a pseudo-header is a presence match in Istio's translation.
            scheme: single("scheme", &spec.scheme, present_allowed)?.map(Box::new),
            method: single("method", &spec.method, present_allowed)?.map(Box::new),
            authority: single("authority", &spec.authority, present_allowed)?.map(Box::new),
            headers: compile_header_map(&spec.headers, &path.field("headers"), present_allowed)?,
            without_headers: compile_header_map(
                &without_headers,
                &path.field("withoutHeaders"),
                present_allowed,
            )?,
            query_params: compile_map(
                &spec.query_params,
                &path.field("queryParams"),
                present_allowed,
            )?,
            port,
            gateways: spec
                .gateways
                .iter()
                .map(|gateway| qualify_gateway(gateway, namespace))
                .collect(),
        })
    }

    /// Whether every condition holds for `request`.
    pub fn matches(&self, request: &impl RequestView) -> bool {
        self.mismatch(request).is_none()
    }

    /// Whether every condition but `uri` holds, for callers that already know the `uri` does.
    pub fn matches_apart_from_uri(&self, request: &impl RequestView) -> bool {
        self.mismatch_apart_from_uri(request).is_none()
    }

    /// The first condition that does not hold for `request`, `None` when the block matches:
    /// [`Self::matches`] is this test, so an explanation cannot disagree with routing.
    pub fn mismatch(&self, request: &impl RequestView) -> Option<Mismatch<'_>> {
        if let Some(uri) = &self.uri {
            let Some(path) = request.header(":path") else {
                return Some(Mismatch::Uri);
            };
            if !uri_matches(uri, &path) {
                return Some(Mismatch::Uri);
            }
        }
        self.mismatch_apart_from_uri(request)
    }

    /// [`Self::mismatch`] without the `uri` condition.
    fn mismatch_apart_from_uri(&self, request: &impl RequestView) -> Option<Mismatch<'_>> {
        let pseudo = |name: &str, condition: &Option<Box<StringMatch>>| match condition {
            None => true,
            Some(condition) => request
                .header(name)
                .is_some_and(|value| condition.matches(&value)),
        };
        if !pseudo(":scheme", &self.scheme) {
            return Some(Mismatch::Scheme);
        }
        if !pseudo(":method", &self.method) {
            return Some(Mismatch::Method);
        }
        if !pseudo(":authority", &self.authority) {
            return Some(Mismatch::Authority);
        }
        if self
            .port
            .is_some_and(|port| request.destination_port() != Some(port))
        {
            return Some(Mismatch::Port);
        }
        if let Some((name, _)) = self
            .headers
            .iter()
            .find(|(name, condition)| !any_value_matches(request, name, condition))
        {
            return Some(Mismatch::Header(name));
        }
        if let Some((name, _)) = self
            .without_headers
            .iter()
            .find(|(name, condition)| header_matches_or_empty(request, name, condition))
        {
            return Some(Mismatch::WithoutHeader(name));
        }
        self.query_param_mismatch(request).map(Mismatch::QueryParam)
    }

    /// Istio's `IsCatchAllRoute` for the Envoy route this block becomes: a `uri` of prefix `/`
    /// or regex `.*` (or none), and no header, method, authority, scheme or query condition.
    /// A block with `port` is never one here: Istio drops it from other ports' routes at build
    /// time, so it is a catch-all on one port only, which a module serving any port cannot know.
    pub fn is_catch_all(&self) -> bool {
        let any_path = match &self.uri {
            None => true,
            Some(StringMatch::Prefix { value, .. }) => value == "/",
            Some(StringMatch::Regex(regex)) => regex.pattern() == ".*",
            Some(_) => false,
        };
        any_path
            && self.scheme.is_none()
            && self.method.is_none()
            && self.authority.is_none()
            && self.headers.is_empty()
            && self.without_headers.is_empty()
            && self.query_params.is_empty()
            && self.port.is_none()
    }

    /// The block's `uri` condition, which routing indexes.
    pub fn uri(&self) -> Option<&StringMatch> {
        self.uri.as_ref()
    }

    /// How much of `path` Envoy's `prefix_rewrite` replaces after this block matched: the
    /// prefix for a prefix match, the path without query for exact and regex, else `/`.
    pub fn rewritten_len(&self, path: &str) -> usize {
        match &self.uri {
            Some(StringMatch::Prefix { value, .. }) => value.len(),
            Some(_) => path.find('?').unwrap_or(path.len()),
            None => usize::from(path.starts_with('/')),
        }
    }

    /// The first query parameter whose condition fails (every one, without a `:path`).
    fn query_param_mismatch(&self, request: &impl RequestView) -> Option<&str> {
        let (first, _) = self.query_params.first()?;
        let Some(path) = request.header(":path") else {
            return Some(first);
        };
        self.query_params
            .iter()
            .find(|(name, condition)| {
                !first_query_value(&path, name).is_some_and(|value| condition.matches(value))
            })
            .map(|(name, _)| name.as_str())
    }
}

/// Envoy 1.40's route header matching: a repeated header matches when any one of its values
/// does (values are not joined, and one value is never split at commas).
fn any_value_matches(request: &impl RequestView, name: &str, condition: &StringMatch) -> bool {
    request
        .header_values(name)
        .iter()
        .any(|value| condition.matches(value))
}

/// `withoutHeaders` semantics (Istio's `invert_match` with `treat_missing_header_as_empty`): a
/// missing header counts as empty, except that `{}` (presence) inverted means "absent".
fn header_matches_or_empty(
    request: &impl RequestView,
    name: &str,
    condition: &StringMatch,
) -> bool {
    let values = request.header_values(name);
    match (values.is_empty(), condition) {
        (true, StringMatch::Present) => false,
        (true, condition) => condition.matches(""),
        (false, condition) => values.iter().any(|value| condition.matches(value)),
    }
}

/// Envoy's path semantics: a prefix is tested against the whole `:path`; exact and regex
/// against the path without its query string.
fn uri_matches(uri: &StringMatch, path: &str) -> bool {
    match uri {
        StringMatch::Prefix { .. } => uri.matches(path),
        _ => uri.matches(path.split_once('?').map_or(path, |(before, _)| before)),
    }
}

/// The first value of query parameter `name` in `path`, undecoded, as Envoy's route matcher
/// reads it (`?flag` has the value `""`).
pub fn first_query_value<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    let query = query.split_once('#').map_or(query, |(before, _)| before);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// `name` stays as written; `namespace/name` is already qualified.
pub fn qualify_gateway(gateway: &str, namespace: &str) -> String {
    if gateway.contains('/') || gateway == "mesh" {
        gateway.to_owned()
    } else {
        format!("{namespace}/{gateway}")
    }
}

fn compile_header_map(
    specs: &BTreeMap<String, StringMatchSpec>,
    path: &FieldPath,
    options: MatchOptions,
) -> Result<Vec<(String, StringMatch)>, ConfigError> {
    for name in specs.keys() {
        if name.starts_with("@request.auth.claims") {
            return Err(path.field(name).error(
                "JWT claim routing needs Istio's RequestAuthentication and is not supported",
            ));
        }
        if !crate::header_name::is_valid(name) {
            return Err(path.field(name).error("invalid header name"));
        }
    }
    compile_map(specs, path, options).map(|compiled| {
        compiled
            .into_iter()
            .map(|(name, condition)| (name.to_ascii_lowercase(), condition))
            .collect()
    })
}

fn compile_map(
    specs: &BTreeMap<String, StringMatchSpec>,
    path: &FieldPath,
    options: MatchOptions,
) -> Result<Vec<(String, StringMatch)>, ConfigError> {
    specs
        .iter()
        .map(|(name, spec)| {
            StringMatch::compile(spec, &path.field(name), options)
                .map(|condition| (name.clone(), condition))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn block(json: &str) -> RequestMatch {
        let spec: HttpMatchRequest = serde_json::from_str(json).expect("valid match JSON");
        RequestMatch::compile(&spec, "default", &FieldPath::root().field("match").index(0))
            .expect("compiles")
    }

    fn error(json: &str) -> String {
        let spec: HttpMatchRequest = serde_json::from_str(json).expect("valid match JSON");
        RequestMatch::compile(&spec, "default", &FieldPath::root().field("match").index(0))
            .expect_err("invalid")
            .to_string()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn all_conditions_of_a_block_must_hold() {
        let block = block(
            r#"{"uri": {"prefix": "/api"}, "method": {"exact": "POST"},
                "headers": {"end-user": {"exact": "jason"}}}"#,
        );
        let request = HeaderList::get("a", "/api/x").with("end-user", "jason");
        assert!(!block.matches(&request));
        let request = HeaderList::default()
            .with(":method", "POST")
            .with(":path", "/api/x")
            .with("end-user", "jason");
        assert!(block.matches(&request));
        let request = HeaderList::default()
            .with(":method", "POST")
            .with(":path", "/api/x")
            .with("end-user", "mary");
        assert!(!block.matches(&request));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn empty_header_match_means_present() {
        let block = block(r#"{"headers": {"x-canary": {}}}"#);
        assert!(block.matches(&HeaderList::get("a", "/").with("x-canary", "")));
        assert!(!block.matches(&HeaderList::get("a", "/")));
    }

    /// As measured against Envoy 1.40 (found by the differential test, `envoy-test/tests/differential.rs`).
    #[wasm_bindgen_test(unsupported = test)]
    fn a_repeated_header_matches_when_any_value_does() {
        let twice = HeaderList::get("a", "/")
            .with("end-user", "jason")
            .with("end-user", "mary");
        for condition in [
            r#"{"exact": "mary"}"#,
            r#"{"exact": "jason"}"#,
            r#"{"prefix": "ma"}"#,
            r#"{"regex": "(jason|mary)"}"#,
        ] {
            let headers = block(&format!(r#"{{"headers": {{"end-user": {condition}}}}}"#));
            assert!(headers.matches(&twice), "{condition}");
            let without = block(&format!(
                r#"{{"withoutHeaders": {{"end-user": {condition}}}}}"#
            ));
            assert!(!without.matches(&twice), "{condition}");
        }
        let joined = block(r#"{"headers": {"end-user": {"exact": "jason,mary"}}}"#);
        assert!(!joined.matches(&twice));
        assert!(joined.matches(&HeaderList::get("a", "/").with("end-user", "jason,mary")));
        let not_jason = block(r#"{"withoutHeaders": {"end-user": {"exact": "jason"}}}"#);
        assert!(not_jason.matches(&HeaderList::get("a", "/").with("end-user", "jason,mary")));
        assert!(not_jason.matches(
            &HeaderList::get("a", "/")
                .with("end-user", "mary")
                .with("end-user", "mary")
        ));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn without_headers_treats_missing_as_empty() {
        let not_jason = block(r#"{"withoutHeaders": {"end-user": {"exact": "jason"}}}"#);
        assert!(not_jason.matches(&HeaderList::get("a", "/")));
        assert!(not_jason.matches(&HeaderList::get("a", "/").with("end-user", "mary")));
        assert!(!not_jason.matches(&HeaderList::get("a", "/").with("end-user", "jason")));
        let absent = block(r#"{"withoutHeaders": {"x-debug": {}}}"#);
        assert!(absent.matches(&HeaderList::get("a", "/")));
        assert!(!absent.matches(&HeaderList::get("a", "/").with("x-debug", "1")));
        let not_prefixed = block(r#"{"withoutHeaders": {"x-env": {"regex": ".*"}}}"#);
        assert!(!not_prefixed.matches(&HeaderList::get("a", "/")));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn query_params_match_their_first_undecoded_value() {
        let block = block(r#"{"queryParams": {"v": {"exact": "a%20b"}, "debug": {}}}"#);
        assert!(block.matches(&HeaderList::get("a", "/p?v=a%20b&debug")));
        assert!(block.matches(&HeaderList::get("a", "/p?debug=1&v=a%20b&v=c")));
        assert!(!block.matches(&HeaderList::get("a", "/p?v=c&v=a%20b&debug")));
        assert!(!block.matches(&HeaderList::get("a", "/p?v=a b&debug")));
        assert!(!block.matches(&HeaderList::get("a", "/p?v=a%20b")));
        assert_eq!(first_query_value("/p?x=1#frag", "x"), Some("1"));
        assert_eq!(first_query_value("/p", "x"), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn scheme_authority_and_port_match() {
        let block = block(
            r#"{"scheme": {"exact": "https"}, "authority": {"prefix": "shop."}, "port": 8443}"#,
        );
        let request = HeaderList::default()
            .with(":scheme", "https")
            .with(":authority", "shop.example.com:8443")
            .with(":path", "/");
        assert!(!block.matches(&request));
        assert!(block.matches(&request.clone().on_port(8443)));
        assert!(!block.matches(&request.on_port(80)));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn uri_regex_ignores_the_query_but_prefix_sees_it() {
        let regex = block(r#"{"uri": {"regex": "/items/[0-9]+"}}"#);
        assert!(regex.matches(&HeaderList::get("a", "/items/42?sort=asc")));
        let prefix = block(r#"{"uri": {"prefix": "/items?sort"}}"#);
        assert!(prefix.matches(&HeaderList::get("a", "/items?sort=asc")));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_blocks_name_the_field() {
        assert_eq!(
            error(r#"{"headers": {"x-a": {"prefix": ""}}}"#),
            "match[0].headers.x-a.prefix: prefix string match should not be empty"
        );
        assert_eq!(
            error(r#"{"headers": {"bad name": {"exact": "a"}}}"#),
            "match[0].headers.bad name: invalid header name"
        );
        assert!(error(r#"{"sourceLabels": {"app": "a"}}"#).starts_with("match[0].sourceLabels"));
        assert_eq!(
            error(r#"{"queryParams": {"q": {"regex": "(("}}}"#),
            "match[0].queryParams.q.regex: unclosed group"
        );
        assert_eq!(
            error(r#"{"port": 70000}"#),
            "match[0].port: port 70000 must be in 1..65535"
        );
    }
}

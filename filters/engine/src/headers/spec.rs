//! The header module's configuration as users write it (JSON), before validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::request_match::HttpMatchRequest;

/// The plugin configuration: rules applied in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {
    /// The rules, applied in order.
    pub rules: Vec<RuleSpec>,
}

/// One rule: when any `match` block holds (or there is none), apply `request` to the request and,
/// if the response status matches `responseStatus` (or it is empty), `response` to the response.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// Only for the operator's benefit (and log messages).
    pub name: Option<String>,
    /// Istio `HTTPMatchRequest` blocks, any of which may match; none means every request.
    #[serde(default, rename = "match")]
    pub matches: Vec<HttpMatchRequest>,
    /// Response statuses (`404`, `"404"`, `"5xx"`) the response operations are limited to.
    #[serde(default)]
    pub response_status: Vec<StatusSpec>,
    /// Operations on the request (headers and query parameters).
    pub request: Option<RequestOperationsSpec>,
    /// Operations on the response.
    pub response: Option<HeaderOperationsSpec>,
}

/// Istio's `Headers.HeaderOperations`: `set` overwrites, `add` appends, `remove` deletes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeaderOperationsSpec {
    /// Headers to replace (every value), name to template.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers to append a value to, name to template.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Header names to remove; a trailing `*` removes by prefix.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// [`HeaderOperationsSpec`] plus query-parameter edits, which only a request has.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestOperationsSpec {
    /// Headers to replace (every value), name to template.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers to append a value to, name to template.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Header names to remove; a trailing `*` removes by prefix.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Edits of the query string.
    pub query_params: Option<QueryParamOperationsSpec>,
}

/// Query-parameter edits on the request's `:path`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueryParamOperationsSpec {
    /// Parameters to set (replacing every value), name to template.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Parameter names to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A response status condition: a code as a number or string, or a class such as `"5xx"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum StatusSpec {
    /// A status code written as a number: `404`.
    Code(u64),
    /// A code or class written as a string: `"404"`, `"5xx"`.
    Text(String),
}

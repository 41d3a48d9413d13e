//! The `x-kubernetes-validations` CEL rules that Istio's CRDs attach to `WasmPlugin`,
//! `TrafficExtension` and `EnvoyFilter`, each implemented for what it says. This is no CEL
//! interpreter: a rule that is not in [`RULES`] is reported as unsupported, so a CRD update that
//! adds a rule makes validation fail loudly instead of passing silently.

use serde_json::Value;

use super::go_url::parse_request_uri;

type Check = fn(&Value) -> bool;

/// Each rule's text, with runs of whitespace collapsed to one space, and its meaning.
const RULES: &[(&str, Check)] = &[
    // Label selectors (WasmPlugin, TrafficExtension) and EnvoyFilter's workloadSelector.
    (r#"!self.contains("*")"#, |v| !string(v).contains('*')),
    (r#"self.all(key, !key.contains("*"))"#, |v| keys(v).all(|key| !key.contains('*'))),
    ("self.all(key, key.size() != 0)", |v| keys(v).all(|key| !key.is_empty())),
    // targetRef(s).namespace: cross-namespace references are refused.
    ("self.size() == 0", |v| string(v).is_empty()),
    // The module URL: Go's ParseRequestURI, with "http://" prepended when the text alone fails.
    (
        r#"isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : (isURL("http://" + self) && url("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])"#,
        url_scheme_allowed,
    ),
    (
        r#"isURL(self) ? (url(self).getScheme() in ["", "http", "https", "file", "oci"]) : (isURL("http://" + self) && url("http://" + self).getScheme() in ["", "http", "https", "file", "oci"])"#,
        url_scheme_allowed,
    ),
    // vmConfig.env[]: a HOST variable takes its value from the proxy, so it may carry none.
    (
        r#"(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)"#,
        |v| string(field(v, "valueFrom").unwrap_or(&Value::Null)) != "HOST" || !has(v, "value"),
    ),
    // At most one way of selecting workloads.
    (
        "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",
        |v| count_present(v, &["selector", "targetRef", "targetRefs"]) <= 1,
    ),
    (
        "(has(self.selector) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",
        |v| count_present(v, &["selector", "targetRefs"]) <= 1,
    ),
    (
        "(has(self.workloadSelector) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",
        |v| count_present(v, &["workloadSelector", "targetRefs"]) <= 1,
    ),
    // TrafficExtension: a wasm module or Lua code, exactly one.
    ("has(self.wasm) != has(self.lua)", |v| has(v, "wasm") != has(v, "lua")),
    // EnvoyFilter match.routeConfiguration.vhost / listener port numbers.
    ("0 < self && self <= 65535", |v| v.as_i64().is_some_and(|n| 0 < n && n <= 65_535)),
    // EnvoyFilter: waypointMatch goes with context WAYPOINT and nothing else.
    (
        r#"has(self.context) ? ((self.context == "WAYPOINT") ? has(self.waypoint) : !has(self.waypoint)) : !has(self.waypoint)"#,
        |v| match field(v, "context") {
            Some(context) if string(context) == "WAYPOINT" => has(v, "waypoint"),
            _ => !has(v, "waypoint"),
        },
    ),
];

#[derive(Debug, PartialEq, Eq)]
pub struct UnsupportedRule(pub String);

/// Whether `value` satisfies `rule`.
pub fn evaluate(rule: &str, value: &Value) -> Result<bool, UnsupportedRule> {
    let normalized = rule.split_whitespace().collect::<Vec<_>>().join(" ");
    RULES
        .iter()
        .find(|(text, _)| *text == normalized)
        .map(|(_, check)| check(value))
        .ok_or(UnsupportedRule(normalized))
}

fn url_scheme_allowed(value: &Value) -> bool {
    const ALLOWED: [&str; 5] = ["", "http", "https", "oci", "file"];
    let text = string(value);
    let parsed = parse_request_uri(text).or_else(|| parse_request_uri(&format!("http://{text}")));
    parsed.is_some_and(|url| ALLOWED.contains(&url.scheme.as_str()))
}

fn string(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn keys(value: &Value) -> impl Iterator<Item = &String> {
    value.as_object().into_iter().flat_map(|map| map.keys())
}

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.get(name).filter(|field| !field.is_null())
}

fn has(value: &Value, name: &str) -> bool {
    field(value, name).is_some()
}

fn count_present(value: &Value, names: &[&str]) -> usize {
    names.iter().filter(|name| has(value, name)).count()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_url_rule_allows_istio_schemes_and_bare_hosts() {
        let rule = r#"isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : (isURL("http://" + self) &&
            url("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])"#;
        for ok in [
            "oci://r.io/a@sha256:00",
            "file:///x.wasm",
            "http://test",
            "test",
            "https://a:443/b",
        ] {
            assert_eq!(evaluate(rule, &json!(ok)), Ok(true), "{ok}");
        }
        for bad in ["fake://example.com", "#%blah$#@", "ftp://x/y"] {
            assert_eq!(evaluate(rule, &json!(bad)), Ok(false), "{bad}");
        }
    }

    #[test]
    fn env_values_only_for_inline_variables() {
        let rule = r#"(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)"#;
        assert_eq!(
            evaluate(
                rule,
                &json!({"name": "a", "valueFrom": "HOST", "value": "v"})
            ),
            Ok(false)
        );
        assert_eq!(
            evaluate(rule, &json!({"name": "a", "valueFrom": "HOST"})),
            Ok(true)
        );
        assert_eq!(
            evaluate(rule, &json!({"name": "a", "value": "v"})),
            Ok(true)
        );
    }

    #[test]
    fn unknown_rules_are_reported_not_passed() {
        assert_eq!(
            evaluate("self.size()  > 3", &json!("abcd")),
            Err(UnsupportedRule("self.size() > 3".to_string()))
        );
    }
}

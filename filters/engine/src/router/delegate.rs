//! `delegate`: a root route hands its traffic to the `http` routes of another VirtualService,
//! each merged with the root as Istio merges them (`mergeHTTPRoutes`): the delegate's fields
//! win, the root fills the gaps, and a delegate match must narrow a root match or is dropped.

use std::collections::{BTreeMap, HashSet};

use crate::error::FieldPath;
use crate::request_match::HttpMatchRequest;
use crate::string_match::StringMatchSpec;
use crate::virtual_service::{Delegate, HttpRoute, NamedVirtualService, RouterConfig};
use crate::ConfigError;

use super::spec_path::spec_path;

/// `(namespace, name)` of every VirtualService some route delegates to.
pub(super) fn delegate_targets(config: &RouterConfig) -> HashSet<(String, String)> {
    config
        .virtual_services
        .iter()
        .flat_map(|virtual_service| {
            virtual_service.spec.http.iter().filter_map(|http| {
                http.delegate.as_ref().map(|delegate| {
                    (
                        delegate
                            .namespace
                            .clone()
                            .unwrap_or_else(|| virtual_service.namespace.clone()),
                        delegate.name.clone(),
                    )
                })
            })
        })
        .collect()
}

/// The delegate's routes merged under `root`, each with the VirtualService that owns it (its
/// namespace resolves short hosts) and its path for errors.
pub(super) fn delegated_routes<'a>(
    root: &HttpRoute,
    delegate: &Delegate,
    owner: &NamedVirtualService,
    config: &'a RouterConfig,
    path: &FieldPath,
) -> Result<Vec<(HttpRoute, &'a NamedVirtualService, FieldPath)>, ConfigError> {
    if !root.route.is_empty() || root.redirect.is_some() {
        return Err(path.error("a route with delegate must not set route or redirect"));
    }
    let namespace = delegate.namespace.as_deref().unwrap_or(&owner.namespace);
    let Some((index, target)) = config
        .virtual_services
        .iter()
        .enumerate()
        .find(|(_, candidate)| candidate.name == delegate.name && candidate.namespace == namespace)
    else {
        return Err(path.field("delegate").error(format!(
            "VirtualService {namespace}/{} is not in this config",
            delegate.name
        )));
    };
    if target.spec.http.iter().any(|http| http.delegate.is_some()) {
        return Err(path.field("delegate").error(format!(
            "VirtualService {namespace}/{} delegates again; Istio allows one level",
            delegate.name
        )));
    }
    let target_path = spec_path(config, index);
    Ok(target
        .spec
        .http
        .iter()
        .enumerate()
        .filter_map(|(leaf_index, leaf)| {
            merge_route(root, leaf)
                .map(|merged| (merged, target, target_path.field("http").index(leaf_index)))
        })
        .collect())
}

pub(super) fn qualified(virtual_service: &NamedVirtualService) -> (String, String) {
    (
        virtual_service.namespace.clone(),
        virtual_service.name.clone(),
    )
}

/// The delegate route `leaf` under `root`, or `None` when their matches conflict.
fn merge_route(root: &HttpRoute, leaf: &HttpRoute) -> Option<HttpRoute> {
    let matches = merge_matches(&root.matches, &leaf.matches)?;
    let mut merged = leaf.clone();
    merged.matches = matches;
    merged.name = joined_name(root.name.as_deref(), leaf.name.as_deref());
    merged.delegate = None;
    fill(&mut merged.rewrite, &root.rewrite);
    fill(&mut merged.direct_response, &root.direct_response);
    fill(&mut merged.timeout, &root.timeout);
    fill(&mut merged.retries, &root.retries);
    fill(&mut merged.mirror, &root.mirror);
    fill(&mut merged.mirror_percent, &root.mirror_percent);
    fill(&mut merged.mirror_percentage, &root.mirror_percentage);
    fill(&mut merged.cors_policy, &root.cors_policy);
    fill(&mut merged.headers, &root.headers);
    fill(&mut merged.fault, &root.fault);
    if merged.mirrors.is_empty() {
        merged.mirrors.clone_from(&root.mirrors);
    }
    Some(merged)
}

fn fill<T: Clone>(leaf: &mut Option<T>, root: &Option<T>) {
    if leaf.is_none() {
        leaf.clone_from(root);
    }
}

fn joined_name(root: Option<&str>, leaf: Option<&str>) -> Option<String> {
    match (
        root.filter(|name| !name.is_empty()),
        leaf.filter(|name| !name.is_empty()),
    ) {
        (Some(root), Some(leaf)) => Some(format!("{root}-{leaf}")),
        (root, leaf) => leaf.or(root).map(str::to_owned),
    }
}

/// Every leaf match must fit inside at least one root match; each fitting pair becomes one
/// merged match. `None` when a leaf match fits none.
fn merge_matches(
    root: &[HttpMatchRequest],
    leaf: &[HttpMatchRequest],
) -> Option<Vec<HttpMatchRequest>> {
    if root.is_empty() {
        return Some(leaf.to_vec());
    }
    if leaf.is_empty() {
        return Some(root.to_vec());
    }
    let mut merged = Vec::new();
    for leaf_match in leaf {
        let fitting: Vec<HttpMatchRequest> = root
            .iter()
            .filter(|root_match| !conflicts(root_match, leaf_match))
            .map(|root_match| merge_match(root_match, leaf_match))
            .collect();
        if fitting.is_empty() {
            return None;
        }
        merged.extend(fitting);
    }
    Some(merged)
}

fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut merged = leaf.clone();
    merged.name = joined_name(root.name.as_deref(), leaf.name.as_deref());
    fill(&mut merged.uri, &root.uri);
    fill(&mut merged.scheme, &root.scheme);
    fill(&mut merged.method, &root.method);
    fill(&mut merged.authority, &root.authority);
    fill(&mut merged.port, &root.port);
    fill(&mut merged.stat_prefix, &root.stat_prefix);
    merged.headers = union(&root.headers, &leaf.headers);
    merged.without_headers = union(&root.without_headers, &leaf.without_headers);
    merged.query_params = union(&root.query_params, &leaf.query_params);
    if merged.gateways.is_empty() {
        merged.gateways.clone_from(&root.gateways);
    }
    merged
}

/// The leaf's entries win over the root's.
fn union(
    root: &BTreeMap<String, StringMatchSpec>,
    leaf: &BTreeMap<String, StringMatchSpec>,
) -> BTreeMap<String, StringMatchSpec> {
    let mut merged = root.clone();
    merged.extend(leaf.iter().map(|(key, value)| (key.clone(), value.clone())));
    merged
}

/// Istio's `hasConflict`: the leaf must not widen the root.
fn conflicts(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    pairs
        .into_iter()
        .any(|(root, leaf)| string_match_conflicts(root.as_ref(), leaf.as_ref()))
        || map_conflicts(&root.headers, &leaf.headers)
        || map_conflicts(&root.without_headers, &leaf.without_headers)
        || map_conflicts(&root.query_params, &leaf.query_params)
        || root.ignore_uri_case != leaf.ignore_uri_case
        || matches!((root.port, leaf.port), (Some(a), Some(b)) if a != 0 && b != 0 && a != b)
        || (!root.gateways.is_empty()
            && leaf
                .gateways
                .iter()
                .any(|gateway| !root.gateways.contains(gateway)))
}

fn map_conflicts(
    root: &BTreeMap<String, StringMatchSpec>,
    leaf: &BTreeMap<String, StringMatchSpec>,
) -> bool {
    leaf.iter()
        .any(|(key, leaf)| string_match_conflicts(root.get(key), Some(leaf)))
}

/// The value of a `StringMatch` field, when set and not empty.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

/// Istio's `stringMatchConflict`: regexes only stand alone; an exact root takes only the same
/// exact; a prefix root takes a longer prefix or an exact inside it.
fn string_match_conflicts(root: Option<&StringMatchSpec>, leaf: Option<&StringMatchSpec>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    let leaf_any = set(&leaf.regex)
        .or(set(&leaf.prefix))
        .or(set(&leaf.exact))
        .is_some();
    let root_any = set(&root.regex)
        .or(set(&root.prefix))
        .or(set(&root.exact))
        .is_some();
    if set(&root.regex).is_some() && leaf_any {
        return true;
    }
    if set(&leaf.regex).is_some() && root_any {
        return true;
    }
    if let Some(exact) = set(&root.exact) {
        return set(&leaf.prefix).is_some() || set(&leaf.exact) != Some(exact);
    }
    if let Some(prefix) = set(&root.prefix) {
        if let Some(leaf_prefix) = set(&leaf.prefix) {
            return !leaf_prefix.starts_with(prefix);
        }
        if let Some(leaf_exact) = set(&leaf.exact) {
            return !leaf_exact.starts_with(prefix);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn route(json: &str) -> HttpRoute {
        serde_json::from_str(json).expect("valid HTTPRoute JSON")
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn leaf_fields_win_and_the_root_fills_gaps() {
        let root = route(
            r#"{"name": "reviews", "match": [{"uri": {"prefix": "/reviews"}}],
            "timeout": "5s", "delegate": {"name": "reviews"}}"#,
        );
        let leaf = route(
            r#"{"name": "v2", "match": [{"uri": {"prefix": "/reviews/v2"}, "headers": {"a": {"exact": "1"}}}],
            "retries": {"attempts": 1}, "route": [{"destination": {"host": "reviews"}}]}"#,
        );
        let merged = merge_route(&root, &leaf).expect("no conflict");
        assert_eq!(merged.name.as_deref(), Some("reviews-v2"));
        assert_eq!(merged.timeout.as_deref(), Some("5s"));
        assert_eq!(merged.retries.map(|retries| retries.attempts), Some(1));
        let only = merged.matches.first().expect("one match");
        assert_eq!(
            only.uri.as_ref().and_then(|uri| uri.prefix.as_deref()),
            Some("/reviews/v2")
        );
        assert!(only.headers.contains_key("a"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_leaf_match_outside_the_root_drops_the_route() {
        let root =
            route(r#"{"match": [{"uri": {"prefix": "/reviews"}}], "delegate": {"name": "r"}}"#);
        let outside = route(
            r#"{"match": [{"uri": {"prefix": "/ratings"}}], "route": [{"destination": {"host": "x"}}]}"#,
        );
        assert!(merge_route(&root, &outside).is_none());
        let regex = route(
            r#"{"match": [{"uri": {"regex": "/reviews/.*"}}], "route": [{"destination": {"host": "x"}}]}"#,
        );
        assert!(merge_route(&root, &regex).is_none());
        let unconstrained = route(
            r#"{"match": [{"headers": {"x": {"exact": "1"}}}], "route": [{"destination": {"host": "x"}}]}"#,
        );
        let merged = merge_route(&root, &unconstrained).expect("inherits the root uri");
        let only = merged.matches.first().expect("one match");
        assert_eq!(
            only.uri.as_ref().and_then(|uri| uri.prefix.as_deref()),
            Some("/reviews")
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn exact_roots_take_only_the_same_exact() {
        let exact = |value: &str| StringMatchSpec {
            exact: Some(value.to_owned()),
            ..StringMatchSpec::default()
        };
        let prefix = |value: &str| StringMatchSpec {
            prefix: Some(value.to_owned()),
            ..StringMatchSpec::default()
        };
        assert!(!string_match_conflicts(
            Some(&exact("/a")),
            Some(&exact("/a"))
        ));
        assert!(string_match_conflicts(
            Some(&exact("/a")),
            Some(&exact("/b"))
        ));
        assert!(string_match_conflicts(
            Some(&exact("/a")),
            Some(&prefix("/a"))
        ));
        assert!(!string_match_conflicts(
            Some(&prefix("/a")),
            Some(&exact("/a/b"))
        ));
        assert!(!string_match_conflicts(None, Some(&exact("/x"))));
    }
}

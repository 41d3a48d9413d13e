//! Istio's `analyzeUnreachableHTTPRules`: warnings (never errors) for `http` routes and match
//! blocks that earlier ones make unreachable.

use std::collections::{BTreeMap, HashMap};

use crate::error::{ConfigWarning, FieldPath};
use crate::request_match::HttpMatchRequest;
use crate::string_match::StringMatchSpec;
use crate::virtual_service::HttpRoute;

/// What Istio's overlap check compares of a block with a `uri` prefix.
struct PrefixBlock {
    /// Where the block is (`routes[route].matches[block]`): its names are written only into a
    /// warning.
    route: usize,
    block: usize,
    prefix: String,
    port: Option<u32>,
    method: String,
    authority: String,
    headers: BTreeMap<String, String>,
    query_params: BTreeMap<String, String>,
    without_headers: BTreeMap<String, String>,
}

/// Istio compares every pair of prefix blocks; so do these warnings, but the pairs are found
/// through indexes (a block's conditions, a prefix's blocks) so that 10,000 routes do not cost
/// 50 million comparisons.
pub fn analyze(routes: &[HttpRoute], path: &FieldPath, warnings: &mut Vec<ConfigWarning>) {
    // Blocks by a hash of their conditions; equal hashes are confirmed by comparing the
    // conditions themselves, so no block is ever held as text.
    let mut seen: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
    let mut catch_all_at: Option<usize> = None;
    let mut prefix_blocks = Vec::new();
    for (route_index, route) in routes.iter().enumerate() {
        let route_path = path.index(route_index);
        if route.matches.is_empty() {
            if catch_all_at.is_some() {
                warnings.push(unused(
                    route,
                    route_index,
                    &route_path,
                    "only the last rule can have no matches",
                ));
            }
            catch_all_at = Some(route_index);
            continue;
        }
        let mut duplicates = 0;
        for (block_index, block) in route.matches.iter().enumerate() {
            if catch_all_at.is_some() {
                warnings.push(unused(
                    route,
                    route_index,
                    &route_path,
                    "route without matches defined before",
                ));
                continue;
            }
            let key = conditions_hash(block);
            let earlier = seen.get(&key).and_then(|known| {
                known.iter().find_map(|&(earlier_route, earlier_block)| {
                    let earlier = routes.get(earlier_route)?.matches.get(earlier_block)?;
                    same_conditions(earlier, block).then_some(earlier_route)
                })
            });
            if let Some(earlier) = earlier {
                let earlier_name = routes
                    .get(earlier)
                    .map(|earlier_route| route_name(earlier_route, earlier))
                    .unwrap_or_default();
                warnings.push(route_path.field("match").index(block_index).warning(format!(
                    "virtualService rule {} match {} is not used (duplicate/overlapping match in rule {earlier_name})",
                    route_name(route, route_index),
                    block_name(block, block_index)
                )));
                duplicates += 1;
                continue;
            }
            seen.entry(key)
                .or_default()
                .push((route_index, block_index));
            if let Some(prefix_block) = prefix_block(route_index, block, block_index) {
                prefix_blocks.push((route_path.field("match").index(block_index), prefix_block));
            }
        }
        if duplicates == route.matches.len() {
            warnings.push(unused(
                route,
                route_index,
                &route_path,
                "all matches used by prior rules",
            ));
        }
    }
    let pairs = covering_pairs(&prefix_blocks);
    let blocks = |(earlier, later): (usize, usize)| {
        Some((prefix_blocks.get(earlier)?, prefix_blocks.get(later)?))
    };
    let names = |block: &PrefixBlock| {
        let route = routes.get(block.route)?;
        let matched = route.matches.get(block.block)?;
        Some((
            route_name(route, block.route),
            block_name(matched, block.block),
        ))
    };
    for ((_, earlier), (later_path, later)) in pairs.into_iter().filter_map(blocks) {
        let (Some((earlier_route, earlier_block)), Some((later_route, later_block))) =
            (names(earlier), names(later))
        else {
            continue;
        };
        warnings.push(later_path.warning(format!(
            "virtualService rule {later_route} match {later_block} of prefix {} is not used (duplicate/overlapping match in rule {earlier_block} of prefix {} on {earlier_route})",
            later.prefix, earlier.prefix
        )));
    }
}

/// The pairs `(earlier, later)` of indexes into `blocks` where the earlier block covers the
/// later one with a shorter prefix, in Istio's order (by earlier, then by later). Only blocks
/// whose prefix is a proper prefix of the later one's can cover it, so each later block looks
/// up its own prefixes instead of scanning every earlier block.
fn covering_pairs(blocks: &[(FieldPath, PrefixBlock)]) -> Vec<(usize, usize)> {
    let mut by_prefix: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, (_, block)) in blocks.iter().enumerate() {
        by_prefix
            .entry(block.prefix.as_str())
            .or_default()
            .push(index);
    }
    let mut pairs = Vec::new();
    for (later_index, (_, later)) in blocks.iter().enumerate() {
        let shorter = later
            .prefix
            .char_indices()
            .skip(1)
            .map(|(end, _)| &later.prefix[..end]);
        for candidate in shorter.filter_map(|prefix| by_prefix.get(prefix)) {
            pairs.extend(
                candidate
                    .iter()
                    .take_while(|&&earlier| earlier < later_index)
                    .filter(|&&earlier| {
                        blocks
                            .get(earlier)
                            .is_some_and(|(_, block)| covers(block, later))
                    })
                    .map(|&earlier| (earlier, later_index)),
            );
        }
    }
    pairs.sort_unstable();
    pairs
}

fn unused(route: &HttpRoute, index: usize, path: &FieldPath, reason: &str) -> ConfigWarning {
    path.warning(format!(
        "virtualService rule {} not used ({reason})",
        route_name(route, index)
    ))
}

fn route_name(route: &HttpRoute, index: usize) -> String {
    match route.name.as_deref().filter(|name| !name.is_empty()) {
        Some(name) => format!("{name:?}"),
        None => format!("#{index}"),
    }
}

fn block_name(block: &HttpMatchRequest, index: usize) -> String {
    match block.name.as_deref().filter(|name| !name.is_empty()) {
        Some(name) => format!("{name:?}"),
        None => format!("#{index}"),
    }
}

/// A block's conditions without its name, for equality (Istio compares its JSON without
/// `name`): borrowed field by field, so comparing and hashing 10,000 blocks copies none. The
/// destructuring makes a new field of [`HttpMatchRequest`] a compile error here.
#[allow(clippy::type_complexity)]
fn comparable(
    block: &HttpMatchRequest,
) -> (
    [Option<&StringMatchSpec>; 4],
    [&BTreeMap<String, StringMatchSpec>; 3],
    Option<u32>,
    bool,
    &[String],
    Option<&str>,
    &BTreeMap<String, String>,
    Option<&str>,
) {
    let HttpMatchRequest {
        name: _,
        uri,
        scheme,
        method,
        authority,
        headers,
        without_headers,
        query_params,
        port,
        ignore_uri_case,
        gateways,
        stat_prefix,
        source_labels,
        source_namespace,
    } = block;
    (
        [
            uri.as_ref(),
            scheme.as_ref(),
            method.as_ref(),
            authority.as_ref(),
        ],
        [headers, without_headers, query_params],
        *port,
        *ignore_uri_case,
        gateways,
        stat_prefix.as_deref(),
        source_labels,
        source_namespace.as_deref(),
    )
}

/// A hash of [`comparable`]: what `analyze` keeps per block.
fn conditions_hash(block: &HttpMatchRequest) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    comparable(block).hash(&mut hasher);
    hasher.finish()
}

/// Whether two blocks have the same conditions, names aside.
fn same_conditions(first: &HttpMatchRequest, second: &HttpMatchRequest) -> bool {
    comparable(first) == comparable(second)
}

/// Istio's `assignExactOrPrefix`.
fn exact_or_prefix(spec: Option<&StringMatchSpec>) -> String {
    let Some(spec) = spec else {
        return String::new();
    };
    match (spec.exact.as_deref(), spec.prefix.as_deref()) {
        (Some(exact), _) if !exact.is_empty() => format!("exact:{exact}"),
        (_, Some(prefix)) if !prefix.is_empty() => format!("prefix:{prefix}"),
        _ => String::new(),
    }
}

fn prefix_block(
    route_index: usize,
    block: &HttpMatchRequest,
    block_index: usize,
) -> Option<PrefixBlock> {
    let prefix = block
        .uri
        .as_ref()?
        .prefix
        .clone()
        .filter(|prefix| !prefix.is_empty())?;
    let mut method = exact_or_prefix(block.method.as_ref());
    if method.is_empty() {
        method = "exact:GET".to_owned();
    }
    let conditions = |map: &BTreeMap<String, StringMatchSpec>| {
        map.iter()
            .map(|(key, value)| (key.clone(), exact_or_prefix(Some(value))))
            .collect()
    };
    Some(PrefixBlock {
        route: route_index,
        block: block_index,
        prefix,
        port: block.port.filter(|&port| port != 0),
        method,
        authority: exact_or_prefix(block.authority.as_ref()),
        headers: conditions(&block.headers),
        query_params: conditions(&block.query_params),
        without_headers: conditions(&block.without_headers),
    })
}

/// Istio's `coveredValidation`: whether `earlier` matches everything `later` does.
fn covers(earlier: &PrefixBlock, later: &PrefixBlock) -> bool {
    let narrower = |a: &str, b: &str| a == b || a.starts_with(b);
    let maps_cover = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
        a.len() == b.len()
            && a.iter()
                .all(|(key, value)| b.get(key).is_some_and(|other| narrower(value, other)))
    };
    later.prefix.starts_with(&earlier.prefix)
        && later.port == earlier.port
        && narrower(&earlier.method, &later.method)
        && narrower(&earlier.authority, &later.authority)
        && maps_cover(&earlier.headers, &later.headers)
        && maps_cover(&earlier.query_params, &later.query_params)
        && maps_cover(&earlier.without_headers, &later.without_headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn warnings_for(prefixes: &[&str]) -> Vec<String> {
        let routes: Vec<HttpRoute> = prefixes
            .iter()
            .map(|prefix| {
                serde_json::from_value(serde_json::json!({"match": [{"uri": {"prefix": prefix}}]}))
                    .expect("route")
            })
            .collect();
        let mut warnings = Vec::new();
        analyze(&routes, &FieldPath::root().field("http"), &mut warnings);
        warnings.iter().map(ToString::to_string).collect()
    }

    /// Every covering pair is reported once, in Istio's order (by the covering block, then by
    /// the covered one), whatever the index lookup found first; prefixes cut on characters.
    #[wasm_bindgen_test(unsupported = test)]
    fn covering_prefixes_are_reported_in_istios_order() {
        let warnings = warnings_for(&["/a", "/ab", "/é", "/abc", "/a", "/é/x"]);
        let reported: Vec<(&str, &str)> = warnings
            .iter()
            .filter_map(|warning| {
                let later = warning.split(" of prefix ").nth(1)?.split(' ').next()?;
                let earlier = warning.split(" of prefix ").nth(2)?.split(' ').next()?;
                Some((earlier, later))
            })
            .collect();
        assert_eq!(
            reported,
            [
                ("/a", "/ab"),
                ("/a", "/abc"),
                ("/ab", "/abc"),
                ("/é", "/é/x")
            ],
            "{warnings:#?}"
        );
        assert!(
            warnings.iter().any(|warning| warning
                .starts_with("http[4].match[0]: virtualService rule #4 match #0 is not used")),
            "{warnings:#?}"
        );
    }

    /// Ten thousand distinct prefixes that cover nothing: no warning, and no pairwise scan.
    #[wasm_bindgen_test(unsupported = test)]
    fn a_large_table_of_disjoint_prefixes_warns_of_nothing() {
        let prefixes: Vec<String> = (0..10_000).map(|index| format!("/s{index}/")).collect();
        let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        assert!(warnings_for(&prefixes).is_empty());
    }
}

//! Why a request got its decision: the routes of its virtual host tested in first-match
//! order, each one before the taken route with the condition every block failed on. Built by
//! [`RouteTable::explain`](super::RouteTable::explain) from the same matching code as
//! [`RouteTable::select`](super::RouteTable::select).

use crate::request_match::Mismatch;

use super::decision::Decision;
use super::route::Route;

/// The account of one request's route selection.
#[derive(Debug, Clone)]
pub struct Explanation<'a> {
    /// Whether `:authority` found a virtual host; without one, `passed` is empty and
    /// `taken` is `None`.
    pub virtual_host_found: bool,
    /// The routes tested before the taken one (or all of them when none matched), in order.
    pub passed: Vec<Passed<'a>>,
    /// The route that took the request.
    pub taken: Option<Taken<'a>>,
    /// What [`RouteTable::select`](super::RouteTable::select) decides for the request.
    pub decision: Decision<'a>,
}

/// A route that did not match, with why.
#[derive(Debug, Clone)]
pub struct Passed<'a> {
    /// The route.
    pub route: &'a Route,
    /// Each block's failed condition, in block order.
    pub blocks: Vec<BlockMismatch<'a>>,
}

/// The failed condition of one match block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMismatch<'a> {
    /// The block's index in the spec's `match`.
    pub block: usize,
    /// The first condition of the block that does not hold.
    pub mismatch: Mismatch<'a>,
}

/// The route that matched, and by which block.
#[derive(Debug, Clone)]
pub struct Taken<'a> {
    /// The route.
    pub route: &'a Route,
    /// The matching block's index in the spec's `match`; `None` for a route without blocks.
    pub block: Option<usize>,
    /// The route's blocks before the matching one, each with its failed condition.
    pub earlier_blocks: Vec<BlockMismatch<'a>>,
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::super::RouteTable;
    use super::*;
    use crate::request::HeaderList;

    const CONFIG: &str = r#"{"gateway": "istio-system/gw", "virtualServices": [{"name": "shop", "namespace": "web", "spec": {
      "hosts": ["shop.example.com"], "gateways": ["istio-system/gw"],
      "http": [
        {"name": "admin", "match": [{"uri": {"prefix": "/admin"}, "headers": {"x-role": {"exact": "admin"}}},
                                    {"name": "elsewhere", "uri": {"prefix": "/admin"}, "gateways": ["mesh"]},
                                    {"name": "debug", "queryParams": {"debug": {}}, "method": {"exact": "POST"}}],
         "route": [{"destination": {"host": "admin"}}]},
        {"name": "api", "match": [{"name": "v1", "uri": {"prefix": "/api/v1"}}],
         "rewrite": {"uri": "/v1"}, "route": [{"destination": {"host": "api"}}]},
        {"name": "rest", "directResponse": {"status": 418}}
      ]}}]}"#;

    fn table() -> RouteTable {
        RouteTable::from_json(CONFIG.as_bytes()).expect("valid config")
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn earlier_routes_say_which_condition_each_block_failed() {
        let table = table();
        let request = HeaderList::get("shop.example.com", "/api/v1/items?debug");
        let explanation = table.explain(&request, &mut || 0);
        assert!(explanation.virtual_host_found);
        let [passed] = explanation.passed.as_slice() else {
            panic!("one route passed: {explanation:?}");
        };
        assert_eq!(passed.route.name(), "admin");
        let failed: Vec<(usize, String)> = passed
            .blocks
            .iter()
            .map(|block| (block.block, block.mismatch.to_string()))
            .collect();
        // The block bound to the mesh is not compiled for this gateway: spec indices 0 and 2.
        assert_eq!(failed, [(0, "uri".to_string()), (2, "method".to_string())]);
        let taken = explanation.taken.expect("a route took it");
        assert_eq!(
            (taken.route.name(), taken.route.http_index(), taken.block),
            ("api", 1, Some(0))
        );
        assert_eq!(taken.route.virtual_service(), "web/shop");
        assert_eq!(taken.route.block_name(0), Some("v1"));
        assert!(taken.earlier_blocks.is_empty());
        let post = HeaderList::default()
            .with(":method", "POST")
            .with(":authority", "shop.example.com")
            .with(":path", "/admin?debug");
        let taken = table
            .explain(&post, &mut || 0)
            .taken
            .expect("a route took it");
        assert_eq!((taken.route.name(), taken.block), ("admin", Some(2)));
        let earlier: Vec<(usize, String)> = taken
            .earlier_blocks
            .iter()
            .map(|block| (block.block, block.mismatch.to_string()))
            .collect();
        assert_eq!(earlier, [(0, "headers.x-role".to_string())]);
        assert_eq!(explanation.decision, table.select(&request, &mut || 0));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_header_condition_is_named_and_a_route_without_blocks_takes_the_rest() {
        let table = table();
        let request = HeaderList::get("shop.example.com", "/admin").with("x-role", "guest");
        let explanation = table.explain(&request, &mut || 0);
        let reasons: Vec<String> = explanation
            .passed
            .iter()
            .flat_map(|passed| passed.blocks.iter().map(|b| b.mismatch.to_string()))
            .collect();
        assert_eq!(reasons, ["headers.x-role", "method", "uri"]);
        let taken = explanation.taken.expect("the catch-all");
        assert_eq!((taken.route.name(), taken.block), ("rest", None));
        assert!(matches!(explanation.decision, Decision::Respond(ref r) if r.status == 418));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_unknown_host_has_no_virtual_host() {
        let table = table();
        let explanation = table.explain(&HeaderList::get("other.org", "/"), &mut || 0);
        assert!(!explanation.virtual_host_found);
        assert!(explanation.taken.is_none() && explanation.passed.is_empty());
        assert_eq!(explanation.decision, Decision::NoRoute);
    }

    /// Above the linear-scan size selection goes through the path index; the explanation's
    /// linear scan must reach the same route.
    #[wasm_bindgen_test(unsupported = test)]
    fn explain_agrees_with_select_through_the_path_index() {
        let routes: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"name": "r{i}", "match": [{{"uri": {{"prefix": "/p{i}/"}}, "headers": {{"x-n": {{"exact": "{}"}}}}}}],
                       "route": [{{"destination": {{"host": "s{i}"}}}}]}}"#,
                    i % 3
                )
            })
            .collect();
        let config = format!(r#"{{"hosts": ["*"], "http": [{}]}}"#, routes.join(","));
        let table = RouteTable::from_json(config.as_bytes()).expect("valid config");
        for i in 0..40 {
            for n in 0..3 {
                let request = HeaderList::get("a", &format!("/p{i}/x")).with("x-n", &n.to_string());
                let explanation = table.explain(&request, &mut || 0);
                assert_eq!(explanation.decision, table.select(&request, &mut || 0));
            }
        }
    }
}

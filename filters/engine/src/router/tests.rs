//! Route selection, end to end through the engine: JSON config in, decision out.

use wasm_bindgen_test::wasm_bindgen_test;

use super::{Decision, ForwardTo, LocalResponse, RouteTable};
use crate::request::HeaderList;

fn table(json: &str) -> RouteTable {
    RouteTable::from_json(json.as_bytes()).expect("valid config")
}

fn error(json: &str) -> String {
    RouteTable::from_json(json.as_bytes())
        .expect_err("invalid config")
        .to_string()
}

fn cluster_for<'a>(table: &'a RouteTable, authority: &str, path: &str) -> Option<&'a str> {
    forward(table, &HeaderList::get(authority, path)).map(|forward| forward.cluster)
}

fn forward<'a>(table: &'a RouteTable, request: &HeaderList) -> Option<ForwardTo<'a>> {
    match table.select(request, &mut || 0) {
        Decision::Forward(forward) => Some(forward),
        Decision::Respond(_) | Decision::NoRoute | Decision::UnknownService { .. } => None,
    }
}

fn respond<'t>(table: &'t RouteTable, request: &HeaderList) -> LocalResponse<'t> {
    match table.select(request, &mut || 0) {
        Decision::Respond(response) => response,
        other => panic!("expected a local response, got {other:?}"),
    }
}

const BOOKINFO: &str = r#"{
  "hosts": ["*"],
  "http": [
    {"name": "login", "match": [{"uri": {"exact": "/login"}}],
     "route": [{"destination": {"host": "auth", "port": {"number": 8080}}}]},
    {"name": "api", "match": [{"name": "v", "uri": {"regex": "/api/v[0-9]+/.*"}}],
     "route": [{"destination": {"host": "api", "subset": "v2"}}]},
    {"match": [{"uri": {"prefix": "/static"}}, {"uri": {"prefix": "/assets"}}],
     "route": [{"destination": {"host": "cdn.example.org", "port": {"number": 443}}}]}
  ]
}"#;

#[wasm_bindgen_test(unsupported = test)]
fn exact_prefix_and_regex_pick_their_clusters() {
    let table = table(BOOKINFO);
    let cluster = |path| cluster_for(&table, "shop.example.com", path);
    assert_eq!(
        cluster("/login"),
        Some("outbound|8080||auth.default.svc.cluster.local")
    );
    assert_eq!(
        cluster("/login?next=/"),
        Some("outbound|8080||auth.default.svc.cluster.local")
    );
    assert_eq!(cluster("/login/"), None);
    assert_eq!(
        cluster("/api/v2/users"),
        Some("outbound|80|v2|api.default.svc.cluster.local")
    );
    assert_eq!(cluster("/api/vx/users"), None);
    assert_eq!(
        cluster("/assets/a.css"),
        Some("outbound|443||cdn.example.org")
    );
    assert_eq!(cluster("/static"), Some("outbound|443||cdn.example.org"));
}

#[wasm_bindgen_test(unsupported = test)]
fn route_names_join_route_and_match_names() {
    let table = table(BOOKINFO);
    let forward = forward(&table, &HeaderList::get("a", "/api/v1/x")).expect("a route");
    assert_eq!(forward.route_name, "api.v");
    assert_eq!(forward.virtual_service, "default/inline");
}

#[wasm_bindgen_test(unsupported = test)]
fn first_match_wins_and_a_route_without_match_takes_everything() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "first"}}]},
            {"match": [{"uri": {"prefix": "/a/b"}}], "route": [{"destination": {"host": "never"}}]},
            {"route": [{"destination": {"host": "fallback"}}]}
        ]}"#,
    );
    assert_eq!(
        cluster_for(&table, "x", "/a/b"),
        Some("outbound|80||first.default.svc.cluster.local")
    );
    assert_eq!(
        cluster_for(&table, "x", "/zzz"),
        Some("outbound|80||fallback.default.svc.cluster.local")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn hosts_select_the_virtual_service() {
    let table = table(
        r#"{"virtualServices": [
            {"name": "shop", "namespace": "prod", "spec": {"hosts": ["shop.example.com"],
              "http": [{"route": [{"destination": {"host": "shop"}}]}]}},
            {"name": "wild", "namespace": "prod", "spec": {"hosts": ["*.example.com"],
              "http": [{"route": [{"destination": {"host": "wild"}}]}]}},
            {"name": "short", "namespace": "prod", "spec": {"hosts": ["internal"],
              "http": [{"route": [{"destination": {"host": "internal"}}]}]}}
        ], "domainSuffix": "svc.corp.local"}"#,
    );
    assert_eq!(
        cluster_for(&table, "shop.example.com:8080", "/"),
        Some("outbound|80||shop.prod.svc.corp.local")
    );
    assert_eq!(
        cluster_for(&table, "blog.example.com", "/"),
        Some("outbound|80||wild.prod.svc.corp.local")
    );
    assert_eq!(
        cluster_for(&table, "internal.prod.svc.corp.local", "/"),
        Some("outbound|80||internal.prod.svc.corp.local")
    );
    assert_eq!(cluster_for(&table, "example.org", "/"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn virtual_services_sharing_a_host_merge_in_order() {
    let table = table(
        r#"{"virtualServices": [
            {"name": "a", "spec": {"hosts": ["x.com"],
              "http": [{"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "a"}}]}]}},
            {"name": "b", "spec": {"hosts": ["x.com"],
              "http": [{"route": [{"destination": {"host": "b"}}]}]}}
        ]}"#,
    );
    assert_eq!(
        cluster_for(&table, "x.com", "/a"),
        Some("outbound|80||a.default.svc.cluster.local")
    );
    assert_eq!(
        cluster_for(&table, "x.com", "/b"),
        Some("outbound|80||b.default.svc.cluster.local")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn a_configured_gateway_filters_virtual_services() {
    let config = r#"{"gateway": "istio-system/ingressgateway", "virtualServices": [
        {"name": "bound", "namespace": "shop", "spec": {"hosts": ["*"],
          "gateways": ["istio-system/ingressgateway"],
          "http": [{"match": [{"uri": {"prefix": "/bound"}}], "route": [{"destination": {"host": "bound"}}]}]}},
        {"name": "mesh", "namespace": "shop", "spec": {"hosts": ["x"],
          "http": [{"route": [{"destination": {"host": "mesh"}}]}]}}
    ]}"#;
    let table = table(config);
    assert_eq!(
        cluster_for(&table, "x", "/bound"),
        Some("outbound|80||bound.shop.svc.cluster.local")
    );
    assert_eq!(cluster_for(&table, "x", "/other"), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn errors_name_the_field_and_the_reason() {
    assert_eq!(
        error(
            r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}]},
            {"match": [{"uri": {"regex": "/(a"}}], "route": [{"destination": {"host": "a"}}]}]}"#
        ),
        "http[1].match[0].uri.regex: unclosed group"
    );
    assert_eq!(
        error(r#"{"hosts": [], "http": []}"#),
        "http, tcp or tls must be provided in virtual service"
    );
    assert!(error(r#"{"hosts": ["*"], "http": [{"match": [{"uri": {"exact": "/", "prefix": "/"}}], "route": [{"destination": {"host": "a"}}]}]}"#)
        .starts_with("http[0].match[0].uri: only one of"));
    assert!(
        error(r#"{"hosts": ["*"], "htp": []}"#).starts_with("htp: unknown field `htp`"),
        "{}",
        error(r#"{"hosts": ["*"], "htp": []}"#)
    );
    assert_eq!(
        error(r#"{"virtualServices": [{"name": "a", "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a", "port": {"number": 70000}}}]}]}}]}"#),
        "virtualServices[0].spec.http[0].route[0].destination.port.number: port number 70000 must be in the range 1..65535"
    );
    assert_eq!(
        error(r#"{"hosts": ["*"], "http": [{"route": []}]}"#),
        "http[0]: HTTP route, redirect or direct_response is required"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn weighted_destinations_split_by_draw() {
    let table = table(
        r#"{"hosts": ["*"], "http": [{"route": [
            {"destination": {"host": "a"}, "weight": 25},
            {"destination": {"host": "b"}, "weight": 75}]}]}"#,
    );
    let request = HeaderList::get("x", "/");
    let pick = |draw| match table.select(&request, &mut || draw) {
        Decision::Forward(forward) => forward.cluster,
        other => panic!("{other:?}"),
    };
    assert_eq!(pick(0), "outbound|80||a.default.svc.cluster.local");
    assert_eq!(pick(24), "outbound|80||a.default.svc.cluster.local");
    assert_eq!(pick(25), "outbound|80||b.default.svc.cluster.local");
    assert_eq!(pick(199), "outbound|80||b.default.svc.cluster.local");
}

#[wasm_bindgen_test(unsupported = test)]
fn rewrites_replace_the_matched_part() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/v1/"}}], "rewrite": {"uri": "/"},
             "route": [{"destination": {"host": "a"}}]},
            {"match": [{"uri": {"prefix": "/v2"}}], "rewrite": {"uri": "/", "authority": "b.internal"},
             "route": [{"destination": {"host": "b"}}]},
            {"match": [{"uri": {"exact": "/old"}}], "rewrite": {"uri": "/new"},
             "route": [{"destination": {"host": "c"}}]},
            {"rewrite": {"uriRegexRewrite": {"match": "^/users/([0-9]+)$", "rewrite": "/u?id=\\1"}},
             "route": [{"destination": {"host": "d"}}]}
        ]}"#,
    );
    let path = |p: &str| forward(&table, &HeaderList::get("x", p)).and_then(|f| f.path);
    assert_eq!(path("/v1/users?q=1").as_deref(), Some("/users?q=1"));
    assert_eq!(path("/v2/users").as_deref(), Some("//users"));
    assert_eq!(path("/old?x=1").as_deref(), Some("/new?x=1"));
    assert_eq!(path("/users/42").as_deref(), Some("/u?id=42"));
    let authority = forward(&table, &HeaderList::get("x", "/v2/a")).and_then(|f| f.authority);
    assert_eq!(authority, Some("b.internal"));
}

#[wasm_bindgen_test(unsupported = test)]
fn ignore_uri_case_rewrites_the_matched_length() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/case/"}, "ignoreUriCase": true}], "rewrite": {"uri": "/lower/"},
             "route": [{"destination": {"host": "c"}}]}]}"#,
    );
    let forward = forward(&table, &HeaderList::get("x", "/CaSe/File")).expect("matches");
    assert_eq!(forward.path.as_deref(), Some("/lower/File"));
}

#[wasm_bindgen_test(unsupported = test)]
fn redirects_and_direct_responses_answer_locally() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/old"}}], "redirect": {"uri": "/new", "redirectCode": 302}},
            {"match": [{"uri": {"exact": "/health"}}], "directResponse": {"status": 200, "body": {"string": "ok"}}},
            {"match": [{"uri": {"exact": "/bin"}}], "directResponse": {"status": 503, "body": {"bytes": "AAEC"}}}
        ]}"#,
    );
    let redirect = respond(&table, &HeaderList::get("shop.com", "/old?a=1"));
    assert_eq!(redirect.status, 302);
    assert_eq!(
        redirect.headers,
        vec![("location", "http://shop.com/new?a=1".to_owned())]
    );
    let health = respond(&table, &HeaderList::get("x", "/health"));
    assert_eq!(
        (health.status, health.body.as_slice()),
        (200, b"ok".as_slice())
    );
    let bytes = respond(&table, &HeaderList::get("x", "/bin"));
    assert_eq!(
        (bytes.status, bytes.body.as_slice()),
        (503, [0u8, 1, 2].as_slice())
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn route_actions_are_exclusive_and_validated() {
    assert_eq!(
        error(
            r#"{"hosts": ["*"], "http": [{"redirect": {"uri": "/"}, "route": [{"destination": {"host": "a"}}]}]}"#
        ),
        "http[0].route: HTTP route cannot contain both route and redirect"
    );
    assert_eq!(
        error(r#"{"hosts": ["*"], "http": [{"redirect": {"uri": "/"}, "rewrite": {"uri": "/"}}]}"#),
        "http[0].rewrite: HTTP route rule cannot contain both rewrite and redirect"
    );
    assert_eq!(
        error(r#"{"hosts": ["*"], "http": [{"directResponse": {"status": 700}}]}"#),
        "http[0].directResponse.status: HTTP status 700 is not in range 200-599"
    );
    assert!(error(r#"{"hosts": ["*"], "http": [{"directResponse": {"status": 200, "body": {"bytes": "%%%"}}}]}"#)
        .starts_with("http[0].directResponse.body.bytes: invalid base64"));
    assert_eq!(
        error(
            r#"{"hosts": ["*"], "http": [{"timeout": "soon", "route": [{"destination": {"host": "a"}}]}]}"#
        ),
        r#"http[0].timeout: invalid duration "soon": expected a number"#
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn timeouts_and_retries_travel_as_router_headers() {
    let table = table(
        r#"{"hosts": ["*"], "http": [{"timeout": "2s", "retries": {"attempts": 0},
            "route": [{"destination": {"host": "a"}}]}]}"#,
    );
    let forward = forward(&table, &HeaderList::get("x", "/")).expect("matches");
    assert_eq!(
        forward.router_headers,
        [
            ("x-envoy-upstream-rq-timeout-ms", "2000".to_owned()),
            (super::CUSTOM_RETRIES_HEADER, "custom".to_owned())
        ]
    );
    // No `retries`: Istio's default policy, which Envoy's route carries; no header at all.
    let defaults =
        self::table(r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}]}]}"#);
    let default_forward = self::forward(&defaults, &HeaderList::get("x", "/")).expect("matches");
    assert!(
        default_forward.router_headers.is_empty(),
        "{:?}",
        default_forward.router_headers
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn mirrors_copy_their_share_of_requests() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/one"}}], "route": [{"destination": {"host": "a"}}],
             "mirror": {"host": "shadow"}, "mirrorPercentage": {"value": 50}},
            {"route": [{"destination": {"host": "a"}}], "mirrors": [
                {"destination": {"host": "m1"}},
                {"destination": {"host": "m2"}, "percentage": {"value": 0}}]}
        ]}"#,
    );
    let mirrors =
        |path: &str, draw: u64| match table.select(&HeaderList::get("x", path), &mut || draw) {
            Decision::Forward(forward) => forward.mirrors,
            other => panic!("{other:?}"),
        };
    assert_eq!(
        mirrors("/one", 499_999),
        ["outbound|80||shadow.default.svc.cluster.local"]
    );
    assert!(mirrors("/one", 500_000).is_empty());
    assert_eq!(
        mirrors("/two", 0),
        ["outbound|80||m1.default.svc.cluster.local"]
    );
    assert_eq!(
        error(
            r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}}],
            "mirror": {"host": "m"}, "mirrors": [{"destination": {"host": "m"}}]}]}"#
        ),
        "http[0].mirrors: HTTP route cannot contain both mirror and mirrors"
    );
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn indexed_selection_agrees_with_a_linear_scan() {
    const SEGMENTS: [&str; 6] = ["api", "v1", "users", "Shop", "a", "static"];
    let mut random = Lcg(7);
    for round in 0..20 {
        let mut routes = Vec::new();
        for route in 0..40 {
            let path = format!(
                "/{}/{}",
                SEGMENTS[random.next(SEGMENTS.len())],
                SEGMENTS[random.next(SEGMENTS.len())]
            );
            let uri = match random.next(6) {
                0 => format!(r#""uri": {{"exact": "{path}"}}"#),
                1 => format!(r#""uri": {{"prefix": "{path}"}}"#),
                2 => format!(
                    r#""uri": {{"prefix": "/{}"}}"#,
                    SEGMENTS[random.next(SEGMENTS.len())]
                ),
                3 => format!(
                    r#""uri": {{"regex": "/{}/[a-z0-9]+"}}"#,
                    SEGMENTS[random.next(SEGMENTS.len())]
                ),
                4 => format!(r#""uri": {{"prefix": "{path}"}}, "ignoreUriCase": true"#),
                _ => r#""headers": {"x-canary": {"exact": "1"}}"#.to_owned(),
            };
            let block = if random.next(3) == 0 {
                format!(r#"{{{uri}, "method": {{"exact": "POST"}}}}"#)
            } else {
                format!("{{{uri}}}")
            };
            let matches = if random.next(10) == 0 {
                String::new()
            } else {
                format!(r#""match": [{block}],"#)
            };
            routes.push(format!(
                r#"{{"name": "r{route}", {matches} "route": [{{"destination": {{"host": "h{route}"}}}}]}}"#
            ));
        }
        let config = format!(r#"{{"hosts": ["*"], "http": [{}]}}"#, routes.join(","));
        let indexed = table(&config);
        let scanned = indexed.clone().without_indexes();
        for _ in 0..200 {
            let path = format!(
                "/{}/{}{}",
                SEGMENTS[random.next(SEGMENTS.len())],
                SEGMENTS[random.next(SEGMENTS.len())].to_ascii_lowercase(),
                ["", "?q=1", "/x"][random.next(3)]
            );
            let mut request = HeaderList::default()
                .with(":method", ["GET", "POST"][random.next(2)])
                .with(":authority", "x")
                .with(":path", &path);
            if random.next(2) == 0 {
                request = request.with("x-canary", "1");
            }
            assert_eq!(
                indexed.select(&request, &mut || 0),
                scanned.select(&request, &mut || 0),
                "round {round}, {path}"
            );
        }
    }
}

/// Large regex tables exercise both ways the index handles regexes: blocks filed under a
/// rare literal they require, and blocks whose literals are shared by many, in a regex set.
#[wasm_bindgen_test(unsupported = test)]
fn indexed_selection_of_large_regex_tables_agrees_with_a_linear_scan() {
    let mut random = Lcg(11);
    let patterns = |route: usize| {
        [
            format!("/api/v[0-9]+/s{route}/[a-z]+/[0-9]+"),
            format!("(/s{})+/x", route % 7),
            format!("/opt(/o{route})?/[a-z]+"),
            "/shared/[0-9]+".to_owned(),
            format!("(?i)/case/{route}"),
            "[a-z/0-9]+/tail".to_owned(),
            format!("/alt/(a{route}|b)/[0-9]+"),
            format!("/s{}/.*", route % 50),
        ]
    };
    let mut routes = Vec::new();
    for route in 0..400 {
        let choices = patterns(route);
        let uri = &choices[random.next(choices.len())];
        let extra = match random.next(4) {
            0 => r#", "method": {"exact": "POST"}"#,
            _ => "",
        };
        routes.push(format!(
            r#"{{"name": "r{route}", "match": [{{"uri": {{"regex": "{uri}"}}{extra}}}], "route": [{{"destination": {{"host": "h{route}"}}}}]}}"#
        ));
    }
    let config = format!(r#"{{"hosts": ["*"], "http": [{}]}}"#, routes.join(","));
    let indexed = table(&config);
    let scanned = indexed.clone().without_indexes();
    let mut forwarded = 0;
    for _ in 0..2_000 {
        let route = random.next(450);
        let path = match random.next(8) {
            0 => format!(
                "/api/v{}/s{route}/items/{}",
                random.next(3),
                random.next(100)
            ),
            1 => format!("/s{}/s{}/x", route % 7, route % 7),
            2 => format!("/opt/o{route}/abc"),
            3 => format!("/shared/{route}"),
            4 => format!("/CASE/{route}"),
            5 => format!("/abc/{route}/tail?q=/tail"),
            6 => format!(
                "/alt/{}/{route}",
                ["a1", "b", &format!("a{route}")][random.next(3)]
            ),
            _ => format!("/s{}/anything", route % 60),
        };
        let request = HeaderList::default()
            .with(":method", ["GET", "POST"][random.next(2)])
            .with(":authority", "x")
            .with(":path", &path);
        let decision = indexed.select(&request, &mut || 0);
        forwarded += usize::from(matches!(decision, Decision::Forward(_)));
        assert_eq!(decision, scanned.select(&request, &mut || 0), "{path}");
    }
    assert!(
        forwarded > 1_000,
        "only {forwarded} requests matched a route"
    );
    let without_path = HeaderList::default().with(":authority", "x");
    assert_eq!(indexed.select(&without_path, &mut || 0), Decision::NoRoute);
}

#[wasm_bindgen_test(unsupported = test)]
fn sticky_weights_keep_a_user_on_one_destination() {
    let table = table(
        r#"{"stickyWeights": {"header": "x-user"}, "virtualServices": [{"name": "canary", "spec": {
            "hosts": ["*"], "http": [{"route": [
                {"destination": {"host": "stable"}, "weight": 90},
                {"destination": {"host": "canary"}, "weight": 10}]}]}}]}"#,
    );
    let mut counter = 0u64;
    let mut next = || {
        counter += 1;
        counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    let mut canary_users = 0;
    for user in 0..1_000 {
        let request = HeaderList::get("x", "/").with("x-user", &format!("user-{user}"));
        let first = forward_with(&table, &request, &mut next).cluster;
        for _ in 0..5 {
            assert_eq!(forward_with(&table, &request, &mut next).cluster, first);
        }
        canary_users += usize::from(first.contains("canary"));
    }
    assert!(
        (70..=130).contains(&canary_users),
        "{canary_users} of 1000 users on a 10% canary"
    );
}

fn forward_with<'a>(
    table: &'a RouteTable,
    request: &HeaderList,
    random: &mut impl FnMut() -> u64,
) -> ForwardTo<'a> {
    match table.select(request, random) {
        Decision::Forward(forward) => forward,
        other => panic!("{other:?}"),
    }
}

const DELEGATING: &str = r#"{"virtualServices": [
    {"name": "root", "namespace": "gateway", "spec": {"hosts": ["bookinfo.com"], "http": [
        {"name": "reviews", "match": [{"uri": {"prefix": "/reviews"}}], "timeout": "3s",
         "delegate": {"name": "reviews", "namespace": "team"}},
        {"route": [{"destination": {"host": "productpage"}}]}]}},
    {"name": "reviews", "namespace": "team", "spec": {"http": [
        {"name": "v2", "match": [{"uri": {"prefix": "/reviews/v2"}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
        {"name": "outside", "match": [{"uri": {"prefix": "/ratings"}}], "route": [{"destination": {"host": "ratings"}}]},
        {"name": "rest", "route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}}
]}"#;

#[wasm_bindgen_test(unsupported = test)]
fn delegates_are_merged_under_their_root() {
    let table = table(DELEGATING);
    let forward =
        |path: &str| forward(&table, &HeaderList::get("bookinfo.com", path)).expect("routed");
    let v2 = forward("/reviews/v2/1");
    assert_eq!(v2.cluster, "outbound|80|v2|reviews.team.svc.cluster.local");
    assert_eq!(v2.route_name, "reviews-v2");
    assert_eq!(
        v2.router_headers.first(),
        Some(&("x-envoy-upstream-rq-timeout-ms", "3000".to_owned()))
    );
    assert_eq!(
        forward("/reviews/1").cluster,
        "outbound|80|v1|reviews.team.svc.cluster.local"
    );
    // The delegate's /ratings route widens the root's /reviews: dropped, as Istio drops it.
    assert_eq!(
        forward("/ratings").cluster,
        "outbound|80||productpage.gateway.svc.cluster.local"
    );
    // The delegate has no hosts of its own and is not routed on its own.
    assert!(matches!(
        table.select(&HeaderList::get("reviews", "/reviews/v2"), &mut || 0),
        Decision::NoRoute
    ));
}

#[wasm_bindgen_test(unsupported = test)]
fn missing_or_nested_delegates_are_errors() {
    assert_eq!(
        error(r#"{"virtualServices": [{"name": "root", "spec": {"hosts": ["*"], "http": [{"delegate": {"name": "nope"}}]}}]}"#),
        "virtualServices[0].spec.http[0].delegate: VirtualService default/nope is not in this config"
    );
    assert_eq!(
        error(
            r#"{"virtualServices": [
            {"name": "root", "spec": {"hosts": ["*"], "http": [{"delegate": {"name": "a"}}]}},
            {"name": "a", "spec": {"http": [{"delegate": {"name": "b"}}]}},
            {"name": "b", "spec": {"http": [{"route": [{"destination": {"host": "b"}}]}]}}]}"#
        ),
        "virtualServices[1].spec.http[0].delegate: delegate HTTP route cannot contain delegate"
    );
    assert_eq!(
        error(
            r#"{"virtualServices": [
            {"name": "root", "spec": {"hosts": ["*"], "http": [{"delegate": {"name": "a"}, "route": [{"destination": {"host": "x"}}]}]}},
            {"name": "a", "spec": {"http": []}}]}"#
        ),
        "virtualServices[0].spec.http[0].route: root HTTP route must not specify route"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn export_to_hides_a_virtual_service_from_gateways_in_other_namespaces() {
    let config = |export_to: &str| {
        format!(
            r#"{{"gateway": "istio-system/ingress", "virtualServices": [{{"name": "shop", "namespace": "shop",
                "spec": {{"hosts": ["*"], "gateways": ["istio-system/ingress"], "exportTo": {export_to},
                         "http": [{{"route": [{{"destination": {{"host": "shop"}}}}]}}]}}}}]}}"#
        )
    };
    assert!(cluster_for(&table(&config(r#"["*"]"#)), "x", "/").is_some());
    assert!(cluster_for(&table(&config(r#"["istio-system"]"#)), "x", "/").is_some());
    assert!(cluster_for(&table(&config("[]")), "x", "/").is_some());
    assert!(cluster_for(&table(&config(r#"["."]"#)), "x", "/").is_none());
    assert!(cluster_for(&table(&config(r#"["other"]"#)), "x", "/").is_none());
}

#[wasm_bindgen_test(unsupported = test)]
fn tcp_and_tls_routes_are_accepted_but_route_nothing_here() {
    let table = table(
        r#"{"hosts": ["*"], "tcp": [{"route": [{"destination": {"host": "db"}}]}],
            "http": [{"route": [{"destination": {"host": "web"}}]}]}"#,
    );
    assert_eq!(
        cluster_for(&table, "x", "/"),
        Some("outbound|80||web.default.svc.cluster.local")
    );
}

/// Istio ends a VirtualService at its first catch-all and sorts the catch-alls of every
/// VirtualService on a host after all other routes (found by the differential test,
/// `envoy-test/tests/differential.rs`).
#[wasm_bindgen_test(unsupported = test)]
fn catch_alls_go_after_every_virtual_service_sharing_the_host() {
    let table = table(
        r#"{"virtualServices": [
          {"name": "first", "spec": {"hosts": ["shop.com"], "http": [
            {"name": "login", "match": [{"uri": {"exact": "/login"}}, {"uri": {"prefix": "/"}}, {"uri": {"exact": "/never"}}],
             "route": [{"destination": {"host": "login"}}]},
            {"match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": "unreachable"}}]}]}},
          {"name": "second", "spec": {"hosts": ["shop.com"], "http": [
            {"match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": "api"}}]},
            {"match": [{"uri": {"regex": ".*"}, "headers": {"x-a": {}}}], "route": [{"destination": {"host": "header"}}]},
            {"route": [{"destination": {"host": "rest"}}]}]}},
          {"name": "third", "spec": {"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": "api"}}]},
            {"route": [{"destination": {"host": "rest"}}]}]}}
        ]}"#,
    );
    let cluster = |authority, path| cluster_for(&table, authority, path);
    let login = Some("outbound|80||login.default.svc.cluster.local");
    let api = Some("outbound|80||api.default.svc.cluster.local");
    assert_eq!(cluster("shop.com", "/login"), login);
    // `first`'s catch-all block comes after `second`'s routes; its later rule is never used.
    assert_eq!(cluster("shop.com", "/api/x"), api);
    assert_eq!(cluster("shop.com", "/other"), login);
    assert_eq!(cluster("shop.com", "/never"), login);
    // A block with a header condition is no catch-all.
    let with_header = HeaderList::get("shop.com", "/other").with("x-a", "1");
    assert_eq!(
        forward(&table, &with_header).map(|forward| forward.cluster),
        Some("outbound|80||header.default.svc.cluster.local")
    );
    // Each host orders its own routes: `*` has only `third`'s.
    assert_eq!(
        cluster("other.org", "/other"),
        Some("outbound|80||rest.default.svc.cluster.local")
    );
    assert_eq!(cluster("other.org", "/api"), api);
}

/// Envoy's CORS filter skips routes that do not forward, so on an Istio gateway a redirect or
/// direct response gets no CORS headers and its preflights are not answered by CORS (found by
/// the differential test, `envoy-test/tests/differential.rs`).
#[wasm_bindgen_test(unsupported = test)]
fn cors_applies_only_to_forwarding_routes() {
    let table = table(
        r#"{"hosts": ["*"], "http": [
          {"match": [{"uri": {"prefix": "/moved"}}], "redirect": {"uri": "/new"},
           "corsPolicy": {"allowOrigins": [{"exact": "https://a.com"}]}},
          {"directResponse": {"status": 418},
           "corsPolicy": {"allowOrigins": [{"exact": "https://a.com"}]}}]}"#,
    );
    let preflight = |path| {
        HeaderList::default()
            .with(":method", "OPTIONS")
            .with(":authority", "shop.com")
            .with(":path", path)
            .with("x-forwarded-proto", "http")
            .with("origin", "https://a.com")
            .with("access-control-request-method", "POST")
    };
    let redirect = respond(&table, &preflight("/moved"));
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.headers,
        [("location", "http://shop.com/new".to_owned())]
    );
    let direct = respond(&table, &preflight("/x"));
    assert_eq!((direct.status, direct.headers.len()), (418, 0));
}

#[wasm_bindgen_test(unsupported = test)]
fn redirects_and_direct_responses_carry_the_routes_response_headers() {
    let table = RouteTable::from_json(
        br#"{"hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/secure"}}], "redirect": {"scheme": "https"},
             "headers": {"response": {"set": {"strict-transport-security": "max-age=60"}}}},
            {"match": [{"uri": {"prefix": "/ok"}}], "directResponse": {"status": 200},
             "headers": {"response": {"add": {"x-served": "gateway"}}}},
            {"match": [{"uri": {"prefix": "/plain"}}], "directResponse": {"status": 204}}
        ]}"#,
    )
    .expect("valid");
    let redirect = respond(&table, &HeaderList::get("a", "/secure"));
    assert_eq!(redirect.response_headers.len(), 1);
    assert!(!redirect.response_headers[0].response.is_empty());
    let direct = respond(&table, &HeaderList::get("a", "/ok"));
    assert!(!direct.response_headers[0].response.is_empty());
    let plain = respond(&table, &HeaderList::get("a", "/plain"));
    assert!(plain
        .response_headers
        .iter()
        .all(|headers| headers.response.is_empty()));
}

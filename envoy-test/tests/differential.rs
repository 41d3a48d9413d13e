//! Differential test: generated VirtualServices routed (a) by the router module and (b) by the
//! native Envoy routes Istio would generate for them (`envoy_test::istio_routes`), side by side
//! in one Envoy, in front of the same echo upstreams. Thousands of generated requests must get
//! the same status, upstream cluster, upstream path and authority, redirect location, direct
//! response body, CORS answer, and route `headers` (the response's `x-route-tag` and
//! `strict-transport-security` on every answer, the `x-req-tag` the upstream got) from both.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;

use engine::router::{cluster_name, fully_qualified_host};
use engine::virtual_service::RouterConfig;
use envoy_test::istio_routes;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, HttpFilter, Listener, Response,
    RouteConfig, Upstream, UpstreamOptions, WasmFilter,
};
use serde_json::{json, Value};

/// Generated configs; each gets a pair of listeners.
const CONFIGS: usize = 8;
/// Requests per config, each sent to both listeners.
const REQUESTS_PER_CONFIG: usize = 1000;
/// Request loops running at once, each with its own keep-alive connections.
const CONCURRENCY: usize = 8;
/// The generator's seed; `DIFFERENTIAL_SEED=<n>` explores other configs and requests.
const SEED: u64 = 0x5EED_D1FF;

fn seed() -> u64 {
    std::env::var("DIFFERENTIAL_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(SEED)
}

const NAMESPACES: [&str; 2] = ["default", "shop"];
const DESTINATION_HOSTS: [&str; 3] = ["reviews", "ratings", "details.shop.svc.cluster.local"];
const SUBSETS: [Option<&str>; 2] = [None, Some("v1")];
const DESTINATION_PORTS: [Option<u16>; 2] = [None, Some(9080)];
/// The router's `defaultPort`, used by destinations without a port.
const DEFAULT_PORT: u16 = 80;

/// `*` twice: VirtualServices sharing a host merge their routes, which must be exercised.
const VS_HOSTS: [&str; 7] = [
    "shop.example.com",
    "*.example.com",
    "api.example.com",
    "*",
    "*",
    "blog.example.org",
    "reviews",
];
const REQUEST_HOSTS: [&str; 12] = [
    "shop.example.com",
    "shop.example.com:8080",
    "SHOP.Example.com",
    "api.example.com",
    "x.example.com",
    "a.b.example.com",
    "blog.example.org",
    "example.com",
    "other.net",
    "reviews.default.svc.cluster.local",
    "reviews.shop.svc.cluster.local",
    "reviews",
];
const PATHS: [&str; 18] = [
    "/",
    "/login",
    "/Login",
    "/LOGIN/x",
    "/productpage",
    "/api",
    "/api/v1",
    "/api/v1/users",
    "/API/v2/users",
    "/api/v12/x",
    "/apiary",
    "/static/app.css",
    "/assets/x.js",
    "/reviews/1",
    "/reviews/abc",
    "/v1/api",
    "//double",
    "/new",
];
const QUERIES: [&str; 7] = [
    "",
    "",
    "?v=1",
    "?v=2&debug",
    "?debug=1&v=1",
    "?v=a%20b",
    "?v=12",
];
const EXACT_URIS: [&str; 6] = ["/", "/login", "/productpage", "/api/v1", "/Login", "/new"];
const PREFIX_URIS: [&str; 8] = [
    "/", "/api", "/api/", "/static/", "/API/", "/login", "", "/reviews",
];
const REGEX_URIS: [&str; 5] = [
    "/api/v[0-9]+/.*",
    "/reviews/[0-9]+",
    "/(static|assets)/.*",
    ".*",
    "/[a-z]+",
];
const ORIGINS: [&str; 3] = [
    "https://a.example.com",
    "https://b.example.org",
    "https://evil.com",
];

/// splitmix64: deterministic, so a failure reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// One generated router config; `listen_port` is where `port` matches and derived redirect
/// ports point, so the two renderings of a config differ only in it.
fn generate_config(seed: u64, listen_port: u16) -> Value {
    let mut rng = Rng(seed);
    let virtual_services: Vec<Value> = (0..1 + rng.below(3))
        .map(|index| {
            let namespace = rng.pick(&NAMESPACES);
            let mut hosts: Vec<&str> = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let host = rng.pick(&VS_HOSTS);
                // Istio refuses a VirtualService whose hosts overlap (`*` and `a.org` do).
                if !hosts.iter().any(|known| hosts_overlap(known, host)) {
                    hosts.push(host);
                }
            }
            let http: Vec<Value> = (0..2 + rng.below(5))
                .map(|_| generate_rule(&mut rng, listen_port))
                .collect();
            json!({"name": format!("vs{index}"), "namespace": namespace,
                   "spec": {"hosts": hosts, "http": http}})
        })
        .collect();
    json!({"virtualServices": virtual_services, "defaultPort": DEFAULT_PORT})
}

/// Istio's `host.Name.Matches`: two hosts of one VirtualService overlap.
fn hosts_overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(a_suffix), Some(b_suffix)) => {
            a_suffix.ends_with(b_suffix) || b_suffix.ends_with(a_suffix)
        }
        (Some(suffix), None) => b.ends_with(suffix),
        (None, Some(suffix)) => a.ends_with(suffix),
        (None, None) => a == b,
    }
}

fn generate_rule(rng: &mut Rng, listen_port: u16) -> Value {
    let mut rule = json!({});
    if rng.chance(88) {
        let blocks: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| generate_block(rng, listen_port))
            .collect();
        rule["match"] = json!(blocks);
    }
    if rng.chance(30) {
        rule["name"] = json!(format!("r{}", rng.below(100)));
    }
    match rng.below(100) {
        0..=54 => {
            let destinations = 1 + usize::from(rng.chance(35)) * (1 + rng.below(2));
            let chosen = rng.below(destinations);
            let route: Vec<Value> = (0..destinations)
                .map(|index| {
                    let mut destination = json!({"host": rng.pick(&DESTINATION_HOSTS)});
                    if let Some(subset) = rng.pick(&SUBSETS) {
                        destination["subset"] = json!(subset);
                    }
                    if let Some(port) = rng.pick(&DESTINATION_PORTS) {
                        destination["port"] = json!({"number": port});
                    }
                    let mut weighted = json!({"destination": destination});
                    // Mostly on the destination that takes the traffic, where they show.
                    let chance = if index == chosen { 60 } else { 25 };
                    if rng.chance(chance) {
                        weighted["headers"] = generate_headers(rng, &format!("d{index}"));
                    }
                    // One nonzero weight: Envoy's and the module's random draws cannot differ.
                    if destinations > 1 {
                        let weight = if index == chosen {
                            1 + rng.below(100)
                        } else {
                            0
                        };
                        weighted["weight"] = json!(weight);
                    }
                    weighted
                })
                .collect();
            rule["route"] = json!(route);
            if rng.chance(35) {
                rule["rewrite"] = generate_rewrite(rng);
            }
            if rng.chance(20) {
                rule["timeout"] = json!("5s");
            }
            match rng.below(10) {
                0 => rule["retries"] = json!({"attempts": 0}),
                1 => {
                    rule["retries"] =
                        json!({"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,503"})
                }
                _ => {}
            }
        }
        55..=77 => rule["redirect"] = generate_redirect(rng),
        _ => {
            let status = rng.pick(&[200, 403, 418, 503]);
            let mut direct = json!({"status": status});
            match rng.below(3) {
                0 => direct["body"] = json!({"string": format!("direct {status}")}),
                1 => direct["body"] = json!({"bytes": "aGVsbG8gYnl0ZXM="}),
                _ => {}
            }
            rule["directResponse"] = direct;
        }
    }
    // On every kind of rule: a route's response headers apply to its redirects and direct
    // responses too.
    if rng.chance(40) {
        let tag = format!("r{}", rng.below(10));
        rule["headers"] = generate_headers(rng, &tag);
    }
    if rng.chance(12) {
        rule["corsPolicy"] = json!({
            "allowOrigins": [{"exact": "https://a.example.com"}, {"regex": "https://.*\\.example\\.org"}],
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["x-a"],
            "exposeHeaders": ["x-b"],
            "maxAge": "1h",
            "allowCredentials": rng.chance(50),
        });
    }
    rule
}

/// A `headers` block over the names [`Outcome`] compares; `tag` tells whose operation won.
fn generate_headers(rng: &mut Rng, tag: &str) -> Value {
    let (mut request, mut response) = (json!({}), json!({}));
    if rng.chance(60) {
        response["set"]["x-route-tag"] = json!(tag);
    }
    if rng.chance(20) {
        response["add"]["x-route-tag"] = json!(format!("{tag}-added"));
    }
    if rng.chance(30) {
        let operation = rng.pick(&["set", "add"]);
        response[operation]["strict-transport-security"] = json!(format!("max-age=1; {tag}"));
    }
    if rng.chance(15) {
        response["remove"] = json!([rng.pick(&["x-route-tag", "strict-transport-security"])]);
    }
    if rng.chance(40) {
        request["set"]["x-req-tag"] = json!(tag);
    }
    if rng.chance(10) {
        request["add"]["x-req-tag"] = json!(format!("{tag}-added"));
    }
    if rng.chance(10) {
        request["remove"] = json!(["x-req-tag"]);
    }
    let mut headers = json!({});
    for (field, operations) in [("request", request), ("response", response)] {
        if operations
            .as_object()
            .is_some_and(|fields| !fields.is_empty())
        {
            headers[field] = operations;
        }
    }
    if headers.as_object().is_some_and(|fields| fields.is_empty()) {
        headers["response"]["set"]["x-route-tag"] = json!(tag);
    }
    headers
}

fn generate_block(rng: &mut Rng, listen_port: u16) -> Value {
    let mut block = json!({});
    let mut exact_uri = false;
    if rng.chance(75) {
        block["uri"] = match rng.below(3) {
            0 => {
                exact_uri = true;
                json!({"exact": rng.pick(&EXACT_URIS)})
            }
            1 => json!({"prefix": rng.pick(&PREFIX_URIS)}),
            _ => json!({"regex": rng.pick(&REGEX_URIS)}),
        };
        if rng.chance(25) {
            block["ignoreUriCase"] = json!(true);
        }
    }
    if rng.chance(15) {
        block["method"] = rng.pick(&[
            json!({"exact": "GET"}),
            json!({"exact": "POST"}),
            json!({"regex": "GET|PUT"}),
        ]);
    }
    if rng.chance(30) {
        let (name, condition) = rng.pick(&[
            ("end-user", json!({"exact": "jason"})),
            ("end-user", json!({"prefix": "ja"})),
            ("end-user", json!({"regex": "(jason|mary)"})),
            ("end-user", json!({})),
            ("x-canary", json!({})),
            ("x-canary", json!({"exact": "true"})),
        ]);
        block["headers"] = json!({name: condition});
    }
    if rng.chance(15) {
        let (name, condition) = rng.pick(&[
            ("end-user", json!({"exact": "jason"})),
            ("x-debug", json!({})),
            ("x-env", json!({"regex": "prod.*"})),
            ("x-env", json!({"prefix": "st"})),
        ]);
        block["withoutHeaders"] = json!({name: condition});
    }
    if rng.chance(20) {
        let (name, condition) = rng.pick(&[
            ("v", json!({"exact": "1"})),
            ("v", json!({"prefix": "1"})),
            ("v", json!({"regex": "[0-9]+"})),
            ("v", json!({"exact": "a%20b"})),
            ("debug", json!({})),
        ]);
        block["queryParams"] = json!({name: condition});
    }
    if rng.chance(10) {
        block["authority"] = rng.pick(&[
            json!({"exact": "shop.example.com"}),
            json!({"prefix": "api."}),
            json!({"regex": ".*\\.example\\.com(:[0-9]+)?"}),
        ]);
    }
    if rng.chance(8) {
        block["scheme"] = rng.pick(&[json!({"exact": "http"}), json!({"exact": "https"})]);
    }
    // Only on exact-path blocks: Istio drops a block for another port when it builds the
    // routes, so a port-qualified catch-all would move to the end of its virtual host on one
    // port only, which a module serving every port cannot know (see the README).
    if exact_uri && rng.chance(25) {
        block["port"] = json!(if rng.chance(50) { listen_port } else { 1 });
    }
    block
}

fn generate_rewrite(rng: &mut Rng) -> Value {
    let mut rewrite = json!({});
    match rng.below(3) {
        0 => rewrite["uri"] = json!(rng.pick(&["/", "/v2/", "/new", "/api/"])),
        1 => {
            let (pattern, substitution) = rng.pick(&[
                ("^/api/(.*)$", "/\\1"),
                ("([a-z]+)", "x"),
                ("^/([^/]*)/(.*)$", "/\\2/\\1"),
            ]);
            rewrite["uriRegexRewrite"] = json!({"match": pattern, "rewrite": substitution});
        }
        _ => {}
    }
    if rewrite.as_object().is_some_and(|fields| fields.is_empty()) || rng.chance(30) {
        rewrite["authority"] = json!("rewritten.example.com");
    }
    rewrite
}

fn generate_redirect(rng: &mut Rng) -> Value {
    let mut redirect = json!({});
    if rng.chance(50) {
        redirect["uri"] = json!(rng.pick(&["/moved", "/new?x=1", "/login"]));
    }
    if rng.chance(40) {
        redirect["authority"] = json!("moved.example.com");
    }
    if rng.chance(25) {
        redirect["scheme"] = json!(rng.pick(&["https", "http"]));
    }
    match rng.below(10) {
        0 | 1 => redirect["port"] = json!(rng.pick(&[8443, 80, 443])),
        2 => redirect["derivePort"] = json!("FROM_REQUEST_PORT"),
        3 => redirect["derivePort"] = json!("FROM_PROTOCOL_DEFAULT"),
        _ => {}
    }
    if redirect.as_object().is_some_and(|fields| fields.is_empty()) {
        redirect["uri"] = json!("/moved");
    }
    if rng.chance(40) {
        redirect["redirectCode"] = json!(rng.pick(&[301, 302, 303, 307, 308]));
    }
    redirect
}

/// One generated request.
#[derive(Debug, Clone)]
struct Probe {
    method: &'static str,
    host: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
}

fn generate_probe(rng: &mut Rng) -> Probe {
    let mut headers = Vec::new();
    if rng.chance(40) {
        headers.push(("end-user", rng.pick(&["jason", "mary", "", "jason2"])));
        if rng.chance(10) {
            headers.push(("end-user", "mary"));
        }
    }
    if rng.chance(20) {
        headers.push(("x-canary", rng.pick(&["true", "", "false"])));
    }
    if rng.chance(20) {
        headers.push(("x-env", rng.pick(&["prod", "production", "staging"])));
    }
    if rng.chance(10) {
        headers.push(("x-debug", "1"));
    }
    if rng.chance(10) {
        headers.push(("x-forwarded-proto", "https"));
    }
    // What a route's request `set`/`add`/`remove` of `x-req-tag` acts on.
    if rng.chance(20) {
        headers.push(("x-req-tag", "client"));
    }
    let preflight = rng.chance(6);
    if preflight || rng.chance(12) {
        headers.push(("origin", rng.pick(&ORIGINS)));
    }
    if preflight {
        headers.push(("access-control-request-method", "POST"));
    }
    let method = if preflight {
        "OPTIONS"
    } else {
        rng.pick(&["GET", "GET", "GET", "POST", "PUT"])
    };
    Probe {
        method,
        host: rng.pick(&REQUEST_HOSTS),
        path: format!("{}{}", rng.pick(&PATHS), rng.pick(&QUERIES)),
        headers,
    }
}

/// What a listener made of a request, in the terms both sides must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Forwarded {
        status: u16,
        cluster: String,
        path: String,
        authority: String,
        allow_origin: Option<String>,
        /// The route's response headers, as [`route_headers`] reads them.
        headers: Vec<(&'static str, Vec<String>)>,
        /// Every `x-req-tag` the upstream received, in order.
        request_tag: Vec<String>,
    },
    Answered {
        status: u16,
        location: Option<String>,
        body: String,
        allow_origin: Option<String>,
        headers: Vec<(&'static str, Vec<String>)>,
    },
}

/// The response headers generated routes set, add and remove, each with all its values in
/// order.
const ROUTE_RESPONSE_HEADERS: [&str; 2] = ["x-route-tag", "strict-transport-security"];

fn route_headers(response: &Response) -> Vec<(&'static str, Vec<String>)> {
    ROUTE_RESPONSE_HEADERS
        .iter()
        .map(|name| {
            let values = response.header_all(name).into_iter().map(str::to_owned);
            (*name, values.collect())
        })
        .collect()
}

impl Outcome {
    /// `listen_port` is written `PORT` in locations: derived redirect ports are the listener's.
    fn of(response: &Response, listen_port: u16) -> Self {
        let allow_origin = response
            .header("access-control-allow-origin")
            .map(str::to_owned);
        match response.json::<Echo>() {
            Ok(echo) => Outcome::Forwarded {
                request_tag: echo
                    .header_all("x-req-tag")
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                status: response.status,
                cluster: echo.upstream,
                path: echo.path,
                authority: echo.authority,
                allow_origin,
                headers: route_headers(response),
            },
            Err(_) => Outcome::Answered {
                status: response.status,
                location: response
                    .header("location")
                    .map(|location| location.replace(&format!(":{listen_port}"), ":PORT")),
                body: response.text(),
                allow_origin,
                headers: route_headers(response),
            },
        }
    }

    /// Whether a route's `headers` showed: a response header it sets, or an `x-req-tag` the
    /// client did not send.
    fn shows_route_headers(&self) -> bool {
        let (headers, request_tag) = match self {
            Outcome::Forwarded {
                headers,
                request_tag,
                ..
            } => (headers, request_tag.as_slice()),
            Outcome::Answered { headers, .. } => (headers, &[][..]),
        };
        headers.iter().any(|(_, values)| !values.is_empty())
            || request_tag.iter().any(|tag| tag != "client")
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::Forwarded { .. } => "forwarded",
            Outcome::Answered { status: 404, .. } => "not found",
            Outcome::Answered {
                location: Some(_), ..
            } => "redirected",
            Outcome::Answered { .. } => "answered",
        }
    }
}

/// Every cluster a generated destination can name, as the router computes it.
fn all_clusters() -> Vec<String> {
    let mut clusters = Vec::new();
    for namespace in NAMESPACES {
        for host in DESTINATION_HOSTS {
            for subset in SUBSETS {
                for port in DESTINATION_PORTS {
                    let fqdn = fully_qualified_host(host, namespace, "svc.cluster.local");
                    let name = cluster_name(port.unwrap_or(DEFAULT_PORT), subset, &fqdn);
                    if !clusters.contains(&name) {
                        clusters.push(name);
                    }
                }
            }
        }
    }
    clusters
}

/// Free loopback ports, learnt before Envoy starts: `port` matches and derived redirects
/// name the listener's port, so it must be in the config.
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    // All bound at once, so they are distinct; released when this returns.
    let sockets = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    sockets
        .iter()
        .map(|socket| socket.local_addr().map(|addr| addr.port()))
        .collect()
}

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

struct Side {
    listener: String,
    port: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_module_routes_as_istios_native_routes() -> TestResult {
    let mut upstreams = Vec::new();
    let mut bootstrap = Bootstrap::new();
    for cluster in all_clusters() {
        let upstream = Upstream::start(cluster.clone(), UpstreamOptions::default()).await?;
        bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
        upstreams.push(upstream);
    }
    let ports = free_ports(2 * CONFIGS)?;
    let router = wasm_module("router")?;
    let mut pairs = Vec::new();
    let mut configs = Vec::new();
    for index in 0..CONFIGS {
        let seed = seed().wrapping_add(index as u64);
        let (module_port, native_port) = (ports[2 * index], ports[2 * index + 1]);
        let module_config = generate_config(seed, module_port);
        let native_config = generate_config(seed, native_port);
        let parsed = RouterConfig::from_json(native_config.to_string().as_bytes())
            .map_err(|e| format!("generated config {index}: {e}"))?;
        let routes = istio_routes::route_configuration(&parsed, native_port)
            .map_err(|e| format!("istio_routes for config {index}: {e}"))?;
        let module = Side {
            listener: format!("module-{index}"),
            port: module_port,
        };
        let native = Side {
            listener: format!("native-{index}"),
            port: native_port,
        };
        bootstrap = bootstrap.listener(
            Listener::for_router(&module.listener)
                .port(module.port)
                .filter(WasmFilter::new(
                    "router",
                    &router,
                    module_config.to_string(),
                )),
        );
        let mut native_listener =
            Listener::new(&native.listener, RouteConfig(routes)).port(native.port);
        for filter in istio_routes::http_filters() {
            native_listener = native_listener.filter(HttpFilter::Raw(filter));
        }
        bootstrap = bootstrap.listener(native_listener);
        configs.push(module_config);
        pairs.push((module, native));
    }
    let envoy = Envoy::start(&bootstrap).await?;

    let mut rng = Rng(seed() ^ 0xFFFF);
    let mut work: Vec<(usize, Probe)> = Vec::new();
    for config in 0..CONFIGS {
        for _ in 0..REQUESTS_PER_CONFIG {
            work.push((config, generate_probe(&mut rng)));
        }
    }
    let pairs = Arc::new(pairs);
    let chunk = work.len().div_ceil(CONCURRENCY);
    let mut tasks = tokio::task::JoinSet::new();
    for part in work.chunks(chunk).map(<[_]>::to_vec) {
        let pairs = Arc::clone(&pairs);
        tasks.spawn(async move {
            let client = Client::http1();
            let mut results = Vec::new();
            for (config, probe) in part {
                let (module, native) = &pairs[config];
                let mut outcomes = Vec::new();
                for side in [module, native] {
                    let mut request = client
                        .request(
                            probe.method,
                            format!("http://127.0.0.1:{}{}", side.port, probe.path),
                        )
                        .header("host", probe.host);
                    for (name, value) in &probe.headers {
                        request = request.header(*name, *value);
                    }
                    outcomes.push(Outcome::of(&request.send().await?, side.port));
                }
                results.push((config, probe, outcomes));
            }
            Ok::<_, envoy_test::HarnessError>(results)
        });
    }
    let mut divergences = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut with_headers: BTreeMap<&str, usize> = BTreeMap::new();
    let mut compared = 0;
    while let Some(joined) = tasks.join_next().await {
        let results = joined??;
        for (config, probe, outcomes) in results {
            compared += 1;
            *kinds.entry(outcomes[1].kind()).or_default() += 1;
            if outcomes[1].shows_route_headers() {
                *with_headers.entry(outcomes[1].kind()).or_default() += 1;
            }
            if outcomes[0] != outcomes[1] {
                divergences.push(format!(
                    "config {config}: {probe:?}\n  module: {:?}\n  native: {:?}",
                    outcomes[0], outcomes[1]
                ));
            }
        }
    }
    eprintln!(
        "seed {}: {compared} requests compared per listener; outcomes: {kinds:?}; \
         of them with route headers: {with_headers:?}",
        seed()
    );
    if !divergences.is_empty() {
        for (index, config) in configs.iter().enumerate() {
            eprintln!("config {index}: {config}");
        }
        panic!(
            "{} of {compared} requests diverged; first ones:\n{}",
            divergences.len(),
            divergences
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The comparison means something only if every kind of outcome occurred often.
    for kind in ["forwarded", "not found", "redirected", "answered"] {
        let count = kinds.get(kind).copied().unwrap_or(0);
        assert!(count >= 100, "only {count} requests were {kind}: {kinds:?}");
    }
    // Route headers must show on forwarded requests, redirects and direct responses alike.
    for kind in ["forwarded", "redirected", "answered"] {
        let count = with_headers.get(kind).copied().unwrap_or(0);
        assert!(
            count >= 10,
            "only {count} {kind} requests showed route headers: {with_headers:?}"
        );
    }
    drop(envoy);
    drop(upstreams);
    Ok(())
}

//! The header module inside a real Envoy: request and response operations, templates over
//! Envoy's attributes, status-class rules, local replies, routing interplay, config errors,
//! and agreement with Envoy's native `header_mutation` on the same ten rules.

use envoy_test::{
    native_header_mutation_ten_rules, wasm_module, Bootstrap, Client, Cluster, Echo, Envoy,
    HttpFilter, Listener, Response, Result, RouteConfig, Upstream, UpstreamOptions, WasmFilter,
    HEADERS_TEN_RULES,
};
use serde_json::json;

/// Routes: `/api/ok` → `backend` (200), `/api/fail` → `failing` (503), `/direct` → Envoy's
/// own 503 direct response; anything else has no route (404 `route_not_found`).
fn routes() -> RouteConfig {
    RouteConfig(json!({
        "virtual_hosts": [{
            "name": "all",
            "domains": ["*"],
            "routes": [
                {"name": "ok-route", "match": {"prefix": "/api/ok"}, "route": {"cluster": "backend"}},
                {"name": "fail-route", "match": {"prefix": "/api/fail"}, "route": {"cluster": "failing"}},
                {"name": "direct-route", "match": {"prefix": "/direct"},
                 "direct_response": {"status": 503, "body": {"inline_string": "down"}}},
            ],
        }],
    }))
}

fn headers_filter(config: &str) -> Result<WasmFilter> {
    Ok(WasmFilter::new("headers", wasm_module("headers")?, config))
}

/// Envoy's fault filter aborting with 503 the requests that carry `x-fault`.
fn fault_filter() -> HttpFilter {
    HttpFilter::Raw(json!({
        "name": "envoy.filters.http.fault",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "abort": {"http_status": 503, "percentage": {"numerator": 100}},
            "headers": [{"name": "x-fault", "present_match": true}],
        },
    }))
}

/// Envoy in front of a 200 `backend` and a 503 `failing` echo upstream.
struct Gateway {
    envoy: Envoy,
    _upstreams: Vec<Upstream>,
}

impl Gateway {
    async fn start(listeners: Vec<Listener>) -> Result<Self> {
        let backend = Upstream::start(
            "backend",
            UpstreamOptions {
                response_headers: vec![
                    ("x-powered-by".into(), "php".into()),
                    ("x-frame-options".into(), "SAMEORIGIN".into()),
                    ("x-upstream-multi".into(), "a".into()),
                    ("x-upstream-multi".into(), "b".into()),
                ],
                ..UpstreamOptions::default()
            },
        )
        .await?;
        let failing = Upstream::start(
            "failing",
            UpstreamOptions {
                status: 503,
                ..UpstreamOptions::default()
            },
        )
        .await?;
        let mut bootstrap = Bootstrap::new()
            .cluster(Cluster::new("backend", [backend.addr()]))
            .cluster(Cluster::new("failing", [failing.addr()]));
        for listener in listeners {
            bootstrap = bootstrap.listener(listener);
        }
        Ok(Self {
            envoy: Envoy::start(&bootstrap).await?,
            _upstreams: vec![backend, failing],
        })
    }

    /// One listener with the header module configured with `config` before the router.
    async fn with_config(config: &str) -> Result<Self> {
        Self::start(vec![
            Listener::new("gateway", routes()).filter(headers_filter(config)?)
        ])
        .await
    }

    fn url(&self, path: &str) -> Result<String> {
        self.listener_url("gateway", path)
    }

    fn listener_url(&self, listener: &str, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.envoy.listener_url(listener)?))
    }
}

fn clients() -> [(&'static str, Client); 2] {
    [("HTTP/1.1", Client::http1()), ("HTTP/2", Client::http2())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_operations_reach_the_upstream() -> Result<()> {
    let config = r#"{"rules": [{"request": {
        "set": {"x-multi": "one", "x-literal": "100%% sure"},
        "add": {"x-list": "appended", "x-new": "n"},
        "remove": ["x-debug", "x-internal-*"]
    }}]}"#;
    let gateway = Gateway::with_config(config).await?;
    for (protocol, client) in clients() {
        let response = client
            .get(gateway.url("/api/ok")?)
            .header("x-multi", "1")
            .header("x-multi", "2")
            .header("x-list", "first")
            .header("x-debug", "on")
            .header("x-internal-token", "secret")
            .header("x-internal-user", "root")
            .header("x-internalx", "kept")
            .send()
            .await?;
        assert_eq!(response.status, 200, "{protocol}: {}", response.text());
        let echo: Echo = response.json()?;
        assert_eq!(echo.header_all("x-multi"), ["one"], "{protocol}");
        assert_eq!(echo.header("x-literal"), Some("100% sure"), "{protocol}");
        assert_eq!(
            echo.header_all("x-list"),
            ["first", "appended"],
            "{protocol}"
        );
        assert_eq!(echo.header_all("x-new"), ["n"], "{protocol}");
        assert_eq!(echo.header("x-debug"), None, "{protocol}");
        assert_eq!(echo.header("x-internal-token"), None, "{protocol}");
        assert_eq!(echo.header("x-internal-user"), None, "{protocol}");
        assert_eq!(echo.header("x-internalx"), Some("kept"), "{protocol}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_read_request_headers_and_envoy_attributes() -> Result<()> {
    let config = r#"{"rules": [{"request": {"set": {
        "x-user-copy": "%REQ(x-user)%",
        "x-user-or-anon": "%REQ(x-absent?x-fallback)%",
        "x-short": "%REQ(x-user):3%",
        "x-client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
        "x-client-full": "%DOWNSTREAM_REMOTE_ADDRESS%",
        "x-rid": "%REQUEST_ID%",
        "x-route": "%ROUTE_NAME%",
        "x-cluster": "%UPSTREAM_CLUSTER%",
        "x-start": "%START_TIME%",
        "x-nothing": "%REQ(x-absent)%"
    }}}]}"#;
    let gateway = Gateway::with_config(config).await?;
    for (protocol, client) in clients() {
        let before = std::time::SystemTime::now();
        let response = client
            .get(gateway.url("/api/ok")?)
            .header("x-user", "jason")
            .header("x-fallback", "anonymous")
            .send()
            .await?;
        let echo: Echo = response.json()?;
        assert_eq!(echo.header("x-user-copy"), Some("jason"), "{protocol}");
        assert_eq!(
            echo.header("x-user-or-anon"),
            Some("anonymous"),
            "{protocol}"
        );
        assert_eq!(echo.header("x-short"), Some("jas"), "{protocol}");
        assert_eq!(echo.header("x-client"), Some("127.0.0.1"), "{protocol}");
        let full = echo.header("x-client-full").unwrap_or_default();
        assert!(full.starts_with("127.0.0.1:"), "{protocol}: {full}");
        let request_id = echo.header("x-request-id");
        assert!(
            request_id.is_some_and(|id| id.len() == 36),
            "{protocol}: {request_id:?}"
        );
        assert_eq!(echo.header("x-rid"), request_id, "{protocol}");
        assert_eq!(echo.header("x-route"), Some("ok-route"), "{protocol}");
        assert_eq!(echo.header("x-cluster"), Some("backend"), "{protocol}");
        let start = echo.header("x-start").unwrap_or_default();
        assert_start_time_near(start, before);
        assert_eq!(
            echo.header("x-nothing"),
            None,
            "{protocol}: empty values are not written"
        );
    }
    Ok(())
}

/// `start` is `YYYY-MM-DDTHH:MM:SS.mmmZ` and within a minute of `before`.
fn assert_start_time_near(start: &str, before: std::time::SystemTime) {
    let shape = start.len() == 24
        && start.ends_with('Z')
        && start.as_bytes()[10] == b'T'
        && start.as_bytes()[19] == b'.';
    assert!(shape, "START_TIME {start:?}");
    let since_epoch = before
        .duration_since(std::time::UNIX_EPOCH)
        .map(|duration| duration.as_secs())
        .unwrap_or_default();
    // Days since the epoch from the rendered date must equal today's (or tomorrow's at midnight).
    let date = &start[..10];
    let today = since_epoch / 86_400;
    let rendered_days = days_from_civil(date);
    assert!(
        rendered_days == Some(today) || rendered_days == Some(today + 1),
        "START_TIME {start} is not today (day {today})"
    );
}

fn days_from_civil(date: &str) -> Option<u64> {
    let mut fields = date.split('-').map(|field| field.parse::<i64>().ok());
    let (year, month, day) = (fields.next()??, fields.next()??, fields.next()??);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    u64::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

const RESPONSE_RULES: &str = r#"{"rules": [
    {"response": {"set": {"x-frame-options": "DENY", "strict-transport-security": "max-age=31536000"},
                  "add": {"x-upstream-multi": "c", "x-request-id-echo": "%REQ(x-request-id)%"},
                  "remove": ["x-powered-by"]}},
    {"responseStatus": ["5xx"], "response": {"set": {"cache-control": "no-store"}}},
    {"responseStatus": [404], "response": {"set": {"x-not-found": "%REQ(:path)%"}}},
    {"responseStatus": ["2xx"], "response": {"set": {"x-ok": "yes", "x-served": "%RESP(x-upstream-multi)%"}}}
]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_operations_and_status_classes() -> Result<()> {
    let gateway = Gateway::with_config(RESPONSE_RULES).await?;
    for (protocol, client) in clients() {
        let ok = client.get(gateway.url("/api/ok")?).send().await?;
        assert_eq!(ok.status, 200, "{protocol}");
        assert_eq!(ok.header_all("x-frame-options"), ["DENY"], "{protocol}");
        assert_eq!(
            ok.header("strict-transport-security"),
            Some("max-age=31536000")
        );
        assert_eq!(ok.header("x-powered-by"), None, "{protocol}");
        assert_eq!(
            ok.header_all("x-upstream-multi"),
            ["a", "b", "c"],
            "{protocol}"
        );
        let echo: Echo = ok.json()?;
        assert_eq!(ok.header("x-request-id-echo"), echo.header("x-request-id"));
        assert_eq!(ok.header("x-ok"), Some("yes"), "{protocol}");
        // The first value, read before this response's own edits, as Envoy's %RESP(...)%.
        assert_eq!(ok.header("x-served"), Some("a"), "{protocol}");
        assert_eq!(ok.header("cache-control"), None, "{protocol}");

        let failed = client.get(gateway.url("/api/fail")?).send().await?;
        assert_eq!(failed.status, 503, "{protocol}");
        assert_eq!(
            failed.header("cache-control"),
            Some("no-store"),
            "{protocol}"
        );
        assert_eq!(failed.header("x-ok"), None, "{protocol}");
        assert_eq!(failed.header("x-frame-options"), Some("DENY"), "{protocol}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_replies_get_response_headers() -> Result<()> {
    let gateway = Gateway::start(vec![
        // The fault filter before the module.
        Listener::new("fault-first", routes())
            .filter(fault_filter())
            .filter(headers_filter(RESPONSE_RULES)?),
        // The fault filter after the module.
        Listener::new("module-first", routes())
            .filter(headers_filter(RESPONSE_RULES)?)
            .filter(fault_filter()),
    ])
    .await?;
    for (protocol, client) in clients() {
        for listener in ["fault-first", "module-first"] {
            let context = format!("{protocol} {listener}");
            // Envoy's own 404 route_not_found.
            let missing = client
                .get(gateway.listener_url(listener, "/nothing")?)
                .send()
                .await?;
            assert_eq!(missing.status, 404, "{context}");
            assert_eq!(missing.header("x-not-found"), Some("/nothing"), "{context}");
            assert_eq!(missing.header("x-frame-options"), Some("DENY"), "{context}");
            // A route's direct_response.
            let direct = client
                .get(gateway.listener_url(listener, "/direct")?)
                .send()
                .await?;
            assert_eq!(direct.status, 503, "{context}");
            assert_eq!(direct.text(), "down");
            assert_eq!(
                direct.header("cache-control"),
                Some("no-store"),
                "{context}"
            );
            // A fault abort from another filter: Envoy passes a local reply only through the
            // filters before the one that sent it, so only "module-first" decorates it.
            let aborted = client
                .get(gateway.listener_url(listener, "/api/ok")?)
                .header("x-fault", "1")
                .send()
                .await?;
            assert_eq!(aborted.status, 503, "{context}: {}", aborted.text());
            assert_eq!(aborted.text(), "fault filter abort", "{context}");
            let (cache_control, frame_options) = match listener {
                "module-first" => (Some("no-store"), Some("DENY")),
                _ => (None, None),
            };
            assert_eq!(aborted.header("cache-control"), cache_control, "{context}");
            assert_eq!(
                aborted.header("x-frame-options"),
                frame_options,
                "{context}"
            );
        }
    }
    Ok(())
}

/// A request and the headers the match rules should have set on it.
struct MatchCase {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    tier: Option<&'static str>,
    untrusted: Option<&'static str>,
}

impl MatchCase {
    fn new(
        method: &'static str,
        path: &'static str,
        headers: &'static [(&'static str, &'static str)],
        tier: Option<&'static str>,
        untrusted: Option<&'static str>,
    ) -> Self {
        Self {
            method,
            path,
            headers,
            tier,
            untrusted,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_matches_pick_rules_and_are_remembered_for_the_response() -> Result<()> {
    let config = r#"{"rules": [
        {"match": [{"uri": {"prefix": "/legacy/"}}],
         "request": {"set": {":path": "/api/ok/v2"}},
         "response": {"set": {"x-rewritten-from": "legacy"}}},
        {"match": [{"headers": {"x-user": {"exact": "jason"}}}, {"queryParams": {"beta": {}}}],
         "request": {"set": {"x-tier": "beta"}}},
        {"match": [{"method": {"exact": "POST"}, "withoutHeaders": {"x-trusted": {}}}],
         "request": {"set": {"x-untrusted-post": "1"}}}
    ]}"#;
    let gateway = Gateway::with_config(config).await?;
    for (protocol, client) in clients() {
        // Rewritten to a routed path: Envoy re-picks the route (else this would be a 404), and
        // the response rule still applies although the request no longer matches /legacy/.
        let response = client.get(gateway.url("/legacy/items")?).send().await?;
        assert_eq!(response.status, 200, "{protocol}");
        assert_eq!(response.json::<Echo>()?.path, "/api/ok/v2", "{protocol}");
        assert_eq!(
            response.header("x-rewritten-from"),
            Some("legacy"),
            "{protocol}"
        );

        let cases = [
            MatchCase::new("GET", "/api/ok", &[("x-user", "jason")], Some("beta"), None),
            MatchCase::new("GET", "/api/ok?beta", &[], Some("beta"), None),
            MatchCase::new("GET", "/api/ok", &[("x-user", "mary")], None, None),
            MatchCase::new("POST", "/api/ok", &[], None, Some("1")),
            MatchCase::new("POST", "/api/ok", &[("x-trusted", "1")], None, None),
        ];
        for MatchCase {
            method,
            path,
            headers,
            tier,
            untrusted,
        } in cases
        {
            let mut request = client.request(method, gateway.url(path)?);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let echo: Echo = request.send().await?.json()?;
            let context = format!("{protocol} {method} {path} {headers:?}");
            assert_eq!(echo.header("x-tier"), tier, "{context}");
            assert_eq!(echo.header("x-untrusted-post"), untrusted, "{context}");
            assert_eq!(echo.header("x-rewritten-from"), None, "{context}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_are_set_and_removed() -> Result<()> {
    let config = r#"{"rules": [{"request": {"queryParams": {
        "set": {"page": "1", "user": "%REQ(x-user)%"},
        "remove": ["debug"]
    }}}]}"#;
    let gateway = Gateway::with_config(config).await?;
    for (protocol, client) in clients() {
        let echo: Echo = client
            .get(gateway.url("/api/ok?debug=1&page=7&q=a%20b&page=8&debug")?)
            .header("x-user", "Jason & co")
            .send()
            .await?
            .json()?;
        assert_eq!(
            echo.path, "/api/ok?page=1&q=a%20b&user=Jason%20%26%20co",
            "{protocol}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_rewrites_re_pick_the_virtual_host() -> Result<()> {
    let config = r#"{"rules": [{"match": [{"authority": {"exact": "old.example.com"}}],
        "request": {"set": {":authority": "new.example.com"}}}]}"#;
    let routes = RouteConfig(json!({"virtual_hosts": [
        {"name": "new", "domains": ["new.example.com"],
         "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]},
    ]}));
    let gateway = Gateway::start(vec![
        Listener::new("gateway", routes).filter(headers_filter(config)?)
    ])
    .await?;
    // Only HTTP/1.1 lets the test client send an authority other than the address it dials.
    for (protocol, client) in [("HTTP/1.1", Client::http1())] {
        let response = client
            .get(gateway.url("/x")?)
            .header("host", "old.example.com")
            .send()
            .await?;
        assert_eq!(response.status, 200, "{protocol}");
        assert_eq!(
            response.json::<Echo>()?.authority,
            "new.example.com",
            "{protocol}"
        );
        let other = client
            .get(gateway.url("/x")?)
            .header("host", "other.example.com")
            .send()
            .await?;
        assert_eq!(other.status, 404, "{protocol}");
    }
    Ok(())
}

/// The router's VirtualService sends `end-user: jason` to v2 and everyone else to v1.
const ROUTER_CONFIG: &str = r#"{"hosts": ["*"], "http": [
    {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
     "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
    {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
]}"#;
const REVIEWS_V1: &str = "outbound|80|v1|reviews.default.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|80|v2|reviews.default.svc.cluster.local";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_order_decides_whether_a_header_steers_the_router() -> Result<()> {
    let rule = r#"{"rules": [{"match": [{"headers": {"x-beta-cookie": {}}}],
        "request": {"set": {"end-user": "jason"}},
        "response": {"set": {"x-cluster": "%UPSTREAM_CLUSTER%"}}}]}"#;
    let router = || -> Result<WasmFilter> {
        Ok(WasmFilter::new(
            "router",
            wasm_module("router")?,
            ROUTER_CONFIG,
        ))
    };
    let v1 = Upstream::start(REVIEWS_V1, UpstreamOptions::default()).await?;
    let v2 = Upstream::start(REVIEWS_V2, UpstreamOptions::default()).await?;
    let bootstrap = Bootstrap::new()
        .listener(
            Listener::new("headers-first", RouteConfig::for_router())
                .filter(headers_filter(rule)?)
                .filter(router()?),
        )
        .listener(
            Listener::new("router-first", RouteConfig::for_router())
                .filter(router()?)
                .filter(headers_filter(rule)?),
        )
        .cluster(Cluster::new(REVIEWS_V1, [v1.addr()]))
        .cluster(Cluster::new(REVIEWS_V2, [v2.addr()]));
    let envoy = Envoy::start(&bootstrap).await?;
    for (listener, expected) in [("headers-first", REVIEWS_V2), ("router-first", REVIEWS_V1)] {
        let response = Client::http1()
            .get(format!("{}/reviews", envoy.listener_url(listener)?))
            .header("x-beta-cookie", "1")
            .send()
            .await?;
        assert_eq!(response.header("x-cluster"), Some(expected), "{listener}");
        let echo: Echo = response.json()?;
        assert_eq!(echo.upstream, expected, "{listener}");
        // Either way the upstream sees the header the rule set.
        assert_eq!(echo.header("end-user"), Some("jason"), "{listener}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_and_native_header_mutation_agree_on_the_ten_benchmark_rules() -> Result<()> {
    let gateway = Gateway::start(vec![
        Listener::new("module", routes()).filter(headers_filter(HEADERS_TEN_RULES)?),
        Listener::new("native", routes()).filter(native_header_mutation_ten_rules()),
    ])
    .await?;
    let request_headers = [
        "x-gateway",
        "x-forwarded-client",
        "x-internal-secret",
        "x-legacy-user",
        "x-tags",
        "x-user",
    ];
    let response_headers = [
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "x-powered-by",
        "x-upstream-multi",
    ];
    let user_variants: [&[&str]; 3] = [&["jason"], &[], &["a", "b"]];
    for (protocol, client) in clients() {
        for users in user_variants {
            let send = |listener: &'static str| {
                let mut request = client
                    .get(
                        gateway
                            .listener_url(listener, "/api/ok")
                            .unwrap_or_default(),
                    )
                    .header("x-gateway", "spoofed")
                    .header("x-internal-secret", "s3cr3t")
                    .header("x-tags", "client");
                for user in users {
                    request = request.header("x-user", *user);
                }
                request.send()
            };
            let module = send("module").await?;
            let native = send("native").await?;
            let context = format!("{protocol} x-user {users:?}");
            assert_eq!(module.status, native.status, "{context}");
            let (module_echo, native_echo): (Echo, Echo) = (module.json()?, native.json()?);
            for name in request_headers {
                assert_eq!(
                    module_echo.header_all(name),
                    native_echo.header_all(name),
                    "{context}: request header {name}"
                );
            }
            for name in response_headers {
                assert_eq!(
                    module.header_all(name),
                    native.header_all(name),
                    "{context}: response header {name}"
                );
            }
            assert_request_id_echoed(&module, &module_echo, &context);
            assert_request_id_echoed(&native, &native_echo, &context);
        }
    }
    Ok(())
}

fn assert_request_id_echoed(response: &Response, echo: &Echo, context: &str) {
    assert_eq!(
        response.header_all("x-request-id-echo"),
        echo.header_all("x-request-id"),
        "{context}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configs_are_refused_naming_the_field() -> Result<()> {
    let cases = [
        (
            r#"{"rules": [{"request": {"set": {"x-ok": "1", "bad header": "v"}}}]}"#,
            r#"rules[0].request.set.bad header: "bad header" is not a valid header name"#,
        ),
        (
            r#"{"rules": [{"response": {"add": {"x-a": "v\r\nset-cookie: evil"}}}]}"#,
            r#"rules[0].response.add.x-a: header values must not contain CR (\r)"#,
        ),
        (
            r#"{"rules": [{"request": {"add": {"x-a": "v\u0000"}}}]}"#,
            r#"rules[0].request.add.x-a: header values must not contain NUL (\0)"#,
        ),
        (
            r#"{"rules": [{"request": {"set": {":method": "DELETE"}}}]}"#,
            "rules[0].request.set.:method: :method is a pseudo-header: only :authority and :path can be changed",
        ),
        (
            r#"{"rules": [{"response": {"remove": ["server"]}}, {"request": {"set": {"x-id": "%REQUESTID%"}}}]}"#,
            "rules[1].request.set.x-id: unknown operator %REQUESTID%",
        ),
        (
            r#"{"rules": [{"responseStatus": ["6xx"], "response": {"remove": ["server"]}}]}"#,
            r#"rules[0].responseStatus[0]: invalid status "6xx""#,
        ),
    ];
    for (config, expected) in cases {
        let bootstrap = Bootstrap::new()
            .listener(Listener::new("gateway", routes()).filter(headers_filter(config)?))
            .cluster(Cluster::new("backend", []))
            .cluster(Cluster::new("failing", []));
        let log = Envoy::start_expect_failure(&bootstrap).await?;
        let line = format!("headers: invalid plugin configuration: {expected}");
        assert!(log.contains(&line), "expected {line:?} in:\n{log}");
    }
    Ok(())
}

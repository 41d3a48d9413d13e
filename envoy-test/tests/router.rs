//! The router module inside a real Envoy: VirtualService matches choose Istio-named clusters.

// Test helpers, like the tests themselves, stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use engine::router::CLUSTER_HEADER;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, Listener, ListenerUpdate, Result,
    Upstream, UpstreamOptions, WasmFilter,
};

const PRODUCTPAGE: &str = "outbound|9080||productpage.default.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|9080|v2|reviews.default.svc.cluster.local";
const STATIC: &str = "outbound|80||static.default.svc.cluster.local";

const CONFIG: &str = r#"{
  "hosts": ["*"],
  "http": [
    {"name": "productpage", "match": [{"uri": {"exact": "/productpage"}}],
     "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
    {"name": "reviews", "match": [{"uri": {"regex": "/api/v[0-9]+/reviews(/.*)?"}}],
     "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
    {"name": "static", "match": [{"uri": {"prefix": "/static/"}}],
     "route": [{"destination": {"host": "static"}}]}
  ]
}"#;

/// Envoy with the router module in front of one echo upstream per cluster.
struct Gateway {
    envoy: Envoy,
    upstreams: Vec<Upstream>,
}

impl Gateway {
    /// The Bookinfo-like clusters, each with a default echo upstream.
    async fn start(config: &str) -> Result<Self> {
        let clusters =
            [PRODUCTPAGE, REVIEWS_V2, STATIC].map(|name| (name, UpstreamOptions::default()));
        Self::with_upstreams(config, clusters).await
    }

    async fn with_upstreams(
        config: &str,
        clusters: impl IntoIterator<Item = (&str, UpstreamOptions)>,
    ) -> Result<Self> {
        let mut bootstrap = Bootstrap::new().listener(router_listener(config)?);
        let mut upstreams = Vec::new();
        for (cluster, options) in clusters {
            let upstream = Upstream::start(cluster, options).await?;
            bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
            upstreams.push(upstream);
        }
        Ok(Self {
            envoy: Envoy::start(&bootstrap).await?,
            upstreams,
        })
    }

    fn upstream(&self, name: &str) -> &Upstream {
        self.upstreams
            .iter()
            .find(|upstream| upstream.name() == name)
            .expect("an upstream of that name")
    }

    fn url(&self, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.envoy.listener_url("gateway")?))
    }
}

fn router_listener(config: &str) -> Result<Listener> {
    Ok(Listener::for_router("gateway").filter(WasmFilter::new(
        "router",
        wasm_module("router")?,
        config,
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_prefix_and_regex_routes_reach_their_clusters() -> Result<()> {
    let gateway = Gateway::start(CONFIG).await?;
    let cases = [
        ("/productpage", PRODUCTPAGE),
        ("/productpage?u=normal", PRODUCTPAGE),
        ("/api/v1/reviews", REVIEWS_V2),
        ("/api/v12/reviews/0", REVIEWS_V2),
        ("/static/app.css", STATIC),
    ];
    for client in [Client::http1(), Client::http2()] {
        for (path, cluster) in cases {
            let response = client.get(gateway.url(path)?).send().await?;
            assert_eq!(response.status, 200, "{path}");
            let echo: Echo = response.json()?;
            assert_eq!(echo.upstream, cluster, "{path}");
            assert_eq!(echo.path, path);
            assert_eq!(
                echo.header(CLUSTER_HEADER),
                None,
                "internal header leaked upstream"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_matches_nothing_gets_envoys_404() -> Result<()> {
    let gateway = Gateway::start(CONFIG).await?;
    // Regex is a full match and exact ignores nothing but the query: these must all miss.
    for path in [
        "/",
        "/productpage/",
        "/x/api/v1/reviews",
        "/api/vX/reviews",
        "/static",
    ] {
        let response = Client::http1().get(gateway.url(path)?).send().await?;
        assert_eq!(response.status, 404, "{path}");
        assert!(response.body.is_empty(), "{path}");
    }
    let stats = gateway.envoy.stats_prometheus().await?;
    assert!(
        stats.lines().any(|line| line
            .starts_with("envoy_http_no_route{envoy_http_conn_manager_prefix=\"gateway\"} 5")),
        "Envoy itself must count the five requests as route_not_found:\n{stats}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_supplied_routing_header_is_ignored() -> Result<()> {
    let gateway = Gateway::start(CONFIG).await?;
    let client = Client::http1();
    // Unmatched path: naming an existing cluster must not route it.
    let response = client
        .get(gateway.url("/nothing")?)
        .header(CLUSTER_HEADER, PRODUCTPAGE)
        .send()
        .await?;
    assert_eq!(response.status, 404);
    // Matched path: the module's choice wins over the client's.
    let response = client
        .get(gateway.url("/static/x")?)
        .header(CLUSTER_HEADER, PRODUCTPAGE)
        .header(CLUSTER_HEADER, REVIEWS_V2)
        .send()
        .await?;
    let echo: Echo = response.json()?;
    assert_eq!(echo.upstream, STATIC);
    assert_eq!(echo.header(CLUSTER_HEADER), None);
    Ok(())
}

/// The module guards `x-route-cluster` itself, without the early header mutation every
/// rendered gateway has (an Istio gateway whose `strip-route-headers` EnvoyFilter is missing):
/// on no route it removes a client's, so Envoy answers its own 404, and a forward overwrites it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_early_strip_the_module_still_owns_the_cluster_header() -> Result<()> {
    let mut upstreams = Vec::new();
    let mut bootstrap = Bootstrap::new().listener(
        Listener::new("gateway", envoy_test::RouteConfig::for_router())
            .upstream_filter(envoy_test::gateway_defaults::strip_route_authority())
            .filter(WasmFilter::new("router", wasm_module("router")?, CONFIG)),
    );
    for cluster in [PRODUCTPAGE, STATIC] {
        let upstream = Upstream::start(cluster, UpstreamOptions::default()).await?;
        bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
        upstreams.push(upstream);
    }
    let envoy = Envoy::start(&bootstrap).await?;
    for client in [Client::http1(), Client::http2()] {
        let unmatched = client
            .get(format!("{}/nothing", envoy.listener_url("gateway")?))
            .header(CLUSTER_HEADER, PRODUCTPAGE)
            .send()
            .await?;
        assert_eq!(unmatched.status, 404, "{}", unmatched.text());
        let matched = client
            .get(format!("{}/static/x", envoy.listener_url("gateway")?))
            .header(CLUSTER_HEADER, PRODUCTPAGE)
            .send()
            .await?;
        assert_eq!(matched.json::<Echo>()?.upstream, STATIC);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_with_an_empty_value_is_present() -> Result<()> {
    // Envoy hands the module an empty value as no buffer at all; read as absent, the
    // presence match below would miss and `withoutHeaders` would match.
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/present"}, "headers": {"x-canary": {}}}],
         "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
        {"match": [{"uri": {"prefix": "/exact"}, "headers": {"x-canary": {"exact": ""}}}],
         "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
        {"match": [{"withoutHeaders": {"x-canary": {}}}],
         "route": [{"destination": {"host": "static"}}]}
    ]}"#;
    let gateway = Gateway::start(config).await?;
    for client in [Client::http1(), Client::http2()] {
        for (path, canary, expected) in [
            ("/present", Some(""), Some(PRODUCTPAGE)),
            ("/exact", Some(""), Some(PRODUCTPAGE)),
            ("/present", None, Some(STATIC)),
            ("/other", Some(""), None),
        ] {
            let mut request = client.get(gateway.url(path)?);
            if let Some(value) = canary {
                request = request.header("x-canary", value);
            }
            let response = request.send().await?;
            match expected {
                Some(cluster) => {
                    assert_eq!(response.status, 200, "{path} {canary:?}");
                    assert_eq!(
                        response.json::<Echo>()?.upstream,
                        cluster,
                        "{path} {canary:?}"
                    );
                }
                None => assert_eq!(response.status, 404, "{path} {canary:?}"),
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_pick_the_virtual_service() -> Result<()> {
    let config = r#"{"virtualServices": [
            {"name": "shop", "spec": {"hosts": ["shop.example.com"],
              "http": [{"route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}},
            {"name": "rest", "spec": {"hosts": ["*.example.com"],
              "http": [{"route": [{"destination": {"host": "static"}}]}]}}
        ]}"#;
    let gateway = Gateway::start(config).await?;
    let client = Client::http1();
    for (host, expected) in [
        ("shop.example.com", Some(PRODUCTPAGE)),
        ("shop.example.com:8080", Some(PRODUCTPAGE)),
        ("blog.example.com", Some(STATIC)),
        ("example.org", None),
    ] {
        let response = client
            .get(gateway.url("/")?)
            .header("host", host)
            .send()
            .await?;
        match expected {
            Some(cluster) => assert_eq!(response.json::<Echo>()?.upstream, cluster, "{host}"),
            None => assert_eq!(response.status, 404, "{host}"),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_regex_makes_envoy_refuse_the_filter_naming_the_field() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"regex": "/(unclosed"}}], "route": [{"destination": {"host": "static"}}]}
    ]}"#;
    let bootstrap = Bootstrap::new().listener(router_listener(config)?);
    let log = Envoy::start_expect_failure(&bootstrap).await?;
    assert!(
        log.contains(
            "router: invalid plugin configuration: http[1].match[0].uri.regex: unclosed group"
        ),
        "{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_refused_with_its_path() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [{"match": [{"uri": {"exactly": "/"}}], "route": [{"destination": {"host": "static"}}]}]}"#;
    let bootstrap = Bootstrap::new().listener(router_listener(config)?);
    let log = Envoy::start_expect_failure(&bootstrap).await?;
    assert!(
        log.contains(
            "invalid plugin configuration: http[0].match[0].uri.exactly: unknown field `exactly`"
        ),
        "{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_way_weighted_split_follows_the_weights() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [{"route": [
        {"destination": {"host": "productpage", "port": {"number": 9080}}, "weight": 20},
        {"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}, "weight": 30},
        {"destination": {"host": "static"}, "weight": 50}]}]}"#;
    let gateway = Gateway::start(config).await?;
    let client = Client::http1();
    let url = gateway.url("/split")?;
    const REQUESTS: usize = 3_000;
    for _ in 0..REQUESTS {
        assert_eq!(client.get(&url).send().await?.status, 200);
    }
    for (cluster, expected_percent) in [(PRODUCTPAGE, 20.0), (REVIEWS_V2, 30.0), (STATIC, 50.0)] {
        let percent =
            100.0 * gateway.upstream(cluster).requests_received() as f64 / REQUESTS as f64;
        assert!(
            (percent - expected_percent).abs() <= 3.0,
            "{cluster}: {percent:.1}% instead of {expected_percent}% ± 3"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_change_path_and_authority_upstream() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/v1/"}}], "rewrite": {"uri": "/"},
         "route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"prefix": "/v2"}}], "rewrite": {"uri": "/", "authority": "internal.example"},
         "route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"exact": "/old"}}], "rewrite": {"uri": "/new"},
         "route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"prefix": "/shop/"}, "ignoreUriCase": true}],
         "rewrite": {"uri": "/store/"}, "route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"regex": "/users/[0-9]+"}}],
         "rewrite": {"uriRegexRewrite": {"match": "^/users/([0-9]+)$", "rewrite": "/profile/\\1"}},
         "route": [{"destination": {"host": "static"}}]}
    ]}"#;
    let gateway = Gateway::start(config).await?;
    let cases = [
        ("/v1/users?page=2", "/users?page=2", None),
        ("/v2/users", "//users", Some("internal.example")),
        ("/old?x=1", "/new?x=1", None),
        ("/SHOP/Cart", "/store/Cart", None),
        ("/users/42", "/profile/42", None),
    ];
    for client in [Client::http1(), Client::http2()] {
        for (path, upstream_path, authority) in cases {
            let echo: Echo = client.get(gateway.url(path)?).send().await?.json()?;
            assert_eq!(echo.path, upstream_path, "{path}");
            if let Some(authority) = authority {
                assert_eq!(echo.authority, authority, "{path}");
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_direct_responses_are_answered_by_the_gateway() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/old"}}], "redirect": {"uri": "/new"}},
        {"match": [{"uri": {"prefix": "/secure"}}],
         "redirect": {"scheme": "https", "derivePort": "FROM_REQUEST_PORT", "redirectCode": 308},
         "headers": {"response": {"set": {"strict-transport-security": "max-age=31536000"}}}},
        {"match": [{"uri": {"prefix": "/elsewhere"}}],
         "redirect": {"authority": "other.example", "port": 8443, "redirectCode": 302}},
        {"match": [{"uri": {"exact": "/health"}}], "directResponse": {"status": 200, "body": {"string": "ok"}},
         "headers": {"response": {"add": {"x-health": "%REQ(x-probe)%"}, "remove": ["x-none"]}}},
        {"match": [{"uri": {"exact": "/teapot"}}], "directResponse": {"status": 418, "body": {"bytes": "AAEC"}}}
    ]}"#;
    let gateway = Gateway::start(config).await?;
    let port = gateway.envoy.listener_port("gateway")?;
    let client = Client::http1();
    let response = client
        .get(gateway.url("/old/page?a=1")?)
        .header("host", "shop.example")
        .send()
        .await?;
    assert_eq!(response.status, 301);
    assert_eq!(
        response.header("location"),
        Some("http://shop.example/new?a=1")
    );
    let response = client
        .get(gateway.url("/secure/x")?)
        .header("host", "shop.example:1234")
        .send()
        .await?;
    assert_eq!(response.status, 308);
    let expected = format!("https://shop.example:{port}/secure/x");
    assert_eq!(response.header("location"), Some(expected.as_str()));
    // A route's response headers apply to its redirect, as Envoy applies them.
    assert_eq!(
        response.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let response = client.get(gateway.url("/elsewhere")?).send().await?;
    assert_eq!(response.status, 302);
    assert_eq!(
        response.header("location"),
        Some("http://other.example:8443/elsewhere")
    );
    let response = client
        .get(gateway.url("/health")?)
        .header("x-probe", "lb-7")
        .send()
        .await?;
    assert_eq!((response.status, response.text()), (200, "ok".to_owned()));
    assert_eq!(
        response.header("x-health"),
        Some("lb-7"),
        "and to its direct response"
    );
    let response = Client::http2().get(gateway.url("/teapot")?).send().await?;
    assert_eq!(
        (response.status, response.body.as_ref()),
        (418, [0u8, 1, 2].as_slice())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_enforces_the_route_timeout() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/slow"}}], "timeout": "200ms", "route": [{"destination": {"host": "static"}}]},
        {"route": [{"destination": {"host": "static"}}]}
    ]}"#;
    let slow = UpstreamOptions {
        delay: std::time::Duration::from_millis(700),
        ..UpstreamOptions::default()
    };
    let gateway = Gateway::with_upstreams(config, [(STATIC, slow)]).await?;
    let client = Client::http1();
    let response = client.get(gateway.url("/slow")?).send().await?;
    assert_eq!(response.status, 504, "{}", response.text());
    assert_eq!(response.text(), "upstream request timeout");
    // Without a timeout (Istio's default) the slow answer arrives, and a client cannot impose one.
    let response = client
        .get(gateway.url("/fast-enough")?)
        .header("x-envoy-upstream-rq-timeout-ms", "1")
        .send()
        .await?;
    assert_eq!(response.status, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_retries_as_the_route_says() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/default"}}], "route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"prefix": "/none"}}], "retries": {"attempts": 0},
         "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
        {"match": [{"uri": {"prefix": "/5xx"}}], "retries": {"attempts": 3, "retryOn": "5xx"},
         "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]}
    ]}"#;
    let failing_twice = || UpstreamOptions {
        fail_first: 2,
        ..UpstreamOptions::default()
    };
    let gateway = Gateway::with_upstreams(
        config,
        [
            (STATIC, failing_twice()),
            (PRODUCTPAGE, failing_twice()),
            (REVIEWS_V2, failing_twice()),
        ],
    )
    .await?;
    let client = Client::http1();
    // Istio's default policy: 2 retries on 503.
    assert_eq!(
        client.get(gateway.url("/default")?).send().await?.status,
        200
    );
    assert_eq!(gateway.upstream(STATIC).requests_received(), 3);
    // attempts: 0 — no retry, and a client asking for retries is not heard.
    let response = client
        .get(gateway.url("/none")?)
        .header("x-envoy-max-retries", "5")
        .header("x-envoy-retry-on", "5xx")
        .send()
        .await?;
    assert_eq!(response.status, 503);
    assert_eq!(gateway.upstream(PRODUCTPAGE).requests_received(), 1);
    // retryOn 5xx with 3 attempts.
    assert_eq!(client.get(gateway.url("/5xx")?).send().await?.status, 200);
    assert_eq!(gateway.upstream(REVIEWS_V2).requests_received(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_get_a_copy_with_the_body_and_never_slow_or_break_the_request() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/half"}}], "route": [{"destination": {"host": "static"}}],
         "mirror": {"host": "productpage", "port": {"number": 9080}}, "mirrorPercentage": {"value": 50}},
        {"route": [{"destination": {"host": "static"}}], "mirrors": [
            {"destination": {"host": "productpage", "port": {"number": 9080}}},
            {"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]}
    ]}"#;
    // The second mirror is slow and failing: the main request must not notice.
    let broken_mirror = UpstreamOptions {
        status: 500,
        delay: std::time::Duration::from_secs(2),
        ..UpstreamOptions::default()
    };
    let gateway = Gateway::with_upstreams(
        config,
        [
            (STATIC, UpstreamOptions::default()),
            (PRODUCTPAGE, UpstreamOptions::default()),
            (REVIEWS_V2, broken_mirror),
        ],
    )
    .await?;
    let client = Client::http1();
    let started = std::time::Instant::now();
    let response = client
        .post(gateway.url("/orders")?)
        .body("{\"id\": 7}")
        .send()
        .await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.json::<Echo>()?.upstream, STATIC);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "the slow mirror delayed the request"
    );
    let mirrored = wait_for_requests(gateway.upstream(PRODUCTPAGE), 1).await;
    let copy = mirrored.first().expect("one mirrored request");
    assert_eq!(
        (copy.method.as_str(), copy.path.as_str(), copy.body.as_str()),
        ("POST", "/orders", "{\"id\": 7}")
    );
    let port = gateway.envoy.listener_port("gateway")?;
    assert_eq!(
        copy.authority,
        format!("127.0.0.1-shadow:{port}"),
        "marked as Istio marks mirrors"
    );
    assert_eq!(
        copy.header(CLUSTER_HEADER),
        None,
        "internal header leaked to the mirror"
    );

    for _ in 0..400 {
        assert_eq!(client.get(gateway.url("/half")?).send().await?.status, 200);
    }
    let copies = wait_for_requests(gateway.upstream(PRODUCTPAGE), 1 + 150)
        .await
        .len()
        - 1;
    assert!(
        (150..=250).contains(&copies),
        "{copies} of 400 requests mirrored at 50%"
    );
    Ok(())
}

/// Mirrored requests arrive asynchronously: waits (bounded) until `upstream` has seen `count`.
async fn wait_for_requests(upstream: &Upstream, count: usize) -> Vec<Echo> {
    for _ in 0..100 {
        if upstream.requests_received() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    upstream.received()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_are_answered_and_responses_carry_cors_headers() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": "static"}}],
         "corsPolicy": {"allowOrigins": [{"exact": "https://app.example.com"}, {"regex": "https://.*[.]dev[.]example[.]com"}],
                        "allowMethods": ["GET", "PUT"], "allowHeaders": ["x-token"], "exposeHeaders": ["x-trace"],
                        "maxAge": "1h", "allowCredentials": true}},
        {"match": [{"uri": {"prefix": "/strict"}}], "route": [{"destination": {"host": "static"}}],
         "corsPolicy": {"allowOrigins": [{"exact": "https://app.example.com"}], "unmatchedPreflights": "IGNORE"}}
    ]}"#;
    let gateway = Gateway::start(config).await?;
    let client = Client::http1();
    let preflight = |path: &str, origin: &str| {
        Ok::<_, envoy_test::HarnessError>(
            client
                .request("OPTIONS", gateway.url(path)?)
                .header("origin", origin)
                .header("access-control-request-method", "PUT"),
        )
    };
    // Matched preflight: answered by the gateway, never reaching the upstream.
    let response = preflight("/api/items", "https://x.dev.example.com")?
        .send()
        .await?;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://x.dev.example.com")
    );
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("GET,PUT")
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("x-token")
    );
    assert_eq!(response.header("access-control-max-age"), Some("3600"));
    assert_eq!(
        response.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(gateway.upstream(STATIC).requests_received(), 0);
    // Unmatched preflight, FORWARD (default): the upstream answers, without CORS headers.
    let response = preflight("/api/items", "https://evil.example")?
        .send()
        .await?;
    assert_eq!(response.json::<Echo>()?.method, "OPTIONS");
    assert_eq!(response.header("access-control-allow-origin"), None);
    // Unmatched preflight, IGNORE: answered 200 without CORS headers, not forwarded.
    let response = preflight("/strict", "https://evil.example")?.send().await?;
    assert_eq!(
        (
            response.status,
            response.header("access-control-allow-origin")
        ),
        (200, None)
    );
    assert_eq!(gateway.upstream(STATIC).requests_received(), 1);
    // Actual request from an allowed origin: CORS headers on the upstream's response.
    let response = client
        .get(gateway.url("/api/items")?)
        .header("origin", "https://app.example.com")
        .send()
        .await?;
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        response.header("access-control-expose-headers"),
        Some("x-trace")
    );
    let response = client
        .get(gateway.url("/api/items")?)
        .header("origin", "https://evil.example")
        .send()
        .await?;
    assert_eq!(response.header("access-control-allow-origin"), None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_weights_keep_each_user_on_one_version() -> Result<()> {
    let config = r#"{"stickyWeights": {"cookie": "session"}, "virtualServices": [{"name": "canary", "spec": {
        "hosts": ["*"], "http": [{"route": [
            {"destination": {"host": "productpage", "port": {"number": 9080}}, "weight": 50},
            {"destination": {"host": "static"}, "weight": 50}]}]}}]}"#;
    let gateway = Gateway::start(config).await?;
    let client = Client::http1();
    let mut on_static = 0;
    for user in 0..60 {
        let cookie = format!("theme=dark; session=user-{user}");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5 {
            let echo: Echo = client
                .get(gateway.url("/")?)
                .header("cookie", &cookie)
                .send()
                .await?
                .json()?;
            seen.insert(echo.upstream);
        }
        assert_eq!(
            seen.len(),
            1,
            "user-{user} moved between versions: {seen:?}"
        );
        on_static += usize::from(seen.contains(STATIC));
    }
    assert!(
        (15..=45).contains(&on_static),
        "{on_static} of 60 users on a 50% split"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_and_destination_headers_are_applied_as_istio_orders_them() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [{
        "headers": {
            "request": {"set": {"x-route": "r", "x-both": "route"}, "add": {"x-added": "a"}, "remove": ["x-secret"]},
            "response": {"set": {"x-frame-options": "DENY"}, "remove": ["x-powered-by"]}},
        "route": [{"destination": {"host": "static"},
                   "headers": {"request": {"set": {"x-destination": "d", "x-both": "destination"}},
                               "response": {"add": {"x-served-by": "static"}}}}]}]}"#;
    let upstream = UpstreamOptions {
        response_headers: vec![("x-powered-by".into(), "php".into())],
        ..UpstreamOptions::default()
    };
    let gateway = Gateway::with_upstreams(config, [(STATIC, upstream)]).await?;
    for client in [Client::http1(), Client::http2()] {
        let response = client
            .get(gateway.url("/")?)
            .header("x-secret", "s3cret")
            .header("x-added", "client")
            .send()
            .await?;
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("x-served-by"), Some("static"));
        assert_eq!(response.header("x-powered-by"), None);
        let echo: Echo = response.json()?;
        assert_eq!(echo.header("x-route"), Some("r"));
        assert_eq!(echo.header("x-destination"), Some("d"));
        // Pilot appends a single destination's operations after the route's ("we append the
        // weighted last which allows it to Set and wipe out previous Adds"): its `set` wins.
        assert_eq!(echo.header("x-both"), Some("destination"));
        assert_eq!(echo.header_all("x-added"), ["client", "a"]);
        assert_eq!(echo.header("x-secret"), None);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_faults_delay_and_abort_like_envoys_fault_filter() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [
        {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
         "fault": {"delay": {"fixedDelay": "400ms", "percentage": {"value": 100}}},
         "route": [{"destination": {"host": "static"}}]},
        {"match": [{"uri": {"prefix": "/ratings"}}],
         "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100}}},
         "route": [{"destination": {"host": "static"}}]},
        {"route": [{"destination": {"host": "static"}}]}
    ]}"#;
    let gateway = Gateway::start(config).await?;
    let client = Client::http1();
    let started = std::time::Instant::now();
    let response = client
        .get(gateway.url("/reviews")?)
        .header("end-user", "jason")
        .send()
        .await?;
    let delayed = started.elapsed();
    assert_eq!(response.status, 200);
    assert!(
        delayed >= std::time::Duration::from_millis(400),
        "jason waited {delayed:?}"
    );
    let started = std::time::Instant::now();
    assert_eq!(
        client.get(gateway.url("/reviews")?).send().await?.status,
        200
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(300),
        "others are not delayed"
    );
    let response = client.get(gateway.url("/ratings/1")?).send().await?;
    assert_eq!(
        (response.status, response.text()),
        (503, "fault filter abort".to_owned())
    );
    assert_eq!(
        gateway.upstream(STATIC).requests_received(),
        2,
        "the abort never reached upstream"
    );
    let stats = gateway.envoy.stats_prometheus().await?;
    for counter in [
        "router_fault_delays_injected{} 1",
        "router_fault_aborts_injected{} 1",
    ] {
        assert!(
            stats.lines().any(|line| line == counter),
            "{counter} missing:\n{stats}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_update_is_rejected_and_the_last_good_one_keeps_serving() -> Result<()> {
    let good = r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "static"}}]}]}"#;
    let bad = r#"{"hosts": ["*"], "http": [{"match": [{"uri": {"regex": "(("}}], "route": [{"destination": {"host": "static"}}]}]}"#;
    let better = r#"{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}"#;
    let listener = |config: &str| -> Result<Listener> {
        // A fixed port, so the updated listener keeps the address the client uses.
        Ok(router_listener(config)?.port(free_port()?))
    };
    let first = listener(good)?;
    let port = first.port;
    let mut bootstrap = Bootstrap::new().with_dynamic_listeners().listener(first);
    let mut upstreams = Vec::new();
    for cluster in [STATIC, PRODUCTPAGE] {
        let upstream = Upstream::start(cluster, UpstreamOptions::default()).await?;
        bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
        upstreams.push(upstream);
    }
    let envoy = Envoy::start(&bootstrap).await?;
    let url = format!("http://127.0.0.1:{port}/");
    let client = Client::http1();
    assert_eq!(
        client.get(&url).send().await?.json::<Echo>()?.upstream,
        STATIC
    );

    let update = envoy.update_listeners(&[listener(bad)?.port(port)]).await?;
    assert_eq!(update, ListenerUpdate::Rejected);
    assert!(
        envoy.log().contains(
            "router: invalid plugin configuration: http[0].match[0].uri.regex: unclosed group"
        ),
        "{}",
        envoy.log()
    );
    for _ in 0..20 {
        assert_eq!(
            client.get(&url).send().await?.json::<Echo>()?.upstream,
            STATIC
        );
    }

    let update = envoy
        .update_listeners(&[listener(better)?.port(port)])
        .await?;
    assert_eq!(update, ListenerUpdate::Accepted);
    let mut upstream = String::new();
    for _ in 0..50 {
        // The old listener drains; new connections get the new config.
        upstream = Client::http1()
            .get(&url)
            .send()
            .await?
            .json::<Echo>()?
            .upstream;
        if upstream == PRODUCTPAGE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(upstream, PRODUCTPAGE);
    Ok(())
}

/// A free loopback port, for the one test that needs to know its listener's port up front.
fn free_port() -> Result<u16> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| {
        envoy_test::HarnessError::Io {
            context: "finding a free port".into(),
            source: error,
        }
    })?;
    socket
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| envoy_test::HarnessError::Io {
            context: "finding a free port".into(),
            source: error,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_fault_aborts_its_percentage_of_requests() -> Result<()> {
    let config = r#"{"hosts": ["*"], "http": [{
        "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 20}}},
        "route": [{"destination": {"host": "static"}}]}]}"#;
    let gateway = Gateway::start(config).await?;
    let client = Client::http1();
    let url = gateway.url("/")?;
    const REQUESTS: usize = 2_000;
    let mut aborted = 0;
    for _ in 0..REQUESTS {
        aborted += usize::from(client.get(&url).send().await?.status == 503);
    }
    let percent = 100.0 * aborted as f64 / REQUESTS as f64;
    assert!(
        (17.0..=23.0).contains(&percent),
        "{percent:.1}% aborted instead of 20% ± 3"
    );
    assert_eq!(
        gateway.upstream(STATIC).requests_received(),
        REQUESTS - aborted
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegate_routes_under_its_root() -> Result<()> {
    let config = r#"{"virtualServices": [
        {"name": "root", "namespace": "default", "spec": {"hosts": ["*"], "http": [
            {"name": "reviews", "match": [{"uri": {"prefix": "/reviews"}}], "timeout": "200ms",
             "delegate": {"name": "reviews"}},
            {"route": [{"destination": {"host": "static"}}]}]}},
        {"name": "reviews", "namespace": "default", "spec": {"http": [
            {"name": "v2", "match": [{"uri": {"prefix": "/reviews/v2"}}],
             "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
            {"name": "outside", "match": [{"uri": {"prefix": "/ratings"}}],
             "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
            {"route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}}
    ]}"#;
    let slow_reviews = UpstreamOptions {
        delay: std::time::Duration::from_millis(600),
        ..UpstreamOptions::default()
    };
    let gateway = Gateway::with_upstreams(
        config,
        [
            (STATIC, UpstreamOptions::default()),
            (PRODUCTPAGE, UpstreamOptions::default()),
            (REVIEWS_V2, slow_reviews),
        ],
    )
    .await?;
    let client = Client::http1();
    let upstream =
        |response: envoy_test::Response| response.json::<Echo>().map(|echo| echo.upstream);
    assert_eq!(
        upstream(client.get(gateway.url("/reviews/1")?).send().await?)?,
        PRODUCTPAGE
    );
    // The delegate's /ratings route widens the root's /reviews and is dropped, as in Istio.
    assert_eq!(
        upstream(client.get(gateway.url("/ratings")?).send().await?)?,
        STATIC
    );
    // The root's timeout reaches the delegate's route: the slow v2 upstream times out.
    let response = client.get(gateway.url("/reviews/v2/1")?).send().await?;
    assert_eq!(response.status, 504);
    Ok(())
}

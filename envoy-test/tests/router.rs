//! The router module inside a real Envoy: VirtualService matches choose Istio-named clusters.

use engine::router::CLUSTER_HEADER;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, Listener, Result, RouteConfig, Upstream,
    UpstreamOptions, WasmFilter,
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
    _upstreams: Vec<Upstream>,
}

impl Gateway {
    async fn start(config: &str) -> Result<Self> {
        let mut bootstrap = Bootstrap::new().listener(router_listener(config)?);
        let mut upstreams = Vec::new();
        for cluster in [PRODUCTPAGE, REVIEWS_V2, STATIC] {
            let upstream = Upstream::start(cluster, UpstreamOptions::default()).await?;
            bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
            upstreams.push(upstream);
        }
        Ok(Self {
            envoy: Envoy::start(&bootstrap).await?,
            _upstreams: upstreams,
        })
    }

    fn url(&self, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.envoy.listener_url("gateway")?))
    }
}

fn router_listener(config: &str) -> Result<Listener> {
    Ok(
        Listener::new("gateway", RouteConfig::cluster_header(CLUSTER_HEADER))
            .filter(WasmFilter::new("router", wasm_module("router")?, config)),
    )
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

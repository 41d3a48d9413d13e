//! The metrics module inside a real Envoy, behind the router module: what `/stats/prometheus`
//! shows, read with a Prometheus text-format parser.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use engine::metrics::labels::BUILTIN_LABELS;
use engine::metrics::names::{REQUESTS_TOTAL, REQUEST_BYTES, REQUEST_DURATION, RESPONSE_BYTES};
use engine::router::CLUSTER_HEADER;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Envoy, HarnessError, Listener, Result, RouteConfig,
    Upstream, UpstreamOptions, WasmFilter,
};
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

const PRODUCTPAGE: &str = "outbound|9080||productpage.shop.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|9080|v2|reviews.shop.svc.cluster.local";
const RATINGS: &str = "outbound|9080||ratings.shop.svc.cluster.local";
const DETAILS: &str = "outbound|8080||details.shop.svc.cluster.local";

/// One VirtualService `shop/bookinfo`: a fast, a slow, a failing and an endpoint-less route.
const ROUTER_CONFIG: &str = r#"{"virtualServices": [{"name": "bookinfo", "namespace": "shop",
  "spec": {"hosts": ["*"], "http": [
    {"name": "productpage", "match": [{"uri": {"prefix": "/productpage"}}],
     "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
    {"name": "reviews", "match": [{"name": "v2", "uri": {"prefix": "/reviews"}}],
     "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
    {"name": "ratings", "match": [{"uri": {"prefix": "/ratings"}}],
     "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
    {"name": "details", "match": [{"uri": {"prefix": "/details"}}],
     "route": [{"destination": {"host": "details", "port": {"number": 8080}}}]}
  ]}}]}"#;

/// How long the reviews upstream waits before answering.
const SLOW_DELAY: Duration = Duration::from_millis(150);

const HISTOGRAMS: [&str; 3] = [REQUEST_DURATION, REQUEST_BYTES, RESPONSE_BYTES];

/// Buckets for the size histograms; durations keep Envoy's default buckets.
const BYTE_BUCKETS: [f64; 8] = [64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0];

/// Envoy with router and metrics modules in one chain, in front of echo upstreams.
struct Gateway {
    envoy: Envoy,
    _upstreams: Vec<Upstream>,
}

impl Gateway {
    async fn start(metrics_config: &str, dimensions: &[&str]) -> Result<Self> {
        let mut bootstrap = Bootstrap::new()
            .listener(
                Listener::new("gateway", RouteConfig::cluster_header(CLUSTER_HEADER))
                    .filter(WasmFilter::new(
                        "router",
                        wasm_module("router")?,
                        ROUTER_CONFIG,
                    ))
                    .filter(WasmFilter::new(
                        "metrics",
                        wasm_module("metrics")?,
                        metrics_config,
                    )),
            )
            .metrics_stats_tags(dimensions)
            .extra(json!({ "stats_config": { "histogram_bucket_settings": [
                { "match": { "suffix": REQUEST_BYTES }, "buckets": BYTE_BUCKETS },
                { "match": { "suffix": RESPONSE_BYTES }, "buckets": BYTE_BUCKETS },
            ] } }))
            // Histograms reach /stats only when Envoy merges them, which it then does on
            // every admin stats request instead of every 5 s.
            .extra(json!({ "stats_flush_on_admin": true }));
        let mut upstreams = Vec::new();
        for (cluster, options) in [
            (PRODUCTPAGE, UpstreamOptions::default()),
            (
                REVIEWS_V2,
                UpstreamOptions {
                    delay: SLOW_DELAY,
                    ..UpstreamOptions::default()
                },
            ),
            (
                RATINGS,
                UpstreamOptions {
                    status: 503,
                    ..UpstreamOptions::default()
                },
            ),
        ] {
            let upstream = Upstream::start(cluster, options).await?;
            bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
            upstreams.push(upstream);
        }
        // No endpoints: Envoy answers 503 with the flag UH.
        bootstrap = bootstrap.cluster(Cluster::new(DETAILS, []));
        Ok(Self {
            envoy: Envoy::start(&bootstrap).await?,
            _upstreams: upstreams,
        })
    }

    fn url(&self, path: &str) -> Result<String> {
        Ok(format!("{}{path}", self.envoy.listener_url("gateway")?))
    }

    async fn scrape(&self) -> Result<Scrape> {
        let text = self.envoy.stats_prometheus().await?;
        Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
            .map_err(|e| HarnessError::Http {
                context: "parsing /stats/prometheus".to_owned(),
                detail: e.to_string(),
            })
    }

    /// Scrapes until the counter and every histogram have counted `sent` requests, or 10 s
    /// have passed. Envoy records in the access-log phase, which may end just after the client
    /// has its response, and merges histograms into /stats asynchronously after a flush.
    async fn scrape_counted(&self, sent: u32) -> Result<Scrape> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let scrape = self.scrape().await?;
            let counted = |metric: &str| total(&scrape, metric, &[]) >= f64::from(sent);
            let complete = counted(REQUESTS_TOTAL)
                && HISTOGRAMS
                    .iter()
                    .all(|histogram| counted(&format!("{histogram}_count")));
            if complete || Instant::now() > deadline {
                return Ok(scrape);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Samples of `metric` whose labels include all of `labels`.
fn matching<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == metric)
        .filter(|sample| {
            labels
                .iter()
                .all(|(name, value)| sample.labels.get(name) == Some(*value))
        })
        .collect()
}

/// The value of a counter or untyped sample.
fn scalar(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
        other => panic!("{} is not a scalar: {other:?}", sample.metric),
    }
}

/// The sum of `metric` over the series whose labels include `labels`.
fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    matching(scrape, metric, labels).into_iter().map(scalar).sum()
}

/// Cumulative bucket counts of the one histogram series matching `labels`, by upper bound.
fn buckets(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let series = matching(scrape, metric, labels);
    assert_eq!(series.len(), 1, "{metric} {labels:?}: {series:#?}");
    match &series[0].value {
        Value::Histogram(counts) => counts
            .iter()
            .map(|count| (count.less_than, count.count))
            .collect(),
        other => panic!("{metric} is not a histogram: {other:?}"),
    }
}

fn bucket(buckets: &[(f64, f64)], upper_bound: f64) -> f64 {
    buckets
        .iter()
        .find(|(bound, _)| *bound == upper_bound)
        .map(|(_, count)| *count)
        .unwrap_or_else(|| panic!("no bucket le={upper_bound} in {buckets:?}"))
}

/// Every label of the series, as a map, for whole-label-set comparisons.
fn label_map(sample: &Sample) -> HashMap<String, String> {
    sample
        .labels
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_per_label_set() -> Result<()> {
    let config = r#"{"dimensions": [{"name": "tenant", "requestHeader": "x-tenant"}]}"#;
    let gateway = Gateway::start(config, &["tenant"]).await?;
    let mut sent = 0;
    for (client, method, path, tenant, times) in [
        (Client::http1(), "GET", "/productpage", "acme", 7),
        (Client::http2(), "POST", "/productpage/buy", "globex", 3),
        (Client::http1(), "GET", "/ratings", "acme", 4),
        (Client::http2(), "GET", "/details/1", "acme", 2),
        (Client::http1(), "GET", "/nothing", "acme", 5),
    ] {
        for _ in 0..times {
            client
                .request(method, gateway.url(path)?)
                .header("x-tenant", tenant)
                .send()
                .await?;
            sent += 1;
        }
    }
    let scrape = gateway.scrape_counted(sent).await?;

    let productpage = [
        ("reporter", "source"),
        ("request_protocol", "http"),
        ("grpc_response_status", ""),
        ("destination_service", "productpage.shop.svc.cluster.local"),
        ("destination_service_name", "productpage"),
        ("destination_service_namespace", "shop"),
        ("destination_subset", "unknown"),
        ("destination_port", "9080"),
        ("route_name", "productpage"),
        ("virtual_service", "shop/bookinfo"),
    ];
    let get_200 = [
        ("request_method", "GET"),
        ("response_code", "200"),
        ("response_flags", "-"),
        ("tenant", "acme"),
    ];
    let series = matching(&scrape, REQUESTS_TOTAL, &get_200);
    assert_eq!(series.len(), 1, "{series:#?}");
    assert_eq!(scalar(series[0]), 7.0);
    let mut expected = labels(&productpage);
    expected.extend(labels(&get_200));
    assert_eq!(label_map(series[0]), expected, "exactly these labels");

    let post = [
        ("request_method", "POST"),
        ("response_code", "200"),
        ("tenant", "globex"),
        ("route_name", "productpage"),
    ];
    assert_eq!(total(&scrape, REQUESTS_TOTAL, &post), 3.0);

    let failing_upstream = [
        ("response_code", "503"),
        ("response_flags", "-"),
        ("destination_service_name", "ratings"),
        ("route_name", "ratings"),
    ];
    assert_eq!(total(&scrape, REQUESTS_TOTAL, &failing_upstream), 4.0);

    let no_endpoint = [
        ("response_code", "503"),
        ("response_flags", "UH"),
        ("destination_service", "details.shop.svc.cluster.local"),
        ("destination_port", "8080"),
        ("route_name", "details"),
        ("virtual_service", "shop/bookinfo"),
    ];
    assert_eq!(total(&scrape, REQUESTS_TOTAL, &no_endpoint), 2.0);

    let no_route = [
        ("response_code", "404"),
        ("response_flags", "NR"),
        ("destination_service", "unknown"),
        ("route_name", "unknown"),
        ("virtual_service", "unknown"),
    ];
    assert_eq!(total(&scrape, REQUESTS_TOTAL, &no_route), 5.0);

    assert_eq!(total(&scrape, REQUESTS_TOTAL, &[]), f64::from(sent));
    assert_eq!(matching(&scrape, REQUESTS_TOTAL, &[]).len(), 5, "five label sets");
    // Every series carries every label, and the histograms count the same requests.
    for sample in matching(&scrape, REQUESTS_TOTAL, &[]) {
        for label in BUILTIN_LABELS.iter().chain(&["tenant"]) {
            assert!(sample.labels.get(label).is_some(), "{label} in {sample:?}");
        }
    }
    for histogram in HISTOGRAMS {
        let count = total(&scrape, &format!("{histogram}_count"), &[]);
        assert_eq!(count, f64::from(sent), "{histogram}_count");
    }
    Ok(())
}

//! The metrics module inside a real Envoy, behind the router module: what `/stats/prometheus`
//! shows, read with a Prometheus text-format parser.

// Test helpers, like the tests themselves, stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use engine::metrics::labels::BUILTIN_LABELS;
use engine::metrics::names::{REQUESTS_TOTAL, REQUEST_BYTES, REQUEST_DURATION, RESPONSE_BYTES};
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
        Self::start_with(metrics_config, dimensions, |listener| listener).await
    }

    /// Like [`Gateway::start`], with `customize` applied to the listener.
    async fn start_with(
        metrics_config: &str,
        dimensions: &[&str],
        customize: impl FnOnce(Listener) -> Listener,
    ) -> Result<Self> {
        let mut bootstrap = Bootstrap::new()
            .listener(customize(
                Listener::new("gateway", RouteConfig::for_router())
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
            ))
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
            (
                PRODUCTPAGE,
                UpstreamOptions {
                    response_headers: vec![("x-cache".into(), "hit".into())],
                    ..UpstreamOptions::default()
                },
            ),
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
        Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).map_err(|e| {
            HarnessError::Http {
                context: "parsing /stats/prometheus".to_owned(),
                detail: e.to_string(),
            }
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
    matching(scrape, metric, labels)
        .into_iter()
        .map(scalar)
        .sum()
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

    // Istio's default retry policy retries a 503 twice, so Envoy flags the answer URX.
    let failing_upstream = [
        ("response_code", "503"),
        ("response_flags", "URX"),
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
    assert_eq!(
        matching(&scrape, REQUESTS_TOTAL, &[]).len(),
        5,
        "five label sets"
    );
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
    dashboard_queries_only_what_is_emitted(&scrape);
    Ok(())
}

/// Client-measured milliseconds of each request.
async fn timed(
    requests: impl IntoIterator<Item = envoy_test::RequestBuilder>,
) -> Result<Vec<(f64, usize)>> {
    let mut measured = Vec::new();
    for request in requests {
        let started = Instant::now();
        let response = request.send().await?;
        assert_eq!(response.status, 200);
        measured.push((
            started.elapsed().as_secs_f64() * 1000.0,
            response.body.len(),
        ));
    }
    Ok(measured)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_and_sizes_match_what_was_sent() -> Result<()> {
    let gateway = Gateway::start("{}", &[]).await?;
    let client = Client::http1();
    let slow =
        timed((0..6).map(|_| client.get(gateway.url("/reviews").unwrap_or_default()))).await?;
    let body = "x".repeat(3000);
    let posts = timed((0..6).map(|_| {
        client
            .post(gateway.url("/productpage").unwrap_or_default())
            .body(body.clone())
    }))
    .await?;
    let scrape = gateway.scrape_counted(12).await?;

    // The slow route: every request took at least the upstream's delay, at most what the
    // client measured around it.
    let reviews = [("route_name", "reviews.v2"), ("destination_subset", "v2")];
    let durations = buckets(&scrape, REQUEST_DURATION, &reviews);
    let delay_ms = SLOW_DELAY.as_secs_f64() * 1000.0;
    assert_eq!(bucket(&durations, 100.0), 0.0, "{durations:?}");
    let within_250 = slow.iter().filter(|(ms, _)| *ms < 240.0).count();
    assert!(
        bucket(&durations, 250.0) >= within_250 as f64,
        "{durations:?} {slow:?}"
    );
    assert_eq!(bucket(&durations, f64::INFINITY), 6.0);
    // Envoy's histogram sums are approximations (log-linear bins, two significant digits).
    let sum = total(&scrape, &format!("{REQUEST_DURATION}_sum"), &reviews);
    let client_sum: f64 = slow.iter().map(|(ms, _)| ms).sum();
    assert!(
        sum >= 6.0 * delay_ms * 0.95,
        "sum {sum} < 6 x {delay_ms} ms"
    );
    assert!(
        sum <= client_sum * 1.05,
        "sum {sum} > client-measured {client_sum}"
    );

    // The fast route, with 3000-byte bodies both ways (the echo returns the body).
    let productpage = [("route_name", "productpage"), ("request_method", "POST")];
    let durations = buckets(&scrape, REQUEST_DURATION, &productpage);
    let within_100 = posts.iter().filter(|(ms, _)| *ms < 95.0).count();
    assert!(
        bucket(&durations, 100.0) >= within_100 as f64,
        "{durations:?} {posts:?}"
    );
    let request_sizes = buckets(&scrape, REQUEST_BYTES, &productpage);
    assert_eq!(bucket(&request_sizes, 2048.0), 0.0, "{request_sizes:?}");
    assert_eq!(bucket(&request_sizes, 4096.0), 6.0, "{request_sizes:?}");
    let request_sum = total(&scrape, &format!("{REQUEST_BYTES}_sum"), &productpage);
    assert!(
        (6.0 * 3000.0 * 0.95..=6.0 * (3000.0 + 1024.0) * 1.05).contains(&request_sum),
        "request bytes {request_sum}"
    );
    let response_sum = total(&scrape, &format!("{RESPONSE_BYTES}_sum"), &productpage);
    let bodies: usize = posts.iter().map(|(_, len)| len).sum();
    assert!(
        (bodies as f64 * 0.95..=(bodies + 6 * 1024) as f64 * 1.05).contains(&response_sum),
        "response bytes {response_sum}, bodies {bodies}"
    );
    let response_sizes = buckets(&scrape, RESPONSE_BYTES, &productpage);
    assert_eq!(bucket(&response_sizes, 2048.0), 0.0, "{response_sizes:?}");
    assert_eq!(bucket(&response_sizes, 8192.0), 6.0, "{response_sizes:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_sets_past_the_cap_count_under_other() -> Result<()> {
    let config =
        r#"{"maxLabelSets": 3, "dimensions": [{"name": "tenant", "requestHeader": "x-tenant"}]}"#;
    let gateway = Gateway::start(config, &["tenant"]).await?;
    let tenants = ["a", "b", "c", "d", "e", "f"];
    for tenant in tenants {
        for _ in 0..2 {
            // A new connection each time, so both workers' VMs take part in the one cap.
            Client::http1()
                .get(gateway.url("/productpage")?)
                .header("x-tenant", tenant)
                .send()
                .await?;
        }
    }
    let scrape = gateway.scrape_counted(12).await?;
    let series = matching(&scrape, REQUESTS_TOTAL, &[]);
    assert_eq!(series.len(), 4, "three label sets and `other`: {series:#?}");
    let admitted: Vec<&Sample> = series
        .iter()
        .copied()
        .filter(|sample| sample.labels.get("tenant") != Some("other"))
        .collect();
    assert_eq!(admitted.len(), 3);
    for sample in &admitted {
        assert_eq!(scalar(sample), 2.0, "{sample:?}");
        assert!(tenants.contains(&sample.labels.get("tenant").unwrap_or_default()));
    }
    let other = matching(&scrape, REQUESTS_TOTAL, &[("tenant", "other")]);
    assert_eq!(other.len(), 1);
    assert_eq!(scalar(other[0]), 6.0);
    for (label, value) in label_map(other[0]) {
        let expected = if label == "reporter" {
            "source"
        } else {
            "other"
        };
        assert_eq!(value, expected, "{label}");
    }
    assert_eq!(
        total(
            &scrape,
            &format!("{REQUEST_DURATION}_count"),
            &[("tenant", "other")]
        ),
        6.0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_dimensions_come_from_headers_and_attributes_sanitised() -> Result<()> {
    let config = r#"{"reporter": "gateway", "dimensions": [
        {"name": "tenant", "requestHeader": "x-tenant"},
        {"name": "cache", "responseHeader": "x-cache"},
        {"name": "http_version", "attribute": "request.protocol"},
        {"name": "listener_port", "attribute": "destination.port", "valueType": "int"}
    ]}"#;
    let dimensions = ["tenant", "cache", "http_version", "listener_port"];
    let gateway = Gateway::start(config, &dimensions).await?;
    let port = gateway.envoy.listener_port("gateway")?.to_string();
    Client::http2()
        .get(gateway.url("/productpage")?)
        .header("x-tenant", "evil;.;reporter=.=x y")
        .send()
        .await?;
    Client::http1().get(gateway.url("/ratings")?).send().await?;
    let scrape = gateway.scrape_counted(2).await?;

    let evil = matching(&scrape, REQUESTS_TOTAL, &[("route_name", "productpage")]);
    assert_eq!(evil.len(), 1, "{evil:#?}");
    let labels = &evil[0].labels;
    assert_eq!(labels.get("tenant"), Some("evil_._reporter_._x_y"));
    assert_eq!(
        labels.get("reporter"),
        Some("gateway"),
        "the value did not pose as a tag"
    );
    assert_eq!(labels.get("cache"), Some("hit"));
    assert_eq!(labels.get("http_version"), Some("HTTP/2"));
    assert_eq!(labels.get("listener_port"), Some(port.as_str()));

    let plain = matching(&scrape, REQUESTS_TOTAL, &[("route_name", "ratings")]);
    assert_eq!(plain.len(), 1, "{plain:#?}");
    let labels = &plain[0].labels;
    assert_eq!(labels.get("tenant"), Some("unknown"));
    assert_eq!(labels.get("cache"), Some("unknown"));
    assert_eq!(labels.get("http_version"), Some("HTTP/1.1"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_publishes_its_route_as_wasm_filter_state() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| HarnessError::Io {
        context: "creating a temporary directory".into(),
        source: e,
    })?;
    let log_path = dir.path().join("access.log");
    let format = "%FILTER_STATE(wasm.vsrouter.route:PLAIN)%\n";
    let access_log = json!({ "access_log": [{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": log_path.to_string_lossy(),
            "log_format": { "text_format_source": { "inline_string": format } },
        },
    }] });
    let gateway = Gateway::start_with("{}", &[], |listener| listener.extra(access_log)).await?;
    Client::http1()
        .get(gateway.url("/reviews/1")?)
        .send()
        .await?;
    Client::http1().get(gateway.url("/nothing")?).send().await?;
    gateway.scrape_counted(2).await?;

    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.lines().count() >= 2 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            format!("reviews.v2 shop/bookinfo {REVIEWS_V2}").as_str(),
            "-"
        ],
        "the property lives in Envoy's filter state under wasm.<name>"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_refuses_a_bad_metrics_config_with_the_field_and_reason() -> Result<()> {
    let listener = Listener::new("gateway", RouteConfig::direct_response(200, "ok")).filter(
        WasmFilter::new("metrics", wasm_module("metrics")?, r#"{"maxLabelSets": 0}"#),
    );
    let log = Envoy::start_expect_failure(&Bootstrap::new().listener(listener)).await?;
    assert!(
        log.contains(
            "metrics: invalid plugin configuration: maxLabelSets: must be between 1 and 100000, got 0"
        ),
        "{log}"
    );
    Ok(())
}

/// Every metric and label the Grafana dashboard queries is in `scrape`, the module's output.
fn dashboard_queries_only_what_is_emitted(scrape: &Scrape) {
    let path = envoy_test::workspace_root().join("docs/grafana/dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    collect_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 10, "{queries:?}");
    for query in &queries {
        for metric in identifiers_after(query, "gateway_") {
            let metric = format!("gateway_{metric}");
            // The parser files histogram buckets under the histogram's own name.
            let sample_name = metric.strip_suffix("_bucket").unwrap_or(&metric);
            assert!(
                scrape
                    .samples
                    .iter()
                    .any(|sample| sample.metric == sample_name),
                "the dashboard queries {metric}, which the module does not emit: {query}"
            );
        }
        for label in queried_labels(query) {
            assert!(
                // `__name__` and `instance` are Prometheus's own (the health row's queries).
                ["le", "__name__", "instance"].contains(&label.as_str())
                    || BUILTIN_LABELS.contains(&label.as_str()),
                "the dashboard queries label {label}, which the module does not emit: {query}"
            );
        }
    }
}

/// Every `expr` of the panels and `query` of the template variables.
fn collect_queries(value: &serde_json::Value, queries: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("expr" | "query", serde_json::Value::String(query)) => {
                        queries.push(query.clone())
                    }
                    _ => collect_queries(value, queries),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| collect_queries(item, queries))
        }
        _ => {}
    }
}

/// The identifier characters after each occurrence of `prefix` in `text`.
fn identifiers_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> {
    text.match_indices(prefix).map(move |(start, _)| {
        let rest = &text[start + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// Label names in `by (…)` groupings, `{…}` matchers and `label_values(…, label)`.
fn queried_labels(query: &str) -> Vec<String> {
    let mut labels = Vec::new();
    for grouping in query.split("by (").skip(1) {
        let inside = grouping.split(')').next().unwrap_or_default();
        labels.extend(inside.split(',').map(|label| label.trim().to_owned()));
    }
    for matcher in query.split('{').skip(1) {
        let inside = matcher.split('}').next().unwrap_or_default();
        for term in inside.split(',') {
            let name = term.split(['=', '!']).next().unwrap_or_default().trim();
            if !name.is_empty() && !name.starts_with('{') {
                labels.push(name.to_owned());
            }
        }
    }
    if let Some(arguments) = query.strip_prefix("label_values(") {
        if let Some(label) = arguments.trim_end_matches(')').rsplit(',').next() {
            labels.push(label.trim().to_owned());
        }
    }
    labels
}

/// The stats an Istio gateway keeps: the bootstrap's `stats_matcher` prefixes (Istio's
/// `tools/packaging/common/envoy_bootstrap.json` plus the required ones of
/// `pkg/bootstrap/config.go`).
const ISTIO_INCLUSION_PREFIXES: [&str; 8] = [
    "reporter=",
    "cluster_manager",
    "listener_manager",
    "server",
    "cluster.xds-grpc",
    "wasm",
    "component",
    "istio",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_istio_style_bootstrap_keeps_and_labels_the_metrics() -> Result<()> {
    let patterns: Vec<serde_json::Value> = ISTIO_INCLUSION_PREFIXES
        .iter()
        .map(|prefix| json!({ "prefix": prefix }))
        .collect();
    let upstream = Upstream::start(PRODUCTPAGE, UpstreamOptions::default()).await?;
    let listener = Listener::new("gateway", RouteConfig::for_router())
        .filter(WasmFilter::new(
            "router",
            wasm_module("router")?,
            ROUTER_CONFIG,
        ))
        .filter(WasmFilter::new("metrics", wasm_module("metrics")?, "{}"));
    // The stat names Envoy matches start with `wasmcustom.`: Istio keeps them through its
    // required prefix `wasm`, not through `reporter=`.
    let bootstrap = Bootstrap::new()
        .listener(listener)
        .cluster(Cluster::new(PRODUCTPAGE, [upstream.addr()]))
        .metrics_stats_tags::<&str>(&[])
        .extra(json!({ "stats_config": {
            "use_all_default_tags": false,
            "stats_matcher": { "inclusion_list": { "patterns": patterns } },
            "histogram_bucket_settings": [
                { "match": { "prefix": "wasmcustom." }, "buckets": [10.0, 100.0, 1000.0] },
            ],
        } }))
        .extra(json!({ "stats_flush_on_admin": true }));
    let envoy = Envoy::start(&bootstrap).await?;
    let gateway = Gateway {
        envoy,
        _upstreams: vec![upstream],
    };
    Client::http1()
        .get(gateway.url("/productpage")?)
        .send()
        .await?;
    let scrape = gateway.scrape_counted(1).await?;
    let labels = [("route_name", "productpage"), ("response_code", "200")];
    assert_eq!(total(&scrape, REQUESTS_TOTAL, &labels), 1.0);
    let durations = buckets(&scrape, REQUEST_DURATION, &labels);
    let bounds: Vec<f64> = durations.iter().map(|(bound, _)| *bound).collect();
    assert_eq!(
        bounds,
        [10.0, 100.0, 1000.0, f64::INFINITY],
        "buckets match wasmcustom.*"
    );
    assert!(
        matching(&scrape, "envoy_http_downstream_rq_total", &[]).is_empty(),
        "the matcher drops what Istio drops"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_router_labels_come_from_envoys_own_route() -> Result<()> {
    let upstream = Upstream::start("backend", UpstreamOptions::default()).await?;
    let routes = RouteConfig(json!({ "virtual_hosts": [{
        "name": "all",
        "domains": ["*"],
        "routes": [{ "name": "plain-route", "match": { "prefix": "/" },
                     "route": { "cluster": "backend" } }],
    }] }));
    let listener = Listener::new("gateway", routes).filter(WasmFilter::new(
        "metrics",
        wasm_module("metrics")?,
        "{}",
    ));
    let bootstrap = Bootstrap::new()
        .listener(listener)
        .cluster(Cluster::new("backend", [upstream.addr()]))
        .metrics_stats_tags::<&str>(&[])
        .extra(json!({ "stats_flush_on_admin": true }));
    let gateway = Gateway {
        envoy: Envoy::start(&bootstrap).await?,
        _upstreams: vec![upstream],
    };
    Client::http1().get(gateway.url("/x")?).send().await?;
    let scrape = gateway.scrape_counted(1).await?;
    let expected = [
        ("route_name", "plain-route"),
        ("virtual_service", "unknown"),
        ("destination_service", "backend"),
        ("destination_service_name", "backend"),
        ("destination_service_namespace", "unknown"),
        ("destination_port", "unknown"),
    ];
    assert_eq!(total(&scrape, REQUESTS_TOTAL, &expected), 1.0);
    Ok(())
}

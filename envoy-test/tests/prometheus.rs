//! A real Prometheus scrapes a real Envoy running all four modules, and every query of the
//! project's Grafana dashboard (`docs/grafana/dashboard.json`) and of Istio's standard Service
//! dashboard (test data in `tests/prometheus/`) is evaluated through Prometheus's HTTP API.
//!
//! The metrics module runs three times in the chain, once per naming mode: `gateway` (what
//! the project's dashboard reads), `istio` (what Istio's dashboard reads) and `istioRoutes`
//! (the route series that join Istio's; the `istio` plugin's series stand in for the ones
//! Istio's own stats filter would write, whose names and labels it reproduces).
//!
//! Exact values: every series is created before the measured traffic (a first batch), then
//! one batch of known traffic is sent between two consecutive scrapes at `t0` and `t1`, and
//! each query is evaluated at `t1` with `$__rate_interval` = `t1 - t0` (+1 ms). Over that
//! window `rate` and `irate` both see exactly the two samples, so each gives the batch's count
//! divided by `t1 - t0`, and ratios and quantiles follow from the known mix.

// Test helpers fail the test the way assertions do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Envoy, EnvoyOptions, HarnessError, Listener,
    PromSample, Prometheus, Result, RouteConfig, Upstream, UpstreamOptions, WasmFilter,
};
use serde_json::{json, Value};

const PRODUCTPAGE: &str = "outbound|9080||productpage.shop.svc.cluster.local";
const PRODUCTPAGE_SERVICE: &str = "productpage.shop.svc.cluster.local";
const REVIEWS_V2: &str = "outbound|9080|v2|reviews.shop.svc.cluster.local";
const RATINGS: &str = "outbound|9080||ratings.shop.svc.cluster.local";
const DETAILS: &str = "outbound|8080||details.shop.svc.cluster.local";

/// One VirtualService `shop/bookinfo`: a fast, a slow, a failing and an endpoint-less route.
const ROUTER_CONFIG: &str = r#"{"virtualServices": [{"name": "bookinfo", "namespace": "shop",
  "spec": {"hosts": ["*"], "http": [
    {"name": "productpage", "match": [{"uri": {"prefix": "/productpage"}}],
     "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
    {"name": "productpage-api", "match": [{"uri": {"prefix": "/api"}}],
     "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
    {"name": "reviews", "match": [{"name": "v2", "uri": {"prefix": "/reviews"}}],
     "route": [{"destination": {"host": "reviews", "subset": "v2", "port": {"number": 9080}}}]},
    {"name": "ratings", "match": [{"uri": {"prefix": "/ratings"}}],
     "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
    {"name": "details", "match": [{"uri": {"prefix": "/details"}}],
     "route": [{"destination": {"host": "details", "port": {"number": 8080}}}]}
  ]}}]}"#;

const HEADERS_CONFIG: &str = r#"{"rules": [
  {"name": "security", "response": {"set": {"x-frame-options": "DENY"}}},
  {"name": "errors", "responseStatus": ["5xx"], "response": {"set": {"cache-control": "no-store"}}}
]}"#;

/// Aborts every request under `/productpage/fail`: 503s of the productpage service.
const FAULT_CONFIG: &str = r#"{"rules": [
  {"match": [{"uri": {"prefix": "/productpage/fail"}}],
   "abort": {"httpStatus": 503, "percentage": {"value": 100}}}
]}"#;

/// The gateway mode's cap is exactly the seven label sets of the first batch, so the POST
/// (an eighth) counts under `other`, which the dashboard's cap panel plots.
const GATEWAY_METRICS: &str = r#"{"maxLabelSets": 7}"#;
const ISTIO_METRICS: &str = r#"{"naming": "istio"}"#;
const ROUTE_METRICS: &str = r#"{"naming": "istioRoutes"}"#;

/// The proxy's identity as an Istio gateway's node carries it; the app and version labels
/// come through the VM's environment instead (`ISTIO_METAJSON_LABELS`), as pilot-agent reads it.
const WORKLOAD: &str = "istio-ingressgateway";
const WORKLOAD_NAMESPACE: &str = "istio-system";

/// How long the reviews upstream waits before answering.
const SLOW_DELAY: Duration = Duration::from_millis(150);

/// Long enough for one batch of traffic (and Envoy's histogram merge) between two scrapes.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(3);

/// Envoy's worker threads (the harness's default `--concurrency`).
const WORKERS: u32 = 2;

/// VMs each plugin runs, as measured on Envoy 1.40: one per worker, and two on the main
/// thread (the plugin's base VM, which Envoy configures to validate the config, and the main
/// thread's own).
const VMS_PER_PLUGIN: u32 = WORKERS + 2;

/// One kind of request of the traffic mix.
#[derive(Clone, Copy)]
struct Kind {
    method: &'static str,
    path: &'static str,
    /// How many of them one batch sends.
    count: u32,
}

/// The traffic of one batch. The first batch sends one of each (in this order: the gateway
/// mode admits the first seven label sets), the measured batch `count` of each.
const MIX: [Kind; 8] = [
    Kind {
        method: "GET",
        path: "/productpage",
        count: 6,
    },
    Kind {
        method: "GET",
        path: "/productpage/fail",
        count: 2,
    },
    Kind {
        method: "GET",
        path: "/api/products",
        count: 3,
    },
    Kind {
        method: "GET",
        path: "/reviews",
        count: 2,
    },
    Kind {
        method: "GET",
        path: "/ratings",
        count: 3,
    },
    Kind {
        method: "GET",
        path: "/details/1",
        count: 1,
    },
    Kind {
        method: "GET",
        path: "/nothing",
        count: 2,
    },
    Kind {
        method: "POST",
        path: "/productpage",
        count: 1,
    },
];

fn batch_total() -> u32 {
    MIX.iter().map(|kind| kind.count).sum()
}

/// Envoy with every module and three metrics plugins, its upstreams, and Prometheus.
struct Rig {
    envoy: Envoy,
    prometheus: Prometheus,
    _upstreams: Vec<Upstream>,
}

impl Rig {
    async fn start() -> Result<Self> {
        let metrics = |name: &str, config: &str| -> Result<WasmFilter> {
            Ok(WasmFilter::new(name, wasm_module("metrics")?, config)
                // Own VMs: each plugin's label-set cap and config generation are its own.
                .vm_id(name)
                .env(
                    "ISTIO_METAJSON_LABELS",
                    r#"{"app": "istio-ingressgateway", "version": "1.24"}"#,
                ))
        };
        let listener = Listener::new("gateway", RouteConfig::for_router())
            .filter(WasmFilter::new(
                "headers",
                wasm_module("headers")?,
                HEADERS_CONFIG,
            ))
            .filter(WasmFilter::new(
                "router",
                wasm_module("router")?,
                ROUTER_CONFIG,
            ))
            .filter(WasmFilter::new(
                "fault",
                wasm_module("fault")?,
                FAULT_CONFIG,
            ))
            .filter(metrics("metrics", GATEWAY_METRICS)?)
            .filter(metrics("metrics-istio", ISTIO_METRICS)?)
            .filter(metrics("metrics-routes", ROUTE_METRICS)?);
        let mut bootstrap = Bootstrap::new()
            .listener(listener)
            .metrics_stats_tags_every_mode::<&str>(&[])
            .extra(json!({
                "node": {
                    "id": "router~10.0.0.1~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local",
                    "cluster": "istio-ingressgateway.istio-system",
                    "metadata": {
                        "WORKLOAD_NAME": WORKLOAD,
                        "NAMESPACE": WORKLOAD_NAMESPACE,
                        "CLUSTER_ID": "Kubernetes",
                    },
                },
                // Histograms reach /stats/prometheus when Envoy merges them: on every admin
                // request (each scrape) rather than every 5 s.
                "stats_flush_on_admin": true,
            }));
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
        // Seven plugins for V8 to compile: on a busy 2-core machine that can pass 20 s.
        let options = EnvoyOptions {
            ready_timeout: Duration::from_secs(60),
            ..EnvoyOptions::default()
        };
        let envoy = Envoy::start_with(&bootstrap, &options).await?;
        let prometheus = Prometheus::start(&[envoy.admin_address()], SCRAPE_INTERVAL).await?;
        Ok(Self {
            envoy,
            prometheus,
            _upstreams: upstreams,
        })
    }

    /// Sends one batch: `count` of each kind (or one of each, in order, for the first batch).
    async fn send_batch(&self, first: bool) -> Result<()> {
        let base = self.envoy.listener_url("gateway")?;
        if first {
            for kind in MIX {
                Client::http1()
                    .request(kind.method, format!("{base}{}", kind.path))
                    .send()
                    .await?;
            }
            return Ok(());
        }
        // Concurrently, so the batch (with its two 150 ms requests) fits between two scrapes.
        let mut requests = tokio::task::JoinSet::new();
        for kind in MIX {
            for _ in 0..kind.count {
                let url = format!("{base}{}", kind.path);
                requests
                    .spawn(async move { Client::http1().request(kind.method, url).send().await });
            }
        }
        while let Some(outcome) = requests.join_next().await {
            outcome.map_err(|e| failure("a batch request", e))??;
        }
        Ok(())
    }

    /// Waits until Envoy's own `/stats/prometheus` shows `requests` requests in every metric
    /// of every mode (recorded in the access-log phase; histograms merged asynchronously).
    async fn wait_for_envoy(&self, requests: u32) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.envoy.stats_prometheus().await?;
            if COUNTED
                .iter()
                .all(|metric| sum_of(&text, metric) >= f64::from(requests))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(failure(
                    "waiting for Envoy's stats",
                    format!("not all of {COUNTED:?} reached {requests}:\n{text}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The timestamp of the latest scrape Prometheus has stored.
    async fn last_scrape(&self) -> Result<f64> {
        let samples = self
            .prometheus
            .query(r#"timestamp(up{job="envoy"})"#, None)
            .await?;
        Ok(samples.first().map_or(0.0, |sample| sample.value))
    }

    /// Waits for a scrape after `after` whose samples count `requests` everywhere; returns
    /// its timestamp.
    async fn wait_for_scrape(&self, after: f64, requests: u32) -> Result<f64> {
        let deadline = Instant::now() + SCRAPE_INTERVAL * 4;
        loop {
            let last = self.last_scrape().await?;
            if last > after && self.counted_at(last).await? >= f64::from(requests) {
                return Ok(last);
            }
            if Instant::now() > deadline {
                return Err(failure(
                    "waiting for a scrape",
                    format!(
                        "no scrape after {after} counting {requests} requests; prometheus log:\n{}",
                        self.prometheus.log()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The fewest requests any counted metric shows in the scrape at `time`.
    async fn counted_at(&self, time: f64) -> Result<f64> {
        let mut fewest = f64::INFINITY;
        for metric in COUNTED {
            let samples = self
                .prometheus
                .query(&format!("sum({metric})"), Some(time))
                .await?;
            fewest = fewest.min(samples.first().map_or(0.0, |sample| sample.value));
        }
        Ok(fewest)
    }

    /// Sends the first batch, then the measured one between two scrapes; returns their
    /// timestamps `(t0, t1)`.
    async fn measured_window(&self) -> Result<(f64, f64)> {
        self.send_batch(true).await?;
        let first = u32::try_from(MIX.len()).unwrap_or(u32::MAX);
        self.wait_for_envoy(first).await?;
        let mut counted = first;
        let mut t0 = self.wait_for_scrape(0.0, counted).await?;
        for _ in 0..3 {
            self.send_batch(false).await?;
            counted += batch_total();
            self.wait_for_envoy(counted).await?;
            let t1 = self.wait_for_scrape(t0, counted).await?;
            // The batch fell between two consecutive scrapes unless one came in the middle.
            let scrapes = self
                .prometheus
                .query(
                    &format!(
                        r#"count_over_time(up{{job="envoy"}}[{}ms])"#,
                        window_ms(t0, t1)
                    ),
                    Some(t1),
                )
                .await?;
            if scrapes.first().map(|sample| sample.value) == Some(2.0) {
                return Ok((t0, t1));
            }
            t0 = t1;
        }
        Err(failure(
            "sending a batch between two scrapes",
            "three batches each straddled a scrape",
        ))
    }
}

/// A harness error for what this test waited for in vain.
fn failure(context: &str, detail: impl std::fmt::Display) -> HarnessError {
    HarnessError::Http {
        context: context.to_owned(),
        detail: detail.to_string(),
    }
}

/// Metrics whose sum over all series is the number of requests, one per mode and kind.
const COUNTED: [&str; 6] = [
    "gateway_requests_total",
    "gateway_request_duration_milliseconds_count",
    "istio_requests_total",
    "istio_request_bytes_count",
    "gateway_route_requests_total",
    "gateway_route_request_duration_milliseconds_count",
];

/// The sum of every sample of `metric` in Prometheus text.
fn sum_of(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The rate window that holds the samples at `t0` and `t1` and no earlier one.
fn window_ms(t0: f64, t1: f64) -> u64 {
    // Scrape timestamps are whole milliseconds.
    ((t1 - t0) * 1000.0).round() as u64 + 1
}

/// Replaces Grafana's variables with what the test selects.
fn substitute(expr: &str, variables: &[(&str, &str)]) -> String {
    let mut expr = expr.to_owned();
    // Longest names first, so `$service` does not eat into a longer name.
    let mut variables = variables.to_vec();
    variables.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in variables {
        expr = expr.replace(&format!("${name}"), value);
    }
    assert!(!expr.contains('$'), "a variable is left in {expr}");
    expr
}

/// Every `expr` of the panels and `query` of the template variables.
fn collect_queries(value: &Value, exprs: &mut Vec<String>, variables: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => exprs.push(expr.clone()),
                    ("query", Value::Object(query)) => {
                        if let Some(Value::String(text)) = query.get("query") {
                            variables.push(text.clone());
                        }
                    }
                    _ => collect_queries(value, exprs, variables),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_queries(item, exprs, variables)),
        _ => {}
    }
}

fn read_json(relative: &str) -> Value {
    let path = envoy_test::workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts `actual` is `expected` within a relative `1e-3` (the 1 ms the window is wider).
fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-3 * expected.abs().max(1e-9);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual}, expected {expected}"
    );
}

/// The series of `samples` keyed by the values of `labels`.
fn by_labels<'a>(
    samples: &'a [PromSample],
    labels: &[&str],
) -> BTreeMap<Vec<String>, &'a PromSample> {
    samples
        .iter()
        .map(|sample| {
            let key = labels
                .iter()
                .map(|label| sample.label(label).to_owned())
                .collect();
            (key, sample)
        })
        .collect()
}

fn key(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

/// Checks one query of the project's dashboard against the measured batch.
fn check_gateway_query(expr: &str, samples: &[PromSample], seconds: f64) {
    let rate = |count: f64| count / seconds;
    let all_routes = [
        (["shop/bookinfo", "productpage"], 8.0),
        (["shop/bookinfo", "productpage-api"], 3.0),
        (["shop/bookinfo", "reviews.v2"], 2.0),
        (["shop/bookinfo", "ratings"], 3.0),
        (["shop/bookinfo", "details"], 1.0),
        (["unknown", "unknown"], 2.0),
        (["other", "other"], 1.0),
    ];
    let routes = by_labels(samples, &["virtual_service", "route_name"]);
    let route_keys: BTreeSet<Vec<String>> = all_routes.iter().map(|(k, _)| key(k)).collect();
    let context = format!("{expr}\n=> {samples:#?}");
    if expr.contains(r#"route_name="other""#) {
        assert_eq!(samples.len(), 1, "{context}");
        assert_close(samples[0].value, rate(1.0), &context);
    } else if expr.starts_with("sum by (virtual_service, route_name) (rate(gateway_requests_total")
        && expr.contains("response_code=~\"5..\"")
    {
        // Only routes with 5xx answers have an error ratio.
        let expected = [
            (["shop/bookinfo", "productpage"], 2.0 / 8.0),
            (["shop/bookinfo", "ratings"], 1.0),
            (["shop/bookinfo", "details"], 1.0),
        ];
        assert_eq!(routes.len(), expected.len(), "{context}");
        for (route, ratio) in expected {
            assert_close(routes[&key(&route)].value, ratio, &context);
        }
    } else if expr.starts_with("sum by (virtual_service, route_name) (rate(gateway_requests_total")
    {
        assert_eq!(routes.len(), all_routes.len(), "{context}");
        for (route, count) in all_routes {
            assert_close(routes[&key(&route)].value, rate(count), &context);
        }
    } else if expr.starts_with("sum by (response_code, response_flags)") {
        let codes = by_labels(samples, &["response_code", "response_flags"]);
        let expected = [
            (["200", "-"], 11.0),
            (["503", "-"], 2.0),
            (["503", "URX"], 3.0),
            (["503", "UH"], 1.0),
            (["404", "NR"], 2.0),
            (["other", "other"], 1.0),
        ];
        assert_eq!(codes.len(), expected.len(), "{context}");
        for (code, count) in expected {
            assert_close(codes[&key(&code)].value, rate(count), &context);
        }
    } else if expr.starts_with("sum by (destination_service, destination_subset)") {
        let destinations = by_labels(samples, &["destination_service", "destination_subset"]);
        let expected = [
            ([PRODUCTPAGE_SERVICE, "unknown"], 11.0),
            (["reviews.shop.svc.cluster.local", "v2"], 2.0),
            (["ratings.shop.svc.cluster.local", "unknown"], 3.0),
            (["details.shop.svc.cluster.local", "unknown"], 1.0),
            (["unknown", "unknown"], 2.0),
            (["other", "other"], 1.0),
        ];
        assert_eq!(destinations.len(), expected.len(), "{context}");
        for (destination, count) in expected {
            assert_close(
                destinations[&key(&destination)].value,
                rate(count),
                &context,
            );
        }
    } else if expr.contains("gateway_request_duration_milliseconds") {
        // Quantiles and means per route: the slow route's lie at or above the upstream's
        // delay (150 ms; Envoy's buckets put it in (100, 250]); every route's is a duration
        // of this test's requests, all well under a second. (Others are not "fast": ratings
        // waits out two retry back-offs, and a loaded 2-core machine adds tens of ms.)
        assert_eq!(
            routes.keys().cloned().collect::<BTreeSet<_>>(),
            route_keys,
            "{context}"
        );
        let floor = if expr.contains("histogram_quantile") {
            100.0
        } else {
            SLOW_DELAY.as_millis() as f64
        };
        for (route, sample) in &routes {
            assert!((0.0..1000.0).contains(&sample.value), "{route:?} {context}");
        }
        let slow = routes[&key(&["shop/bookinfo", "reviews.v2"])].value;
        assert!(slow >= floor, "{context}");
    } else if expr.contains("gateway_request_bytes") || expr.contains("gateway_response_bytes") {
        // Every route's p90 size is a size: headers (and bodies) of a few hundred bytes.
        assert_eq!(
            routes.keys().cloned().collect::<BTreeSet<_>>(),
            route_keys,
            "{context}"
        );
        for sample in routes.values() {
            assert!(sample.value > 0.0 && sample.value <= 5000.0, "{context}");
        }
    } else {
        check_health_query(expr, samples);
    }
}

/// The health row: every module's series, with the values this Envoy must show.
fn check_health_query(expr: &str, samples: &[PromSample]) {
    let context = format!("{expr}\n=> {samples:#?}");
    let names: BTreeMap<&str, f64> = samples
        .iter()
        .map(|sample| (sample.label("__name__"), sample.value))
        .collect();
    // For each plugin; metrics has three.
    let vms = f64::from(VMS_PER_PLUGIN);
    let expected: Vec<(&str, f64)> = if expr.contains("_config_generation") {
        ["router", "headers", "fault", "metrics"]
            .iter()
            .map(|module| (*module, 1.0))
            .collect()
    } else if expr.contains("_config_(loaded|rejected)") {
        vec![
            ("router_config_loaded", vms),
            ("headers_config_loaded", vms),
            ("fault_config_loaded", vms),
            ("metrics_config_loaded", 3.0 * vms),
            ("router_config_rejected", 0.0),
            ("headers_config_rejected", 0.0),
            ("fault_config_rejected", 0.0),
            ("metrics_config_rejected", 0.0),
        ]
    } else if expr.contains("_(vm_starts|panics)") {
        vec![
            ("router_vm_starts", vms),
            ("headers_vm_starts", vms),
            ("fault_vm_starts", vms),
            ("metrics_vm_starts", 3.0 * vms),
            ("router_panics", 0.0),
            ("headers_panics", 0.0),
            ("fault_panics", 0.0),
            ("metrics_panics", 0.0),
        ]
    } else if expr.contains("router_routes") {
        vec![
            ("router_routes", 5.0),
            ("headers_rules", 2.0),
            ("fault_rules", 1.0),
        ]
    } else if expr.contains("active_faults") {
        vec![
            ("fault_active_faults", 0.0),
            ("router_fault_active_faults", 0.0),
        ]
    } else {
        panic!("the test has no expectation for the dashboard query {expr}");
    };
    let expected: Vec<(String, f64)> = expected
        .into_iter()
        .map(|(name, value)| {
            let name = if expr.contains("_config_generation") {
                format!("{name}_config_generation")
            } else {
                name.to_owned()
            };
            (name, value)
        })
        .collect();
    assert_eq!(
        names.keys().copied().collect::<BTreeSet<_>>(),
        expected.iter().map(|(name, _)| name.as_str()).collect(),
        "{context}"
    );
    for (name, value) in &expected {
        assert_eq!(names[name.as_str()], *value, "{name}: {context}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_every_dashboard_query() -> Result<()> {
    let rig = Rig::start().await?;
    let (t0, t1) = rig.measured_window().await?;
    let seconds = t1 - t0;
    let window = format!("{}ms", window_ms(t0, t1));

    // The project's dashboard.
    let dashboard = read_json("docs/grafana/dashboard.json");
    let (mut exprs, mut variables) = (Vec::new(), Vec::new());
    collect_queries(&dashboard, &mut exprs, &mut variables);
    assert!(exprs.len() >= 16, "{exprs:#?}");
    let selection = [
        ("__rate_interval", window.as_str()),
        ("virtual_service", ".*"),
        ("route_name", ".*"),
    ];
    for expr in &exprs {
        let query = substitute(expr, &selection);
        let samples = rig.prometheus.query(&query, Some(t1)).await?;
        check_gateway_query(&query, &samples, seconds);
    }
    // Grafana's `label_values(metric{…}, label)`: the label's values among the series.
    assert_eq!(variables.len(), 2, "{variables:?}");
    for variable in &variables {
        let inner = variable
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not label_values: {variable}"));
        let (matcher, label) = inner.rsplit_once(',').expect("label_values(series, label)");
        let matcher = substitute(matcher.trim(), &selection);
        let series = rig.prometheus.series(&matcher).await?;
        let values: BTreeSet<&str> = series
            .iter()
            .filter_map(|labels| labels.get(label.trim()).map(String::as_str))
            .collect();
        let expected: BTreeSet<&str> = match label.trim() {
            "virtual_service" => ["shop/bookinfo", "unknown", "other"].into(),
            "route_name" => [
                "productpage",
                "productpage-api",
                "reviews.v2",
                "ratings",
                "details",
                "unknown",
                "other",
            ]
            .into(),
            other => panic!("no expectation for label_values of {other}"),
        };
        assert_eq!(values, expected, "{variable}");
    }

    check_istio_workload_labels(&rig, t1).await?;
    check_istio_service_dashboard(&rig, t1, seconds, &window).await?;
    check_route_join(&rig, t1, &window).await?;
    Ok(())
}

/// The `source_*` labels: name, namespace and cluster from the node metadata, app and version
/// from the VM's `ISTIO_METAJSON_LABELS`, the canonical service and revision by Istio's
/// fallbacks from those.
async fn check_istio_workload_labels(rig: &Rig, t1: f64) -> Result<()> {
    let labels = [
        "source_workload",
        "source_workload_namespace",
        "source_cluster",
        "source_app",
        "source_version",
        "source_canonical_service",
        "source_canonical_revision",
        "source_principal",
        "connection_security_policy",
    ];
    let expr = format!("count by ({}) (istio_requests_total)", labels.join(", "));
    let samples = rig.prometheus.query(&expr, Some(t1)).await?;
    assert_eq!(samples.len(), 1, "{expr}\n=> {samples:#?}");
    let values: Vec<&str> = labels.iter().map(|label| samples[0].label(label)).collect();
    assert_eq!(
        values,
        [
            WORKLOAD,
            WORKLOAD_NAMESPACE,
            "Kubernetes",
            "istio-ingressgateway",
            "1.24",
            "istio-ingressgateway",
            "1.24",
            "unknown",
            "unknown",
        ],
        "{labels:?}"
    );
    Ok(())
}

/// Istio's Service dashboard for the productpage service, as the gateway (reporter `source`)
/// reports it in the `istio` naming mode.
async fn check_istio_service_dashboard(
    rig: &Rig,
    t1: f64,
    seconds: f64,
    window: &str,
) -> Result<()> {
    let data = read_json("envoy-test/tests/prometheus/istio_service_dashboard.json");
    let queries = data["queries"].as_array().cloned().unwrap_or_default();
    assert!(
        queries.len() >= 70,
        "the test data holds the whole dashboard"
    );
    let selection = [
        ("__rate_interval", window),
        ("qrep", "source"),
        ("service", PRODUCTPAGE_SERVICE),
        ("srcns", ".*"),
        ("srcwl", ".*"),
        ("dstns", ".*"),
        ("dstwl", ".*"),
    ];
    // The productpage service's requests in one batch: 6 + 2 aborted + 3 via /api + 1 POST.
    let (all, ok) = (12.0, 10.0);
    let mut answered = 0;
    for query in &queries {
        let panel = query["panel"].as_str().unwrap_or_default();
        let expr = substitute(query["expr"].as_str().unwrap_or_default(), &selection);
        let samples = rig.prometheus.query(&expr, Some(t1)).await?;
        let context = format!("{panel}: {expr}\n=> {samples:#?}");
        // Empty, as on a real Istio gateway: the module counts HTTP only (TCP panels), a
        // gateway reports as the client (`reporter="destination"` panels), and the client
        // side's connection_security_policy is `unknown`, never `mutual_tls`.
        if expr.contains("istio_tcp_")
            || expr.contains(r#"reporter="destination""#)
            || expr.contains(r#"connection_security_policy="mutual_tls""#)
        {
            assert!(samples.is_empty(), "{context}");
            continue;
        }
        answered += 1;
        assert!(!samples.is_empty(), "{context}");
        for sample in &samples {
            if expr.contains("by (source_workload, source_workload_namespace") {
                assert_eq!(sample.label("source_workload"), WORKLOAD, "{context}");
                assert_eq!(
                    sample.label("source_workload_namespace"),
                    WORKLOAD_NAMESPACE
                );
            }
        }
        let rounded = |count: f64| (count / seconds * 1000.0).round() / 1000.0;
        match panel {
            "Client Request Volume" => {
                assert_eq!(samples.len(), 1, "{context}");
                assert!(
                    (samples[0].value - rounded(all)).abs() < 0.0015,
                    "{context}"
                );
            }
            "Client Success Rate (non-5xx responses)"
            | "Incoming Success Rate (non-5xx responses) By Source" => {
                assert_eq!(samples.len(), 1, "{context}");
                assert_close(samples[0].value, ok / all, &context);
            }
            "Incoming Requests By Source And Response Code" => {
                let codes = by_labels(&samples, &["response_code"]);
                assert_eq!(codes.len(), 2, "{context}");
                assert!(
                    (codes[&key(&["200"])].value - rounded(ok)).abs() < 0.0015,
                    "{context}"
                );
                assert!(
                    (codes[&key(&["503"])].value - rounded(all - ok)).abs() < 0.0015,
                    "{context}"
                );
            }
            "Client Request Duration" | "Incoming Request Duration By Source" => {
                // Seconds: productpage answers fast (Envoy's lowest buckets), under 0.1 s.
                assert_eq!(samples.len(), 1, "{context}");
                assert!((0.0..0.1).contains(&samples[0].value), "{context}");
            }
            "Incoming Request Size By Source" | "Response Size By Source" => {
                assert_eq!(samples.len(), 1, "{context}");
                assert!(
                    samples[0].value > 0.0 && samples[0].value <= 5000.0,
                    "{context}"
                );
            }
            other => panic!("no expectation for Istio's panel {other:?}: {expr}"),
        }
    }
    assert!(
        answered >= 15,
        "only {answered} of Istio's queries apply to a gateway"
    );
    Ok(())
}

/// The `istioRoutes` series joined with Istio's: each route's share of its service's requests.
async fn check_route_join(rig: &Rig, t1: f64, window: &str) -> Result<()> {
    let expr = substitute(ROUTE_SHARE_QUERY, &[("__rate_interval", window)]);
    let samples = rig.prometheus.query(&expr, Some(t1)).await?;
    let context = format!("{expr}\n=> {samples:#?}");
    let shares = by_labels(&samples, &["destination_service", "route_name"]);
    let expected = [
        ([PRODUCTPAGE_SERVICE, "productpage"], 9.0 / 12.0),
        ([PRODUCTPAGE_SERVICE, "productpage-api"], 3.0 / 12.0),
        (["reviews.shop.svc.cluster.local", "reviews.v2"], 1.0),
        (["ratings.shop.svc.cluster.local", "ratings"], 1.0),
        (["details.shop.svc.cluster.local", "details"], 1.0),
        (["unknown", "unknown"], 1.0),
    ];
    assert_eq!(shares.len(), expected.len(), "{context}");
    for (route, share) in expected {
        assert_close(shares[&key(&route)].value, share, &context);
    }
    Ok(())
}

/// The join documented in docs/metrics.md (`istioRoutes`): route series over Istio's own.
const ROUTE_SHARE_QUERY: &str = r#"sum by (destination_service, route_name) (rate(gateway_route_requests_total{reporter="source"}[$__rate_interval])) / on (destination_service) group_left sum by (destination_service) (rate(istio_requests_total{reporter="source"}[$__rate_interval]))"#;

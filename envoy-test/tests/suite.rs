//! The suite build (`dist/suite.wasm`): all four modules from one `.wasm`, each plugin choosing
//! its module by `root_id`, sharing one VM per thread; beside the same chain built from the
//! four single-module `.wasm` files, which needs four VMs per thread.

use std::time::{Duration, Instant};

use engine::metrics::names::REQUESTS_TOTAL;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, EnvoyOptions, Listener, Upstream,
    UpstreamOptions, WasmFilter,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const PRODUCTPAGE: &str = "outbound|9080||productpage.default.svc.cluster.local";

const ROUTES: &str = r#"{"hosts": ["*"], "http": [
    {"name": "productpage", "match": [{"uri": {"prefix": "/productpage"}}],
     "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}
]}"#;

const HEADER_RULES: &str = r#"{"rules": [
    {"request": {"set": {"x-gateway": "edge-1"}}},
    {"response": {"set": {"x-frame-options": "DENY"}}}
]}"#;

const FAULTS: &str = r#"{"rules": [
    {"match": [{"headers": {"x-fault": {"exact": "abort"}}}],
     "abort": {"httpStatus": 418, "percentage": {"value": 100}}}
]}"#;

/// One worker: Envoy then runs one VM per distinct VM configuration on the main thread and one
/// on the worker. V8 compiles four distinct modules for the separate chain: on a loaded CI
/// machine that alone took over 20 s.
fn one_worker() -> EnvoyOptions {
    EnvoyOptions {
        concurrency: 1,
        ready_timeout: Duration::from_secs(90),
        ..EnvoyOptions::default()
    }
}

/// headers, router, fault, metrics (the `make run` order), each plugin from `wasm_of(module)`
/// with the `root_id` `module` and one shared `vm_id`.
fn chain(wasm_of: impl Fn(&str) -> Result<std::path::PathBuf>) -> Result<Listener> {
    let mut listener = Listener::for_router("gateway");
    for (module, config) in [
        ("headers", HEADER_RULES),
        ("router", ROUTES),
        ("fault", FAULTS),
        ("metrics", "{}"),
    ] {
        listener = listener.filter(
            WasmFilter::new(module, wasm_of(module)?, config)
                .root_id(module)
                .vm_id("gateway"),
        );
    }
    Ok(listener)
}

async fn start(listener: Listener, upstream: &Upstream) -> Result<Envoy> {
    let bootstrap = Bootstrap::new()
        .metrics_stats_tags::<&str>(&[])
        .listener(listener)
        .cluster(Cluster::new(PRODUCTPAGE, [upstream.addr()]));
    Ok(Envoy::start_with(&bootstrap, &one_worker()).await?)
}

/// The value of the gauge `name` in Envoy's `/stats` text (`name: value`).
async fn gauge(envoy: &Envoy, name: &str) -> Result<u64> {
    let (_, stats) = envoy.admin_get(&format!("/stats?filter=^{name}$")).await?;
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| format!("no {name} in /stats:\n{stats}").into())
}

/// The sum of the metrics module's request counter over its label sets, once it reaches
/// `expected` or after 10 s (Envoy records in the access-log phase, just after the answer).
async fn requests_counted(envoy: &Envoy, expected: f64) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = envoy.stats_prometheus().await?;
        let counted: f64 = text
            .lines()
            .filter(|line| line.starts_with(REQUESTS_TOTAL))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if counted >= expected || Instant::now() > deadline {
            return Ok(counted);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the chain does to requests, whichever build runs it.
async fn check_every_module_works(envoy: &Envoy) -> Result<()> {
    let url = envoy.listener_url("gateway")?;
    let client = Client::http1();

    let routed = client.get(format!("{url}/productpage")).send().await?;
    assert_eq!(routed.status, 200, "{}", routed.text());
    assert_eq!(
        routed.header("x-frame-options"),
        Some("DENY"),
        "headers, response"
    );
    let echo: Echo = routed.json()?;
    assert_eq!(echo.upstream, PRODUCTPAGE, "router");
    assert_eq!(echo.header("x-gateway"), Some("edge-1"), "headers, request");

    let aborted = client
        .get(format!("{url}/productpage"))
        .header("x-fault", "abort")
        .send()
        .await?;
    assert_eq!(aborted.status, 418, "fault: {}", aborted.text());

    let unrouted = client.get(format!("{url}/nowhere")).send().await?;
    assert_eq!(unrouted.status, 404, "router: no route");

    let counted = requests_counted(envoy, 3.0).await?;
    assert_eq!(counted, 3.0, "metrics: every request counted once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_runs_all_four_modules_in_one_vm_per_thread() -> Result<()> {
    let upstream = Upstream::start(PRODUCTPAGE, UpstreamOptions::default()).await?;

    let suite = start(chain(|_| Ok(wasm_module("suite")?))?, &upstream).await?;
    check_every_module_works(&suite).await?;
    let suite_vms = gauge(&suite, "wasm.envoy.wasm.runtime.v8.active").await?;

    let separate = start(chain(|module| Ok(wasm_module(module)?))?, &upstream).await?;
    check_every_module_works(&separate).await?;
    let separate_vms = gauge(&separate, "wasm.envoy.wasm.runtime.v8.active").await?;

    // Envoy 1.40 keeps, per distinct VM configuration, the base VM it compiled and loaded
    // the code in, plus one VM per thread (the main thread's and the worker's): three for the
    // whole suite, three for each single module.
    assert_eq!(suite_vms, 3, "VMs with the suite");
    assert_eq!(separate_vms, 4 * suite_vms, "VMs with four modules");

    // Each module still reports its own health under its own name.
    let health = suite.stats_prometheus().await?;
    for module in ["router", "headers", "fault", "metrics"] {
        let loaded = format!("{module}_config_loaded");
        assert!(
            health.lines().any(|line| line.starts_with(&loaded)),
            "{loaded} missing from the suite's stats"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_id_that_names_no_module_is_refused_with_the_reason() -> Result<()> {
    let bootstrap = Bootstrap::new().listener(
        Listener::for_router("gateway")
            .filter(WasmFilter::new("typo", wasm_module("suite")?, "{}").root_id("ruoter")),
    );
    let log = Envoy::start_expect_failure(&bootstrap).await?;
    assert!(
        log.contains(r#"suite: root_id "ruoter" names no module of the suite; it must be one of: router, headers, fault, metrics"#),
        "{log}"
    );
    Ok(())
}

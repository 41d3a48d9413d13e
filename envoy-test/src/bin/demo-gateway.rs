//! `make run`: a local gateway on loopback — Envoy with every module, in front of demo echo
//! upstreams — until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use envoy_test::{
    wasm_module, workspace_root, Bootstrap, Cluster, Envoy, EnvoyOptions, FailurePolicy, Listener,
    Prometheus, Upstream, UpstreamOptions, WasmFilter,
};

/// The demo VirtualService's destinations, as Istio names their clusters.
const CLUSTERS: [&str; 3] = [
    "outbound|9080||productpage.default.svc.cluster.local",
    "outbound|9080|v1|reviews.default.svc.cluster.local",
    "outbound|9080|v2|reviews.default.svc.cluster.local",
];

/// The metrics module's demo config: one user dimension from a request header.
const METRICS_CONFIG: &str =
    r#"{"dimensions": [{"name": "end_user", "requestHeader": "end-user"}]}"#;
const METRICS_DIMENSIONS: [&str; 1] = ["end_user"];

/// How often the demo's Prometheus scrapes Envoy.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(5);

/// The query `make run` suggests, and the graph `make screenshots` takes.
const ROUTE_RATE_QUERY: &str =
    "sum by (virtual_service, route_name) (rate(gateway_requests_total[1m]))";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let port = parse_port()?;
    let (config_path, router_config) = demo_config("router.json")?;
    let (headers_path, headers_config) = demo_config("headers.json")?;
    let (fault_config_path, fault_config) = demo_config("fault.json")?;

    // The failure policies are those of wasmplugins/modules.yaml, for the same reasons; the
    // listener carries istio-ingressgateway's connection manager defaults and strips a client's
    // x-route-cluster before routing (`envoy_test::gateway_defaults`).
    let mut bootstrap = Bootstrap::new()
        .listener(
            Listener::for_router("gateway")
                .port(port)
                // Before the router, so a header a rule sets can steer the route, and before
                // the fault module, so its response rules also reach fault aborts.
                .filter(
                    WasmFilter::new("headers", wasm_module("headers")?, headers_config)
                        // Reload: skipped, internal headers would pass; closed, the worker
                        // would answer 503 until Envoy restarts.
                        .failure_policy(FailurePolicy::FailReload),
                )
                .filter(
                    WasmFilter::new("router", wasm_module("router")?, router_config)
                        // Reload: skipped, nothing would be routed (404); closed, 503 until
                        // Envoy restarts. A client's x-route-cluster chooses nothing either way.
                        .failure_policy(FailurePolicy::FailReload),
                )
                // After the router, so `upstreamCluster` sees the cluster it chose.
                .filter(
                    WasmFilter::new("fault", wasm_module("fault")?, fault_config)
                        // Open: a broken fault injector must never take traffic down.
                        .failure_policy(FailurePolicy::FailOpen),
                )
                .filter(
                    WasmFilter::new("metrics", wasm_module("metrics")?, METRICS_CONFIG)
                        // Open: metrics are observation and must never take traffic down.
                        .failure_policy(FailurePolicy::FailOpen),
                ),
        )
        .metrics_stats_tags(&METRICS_DIMENSIONS);
    let mut upstreams = Vec::new();
    for cluster in CLUSTERS {
        let upstream = Upstream::start(cluster, UpstreamOptions::default()).await?;
        bootstrap = bootstrap.cluster(Cluster::new(cluster, [upstream.addr()]));
        upstreams.push(upstream);
    }
    // V8 compiles four modules at start: on a busy 2-core machine that can take over 20 s.
    let options = EnvoyOptions {
        ready_timeout: Duration::from_secs(90),
        ..EnvoyOptions::default()
    };
    let envoy = Envoy::start_with(&bootstrap, &options).await?;

    let base = format!("http://127.0.0.1:{port}");
    println!(
        "Gateway listening on {base} (Envoy admin: http://{})",
        envoy.admin_address()
    );
    println!("Router config: {}", config_path.display());
    println!("Headers config: {}", headers_path.display());
    println!("Fault config:  {}", fault_config_path.display());
    println!();
    println!("  curl -s {base}/productpage                          # exact");
    println!("  curl -s {base}/static/app.css                       # prefix");
    println!("  curl -s {base}/api/v1/reviews/0                     # regex -> v1");
    println!("  curl -s -H 'end-user: jason' {base}/api/v1/reviews/0  # header -> v2");
    println!("  curl -si {base}/nothing                                            # 404 route_not_found");
    println!("  curl -si '{base}/api/v1/reviews/0?beta'         # headers: rule sets end-user -> v2, security headers");
    println!("  curl -s -o /dev/null -w '%{{time_total}}s\\n' -H 'end-user: jason' {base}/api/v1/reviews/0  # fault: 2s delay");
    println!("  curl -si -H 'x-envoy-fault-abort-request: 503' {base}/productpage             # fault: abort 503");
    println!("  curl -s -o /dev/null -w '%{{time_total}}s\\n' -H 'x-envoy-fault-delay-request: 500' {base}/productpage  # fault: 500ms");
    println!(
        "  curl -s http://{}/stats/prometheus | grep envoy_cluster_upstream_rq_total",
        envoy.admin_address()
    );
    println!(
        "  curl -s http://{}/stats/prometheus | grep -E '^(gateway_requests_total|fault_)'   # metrics",
        envoy.admin_address()
    );
    // Only when it is installed: Prometheus is for looking, the gateway works without it.
    let prometheus = match Prometheus::binary() {
        Ok(_) => {
            match Prometheus::start(&[envoy.admin_address()], SCRAPE_INTERVAL).await {
                Ok(prometheus) => Some(prometheus),
                Err(error) => {
                    eprintln!("demo-gateway: Prometheus did not start, the gateway runs without it: {error}");
                    None
                }
            }
        }
        Err(_) => None,
    };
    println!();
    match &prometheus {
        Some(prometheus) => {
            println!(
                "Prometheus: {} (scrapes the admin's /stats/prometheus every {}s)",
                prometheus.url(),
                SCRAPE_INTERVAL.as_secs()
            );
            println!("  query: {ROUTE_RATE_QUERY}");
            println!(
                "  graph: {}",
                graph_url(&prometheus.url(), ROUTE_RATE_QUERY)
            );
        }
        None => println!("Prometheus: not installed (`make system-packages` installs Debian's)"),
    }
    println!();
    println!("Ctrl-C stops Envoy and the upstreams.");

    wait_for_shutdown().await?;
    drop(prometheus);
    drop(envoy);
    drop(upstreams);
    Ok(())
}

/// Prometheus's graph page for `query` over the last 5 minutes.
fn graph_url(base: &str, query: &str) -> String {
    let mut encoded = String::new();
    for byte in query.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{base}/graph?g0.expr={encoded}&g0.tab=0&g0.range_input=5m")
}

/// A module config of the demo, `envoy-test/demo/<name>`, and its path for the banner.
fn demo_config(name: &str) -> Result<(std::path::PathBuf, String), String> {
    let path = workspace_root().join("envoy-test/demo").join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok((path, text))
}

fn parse_port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 10000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|_| format!("--port {value}: not a port number"))?;
            }
            other => return Err(format!("unknown argument {other:?} (expected --port N)")),
        }
    }
    Ok(port)
}

async fn wait_for_shutdown() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

//! `make run`: a local gateway on loopback — Envoy with every module, in front of demo echo
//! upstreams — until Ctrl-C.

use std::process::ExitCode;

use envoy_test::{
    wasm_module, workspace_root, Bootstrap, Cluster, Envoy, FailurePolicy, Listener, Upstream,
    UpstreamOptions, WasmFilter,
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
    let envoy = Envoy::start(&bootstrap).await?;

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
    println!();
    println!("Ctrl-C stops Envoy and the upstreams.");

    wait_for_shutdown().await?;
    drop(envoy);
    drop(upstreams);
    Ok(())
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

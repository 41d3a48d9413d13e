//! `servicePorts` in a real Envoy: a destination without a port reaches its service's only
//! port; a service the registry does not list is a warning in Envoy's log when the config
//! loads, and its requests get 503 with the details `router_unknown_service`, where Envoy's own
//! answer for a cluster it does not have is 503 `cluster_not_found`.

use std::path::Path;
use std::time::{Duration, Instant};

use engine::router::UNKNOWN_SERVICE_DETAILS;
use envoy_test::{
    wasm_module, Bootstrap, Client, Cluster, Echo, Envoy, Listener, Result, Upstream,
    UpstreamOptions, WasmFilter,
};
use serde_json::json;

const REVIEWS_V1: &str = "outbound|9080|v1|reviews.bookinfo.svc.cluster.local";

const ACCESS_LOG_FORMAT: &str = "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\n";

/// Bookinfo's reviews route as shipped (no port), plus a route to a service nobody declared,
/// and one on a path that only the no-registry listener serves.
fn config(service_ports: bool) -> String {
    let registry = if service_ports {
        r#", "servicePorts": {"reviews.bookinfo.svc.cluster.local": [9080]}"#
    } else {
        r#", "defaultPort": 9080"#
    };
    format!(
        r#"{{"virtualServices": [{{"name": "reviews", "namespace": "bookinfo", "spec": {{
             "hosts": ["*"],
             "http": [
               {{"match": [{{"uri": {{"prefix": "/details"}}}}],
                 "route": [{{"destination": {{"host": "details"}}}}]}},
               {{"route": [{{"destination": {{"host": "reviews", "subset": "v1"}}}}]}}
             ]}}}}]{registry}}}"#
    )
}

fn access_log(path: &Path) -> serde_json::Value {
    json!({"access_log": [{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path.to_string_lossy(),
            "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
        },
    }]})
}

/// Waits (Envoy flushes access logs about every second) for `path` to have `lines` lines.
async fn access_log_lines(path: &Path, lines: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<String> = text.lines().map(str::to_owned).collect();
        if found.len() >= lines || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portless_destinations_reach_the_service_port_and_unknown_services_get_503() -> Result<()> {
    let logs = tempfile::tempdir().map_err(|source| envoy_test::HarnessError::Io {
        context: "creating a scratch directory".into(),
        source,
    })?;
    let upstream = Upstream::start("reviews-v1", UpstreamOptions::default()).await?;
    let listener = |name: &str, service_ports: bool| -> Result<Listener> {
        Ok(Listener::for_router(name)
            .filter(WasmFilter::new(
                "router",
                wasm_module("router")?,
                config(service_ports),
            ))
            .extra(access_log(&logs.path().join(name))))
    };
    let bootstrap = Bootstrap::new()
        .listener(listener("registry", true)?)
        .listener(listener("plain", false)?)
        .cluster(Cluster::new(REVIEWS_V1, [upstream.addr()]));
    let envoy = Envoy::start(&bootstrap).await?;
    let get = |listener: &'static str, path: &'static str| {
        let envoy = &envoy;
        async move {
            let url = format!("{}{path}", envoy.listener_url(listener)?);
            Client::http1().get(url).send().await
        }
    };

    // Bookinfo's `destination: {host: reviews, subset: v1}` reaches port 9080's subset cluster.
    let response = get("registry", "/reviews/1").await?;
    assert_eq!(response.status, 200, "{}", envoy.log());
    let echo: Echo = response.json()?;
    assert_eq!(echo.upstream, "reviews-v1");

    // `details` is in no servicePorts entry: the module answers 503 and says why.
    let response = get("registry", "/details/1").await?;
    assert_eq!(response.status, 503);
    assert_eq!(response.text(), "");
    let lines = access_log_lines(&logs.path().join("registry"), 2).await;
    assert_eq!(
        lines,
        [
            "200 via_upstream /reviews/1".to_string(),
            format!("503 {UNKNOWN_SERVICE_DETAILS} /details/1"),
        ]
    );
    let log = envoy.log();
    assert!(
        log.contains(
            "router: virtualServices[0].spec.http[0].route[0].destination: service \
             details.bookinfo.svc.cluster.local is not in servicePorts"
        ),
        "the warning is logged when the config loads:\n{log}"
    );

    // Without servicePorts, the cluster `outbound|9080||details…` does not exist: Envoy's own
    // 503, as on an Istio gateway.
    let response = get("plain", "/details/1").await?;
    assert_eq!(response.status, 503);
    let lines = access_log_lines(&logs.path().join("plain"), 1).await;
    assert_eq!(lines, ["503 cluster_not_found /details/1"]);
    drop(envoy);
    drop(upstream);
    Ok(())
}

//! Self-tests of the harness against a real Envoy.

use std::time::{Duration, Instant};

use envoy_test::{
    Bootstrap, Client, Cluster, Echo, Envoy, EnvoyBinary, EnvoyOptions, HarnessError, HttpFilter,
    Listener, Result, RouteConfig, Upstream, UpstreamOptions, WasmFilter,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_response_over_http1_and_h2c() -> Result<()> {
    let bootstrap = Bootstrap::new().listener(Listener::new(
        "main",
        RouteConfig::direct_response(201, "hi"),
    ));
    let envoy = Envoy::start(&bootstrap).await?;
    let url = format!("{}/anything", envoy.listener_url("main")?);

    for client in [Client::http1(), Client::http2()] {
        let response = client.get(&url).send().await?;
        assert_eq!(response.status, 201);
        assert_eq!(response.text(), "hi");
        // Istio's gateway defaults name the server as istio-ingressgateway does.
        assert_eq!(response.header("Server"), Some("istio-envoy"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_to_an_echo_upstream_over_both_protocols() -> Result<()> {
    let upstream = Upstream::start("echo", UpstreamOptions::default()).await?;
    let bootstrap = Bootstrap::new()
        .listener(Listener::new("h1", RouteConfig::to_cluster("plain")))
        .listener(Listener::new("h2", RouteConfig::to_cluster("h2c")))
        .cluster(Cluster::new("plain", [upstream.addr()]))
        .cluster(Cluster::new("h2c", [upstream.addr()]).http2());
    let envoy = Envoy::start(&bootstrap).await?;

    let cases = [
        ("h1", Client::http1(), "HTTP/1.1"),
        ("h1", Client::http2(), "HTTP/1.1"),
        ("h2", Client::http1(), "HTTP/2.0"),
        ("h2", Client::http2(), "HTTP/2.0"),
    ];
    for (listener, client, upstream_version) in cases {
        let url = format!("{}/some/path?q=1&r=two", envoy.listener_url(listener)?);
        let response = client
            .request("PUT", url)
            .header("x-multi", "one")
            .header("x-multi", "two")
            .header("x-single", "value")
            .body("payload")
            .send()
            .await?;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        let echo: Echo = response.json()?;
        assert_eq!(echo.upstream, "echo");
        assert_eq!(echo.method, "PUT");
        assert_eq!(echo.path, "/some/path?q=1&r=two");
        assert_eq!(echo.version, upstream_version);
        assert_eq!(echo.header_all("x-multi"), ["one", "two"]);
        assert_eq!(echo.header("X-Single"), Some("value"));
        assert_eq!(echo.body, "payload");
        let port = envoy.listener_port(listener)?;
        assert_eq!(echo.authority, format!("127.0.0.1:{port}"));
    }
    assert_eq!(upstream.requests_received(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_header_picks_the_cluster_and_is_stripped() -> Result<()> {
    let a = Upstream::start("a", UpstreamOptions::default()).await?;
    let b = Upstream::start("b", UpstreamOptions::default()).await?;
    let bootstrap = Bootstrap::new()
        .listener(Listener::new(
            "main",
            RouteConfig::cluster_header("x-test-cluster"),
        ))
        .cluster(Cluster::new("a", [a.addr()]))
        .cluster(Cluster::new("b", [b.addr()]).http2());
    let envoy = Envoy::start(&bootstrap).await?;
    let url = envoy.listener_url("main")?;
    let client = Client::http1();

    let echo: Echo = client
        .get(format!("{url}/x"))
        .header("x-test-cluster", "b")
        .send()
        .await?
        .json()?;
    assert_eq!(echo.upstream, "b");
    assert_eq!(echo.header("x-test-cluster"), None);

    let without_header = client.get(format!("{url}/x")).send().await?;
    assert_eq!(without_header.status, 404);
    assert_eq!((a.requests_received(), b.requests_received()), (0, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_makes_a_load_loop_quick() -> Result<()> {
    let upstream = Upstream::start("echo", UpstreamOptions::default()).await?;
    let bootstrap = Bootstrap::new()
        .listener(Listener::new("main", RouteConfig::to_cluster("echo")))
        .cluster(Cluster::new("echo", [upstream.addr()]));
    let envoy = Envoy::start(&bootstrap).await?;
    let url = format!("{}/loop", envoy.listener_url("main")?);
    let client = Client::http1();

    let started = Instant::now();
    for _ in 0..3000 {
        assert_eq!(client.get(&url).send().await?.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "3000 requests took {:?}",
        started.elapsed()
    );
    assert_eq!(upstream.requests_received(), 3000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_stats_are_reachable() -> Result<()> {
    let bootstrap = Bootstrap::new()
        .listener(Listener::new(
            "main",
            RouteConfig::direct_response(200, "ok"),
        ))
        .stats_tag("envoy_test_tag", r"^envoy_test\.((.*?)\.)");
    let envoy = Envoy::start(&bootstrap).await?;
    Client::http1()
        .get(envoy.listener_url("main")?)
        .send()
        .await?;

    let (status, body) = envoy.admin_get("/ready").await?;
    assert_eq!((status, body.trim()), (200, "LIVE"));
    let stats = envoy.stats_prometheus().await?;
    assert!(
        stats
            .contains(r#"envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="main"} 1"#),
        "{stats}"
    );
    assert!(envoy.log().contains("starting main dispatch loop"));
    assert!(matches!(
        envoy.listener_port("nope"),
        Err(HarnessError::UnknownListener { .. })
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accepts_good_and_rejects_broken_bootstraps() -> Result<()> {
    let binary = EnvoyBinary::shared()?;
    let good = Bootstrap::new()
        .listener(Listener::new(
            "main",
            RouteConfig::cluster_header("x-cluster"),
        ))
        .cluster(Cluster::new("a", ["127.0.0.1:1".parse().unwrap()]));
    binary.validate(&good)?;

    let broken = good
        .extra(json!({ "static_resources": { "clusters": [{ "name": "b", "bogus_field": 1 }] } }));
    let error = binary
        .validate(&broken)
        .expect_err("envoy accepted an unknown field");
    let log = error.envoy_log().expect("a rejection carries envoy's log");
    assert!(log.contains("bogus_field"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_refusing_a_wasm_filter_reports_its_log() -> Result<()> {
    let missing = std::env::temp_dir().join("envoy-test-missing-module.wasm");
    let filter = WasmFilter::new("router", &missing, "{}").fail_open(true);
    let bootstrap = Bootstrap::new()
        .listener(Listener::new("main", RouteConfig::direct_response(200, "ok")).filter(filter));
    let log = Envoy::start_expect_failure(&bootstrap).await?;
    assert!(log.contains(&missing.display().to_string()), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_native_filters_run_before_the_router() -> Result<()> {
    let fault = HttpFilter::Raw(json!({
        "name": "envoy.filters.http.fault",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "abort": { "http_status": 418, "percentage": { "numerator": 100 } },
        },
    }));
    let bootstrap = Bootstrap::new()
        .listener(Listener::new("main", RouteConfig::direct_response(200, "ok")).filter(fault));
    let envoy = Envoy::start(&bootstrap).await?;
    let response = Client::http2()
        .get(envoy.listener_url("main")?)
        .send()
        .await?;
    assert_eq!(response.status, 418);

    let started_after_all = Envoy::start_expect_failure(&bootstrap).await;
    assert!(matches!(
        started_after_all,
        Err(HarnessError::EnvoyFailed { .. })
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_gives_up_after_the_ready_timeout() {
    let bootstrap = Bootstrap::new().listener(Listener::new(
        "main",
        RouteConfig::direct_response(200, "ok"),
    ));
    let options = EnvoyOptions {
        ready_timeout: Duration::from_millis(1),
        component_log_level: Some("upstream:debug".into()),
        ..EnvoyOptions::default()
    };
    let error = Envoy::start_with(&bootstrap, &options)
        .await
        .expect_err("ready in 1 ms");
    assert!(
        matches!(error, HarnessError::EnvoyTimeout { .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_fails_first_requests_delays_and_records() -> Result<()> {
    let options = UpstreamOptions {
        fail_first: 2,
        delay: Duration::from_millis(200),
        response_headers: vec![("x-from".into(), "upstream".into())],
        ..UpstreamOptions::default()
    };
    let upstream = Upstream::start("flaky", options).await?;
    let url = format!("http://{}/r", upstream.addr());
    let client = Client::http2();

    let mut statuses = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let response = client.post(&url).body(format!("body {i}")).send().await?;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(response.header("x-from"), Some("upstream"));
        statuses.push(response.status);
    }
    assert_eq!(statuses, [503, 503, 200]);
    let bodies: Vec<String> = upstream
        .received()
        .into_iter()
        .map(|echo| echo.body)
        .collect();
    assert_eq!(bodies, ["body 0", "body 1", "body 2"]);
    Ok(())
}

//! `gateway run DIR` applies every edit of DIR to the running Envoy, through LDS and CDS, on the
//! ports it started on: a path moving to another upstream under keep-alive load with no request
//! failing, an invalid edit (the gateway's validation, and Envoy's own) reported while the last
//! good routing keeps serving, and a new ServiceEntry and DestinationRule subset served live.
//! The router is dist/'s; upstreams are echo servers on free loopback ports.

#[allow(dead_code)]
mod support;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoy_test::{wasm_module, Client, Echo, Upstream, UpstreamOptions};
use support::{Gateway, Result};

const HOST: &str = "shop.example.com";

/// How long planning and Envoy's update may take: the router's VMs start again on every worker,
/// which on a loaded 2-core machine takes seconds.
const APPLY_LIMIT: Duration = Duration::from_secs(60);

/// The Gateway for `HOST` and the router plugin, which do not change.
fn write_gateway(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join("gateway.yaml"),
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: istio-system}}\n\
             spec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: [\"{HOST}\"]\n\
             ---\napiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: router, namespace: istio-system}}\n\
             spec:\n  selector: {{matchLabels: {{istio: ingressgateway}}}}\n  url: file://{}\n  priority: -100\n",
            wasm_module("router")?.display()
        ),
    )?;
    Ok(())
}

/// The VirtualService for `HOST` with `http`, its `http:` list in flow style.
fn virtual_service(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: shop, namespace: shop}}\n\
         spec:\n  hosts: [\"{HOST}\"]\n  gateways: [istio-system/gw]\n  http: {http}\n"
    )
}

/// A route of everything matching `path_match` (flow style, e.g. `{prefix: /}`) to `host`.
fn route(path_match: &str, host: &str) -> String {
    format!("{{match: [{{uri: {path_match}}}], route: [{{destination: {{host: {host}, port: {{number: 9080}}}}}}]}}")
}

/// A ServiceEntry `<name>.shop.svc.cluster.local:9080` with `endpoints` (upstream, `version`).
fn service_entry(name: &str, endpoints: &[(&Upstream, &str)]) -> String {
    let mut out = format!(
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: shop}}\n\
         spec:\n  hosts: [{name}.shop.svc.cluster.local]\n  resolution: STATIC\n\
         \x20 ports: [{{number: 9080, name: http, protocol: HTTP}}]\n  endpoints:\n"
    );
    for (upstream, version) in endpoints {
        out.push_str(&format!(
            "  - {{address: 127.0.0.1, ports: {{http: {}}}, labels: {{version: {version}}}}}\n",
            upstream.addr().port()
        ));
    }
    out
}

async fn echo_upstream(name: &str) -> Result<Upstream> {
    Ok(Upstream::start(name, UpstreamOptions::default()).await?)
}

/// The status and, for a 200, the name of the upstream that answered `path`.
async fn upstream_of(client: &Client, gateway: &str, path: &str) -> Result<(u16, String)> {
    let response = client
        .get(format!("{gateway}{path}"))
        .header("host", HOST)
        .send()
        .await?;
    let upstream = if response.status == 200 {
        response.json::<Echo>()?.upstream
    } else {
        response.text()
    };
    Ok((response.status, upstream))
}

/// [`Gateway::wait_for_line`] off the runtime's threads.
async fn wait_for_line(gateway: &Arc<Gateway>, needle: &str, count: usize) -> Result<Vec<String>> {
    let (gateway, needle) = (Arc::clone(gateway), needle.to_string());
    Ok(
        tokio::task::spawn_blocking(move || gateway.wait_for_line(&needle, count, APPLY_LIMIT))
            .await?,
    )
}

/// [`Gateway::wait_for_stderr`] off the runtime's threads.
async fn wait_for_stderr(gateway: &Arc<Gateway>, needle: &str, count: usize) -> Result<bool> {
    let (gateway, needle) = (Arc::clone(gateway), needle.to_string());
    Ok(
        tokio::task::spawn_blocking(move || gateway.wait_for_stderr(&needle, count, APPLY_LIMIT))
            .await?,
    )
}

/// One client's requests: when each was answered, and its status and upstream or its error.
type Outcomes = Vec<(Instant, std::result::Result<(u16, String), String>)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_moves_to_another_upstream_under_load_and_no_request_fails() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let (a, b) = (echo_upstream("a").await?, echo_upstream("b").await?);
    let dir = scratch.path().join("moving");
    write_gateway(&dir)?;
    let registry = service_entry("a", &[(&a, "v1")]) + &service_entry("b", &[(&b, "v1")]);
    fs::write(dir.join("registry.yaml"), registry)?;
    let routes = |moving: &str| {
        virtual_service(&format!(
            "[{}, {}]",
            route("{prefix: /moving}", moving),
            route("{prefix: /}", "a")
        ))
    };
    fs::write(dir.join("routes.yaml"), routes("a"))?;
    // The gateway is stopped when the last Arc goes, on failure too.
    let gateway = Arc::new(Gateway::run(
        &dir,
        &scratch.path().join("cache"),
        scratch.path(),
        &["--access-log", "off"],
    )?);

    // One client's sequential loop, and three more at once: each its own keep-alive pool.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, url) = (Arc::clone(&stop), gateway.url.clone());
            tokio::spawn(async move {
                let client = Client::http1();
                let mut outcomes: Outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let outcome = upstream_of(&client, &url, "/moving/item").await;
                    outcomes.push((Instant::now(), outcome.map_err(|e| e.to_string())));
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let edited = Instant::now();
    fs::write(dir.join("routes.yaml"), routes("b"))?;
    let applied = wait_for_line(&gateway, "gateway: applied", 1).await?;
    let applied_after = edited.elapsed();
    assert_eq!(applied.len(), 1, "{}", gateway.stderr());
    assert!(applied[0].ends_with("(generation 2)"), "{applied:?}");
    // Each client's next response, or the one after, comes from the new listener.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let applied_at = edited + applied_after;

    let mut total = 0;
    for (index, client) in clients.into_iter().enumerate() {
        let outcomes = client.await?;
        total += outcomes.len();
        let upstreams: Vec<&str> = outcomes
            .iter()
            .map(|(_, outcome)| match outcome {
                Ok((200, upstream)) => upstream.as_str(),
                other => panic!(
                    "client {index}: a request failed: {other:?}\n{}",
                    gateway.stderr()
                ),
            })
            .collect();
        // Moved once, for good: the old config's answers, then only the new one's.
        let first_b = upstreams.iter().position(|u| *u == "b");
        let Some(first_b) = first_b else {
            panic!("client {index} never reached b: {upstreams:?}");
        };
        assert!(
            upstreams[..first_b].iter().all(|u| *u == "a")
                && upstreams[first_b..].iter().all(|u| *u == "b"),
            "client {index}: {upstreams:?}"
        );
        let moved_at = outcomes[first_b].0;
        assert!(
            moved_at <= applied_at + Duration::from_secs(1),
            "client {index} reached b {:?} after the gateway said it applied the change",
            moved_at.saturating_duration_since(applied_at)
        );
        assert!(
            first_b > 0,
            "client {index} saw no request of the first config"
        );
    }
    assert!(total > 40, "only {total} requests in all");
    assert!(
        applied_after < Duration::from_secs(20),
        "the change took {applied_after:?} to apply"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_edit_is_reported_and_the_last_good_routing_keeps_serving() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let (a, b) = (echo_upstream("a").await?, echo_upstream("b").await?);
    let dir = scratch.path().join("invalid");
    write_gateway(&dir)?;
    let registry = service_entry("a", &[(&a, "v1")]) + &service_entry("b", &[(&b, "v1")]);
    fs::write(dir.join("registry.yaml"), registry)?;
    fs::write(
        dir.join("routes.yaml"),
        virtual_service(&format!("[{}]", route("{prefix: /}", "a"))),
    )?;
    let gateway = Arc::new(Gateway::run(
        &dir,
        &scratch.path().join("cache"),
        scratch.path(),
        &["--access-log", "off"],
    )?);
    let client = Client::http1();
    let serves = |upstream: &'static str| {
        let (client, gateway) = (client.clone(), Arc::clone(&gateway));
        async move {
            for _ in 0..10 {
                let answer = upstream_of(&client, &gateway.url, "/").await?;
                assert_eq!(answer, (200, upstream.to_string()), "{}", gateway.stderr());
            }
            Result::Ok(())
        }
    };
    serves("a").await?;

    // The gateway's own validation: the router's parser names the field.
    fs::write(
        dir.join("routes.yaml"),
        virtual_service(&format!("[{}]", route("{regex: \"((\"}", "b"))),
    )?;
    let keeps = "the last good config (generation 1) keeps serving";
    assert!(
        wait_for_stderr(&gateway, keeps, 1).await?,
        "{}",
        gateway.stderr()
    );
    let stderr = gateway.stderr();
    assert!(
        stderr.contains("routes.yaml: VirtualService shop/shop: spec.http[0].match[0].uri.regex: unclosed group"),
        "{stderr}"
    );
    serves("a").await?;

    // Envoy's own: Lua the gateway passes on as it is and Envoy cannot load (with the routes
    // valid again, so that the plan gets as far as Envoy).
    fs::write(
        dir.join("routes.yaml"),
        virtual_service(&format!("[{}]", route("{prefix: /}", "a"))),
    )?;
    fs::write(
        dir.join("lua.yaml"),
        "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: broken, namespace: istio-system}\n\
         spec:\n  selector: {matchLabels: {istio: ingressgateway}}\n  lua:\n    inlineCode: \"this is not lua (\"\n",
    )?;
    assert!(
        wait_for_stderr(&gateway, keeps, 2).await?,
        "{}",
        gateway.stderr()
    );
    assert!(
        gateway
            .stderr()
            .contains("gateway: Envoy rejected the listeners of"),
        "{}",
        gateway.stderr()
    );
    serves("a").await?;
    assert!(
        gateway
            .wait_for_line("gateway: applied", 1, Duration::ZERO)
            .is_empty(),
        "{:?}",
        gateway.stdout_lines()
    );

    // Fixed: applied as the next generation.
    fs::remove_file(dir.join("lua.yaml"))?;
    fs::write(
        dir.join("routes.yaml"),
        virtual_service(&format!("[{}]", route("{regex: \"/.*\"}", "b"))),
    )?;
    let applied = wait_for_line(&gateway, "gateway: applied", 1).await?;
    assert_eq!(applied.len(), 1, "{}", gateway.stderr());
    assert!(applied[0].ends_with("(generation 2)"), "{applied:?}");
    // The client's connection may answer once more from the draining filter chain; new
    // connections get the new one within moments.
    let deadline = Instant::now() + Duration::from_secs(5);
    while upstream_of(&client, &gateway.url, "/").await? != (200, "b".to_string()) {
        assert!(Instant::now() < deadline, "{}", gateway.stderr());
    }
    serves("b").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_entry_and_subset_are_served_live() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let a = echo_upstream("a").await?;
    let (v1, v2) = (echo_upstream("v1").await?, echo_upstream("v2").await?);
    let dir = scratch.path().join("new-cluster");
    write_gateway(&dir)?;
    fs::write(dir.join("registry.yaml"), service_entry("a", &[(&a, "v1")]))?;
    fs::write(
        dir.join("routes.yaml"),
        virtual_service(&format!("[{}]", route("{prefix: /}", "a"))),
    )?;
    let gateway = Arc::new(Gateway::run(
        &dir,
        &scratch.path().join("cache"),
        scratch.path(),
        &["--access-log", "off"],
    )?);
    let client = Client::http1();
    assert_eq!(
        upstream_of(&client, &gateway.url, "/new").await?,
        (200, "a".into())
    );

    // A ServiceEntry with two versions, a DestinationRule subset of one, and a route to it.
    fs::write(
        dir.join("new.yaml"),
        service_entry("b", &[(&v1, "v1"), (&v2, "v2")])
            + "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b, namespace: shop}\n\
               spec:\n  host: b\n  subsets: [{name: v2, labels: {version: v2}}]\n",
    )?;
    let to_v2 = "{match: [{uri: {prefix: /new}}], route: [{destination: {host: b, subset: v2, port: {number: 9080}}}]}";
    fs::write(
        dir.join("routes.yaml"),
        virtual_service(&format!("[{to_v2}, {}]", route("{prefix: /}", "a"))),
    )?;
    let applied = wait_for_line(&gateway, "gateway: applied", 1).await?;
    assert_eq!(applied.len(), 1, "{}", gateway.stderr());
    let lines = gateway.stdout_lines();
    let cluster = format!(
        "cluster outbound|9080|v2|b.shop.svc.cluster.local -> [127.0.0.1:{}]",
        v2.addr().port()
    );
    assert!(lines.contains(&cluster), "{cluster:?} not in {lines:?}");

    // New connections (the old one drains) reach the new cluster; the rest still reaches a.
    for _ in 0..10 {
        let client = Client::http1();
        assert_eq!(
            upstream_of(&client, &gateway.url, "/new/x").await?,
            (200, "v2".into())
        );
        assert_eq!(
            upstream_of(&client, &gateway.url, "/old").await?,
            (200, "a".into())
        );
    }
    assert_eq!(v1.requests_received(), 0);

    // An edit that changes nothing Envoy runs is not applied again.
    let mut same = fs::read_to_string(dir.join("routes.yaml"))?;
    same.push_str("# a comment\n");
    fs::write(dir.join("routes.yaml"), same)?;
    let unchanged =
        wait_for_line(&gateway, "changed; Envoy already runs it (generation 2)", 1).await?;
    assert_eq!(unchanged.len(), 1, "{:?}", gateway.stdout_lines());
    Ok(())
}

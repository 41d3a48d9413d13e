//! The service registry as Istio's gateway sees it, through the gateway binary and a real Envoy
//! with the router from dist/: ServiceEntry endpoint weights, `HTTP2`, `GRPC` and `GRPC-WEB`
//! ports spoken to over h2c, `exportTo` hiding a ServiceEntry or a DestinationRule from the
//! gateway pods' namespace, and a DestinationRule's `workloadSelector` applied only when it
//! selects the gateway pods.
//! Upstreams are echo servers on free loopback ports.

#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;

use envoy_test::{Client, Echo, Upstream, UpstreamOptions};
use support::{Gateway, Result, HOST};

/// A ServiceEntry `name` in namespace `shop` on port 9080 with `endpoints` (YAML flow items)
/// and `extra` spec lines.
fn service_entry(name: &str, protocol: &str, endpoints: &[String], extra: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: shop}}\n\
         spec:\n  hosts: [{name}.shop.svc.cluster.local]\n  resolution: STATIC\n\
         \x20 ports: [{{number: 9080, name: http, protocol: {protocol}}}]\n  endpoints: [{}]\n{extra}",
        endpoints.join(", ")
    )
}

fn endpoint(upstream: &Upstream, extra: &str) -> String {
    format!(
        "{{address: 127.0.0.1, ports: {{http: {}}}{extra}}}",
        upstream.addr().port()
    )
}

/// A DestinationRule `name` in `namespace` for `host` defining subset `v1` (label `v: one`).
fn subset_rule(name: &str, namespace: &str, host: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  host: {host}.shop.svc.cluster.local\n  subsets: [{{name: v1, labels: {{v: one}}}}]\n{extra}"
    )
}

/// A VirtualService rule sending `/<prefix>` to `host` (and `subset`, when not empty).
fn rule(prefix: &str, host: &str, subset: &str) -> String {
    let subset = if subset.is_empty() {
        String::new()
    } else {
        format!(", subset: {subset}")
    };
    format!(
        "  - match: [{{uri: {{prefix: /{prefix}}}}}]\n    route: [{{destination: {{host: {host}.shop.svc.cluster.local{subset}}}}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_what_istios_gateway_sees_weights_protocols_export_to_and_selectors(
) -> Result<()> {
    let heavy = Upstream::start("heavy", UpstreamOptions::default()).await?;
    let light = Upstream::start("light", UpstreamOptions::default()).await?;
    let echo = Upstream::start("echo", UpstreamOptions::default()).await?;
    let labelled = endpoint(&echo, ", labels: {v: one}");
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path().join("config");
    let mut routes = String::new();
    for (prefix, host, subset) in [
        ("weighted", "weighted", ""),
        ("h2", "grpc", ""),
        ("grpc-only", "grpcsvc", ""),
        ("grpc-web", "grpcweb", ""),
        ("hidden", "hidden", ""),
        ("private-rule", "private", "v1"),
        ("selected", "selected", "v1"),
        ("unselected", "unselected", "v1"),
    ] {
        routes.push_str(&rule(prefix, host, subset));
    }
    let registry = [
        // Weights 3 and 1, round robin: Envoy's weighted round robin.
        service_entry(
            "weighted",
            "HTTP",
            &[endpoint(&heavy, ", weight: 3"), endpoint(&light, "")],
            "",
        ),
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: weighted, namespace: shop}\n\
         spec:\n  host: weighted.shop.svc.cluster.local\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n"
            .to_string(),
        service_entry("grpc", "HTTP2", &[endpoint(&echo, "")], ""),
        service_entry("grpcsvc", "GRPC", &[endpoint(&echo, "")], ""),
        service_entry("grpcweb", "GRPC-WEB", &[endpoint(&echo, "")], ""),
        service_entry(
            "hidden",
            "HTTP",
            &[endpoint(&echo, "")],
            "  exportTo: [\".\"]\n",
        ),
        service_entry("private", "HTTP", std::slice::from_ref(&labelled), ""),
        subset_rule("private", "shop", "private", "  exportTo: [\".\"]\n"),
        service_entry("selected", "HTTP", std::slice::from_ref(&labelled), ""),
        subset_rule(
            "selected",
            "istio-system",
            "selected",
            "  workloadSelector: {matchLabels: {istio: ingressgateway}}\n",
        ),
        service_entry("unselected", "HTTP", std::slice::from_ref(&labelled), ""),
        subset_rule(
            "unselected",
            "istio-system",
            "unselected",
            "  workloadSelector: {matchLabels: {app: reviews}}\n",
        ),
    ]
    .concat();
    support::write_routed_config(&dir, HOST, &routes, &registry)?;
    let gateway = Gateway::start(&dir, &scratch.path().join("cache"), scratch.path())?;
    let stderr = gateway.stderr();
    for note in [
        "spec.exportTo [\".\"] does not export it to istio-system",
        "DestinationRule shop/private: not applied: spec.exportTo",
        "DestinationRule istio-system/unselected: not applied: spec.workloadSelector",
    ] {
        assert!(stderr.contains(note), "no note {note:?} in:\n{stderr}");
    }

    // One keep-alive connection, so one worker's load balancer takes every request.
    let client = Client::http1();
    let get = |path: &'static str| {
        client
            .get(format!("{}/{path}", gateway.url))
            .header("host", HOST)
            .send()
    };
    let mut by_upstream: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..40 {
        let response = get("weighted").await?;
        assert_eq!(response.status, 200);
        *by_upstream
            .entry(response.json::<Echo>()?.upstream)
            .or_default() += 1;
    }
    let heavy_share = by_upstream.get("heavy").copied().unwrap_or(0);
    assert!(
        (28..=32).contains(&heavy_share),
        "weights 3:1 should send about 30 of 40 requests to the heavy endpoint: {by_upstream:?}"
    );

    for (path, protocol) in [
        ("h2", "HTTP2"),
        ("grpc-only", "GRPC"),
        ("grpc-web", "GRPC-WEB"),
    ] {
        let response = get(path).await?;
        assert_eq!(response.status, 200, "/{path}: {:?}", response.body);
        assert_eq!(
            response.json::<Echo>()?.version,
            "HTTP/2.0",
            "a {protocol} port speaks h2c"
        );
    }

    for (path, expected) in [
        ("hidden", 503),
        ("private-rule", 503),
        ("selected", 200),
        ("unselected", 503),
    ] {
        let response = get(path).await?;
        assert_eq!(response.status, expected, "/{path}: {:?}", response.body);
    }
    gateway.stop()?;
    Ok(())
}

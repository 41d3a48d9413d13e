//! DestinationRule traffic policies, DNS ServiceEntries and Istio's access log, through the
//! gateway binary and a real Envoy with the router from dist/: the access log line on stdout, a
//! circuit breaker tripping (`UO` in the log), consistent hashing by header, cookie (the one
//! Envoy makes, with its `path` and `ttl`), query parameter and source IP, and the resolutions:
//! DNS of `localhost`, of the host itself, DNS_ROUND_ROBIN's one endpoint, STATIC when unset.
//! Upstreams are echo servers on free loopback ports.

#[allow(dead_code)]
mod support;

use std::time::Duration;

use envoy_test::{Client, Echo, Upstream, UpstreamOptions};
use support::{
    destination_rule, get, get_path, route, service_entry, service_entry_for, start, start_routed,
    write_config, Result, HOST,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_is_istios_and_a_tripped_circuit_breaker_logs_uo() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let slow = Upstream::start(
        "slow",
        UpstreamOptions {
            delay: Duration::from_millis(400),
            ..UpstreamOptions::default()
        },
    )
    .await?;
    let registry = service_entry("STATIC", &[("127.0.0.1", slow.addr().port())])
        + &destination_rule(
            "    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1}\n",
        );
    let gateway = start("breaker", &registry, scratch.path())?;

    // One request alone: served, and logged in Istio's format.
    // (Envoy replaces a client's x-request-id at the edge, as Istio's gateway does.)
    let response = get_path(
        &gateway,
        "/items?first",
        &[("x-forwarded-for", "192.0.2.7")],
    )
    .await?;
    assert_eq!(response.status, 200, "{}", gateway.stderr());
    let lines = gateway.wait_for_log("/items?first", 1);
    assert_eq!(lines.len(), 1, "{:?}", gateway.stdout_lines());
    let line = &lines[0];
    let upstream = slow.addr().to_string();
    assert!(line.starts_with('['), "{line}");
    for field in [
        "\"GET /items?first HTTP/1.1\" 200 - via_upstream - \"-\" 0 ",
        "\"192.0.2.7,",
        "\" \"traffic-test\" \"",
        "\" \"shop.example.com\" ",
        &format!("\"{upstream}\" outbound|9080||shop.shop.svc.cluster.local "),
    ] {
        assert!(line.contains(field), "{field:?} not in {line}");
    }

    // Six at once on one connection with one pending slot: the overflow answers 503 UO.
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let url = format!("{}/items", gateway.url);
            tokio::spawn(async move {
                let response = Client::http1().get(url).header("host", HOST).send().await;
                response.map(|r| r.status).map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await??);
    }
    statuses.sort_unstable();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    let overflowed = gateway.wait_for_log("\" 503 UO ", 1);
    assert!(
        !overflowed.is_empty()
            && overflowed[0].contains("upstream_reset_before_response_started{overflow}"),
        "{:?}",
        gateway.stdout_lines()
    );

    // A 404 from Envoy itself: flags and details too.
    let response = Client::http1()
        .get(format!("{}/", gateway.url))
        .header("host", "unknown.example.com")
        .send()
        .await?;
    assert_eq!(response.status, 404);
    let not_found = gateway.wait_for_log("\"GET / HTTP/1.1\" 404 NR route_not_found ", 1);
    assert_eq!(not_found.len(), 1, "{:?}", gateway.stdout_lines());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_a_user_on_one_endpoint_by_header_cookie_query_and_source_ip(
) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let a = Upstream::start("a", UpstreamOptions::default()).await?;
    let b = Upstream::start("b", UpstreamOptions::default()).await?;
    let endpoints = service_entry(
        "STATIC",
        &[
            ("127.0.0.1", a.addr().port()),
            ("127.0.0.1", b.addr().port()),
        ],
    );
    // How each key kind carries user `u` in a request: headers and the path.
    type Carry = fn(&str) -> (Vec<(&'static str, String)>, String);
    let kinds: [(&str, &str, Carry); 4] = [
        ("header", "httpHeaderName: x-user", |user| {
            (vec![("x-user", user.to_string())], "/items".into())
        }),
        (
            "cookie",
            "httpCookie: {name: user, path: /items, ttl: 60s}",
            |user| (vec![("cookie", format!("user={user}"))], "/items".into()),
        ),
        ("query", "httpQueryParameterName: user", |user| {
            (Vec::new(), format!("/items?user={user}"))
        }),
        // Every request comes from 127.0.0.1: one key, one endpoint, whoever the user is.
        ("source-ip", "useSourceIp: true", |_| {
            (Vec::new(), "/items".into())
        }),
    ];
    for (kind, key, carry) in kinds {
        let registry = endpoints.clone()
            + &destination_rule(&format!(
                "    loadBalancer:\n      consistentHash: {{{key}}}\n"
            ));
        let gateway = start(&format!("hash-{kind}"), &registry, scratch.path())?;
        let mut seen = std::collections::BTreeSet::new();
        for user in 0..12 {
            let user = format!("user-{user}");
            let (headers, path) = carry(&user);
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            let mut endpoints = std::collections::BTreeSet::new();
            for _ in 0..5 {
                let response = get_path(&gateway, &path, &headers).await?;
                assert_eq!(response.status, 200, "{kind}: {}", gateway.stderr());
                endpoints.insert(response.json::<Echo>()?.upstream);
            }
            assert_eq!(endpoints.len(), 1, "{kind}: {user} moved: {endpoints:?}");
            seen.extend(endpoints);
        }
        // Twelve users on one endpoint would be a 1 in 2048 chance: the hash spreads them;
        // by source IP they are one client.
        let expected = if kind == "source-ip" { 1 } else { 2 };
        assert_eq!(seen.len(), expected, "{kind}: {seen:?}");
        if kind == "cookie" {
            // Without the cookie, Envoy makes one (the `ttl` is not zero) with the `path`, and
            // the user who sends it back stays where the first answer came from.
            let first = get_path(&gateway, "/items", &[]).await?;
            let set_cookie = first
                .header("set-cookie")
                .ok_or_else(|| format!("no set-cookie in {:?}", first.headers))?
                .to_string();
            let attributes: Vec<&str> = set_cookie.split("; ").collect();
            assert!(attributes[0].starts_with("user="), "{set_cookie}");
            for attribute in ["Max-Age=60", "Path=/items"] {
                assert!(attributes.contains(&attribute), "{set_cookie}");
            }
            let endpoint = first.json::<Echo>()?.upstream;
            for _ in 0..5 {
                let response = get_path(&gateway, "/items", &[("cookie", attributes[0])]).await?;
                assert!(
                    response.header("set-cookie").is_none(),
                    "{:?}",
                    response.headers
                );
                assert_eq!(response.json::<Echo>()?.upstream, endpoint, "{set_cookie}");
            }
        }
        gateway.stop()?;
    }
    Ok(())
}

/// The resolutions on one gateway: `DNS` (STRICT_DNS) of an endpoint named `localhost`;
/// `DNS_ROUND_ROBIN` (LOGICAL_DNS) of two endpoints, of which only the first, the live one, is
/// used; `DNS` without endpoints, which resolves the host itself; and no `resolution` at all,
/// served as STATIC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_service_entries_resolve_localhost_strict_and_logical() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let upstream = Upstream::start("by-name", UpstreamOptions::default()).await?;
    let port = upstream.addr().port();
    // A port nothing listens on: the second DNS_ROUND_ROBIN endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // The host itself, resolved, on the upstream's port: `shop.localhost`, which Envoy's
    // resolver answers with loopback (RFC 6761) and which, with its dot, the VirtualService's
    // destination names as it is (`localhost` alone would be a short name in namespace `shop`).
    let bare = format!(
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: bare, namespace: shop}}\n\
         spec:\n  hosts: [shop.localhost]\n  resolution: DNS\n  ports: [{{number: {port}, name: http, protocol: HTTP}}]\n"
    );
    let registry = [
        service_entry_for("strict", 9080, "HTTP", "DNS", &[("localhost", port)]),
        service_entry_for(
            "logical",
            9080,
            "HTTP",
            "DNS_ROUND_ROBIN",
            &[("localhost", port), ("127.0.0.1", closed)],
        ),
        bare,
        service_entry_for("unset", 9080, "HTTP", "STATIC", &[("127.0.0.1", port)])
            .replace("  resolution: STATIC\n", ""),
    ]
    .concat();
    let http = [
        route("/strict/", "strict", 9080, None),
        route("/logical/", "logical", 9080, None),
        route("/bare/", "shop.localhost", port, None),
        route("/unset/", "unset", 9080, None),
    ]
    .concat();
    let gateway = start_routed("dns", HOST, &http, &registry, scratch.path())?;
    assert!(
        gateway
            .summary
            .iter()
            .any(|line| line.contains(&format!("[localhost:{port} (DNS)]"))),
        "{:?}",
        gateway.summary
    );
    let stderr = gateway.stderr();
    let note = "ServiceEntry shop/logical: spec.resolution DNS_ROUND_ROBIN uses one endpoint (Envoy LOGICAL_DNS), as Istio does: the first, localhost; the others are left out";
    assert!(stderr.contains(note), "no note {note:?} in:\n{stderr}");

    // Each path on connections of its own: both workers; the closed endpoint never answers.
    for path in ["/strict/", "/logical/", "/bare/", "/unset/"] {
        for _ in 0..6 {
            let response = get_path(&gateway, &format!("{path}items"), &[]).await?;
            assert_eq!(response.status, 200, "{path}: {}", gateway.stderr());
            assert_eq!(response.json::<Echo>()?.upstream, "by-name", "{path}");
        }
    }

    // `gateway run` serves its clusters through CDS.
    let dump: serde_json::Value = serde_json::from_str(
        &gateway
            .admin("/config_dump?resource=dynamic_active_clusters")
            .await?,
    )?;
    let live_type = |name: &str| {
        dump["configs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|config| &config["cluster"])
            .find(|cluster| cluster["name"] == name)
            .map(|cluster| cluster["type"].as_str().unwrap_or("STATIC").to_string())
    };
    for (cluster, expected) in [
        ("outbound|9080||strict.shop.svc.cluster.local", "STRICT_DNS"),
        (
            "outbound|9080||logical.shop.svc.cluster.local",
            "LOGICAL_DNS",
        ),
        (&format!("outbound|{port}||shop.localhost"), "STRICT_DNS"),
        ("outbound|9080||unset.shop.svc.cluster.local", "STATIC"),
    ] {
        assert_eq!(
            live_type(cluster).as_deref(),
            Some(expected),
            "{cluster} in {dump:#}"
        );
    }
    gateway.stop()?;
    Ok(())
}

/// Every traffic-policy field the gateway applies, at every level, and both DNS resolutions:
/// the bootstrap they make passes `envoy --mode validate` (the unit tests check the JSON; this
/// checks that Envoy takes it), and the precedence shows in the clusters.
#[test]
fn every_applied_traffic_policy_field_makes_a_bootstrap_envoy_accepts() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path().join("all");
    let registry = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: shop, namespace: shop}\n\
         spec:\n  hosts: [shop.shop.svc.cluster.local]\n  resolution: DNS\n\
         \x20 ports: [{number: 9080, name: http, protocol: HTTP}, {number: 9443, name: https, protocol: HTTPS}]\n\
         \x20 endpoints:\n  - {address: localhost, labels: {version: v1}}\n  - {address: 127.0.0.1, labels: {version: v2}}\n\
         ---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: api, namespace: shop}\n\
         spec:\n  hosts: [api.example.com]\n  resolution: DNS_ROUND_ROBIN\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n\
         ---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: shop, namespace: shop}\n\
         spec:\n  host: shop\n  trafficPolicy:\n\
         \x20   connectionPool:\n\
         \x20     tcp: {maxConnections: 10, connectTimeout: 250ms, tcpKeepalive: {probes: 3, time: 60s, interval: 10s}, maxConnectionDuration: 1h}\n\
         \x20     http: {http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRequestsPerConnection: 100, maxRetries: 2, idleTimeout: 30s}\n\
         \x20   outlierDetection: {consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: 5s, baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 10}\n\
         \x20   loadBalancer: {consistentHash: {httpCookie: {name: user, path: /, ttl: 0s}}}\n\
         \x20   portLevelSettings:\n\
         \x20   - port: {number: 9443}\n\
         \x20     tls: {mode: SIMPLE, sni: shop.example.com, subjectAltNames: [shop.example.com]}\n\
         \x20     loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}\n\
         \x20 subsets:\n\
         \x20 - name: v1\n    labels: {version: v1}\n\
         \x20   trafficPolicy:\n\
         \x20     loadBalancer: {simple: RANDOM}\n\
         \x20     connectionPool: {http: {h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 50}}\n\
         \x20 - name: v2\n    labels: {version: v2}\n\
         \x20   trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: u, ringHash: {minimumRingSize: 64}}}}\n\
         ---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: api, namespace: shop}\n\
         spec:\n  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true}, loadBalancer: {simple: ROUND_ROBIN}}\n";
    write_config(&dir, registry)?;
    let options = gateway::plan::Options {
        config_dir: dir,
        port: 0,
        ports: Default::default(),
        admin_port: 0,
        cache_dir: scratch.path().join("cache"),
        gateway: None,
        access_log: Some(scratch.path().join("access.log")),
    };
    let plan = gateway::plan::plan(&options).map_err(|errors| errors.to_string())?;
    let cluster = |name: &str| {
        plan.bootstrap
            .clusters
            .iter()
            .find(|cluster| cluster.name == name)
            .ok_or_else(|| format!("no cluster {name}"))
    };
    let extra = |name: &str| -> Result<serde_json::Value> {
        Ok(cluster(name)?.extra.clone().ok_or("no policy")?)
    };
    // The top level on 9080; 9443's own settings, nothing inherited; the subsets' own components.
    assert_eq!(
        extra("outbound|9080||shop.shop.svc.cluster.local")?["lb_policy"],
        "RING_HASH"
    );
    let https = extra("outbound|9443||shop.shop.svc.cluster.local")?;
    assert_eq!(https["lb_policy"], "MAGLEV");
    assert!(https.get("outlier_detection").is_none(), "{https}");
    let v1 = cluster("outbound|9080|v1|shop.shop.svc.cluster.local")?;
    assert!(v1.http2);
    let v1_extra = v1.extra.clone().ok_or("no policy")?;
    assert_eq!(v1_extra["lb_policy"], "RANDOM");
    assert_eq!(v1_extra["outlier_detection"]["consecutive_5xx"], 5);
    assert_eq!(
        v1.dns.as_ref().ok_or("not DNS")?.endpoints,
        [("localhost".to_string(), 9080)]
    );
    let api = cluster("outbound|443||api.example.com")?;
    let dns = api.dns.as_ref().ok_or("not DNS")?;
    assert!(dns.logical);
    assert_eq!(dns.endpoints, [("api.example.com".to_string(), 443)]);
    // Three hash keys (cookie, source IP, query parameter): the route hashes on all of them.
    assert!(
        plan.notes
            .iter()
            .any(|note| note.contains("3 consistent-hash keys")),
        "{:?}",
        plan.notes
    );
    envoy_runner::EnvoyBinary::shared()?.validate(&plan.bootstrap)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection_ejects_the_endpoint_that_fails() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let good = Upstream::start("good", UpstreamOptions::default()).await?;
    let bad = Upstream::start(
        "bad",
        UpstreamOptions {
            status: 500,
            ..UpstreamOptions::default()
        },
    )
    .await?;
    let registry = service_entry(
        "STATIC",
        &[("127.0.0.1", good.addr().port()), ("127.0.0.1", bad.addr().port())],
    ) + &destination_rule(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}\n",
    );
    let gateway = start("outlier", &registry, scratch.path())?;
    // Round robin reaches the bad endpoint within a few requests (two workers, each in turn).
    let mut before = 0;
    while get(&gateway, &[]).await?.status != 500 {
        before += 1;
        assert!(before < 6, "round robin never reached the bad endpoint");
    }
    let stats = gateway
        .admin("/stats?filter=outlier_detection.ejections_enforced_consecutive_5xx")
        .await?;
    assert!(
        stats.contains("outbound|9080||shop.shop.svc.cluster.local.outlier_detection.ejections_enforced_consecutive_5xx: 1"),
        "{stats}"
    );
    // That 500 ejected it on Envoy's main thread; the workers' load balancers have the ejection
    // within the cluster's update merge window (Envoy's 1 s, which pilot keeps), so a request
    // in that second may still reach it. After: round robin alone would answer 500 six times.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut failures = 0;
    for _ in 0..12 {
        if get(&gateway, &[]).await?.status == 500 {
            failures += 1;
        }
    }
    assert_eq!(failures, 0, "{}", gateway.stderr());
    Ok(())
}

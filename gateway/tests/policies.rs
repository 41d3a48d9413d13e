//! DestinationRule traffic policies end to end: the gateway binary, a real Envoy with the router
//! from dist/, and upstreams on free loopback ports. One test reads the live clusters from
//! Envoy's admin `/config_dump` (every applied field, at every level, with pilot's precedence);
//! the others show the behaviour where loopback can: round robin's turns, ring and Maglev
//! hashing, outlier ejection (gateway errors, the ejection cap, the panic threshold, the return
//! after the ejection time), the pool's limits (one connection, pending and request overflow, retries, HTTP/2 streams,
//! the HTTP/2 upgrade) and the upstream connections' lives (requests per connection, idle
//! timeouts, the maximum duration, TCP keepalive on Envoy's socket, the connect timeout).

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use envoy_test::{Client, Echo, Upstream, UpstreamOptions};
use serde_json::Value;
use support::{get_path, get_with, route, start_routed, Gateway, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// `outbound|<port>|<subset>|<host>.shop.svc.cluster.local`.
fn cluster(port: u16, subset: &str, host: &str) -> String {
    format!("outbound|{port}|{subset}|{host}.shop.svc.cluster.local")
}

/// The stat `stat` of the cluster of `host` on port 80.
fn cluster_stat(host: &str, stat: &str) -> String {
    format!("cluster.{}.{stat}", cluster(80, "", host))
}

/// The value of the stat `name` of the cluster of `host` on port 80.
async fn stat(gateway: &Gateway, host: &str, name: &str) -> Result<u64> {
    gateway.stat(&cluster_stat(host, name)).await
}

/// The route `/name/` → `name:80`, and `name`'s registry: a ServiceEntry of `protocol` with an
/// endpoint on 127.0.0.1 for each of `ports`, and a DestinationRule with `policy` (the
/// trafficPolicy's fields, indented four spaces) unless it is empty.
fn service(name: &str, protocol: &str, ports: &[u16], policy: &str) -> (String, String) {
    let endpoints: Vec<(&str, u16)> = ports.iter().map(|port| ("127.0.0.1", *port)).collect();
    let mut registry = support::service_entry_for(name, 80, protocol, "STATIC", &endpoints);
    if !policy.is_empty() {
        registry.push_str(&support::destination_rule_for(name, policy));
    }
    (route(&format!("/{name}/"), name, 80, None), registry)
}

/// The gateway on a directory of `services` ([`service`]).
fn start_services(name: &str, services: &[(String, String)], scratch: &Path) -> Result<Gateway> {
    let http: String = services.iter().map(|(route, _)| route.as_str()).collect();
    let registry: String = services.iter().map(|(_, entry)| entry.as_str()).collect();
    start_routed(name, "*", &http, &registry, scratch)
}

/// `count` requests for `path` at once, as streams of one HTTP/2 connection, so that one Envoy
/// worker and its connection pool take them all (each worker's pool may open a first
/// connection whatever `maxConnections` says): the statuses, sorted.
async fn at_once(gateway: &Gateway, path: &str, count: usize) -> Result<Vec<u16>> {
    let client = Client::http2();
    let requests: Vec<_> = (0..count)
        .map(|_| {
            let url = format!("{}{path}", gateway.url);
            let client = client.clone();
            tokio::spawn(async move {
                let response = client.get(url).send().await;
                response.map(|r| r.status).map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await??);
    }
    statuses.sort_unstable();
    Ok(statuses)
}

/// `count` requests for `path`, one after the other on one HTTP/2 connection (one Envoy worker,
/// one load balancer): the echoes' upstreams (or `status NNN` for an answer that is not a 200).
async fn in_turn(gateway: &Gateway, path: &str, count: usize) -> Result<Vec<String>> {
    let client = Client::http2();
    let mut seen = Vec::new();
    for _ in 0..count {
        let response = get_with(&client, gateway, path, &[]).await?;
        seen.push(if response.status == 200 {
            response.json::<Echo>()?.upstream
        } else {
            format!("status {}", response.status)
        });
    }
    Ok(seen)
}

/// An echo upstream answering `status` after `delay`.
async fn echo(name: &str, status: u16, delay: Duration) -> Result<Upstream> {
    let options = UpstreamOptions {
        status,
        delay,
        ..UpstreamOptions::default()
    };
    Ok(Upstream::start(name, options).await?)
}

// ---------------------------------------------------------------------------------------------
// A. The live clusters.

/// A cluster as Envoy holds it, in the terms of the traffic policy.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    /// `max_connections`, `max_pending_requests`, `max_requests`, `max_retries`.
    thresholds: [u64; 4],
    track_remaining: bool,
    connect_timeout: Duration,
    /// `keepalive_probes`, `keepalive_time`, `keepalive_interval`.
    keepalive: Option<[u64; 3]>,
    idle_timeout: Option<Duration>,
    max_requests_per_connection: Option<u64>,
    max_connection_duration: Option<Duration>,
    http2: bool,
    max_concurrent_streams: Option<u64>,
    lb_policy: String,
    minimum_ring_size: Option<u64>,
    maglev_table_size: Option<u64>,
    outlier: Option<Outlier>,
    healthy_panic_threshold: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Outlier {
    /// `consecutive_5xx` and its enforcing percentage.
    consecutive_5xx: Option<(u64, u64)>,
    /// `consecutive_gateway_failure` and its enforcing percentage.
    consecutive_gateway_failure: Option<(u64, u64)>,
    interval: Option<Duration>,
    base_ejection_time: Option<Duration>,
    max_ejection_percent: Option<u64>,
    enforcing_success_rate: Option<u64>,
}

/// A proto JSON integer: a number, or a string for the 64-bit ones.
fn integer(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// A proto JSON duration (`"0.250s"`).
fn duration(value: &Value) -> Option<Duration> {
    let seconds: f64 = value.as_str()?.strip_suffix('s')?.parse().ok()?;
    Some(Duration::from_secs_f64(seconds))
}

impl Live {
    fn read(cluster: &Value) -> Live {
        let thresholds = &cluster["circuit_breakers"]["thresholds"][0];
        let limit = |name: &str| integer(&thresholds[name]).unwrap_or(0);
        let tcp = &cluster["upstream_connection_options"]["tcp_keepalive"];
        let keepalive = tcp.is_object().then(|| {
            ["keepalive_probes", "keepalive_time", "keepalive_interval"]
                .map(|name| integer(&tcp[name]).unwrap_or(0))
        });
        let options = &cluster["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
        let common = &options["common_http_protocol_options"];
        let http2 = &options["explicit_http_config"]["http2_protocol_options"];
        let outlier = &cluster["outlier_detection"];
        let pair = |count: &str, enforcing: &str| {
            integer(&outlier[count]).map(|count| (count, integer(&outlier[enforcing]).unwrap_or(0)))
        };
        let panic = &cluster["common_lb_config"];
        Live {
            thresholds: [
                limit("max_connections"),
                limit("max_pending_requests"),
                limit("max_requests"),
                limit("max_retries"),
            ],
            track_remaining: thresholds["track_remaining"] == true,
            connect_timeout: duration(&cluster["connect_timeout"]).unwrap_or_default(),
            keepalive,
            idle_timeout: duration(&common["idle_timeout"]),
            max_requests_per_connection: integer(&common["max_requests_per_connection"]),
            max_connection_duration: duration(&common["max_connection_duration"]),
            http2: http2.is_object(),
            max_concurrent_streams: integer(&http2["max_concurrent_streams"]),
            // ROUND_ROBIN is the enum's zero, which proto JSON leaves out.
            lb_policy: cluster["lb_policy"]
                .as_str()
                .unwrap_or("ROUND_ROBIN")
                .to_string(),
            minimum_ring_size: integer(&cluster["ring_hash_lb_config"]["minimum_ring_size"]),
            maglev_table_size: integer(&cluster["maglev_lb_config"]["table_size"]),
            outlier: outlier.is_object().then(|| Outlier {
                consecutive_5xx: pair("consecutive_5xx", "enforcing_consecutive_5xx"),
                consecutive_gateway_failure: pair(
                    "consecutive_gateway_failure",
                    "enforcing_consecutive_gateway_failure",
                ),
                interval: duration(&outlier["interval"]),
                base_ejection_time: duration(&outlier["base_ejection_time"]),
                max_ejection_percent: integer(&outlier["max_ejection_percent"]),
                enforcing_success_rate: integer(&outlier["enforcing_success_rate"]),
            }),
            // A percentage of 0 is the double's zero, left out too.
            healthy_panic_threshold: panic.is_object().then(|| {
                panic["healthy_panic_threshold"]["value"]
                    .as_f64()
                    .unwrap_or(0.0)
            }),
        }
    }
}

/// Envoy's CDS clusters, by name.
async fn live_clusters(gateway: &Gateway) -> Result<BTreeMap<String, Value>> {
    let dump: Value = serde_json::from_str(
        &gateway
            .admin("/config_dump?resource=dynamic_active_clusters")
            .await?,
    )?;
    let mut clusters = BTreeMap::new();
    for config in dump["configs"].as_array().ok_or("no configs")? {
        let cluster = &config["cluster"];
        let name = cluster["name"].as_str().ok_or("a cluster without a name")?;
        clusters.insert(name.to_string(), cluster.clone());
    }
    Ok(clusters)
}

/// Every field the gateway applies, at the top level, in `portLevelSettings` and in subsets
/// (with their own `portLevelSettings`), as the running Envoy holds it: `gateway run` serves
/// its clusters over CDS, so this reads `dynamic_active_clusters` after requests went through
/// each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_applied_field_at_every_level_is_in_the_running_envoys_clusters() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let v1 = Upstream::start("v1", UpstreamOptions::default()).await?;
    let v2 = Upstream::start("v2", UpstreamOptions::default()).await?;
    // 9080 is HTTP, 9090 HTTP2 (the echo upstreams take both on one port).
    let registry = r"---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shop, namespace: shop}
spec:
  hosts: [shop.shop.svc.cluster.local]
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  - {number: 9090, name: http2, protocol: HTTP2}
  endpoints:
  - {address: 127.0.0.1, ports: {http: V1, http2: V1}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: V2, http2: V2}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec:
  host: shop
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 11, connectTimeout: 250ms, tcpKeepalive: {probes: 3, time: 60s, interval: 10s}, maxConnectionDuration: 1h, idleTimeout: 2m}
      http: {http1MaxPendingRequests: 12, http2MaxRequests: 13, maxRetries: 4, maxRequestsPerConnection: 15, maxConcurrentStreams: 99}
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: 5s, baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 10}
    portLevelSettings:
    - port: {number: 9090}
      connectionPool: {http: {http2MaxRequests: 21, maxConcurrentStreams: 7, idleTimeout: 45s}}
      loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool:
        tcp: {connectTimeout: 1s, idleTimeout: 9s}
        http: {h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 9, idleTimeout: 3s}
      loadBalancer: {simple: RANDOM}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 64}}}
      outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 2}
      portLevelSettings:
      - port: {number: 9090}
        loadBalancer: {simple: LEAST_REQUEST}
  - name: least-conn
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}
  - name: unspecified
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: UNSPECIFIED}}
  - name: default-ring
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
"
    .replace("V1", &v1.addr().port().to_string())
    .replace("V2", &v2.addr().port().to_string());
    // (path, port, subset, the upstream that answers, the protocol it is spoken to in)
    let routes = [
        ("/top/", 9080, None, None, "HTTP/1.1"),
        ("/h2/", 9090, None, None, "HTTP/2.0"),
        ("/v1/", 9080, Some("v1"), Some("v1"), "HTTP/2.0"),
        ("/v1-h2/", 9090, Some("v1"), Some("v1"), "HTTP/2.0"),
        ("/v2/", 9080, Some("v2"), Some("v2"), "HTTP/1.1"),
        ("/v2-h2/", 9090, Some("v2"), Some("v2"), "HTTP/2.0"),
    ];
    let http: String = routes
        .iter()
        .map(|(path, port, subset, _, _)| route(path, "shop", *port, *subset))
        .collect();
    let gateway = start_routed("all-fields", "*", &http, &registry, scratch.path())?;
    for (path, _, _, upstream, version) in routes {
        let response = get_path(&gateway, &format!("{path}items"), &[]).await?;
        assert_eq!(response.status, 200, "{path}: {}", gateway.stderr());
        let echo: Echo = response.json()?;
        assert_eq!(echo.version, version, "{path}");
        if let Some(upstream) = upstream {
            assert_eq!(echo.upstream, upstream, "{path}");
        }
    }

    let unlimited = u64::from(u32::MAX);
    let top_outlier = || Outlier {
        consecutive_5xx: Some((5, 100)),
        consecutive_gateway_failure: Some((3, 100)),
        interval: Some(Duration::from_secs(5)),
        base_ejection_time: Some(Duration::from_secs(30)),
        max_ejection_percent: Some(50),
        enforcing_success_rate: Some(0),
    };
    // The top level's pool: both limits, the TCP settings, the TCP idle timeout (no HTTP one).
    let top_pool = Live {
        thresholds: [11, 12, 13, 4],
        track_remaining: true,
        connect_timeout: Duration::from_millis(250),
        keepalive: Some([3, 60, 10]),
        idle_timeout: Some(Duration::from_secs(120)),
        max_requests_per_connection: Some(15),
        max_connection_duration: Some(Duration::from_secs(3600)),
        // maxConcurrentStreams is for HTTP/2: not on an HTTP/1.1 cluster.
        http2: false,
        max_concurrent_streams: None,
        lb_policy: "ROUND_ROBIN".into(),
        minimum_ring_size: None,
        maglev_table_size: None,
        outlier: Some(top_outlier()),
        healthy_panic_threshold: Some(10.0),
    };
    // Nothing set: pilot's defaults.
    let defaults = Live {
        thresholds: [unlimited; 4],
        track_remaining: true,
        connect_timeout: Duration::from_secs(10),
        keepalive: None,
        idle_timeout: None,
        max_requests_per_connection: None,
        max_connection_duration: None,
        http2: false,
        max_concurrent_streams: None,
        lb_policy: "LEAST_REQUEST".into(),
        minimum_ring_size: None,
        maglev_table_size: None,
        outlier: None,
        healthy_panic_threshold: None,
    };
    let expected = [
        (cluster(9080, "", "shop"), top_pool.clone()),
        // 9090's own settings, wholesale: no TCP settings, no outlier detection inherited.
        (
            cluster(9090, "", "shop"),
            Live {
                thresholds: [unlimited, unlimited, 21, unlimited],
                idle_timeout: Some(Duration::from_secs(45)),
                http2: true,
                max_concurrent_streams: Some(7),
                lb_policy: "MAGLEV".into(),
                maglev_table_size: Some(65537),
                ..defaults.clone()
            },
        ),
        // v1's pool and load balancer replace the rule's; the outlier detection is the rule's.
        // The HTTP idle timeout wins over the TCP one; UPGRADE makes it HTTP/2.
        (
            cluster(9080, "v1", "shop"),
            Live {
                connect_timeout: Duration::from_secs(1),
                idle_timeout: Some(Duration::from_secs(3)),
                http2: true,
                max_concurrent_streams: Some(9),
                lb_policy: "RANDOM".into(),
                outlier: Some(top_outlier()),
                healthy_panic_threshold: Some(10.0),
                ..defaults.clone()
            },
        ),
        // On 9090 the rule's level is its port-level settings (no outlier detection); v1's
        // pool and load balancer replace those.
        (
            cluster(9090, "v1", "shop"),
            Live {
                connect_timeout: Duration::from_secs(1),
                idle_timeout: Some(Duration::from_secs(3)),
                http2: true,
                max_concurrent_streams: Some(9),
                lb_policy: "RANDOM".into(),
                ..defaults.clone()
            },
        ),
        // v2: the rule's pool, its own ring and outlier detection (a count of 0 enforces 0;
        // no minHealthPercent: no panic mode).
        (
            cluster(9080, "v2", "shop"),
            Live {
                lb_policy: "RING_HASH".into(),
                minimum_ring_size: Some(64),
                outlier: Some(Outlier {
                    consecutive_5xx: Some((0, 0)),
                    consecutive_gateway_failure: Some((2, 100)),
                    interval: None,
                    base_ejection_time: None,
                    max_ejection_percent: None,
                    enforcing_success_rate: Some(0),
                }),
                healthy_panic_threshold: Some(0.0),
                ..top_pool.clone()
            },
        ),
        // v2's port-level settings for 9090 replace all four components.
        (
            cluster(9090, "v2", "shop"),
            Live {
                http2: true,
                ..defaults.clone()
            },
        ),
        // A subset's load balancer alone replaces the rule's ROUND_ROBIN: LEAST_CONN is
        // LEAST_REQUEST, and so is UNSPECIFIED (pilot's default, not the rule's); a ring without
        // a size is Envoy's default ring of 1024, written out as pilot writes it.
        (
            cluster(9080, "least-conn", "shop"),
            Live {
                lb_policy: "LEAST_REQUEST".into(),
                ..top_pool.clone()
            },
        ),
        (
            cluster(9080, "unspecified", "shop"),
            Live {
                lb_policy: "LEAST_REQUEST".into(),
                ..top_pool.clone()
            },
        ),
        (
            cluster(9080, "default-ring", "shop"),
            Live {
                lb_policy: "RING_HASH".into(),
                minimum_ring_size: Some(1024),
                ..top_pool.clone()
            },
        ),
    ];
    let clusters = live_clusters(&gateway).await?;
    for (name, expected) in expected {
        let live = clusters
            .get(&name)
            .ok_or_else(|| format!("no live cluster {name} in {:?}", clusters.keys()))?;
        assert_eq!(Live::read(live), expected, "{name}: {live:#}");
    }
    // One hash key (the header, on several clusters): the route hashes on it alone, no note.
    assert!(
        !gateway.stderr().contains("consistent-hash keys"),
        "{}",
        gateway.stderr()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// B. Behaviour.

/// ROUND_ROBIN takes two endpoints in strict turn; consistent hashing on a ring
/// (`minimumRingSize`) and on a Maglev table (`tableSize`) keeps each user on one endpoint;
/// outlier detection ejects on gateway errors only when told to, stops at `maxEjectionPercent`, goes into panic mode under
/// `minHealthPercent`, and lets a host back after `baseEjectionTime` (checked every `interval`).
///
/// An ejection is immediate on Envoy's main thread (the stats) but reaches the workers' load
/// balancers within the cluster's update merge window (1 s, Envoy's default, which pilot keeps):
/// the test ejects everywhere first, then waits that second once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_hashing_and_outlier_ejection_behave_as_configured() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let a = echo("a", 200, Duration::ZERO).await?;
    let b = echo("b", 200, Duration::ZERO).await?;
    let bad_gateway = echo("bad-gateway", 502, Duration::ZERO).await?;
    let mut failing = Vec::new();
    for index in 0..4 {
        failing.push(echo(&format!("failing-{index}"), 500, Duration::ZERO).await?);
    }
    let port = |upstream: &Upstream| upstream.addr().port();
    let failing_ports: Vec<u16> = failing.iter().map(port).collect();
    let rr = "    loadBalancer: {simple: ROUND_ROBIN}\n";
    let outlier = |fields: &str| format!("{rr}    outlierDetection: {{{fields}}}\n");
    let services = [
        service("rr", "HTTP", &[port(&a), port(&b)], rr),
        service(
            "ring",
            "HTTP",
            &[port(&a), port(&b)],
            "    loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 64}}}\n",
        ),
        service(
            "maglev",
            "HTTP",
            &[port(&a), port(&b)],
            "    loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 251}}}\n",
        ),
        // Ejected on the first 502 by gateway errors alone (5xx ejection off), for 30 s.
        service(
            "gateway-errors",
            "HTTP",
            &[port(&a), port(&bad_gateway)],
            &outlier("consecutiveGatewayErrors: 1, consecutive5xxErrors: 0, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100"),
        ),
        // Four failing hosts, half of them ejectable (Envoy's default of 10 % ejects none of
        // four).
        service(
            "capped",
            "HTTP",
            &failing_ports,
            &outlier("consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50"),
        ),
        // One of two ejected is 50 % healthy, under 60 %: panic mode, both hosts serve.
        service(
            "panic",
            "HTTP",
            &[port(&a), failing_ports[0]],
            &outlier("consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100, minHealthPercent: 60"),
        ),
        // Back after 1.5 s, checked every 250 ms (Envoy's defaults: 30 s, every 10 s).
        service(
            "returns",
            "HTTP",
            &[port(&a), failing_ports[0]],
            &outlier("consecutive5xxErrors: 1, interval: 250ms, baseEjectionTime: 1500ms, maxEjectionPercent: 100"),
        ),
    ];
    let gateway = start_services("outlier", &services, scratch.path())?;
    let outlier_stat = |host: &'static str, name: &'static str| {
        let gateway = &gateway;
        async move { stat(gateway, host, &format!("outlier_detection.{name}")).await }
    };

    let turns = in_turn(&gateway, "/rr/items", 10).await?;
    assert!(
        turns.windows(2).all(|pair| pair[0] != pair[1])
            && turns.iter().filter(|name| *name == "a").count() == 5,
        "round robin: {turns:?}"
    );
    // Consistent hashing on the header, on a ring and on a Maglev table: each user keeps one
    // endpoint, and twelve users spread over both (all on one would be a 1 in 2048 chance).
    for host in ["ring", "maglev"] {
        let client = Client::http2();
        let mut seen = BTreeSet::new();
        for user in 0..12 {
            let user = format!("user-{user}");
            let mut endpoints = BTreeSet::new();
            for _ in 0..3 {
                let path = format!("/{host}/items");
                let response = get_with(&client, &gateway, &path, &[("x-user", &user)]).await?;
                assert_eq!(response.status, 200, "{host}: {}", gateway.stderr());
                endpoints.insert(response.json::<Echo>()?.upstream);
            }
            assert_eq!(endpoints.len(), 1, "{host}: {user} moved: {endpoints:?}");
            seen.extend(endpoints);
        }
        assert_eq!(seen.len(), 2, "{host}: {seen:?}");
    }

    // Eject: each cluster's failing host answers one of the first two requests (round robin).
    for (host, status) in [
        ("gateway-errors", "status 502"),
        ("panic", "status 500"),
        ("returns", "status 500"),
    ] {
        let seen = in_turn(&gateway, &format!("/{host}/items"), 2).await?;
        assert!(seen.iter().any(|s| s == status), "{host}: {seen:?}");
    }
    let ejected = Instant::now();
    let seen = in_turn(&gateway, "/capped/items", 8).await?;
    assert!(seen.iter().all(|s| s == "status 500"), "capped: {seen:?}");
    assert_eq!(
        outlier_stat(
            "gateway-errors",
            "ejections_enforced_consecutive_gateway_failure"
        )
        .await?,
        1
    );
    assert_eq!(
        outlier_stat("gateway-errors", "ejections_enforced_consecutive_5xx").await?,
        0
    );
    assert_eq!(
        outlier_stat("capped", "ejections_active").await?,
        2,
        "capped: two of four ejected"
    );
    assert!(outlier_stat("capped", "ejections_overflow").await? >= 1);
    assert_eq!(outlier_stat("panic", "ejections_active").await?, 1);
    assert_eq!(outlier_stat("returns", "ejections_active").await?, 1);

    // The workers have the ejections.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let seen = in_turn(&gateway, "/gateway-errors/items", 10).await?;
    assert!(seen.iter().all(|s| s == "a"), "gateway errors: {seen:?}");
    let seen = in_turn(&gateway, "/panic/items", 10).await?;
    let failures = seen.iter().filter(|s| *s == "status 500").count();
    assert!(
        failures >= 3,
        "panic mode serves the ejected host too: {seen:?}"
    );
    assert!(stat(&gateway, "panic", "lb_healthy_panic").await? >= 1);
    // Without minHealthPercent the panic threshold is 0: never.
    assert_eq!(
        stat(&gateway, "gateway-errors", "lb_healthy_panic").await?,
        0
    );
    let seen = in_turn(&gateway, "/returns/items", 4).await?;
    assert!(seen.iter().all(|s| s == "a"), "returns, ejected: {seen:?}");

    // Unejected on the main thread 1.5 s after the ejection (at the next 250 ms check); the
    // workers follow within the merge window.
    let client = Client::http2();
    let back = loop {
        let response = get_with(&client, &gateway, "/returns/items", &[]).await?;
        if response.status == 500 {
            break Some(ejected.elapsed());
        }
        if ejected.elapsed() > Duration::from_secs(5) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        back.is_some_and(|back| back >= Duration::from_millis(1500)),
        "the failing host is back within 5 s, not before 1.5 s: {back:?}"
    );
    // Ejected for 30 s: still out.
    let seen = in_turn(&gateway, "/gateway-errors/items", 4).await?;
    assert!(seen.iter().all(|s| s == "a"), "gateway errors: {seen:?}");
    Ok(())
}

/// `maxConnections: 1` queues concurrent requests on one upstream connection;
/// `http1MaxPendingRequests` and `http2MaxRequests` overflow (503 `UO`); `maxRetries` caps the
/// retries in flight; `maxConcurrentStreams` splits HTTP/2 streams over connections;
/// `h2UpgradePolicy: UPGRADE` speaks HTTP/2 to an HTTP port, `DEFAULT` does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_limits_queue_overflow_cap_retries_and_split_http2_streams() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let slow = Duration::from_millis(300);
    let one_connection = Counted::start(slow).await?;
    let unlimited = Counted::start(slow).await?;
    let one_pending = Counted::start(slow).await?;
    let slow_echo = echo("slow", 200, slow).await?;
    let unavailable = echo("unavailable", 503, slow).await?;
    let fast = echo("fast", 200, Duration::ZERO).await?;
    let (slow_echo, unavailable, fast) = (
        slow_echo.addr().port(),
        unavailable.addr().port(),
        fast.addr().port(),
    );
    let services = [
        service(
            "one-connection",
            "HTTP",
            &[one_connection.port()],
            "    connectionPool: {tcp: {maxConnections: 1}}\n",
        ),
        service("unlimited", "HTTP", &[unlimited.port()], ""),
        service(
            "one-pending",
            "HTTP",
            &[one_pending.port()],
            "    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}\n",
        ),
        service(
            "one-request",
            "HTTP",
            &[slow_echo],
            "    connectionPool: {http: {http2MaxRequests: 1}}\n",
        ),
        service(
            "one-retry",
            "HTTP",
            &[unavailable],
            "    connectionPool: {http: {maxRetries: 1}}\n",
        ),
        service("retries", "HTTP", &[unavailable], ""),
        service(
            "one-stream",
            "HTTP2",
            &[slow_echo],
            "    connectionPool: {http: {maxConcurrentStreams: 1}}\n",
        ),
        service("streams", "HTTP2", &[slow_echo], ""),
        service(
            "upgrade",
            "HTTP",
            &[fast],
            "    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}\n",
        ),
        service(
            "no-upgrade",
            "HTTP",
            &[fast],
            "    connectionPool: {http: {h2UpgradePolicy: DEFAULT}}\n",
        ),
    ];
    let gateway = start_services("pool", &services, scratch.path())?;

    let (one_connection_statuses, unlimited_statuses, pending, requests, one_retry, retries) = tokio::join!(
        at_once(&gateway, "/one-connection/items", 4),
        at_once(&gateway, "/unlimited/items", 4),
        at_once(&gateway, "/one-pending/items", 4),
        at_once(&gateway, "/one-request/items", 4),
        at_once(&gateway, "/one-retry/items", 3),
        at_once(&gateway, "/retries/items", 3),
    );
    let (one_stream, streams) = tokio::join!(
        at_once(&gateway, "/one-stream/items", 3),
        at_once(&gateway, "/streams/items", 3),
    );

    // Four at once: one connection, the others waiting for it (Envoy counts each wait).
    assert_eq!(one_connection_statuses?, [200; 4]);
    assert_eq!(one_connection.connections().len(), 1);
    assert!(stat(&gateway, "one-connection", "upstream_cx_overflow").await? >= 1);
    assert_eq!(unlimited_statuses?, [200; 4]);
    assert_eq!(unlimited.connections().len(), 4);
    assert_eq!(
        stat(&gateway, "unlimited", "upstream_cx_overflow").await?,
        0
    );

    // One connection and one pending: the rest overflow.
    let pending = pending?;
    let overflowed = pending.iter().filter(|s| **s == 503).count();
    assert!(pending.contains(&200) && overflowed >= 1, "{pending:?}");
    assert_eq!(
        stat(&gateway, "one-pending", "upstream_rq_pending_overflow").await?,
        overflowed as u64
    );
    assert_eq!(one_pending.connections().len(), 1);

    // One request at a time, on any number of connections.
    assert_eq!(requests?, [200, 503, 503, 503]);
    assert_eq!(
        stat(&gateway, "one-request", "upstream_rq_active_overflow").await?,
        3
    );
    let uo = gateway.wait_for_log("||one-request.shop.svc.cluster.local ", 4);
    assert_eq!(
        uo.iter()
            .filter(
                |line| line.contains("\" 503 UO upstream_reset_before_response_started{overflow} ")
            )
            .count(),
        3,
        "{uo:?}"
    );

    // Istio's default retries (2, on 503): three failing at once want three retries, one may
    // be in flight.
    assert_eq!(one_retry?, [503; 3]);
    assert_eq!(retries?, [503; 3]);
    assert!(stat(&gateway, "one-retry", "upstream_rq_retry_overflow").await? >= 1);
    assert_eq!(
        stat(&gateway, "retries", "upstream_rq_retry_overflow").await?,
        0
    );
    assert_eq!(stat(&gateway, "retries", "upstream_rq_retry").await?, 6);

    // HTTP/2: a stream per connection, or all of a worker's on one.
    assert_eq!(one_stream?, [200; 3]);
    assert_eq!(streams?, [200; 3]);
    assert_eq!(stat(&gateway, "one-stream", "upstream_cx_total").await?, 3);
    assert_eq!(stat(&gateway, "streams", "upstream_cx_total").await?, 1);

    for (path, version) in [
        ("/upgrade/items", "HTTP/2.0"),
        ("/no-upgrade/items", "HTTP/1.1"),
    ] {
        let response = get_path(&gateway, path, &[]).await?;
        assert_eq!(response.status, 200, "{path}: {}", gateway.stderr());
        assert_eq!(response.json::<Echo>()?.version, version, "{path}");
    }
    assert_eq!(
        stat(&gateway, "upgrade", "upstream_cx_http2_total").await?,
        1
    );
    assert_eq!(
        stat(&gateway, "no-upgrade", "upstream_cx_http2_total").await?,
        0
    );
    Ok(())
}

/// The lives of the upstream connections, as the upstream sees them: one request each with
/// `maxRequestsPerConnection: 1` (else one connection for all); closed after 1 s idle by
/// `http.idleTimeout` and by `tcp.idleTimeout`, after 1 s however busy by
/// `maxConnectionDuration`; Envoy's socket has the keepalive timer of `tcpKeepalive.time`; and
/// a connect that hangs gives up after `connectTimeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_live_and_die_as_the_pool_says() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let per_request = Counted::start(Duration::ZERO).await?;
    let reused = Counted::start(Duration::ZERO).await?;
    let idle = Counted::start(Duration::ZERO).await?;
    let tcp_idle = Counted::start(Duration::ZERO).await?;
    let lifetime = Counted::start(Duration::ZERO).await?;
    let keepalive = Counted::start(Duration::ZERO).await?;
    let (hanging, _queued) = hanging_port().await?;
    let services = [
        service(
            "per-request",
            "HTTP",
            &[per_request.port()],
            "    connectionPool: {http: {maxRequestsPerConnection: 1}}\n",
        ),
        service("reused", "HTTP", &[reused.port()], ""),
        service(
            "idle",
            "HTTP",
            &[idle.port()],
            "    connectionPool: {http: {idleTimeout: 1s}}\n",
        ),
        service(
            "tcp-idle",
            "HTTP",
            &[tcp_idle.port()],
            "    connectionPool: {tcp: {idleTimeout: 1s}}\n",
        ),
        service(
            "lifetime",
            "HTTP",
            &[lifetime.port()],
            "    connectionPool: {tcp: {maxConnectionDuration: 1s}}\n",
        ),
        service(
            "keepalive",
            "HTTP",
            &[keepalive.port()],
            "    connectionPool: {tcp: {tcpKeepalive: {probes: 2, time: 45s, interval: 5s}}}\n",
        ),
        service(
            "hanging",
            "HTTP",
            &[hanging.local_addr()?.port()],
            "    connectionPool: {tcp: {connectTimeout: 200ms}}\n",
        ),
    ];
    let gateway = start_services("lives", &services, scratch.path())?;

    // `count` requests one after the other on one connection; when the last was answered.
    let requests = |path: &'static str, count: usize| {
        let gateway = &gateway;
        async move {
            let client = Client::http2();
            for _ in 0..count {
                let response = get_with(&client, gateway, path, &[]).await?;
                if response.status != 200 {
                    return Err(format!("{path}: {}", response.status).into());
                }
            }
            Result::Ok(Instant::now())
        }
    };

    requests("/per-request/items", 5).await?;
    requests("/reused/items", 5).await?;
    let counts = |upstream: &Counted| -> Vec<usize> {
        upstream.connections().iter().map(|c| c.requests).collect()
    };
    assert_eq!(counts(&per_request), [1; 5]);
    assert_eq!(counts(&reused), [5]);

    // Idle for a second (two ways), or busy for 1.5 s on a connection that may live 1 s.
    let busy = async {
        let client = Client::http2();
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            let response = get_with(&client, &gateway, "/lifetime/items", &[]).await?;
            if response.status != 200 {
                return Err(format!("/lifetime: {}", response.status).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Result::Ok(())
    };
    let (idle_done, tcp_idle_done, busy) = tokio::join!(
        requests("/idle/items", 1),
        requests("/tcp-idle/items", 1),
        busy
    );
    let (idle_done, tcp_idle_done) = (idle_done?, tcp_idle_done?);
    busy?;
    for (name, upstream, done) in [
        ("idle", &idle, idle_done),
        ("tcp-idle", &tcp_idle, tcp_idle_done),
    ] {
        let closed = upstream.wait_closed(0, Duration::from_secs(5)).await;
        let after = closed
            .ok_or_else(|| {
                format!(
                    "{name}: the connection is still open: {:?}",
                    upstream.connections()
                )
            })?
            .saturating_duration_since(done);
        assert!(
            (Duration::from_millis(800)..Duration::from_millis(2500)).contains(&after),
            "{name}: closed {after:?} after the response"
        );
    }
    let lives = lifetime.connections();
    assert!(lives.len() >= 2, "lifetime: {lives:?}");
    let first = &lives[0];
    let lived = first
        .closed
        .ok_or("lifetime: the first connection is open")?
        .saturating_duration_since(first.accepted);
    assert!(
        (Duration::from_millis(800)..Duration::from_millis(2000)).contains(&lived),
        "lifetime: the first connection lived {lived:?} ({} requests)",
        first.requests
    );
    // Without a timeout: still open after all that.
    assert_eq!(reused.connections()[0].closed, None);

    requests("/keepalive/items", 1).await?;
    let envoy_end = keepalive.connections()[0].peer.port();
    let (timer, left) = socket_timer(envoy_end, keepalive.port())?
        .ok_or("no socket of Envoy's to the keepalive upstream")?;
    assert_eq!(timer, 2, "the keepalive timer");
    assert!(
        (Duration::from_secs(35)..=Duration::from_secs(45)).contains(&left),
        "keepalive fires in {left:?}"
    );
    let reused_end = reused.connections()[0].peer.port();
    let (timer, _) = socket_timer(reused_end, reused.port())?
        .ok_or("no socket of Envoy's to the reused upstream")?;
    assert_eq!(timer, 0, "no keepalive without tcpKeepalive");

    // Three attempts (Istio's two retries on connect-failure) of 200 ms each.
    let started = Instant::now();
    let response = get_path(&gateway, "/hanging/items", &[]).await?;
    let took = started.elapsed();
    assert_eq!(response.status, 503);
    assert!(took < Duration::from_secs(3), "gave up after {took:?}");
    assert!(stat(&gateway, "hanging", "upstream_cx_connect_timeout").await? >= 1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Upstreams that show their connections.

/// What a [`Counted`] upstream saw of one connection.
#[derive(Debug, Clone)]
struct Connection {
    /// Envoy's end of it.
    peer: SocketAddr,
    accepted: Instant,
    requests: usize,
    /// When Envoy closed it (end of stream or reset).
    closed: Option<Instant>,
}

/// A loopback HTTP/1.1 server that answers `ok` to every request after `delay` and keeps a
/// record of each connection; stops when dropped.
struct Counted {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<Connection>>>,
    task: JoinHandle<()>,
}

type Record = Arc<Mutex<Vec<Connection>>>;

fn update(record: &Record, index: usize, change: impl FnOnce(&mut Connection)) {
    let mut connections = record.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(connection) = connections.get_mut(index) {
        change(connection);
    }
}

impl Counted {
    async fn start(delay: Duration) -> Result<Counted> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections: Record = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut open = tokio::task::JoinSet::new();
            while let Ok((stream, peer)) = listener.accept().await {
                let index = {
                    let mut connections = record.lock().unwrap_or_else(PoisonError::into_inner);
                    connections.push(Connection {
                        peer,
                        accepted: Instant::now(),
                        requests: 0,
                        closed: None,
                    });
                    connections.len() - 1
                };
                open.spawn(Self::serve(stream, Arc::clone(&record), index, delay));
            }
        });
        Ok(Counted {
            addr,
            connections,
            task,
        })
    }

    async fn serve(mut stream: TcpStream, record: Record, index: usize, delay: Duration) {
        const RESPONSE: &[u8] =
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
        let _ = stream.set_nodelay(true);
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            // Requests without a body (GET): each ends with its head.
            while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                buffer.drain(..end + 4);
                update(&record, index, |c| c.requests += 1);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if stream.write_all(RESPONSE).await.is_err() {
                    break;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        update(&record, index, |c| c.closed = Some(Instant::now()));
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn connections(&self) -> Vec<Connection> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `limit` for connection `index` to close: when it did.
    async fn wait_closed(&self, index: usize, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            let closed = self.connections().get(index).and_then(|c| c.closed);
            if closed.is_some() || Instant::now() >= deadline {
                return closed;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port whose accept queue is full (backlog 0, one connection never accepted): the
/// kernel drops every further SYN, so a connect to it hangs until the connector gives up.
/// Keep both for as long as the port must hang.
async fn hanging_port() -> Result<(TcpListener, TcpStream)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let listener = socket.listen(0)?;
    let queued = TcpStream::connect(listener.local_addr()?).await?;
    Ok((listener, queued))
}

/// The kernel's timer on the loopback socket from `local` to `remote` (`/proc/net/tcp`'s
/// `tr:tm->when`): which timer (0 none, 1 retransmit, 2 keepalive) and how long until it fires.
fn socket_timer(local: u16, remote: u16) -> Result<Option<(u8, Duration)>> {
    let table = fs::read_to_string("/proc/net/tcp")?;
    let (local, remote) = (
        format!("0100007F:{local:04X}"),
        format!("0100007F:{remote:04X}"),
    );
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() > 5 && fields[1] == local && fields[2] == remote {
            let (timer, when) = fields[5].split_once(':').ok_or("no timer")?;
            // In clock ticks (USER_HZ, 100 a second).
            let ticks = u64::from_str_radix(when, 16)?;
            return Ok(Some((
                u8::from_str_radix(timer, 16)?,
                Duration::from_millis(ticks * 10),
            )));
        }
    }
    Ok(None)
}

//! A cluster's merged traffic policy ([`crate::kinds::traffic_policy::Components`]) in Envoy's
//! terms, as pilot writes it (`cluster_traffic_policy.go`, `cluster_builder.go`): circuit
//! breakers always (pilot's defaults are unlimited, so Envoy's own 1024 never trips a gateway),
//! LEAST_REQUEST unless told otherwise, the mesh's 10 s connect timeout, outlier detection with
//! success-rate ejection off, and TLS to the upstream. Consistent hashing is split in two: the
//! ring (or Maglev) is the cluster's, the hash key is the route's ([`hash_policy`]).

use std::time::Duration;

use envoy_runner::proto_duration;
use serde_json::{json, Map, Value};

use crate::kinds::traffic_policy::{
    Components, ConnectionPool, H2Upgrade, HashAlgorithm, HashKey, LoadBalancer, OutlierDetection,
    Source, Tls, TlsFiles,
};

/// An Envoy `DataSource`: the file, or the Secret's PEM inline.
pub(crate) fn data_source(source: &Source) -> Value {
    match source {
        Source::File(path) => json!({ "filename": path.display().to_string() }),
        Source::Inline(text) => json!({ "inline_string": text }),
    }
}

/// Istio's `subjectAltNames` as Envoy's typed matchers: exact, `URI` for a `spiffe://`-style
/// name, else `DNS`.
pub(crate) fn subject_alt_name_matchers(names: &[String]) -> Value {
    names
        .iter()
        .map(|san| {
            let kind = if san.contains("://") { "URI" } else { "DNS" };
            json!({ "san_type": kind, "matcher": { "exact": san } })
        })
        .collect()
}

/// MeshConfig `connectTimeout`'s default.
pub const MESH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a cluster gets from its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// Merged into the rendered cluster.
    pub patch: Value,
    /// `h2UpgradePolicy: UPGRADE`: speak HTTP/2 to the endpoints.
    pub http2_upgrade: bool,
    pub connect_timeout: Duration,
    /// Why parts of the policy are not applied.
    pub notes: Vec<String>,
}

/// The settings of one cluster; `http2` says whether it speaks HTTP/2 (by port or upgrade).
pub fn settings(components: &Components, port_is_http2: bool) -> ClusterSettings {
    let default_pool = ConnectionPool::default();
    let pool = components.connection_pool.as_ref().unwrap_or(&default_pool);
    let http2_upgrade = pool.h2_upgrade == H2Upgrade::Upgrade;
    let http2 = port_is_http2 || http2_upgrade;
    let mut notes = Vec::new();
    let mut patch = Map::new();
    patch.insert("circuit_breakers".into(), circuit_breakers(pool));
    if let Some(keepalive) = &pool.tcp_keepalive {
        let mut tcp = Map::new();
        if let Some(probes) = keepalive.probes.filter(|p| *p > 0) {
            tcp.insert("keepalive_probes".into(), json!(probes));
        }
        if let Some(time) = keepalive.time {
            tcp.insert("keepalive_time".into(), json!(time.as_secs()));
        }
        if let Some(interval) = keepalive.interval {
            tcp.insert("keepalive_interval".into(), json!(interval.as_secs()));
        }
        patch.insert(
            "upstream_connection_options".into(),
            json!({ "tcp_keepalive": tcp }),
        );
    }
    if let Some(options) = protocol_options(pool, http2) {
        patch.insert("typed_extension_protocol_options".into(), options);
    }
    match components
        .load_balancer
        .as_ref()
        .unwrap_or(&LoadBalancer::Default)
    {
        LoadBalancer::Default | LoadBalancer::LeastRequest => {
            patch.insert("lb_policy".into(), json!("LEAST_REQUEST"));
        }
        LoadBalancer::RoundRobin => {
            patch.insert("lb_policy".into(), json!("ROUND_ROBIN"));
        }
        LoadBalancer::Random => {
            patch.insert("lb_policy".into(), json!("RANDOM"));
        }
        LoadBalancer::Passthrough => {
            notes.push(
                "loadBalancer.simple PASSTHROUGH is not served: it forwards to the connection's original destination (ORIGINAL_DST), which only a sidecar's intercepted traffic has; LEAST_REQUEST over the endpoints instead".into(),
            );
            patch.insert("lb_policy".into(), json!("LEAST_REQUEST"));
        }
        LoadBalancer::ConsistentHash(hash) => match hash.algorithm {
            HashAlgorithm::RingHash { minimum_ring_size } => {
                patch.insert("lb_policy".into(), json!("RING_HASH"));
                patch.insert(
                    "ring_hash_lb_config".into(),
                    json!({ "minimum_ring_size": minimum_ring_size }),
                );
            }
            HashAlgorithm::Maglev { table_size } => {
                patch.insert("lb_policy".into(), json!("MAGLEV"));
                if let Some(table_size) = table_size {
                    patch.insert(
                        "maglev_lb_config".into(),
                        json!({ "table_size": table_size }),
                    );
                }
            }
        },
    }
    if let Some(outlier) = &components.outlier_detection {
        let (detection, panic_threshold) = outlier_detection(outlier);
        patch.insert("outlier_detection".into(), detection);
        patch.insert(
            "common_lb_config".into(),
            json!({ "healthy_panic_threshold": { "value": panic_threshold } }),
        );
    }
    match &components.tls {
        None | Some(Tls::Disable) => {}
        Some(Tls::IstioMutual) => notes.push(
            "tls.mode ISTIO_MUTUAL needs the mesh: the workload certificate and trust bundle istiod issues through the proxy's SDS, which a local gateway has not; it connects in plain text, as to a workload without a sidecar".into(),
        ),
        Some(Tls::Originate(files)) => {
            patch.insert("transport_socket".into(), transport_socket(files, http2));
        }
    }
    ClusterSettings {
        patch: Value::Object(patch),
        http2_upgrade,
        connect_timeout: pool.connect_timeout.unwrap_or(MESH_CONNECT_TIMEOUT),
        notes,
    }
}

/// Pilot's thresholds: every limit unlimited unless the pool sets it, remaining counts tracked.
fn circuit_breakers(pool: &ConnectionPool) -> Value {
    let limit = |value: Option<u32>| value.filter(|v| *v > 0).unwrap_or(u32::MAX);
    json!({ "thresholds": [{
        "max_connections": limit(pool.max_connections),
        "max_pending_requests": limit(pool.http1_max_pending_requests),
        "max_requests": limit(pool.http2_max_requests),
        "max_retries": limit(pool.max_retries),
        "track_remaining": true,
    }] })
}

/// The upstream HTTP options pilot sets from the pool, or `None` when it sets none (the cluster
/// keeps its protocol choice alone).
fn protocol_options(pool: &ConnectionPool, http2: bool) -> Option<Value> {
    let mut common = Map::new();
    // The HTTP idle timeout wins over the TCP one, as in pilot.
    if let Some(idle) = pool.idle_timeout.or(pool.tcp_idle_timeout) {
        common.insert("idle_timeout".into(), json!(proto_duration(idle)));
    }
    if let Some(max) = pool.max_requests_per_connection.filter(|m| *m > 0) {
        common.insert("max_requests_per_connection".into(), json!(max));
    }
    if let Some(duration) = pool.max_connection_duration {
        common.insert(
            "max_connection_duration".into(),
            json!(proto_duration(duration)),
        );
    }
    let streams = pool.max_concurrent_streams.filter(|m| *m > 0 && http2);
    if common.is_empty() && streams.is_none() {
        return None;
    }
    let mut options = json!({
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "common_http_protocol_options": common,
    });
    // envoy-runner's Cluster writes explicit_http_config for HTTP/2 itself; HTTP/1.1 needs it
    // here, since HttpProtocolOptions requires a protocol choice.
    if !http2 {
        options["explicit_http_config"] = json!({ "http_protocol_options": {} });
    } else if let Some(streams) = streams {
        options["explicit_http_config"] =
            json!({ "http2_protocol_options": { "max_concurrent_streams": streams } });
    }
    Some(json!({ "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options }))
}

/// Envoy's outlier detection and the panic threshold (pilot sets it whenever outlier detection
/// is on: `minHealthPercent`, 0 by default, which turns panic mode off).
fn outlier_detection(outlier: &OutlierDetection) -> (Value, u32) {
    let mut detection = Map::new();
    detection.insert("enforcing_success_rate".into(), json!(0));
    let enforcing = |count: u32| if count > 0 { 100 } else { 0 };
    if let Some(count) = outlier.consecutive_5xx_errors {
        detection.insert("consecutive_5xx".into(), json!(count));
        detection.insert("enforcing_consecutive_5xx".into(), json!(enforcing(count)));
    }
    if let Some(count) = outlier.consecutive_gateway_errors {
        detection.insert("consecutive_gateway_failure".into(), json!(count));
        detection.insert(
            "enforcing_consecutive_gateway_failure".into(),
            json!(enforcing(count)),
        );
    }
    if let Some(interval) = outlier.interval {
        detection.insert("interval".into(), json!(proto_duration(interval)));
    }
    if let Some(time) = outlier.base_ejection_time {
        detection.insert("base_ejection_time".into(), json!(proto_duration(time)));
    }
    if outlier.max_ejection_percent > 0 {
        detection.insert(
            "max_ejection_percent".into(),
            json!(outlier.max_ejection_percent),
        );
    }
    (Value::Object(detection), outlier.min_health_percent)
}

/// TLS origination: SNI as given (else Envoy's `auto_sni` would need the route's host, which the
/// router does not rewrite: none is sent), the CA (else the system's, as pilot verifies against
/// the OS roots), the SANs, the client certificate for MUTUAL.
fn transport_socket(files: &TlsFiles, http2: bool) -> Value {
    let mut common = Map::new();
    if let Some((certificate, key)) = &files.client {
        common.insert(
            "tls_certificates".into(),
            json!([{
                "certificate_chain": data_source(certificate),
                "private_key": data_source(key),
            }]),
        );
    }
    if !files.insecure_skip_verify {
        let ca = files.ca_certificates.as_ref().map_or_else(
            || json!({ "filename": "/etc/ssl/certs/ca-certificates.crt" }),
            data_source,
        );
        let mut validation = json!({ "trusted_ca": ca });
        if !files.subject_alt_names.is_empty() {
            validation["match_typed_subject_alt_names"] =
                subject_alt_name_matchers(&files.subject_alt_names);
        }
        common.insert("validation_context".into(), validation);
    }
    if http2 {
        common.insert("alpn_protocols".into(), json!(["h2"]));
    }
    let mut context = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": common,
    });
    if let Some(sni) = &files.sni {
        context["sni"] = json!(sni);
    }
    json!({ "name": "envoy.transport_sockets.tls", "typed_config": context })
}

/// The route's hash policy for one consistent-hash key (pilot's `consistentHashToHashPolicy`).
pub fn hash_policy(key: &HashKey) -> Value {
    match key {
        HashKey::Header(name) => json!({ "header": { "header_name": name } }),
        HashKey::Cookie { name, path, ttl } => {
            let mut cookie = json!({ "name": name, "ttl": proto_duration(*ttl) });
            if let Some(path) = path {
                cookie["path"] = json!(path);
            }
            json!({ "cookie": cookie })
        }
        HashKey::SourceIp => json!({ "connection_properties": { "source_ip": true } }),
        HashKey::QueryParameter(name) => json!({ "query_parameter": { "name": name } }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::traffic_policy::{ConsistentHash, Keepalive};

    #[test]
    fn without_a_policy_pilots_defaults() {
        let settings = settings(&Components::default(), false);
        assert_eq!(settings.connect_timeout, MESH_CONNECT_TIMEOUT);
        assert_eq!(settings.patch["lb_policy"], "LEAST_REQUEST");
        let thresholds = &settings.patch["circuit_breakers"]["thresholds"][0];
        assert_eq!(thresholds["max_pending_requests"], u32::MAX);
        assert_eq!(thresholds["track_remaining"], true);
        assert!(settings.patch.get("outlier_detection").is_none());
        assert!(settings
            .patch
            .get("typed_extension_protocol_options")
            .is_none());
    }

    #[test]
    fn the_pool_becomes_circuit_breakers_and_protocol_options() {
        let pool = ConnectionPool {
            max_connections: Some(1),
            http1_max_pending_requests: Some(1),
            max_requests_per_connection: Some(10),
            idle_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_millis(250)),
            tcp_keepalive: Some(Keepalive {
                probes: Some(3),
                time: Some(Duration::from_secs(7200)),
                interval: None,
            }),
            ..ConnectionPool::default()
        };
        let components = Components {
            connection_pool: Some(pool),
            ..Components::default()
        };
        let settings = settings(&components, false);
        let thresholds = &settings.patch["circuit_breakers"]["thresholds"][0];
        assert_eq!(thresholds["max_connections"], 1);
        assert_eq!(thresholds["max_pending_requests"], 1);
        assert_eq!(thresholds["max_requests"], u32::MAX);
        assert_eq!(settings.connect_timeout, Duration::from_millis(250));
        let options = &settings.patch["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
        assert_eq!(
            options["common_http_protocol_options"]["max_requests_per_connection"],
            10
        );
        assert_eq!(
            options["common_http_protocol_options"]["idle_timeout"],
            "30.000000000s"
        );
        assert!(options["explicit_http_config"]["http_protocol_options"].is_object());
        assert_eq!(
            settings.patch["upstream_connection_options"]["tcp_keepalive"],
            json!({ "keepalive_probes": 3, "keepalive_time": 7200 })
        );
    }

    #[test]
    fn outlier_detection_as_pilot_writes_it() {
        let components = Components {
            outlier_detection: Some(OutlierDetection {
                consecutive_5xx_errors: Some(0),
                consecutive_gateway_errors: Some(3),
                interval: Some(Duration::from_secs(1)),
                base_ejection_time: Some(Duration::from_secs(30)),
                max_ejection_percent: 100,
                min_health_percent: 0,
            }),
            ..Components::default()
        };
        let patch = settings(&components, false).patch;
        assert_eq!(
            patch["outlier_detection"],
            json!({
                "enforcing_success_rate": 0,
                "consecutive_5xx": 0, "enforcing_consecutive_5xx": 0,
                "consecutive_gateway_failure": 3, "enforcing_consecutive_gateway_failure": 100,
                "interval": "1.000000000s", "base_ejection_time": "30.000000000s",
                "max_ejection_percent": 100,
            })
        );
        assert_eq!(
            patch["common_lb_config"]["healthy_panic_threshold"]["value"],
            0
        );
    }

    #[test]
    fn consistent_hash_is_a_ring_on_the_cluster_and_a_key_on_the_route() {
        let components = Components {
            load_balancer: Some(LoadBalancer::ConsistentHash(ConsistentHash {
                key: HashKey::Header("x-user".into()),
                algorithm: HashAlgorithm::RingHash {
                    minimum_ring_size: 1024,
                },
            })),
            ..Components::default()
        };
        let patch = settings(&components, false).patch;
        assert_eq!(patch["lb_policy"], "RING_HASH");
        assert_eq!(patch["ring_hash_lb_config"]["minimum_ring_size"], 1024);
        assert_eq!(
            hash_policy(&HashKey::Header("x-user".into())),
            json!({ "header": { "header_name": "x-user" } })
        );
        assert_eq!(
            hash_policy(&HashKey::Cookie {
                name: "user".into(),
                path: Some("/".into()),
                ttl: Duration::ZERO
            }),
            json!({ "cookie": { "name": "user", "path": "/", "ttl": "0.000000000s" } })
        );
    }

    #[test]
    fn tls_origination_with_files() {
        let components = Components {
            tls: Some(Tls::Originate(TlsFiles {
                mutual: true,
                client: Some((Source::File("c.pem".into()), Source::Inline("KEY".into()))),
                ca_certificates: Some(Source::File("ca.pem".into())),
                credential: None,
                subject_alt_names: vec!["api.example.com".into()],
                sni: Some("api.example.com".into()),
                insecure_skip_verify: false,
            })),
            ..Components::default()
        };
        let socket = &settings(&components, false).patch["transport_socket"]["typed_config"];
        assert_eq!(socket["sni"], "api.example.com");
        let common = &socket["common_tls_context"];
        let client = &common["tls_certificates"][0];
        assert_eq!(client["private_key"]["inline_string"], "KEY");
        assert_eq!(client["certificate_chain"]["filename"], "c.pem");
        assert_eq!(
            common["validation_context"]["trusted_ca"]["filename"],
            "ca.pem"
        );
        let istio = Components {
            tls: Some(Tls::IstioMutual),
            ..Components::default()
        };
        let settings = settings(&istio, false);
        assert!(settings.patch.get("transport_socket").is_none());
        assert!(settings.notes[0].contains("needs the mesh"));
    }
}

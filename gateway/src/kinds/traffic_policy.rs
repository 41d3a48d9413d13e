//! A DestinationRule's `trafficPolicy` (top level, `portLevelSettings`, per subset): read and
//! checked as Istio's validation does, and merged for one cluster as pilot merges it
//! (`MergeSubsetTrafficPolicy`): the port-level settings for the cluster's port replace the
//! four components of the level they are in (connectionPool, loadBalancer, outlierDetection,
//! tls) wholesale, unset ones included ("port-level settings do not inherit"); then each
//! component the subset sets (or all four, when the subset has settings for the port) replaces
//! the rule's. Components merge whole, never field by field, as in pilot.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Origin, ResourceError};

/// The four components pilot turns into a cluster's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Components {
    pub connection_pool: Option<ConnectionPool>,
    pub load_balancer: Option<LoadBalancer>,
    pub outlier_detection: Option<OutlierDetection>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficPolicy {
    pub top: Components,
    /// `portLevelSettings`, by port number.
    pub ports: Vec<(u16, Components)>,
    /// Fields read but not applied locally, with the reason (for the notes).
    pub not_applied: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionPool {
    pub max_connections: Option<u32>,
    pub connect_timeout: Option<Duration>,
    pub tcp_keepalive: Option<Keepalive>,
    pub max_connection_duration: Option<Duration>,
    pub tcp_idle_timeout: Option<Duration>,
    pub http1_max_pending_requests: Option<u32>,
    pub http2_max_requests: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
    pub max_retries: Option<u32>,
    pub idle_timeout: Option<Duration>,
    pub max_concurrent_streams: Option<u32>,
    pub h2_upgrade: H2Upgrade,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum H2Upgrade {
    /// The mesh's `h2UpgradePolicy`, DO_NOT_UPGRADE by default.
    #[default]
    Default,
    DoNotUpgrade,
    Upgrade,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keepalive {
    pub probes: Option<u32>,
    pub time: Option<Duration>,
    pub interval: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoadBalancer {
    /// `simple` unset or UNSPECIFIED: pilot's default, LEAST_REQUEST.
    Default,
    RoundRobin,
    LeastRequest,
    Random,
    /// ORIGINAL_DST: not served locally (reported).
    Passthrough,
    ConsistentHash(ConsistentHash),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsistentHash {
    pub key: HashKey,
    pub algorithm: HashAlgorithm,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HashKey {
    Header(String),
    Cookie {
        name: String,
        path: Option<String>,
        ttl: Duration,
    },
    SourceIp,
    QueryParameter(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    RingHash { minimum_ring_size: u64 },
    Maglev { table_size: Option<u64> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlierDetection {
    pub consecutive_5xx_errors: Option<u32>,
    pub consecutive_gateway_errors: Option<u32>,
    pub interval: Option<Duration>,
    pub base_ejection_time: Option<Duration>,
    pub max_ejection_percent: u32,
    pub min_health_percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Disable,
    /// SIMPLE, or MUTUAL with a client certificate.
    Originate(TlsFiles),
    /// Needs the mesh's workload certificates: reported, plain text locally.
    IstioMutual,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub mutual: bool,
    /// MUTUAL: the client certificate chain and its key.
    pub client: Option<(Source, Source)>,
    pub ca_certificates: Option<Source>,
    /// `credentialName`, and the field it is at: resolved against the directory's Secrets by
    /// [`crate::credentials::resolve`], which fills `client` and `ca_certificates` from it.
    pub credential: Option<(String, String)>,
    pub subject_alt_names: Vec<String>,
    pub sni: Option<String>,
    pub insecure_skip_verify: bool,
}

/// PEM from a file (the `tls` fields) or from a Kubernetes Secret (`credentialName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Inline(String),
}

impl Components {
    /// The component's TLS settings, to fill from Secrets.
    pub fn tls_mut(&mut self) -> Option<&mut TlsFiles> {
        match &mut self.tls {
            Some(Tls::Originate(files)) => Some(files),
            _ => None,
        }
    }
}

/// The merged components for the cluster of `port`, of `subset` (none for the host's own).
pub fn for_port(
    rule: Option<&TrafficPolicy>,
    subset: Option<&TrafficPolicy>,
    port: u16,
) -> Components {
    let level = |policy: &TrafficPolicy| match policy.ports.iter().find(|(p, _)| *p == port) {
        Some((_, components)) => (components.clone(), true),
        None => (policy.top.clone(), false),
    };
    let mut merged = rule.map(|rule| level(rule).0).unwrap_or_default();
    if let Some(subset) = subset {
        let (own, whole) = level(subset);
        if whole || own.connection_pool.is_some() {
            merged.connection_pool = own.connection_pool;
        }
        if whole || own.load_balancer.is_some() {
            merged.load_balancer = own.load_balancer;
        }
        if whole || own.outlier_detection.is_some() {
            merged.outlier_detection = own.outlier_detection;
        }
        if whole || own.tls.is_some() {
            merged.tls = own.tls;
        }
    }
    merged
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrafficPolicySpec {
    // The four components are repeated here and in PortSpec rather than flattened: serde's
    // flatten would lose the field path of an error inside them.
    connection_pool: Option<ConnectionPoolSpec>,
    load_balancer: Option<LoadBalancerSpec>,
    outlier_detection: Option<OutlierDetectionSpec>,
    tls: Option<TlsSpec>,
    #[serde(default)]
    port_level_settings: Vec<PortSpec>,
    proxy_protocol: Option<Value>,
    tunnel: Option<Value>,
    retry_budget: Option<Value>,
}

#[derive(Default)]
struct ComponentsSpec {
    connection_pool: Option<ConnectionPoolSpec>,
    load_balancer: Option<LoadBalancerSpec>,
    outlier_detection: Option<OutlierDetectionSpec>,
    tls: Option<TlsSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortSpec {
    port: Option<PortSelector>,
    connection_pool: Option<ConnectionPoolSpec>,
    load_balancer: Option<LoadBalancerSpec>,
    outlier_detection: Option<OutlierDetectionSpec>,
    tls: Option<TlsSpec>,
}

#[derive(Deserialize)]
struct PortSelector {
    number: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConnectionPoolSpec {
    tcp: Option<TcpSpec>,
    http: Option<HttpSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TcpSpec {
    max_connections: Option<i64>,
    connect_timeout: Option<String>,
    tcp_keepalive: Option<KeepaliveSpec>,
    max_connection_duration: Option<String>,
    idle_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
struct KeepaliveSpec {
    probes: Option<i64>,
    time: Option<String>,
    interval: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HttpSpec {
    http1_max_pending_requests: Option<i64>,
    http2_max_requests: Option<i64>,
    max_requests_per_connection: Option<i64>,
    max_retries: Option<i64>,
    idle_timeout: Option<String>,
    h2_upgrade_policy: Option<String>,
    use_client_protocol: Option<bool>,
    max_concurrent_streams: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LoadBalancerSpec {
    simple: Option<String>,
    consistent_hash: Option<ConsistentHashSpec>,
    locality_lb_setting: Option<Value>,
    warmup_duration_secs: Option<Value>,
    warmup: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConsistentHashSpec {
    http_header_name: Option<String>,
    http_cookie: Option<CookieSpec>,
    use_source_ip: Option<bool>,
    http_query_parameter_name: Option<String>,
    ring_hash: Option<RingHashSpec>,
    maglev: Option<MaglevSpec>,
    minimum_ring_size: Option<i64>,
}

#[derive(Deserialize, Default)]
struct CookieSpec {
    #[serde(default)]
    name: String,
    path: Option<String>,
    ttl: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RingHashSpec {
    minimum_ring_size: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MaglevSpec {
    table_size: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OutlierDetectionSpec {
    #[serde(rename = "consecutive5xxErrors")]
    consecutive_5xx_errors: Option<i64>,
    consecutive_gateway_errors: Option<i64>,
    interval: Option<String>,
    base_ejection_time: Option<String>,
    max_ejection_percent: Option<i64>,
    min_health_percent: Option<i64>,
    consecutive_errors: Option<Value>,
    split_external_local_origin_errors: Option<Value>,
    consecutive_local_origin_failures: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TlsSpec {
    mode: Option<String>,
    client_certificate: Option<String>,
    private_key: Option<String>,
    ca_certificates: Option<String>,
    credential_name: Option<String>,
    #[serde(default)]
    subject_alt_names: Vec<String>,
    sni: Option<String>,
    insecure_skip_verify: Option<bool>,
    ca_crl: Option<String>,
}

/// Checks one `trafficPolicy` at `at` (`spec.trafficPolicy`, `spec.subsets[0].trafficPolicy`).
pub(crate) fn parse(
    spec: TrafficPolicySpec,
    origin: &Origin,
    at: &str,
) -> Result<TrafficPolicy, ResourceError> {
    let reader = Reader { origin };
    let mut not_applied = Vec::new();
    for (field, set) in [
        ("proxyProtocol", spec.proxy_protocol.is_some()),
        ("tunnel", spec.tunnel.is_some()),
        ("retryBudget", spec.retry_budget.is_some()),
    ] {
        if set {
            not_applied.push(format!("{at}.{field} is not applied by the local gateway"));
        }
    }
    let top = ComponentsSpec {
        connection_pool: spec.connection_pool,
        load_balancer: spec.load_balancer,
        outlier_detection: spec.outlier_detection,
        tls: spec.tls,
    };
    let top = reader.components(top, at, &mut not_applied)?;
    let mut ports: Vec<(u16, Components)> = Vec::new();
    for (index, port) in spec.port_level_settings.into_iter().enumerate() {
        let at = format!("{at}.portLevelSettings[{index}]");
        let number = port
            .port
            .and_then(|port| port.number)
            .ok_or_else(|| origin.error(format!("{at}.port.number"), "required"))?;
        let number = u16::try_from(number)
            .ok()
            .filter(|number| *number != 0)
            .ok_or_else(|| {
                origin.error(
                    format!("{at}.port.number"),
                    format!("{number} is not a port number (1-65535)"),
                )
            })?;
        if ports.iter().any(|(known, _)| *known == number) {
            return Err(origin.error(
                format!("{at}.port.number"),
                format!("port {number} already has settings"),
            ));
        }
        let components = ComponentsSpec {
            connection_pool: port.connection_pool,
            load_balancer: port.load_balancer,
            outlier_detection: port.outlier_detection,
            tls: port.tls,
        };
        let components = reader.components(components, &at, &mut not_applied)?;
        ports.push((number, components));
    }
    Ok(TrafficPolicy {
        top,
        ports,
        not_applied,
    })
}

struct Reader<'a> {
    origin: &'a Origin,
}

impl Reader<'_> {
    fn components(
        &self,
        spec: ComponentsSpec,
        at: &str,
        not_applied: &mut Vec<String>,
    ) -> Result<Components, ResourceError> {
        Ok(Components {
            connection_pool: spec
                .connection_pool
                .map(|pool| {
                    self.connection_pool(pool, &format!("{at}.connectionPool"), not_applied)
                })
                .transpose()?,
            load_balancer: spec
                .load_balancer
                .map(|lb| self.load_balancer(lb, &format!("{at}.loadBalancer"), not_applied))
                .transpose()?,
            outlier_detection: spec
                .outlier_detection
                .map(|od| {
                    self.outlier_detection(od, &format!("{at}.outlierDetection"), not_applied)
                })
                .transpose()?,
            tls: spec
                .tls
                .map(|tls| self.tls(tls, &format!("{at}.tls")))
                .transpose()?,
        })
    }

    fn count(&self, value: Option<i64>, field: String) -> Result<Option<u32>, ResourceError> {
        value
            .map(|value| {
                if value < 0 {
                    Err(self.origin.error(field, "must be >= 0"))
                } else {
                    u32::try_from(value)
                        .map_err(|_| self.origin.error(field, "must be at most 4294967295"))
                }
            })
            .transpose()
    }

    fn duration(
        &self,
        value: Option<String>,
        field: String,
        minimum: Duration,
    ) -> Result<Option<Duration>, ResourceError> {
        value
            .map(|text| {
                let duration = engine::duration::parse(&text)
                    .map_err(|reason| self.origin.error(field.clone(), reason))?;
                if duration < minimum {
                    return Err(self.origin.error(field, format!("must be >= {minimum:?}")));
                }
                Ok(duration)
            })
            .transpose()
    }

    fn connection_pool(
        &self,
        spec: ConnectionPoolSpec,
        at: &str,
        not_applied: &mut Vec<String>,
    ) -> Result<ConnectionPool, ResourceError> {
        // Istio's validation: connect timeouts and keepalive times of at least 1 ms.
        let ms = Duration::from_millis(1);
        let tcp = spec.tcp.unwrap_or_default();
        let http = spec.http.unwrap_or_default();
        let t = |field: &str| format!("{at}.tcp.{field}");
        let h = |field: &str| format!("{at}.http.{field}");
        let keepalive = tcp
            .tcp_keepalive
            .map(|keepalive| -> Result<Keepalive, ResourceError> {
                let k = |field: &str| format!("{at}.tcp.tcpKeepalive.{field}");
                Ok(Keepalive {
                    probes: self.count(keepalive.probes, k("probes"))?,
                    time: self.duration(keepalive.time, k("time"), ms)?,
                    interval: self.duration(keepalive.interval, k("interval"), ms)?,
                })
            })
            .transpose()?;
        let h2_upgrade = match http.h2_upgrade_policy.as_deref() {
            None | Some("DEFAULT") => H2Upgrade::Default,
            Some("DO_NOT_UPGRADE") => H2Upgrade::DoNotUpgrade,
            Some("UPGRADE") => H2Upgrade::Upgrade,
            Some(other) => {
                return Err(self.origin.error(
                    h("h2UpgradePolicy"),
                    format!("unknown policy {other:?} (DEFAULT, DO_NOT_UPGRADE or UPGRADE)"),
                ))
            }
        };
        if http.use_client_protocol == Some(true) {
            not_applied.push(format!(
                "{at}.http.useClientProtocol is not applied: the local gateway speaks the port's protocol"
            ));
        }
        Ok(ConnectionPool {
            max_connections: self.count(tcp.max_connections, t("maxConnections"))?,
            connect_timeout: self.duration(tcp.connect_timeout, t("connectTimeout"), ms)?,
            tcp_keepalive: keepalive,
            max_connection_duration: self.duration(
                tcp.max_connection_duration,
                t("maxConnectionDuration"),
                ms,
            )?,
            tcp_idle_timeout: self.duration(tcp.idle_timeout, t("idleTimeout"), Duration::ZERO)?,
            http1_max_pending_requests: self.count(
                http.http1_max_pending_requests,
                h("http1MaxPendingRequests"),
            )?,
            http2_max_requests: self.count(http.http2_max_requests, h("http2MaxRequests"))?,
            max_requests_per_connection: self.count(
                http.max_requests_per_connection,
                h("maxRequestsPerConnection"),
            )?,
            max_retries: self.count(http.max_retries, h("maxRetries"))?,
            idle_timeout: self.duration(http.idle_timeout, h("idleTimeout"), ms)?,
            max_concurrent_streams: self
                .count(http.max_concurrent_streams, h("maxConcurrentStreams"))?,
            h2_upgrade,
        })
    }

    fn load_balancer(
        &self,
        spec: LoadBalancerSpec,
        at: &str,
        not_applied: &mut Vec<String>,
    ) -> Result<LoadBalancer, ResourceError> {
        if spec.locality_lb_setting.is_some() {
            not_applied.push(format!(
                "{at}.localityLbSetting is not applied: the local gateway has no localities (every endpoint is on loopback)"
            ));
        }
        if spec.warmup.is_some() || spec.warmup_duration_secs.is_some() {
            not_applied.push(format!("{at}.warmup is not applied by the local gateway"));
        }
        match (spec.simple, spec.consistent_hash) {
            (Some(_), Some(_)) => Err(self.origin.error(
                at,
                "only one of simple and consistentHash may be set",
            )),
            (Some(simple), None) => match simple.as_str() {
                "UNSPECIFIED" => Ok(LoadBalancer::Default),
                "ROUND_ROBIN" => Ok(LoadBalancer::RoundRobin),
                "LEAST_REQUEST" | "LEAST_CONN" => Ok(LoadBalancer::LeastRequest),
                "RANDOM" => Ok(LoadBalancer::Random),
                "PASSTHROUGH" => Ok(LoadBalancer::Passthrough),
                other => Err(self.origin.error(
                    format!("{at}.simple"),
                    format!("unknown policy {other:?} (UNSPECIFIED, ROUND_ROBIN, LEAST_REQUEST, RANDOM or PASSTHROUGH)"),
                )),
            },
            (None, Some(hash)) => self
                .consistent_hash(hash, &format!("{at}.consistentHash"))
                .map(LoadBalancer::ConsistentHash),
            (None, None) => Ok(LoadBalancer::Default),
        }
    }

    fn consistent_hash(
        &self,
        spec: ConsistentHashSpec,
        at: &str,
    ) -> Result<ConsistentHash, ResourceError> {
        let mut keys = Vec::new();
        if let Some(name) = spec.http_header_name {
            if name.is_empty() {
                return Err(self
                    .origin
                    .error(format!("{at}.httpHeaderName"), "must not be empty"));
            }
            keys.push(HashKey::Header(name.to_ascii_lowercase()));
        }
        if let Some(cookie) = spec.http_cookie {
            let c = |field: &str| format!("{at}.httpCookie.{field}");
            if cookie.name.is_empty() {
                return Err(self.origin.error(c("name"), "required"));
            }
            let ttl = self
                .duration(cookie.ttl, c("ttl"), Duration::ZERO)?
                .ok_or_else(|| self.origin.error(c("ttl"), "required"))?;
            keys.push(HashKey::Cookie {
                name: cookie.name,
                path: cookie.path,
                ttl,
            });
        }
        if spec.use_source_ip == Some(true) {
            keys.push(HashKey::SourceIp);
        }
        if let Some(name) = spec.http_query_parameter_name {
            if name.is_empty() {
                return Err(self
                    .origin
                    .error(format!("{at}.httpQueryParameterName"), "must not be empty"));
            }
            keys.push(HashKey::QueryParameter(name));
        }
        if keys.len() != 1 {
            return Err(self.origin.error(
                at,
                "exactly one of httpHeaderName, httpCookie, useSourceIp and httpQueryParameterName must be set",
            ));
        }
        let size = |value: Option<i64>, field: &str| -> Result<Option<u64>, ResourceError> {
            value
                .map(|value| {
                    u64::try_from(value)
                        .map_err(|_| self.origin.error(format!("{at}.{field}"), "must be >= 0"))
                })
                .transpose()
        };
        let algorithm = match (spec.ring_hash, spec.maglev) {
            (Some(_), Some(_)) => {
                return Err(self
                    .origin
                    .error(at, "only one of ringHash and maglev may be set"))
            }
            (None, Some(maglev)) => HashAlgorithm::Maglev {
                table_size: size(maglev.table_size, "maglev.tableSize")?.filter(|size| *size != 0),
            },
            (Some(ring), None) => HashAlgorithm::RingHash {
                minimum_ring_size: size(ring.minimum_ring_size, "ringHash.minimumRingSize")?
                    .filter(|size| *size != 0)
                    .unwrap_or(1024),
            },
            // Envoy's default ring, as pilot writes it.
            (None, None) => HashAlgorithm::RingHash {
                minimum_ring_size: size(spec.minimum_ring_size, "minimumRingSize")?
                    .filter(|size| *size != 0)
                    .unwrap_or(1024),
            },
        };
        let key = keys.remove(0);
        Ok(ConsistentHash { key, algorithm })
    }

    fn outlier_detection(
        &self,
        spec: OutlierDetectionSpec,
        at: &str,
        not_applied: &mut Vec<String>,
    ) -> Result<OutlierDetection, ResourceError> {
        if spec.consecutive_errors.is_some() {
            not_applied.push(format!(
                "{at}.consecutiveErrors is deprecated and no longer applied by pilot: use consecutive5xxErrors or consecutiveGatewayErrors"
            ));
        }
        if spec.split_external_local_origin_errors.is_some() {
            not_applied.push(format!(
                "{at}.splitExternalLocalOriginErrors is not applied by the local gateway"
            ));
        }
        if spec.consecutive_local_origin_failures.is_some() {
            // Istio's validation: the count means something only with the split.
            if spec.split_external_local_origin_errors != Some(Value::Bool(true)) {
                return Err(self.origin.error(
                    format!("{at}.consecutiveLocalOriginFailures"),
                    "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
                ));
            }
            not_applied.push(format!(
                "{at}.consecutiveLocalOriginFailures is not applied by the local gateway"
            ));
        }
        let f = |field: &str| format!("{at}.{field}");
        let percent = |value: Option<i64>, field: &str| -> Result<u32, ResourceError> {
            let value = value.unwrap_or(0);
            u32::try_from(value)
                .ok()
                .filter(|value| *value <= 100)
                .ok_or_else(|| self.origin.error(f(field), "must be in range [0, 100]"))
        };
        let ms = Duration::from_millis(1);
        Ok(OutlierDetection {
            consecutive_5xx_errors: self
                .count(spec.consecutive_5xx_errors, f("consecutive5xxErrors"))?,
            consecutive_gateway_errors: self.count(
                spec.consecutive_gateway_errors,
                f("consecutiveGatewayErrors"),
            )?,
            interval: self.duration(spec.interval, f("interval"), ms)?,
            base_ejection_time: self.duration(
                spec.base_ejection_time,
                f("baseEjectionTime"),
                ms,
            )?,
            max_ejection_percent: percent(spec.max_ejection_percent, "maxEjectionPercent")?,
            min_health_percent: percent(spec.min_health_percent, "minHealthPercent")?,
        })
    }

    fn tls(&self, spec: TlsSpec, at: &str) -> Result<Tls, ResourceError> {
        let f = |field: &str| format!("{at}.{field}");
        let file = |value: Option<String>, field: &str| self.origin.file_at(value, f(field));
        let mode = spec.mode.as_deref().unwrap_or("DISABLE");
        let credential = spec.credential_name.filter(|name| !name.is_empty());
        let with_files = [
            &spec.client_certificate,
            &spec.private_key,
            &spec.ca_certificates,
        ]
        .iter()
        .any(|field| field.as_ref().is_some_and(|value| !value.is_empty()));
        // Istio's validation: the certificates come from the Secret or from files, not both.
        if credential.is_some() && with_files && matches!(mode, "SIMPLE" | "MUTUAL") {
            return Err(self.origin.error(
                f("credentialName"),
                "cannot be set with clientCertificate, privateKey or caCertificates",
            ));
        }
        if spec.ca_crl.is_some() {
            return Err(self.origin.error(
                f("caCrl"),
                "certificate revocation lists are not applied by the local gateway",
            ));
        }
        match mode {
            "DISABLE" => Ok(Tls::Disable),
            "ISTIO_MUTUAL" => Ok(Tls::IstioMutual),
            "SIMPLE" | "MUTUAL" => {
                let mutual = mode == "MUTUAL";
                let client = if mutual && credential.is_none() {
                    let certificate = file(spec.client_certificate, "clientCertificate")?
                        .ok_or_else(|| {
                            self.origin
                                .error(f("clientCertificate"), "required for MUTUAL")
                        })?;
                    let key = file(spec.private_key, "privateKey")?
                        .ok_or_else(|| self.origin.error(f("privateKey"), "required for MUTUAL"))?;
                    Some((Source::File(certificate), Source::File(key)))
                } else {
                    None
                };
                Ok(Tls::Originate(TlsFiles {
                    mutual,
                    client,
                    ca_certificates: file(spec.ca_certificates, "caCertificates")?
                        .map(Source::File),
                    credential: credential.map(|name| (name, f("credentialName"))),
                    subject_alt_names: spec.subject_alt_names,
                    sni: spec.sni.filter(|sni| !sni.is_empty()),
                    insecure_skip_verify: spec.insecure_skip_verify.unwrap_or(false),
                }))
            }
            other => Err(self.origin.error(
                f("mode"),
                format!("unknown mode {other:?} (DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: PathBuf::from("rules.yaml"),
            document: 1,
            kind: "DestinationRule".into(),
            namespace: "bookinfo".into(),
            name: "reviews".into(),
        }
    }

    fn policy(yaml: &str) -> Result<TrafficPolicy, ResourceError> {
        let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| origin().error("", e))?;
        let spec: TrafficPolicySpec = engine::config::from_value(value, "spec.trafficPolicy")
            .map_err(|e| origin().error(e.path, e.reason))?;
        parse(spec, &origin(), "spec.trafficPolicy")
    }

    #[test]
    fn negative_counts_are_refused_naming_the_field() {
        let error = policy("connectionPool: {http: {http1MaxPendingRequests: -1}}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "rules.yaml: DestinationRule bookinfo/reviews: spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: must be >= 0"
        );
        let error = policy("outlierDetection: {maxEjectionPercent: 101}").unwrap_err();
        assert_eq!(
            error.field,
            "spec.trafficPolicy.outlierDetection.maxEjectionPercent"
        );
        let error = policy("connectionPool: {tcp: {connectTimeout: 10}}").unwrap_err();
        assert!(error.field.contains("connectTimeout"), "{error}");
    }

    #[test]
    fn consistent_hash_needs_exactly_one_key_and_a_cookie_ttl() {
        assert!(policy("loadBalancer: {consistentHash: {}}").is_err());
        let error =
            policy("loadBalancer: {consistentHash: {httpCookie: {name: user}}}").unwrap_err();
        assert_eq!(
            error.field,
            "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl"
        );
        let error = policy("loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}")
            .unwrap_err();
        assert!(error
            .reason
            .contains("only one of simple and consistentHash"));
        let parsed = policy("loadBalancer: {consistentHash: {httpHeaderName: X-User}}").unwrap();
        assert_eq!(
            parsed.top.load_balancer,
            Some(LoadBalancer::ConsistentHash(ConsistentHash {
                key: HashKey::Header("x-user".into()),
                algorithm: HashAlgorithm::RingHash {
                    minimum_ring_size: 1024
                },
            }))
        );
    }

    #[test]
    fn locality_and_istio_mutual_are_read_and_reported() {
        let parsed = policy(
            "loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: true}}\ntls: {mode: ISTIO_MUTUAL}",
        )
        .unwrap();
        assert_eq!(parsed.top.load_balancer, Some(LoadBalancer::RoundRobin));
        assert_eq!(parsed.top.tls, Some(Tls::IstioMutual));
        assert!(parsed.not_applied[0].contains("localityLbSetting"));
        let error = policy("tls: {mode: MUTUAL}").unwrap_err();
        assert_eq!(error.field, "spec.trafficPolicy.tls.clientCertificate");
    }

    #[test]
    fn local_origin_failures_need_the_split_as_istio_says_and_are_reported() {
        let error = policy("outlierDetection: {consecutiveLocalOriginFailures: 3}").unwrap_err();
        assert_eq!(
            error.field,
            "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures"
        );
        assert!(error
            .reason
            .contains("split external local origin errors is set to false"));
        let parsed = policy(
            "outlierDetection: {consecutiveLocalOriginFailures: 3, splitExternalLocalOriginErrors: true}",
        )
        .unwrap();
        assert!(parsed
            .not_applied
            .iter()
            .any(|note| note.contains("consecutiveLocalOriginFailures is not applied")));
    }

    #[test]
    fn port_level_settings_replace_whole_levels_and_subsets_override_components() {
        let rule = policy(
            "loadBalancer: {simple: RANDOM}\n\
             connectionPool: {tcp: {maxConnections: 5}}\n\
             portLevelSettings:\n\
             - port: {number: 9443}\n  outlierDetection: {consecutive5xxErrors: 2}",
        )
        .unwrap();
        // The top level on other ports.
        let on_9080 = for_port(Some(&rule), None, 9080);
        assert_eq!(on_9080.load_balancer, Some(LoadBalancer::Random));
        assert_eq!(on_9080.connection_pool.unwrap().max_connections, Some(5));
        // The port's own settings, nothing inherited.
        let on_9443 = for_port(Some(&rule), None, 9443);
        assert_eq!(on_9443.load_balancer, None);
        assert_eq!(on_9443.connection_pool, None);
        assert_eq!(
            on_9443.outlier_detection.unwrap().consecutive_5xx_errors,
            Some(2)
        );
        // A subset's component replaces the rule's whole component; the others are the rule's.
        let subset = policy("connectionPool: {http: {maxRetries: 1}}").unwrap();
        let merged = for_port(Some(&rule), Some(&subset), 9080);
        let pool = merged.connection_pool.unwrap();
        assert_eq!((pool.max_connections, pool.max_retries), (None, Some(1)));
        assert_eq!(merged.load_balancer, Some(LoadBalancer::Random));
        // A subset's port-level settings replace all four components.
        let subset =
            policy("portLevelSettings: [{port: {number: 9080}, tls: {mode: DISABLE}}]").unwrap();
        let merged = for_port(Some(&rule), Some(&subset), 9080);
        assert_eq!(merged.load_balancer, None);
        assert_eq!(merged.tls, Some(Tls::Disable));
    }
}

//! `ServiceEntry` (networking.istio.io): the gateway's service registry. `STATIC` endpoints are
//! IP addresses; `DNS` and `DNS_ROUND_ROBIN` endpoints are names (or addresses) Envoy resolves,
//! and without endpoints the hosts themselves are resolved, as pilot does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use engine::router::export_to::{check as check_export_to, Exported};

use super::parse_spec;
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub origin: Origin,
    pub hosts: Vec<String>,
    pub ports: Vec<ServicePort>,
    pub endpoints: Vec<Endpoint>,
    pub resolution: Resolution,
    /// `spec.workloadSelector` was set (reported by [`notes`]).
    pub workload_selector: bool,
    /// `spec.exportTo`: the namespaces whose proxies see the service (empty: every one).
    pub export_to: Vec<String>,
}

/// How the endpoints' addresses become connections (`spec.resolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// IP addresses as written: Envoy `STATIC`. Also taken when `resolution` is unset: Istio's
    /// default is NONE, which the local gateway cannot serve, and the registry has always been
    /// read this way.
    Static,
    /// Every address of every endpoint: Envoy `STRICT_DNS`.
    Dns,
    /// The first address of one name, refreshed in the background: Envoy `LOGICAL_DNS`.
    DnsRoundRobin,
    /// The connection's original destination (Envoy `ORIGINAL_DST`): a sidecar's intercepted
    /// traffic, which a local gateway never has; reported, no cluster.
    None,
}

#[derive(Debug, Clone)]
pub struct ServicePort {
    pub number: u16,
    pub name: String,
    /// Upper-cased; `HTTP2` and `GRPC` ports are spoken to over HTTP/2, as Istio does.
    pub protocol: String,
    pub target_port: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    /// An IP address, or (DNS resolutions) a name Envoy resolves.
    pub address: String,
    /// Port name → the endpoint's own port for it.
    pub ports: BTreeMap<String, u16>,
    pub labels: BTreeMap<String, String>,
    /// `weight`: Envoy's `load_balancing_weight`, 1 when unset or 0 (pilot's
    /// `GetLoadBalancingWeight`).
    pub weight: u32,
}

impl ServiceEntry {
    /// Whether the gateway's proxies (in `istio-system`) see the service (`exportTo`).
    pub fn visible_to_gateway(&self) -> bool {
        engine::router::export_to::visible(
            &self.origin.namespace,
            &self.export_to,
            crate::plugins::GATEWAY_NAMESPACE,
        )
    }

    /// The address of `endpoint` for `port`: its own port for the port's name, else the
    /// port's `targetPort`, else the port's number (Istio's order).
    pub fn endpoint_port(endpoint: &Endpoint, port: &ServicePort) -> u16 {
        endpoint
            .ports
            .get(&port.name)
            .copied()
            .or(port.target_port)
            .unwrap_or(port.number)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceEntrySpec {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    ports: Vec<PortSpec>,
    resolution: Option<String>,
    #[serde(default)]
    endpoints: Vec<EndpointSpec>,
    workload_selector: Option<serde_json::Value>,
    #[serde(default)]
    export_to: Vec<String>,
}

/// Why a ServiceEntry makes no cluster, or fewer endpoints than it lists: for the notes.
pub fn notes(entry: &ServiceEntry) -> Vec<String> {
    let at = format!("{}: {}", entry.origin.file.display(), entry.origin);
    let mut notes = Vec::new();
    if !entry.visible_to_gateway() {
        notes.push(format!(
            "{at}: spec.exportTo {:?} does not export it to {}, the gateway pods' namespace: Istio's gateway does not see the service, so it has no cluster (requests routed to it answer 503)",
            entry.export_to,
            crate::plugins::GATEWAY_NAMESPACE
        ));
    }
    if entry.workload_selector {
        notes.push(format!(
            "{at}: spec.workloadSelector selects pods and WorkloadEntries, which the local gateway does not have: its clusters have no endpoints (503 no healthy upstream); list spec.endpoints instead"
        ));
    }
    if entry.resolution == Resolution::None {
        notes.push(format!(
            "{at}: spec.resolution NONE is not served: Istio forwards to the connection's original destination (ORIGINAL_DST), which only a sidecar's intercepted traffic has; no cluster, requests routed to it answer 503"
        ));
    }
    if entry.resolution == Resolution::DnsRoundRobin && entry.endpoints.len() > 1 {
        notes.push(format!(
            "{at}: spec.resolution DNS_ROUND_ROBIN uses one endpoint (Envoy LOGICAL_DNS), as Istio does: the first, {}; the others are left out",
            entry.endpoints[0].address
        ));
    }
    notes
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortSpec {
    number: u32,
    #[serde(default)]
    name: String,
    #[serde(default)]
    protocol: String,
    target_port: Option<u32>,
}

#[derive(Deserialize)]
struct EndpointSpec {
    #[serde(default)]
    address: String,
    #[serde(default)]
    ports: BTreeMap<String, u32>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    weight: u32,
}

pub fn parse(resource: &Resource) -> Result<ServiceEntry, ResourceError> {
    let origin = &resource.origin;
    let spec: ServiceEntrySpec = parse_spec(resource)?;
    if spec.hosts.is_empty() {
        return Err(origin.error("spec.hosts", "at least one host is required"));
    }
    let resolution = match spec.resolution.as_deref() {
        None | Some("STATIC") => Resolution::Static,
        Some("DNS") => Resolution::Dns,
        Some("DNS_ROUND_ROBIN") => Resolution::DnsRoundRobin,
        Some("NONE") => Resolution::None,
        Some(other) => {
            return Err(origin.error(
                "spec.resolution",
                format!("unknown resolution {other:?} (NONE, STATIC, DNS or DNS_ROUND_ROBIN)"),
            ))
        }
    };
    // Istio's validation: endpoints come from the selector or from the list, never both.
    if spec.workload_selector.is_some() && !spec.endpoints.is_empty() {
        return Err(origin.error(
            "spec.workloadSelector",
            "only one of spec.workloadSelector and spec.endpoints may be set",
        ));
    }
    check_export_to(&origin.namespace, &spec.export_to, Exported::ServiceEntry)
        .map_err(|(index, reason)| origin.error(format!("spec.exportTo[{index}]"), reason))?;
    let port_number = |number: u32, field: String| {
        u16::try_from(number)
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| origin.error(field, format!("{number} is not a port number (1-65535)")))
    };
    let mut ports = Vec::new();
    for (index, port) in spec.ports.into_iter().enumerate() {
        let at = format!("spec.ports[{index}]");
        ports.push(ServicePort {
            number: port_number(port.number, format!("{at}.number"))?,
            target_port: port
                .target_port
                .map(|target| port_number(target, format!("{at}.targetPort")))
                .transpose()?,
            name: port.name,
            protocol: port.protocol.to_ascii_uppercase(),
        });
    }
    if ports.is_empty() {
        return Err(origin.error("spec.ports", "at least one port is required"));
    }
    let mut endpoints = Vec::new();
    for (index, endpoint) in spec.endpoints.into_iter().enumerate() {
        let at = format!("spec.endpoints[{index}]");
        let address = endpoint_address(&endpoint.address, resolution)
            .map_err(|reason| origin.error(format!("{at}.address"), reason))?;
        let mut endpoint_ports = BTreeMap::new();
        for (name, number) in endpoint.ports {
            let number = port_number(number, format!("{at}.ports.{name}"))?;
            if !ports.iter().any(|port| port.name == name) {
                return Err(
                    origin.error(format!("{at}.ports.{name}"), "names no port of spec.ports")
                );
            }
            endpoint_ports.insert(name, number);
        }
        endpoints.push(Endpoint {
            address,
            ports: endpoint_ports,
            labels: endpoint.labels,
            weight: endpoint.weight.max(1),
        });
    }
    Ok(ServiceEntry {
        origin: origin.clone(),
        hosts: spec
            .hosts
            .iter()
            .map(|host| host.to_ascii_lowercase())
            .collect(),
        ports,
        endpoints,
        resolution,
        workload_selector: spec.workload_selector.is_some(),
        export_to: spec.export_to,
    })
}

/// An endpoint's address as the resolution allows it: an IP for STATIC and NONE, an IP or a DNS
/// name for the DNS resolutions (Envoy resolves either). Unix sockets are not served locally.
fn endpoint_address(address: &str, resolution: Resolution) -> Result<String, String> {
    if address.parse::<IpAddr>().is_ok() {
        return Ok(address.to_string());
    }
    if address.starts_with("unix://") {
        return Err(format!(
            "{address:?}: Unix domain socket endpoints are not served by the local gateway"
        ));
    }
    match resolution {
        Resolution::Dns | Resolution::DnsRoundRobin if is_dns_name(address) => {
            Ok(address.to_ascii_lowercase())
        }
        Resolution::Dns | Resolution::DnsRoundRobin => Err(format!(
            "{address:?} is neither an IP address nor a DNS name"
        )),
        Resolution::Static | Resolution::None => Err(format!(
            "{address:?} is not an IP address (STATIC resolution; DNS resolves names)"
        )),
    }
}

/// Letters, digits and hyphens in dot-separated labels of at most 63 characters, as RFC 1123.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_resolution() {
        assert_eq!(
            endpoint_address("127.0.0.1", Resolution::Static).as_deref(),
            Ok("127.0.0.1")
        );
        assert!(endpoint_address("localhost", Resolution::Static)
            .unwrap_err()
            .contains("is not an IP address"));
        assert_eq!(
            endpoint_address("LocalHost", Resolution::Dns).as_deref(),
            Ok("localhost")
        );
        assert_eq!(
            endpoint_address("api.example.com", Resolution::DnsRoundRobin).as_deref(),
            Ok("api.example.com")
        );
        assert!(endpoint_address("bad_name", Resolution::Dns).is_err());
        assert!(endpoint_address("unix:///tmp/s", Resolution::Dns).is_err());
    }
}

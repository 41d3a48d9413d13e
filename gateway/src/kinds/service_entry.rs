//! `ServiceEntry` (networking.istio.io) with static endpoints: the gateway's service registry.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::parse_spec;
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub origin: Origin,
    pub hosts: Vec<String>,
    pub ports: Vec<ServicePort>,
    pub endpoints: Vec<Endpoint>,
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
    pub address: IpAddr,
    /// Port name → the endpoint's own port for it.
    pub ports: BTreeMap<String, u16>,
    pub labels: BTreeMap<String, String>,
}

impl ServiceEntry {
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
}

pub fn parse(resource: &Resource) -> Result<ServiceEntry, ResourceError> {
    let origin = &resource.origin;
    let spec: ServiceEntrySpec = parse_spec(resource)?;
    if spec.hosts.is_empty() {
        return Err(origin.error("spec.hosts", "at least one host is required"));
    }
    if spec.workload_selector.is_some() {
        return Err(origin.error(
            "spec.workloadSelector",
            "workload entries are not available to the local gateway: list spec.endpoints",
        ));
    }
    match spec.resolution.as_deref() {
        None | Some("STATIC") => {}
        Some(other) => {
            return Err(origin.error(
                "spec.resolution",
                format!("{other} is not supported by the local gateway: use STATIC with endpoints"),
            ))
        }
    }
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
        let address = endpoint.address.parse::<IpAddr>().map_err(|_| {
            origin.error(
                format!("{at}.address"),
                format!(
                    "{:?} is not an IP address (STATIC resolution)",
                    endpoint.address
                ),
            )
        })?;
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
    })
}

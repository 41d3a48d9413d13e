//! `Gateway` (networking.istio.io): the servers a gateway listens with and the hosts it serves.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parse_spec;
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct Gateway {
    pub origin: Origin,
    /// The labels of the gateway's pods: what a WasmPlugin `selector` is matched against.
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone)]
pub struct Server {
    /// `servers[i]`, for messages.
    pub index: usize,
    pub port: u32,
    /// `HTTP`, `HTTP2`, `HTTPS`, `GRPC`, `TLS`, `TCP`, … upper-cased.
    pub protocol: String,
    /// Without the `namespace/` part.
    pub hosts: Vec<String>,
    pub tls: bool,
}

impl Server {
    /// A plain-text HTTP server, which the local gateway can serve.
    pub fn is_plain_http(&self) -> bool {
        ["HTTP", "HTTP2", "GRPC"].contains(&self.protocol.as_str()) && !self.tls
    }
}

#[derive(Deserialize)]
struct GatewaySpec {
    #[serde(default)]
    selector: BTreeMap<String, String>,
    #[serde(default)]
    servers: Vec<ServerSpec>,
}

#[derive(Deserialize)]
struct ServerSpec {
    port: PortSpec,
    #[serde(default)]
    hosts: Vec<String>,
    tls: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PortSpec {
    number: u32,
    #[serde(default)]
    protocol: String,
}

pub fn parse(resource: &Resource) -> Result<Gateway, ResourceError> {
    let origin = &resource.origin;
    let spec: GatewaySpec = parse_spec(resource)?;
    if spec.servers.is_empty() {
        return Err(origin.error("spec.servers", "at least one server is required"));
    }
    let mut servers = Vec::new();
    for (index, server) in spec.servers.into_iter().enumerate() {
        let at = format!("spec.servers[{index}]");
        if server.port.number == 0 || server.port.number > 65535 {
            return Err(origin.error(
                format!("{at}.port.number"),
                format!("{} is not a port number (1-65535)", server.port.number),
            ));
        }
        if server.hosts.is_empty() {
            return Err(origin.error(format!("{at}.hosts"), "at least one host is required"));
        }
        let mut hosts = Vec::new();
        for (host_index, host) in server.hosts.iter().enumerate() {
            let host = host.rsplit('/').next().unwrap_or(host);
            let valid = host == "*"
                || (!host.is_empty()
                    && !host.strip_prefix("*.").unwrap_or(host).contains('*')
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.*".contains(&b)));
            if !valid {
                return Err(origin.error(
                    format!("{at}.hosts[{host_index}]"),
                    format!("{host:?} is not a host name, `*.` wildcard or `*`"),
                ));
            }
            hosts.push(host.to_ascii_lowercase());
        }
        servers.push(Server {
            index,
            port: server.port.number,
            protocol: server.port.protocol.to_ascii_uppercase(),
            hosts,
            tls: server.tls.is_some_and(|tls| !tls.is_null()),
        });
    }
    Ok(Gateway {
        origin: origin.clone(),
        selector: spec.selector,
        servers,
    })
}

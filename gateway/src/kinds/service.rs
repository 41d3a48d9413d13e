//! Kubernetes `Service` (core `v1`): what users have in a cluster. The gateway takes its ports
//! (host `<name>.<namespace>.svc.cluster.local`), which resolve destinations without a port;
//! its endpoints are pods, which the local gateway does not have.

use serde::Deserialize;

use super::parse_spec;
use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

/// Kubernetes' cluster domain, as Istio's default `domainSuffix`.
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

#[derive(Debug, Clone)]
pub struct Service {
    pub origin: Origin,
    /// `<name>.<namespace>.svc.cluster.local`.
    pub host: String,
    /// `spec.ports[].port`, in order.
    pub ports: Vec<u16>,
}

#[derive(Deserialize)]
struct ServiceSpec {
    #[serde(default)]
    ports: Vec<PortSpec>,
}

#[derive(Deserialize)]
struct PortSpec {
    port: u32,
}

pub fn parse(resource: &Resource) -> Result<Service, ResourceError> {
    let origin = &resource.origin;
    let spec: ServiceSpec = parse_spec(resource)?;
    let mut ports = Vec::new();
    for (index, port) in spec.ports.iter().enumerate() {
        let number = u16::try_from(port.port)
            .ok()
            .filter(|number| *number != 0)
            .ok_or_else(|| {
                origin.error(
                    format!("spec.ports[{index}].port"),
                    format!("{} is not a port number (1-65535)", port.port),
                )
            })?;
        ports.push(number);
    }
    Ok(Service {
        origin: origin.clone(),
        host: format!(
            "{}.{}.{CLUSTER_DOMAIN}",
            origin.name.to_ascii_lowercase(),
            origin.namespace.to_ascii_lowercase()
        ),
        ports,
    })
}

//! The Envoy cluster a VirtualService destination names (Istio's `outbound|port|subset|host`),
//! with its port resolved through `servicePorts`.

use crate::error::FieldPath;
use crate::virtual_service::{Destination, NamedVirtualService, RouterConfig};
use crate::ConfigError;

use super::cluster::{cluster_name, fully_qualified_host};
use super::service_ports::{Resolution, ServicePorts};

/// The destination's cluster, and why no service has it when the registry does not know it.
pub(super) fn destination_cluster(
    destination: &Destination,
    virtual_service: &NamedVirtualService,
    config: &RouterConfig,
    service_ports: &ServicePorts,
    path: &FieldPath,
) -> Result<(String, Option<String>), ConfigError> {
    if destination.host.is_empty() {
        return Err(path.field("host").error("empty domain name not allowed"));
    }
    let port = destination
        .port
        .map(|port| path.field("port").field("number").port(port.number))
        .transpose()?;
    let fqdn = fully_qualified_host(
        &destination.host,
        &virtual_service.namespace,
        &config.domain_suffix,
    );
    let (port, unknown) = match service_ports.resolve(&fqdn, port, config.default_port, path)? {
        Resolution::Known(port) => (port, None),
        Resolution::Unknown { port, reason } => (port, Some(reason)),
    };
    Ok((
        cluster_name(port, destination.subset.as_deref(), &fqdn),
        unknown,
    ))
}

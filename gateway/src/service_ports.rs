//! The router's `servicePorts` from the registry the gateway is given: the ports of every
//! ServiceEntry host and Kubernetes Service, so destinations without a port resolve as in
//! Istio (the service's only port). Kubernetes Services have no endpoints here (pods): they
//! stand in the registry as ServiceEntries without endpoints, whose clusters answer 503
//! `no healthy upstream`, as Istio's do for a service without ready pods.

use std::collections::BTreeMap;

use crate::kinds::service::Service;
use crate::kinds::service_entry::{ServiceEntry, ServicePort};

/// Fully-qualified host → its ports, ascending; ServiceEntry hosts without a dot (which the
/// router cannot tell from a short name) are left out with a note.
pub fn collect(
    service_entries: &[ServiceEntry],
    services: &[Service],
    notes: &mut Vec<String>,
) -> BTreeMap<String, Vec<u16>> {
    let mut ports: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for entry in service_entries {
        for host in &entry.hosts {
            if !host.contains('.') {
                notes.push(format!(
                    "{}: {}: host {host:?} is not fully qualified; destinations naming it keep their own port",
                    entry.origin.file.display(),
                    entry.origin
                ));
                continue;
            }
            ports
                .entry(host.clone())
                .or_default()
                .extend(entry.ports.iter().map(|port| port.number));
        }
    }
    for service in services {
        ports
            .entry(service.host.clone())
            .or_default()
            .extend(&service.ports);
    }
    ports.retain(|_, numbers| {
        numbers.sort_unstable();
        numbers.dedup();
        !numbers.is_empty()
    });
    ports
}

/// The Kubernetes Services no ServiceEntry has a host of, as ServiceEntries without endpoints,
/// each with a note that it cannot be reached locally.
pub fn services_without_endpoints(
    service_entries: &[ServiceEntry],
    services: &[Service],
    notes: &mut Vec<String>,
) -> Vec<ServiceEntry> {
    services
        .iter()
        .filter(|service| {
            !service_entries
                .iter()
                .any(|entry| entry.hosts.contains(&service.host))
        })
        .map(|service| {
            notes.push(format!(
                "{}: {}: its endpoints are pods, which the local gateway does not have: requests to {} get 503 (no healthy upstream); a ServiceEntry with endpoints for that host routes them",
                service.origin.file.display(),
                service.origin,
                service.host
            ));
            ServiceEntry {
                origin: service.origin.clone(),
                hosts: vec![service.host.clone()],
                ports: service
                    .ports
                    .iter()
                    .map(|number| ServicePort {
                        number: *number,
                        name: String::new(),
                        protocol: String::new(),
                        target_port: None,
                    })
                    .collect(),
                endpoints: Vec::new(),
                resolution: crate::kinds::service_entry::Resolution::Static,
                workload_selector: false,
                // Istio reads a Service's visibility from its `networking.istio.io/exportTo`
                // annotation; without it, every namespace sees the Service.
                export_to: Vec::new(),
            }
        })
        .collect()
}

//! Envoy clusters from the service registry: one per ServiceEntry host and port
//! (`outbound|<port>||<host>`, every endpoint) and one per DestinationRule subset of that host
//! (`outbound|<port>|<subset>|<host>`, the endpoints whose labels include the subset's), as
//! Istio names and fills them. All STATIC and round robin.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use envoy_runner::Cluster;

use crate::kinds::destination_rule::{DestinationRule, Subset};
use crate::kinds::service_entry::{Endpoint, ServiceEntry, ServicePort};

pub fn build(
    service_entries: &[ServiceEntry],
    destination_rules: &[DestinationRule],
    notes: &mut Vec<String>,
) -> Vec<Cluster> {
    let mut clusters = Vec::new();
    let mut names = BTreeSet::new();
    for entry in service_entries {
        for host in &entry.hosts {
            let mut subsets: Vec<&Subset> = Vec::new();
            for rule in destination_rules.iter().filter(|rule| &rule.host == host) {
                for subset in &rule.subsets {
                    if subsets.iter().any(|known| known.name == subset.name) {
                        notes.push(format!(
                            "{}: {}: subset {:?} of {host} is already defined by an earlier DestinationRule; this one is ignored",
                            rule.origin.file.display(),
                            rule.origin,
                            subset.name
                        ));
                    } else {
                        subsets.push(subset);
                    }
                }
            }
            for port in &entry.ports {
                let subset_names = std::iter::once(None).chain(subsets.iter().map(|s| Some(*s)));
                for subset in subset_names {
                    let name = engine::router::cluster_name(
                        port.number,
                        subset.map(|subset| subset.name.as_str()),
                        host,
                    );
                    if !names.insert(name.clone()) {
                        notes.push(format!(
                            "{}: {}: cluster {name} is already defined by an earlier ServiceEntry; this one is ignored",
                            entry.origin.file.display(),
                            entry.origin
                        ));
                        continue;
                    }
                    let endpoints = entry
                        .endpoints
                        .iter()
                        .filter(|endpoint| subset.is_none_or(|subset| selects(subset, endpoint)));
                    clusters.push(cluster(&name, port, endpoints));
                }
            }
        }
    }
    for rule in destination_rules {
        if !service_entries
            .iter()
            .any(|entry| entry.hosts.contains(&rule.host))
        {
            notes.push(format!(
                "{}: {}: no ServiceEntry has the host {}; the rule's subsets make no cluster",
                rule.origin.file.display(),
                rule.origin,
                rule.host
            ));
        }
        if rule.has_traffic_policy {
            notes.push(format!(
                "{}: {}: trafficPolicy is not applied by the local gateway",
                rule.origin.file.display(),
                rule.origin
            ));
        }
    }
    clusters
}

fn selects(subset: &Subset, endpoint: &Endpoint) -> bool {
    subset
        .labels
        .iter()
        .all(|(key, value)| endpoint.labels.get(key) == Some(value))
}

fn cluster<'a>(
    name: &str,
    port: &ServicePort,
    endpoints: impl Iterator<Item = &'a Endpoint>,
) -> Cluster {
    let addresses = endpoints.map(|endpoint| {
        SocketAddr::new(
            endpoint.address,
            ServiceEntry::endpoint_port(endpoint, port),
        )
    });
    let mut cluster = Cluster::new(name, addresses);
    if ["HTTP2", "GRPC", "GRPC-WEB"].contains(&port.protocol.as_str()) {
        cluster = cluster.http2();
    }
    cluster
}

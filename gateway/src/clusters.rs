//! Envoy clusters from the service registry: one per ServiceEntry host and port
//! (`outbound|<port>||<host>`, every endpoint) and one per DestinationRule subset of that host
//! (`outbound|<port>|<subset>|<host>`, the endpoints whose labels include the subset's), as
//! Istio names and fills them: STATIC, or STRICT_DNS/LOGICAL_DNS for the DNS resolutions, each
//! with its DestinationRule's merged traffic policy ([`crate::cluster_policy`]).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use envoy_runner::{Cluster, DnsEndpoints};
use serde_json::{json, Value};

use crate::cluster_policy;
use crate::kinds::destination_rule::{DestinationRule, Subset};
use crate::kinds::service_entry::{self, Endpoint, Resolution, ServiceEntry, ServicePort};
use crate::kinds::traffic_policy::{self, LoadBalancer};

/// The clusters, and the route's hash policy: every consistent-hash key of every cluster.
pub struct Built {
    pub clusters: Vec<Cluster>,
    pub hash_policy: Vec<Value>,
}

pub fn build(
    service_entries: &[ServiceEntry],
    destination_rules: &[DestinationRule],
    notes: &mut Vec<String>,
) -> Built {
    let mut clusters = Vec::new();
    let mut hash_keys = Vec::new();
    let mut names = BTreeSet::new();
    for entry in service_entries {
        notes.extend(service_entry::notes(entry));
        if entry.resolution == Resolution::None {
            continue;
        }
        for host in &entry.hosts {
            // The first rule for the host applies, as pilot takes the oldest one.
            let rule = destination_rules.iter().find(|rule| &rule.host == host);
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
                    let endpoints: Vec<&Endpoint> = entry
                        .endpoints
                        .iter()
                        .filter(|endpoint| subset.is_none_or(|subset| selects(subset, endpoint)))
                        .collect();
                    let components = traffic_policy::for_port(
                        rule.and_then(|rule| rule.traffic_policy.as_ref()),
                        subset.and_then(|subset| subset.traffic_policy.as_ref()),
                        port.number,
                    );
                    if let Some(LoadBalancer::ConsistentHash(hash)) = &components.load_balancer {
                        if !hash_keys.contains(&hash.key) {
                            hash_keys.push(hash.key.clone());
                        }
                    }
                    let settings = cluster_policy::settings(&components, is_http2(port));
                    if let Some(rule) = rule {
                        for note in &settings.notes {
                            notes.push(format!(
                                "{}: {}: cluster {name}: {note}",
                                rule.origin.file.display(),
                                rule.origin
                            ));
                        }
                    }
                    clusters.push(cluster(&name, entry, host, port, &endpoints, settings));
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
        let policies = rule.traffic_policy.iter().chain(
            rule.subsets
                .iter()
                .filter_map(|s| s.traffic_policy.as_ref()),
        );
        for policy in policies {
            for reason in &policy.not_applied {
                notes.push(format!(
                    "{}: {}: {reason}",
                    rule.origin.file.display(),
                    rule.origin
                ));
            }
        }
    }
    if hash_keys.len() > 1 {
        notes.push(format!(
            "{} consistent-hash keys: the router's one route hashes on all of them together (Envoy takes one hash policy per route, whichever cluster it picks), so a cluster hashes on the combination",
            hash_keys.len()
        ));
    }
    Built {
        clusters,
        hash_policy: hash_keys.iter().map(cluster_policy::hash_policy).collect(),
    }
}

fn is_http2(port: &ServicePort) -> bool {
    ["HTTP2", "GRPC", "GRPC-WEB"].contains(&port.protocol.as_str())
}

fn selects(subset: &Subset, endpoint: &Endpoint) -> bool {
    subset
        .labels
        .iter()
        .all(|(key, value)| endpoint.labels.get(key) == Some(value))
}

fn cluster(
    name: &str,
    entry: &ServiceEntry,
    host: &str,
    port: &ServicePort,
    endpoints: &[&Endpoint],
    settings: cluster_policy::ClusterSettings,
) -> Cluster {
    let mut cluster = match entry.resolution {
        Resolution::Static | Resolution::None => {
            let addresses = endpoints.iter().filter_map(|endpoint| {
                let ip: IpAddr = endpoint.address.parse().ok()?;
                Some(SocketAddr::new(
                    ip,
                    ServiceEntry::endpoint_port(endpoint, port),
                ))
            });
            Cluster::new(name, addresses)
        }
        Resolution::Dns | Resolution::DnsRoundRobin => {
            let logical = entry.resolution == Resolution::DnsRoundRobin;
            // Without endpoints pilot resolves the host itself, on the port's number.
            let mut names: Vec<(String, u16)> = if entry.endpoints.is_empty() {
                vec![(host.to_string(), port.target_port.unwrap_or(port.number))]
            } else {
                endpoints
                    .iter()
                    .map(|e| (e.address.clone(), ServiceEntry::endpoint_port(e, port)))
                    .collect()
            };
            // LOGICAL_DNS takes exactly one endpoint (pilot keeps the first).
            if logical {
                names.truncate(1);
            }
            // Pilot's DNS refresh: the mesh's 60 s, or the record's TTL.
            Cluster::new(name, [])
                .dns(DnsEndpoints {
                    logical,
                    endpoints: names,
                })
                .extra(json!({ "dns_refresh_rate": "60s", "respect_dns_ttl": true }))
        }
    };
    if is_http2(port) || settings.http2_upgrade {
        cluster = cluster.http2();
    }
    cluster
        .connect_timeout(settings.connect_timeout)
        .extra(settings.patch)
}

//! Envoy clusters from the service registry: one per ServiceEntry host and port
//! (`outbound|<port>||<host>`, every endpoint) and one per DestinationRule subset of that host
//! (`outbound|<port>|<subset>|<host>`, the endpoints whose labels include the subset's), as
//! Istio names and fills them: STATIC, or STRICT_DNS/LOGICAL_DNS for the DNS resolutions, each
//! with its DestinationRule's merged traffic policy ([`crate::cluster_policy`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use envoy_runner::{Cluster, DnsEndpoints};
use serde_json::{json, Value};

use crate::cluster_policy;
use crate::kinds::destination_rule::{DestinationRule, Subset};
use crate::kinds::service_entry::{self, Endpoint, Resolution, ServiceEntry, ServicePort};
use crate::kinds::traffic_policy::{self, LoadBalancer};
use crate::labels;

/// The clusters, and the route's hash policy: every consistent-hash key of every cluster.
pub struct Built {
    pub clusters: Vec<Cluster>,
    pub hash_policy: Vec<Value>,
}

pub fn build(
    service_entries: &[ServiceEntry],
    destination_rules: &[DestinationRule],
    pod_labels: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Built {
    // Istio's gateway sees only what is exported to its namespace (and, for a rule with a
    // workload selector, selects its pods); the rest does not exist for it.
    let mut applied: Vec<&DestinationRule> = Vec::new();
    for rule in destination_rules {
        match rule.applies_to_gateway(pod_labels) {
            Ok(()) => applied.push(rule),
            Err(reason) => notes.push(format!(
                "{}: {}: not applied: {reason}",
                rule.origin.file.display(),
                rule.origin
            )),
        }
    }
    let destination_rules = applied;
    let mut clusters = Vec::new();
    let mut hash_keys = Vec::new();
    let mut names = BTreeSet::new();
    for entry in service_entries {
        notes.extend(service_entry::notes(entry));
        if entry.resolution == Resolution::None || !entry.visible_to_gateway() {
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
                        .filter(|endpoint| {
                            subset.is_none_or(|subset| {
                                labels::selects(&subset.labels, &endpoint.labels)
                            })
                        })
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
            let (addresses, weights): (Vec<SocketAddr>, Vec<u32>) = endpoints
                .iter()
                .filter_map(|endpoint| {
                    let ip: IpAddr = endpoint.address.parse().ok()?;
                    let address = SocketAddr::new(ip, ServiceEntry::endpoint_port(endpoint, port));
                    Some((address, endpoint.weight))
                })
                .unzip();
            Cluster::new(name, addresses).weights(weights)
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
            let mut weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
            // LOGICAL_DNS takes exactly one endpoint (pilot keeps the first).
            if logical {
                names.truncate(1);
                weights.truncate(1);
            }
            // Pilot's DNS refresh: the mesh's 60 s, or the record's TTL.
            Cluster::new(name, [])
                .weights(weights)
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::error::Origin;
    use crate::kinds::{destination_rule, service_entry};
    use crate::resources::Resource;

    fn resource(kind: &str, namespace: &str, spec: &str) -> Resource {
        Resource {
            origin: Origin {
                file: PathBuf::from("config.yaml"),
                document: 1,
                kind: kind.into(),
                namespace: namespace.into(),
                name: "r".into(),
            },
            value: serde_json::json!({ "spec": serde_yaml_ng::from_str::<Value>(spec).unwrap() }),
        }
    }

    fn entry(namespace: &str, extra: &str) -> ServiceEntry {
        let spec = format!(
            "{{hosts: [api.example.com], ports: [{{number: 80, name: http, protocol: HTTP}}], \
             resolution: STATIC, endpoints: [{{address: 127.0.0.1, weight: 3, labels: {{v: a}}}}, \
             {{address: 127.0.0.2, labels: {{v: b}}}}]{extra}}}"
        );
        service_entry::parse(&resource("ServiceEntry", namespace, &spec)).unwrap()
    }

    fn rule(namespace: &str, extra: &str) -> DestinationRule {
        let spec =
            format!("{{host: api.example.com, subsets: [{{name: a, labels: {{v: a}}}}]{extra}}}");
        destination_rule::parse(&resource("DestinationRule", namespace, &spec)).unwrap()
    }

    fn names(built: &Built) -> Vec<&str> {
        built.clusters.iter().map(|c| c.name.as_str()).collect()
    }

    fn gateway_pods() -> BTreeMap<String, String> {
        BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())])
    }

    #[test]
    fn endpoint_weights_are_load_balancing_weights_one_when_unset() {
        let mut notes = Vec::new();
        let built = build(&[entry("shop", "")], &[], &gateway_pods(), &mut notes);
        assert_eq!(built.clusters[0].weights, vec![3, 1]);
    }

    #[test]
    fn a_service_not_exported_to_the_gateway_namespace_has_no_cluster() {
        let mut notes = Vec::new();
        let hidden = entry("shop", ", exportTo: ['.']");
        let built = build(&[hidden], &[], &gateway_pods(), &mut notes);
        assert!(built.clusters.is_empty());
        assert!(
            notes
                .iter()
                .any(|note| note.contains("does not export it to istio-system")),
            "{notes:?}"
        );
        for export_to in ["", ", exportTo: ['*']", ", exportTo: [istio-system]"] {
            let built = build(
                &[entry("shop", export_to)],
                &[],
                &gateway_pods(),
                &mut notes,
            );
            assert_eq!(names(&built), ["outbound|80||api.example.com"]);
        }
        let own = entry("istio-system", ", exportTo: ['.']");
        assert_eq!(
            build(&[own], &[], &gateway_pods(), &mut notes)
                .clusters
                .len(),
            1
        );
    }

    #[test]
    fn rules_hidden_from_the_gateway_or_selecting_other_workloads_are_not_applied() {
        let applied = |rule: DestinationRule| {
            let mut notes = Vec::new();
            let built = build(&[entry("shop", "")], &[rule], &gateway_pods(), &mut notes);
            (names(&built).len() == 2, notes)
        };
        assert!(applied(rule("shop", "")).0);
        let (used, notes) = applied(rule("shop", ", exportTo: ['.']"));
        assert!(!used);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("not applied: spec.exportTo")),
            "{notes:?}"
        );
        let selector = ", workloadSelector: {matchLabels: {istio: ingressgateway}}";
        assert!(applied(rule("istio-system", selector)).0);
        let (used, notes) = applied(rule("shop", selector));
        assert!(!used);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("selects workloads of shop")),
            "{notes:?}"
        );
        let other = ", workloadSelector: {matchLabels: {app: reviews}}";
        assert!(!applied(rule("istio-system", other)).0);
    }

    #[test]
    fn export_to_is_checked_as_istio_checks_it() {
        let refused = service_entry::parse(&resource(
            "ServiceEntry",
            "shop",
            "{hosts: [a.example.com], ports: [{number: 80, name: http}], exportTo: ['~', '*']}",
        ))
        .unwrap_err();
        assert_eq!(refused.field, "spec.exportTo[0]");
        assert!(
            refused.to_string().contains("cannot have both public"),
            "{refused}"
        );
        let refused = destination_rule::parse(&resource(
            "DestinationRule",
            "shop",
            "{host: a.example.com, exportTo: ['~']}",
        ))
        .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("exportTo ~ (none) is not allowed"),
            "{refused}"
        );
    }
}

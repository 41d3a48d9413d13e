//! Route destinations against the registry: a host no ServiceEntry or Service has, and a
//! subset no DestinationRule for the host defines (Istio's IST0101 for both).

use engine::router::fully_qualified_host;
use engine::virtual_service::default_domain_suffix;
use serde_json::Value;

use super::gateways::array;
use super::hosts;
use crate::finding::{Finding, Level};
use crate::kinds::virtual_service::VirtualService;
use crate::plan::Resources;

/// Every destination of `vs` (`route`, `mirror`, `mirrors` of http; tcp and tls routes),
/// with its field path.
fn destinations(vs: &VirtualService) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for kind in ["http", "tcp", "tls"] {
        for (index, rule) in array(&vs.spec, kind).iter().enumerate() {
            let at = format!("spec.{kind}[{index}]");
            for (route, weighted) in array(rule, "route").iter().enumerate() {
                if let Some(destination) = weighted.get("destination") {
                    found.push((format!("{at}.route[{route}].destination"), destination));
                }
            }
            if let Some(mirror) = rule.get("mirror").filter(|mirror| !mirror.is_null()) {
                found.push((format!("{at}.mirror"), mirror));
            }
            for (mirror, policy) in array(rule, "mirrors").iter().enumerate() {
                if let Some(destination) = policy.get("destination") {
                    found.push((format!("{at}.mirrors[{mirror}].destination"), destination));
                }
            }
        }
    }
    found
}

pub(super) fn analyze(resources: &Resources, findings: &mut Vec<Finding>) {
    let suffix = default_domain_suffix();
    let registry: Vec<&str> = resources
        .service_entries
        .iter()
        .flat_map(|entry| entry.hosts.iter().map(String::as_str))
        .chain(
            resources
                .services
                .iter()
                .map(|service| service.host.as_str()),
        )
        .collect();
    for vs in &resources.virtual_services {
        for (field, destination) in destinations(vs) {
            let Some(host) = destination.get("host").and_then(Value::as_str) else {
                continue;
            };
            let fqdn =
                fully_qualified_host(&host.to_ascii_lowercase(), &vs.origin.namespace, &suffix);
            if !registry.iter().any(|known| hosts::covers(known, &fqdn)) {
                findings.push(Finding::new(
                    Level::Error,
                    Some("IST0101"),
                    vs.origin.error(
                        format!("{field}.host"),
                        format!(
                            "Referenced host not found: {host:?} (no ServiceEntry or Service has {fqdn})"
                        ),
                    ),
                ));
                continue;
            }
            let Some(subset) = destination.get("subset").and_then(Value::as_str) else {
                continue;
            };
            let defined = resources.destination_rules.iter().any(|rule| {
                rule.host == fqdn && rule.subsets.iter().any(|known| known.name == subset)
            });
            if !defined {
                findings.push(Finding::new(
                    Level::Error,
                    Some("IST0101"),
                    vs.origin.error(
                        format!("{field}.subset"),
                        format!(
                            "Referenced host+subset in destinationrule not found: \"{host}+{subset}\" (subset {subset:?} is not defined by any DestinationRule for {fqdn})"
                        ),
                    ),
                ));
            }
        }
    }
}

//! VirtualServices against the Gateways they bind to: a Gateway that does not exist (Istio's
//! IST0101), VirtualService hosts no server of the Gateway has (IST0132), and Gateway servers
//! no bound VirtualService routes for (every request to them gets 404).

use engine::request_match::qualify_gateway;
use serde_json::Value;

use super::hosts;
use crate::finding::{Finding, Level};
use crate::kinds::gateway::Gateway;
use crate::kinds::virtual_service::VirtualService;
use crate::plan::{Resources, MESH};

/// Each `gateways` entry of `vs` (the spec's and every match block's) with its field path.
fn gateway_refs(vs: &VirtualService) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    let names = |value: Option<&Value>| -> Vec<String> {
        value
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .map(|name| name.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (index, name) in names(vs.spec.get("gateways")).into_iter().enumerate() {
        refs.push((format!("spec.gateways[{index}]"), name));
    }
    for (route, http) in array(&vs.spec, "http").iter().enumerate() {
        for (block, matched) in array(http, "match").iter().enumerate() {
            for (index, name) in names(matched.get("gateways")).into_iter().enumerate() {
                refs.push((
                    format!("spec.http[{route}].match[{block}].gateways[{index}]"),
                    name,
                ));
            }
        }
    }
    refs
}

/// `value[field]` as a list (empty when absent).
pub(super) fn array<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The VirtualService's `hosts`, lowercase.
fn vs_hosts(vs: &VirtualService) -> Vec<String> {
    array(&vs.spec, "hosts")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The Gateways `vs` is bound to by its top-level `gateways`, qualified.
fn bound_gateways(vs: &VirtualService) -> Vec<String> {
    array(&vs.spec, "gateways")
        .iter()
        .filter_map(Value::as_str)
        .map(|name| qualify_gateway(name, &vs.origin.namespace))
        .collect()
}

fn find<'a>(gateways: &'a [Gateway], qualified: &str) -> Option<&'a Gateway> {
    gateways
        .iter()
        .find(|gateway| gateway.origin.qualified_name() == qualified)
}

pub(super) fn analyze(resources: &Resources, findings: &mut Vec<Finding>) {
    for vs in &resources.virtual_services {
        for (field, name) in gateway_refs(vs) {
            let qualified = qualify_gateway(&name, &vs.origin.namespace);
            if qualified != MESH && find(&resources.gateways, &qualified).is_none() {
                findings.push(Finding::new(
                    Level::Error,
                    Some("IST0101"),
                    vs.origin
                        .error(field, format!("Referenced gateway not found: {name:?}")),
                ));
            }
        }
        let hosts = vs_hosts(vs);
        for qualified in bound_gateways(vs) {
            let Some(gateway) = find(&resources.gateways, &qualified) else {
                continue;
            };
            let missing: Vec<&str> = hosts
                .iter()
                .filter(|host| {
                    !gateway
                        .servers
                        .iter()
                        .flat_map(|server| &server.hosts)
                        .any(|server_host| hosts::covers(server_host, host))
                })
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                findings.push(Finding::new(
                    Level::Warning,
                    Some("IST0132"),
                    vs.origin.error(
                        "spec.hosts",
                        format!(
                            "one or more host [{}] defined in VirtualService {} not found in Gateway {qualified}.",
                            missing.join(" "),
                            vs.origin.qualified_name()
                        ),
                    ),
                ));
            }
        }
    }
    for gateway in &resources.gateways {
        let qualified = gateway.origin.qualified_name();
        for server in &gateway.servers {
            let used = resources.virtual_services.iter().any(|vs| {
                bound_gateways(vs).contains(&qualified)
                    && vs_hosts(vs).iter().any(|host| {
                        server
                            .hosts
                            .iter()
                            .any(|server_host| hosts::intersect(server_host, host))
                    })
            });
            if !used {
                findings.push(Finding::new(
                    Level::Warning,
                    None,
                    gateway.origin.error(
                        format!("spec.servers[{}]", server.index),
                        format!(
                            "no VirtualService bound to Gateway {qualified} has a host of this server (port {}, hosts [{}]): it routes nothing, every request to it gets 404",
                            server.port,
                            server.hosts.join(" ")
                        ),
                    ),
                ));
            }
        }
    }
}

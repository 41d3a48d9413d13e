//! `VirtualService` (networking.istio.io): handed to the router module as written, with its
//! name and namespace (the router's long-form config), after the router's own parser has
//! checked it, so a mistake is reported against the resource before Envoy starts.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::{Origin, ResourceError};
use crate::resources::Resource;

#[derive(Debug, Clone)]
pub struct VirtualService {
    pub origin: Origin,
    pub spec: Value,
}

pub fn parse(resource: &Resource) -> VirtualService {
    VirtualService {
        origin: resource.origin.clone(),
        spec: resource.spec(),
    }
}

/// The router's long-form plugin config binding `virtual_services` to `gateway`
/// (`namespace/name`; without a gateway, every VirtualService applies), with the registry's
/// `servicePorts` when it has any service.
pub fn router_config(
    virtual_services: &[VirtualService],
    gateway: Option<&str>,
    service_ports: &BTreeMap<String, Vec<u16>>,
) -> Value {
    let entries: Vec<Value> = virtual_services
        .iter()
        .map(|vs| {
            json!({
                "name": vs.origin.name,
                "namespace": vs.origin.namespace,
                "spec": vs.spec,
            })
        })
        .collect();
    let mut config = json!({ "virtualServices": entries });
    if let Some(gateway) = gateway {
        config["gateway"] = json!(gateway);
    }
    if !service_ports.is_empty() {
        config["servicePorts"] = json!(service_ports);
    }
    config
}

/// Checks `config` with the router's own parser; an error inside `virtualServices[i].spec` is
/// reported against that VirtualService and field. Returns the router's warnings, located the
/// same way.
pub fn check_router_config(
    config: &Value,
    virtual_services: &[VirtualService],
    router: &Origin,
    config_field: &str,
) -> Result<Vec<String>, ResourceError> {
    let bytes = serde_json::to_vec(config).map_err(|error| router.error(config_field, error))?;
    match engine::router::RouteTable::from_json(&bytes) {
        Ok(table) => Ok(table
            .warnings()
            .iter()
            .map(|warning| {
                locate(
                    &warning.path,
                    &warning.reason,
                    virtual_services,
                    router,
                    config_field,
                )
                .to_string()
            })
            .collect()),
        Err(error) => Err(locate(
            &error.path,
            &error.reason,
            virtual_services,
            router,
            config_field,
        )),
    }
}

/// `reason` at `path` of the router config: against the VirtualService when the path is in
/// one, else against the router's config field.
fn locate(
    path: &str,
    reason: &str,
    virtual_services: &[VirtualService],
    router: &Origin,
    config_field: &str,
) -> ResourceError {
    if let Some(rest) = path.strip_prefix("virtualServices[") {
        if let Some((index, field)) = rest.split_once(']') {
            if let Some(vs) = index
                .parse::<usize>()
                .ok()
                .and_then(|i| virtual_services.get(i))
            {
                let field = field.trim_start_matches('.');
                return vs.origin.error(field, reason);
            }
        }
    }
    let field = if path.is_empty() {
        config_field.to_string()
    } else {
        format!("{config_field}.{path}")
    };
    router.error(field, reason)
}

//! `VirtualService` (networking.istio.io): handed to the router module as written, with its
//! name and namespace (the router's long-form config), after the router's own parser has
//! checked it, so a mistake is reported against the resource before Envoy starts.

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
/// (`namespace/name`); without a gateway, every VirtualService applies.
pub fn router_config(virtual_services: &[VirtualService], gateway: Option<&str>) -> Value {
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
    match gateway {
        Some(gateway) => json!({ "virtualServices": entries, "gateway": gateway }),
        None => json!({ "virtualServices": entries }),
    }
}

/// Checks `config` with the router's own parser; an error inside `virtualServices[i].spec` is
/// reported against that VirtualService and field.
pub fn check_router_config(
    config: &Value,
    virtual_services: &[VirtualService],
    router: &Origin,
    config_field: &str,
) -> Result<(), ResourceError> {
    let bytes = serde_json::to_vec(config).map_err(|error| router.error(config_field, error))?;
    let Err(error) = engine::router::RouteTable::from_json(&bytes) else {
        return Ok(());
    };
    if let Some(rest) = error.path.strip_prefix("virtualServices[") {
        if let Some((index, field)) = rest.split_once(']') {
            if let Some(vs) = index
                .parse::<usize>()
                .ok()
                .and_then(|i| virtual_services.get(i))
            {
                let field = field.trim_start_matches('.');
                return Err(vs.origin.error(field, error.reason));
            }
        }
    }
    let field = if error.path.is_empty() {
        config_field.to_string()
    } else {
        format!("{config_field}.{}", error.path)
    };
    Err(router.error(field, error.reason))
}

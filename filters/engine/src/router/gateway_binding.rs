//! Which VirtualServices, and which of their match blocks, apply to the gateway the router
//! serves: Istio's binding by `gateways` and `exportTo`. The compiler and the native-route
//! translation of the test harness use the same rule.

use super::export_to;
use crate::request_match::qualify_gateway;
use crate::virtual_service::NamedVirtualService;

/// Istio binds a VirtualService to the gateways it names (`name` in its own namespace, or
/// `namespace/name`) that can see it (`exportTo`). Without a configured gateway, every
/// VirtualService applies.
pub fn virtual_service_applies(
    virtual_service: &NamedVirtualService,
    gateway: Option<&str>,
) -> bool {
    let Some(gateway) = gateway else {
        return true;
    };
    if let Some((gateway_namespace, _)) = gateway.split_once('/') {
        let export_to = &virtual_service.spec.export_to;
        if !export_to::visible(&virtual_service.namespace, export_to, gateway_namespace) {
            return false;
        }
    }
    // Istio binds a VirtualService without `gateways` to the sidecars: the reserved `mesh`.
    if gateway == MESH && virtual_service.spec.gateways.is_empty() {
        return true;
    }
    virtual_service
        .spec
        .gateways
        .iter()
        .any(|bound| names_gateway(&qualify_gateway(bound, &virtual_service.namespace), gateway))
}

/// Istio's name for the sidecars as a gateway.
pub const MESH: &str = "mesh";

/// A match block's own `gateways` (qualified, `namespace/name`) narrow the VirtualService's;
/// empty means no narrowing.
pub fn block_applies(block_gateways: &[String], gateway: Option<&str>) -> bool {
    match gateway {
        None => true,
        Some(gateway) => {
            block_gateways.is_empty()
                || block_gateways
                    .iter()
                    .any(|bound| names_gateway(bound, gateway))
        }
    }
}

/// Whether the qualified `bound` (`namespace/name`) is the configured `gateway`, which may be
/// given as `namespace/name` or as a bare name.
pub fn names_gateway(bound: &str, gateway: &str) -> bool {
    if gateway.contains('/') {
        bound == gateway
    } else {
        bound.rsplit('/').next() == Some(gateway)
    }
}

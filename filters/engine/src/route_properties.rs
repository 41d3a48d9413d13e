//! The route the router module chose, published to the modules after it through Envoy filter
//! state: the router writes these properties with `set_property`, the metrics module reads them
//! with `get_property`.
//!
//! Envoy stores a property `p` as the filter state object `wasm.p` (a bytes `CelState`, living
//! as long as the filter chain), so access logs can print it too: `%FILTER_STATE(wasm.p)%`.
//! The names must not be one of Envoy's top-level attributes (`route_name`, `cluster_name`…),
//! which `get_property` would answer instead.

/// The route's name (`http[].name`, `.`-joined with the matching block's name, as Istio does).
pub const ROUTE_NAME: &str = "vsrouter.route_name";
/// The VirtualService the route came from, as `namespace/name`.
pub const VIRTUAL_SERVICE: &str = "vsrouter.virtual_service";
/// The Envoy cluster the router chose, `outbound|<port>|<subset>|<fqdn>`.
pub const CLUSTER: &str = "vsrouter.cluster";

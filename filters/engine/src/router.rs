//! VirtualService routing: compiled once from the plugin config, evaluated per request.

mod candidate;
mod cluster;
mod compile;
mod cors;
mod decision;
mod delegate;

mod destination_cluster;
mod destinations;
mod explanation;
pub mod export_to;
pub mod gateway_binding;
mod hosts;
mod mirrors;
mod path_index;
mod redirect;
mod regex_index;
mod rewrite;
mod route;
mod route_headers;
mod route_origin;
mod service_ports;
mod shadow;
mod spec_path;
mod sticky;
mod table;
mod upstream_policy;
mod validation;

pub use cluster::{cluster_name, fully_qualified_host};
pub use decision::{Decision, ForwardTo, LocalResponse};
pub use explanation::{BlockMismatch, Explanation, Passed, Taken};
pub use route::Route;
pub use route_headers::RouteHeaders;
pub use service_ports::UNKNOWN_SERVICE_DETAILS;
pub use shadow::{shadow_authority, DEFAULT_MIRROR_TIMEOUT};
pub use sticky::StickySpec;
pub use table::RouteTable;
pub use upstream_policy::ROUTER_CONTROL_HEADERS;

/// The request header through which the router module tells Envoy's route which cluster to use
/// (`route.cluster_header`). Envoy's route config strips it before the request goes upstream.
pub const CLUSTER_HEADER: &str = "x-route-cluster";

/// The request header (value `custom`) the router module sets on a request whose route has its
/// own `retries`, so that Envoy takes the contract's route without a retry policy and the
/// module's `x-envoy-*` headers alone say it. Without the header Envoy takes the contract's
/// other route, which carries Istio's default retry policy itself: the common route then sends
/// no retry header at all (four header writes, and Envoy parsing them, on every request).
/// Envoy's route config strips it before the request goes upstream.
pub const CUSTOM_RETRIES_HEADER: &str = "x-route-retries";

/// The request header through which the router module rewrites the upstream `Host`
/// (`rewrite.authority`): Envoy's route swaps it in as it forwards (`host_rewrite_header`), as
/// Istio's `host_rewrite_literal` does. Writing `:authority` itself would make Envoy pick the
/// virtual host again by the new name, so a Gateway whose hosts do not list the rewritten name
/// would answer 404. Envoy's route reads it after its own header removals, so the router's
/// upstream filter strips it (`envoy_runner::gateway_defaults::strip_route_authority`).
pub const AUTHORITY_HEADER: &str = "x-route-authority";

/// The headers of the module's contract with Envoy's route configuration, which only the module
/// may set: a client's own are removed before routing.
pub const ROUTE_CONTRACT_HEADERS: [&str; 3] =
    [CLUSTER_HEADER, CUSTOM_RETRIES_HEADER, AUTHORITY_HEADER];

#[cfg(test)]
mod tests;

//! VirtualService routing: compiled once from the plugin config, evaluated per request.

mod cluster;
mod compile;
mod hosts;
mod table;

pub use cluster::{cluster_name, fully_qualified_host};
pub use table::{Decision, Route, RouteTable};

/// The request header through which the router module tells Envoy's route which cluster to use
/// (`route.cluster_header`). Envoy's route config strips it before the request goes upstream.
pub const CLUSTER_HEADER: &str = "x-route-cluster";

#[cfg(test)]
mod tests;

//! Synthetic route tables for the benchmarks: one VirtualService for the router module and the
//! same routes as native Envoy routes, shaped as Istio translates them.
//!
//! Istio turns each `http` entry with one `uri` match into one Envoy route: `prefix` stays
//! `prefix`, `regex` becomes `safe_regex` (RE2, full match), the destination becomes the cluster
//! `outbound|<port>|<subset>|<fqdn>`, and a route without `timeout` gets `timeout: 0s`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use envoy_runner::RouteConfig;

/// How many distinct upstream clusters the routes of a table spread over.
pub const TABLE_CLUSTERS: usize = 8;

/// The destination port every synthetic route names.
const SERVICE_PORT: u16 = 80;

/// Which matcher the routes of a table use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKind {
    /// `uri.prefix` on every route: `/s<i>/`.
    Prefix,
    /// `uri.regex` on every route: `/api/v[0-9]+/s<i>/[a-z]+/[0-9]+`.
    Regex,
}

impl TableKind {
    /// `prefix` or `regex`, for labels and file names.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Prefix => "prefix",
            TableKind::Regex => "regex",
        }
    }
}

/// A table of `routes` routes of one kind, route `i` sending to cluster `i % TABLE_CLUSTERS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticTable {
    pub kind: TableKind,
    pub routes: usize,
}

impl SyntheticTable {
    pub fn new(kind: TableKind, routes: usize) -> Self {
        SyntheticTable { kind, routes }
    }

    /// The router module's config: one bare VirtualService `spec` for every host.
    pub fn virtual_service(&self) -> Value {
        let http: Vec<Value> = (0..self.routes)
            .map(|route| {
                json!({
                    "name": format!("r{route}"),
                    "match": [{"uri": {self.kind.name(): self.uri_pattern(route)}}],
                    "route": [{"destination": {
                        "host": service_host(route),
                        "port": {"number": SERVICE_PORT},
                    }}],
                })
            })
            .collect();
        json!({"hosts": ["*"], "http": http})
    }

    /// The same routes as a native Envoy route configuration, as Istio would push it.
    pub fn native_route_config(&self) -> RouteConfig {
        let path_specifier = |route: usize| match self.kind {
            TableKind::Prefix => json!({"prefix": self.uri_pattern(route)}),
            TableKind::Regex => json!({"safe_regex": {"regex": self.uri_pattern(route)}}),
        };
        let routes: Vec<Value> = (0..self.routes)
            .map(|route| {
                json!({
                    "name": format!("r{route}"),
                    "match": path_specifier(route),
                    "route": {
                        "cluster": route_cluster(route),
                        "timeout": "0s",
                        "retry_policy": envoy_runner::istio_default_retry_policy(),
                    },
                })
            })
            .collect();
        RouteConfig(json!({
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}],
        }))
    }

    /// `count` request paths spread evenly over the table (the first and the last route
    /// included), each with the cluster its route sends it to.
    pub fn sample_requests(&self, count: usize) -> Vec<(String, String)> {
        let count = count.clamp(1, self.routes.max(1));
        let last = self.routes.saturating_sub(1);
        (0..count)
            .map(|sample| match count {
                1 => last,
                _ => sample * last / (count - 1),
            })
            .map(|route| (self.request_path(route), route_cluster(route)))
            .collect()
    }

    /// A path that route `route` matches and no earlier route does.
    pub fn request_path(&self, route: usize) -> String {
        match self.kind {
            TableKind::Prefix => format!("/s{route}/items/42"),
            TableKind::Regex => format!("/api/v2/s{route}/items/42"),
        }
    }

    fn uri_pattern(&self, route: usize) -> String {
        match self.kind {
            TableKind::Prefix => format!("/s{route}/"),
            TableKind::Regex => format!("/api/v[0-9]+/s{route}/[a-z]+/[0-9]+"),
        }
    }
}

/// Every cluster a synthetic table routes to.
pub fn table_clusters() -> Vec<String> {
    (0..TABLE_CLUSTERS).map(route_cluster).collect()
}

/// The short service host of route `route`'s destination.
fn service_host(route: usize) -> String {
    format!("svc{}", route % TABLE_CLUSTERS)
}

/// The cluster Istio names for route `route`'s destination.
fn route_cluster(route: usize) -> String {
    let fqdn = engine::router::fully_qualified_host(
        &service_host(route),
        &engine::virtual_service::default_namespace(),
        &engine::virtual_service::default_domain_suffix(),
    );
    engine::router::cluster_name(SERVICE_PORT, None, &fqdn)
}

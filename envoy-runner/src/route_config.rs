//! A listener's route configuration, and the route contract of the router module: one route
//! that sends a request to the cluster the module names in `x-route-cluster`.

use serde_json::{json, Value};

/// A `config.route.v3.RouteConfiguration` as JSON, with constructors for the
/// shapes the tests use most.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig(pub Value);

impl RouteConfig {
    /// Routes every request to the cluster named by the request header `header`, and
    /// strips that header before the request goes upstream.
    ///
    /// A request without the header matches no route and gets Envoy's own 404
    /// (`route_not_found`). The route timeout is off (`0s`), so slow upstreams are
    /// bounded by the test's client, not by Envoy's default 15 s.
    pub fn cluster_header(header: &str) -> Self {
        RouteConfig(json!({
            "request_headers_to_remove": [header],
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{
                    "match": {
                        "prefix": "/",
                        "headers": [{ "name": header, "present_match": true }],
                    },
                    "route": { "cluster_header": header, "timeout": "0s" },
                }],
            }],
        }))
    }

    /// The route the router module needs: [`RouteConfig::cluster_header`] with
    /// [`engine::router::CLUSTER_HEADER`].
    pub fn for_router() -> Self {
        RouteConfig::cluster_header(engine::router::CLUSTER_HEADER)
    }

    /// Routes every request to `cluster`, with Envoy's default route settings.
    pub fn to_cluster(cluster: &str) -> Self {
        RouteConfig(json!({
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": cluster } }],
            }],
        }))
    }

    /// Answers every request from Envoy itself with `status` and `body`: no upstream.
    pub fn direct_response(status: u16, body: &str) -> Self {
        RouteConfig(json!({
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{
                    "match": { "prefix": "/" },
                    "direct_response": { "status": status, "body": { "inline_string": body } },
                }],
            }],
        }))
    }
}

impl From<Value> for RouteConfig {
    fn from(value: Value) -> Self {
        RouteConfig(value)
    }
}

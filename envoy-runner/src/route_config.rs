//! A listener's route configuration, and the route contract of the router module: routes that
//! send a request to the cluster the module names in `x-route-cluster`, with Istio's default
//! retry policy unless the module marks the request's retries as the route's own.

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

    /// The routes the router module needs ([`router_routes`]), for every host.
    pub fn for_router() -> Self {
        RouteConfig(json!({
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": router_routes(),
            }],
        }))
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

/// The router module's two routes, in order, as `wasmplugins/envoyfilter/router-cluster-header.yaml`
/// inserts them into an Istio gateway's virtual hosts. Both forward to the cluster named in
/// [`engine::router::CLUSTER_HEADER`] with no route timeout (as Istio's own routes: the module
/// sends the VirtualService's `timeout` as a header). The first takes requests the module marked
/// with [`engine::router::CUSTOM_RETRIES_HEADER`] (their route has its own `retries`, which the
/// module sends as `x-envoy-*` headers) and keeps only what no header can say: Istio's retry host
/// predicate. The second carries Istio's whole default retry policy, so the common route costs
/// the module no retry header at all. Both swap in a rewritten authority from
/// [`engine::router::AUTHORITY_HEADER`] as they forward, and strip the other contract headers
/// before the request goes upstream.
pub fn router_routes() -> Value {
    let cluster = engine::router::CLUSTER_HEADER;
    let marked = engine::router::CUSTOM_RETRIES_HEADER;
    let authority = engine::router::AUTHORITY_HEADER;
    // The authority header is read by the host rewrite, after these removals: the router's
    // upstream filter strips it (`gateway_defaults::strip_route_authority`).
    let strip = [cluster, marked];
    json!([
        {
            "name": "wasm-router-custom-retries",
            "match": {
                "prefix": "/",
                "headers": [
                    { "name": cluster, "present_match": true },
                    { "name": marked, "present_match": true },
                ],
            },
            "route": {
                "cluster_header": cluster,
                "host_rewrite_header": authority,
                "timeout": "0s",
                "retry_policy": istio_retry_host_selection(),
            },
            "request_headers_to_remove": strip,
        },
        {
            "name": "wasm-router-cluster-header",
            "match": {
                "prefix": "/",
                "headers": [{ "name": cluster, "present_match": true }],
            },
            "route": {
                "cluster_header": cluster,
                "host_rewrite_header": authority,
                "timeout": "0s",
                "retry_policy": istio_default_retry_policy(),
            },
            "request_headers_to_remove": strip,
        },
    ])
}

/// Pilot's `DefaultPolicy()`: what Istio puts on every route whose VirtualService sets no
/// `retries` (2 retries on connect failures, refused streams, gRPC `unavailable` and
/// `cancelled`, and 503; each retry on another host when there is one).
pub fn istio_default_retry_policy() -> Value {
    let mut policy = istio_retry_host_selection();
    if let Some(fields) = policy.as_object_mut() {
        fields.insert("num_retries".into(), json!(2));
        fields.insert(
            "retry_on".into(),
            json!("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"),
        );
        fields.insert("retriable_status_codes".into(), json!([503]));
    }
    policy
}

/// What pilot adds to every retry policy, its own `retries` or not (unless
/// `retryIgnorePreviousHosts: false`): a retry goes to a host not tried yet, picked up to 5 times.
/// Envoy reads retry host predicates from the route only; with no `retry_on` here, the route
/// retries nothing unless the request's `x-envoy-retry-on` says so.
fn istio_retry_host_selection() -> Value {
    json!({
        "host_selection_retry_max_attempts": 5,
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
            },
        }],
    })
}

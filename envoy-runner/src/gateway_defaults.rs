//! What istio-ingressgateway's Envoy does to a request before any of our modules sees it, so
//! that every Envoy this repository renders (the test harness, `make gateway`, `make run`) gives
//! a client's `..`, `%2F`, `x-envoy-*` or `x-forwarded-for` the meaning it has behind Istio.
//!
//! The values are pilot's for a gateway with the default MeshConfig and ProxyConfig (istio/istio,
//! `pilot/pkg/networking/core/gateway.go` `buildGatewayConnectionManager` and `httpListenerOpts`
//! with `useRemoteAddress: true`, then `listener_builder.go` `buildHTTPConnectionManager`;
//! `pkg/bootstrap/config.go` for the runtime flags). In a cluster pilot sets all of this itself:
//! the EnvoyFilter manifests under `wasmplugins/envoyfilter/` add only what Istio lacks (the
//! header stripping of [`strip_route_headers`] and the route the router needs) and override none of it.
//!
//! Left at Envoy's (and so Istio's) defaults, on purpose: `headers_with_underscores_action`
//! (ALLOW; Istio rejects only under the opt-in EDGE `connectionSettings` profile),
//! `request_headers_timeout` (none, likewise EDGE-only), `common_http_protocol_options` (set only
//! from the `IDLE_TIMEOUT` proxy metadata), `strip_any_host_port`/`strip_port_mode` (unset: Istio
//! ignores the port in the route configuration instead, see [`route_config_fields`]),
//! `internal_address_config` (unset without MeshNetworks `fromCidr` endpoints, so since Envoy
//! 1.33 no client address is internal and every request is sanitised as an edge request),
//! `generate_request_id` and `preserve_external_request_id` (Envoy makes a new `x-request-id`
//! for every edge request), tracing and access logs (no provider in the default mesh).

use serde_json::{json, Value};

/// The name of the early header mutation [`strip_route_headers`] renders, also used by the
/// EnvoyFilter manifest [`STRIP_ROUTE_HEADERS_MANIFEST`].
pub const STRIP_ROUTE_HEADERS: &str = "istio-wasm.strip-route-headers";

/// The EnvoyFilter that merges [`strip_route_headers`] into istio-ingressgateway's connection
/// manager, relative to the repository root.
pub const STRIP_ROUTE_HEADERS_MANIFEST: &str = "wasmplugins/envoyfilter/strip-route-headers.yaml";

/// The `HttpConnectionManager` fields pilot sets on a gateway, with Envoy's JSON names; the
/// harness merges them into every listener's connection manager before the listener's own
/// `extra` (see [`crate::Listener::plain_envoy`] for the exception).
///
/// - `use_remote_address: true`: gateway listeners are built with `useRemoteAddress: true`. The
///   client address is the TCP peer, `x-forwarded-for` gets it appended (Envoy appends its own
///   address for a loopback peer), `x-forwarded-proto` is overwritten with the connection's
///   scheme, `x-envoy-external-address` is set, a client's `x-envoy-internal` is removed, and
///   the request is an edge request: Envoy removes the client's `x-envoy-retry-on`,
///   `x-envoy-max-retries`, `x-envoy-upstream-rq-timeout-ms` and the other routing
///   `x-envoy-*` headers, the decorator and downstream-service headers, and `x-envoy-original-path`
///   / `x-envoy-original-url`, and replaces `x-request-id`.
/// - `xff_num_trusted_hops: 0`: ProxyConfig `gatewayTopology.numTrustedProxies`, 0 by default,
///   so no address a client writes into `x-forwarded-for` is trusted.
/// - `normalize_path: true`: MeshConfig `pathNormalization` is unset, i.e. `DEFAULT`, which
///   pilot treats as `BASE`: RFC 3986 normalisation, so `/a/../b` and `/a/./b` reach routes and
///   upstreams as `/b` and `/a/b`.
/// - `merge_slashes: false`: only the `MERGE_SLASHES` and `DECODE_AND_MERGE_SLASHES`
///   normalisations set it, so `//a` stays `//a` (the issue asked for merged slashes; Istio's
///   default does not merge them, and what Istio does is the reference).
/// - `path_with_escaped_slashes_action: KEEP_UNCHANGED`: pilot's explicit default (only
///   `DECODE_AND_MERGE_SLASHES` unescapes), so `%2F` stays `%2F` and is not a segment separator.
/// - `forward_client_cert_details: SANITIZE_SET` with `set_current_client_cert_details`
///   (subject, cert, dns, uri): gateways ignore ProxyHeaders for XFCC; on a plain-text listener
///   a client's `x-forwarded-client-cert` is removed.
/// - `server_name: istio-envoy`, `server_header_transformation: OVERWRITE`: ProxyHeaders'
///   defaults for every class but sidecar outbound; the upstream's `server` header is replaced.
/// - `http_protocol_options: {}`: `accept_http_10` only with `PILOT_HTTP10` (default false), so
///   HTTP/1.0 requests are refused with 426 as Istio does.
/// - `upgrade_configs: [websocket]`: every Istio HTTP connection manager allows WebSocket.
/// - `stream_idle_timeout: 0s`: pilot turns Envoy's 5 min default off.
/// - `proxy_100_continue: true`: `ENABLE_100_CONTINUE_HEADERS`, default true.
pub fn connection_manager_fields() -> Value {
    json!({
        "use_remote_address": true,
        "xff_num_trusted_hops": 0,
        "normalize_path": true,
        "merge_slashes": false,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "forward_client_cert_details": "SANITIZE_SET",
        "set_current_client_cert_details": {
            "subject": true,
            "cert": true,
            "dns": true,
            "uri": true,
        },
        "server_name": "istio-envoy",
        "server_header_transformation": "OVERWRITE",
        "http_protocol_options": {},
        "upgrade_configs": [{ "upgrade_type": "websocket" }],
        "stream_idle_timeout": "0s",
        "proxy_100_continue": true,
    })
}

/// The `RouteConfiguration` fields pilot sets on a gateway's routes (`gateway.go`,
/// `buildGatewayHTTPRouteConfig`).
///
/// - `ignore_port_in_host_matching: true`: a `Host: example.com:8080` matches the virtual host
///   of `example.com` (the port is ignored for matching, not stripped from the request).
/// - `validate_clusters: false`: a route naming a cluster Envoy does not (yet) have is accepted
///   and answers 503 at request time, instead of failing the whole route configuration.
/// - `max_direct_response_body_size_bytes: 1048576`: 1 MiB, the limit Istio's webhook validates
///   against, instead of Envoy's 4 KiB.
pub fn route_config_fields() -> Value {
    json!({
        "ignore_port_in_host_matching": true,
        "validate_clusters": false,
        "max_direct_response_body_size_bytes": 1_048_576,
    })
}

/// The runtime flags of Istio's bootstrap (`pkg/bootstrap/config.go`, `extractRuntimeFlags`)
/// that change what a request or a route means, as a `layered_runtime` static layer.
///
/// - `envoy.reloadable_features.http_reject_path_with_fragment: false`: a `#fragment` in the
///   path is stripped instead of the request being refused with 400.
/// - `re2.max_program_size.error_level: 32768`: native regex routes up to this RE2 program size
///   are accepted (Envoy's default refuses above 100).
pub fn runtime_flags() -> Value {
    json!({
        "envoy.reloadable_features.http_reject_path_with_fragment": false,
        "re2.max_program_size.error_level": 32768,
    })
}

/// The request headers a client must never set itself: the router module's
/// [`engine::router::ROUTE_CONTRACT_HEADERS`], which Envoy's routes for the module obey, and
/// the [`engine::router::ROUTER_CONTROL_HEADERS`] Envoy's router reads (timeouts, retries).
pub fn client_route_headers() -> Vec<&'static str> {
    engine::router::ROUTE_CONTRACT_HEADERS
        .into_iter()
        .chain(engine::router::ROUTER_CONTROL_HEADERS)
        .collect()
}

/// The router's upstream filter that removes [`engine::router::AUTHORITY_HEADER`] from the
/// request as it leaves for the upstream. The route's `host_rewrite_header` reads it after the
/// route's `request_headers_to_remove` has run (Envoy applies the header edits, then the host
/// rewrite), so the route cannot strip it itself. `wasmplugins/envoyfilter/router-cluster-header.yaml`
/// adds the same filter to an Istio gateway's router.
pub fn strip_route_authority() -> Value {
    json!({
        "name": STRIP_ROUTE_AUTHORITY,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {
                "request_mutations": [{ "remove": engine::router::AUTHORITY_HEADER }],
            },
        },
    })
}

/// The name of [`strip_route_authority`]'s filter, as the EnvoyFilter names it.
pub const STRIP_ROUTE_AUTHORITY: &str = "istio-wasm.strip-route-authority";

/// The `HttpConnectionManager` field that removes [`client_route_headers`] from every request
/// before Envoy picks its route and before any filter runs: defence in depth for when the router
/// module is skipped (`FAIL_OPEN` after its VM failed) or a client counts as internal
/// (`internal_address_config`), so that no client header can choose a cluster.
///
/// It is an early header mutation (`envoy.http.early_header_mutation.header_mutation`), not the
/// `header_mutation` HTTP filter, because the connection manager resolves and caches the route
/// before the first filter runs and that filter does not clear the cache: first in the chain, it
/// removes the header from the request but the `cluster_header` route already chose the
/// client's cluster (`tests/defence.rs` shows both). The headers the router module sets later are
/// untouched; the module clears the route cache when it sets them.
pub fn strip_route_headers() -> Value {
    let removals: Vec<Value> = client_route_headers()
        .into_iter()
        .map(|header| json!({ "remove": header }))
        .collect();
    json!({
        "early_header_mutation_extensions": [{
            "name": STRIP_ROUTE_HEADERS,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
                "mutations": removals,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_early_mutation_removes_the_cluster_header_and_every_router_control_header() {
        let fields = strip_route_headers();
        let removed: Vec<&str> = fields["early_header_mutation_extensions"][0]["typed_config"]
            ["mutations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|mutation| mutation["remove"].as_str())
            .collect();
        let contract = engine::router::ROUTE_CONTRACT_HEADERS.len();
        assert_eq!(removed[..contract], engine::router::ROUTE_CONTRACT_HEADERS);
        assert_eq!(removed[contract..], engine::router::ROUTER_CONTROL_HEADERS);
    }

    #[test]
    fn the_envoyfilter_manifest_merges_exactly_what_the_harness_renders() {
        let path = crate::workspace_root().join(STRIP_ROUTE_HEADERS_MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap();
        let documents = distribution::istio::yaml::documents(&text).unwrap();
        let patch = &documents[0]["spec"]["configPatches"][0];
        assert_eq!(patch["applyTo"], "NETWORK_FILTER");
        assert_eq!(patch["patch"]["operation"], "MERGE");
        let mut merged = patch["patch"]["value"]["typed_config"].clone();
        merged.as_object_mut().unwrap().remove("@type");
        assert_eq!(merged, strip_route_headers(), "{}", path.display());
    }
}

//! An HTTP listener: an `http_connection_manager` with our filters and a route configuration.

use serde_json::{json, Value};

use crate::envoy_json::{add_patch, merge_json, socket_address};
use crate::gateway_defaults;
use crate::http_filter::HttpFilter;
use crate::route_config::RouteConfig;

/// An HTTP listener on 127.0.0.1.
///
/// The connection manager's codec is `AUTO`, so one port takes both HTTP/1.1 and
/// HTTP/2 with prior knowledge (h2c), whichever the client speaks. The connection manager and
/// the route configuration carry istio-ingressgateway's settings
/// ([`gateway_defaults::connection_manager_fields`], [`gateway_defaults::route_config_fields`])
/// unless [`Listener::plain_envoy`] turns them off.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// The listener's name; also its stats prefix. Tests find its port by this name.
    pub name: String,
    /// The port to bind; 0 (the default) lets Envoy bind a free one, which the harness
    /// reads back from the admin interface, so parallel tests never race for ports.
    pub port: u16,
    /// HTTP filters in order; the router is appended after them.
    pub http_filters: Vec<HttpFilter>,
    /// The `route_config` of the connection manager.
    pub route_config: RouteConfig,
    /// Merged into the `HttpConnectionManager` config, like [`crate::Bootstrap::extra`].
    pub extra: Option<Value>,
    /// Whether the connection manager and routes get Istio's gateway settings (the default).
    pub gateway_defaults: bool,
    /// TLS terminated on this listener's filter chain, see [`Listener::tls`].
    pub tls: Option<DownstreamTls>,
    /// Further filter chains on the same socket, see [`Listener::chain`].
    pub chains: Vec<Listener>,
    /// The router's upstream HTTP filters (before its `upstream_codec`), see
    /// [`Listener::upstream_filter`].
    pub upstream_filters: Vec<Value>,
}

/// A filter chain's TLS: Envoy's `DownstreamTlsContext` and the SNI names the chain takes.
#[derive(Debug, Clone, PartialEq)]
pub struct DownstreamTls {
    /// The `typed_config` of the `envoy.transport_sockets.tls` transport socket (its `@type`
    /// is added when missing).
    pub context: Value,
    /// `filter_chain_match.server_names`; empty takes every name (and connections without SNI).
    pub server_names: Vec<String>,
}

impl Listener {
    /// A listener on a free port with no filters but the router.
    pub fn new(name: impl Into<String>, route_config: RouteConfig) -> Self {
        Listener {
            name: name.into(),
            port: 0,
            http_filters: Vec::new(),
            route_config,
            extra: None,
            gateway_defaults: true,
            tls: None,
            chains: Vec::new(),
            upstream_filters: Vec::new(),
        }
    }

    /// Binds `port` instead of a free one (e.g. 10000 for `make run`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// A listener shaped for the router module: [`RouteConfig::for_router`], with
    /// [`gateway_defaults::strip_route_headers`], so that a client's own `x-route-cluster`
    /// never reaches the `cluster_header` route, even with the router module skipped.
    /// Also [`gateway_defaults::strip_route_authority`] as the router's upstream filter.
    pub fn for_router(name: impl Into<String>) -> Self {
        Listener::new(name, RouteConfig::for_router())
            .extra(gateway_defaults::strip_route_headers())
            .upstream_filter(gateway_defaults::strip_route_authority())
    }

    /// Appends an upstream HTTP filter to the router's (`upstream_http_filters`): it runs on
    /// each request as it leaves for the upstream, after the route's own header edits.
    pub fn upstream_filter(mut self, filter: Value) -> Self {
        self.upstream_filters.push(filter);
        self
    }

    /// Envoy's own connection manager and route defaults instead of istio-ingressgateway's:
    /// for tests of Envoy itself, or of what Istio's settings change.
    pub fn plain_envoy(mut self) -> Self {
        self.gateway_defaults = false;
        self
    }

    /// Appends an HTTP filter (before the router).
    pub fn filter(mut self, filter: impl Into<HttpFilter>) -> Self {
        self.http_filters.push(filter.into());
        self
    }

    /// Merges `patch` into the `HttpConnectionManager` config.
    pub fn extra(mut self, patch: Value) -> Self {
        add_patch(&mut self.extra, patch);
        self
    }

    /// Terminates TLS on this chain with `tls` (the listener then inspects the TLS handshake
    /// for SNI and ALPN, as Istio's gateway listeners do).
    pub fn tls(mut self, tls: DownstreamTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Adds `other`'s filter chain (its connection manager, filters, routes and TLS) to this
    /// listener's socket: Istio's one listener per port, with one chain per TLS server told
    /// apart by SNI. `other`'s name names its chain and stats; its port is ignored.
    pub fn chain(mut self, other: Listener) -> Self {
        self.chains.push(other);
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let own = std::iter::once(self);
        let chains: Vec<Value> = own
            .chain(self.chains.iter())
            .map(Listener::filter_chain)
            .collect();
        let mut listener = json!({
            "name": self.name,
            "address": socket_address("127.0.0.1", self.port),
            "filter_chains": chains,
        });
        if self.tls.is_some() || self.chains.iter().any(|chain| chain.tls.is_some()) {
            listener["listener_filters"] = json!([{
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
                },
            }]);
        }
        listener
    }

    /// This listener's own filter chain: its connection manager and TLS.
    fn filter_chain(&self) -> Value {
        let mut filters: Vec<Value> = self.http_filters.iter().map(HttpFilter::to_json).collect();
        let mut router = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
        });
        if !self.upstream_filters.is_empty() {
            let mut upstream = self.upstream_filters.clone();
            upstream.push(json!({
                "name": "envoy.filters.http.upstream_codec",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec",
                },
            }));
            router["upstream_http_filters"] = Value::from(upstream);
        }
        filters.push(json!({ "name": "envoy.filters.http.router", "typed_config": router }));
        let mut route_config = self.route_config.0.clone();
        let mut connection_manager = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": self.name,
            "codec_type": "AUTO",
        });
        if self.gateway_defaults {
            merge_json(
                &mut connection_manager,
                gateway_defaults::connection_manager_fields(),
            );
            // Under the route config's own fields, which win.
            let mut defaults = gateway_defaults::route_config_fields();
            merge_json(&mut defaults, route_config);
            route_config = defaults;
        }
        connection_manager["route_config"] = route_config;
        connection_manager["http_filters"] = Value::from(filters);
        if let Some(extra) = &self.extra {
            merge_json(&mut connection_manager, extra.clone());
        }
        let mut chain = json!({
            "name": self.name,
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": connection_manager,
            }],
        });
        if let Some(tls) = &self.tls {
            let mut context = tls.context.clone();
            if context.get("@type").is_none() {
                context["@type"] = json!(
                    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
                );
            }
            chain["transport_socket"] =
                json!({ "name": "envoy.transport_sockets.tls", "typed_config": context });
            if !tls.server_names.is_empty() {
                chain["filter_chain_match"] = json!({ "server_names": tls.server_names });
            }
        }
        chain
    }
}

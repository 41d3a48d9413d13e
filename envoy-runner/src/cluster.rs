//! An upstream cluster of fixed loopback endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::envoy_json::{add_patch, merge_json, proto_duration, socket_address};

/// A `STATIC`, round-robin cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The cluster's name, as routes and the `cluster_header` refer to it.
    pub name: String,
    /// The endpoints, usually [`crate::Upstream::addr`]s. None is valid: Envoy then
    /// answers 503 `no_healthy_upstream`.
    pub endpoints: Vec<SocketAddr>,
    /// Speak HTTP/2 with prior knowledge (h2c) to the endpoints instead of HTTP/1.1.
    pub http2: bool,
    /// Envoy's `connect_timeout`.
    pub connect_timeout: Duration,
    /// Merged into the rendered cluster, like [`crate::Bootstrap::extra`].
    pub extra: Option<Value>,
}

impl Cluster {
    /// An HTTP/1.1 cluster with a 1 s connect timeout.
    pub fn new(name: impl Into<String>, endpoints: impl IntoIterator<Item = SocketAddr>) -> Self {
        Cluster {
            name: name.into(),
            endpoints: endpoints.into_iter().collect(),
            http2: false,
            connect_timeout: Duration::from_secs(1),
            extra: None,
        }
    }

    /// Switches the cluster to HTTP/2 with prior knowledge.
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Merges `patch` into the rendered cluster.
    pub fn extra(mut self, patch: Value) -> Self {
        add_patch(&mut self.extra, patch);
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let endpoints: Vec<Value> = self
            .endpoints
            .iter()
            .map(|addr| {
                let address = socket_address(addr.ip(), addr.port());
                json!({ "endpoint": { "address": address } })
            })
            .collect();
        let mut cluster = json!({
            "name": self.name,
            "type": "STATIC",
            "lb_policy": "ROUND_ROBIN",
            "connect_timeout": proto_duration(self.connect_timeout),
            "load_assignment": {
                "cluster_name": self.name,
                "endpoints": [{ "lb_endpoints": endpoints }],
            },
        });
        if self.http2 {
            let options = json!({
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} },
            });
            merge_json(
                &mut cluster,
                json!({ "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options,
                } }),
            );
        }
        if let Some(extra) = &self.extra {
            merge_json(&mut cluster, extra.clone());
        }
        cluster
    }
}

//! An upstream cluster of fixed loopback endpoints, or of names Envoy resolves.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::envoy_json::{add_patch, merge_json, proto_duration, socket_address};

/// Names Envoy resolves instead of fixed addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEndpoints {
    /// `LOGICAL_DNS` (one name, the first address it resolves to) instead of `STRICT_DNS`
    /// (every address of every name, each an endpoint).
    pub logical: bool,
    /// Host names (or addresses) and ports.
    pub endpoints: Vec<(String, u16)>,
}

/// A `STATIC` (or, with [`Cluster::dns`], DNS), round-robin cluster.
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
    /// Resolved names in place of `endpoints`.
    pub dns: Option<DnsEndpoints>,
    /// Each endpoint's `load_balancing_weight`, in the order of `endpoints` (or of the DNS
    /// names); empty: Envoy's default, 1 each.
    pub weights: Vec<u32>,
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
            dns: None,
            weights: Vec::new(),
            extra: None,
        }
    }

    /// Weights the endpoints, in order (Envoy's `load_balancing_weight`; at least 1 each).
    pub fn weights(mut self, weights: impl IntoIterator<Item = u32>) -> Self {
        self.weights = weights.into_iter().collect();
        self
    }

    /// Resolves `dns`'s names instead of fixed endpoints.
    pub fn dns(mut self, dns: DnsEndpoints) -> Self {
        self.dns = Some(dns);
        self
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
        let endpoint = |address: Value| json!({ "endpoint": { "address": address } });
        let (kind, endpoints): (&str, Vec<Value>) = match &self.dns {
            None => (
                "STATIC",
                self.endpoints
                    .iter()
                    .map(|addr| endpoint(socket_address(addr.ip(), addr.port())))
                    .collect(),
            ),
            Some(dns) => (
                if dns.logical {
                    "LOGICAL_DNS"
                } else {
                    "STRICT_DNS"
                },
                dns.endpoints
                    .iter()
                    .map(|(name, port)| endpoint(socket_address(name, *port)))
                    .collect(),
            ),
        };
        let endpoints: Vec<Value> = endpoints
            .into_iter()
            .enumerate()
            .map(|(index, mut endpoint)| {
                if let Some(weight) = self.weights.get(index) {
                    endpoint["load_balancing_weight"] = json!((*weight).max(1));
                }
                endpoint
            })
            .collect();
        let mut cluster = json!({
            "name": self.name,
            "type": kind,
            "lb_policy": "ROUND_ROBIN",
            "connect_timeout": proto_duration(self.connect_timeout),
            "load_assignment": {
                "cluster_name": self.name,
                "endpoints": [{ "lb_endpoints": endpoints }],
            },
        });
        if self.dns.is_some() {
            // IPv4 only: `localhost` resolves to ::1 as well, and loopback upstreams (and
            // pilot's default for an IPv4 proxy) are IPv4.
            cluster["dns_lookup_family"] = json!("V4_ONLY");
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_go_on_the_endpoints_in_order_at_least_one() {
        let addresses = ["127.0.0.1:8001", "127.0.0.1:8002"].map(|a| a.parse().unwrap());
        let json = Cluster::new("c", addresses).weights([3, 0]).to_json();
        let endpoints = &json["load_assignment"]["endpoints"][0]["lb_endpoints"];
        assert_eq!(endpoints[0]["load_balancing_weight"], 3);
        assert_eq!(endpoints[1]["load_balancing_weight"], 1);
        let unweighted = Cluster::new("c", addresses).to_json();
        let endpoints = &unweighted["load_assignment"]["endpoints"][0]["lb_endpoints"];
        assert!(endpoints[0].get("load_balancing_weight").is_none());
    }
}

//! The destination labels, read back from the Envoy cluster a request was sent to.

/// What a cluster name tells about the destination. Istio's outbound clusters
/// (`outbound|9080|v1|reviews.default.svc.cluster.local`) tell everything; any other cluster
/// name is taken as the service itself, with the rest unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<'a> {
    /// The host's fully qualified name, or the whole cluster name.
    pub service: &'a str,
    /// The host's first DNS label (`reviews`).
    pub service_name: &'a str,
    /// The host's second DNS label (`default`), for Kubernetes service hosts.
    pub service_namespace: Option<&'a str>,
    /// The cluster's subset (`v1`), when it has one.
    pub subset: Option<&'a str>,
    /// The cluster's port, when it has one.
    pub port: Option<&'a str>,
}

impl<'a> Destination<'a> {
    /// Reads Istio's `outbound|port|subset|host` cluster name; any other name is the service.
    pub fn from_cluster(cluster: &'a str) -> Self {
        let parts: Vec<&str> = cluster.split('|').collect();
        if let ["outbound" | "inbound", port, subset, host] = parts[..] {
            if !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                let mut labels = host.split('.');
                let name = labels.next().unwrap_or(host);
                return Self {
                    service: host,
                    service_name: name,
                    service_namespace: labels.next().filter(|label| !label.is_empty()),
                    subset: Some(subset).filter(|subset| !subset.is_empty()),
                    port: Some(port),
                };
            }
        }
        Self {
            service: cluster,
            service_name: cluster,
            service_namespace: None,
            subset: None,
            port: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn istio_outbound_clusters_split_into_their_parts() {
        let destination =
            Destination::from_cluster("outbound|9080|v1|reviews.prod.svc.cluster.local");
        assert_eq!(
            destination,
            Destination {
                service: "reviews.prod.svc.cluster.local",
                service_name: "reviews",
                service_namespace: Some("prod"),
                subset: Some("v1"),
                port: Some("9080"),
            }
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_empty_subset_is_none() {
        let destination =
            Destination::from_cluster("outbound|80||static.default.svc.cluster.local");
        assert_eq!(destination.subset, None);
        assert_eq!(destination.port, Some("80"));
        assert_eq!(destination.service_namespace, Some("default"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_host_without_dots_has_no_namespace() {
        let destination = Destination::from_cluster("outbound|8080||auth");
        assert_eq!(destination.service, "auth");
        assert_eq!(destination.service_name, "auth");
        assert_eq!(destination.service_namespace, None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn other_cluster_names_are_the_service() {
        for cluster in ["backend", "outbound|x|v1|a.b", "outbound|80|v1", "a|b|c|d"] {
            let destination = Destination::from_cluster(cluster);
            assert_eq!(destination.service, cluster);
            assert_eq!(destination.service_name, cluster);
            assert_eq!(destination.service_namespace, None);
            assert_eq!(destination.subset, None);
            assert_eq!(destination.port, None);
        }
    }
}

//! Envoy cluster names as Istio gives them: `outbound|<port>|<subset>|<host fqdn>`.

/// Expands a short host (`reviews`) to `reviews.<namespace>.<domain_suffix>`, as Istio resolves
/// short names (`reviews.<namespace>` when the suffix is empty); a host with a dot, or a
/// wildcard, is already fully qualified.
pub fn fully_qualified_host(host: &str, namespace: &str, domain_suffix: &str) -> String {
    if host.contains('.') || host.starts_with('*') {
        host.to_owned()
    } else if domain_suffix.is_empty() {
        format!("{host}.{namespace}")
    } else {
        format!("{host}.{namespace}.{domain_suffix}")
    }
}

/// The outbound cluster for a destination, e.g. `outbound|9080|v1|reviews.default.svc.cluster.local`.
pub fn cluster_name(port: u16, subset: Option<&str>, fqdn: &str) -> String {
    format!("outbound|{port}|{}|{fqdn}", subset.unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn short_hosts_expand_with_namespace_and_suffix() {
        assert_eq!(
            fully_qualified_host("reviews", "bookinfo", "svc.cluster.local"),
            "reviews.bookinfo.svc.cluster.local"
        );
        assert_eq!(
            fully_qualified_host("reviews.prod.svc.cluster.local", "x", "svc.cluster.local"),
            "reviews.prod.svc.cluster.local"
        );
        assert_eq!(fully_qualified_host("*", "x", "y"), "*");
        assert_eq!(
            fully_qualified_host("reviews", "bookinfo", ""),
            "reviews.bookinfo"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn cluster_names_follow_istio() {
        assert_eq!(
            cluster_name(9080, Some("v1"), "reviews.default.svc.cluster.local"),
            "outbound|9080|v1|reviews.default.svc.cluster.local"
        );
        assert_eq!(cluster_name(80, None, "a.b"), "outbound|80||a.b");
    }
}

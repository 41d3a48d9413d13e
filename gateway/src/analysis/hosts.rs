//! Host names as Istio compares them across resources: `*` and `*.suffix` wildcards.

/// Whether `pattern` (a host, `*.suffix` or `*`) covers `host` (which may be a wildcard).
pub fn covers(pattern: &str, host: &str) -> bool {
    pattern == "*"
        || pattern == host
        || pattern.strip_prefix('*').is_some_and(|suffix| {
            suffix.starts_with('.') && host.ends_with(suffix) && host.len() > suffix.len()
        })
}

/// Whether some host is in both: either covers the other.
pub fn intersect(a: &str, b: &str) -> bool {
    covers(a, b) || covers(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_their_subdomains_and_each_other() {
        assert!(covers("*", "a.com"));
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(covers("*.example.com", "*.eu.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("shop.example.com", "*.example.com"));
        assert!(intersect("shop.example.com", "*.example.com"));
        assert!(!intersect("a.com", "b.com"));
    }
}

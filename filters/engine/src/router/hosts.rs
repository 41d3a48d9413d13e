//! Virtual host selection by `:authority`, in Envoy's order: exact host, then the longest
//! `*.suffix` wildcard, then `*`.

use std::collections::HashMap;

/// Maps VirtualService hosts to virtual host indices.
#[derive(Debug, Clone, Default)]
pub struct HostIndex {
    exact: HashMap<String, usize>,
    /// `(".example.com", index)` for `*.example.com`, longest suffix first.
    wildcard_suffixes: Vec<(String, usize)>,
    any: Option<usize>,
}

impl HostIndex {
    /// Adds `host` (lowercase) for virtual host `index`; the first insertion of a host wins.
    pub fn insert(&mut self, host: &str, index: usize) {
        if host == "*" {
            self.any.get_or_insert(index);
        } else if let Some(suffix) = host.strip_prefix('*') {
            if !self
                .wildcard_suffixes
                .iter()
                .any(|(known, _)| known == suffix)
            {
                self.wildcard_suffixes.push((suffix.to_owned(), index));
                self.wildcard_suffixes
                    .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
            }
        } else {
            self.exact.entry(host.to_owned()).or_insert(index);
        }
    }

    /// The virtual host every authority selects, when the only host is `*` (Bookinfo's
    /// gateway VirtualService, `hosts: ["*"]`): the request's `:authority` need not be read.
    pub fn catch_all_only(&self) -> Option<usize> {
        if self.exact.is_empty() && self.wildcard_suffixes.is_empty() {
            self.any
        } else {
            None
        }
    }

    /// The virtual host for `authority` (any port is ignored; case-insensitive).
    pub fn find(&self, authority: &str) -> Option<usize> {
        let host = strip_port(authority).to_ascii_lowercase();
        if let Some(&index) = self.exact.get(&host) {
            return Some(index);
        }
        self.wildcard_suffixes
            .iter()
            // Envoy's wildcard needs at least one character in place of the `*`.
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|&(_, index)| index)
            .or(self.any)
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn index() -> HostIndex {
        let mut hosts = HostIndex::default();
        hosts.insert("api.example.com", 0);
        hosts.insert("*.example.com", 1);
        hosts.insert("*.eu.example.com", 2);
        hosts.insert("*", 3);
        hosts
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn exact_beats_longest_wildcard_beats_any() {
        let hosts = index();
        assert_eq!(hosts.find("api.example.com"), Some(0));
        assert_eq!(hosts.find("API.Example.com:8443"), Some(0));
        assert_eq!(hosts.find("shop.eu.example.com"), Some(2));
        assert_eq!(hosts.find("shop.example.com"), Some(1));
        assert_eq!(hosts.find(".example.com"), Some(3));
        assert_eq!(hosts.find("other.org"), Some(3));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn no_catch_all_means_no_host() {
        let mut hosts = HostIndex::default();
        hosts.insert("a.com", 0);
        assert_eq!(hosts.find("b.com"), None);
        assert_eq!(hosts.find("[::1]:80"), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn only_a_lone_catch_all_selects_without_the_authority() {
        assert_eq!(index().catch_all_only(), None);
        let mut hosts = HostIndex::default();
        assert_eq!(hosts.catch_all_only(), None);
        hosts.insert("*", 4);
        assert_eq!(hosts.catch_all_only(), Some(4));
        hosts.insert("*.example.com", 5);
        assert_eq!(hosts.catch_all_only(), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn ports_are_stripped_from_ipv6_and_names() {
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("a.com:80"), "a.com");
        assert_eq!(strip_port("a.com"), "a.com");
    }
}

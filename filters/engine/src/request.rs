//! A request held in memory, for tests, benchmarks and tools that evaluate configs offline.

use std::borrow::Cow;

pub use crate::stream::RequestView;
use crate::stream::{first_value, joined_value, values};

/// A request held in memory: for tests, benchmarks and tools that evaluate configs offline.
#[derive(Debug, Clone, Default)]
pub struct HeaderList {
    headers: Vec<(String, String)>,
    destination_port: Option<u16>,
    tls: bool,
}

impl HeaderList {
    /// A GET request for `authority` and `path` over http.
    pub fn get(authority: &str, path: &str) -> Self {
        Self::default()
            .with(":method", "GET")
            .with(":scheme", "http")
            .with(":authority", authority)
            .with(":path", path)
    }

    /// Sets the port the request arrived on.
    pub fn on_port(mut self, port: u16) -> Self {
        self.destination_port = Some(port);
        self
    }

    /// Marks the request as received over TLS.
    pub fn over_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Every `(name, value)`, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Adds a header; adding a name twice makes it multi-valued.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }
}

impl RequestView for HeaderList {
    fn destination_port(&self) -> Option<u16> {
        self.destination_port
    }

    fn downstream_tls(&self) -> bool {
        self.tls
    }

    fn first_header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        first_value(&self.headers, name)
    }

    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        values(&self.headers, name)
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        joined_value(&self.headers, name)
    }
}

/// Lets tests apply [`crate::headers::HeaderEdit`]s to an in-memory request or response.
impl crate::stream::HeaderMutator for HeaderList {
    fn header_names(&self) -> Vec<String> {
        self.headers.iter().map(|(name, _)| name.clone()).collect()
    }

    fn set_header(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter()
            .position(|(candidate, _)| candidate == name)
        {
            Some(first) => {
                self.headers[first].1 = value.to_owned();
                let mut index = 0;
                self.headers.retain(|(candidate, _)| {
                    index += 1;
                    index - 1 == first || candidate != name
                });
            }
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
    }

    fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(candidate, _)| candidate != name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn repeated_headers_join_with_commas() {
        let request = HeaderList::get("a", "/")
            .with("x-v", "1")
            .with("X-V", "2")
            .with("x-v", "3");
        assert_eq!(request.header("x-v").as_deref(), Some("1,2,3"));
        assert_eq!(request.first_header_value("x-v").as_deref(), Some("1"));
        assert_eq!(request.header(":path").as_deref(), Some("/"));
        assert_eq!(request.header("missing"), None);
    }
}

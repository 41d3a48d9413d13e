//! What the engine may read of a request; the host shell implements it over proxy-wasm calls.

use std::borrow::Cow;

/// A read-only view of an HTTP request's headers.
pub trait RequestView {
    /// The value of header `name` (lowercase), or of a pseudo-header (`:path`, `:authority`,
    /// `:method`, `:scheme`); several values of one header come joined by `,`, as Envoy joins them.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;

    /// The first value of header `name`, as Envoy's `%REQ(...)%` formatter reads it. The
    /// default suits views that hold one value per header; views of repeated headers override it.
    fn first_header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.header(name)
    }

    /// Every value of header `name`, in order. Envoy's route header matchers test each value
    /// on its own (any may match); the default suits views holding one value per header.
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        self.header(name).into_iter().collect()
    }

    /// The local port the request arrived on (the gateway listener's port), if known.
    fn destination_port(&self) -> Option<u16> {
        None
    }

    /// Whether the request came over a TLS connection (an Istio gateway's HTTPS server).
    fn downstream_tls(&self) -> bool {
        false
    }
}

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
        self.headers
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, value)| Cow::Borrowed(value.as_str()))
    }

    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        self.headers
            .iter()
            .filter(|(candidate, _)| candidate == name)
            .map(|(_, value)| Cow::Borrowed(value.as_str()))
            .collect()
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self
            .headers
            .iter()
            .filter(|(candidate, _)| candidate == name)
            .map(|(_, value)| value.as_str());
        let first = values.next()?;
        match values.next() {
            None => Some(Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first},{second}");
                for value in values {
                    joined.push(',');
                    joined.push_str(value);
                }
                Some(Cow::Owned(joined))
            }
        }
    }
}

/// Lets tests apply [`crate::headers::HeaderEdit`]s to an in-memory request or response.
impl crate::headers::HeaderMutator for HeaderList {
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

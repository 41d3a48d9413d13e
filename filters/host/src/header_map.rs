//! The engine's [`HeaderMutator`] over one of the current stream's header maps.

use engine::headers::HeaderMutator;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};

/// The request or response headers of the stream the host is calling into. Envoy re-selects
/// the route after any change to the request headers.
pub struct HeaderMap {
    map: MapType,
}

impl HeaderMap {
    pub fn request() -> Self {
        Self {
            map: MapType::HttpRequestHeaders,
        }
    }

    pub fn response() -> Self {
        Self {
            map: MapType::HttpResponseHeaders,
        }
    }

    fn report(&self, operation: &str, name: &str, result: Result<(), Status>) {
        if let Err(status) = result {
            log::warn!(
                "cannot {operation} header {name} in {:?}: {status:?}",
                self.map
            );
        }
    }
}

impl HeaderMutator for HeaderMap {
    fn header_names(&self) -> Vec<String> {
        hostcalls::get_map(self.map)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.report(
            "set",
            name,
            hostcalls::set_map_value(self.map, name, Some(value)),
        );
    }

    fn add_header(&mut self, name: &str, value: &str) {
        self.report("add", name, hostcalls::add_map_value(self.map, name, value));
    }

    fn remove_header(&mut self, name: &str) {
        self.report(
            "remove",
            name,
            hostcalls::set_map_value(self.map, name, None),
        );
    }
}

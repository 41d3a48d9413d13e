//! The engine's [`HeaderMutator`] over one of the current stream's header maps.

use engine::headers::HeaderMutator;
use proxy_wasm::types::{MapType, Status};

use crate::abi;

/// The request or response headers of the stream the host is calling into. Values carry the
/// byte escapes of [`engine::raw_text`] and go back to the host as their original bytes.
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

    /// Replaces every value of `name` with `value`, logging a host refusal.
    pub fn set(&self, name: &str, value: &str) {
        self.report("set", name, abi::replace_map_value(self.map, name, value));
    }

    /// Removes every value of `name`, logging a host refusal.
    pub fn remove(&self, name: &str) {
        self.report("remove", name, abi::remove_map_value(self.map, name));
    }

    /// The first value of `name` (Envoy's single-value call), `None` when absent or when the
    /// host refuses (logged).
    pub fn first(&self, name: &str) -> Option<String> {
        abi::get_map_value(self.map, name).unwrap_or_else(|status| {
            log::warn!("cannot read header {name} in {:?}: {status:?}", self.map);
            None
        })
    }

    /// Every `(name, value)`, in order; empty (after logging why) if the host refuses.
    pub fn all(&self) -> Vec<(String, String)> {
        abi::get_map(self.map).unwrap_or_else(|status| {
            log::warn!("cannot read {:?}: {status:?}", self.map);
            Vec::new()
        })
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
        self.all().into_iter().map(|(name, _)| name).collect()
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.set(name, value);
    }

    fn add_header(&mut self, name: &str, value: &str) {
        self.report("add", name, abi::add_map_value(self.map, name, value));
    }

    fn remove_header(&mut self, name: &str) {
        self.remove(name);
    }
}

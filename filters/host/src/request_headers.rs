//! The engine's [`RequestView`] over the current stream's request headers.

use std::borrow::Cow;
use std::cell::OnceCell;

use engine::stream::{first_value, joined_value, values};
use engine::RequestView;
use proxy_wasm::types::MapType;

use crate::abi;
use crate::properties::get_bytes;

/// Request headers read through host calls, for the stream the host is currently calling into.
/// Values are decoded losslessly ([`engine::raw_text`]): bytes that are not UTF-8 arrive as byte
/// escapes, never as a panic.
///
/// Other headers may repeat, and Envoy's single-value call returns only the first, so they are
/// read once, all together, on first use. Pseudo-headers are single-valued: they come from that
/// one read when it has happened (Envoy's map holds them too, and a host call per lookup costs
/// more than the lookup: the router asks for `:path` several times per request), else each by
/// its own host call, which is cheaper than reading the whole map for one value.
#[derive(Default)]
pub struct RequestHeaders {
    all: OnceCell<Vec<(String, String)>>,
}

impl RequestHeaders {
    pub fn new() -> Self {
        Self::default()
    }

    /// The request's headers as already read in full, so they are not fetched again.
    pub fn from_all(all: Vec<(String, String)>) -> Self {
        Self {
            all: OnceCell::from(all),
        }
    }

    /// Every request header, read once on first use.
    pub fn all(&self) -> &[(String, String)] {
        self.all.get_or_init(|| crate::HeaderMap::request().all())
    }
}

impl RequestView for RequestHeaders {
    fn destination_port(&self) -> Option<u16> {
        // Envoy encodes integer attributes as 8 little-endian bytes.
        let raw: [u8; 8] = get_bytes(&["destination", "port"])?.try_into().ok()?;
        u16::try_from(i64::from_le_bytes(raw)).ok()
    }

    fn downstream_tls(&self) -> bool {
        // Envoy's `connection.tls_version` attribute is empty on plaintext connections.
        get_bytes(&["connection", "tls_version"]).is_some_and(|version| !version.is_empty())
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        if name.starts_with(':') {
            if let Some(all) = self.all.get() {
                return first_value(all, name);
            }
            return abi::get_map_value(MapType::HttpRequestHeaders, name)
                .ok()
                .flatten()
                .map(Cow::Owned);
        }
        joined_value(self.all(), name)
    }

    fn first_header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        if name.starts_with(':') {
            return self.header(name);
        }
        first_value(self.all(), name)
    }

    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        if name.starts_with(':') {
            return self.header(name).into_iter().collect();
        }
        values(self.all(), name)
    }
}

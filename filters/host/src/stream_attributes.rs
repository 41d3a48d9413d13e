//! The engine's [`StreamAttributes`] over Envoy's attributes (`get_property`).

use engine::headers::StreamAttributes;
use proxy_wasm::hostcalls;

/// Envoy's attributes of the current stream, read on demand.
#[derive(Default)]
pub struct EnvoyAttributes;

impl EnvoyAttributes {
    pub fn new() -> Self {
        Self
    }
}

fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// A string attribute; an empty one counts as unknown.
fn string_property(path: &[&str]) -> Option<String> {
    property(path)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|value| !value.is_empty())
}

impl StreamAttributes for EnvoyAttributes {
    fn downstream_remote_address(&self) -> Option<String> {
        string_property(&["source", "address"])
    }

    fn route_name(&self) -> Option<String> {
        string_property(&["xds", "route_name"])
    }

    fn upstream_cluster(&self) -> Option<String> {
        string_property(&["xds", "cluster_name"])
    }

    fn start_time_unix_nanos(&self) -> Option<i64> {
        // Envoy encodes timestamps as 8 little-endian bytes of nanoseconds since the epoch.
        let raw: [u8; 8] = property(&["request", "time"])?.try_into().ok()?;
        Some(i64::from_le_bytes(raw))
    }
}

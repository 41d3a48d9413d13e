//! The engine's [`StreamAttributes`] over Envoy's attributes (`get_property`).

use engine::headers::StreamAttributes;

use crate::properties::{get_i64, get_nonempty_string};

/// Envoy's attributes of the current stream, read on demand.
#[derive(Default)]
pub struct EnvoyAttributes;

impl EnvoyAttributes {
    pub fn new() -> Self {
        Self
    }
}

impl StreamAttributes for EnvoyAttributes {
    fn downstream_remote_address(&self) -> Option<String> {
        get_nonempty_string(&["source", "address"])
    }

    fn route_name(&self) -> Option<String> {
        get_nonempty_string(&["xds", "route_name"])
    }

    fn upstream_cluster(&self) -> Option<String> {
        get_nonempty_string(&["xds", "cluster_name"])
    }

    fn start_time_unix_nanos(&self) -> Option<i64> {
        // Envoy encodes timestamps as 8 little-endian bytes of nanoseconds since the epoch.
        get_i64(&["request", "time"])
    }
}

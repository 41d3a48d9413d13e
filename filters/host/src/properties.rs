//! Envoy attributes and filter-state properties, read and written through host calls.
//!
//! Envoy stores `set_property(["p"], v)` as the filter state object `wasm.p`, and answers
//! `get_property(["p"])` from it when `p` is not one of its own top-level attributes, so
//! modules in one filter chain hand values to the ones after them this way.

use proxy_wasm::hostcalls;

/// Sets the property `name` on the current stream (a single path segment).
pub fn set_string(name: &str, value: &str) {
    if let Err(status) = hostcalls::set_property(vec![name], Some(value.as_bytes())) {
        log::warn!("cannot set property {name}: {status:?}");
    }
}

/// The raw bytes of the attribute or property at `path`; `None` when Envoy has none.
pub fn get_bytes(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// A string attribute or property (invalid UTF-8 replaced).
pub fn get_string(path: &[&str]) -> Option<String> {
    get_bytes(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// An integer attribute, which Envoy encodes as 8 little-endian bytes (durations in ns too).
pub fn get_i64(path: &[&str]) -> Option<i64> {
    let raw: [u8; 8] = get_bytes(path)?.try_into().ok()?;
    Some(i64::from_le_bytes(raw))
}

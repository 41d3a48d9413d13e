//! Envoy attributes and filter-state properties, read and written through host calls.
//!
//! Envoy stores `set_property(["p"], v)` as the filter state object `wasm.p`, and answers
//! `get_property(["p"])` from it when `p` is not one of its own top-level attributes, so
//! modules in one filter chain hand values to the ones after them this way.

use engine::raw_text;

use crate::abi;

/// Sets the property `name` on the current stream (a single path segment); `value` goes as
/// its original bytes.
pub fn set_string(name: &str, value: &str) {
    if let Err(status) = abi::set_property(&[name], &raw_text::encode(value)) {
        log::warn!("cannot set property {name}: {status:?}");
    }
}

/// The raw bytes of the attribute or property at `path`; `None` when Envoy has none.
pub fn get_bytes(path: &[&str]) -> Option<Vec<u8>> {
    abi::get_property(path).ok().flatten()
}

/// A string attribute or property, decoded losslessly ([`raw_text`]).
pub fn get_string(path: &[&str]) -> Option<String> {
    get_bytes(path).map(raw_text::decode_owned)
}

/// A string attribute; an empty one counts as unknown.
pub fn get_nonempty_string(path: &[&str]) -> Option<String> {
    get_string(path).filter(|value| !value.is_empty())
}

/// An integer attribute, which Envoy encodes as 8 little-endian bytes (durations in ns too).
pub fn get_i64(path: &[&str]) -> Option<i64> {
    let raw: [u8; 8] = get_bytes(path)?.try_into().ok()?;
    Some(i64::from_le_bytes(raw))
}

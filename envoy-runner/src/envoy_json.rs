//! The pieces of Envoy's JSON config every part of a bootstrap uses: merging a patch into a
//! rendered object, addresses, and protobuf durations.

use std::time::Duration;

use serde_json::{json, Value};

/// Merges `patch` into `base`: objects merge key by key, arrays are appended (so a
/// patch can add a cluster or a filter), `null` changes nothing, and anything else
/// replaces what was there.
pub(crate) fn merge_json(base: &mut Value, patch: Value) {
    match (base, patch) {
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                if let Some(existing) = base.get_mut(&key) {
                    merge_json(existing, value);
                } else if !value.is_null() {
                    base.insert(key, value);
                }
            }
        }
        (Value::Array(base), Value::Array(patch)) => base.extend(patch),
        (base, patch) => *base = patch,
    }
}

/// Records `patch` in an `extra` slot, merging it with any earlier patch.
pub(crate) fn add_patch(slot: &mut Option<Value>, patch: Value) {
    match slot {
        Some(extra) => merge_json(extra, patch),
        None => *slot = Some(patch),
    }
}

/// A `config.core.v3.Address` for an IP and port.
pub(crate) fn socket_address(ip: impl ToString, port: u16) -> Value {
    json!({ "socket_address": { "address": ip.to_string(), "port_value": port } })
}

/// A `google.protobuf.Duration` in its JSON form, e.g. `"1.500000000s"`.
pub fn proto_duration(duration: Duration) -> String {
    format!("{}.{:09}s", duration.as_secs(), duration.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_appends_arrays_and_merges_objects() {
        let mut base = json!({ "a": { "b": 1, "c": [1] }, "d": "x" });
        merge_json(
            &mut base,
            json!({ "a": { "c": [2], "e": true }, "d": "y", "f": null }),
        );
        assert_eq!(
            base,
            json!({ "a": { "b": 1, "c": [1, 2], "e": true }, "d": "y" })
        );
    }

    #[test]
    fn durations_render_as_proto_json() {
        assert_eq!(proto_duration(Duration::from_millis(1500)), "1.500000000s");
        assert_eq!(proto_duration(Duration::ZERO), "0.000000000s");
    }
}

//! Kubernetes label selectors (`matchLabels`, a Gateway's `selector`), as Istio applies them.

use std::collections::BTreeMap;

/// Whether `selector` selects an object labelled `labels`: every key with its value (an empty
/// selector selects everything).
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

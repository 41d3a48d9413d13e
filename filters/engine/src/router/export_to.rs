//! Istio's `exportTo`: which namespaces' proxies see a VirtualService, DestinationRule or
//! ServiceEntry (`pkg/config/visibility`), and Istio's check of the list (`validateExportTo`).

use super::validation::names::is_dns1123_label;

/// What `validateExportTo` tells apart: only a ServiceEntry may be exported to no one (`~`),
/// a service that only its own proxies see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exported {
    /// VirtualService, DestinationRule (without a workload selector), Sidecar...
    Config,
    /// A ServiceEntry, which may also be exported to no one (`~`).
    ServiceEntry,
}

/// Istio's `validateExportTo` for a resource of `kind` in `namespace`: `.`, `*` or namespace
/// names (and `~` for a ServiceEntry), no duplicates (`.` counting as `namespace`), `*` alone
/// and `~` alone. The error is the index of the entry at fault and Istio's message.
pub fn check(namespace: &str, export_to: &[String], kind: Exported) -> Result<(), (usize, String)> {
    let mut seen: Vec<&str> = Vec::new();
    for (index, entry) in export_to.iter().enumerate() {
        let key = if entry == "." {
            namespace
        } else {
            entry.as_str()
        };
        if seen.contains(&key) {
            return Err((
                index,
                if key != entry {
                    format!("duplicate entries in exportTo: . and current namespace {namespace}")
                } else {
                    format!("duplicate entries in exportTo for entry {entry}")
                },
            ));
        }
        match key {
            "*" | "." => {}
            "~" if kind == Exported::ServiceEntry => {}
            "~" => {
                return Err((
                    index,
                    "exportTo ~ (none) is not allowed for Istio configuration objects".to_owned(),
                ))
            }
            other if !is_dns1123_label(other) => {
                return Err((
                    index,
                    "only .,*, or a valid DNS 1123 label is allowed as exportTo entry".to_owned(),
                ))
            }
            _ => {}
        }
        seen.push(key);
    }
    if seen.contains(&"*") && export_to.len() > 1 {
        return Err((
            0,
            "cannot have both public (*) and non-public exportTo values for a resource".to_owned(),
        ));
    }
    if let Some(index) = seen.iter().position(|key| *key == "~") {
        if export_to.len() > 1 {
            return Err((
                index,
                "cannot export service entry to no one (~) and someone".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Whether a proxy in namespace `from` sees a resource of `namespace` exported to `export_to`.
/// An empty list is the mesh default, `*` (MeshConfig's `defaultServiceExportTo` and its
/// siblings); `~` is seen by no other proxy.
pub fn visible(namespace: &str, export_to: &[String], from: &str) -> bool {
    export_to.is_empty()
        || export_to
            .iter()
            .any(|entry| entry == "*" || entry == from || (entry == "." && namespace == from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|entry| entry.to_string()).collect()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn only_a_service_entry_may_be_exported_to_no_one_and_then_to_no_one_else() {
        assert!(check("ns", &list(&["~"]), Exported::ServiceEntry).is_ok());
        assert_eq!(
            check("ns", &list(&["~"]), Exported::Config),
            Err((
                0,
                "exportTo ~ (none) is not allowed for Istio configuration objects".to_owned()
            ))
        );
        assert_eq!(
            check("ns", &list(&["ns1", "~"]), Exported::ServiceEntry),
            Err((
                1,
                "cannot export service entry to no one (~) and someone".to_owned()
            ))
        );
        assert!(check("ns", &list(&["*", "~"]), Exported::ServiceEntry).is_err());
        assert!(check("ns", &list(&[".", "ns1"]), Exported::ServiceEntry).is_ok());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn visibility_follows_the_list_from_the_proxy_namespace() {
        let from = "istio-system";
        assert!(visible("shop", &[], from));
        assert!(visible("shop", &list(&["*"]), from));
        assert!(visible("shop", &list(&["istio-system"]), from));
        assert!(visible("istio-system", &list(&["."]), from));
        assert!(!visible("shop", &list(&["."]), from));
        assert!(!visible("shop", &list(&["other"]), from));
        assert!(!visible("istio-system", &list(&["~"]), from));
    }
}

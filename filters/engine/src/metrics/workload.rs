//! The proxy's own workload: the `source_*` labels of the Istio naming modes.
//!
//! Istio's stats filter reads them from the Envoy node's metadata (`WORKLOAD_NAME`,
//! `NAMESPACE`, `CLUSTER_ID`, `LABELS`), which pilot-agent fills from the pod's environment:
//! every `ISTIO_META_<KEY>` variable becomes metadata `<KEY>`, `ISTIO_METAJSON_LABELS` (a JSON
//! object) the `LABELS`, and `POD_NAMESPACE` the `NAMESPACE` (istio/istio
//! `pkg/bootstrap/config.go`). A plain Envoy has no pilot-agent, so the module reads the node
//! metadata first and then those same variables, when the VM is given them
//! (`vm_config.environment_variables`). What neither tells is `unknown`, and the canonical
//! service and revision fall back as Istio's do (istio/istio `pkg/kube/labels/labels.go`).

use std::collections::HashMap;

use super::sanitize::UNKNOWN;

/// Istio's canonical-service label keys, in the order Istio looks them up.
const CANONICAL_NAME_LABELS: [&str; 3] = [
    "service.istio.io/canonical-name",
    "app.kubernetes.io/name",
    "app",
];
/// Istio's canonical-revision label keys, in the order Istio looks them up.
const CANONICAL_REVISION_LABELS: [&str; 3] = [
    "service.istio.io/canonical-revision",
    "app.kubernetes.io/version",
    "version",
];
/// Istio's revision when no label names one.
const LATEST: &str = "latest";

/// The workload the proxy runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `source_workload`: node metadata `WORKLOAD_NAME`.
    pub name: String,
    /// `source_workload_namespace`: node metadata `NAMESPACE`.
    pub namespace: String,
    /// `source_canonical_service`, by Istio's label fallbacks.
    pub canonical_service: String,
    /// `source_canonical_revision`, by Istio's label fallbacks.
    pub canonical_revision: String,
    /// `source_app`: the `app` label.
    pub app: String,
    /// `source_version`: the `version` label.
    pub version: String,
    /// Istio's `CLUSTER_ID`: the cluster the proxy runs in.
    pub cluster: String,
}

impl Default for Workload {
    /// Outside Istio, with nothing configured.
    fn default() -> Self {
        Self::resolve(|_| None, |_| None, |_| None)
    }
}

impl Workload {
    /// Resolves the workload from `metadata(key)` (a node metadata string), `label(key)` (a
    /// node metadata `LABELS` entry) and `env(name)` (the VM's environment variable).
    pub fn resolve(
        metadata: impl Fn(&str) -> Option<String>,
        label: impl Fn(&str) -> Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let meta = |key: &str| {
            metadata(key)
                .or_else(|| env(&format!("ISTIO_META_{key}")))
                .filter(|value| !value.is_empty())
        };
        let env_labels: HashMap<String, String> = env("ISTIO_METAJSON_LABELS")
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        let label = |key: &str| {
            label(key)
                .or_else(|| env_labels.get(key).cloned())
                .filter(|value| !value.is_empty())
        };
        let first_label = |keys: &[&str]| keys.iter().find_map(|key| label(key));
        let name = meta("WORKLOAD_NAME").unwrap_or_else(|| UNKNOWN.to_owned());
        Self {
            namespace: meta("NAMESPACE")
                .or_else(|| env("POD_NAMESPACE").filter(|value| !value.is_empty()))
                .unwrap_or_else(|| UNKNOWN.to_owned()),
            canonical_service: first_label(&CANONICAL_NAME_LABELS).unwrap_or_else(|| name.clone()),
            canonical_revision: first_label(&CANONICAL_REVISION_LABELS)
                .unwrap_or_else(|| LATEST.to_owned()),
            app: label("app").unwrap_or_else(|| UNKNOWN.to_owned()),
            version: label("version").unwrap_or_else(|| UNKNOWN.to_owned()),
            cluster: meta("CLUSTER_ID").unwrap_or_else(|| UNKNOWN.to_owned()),
            name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn node_metadata_names_the_workload_as_on_an_istio_gateway() {
        let workload = Workload::resolve(
            lookup(&[
                ("WORKLOAD_NAME", "istio-ingressgateway"),
                ("NAMESPACE", "istio-system"),
                ("CLUSTER_ID", "Kubernetes"),
            ]),
            lookup(&[
                ("app", "istio-ingressgateway"),
                ("service.istio.io/canonical-name", "istio-ingressgateway"),
                ("service.istio.io/canonical-revision", "1-24"),
            ]),
            lookup(&[("ISTIO_META_WORKLOAD_NAME", "ignored")]),
        );
        assert_eq!(
            workload,
            Workload {
                name: "istio-ingressgateway".into(),
                namespace: "istio-system".into(),
                canonical_service: "istio-ingressgateway".into(),
                canonical_revision: "1-24".into(),
                app: "istio-ingressgateway".into(),
                version: "unknown".into(),
                cluster: "Kubernetes".into(),
            }
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_environment_stands_in_for_pilot_agent() {
        let workload = Workload::resolve(
            lookup(&[]),
            lookup(&[]),
            lookup(&[
                ("ISTIO_META_WORKLOAD_NAME", "edge"),
                ("POD_NAMESPACE", "gateways"),
                ("ISTIO_META_CLUSTER_ID", "east"),
                (
                    "ISTIO_METAJSON_LABELS",
                    r#"{"app": "edge-app", "version": "v3"}"#,
                ),
            ]),
        );
        assert_eq!(workload.name, "edge");
        assert_eq!(workload.namespace, "gateways");
        assert_eq!(workload.cluster, "east");
        assert_eq!(workload.app, "edge-app");
        assert_eq!(workload.version, "v3");
        // Istio's fallbacks: `app` names the canonical service, `version` its revision.
        assert_eq!(workload.canonical_service, "edge-app");
        assert_eq!(workload.canonical_revision, "v3");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn nothing_configured_is_unknown_and_latest() {
        let workload = Workload::default();
        assert_eq!(workload.name, "unknown");
        assert_eq!(workload.namespace, "unknown");
        assert_eq!(workload.canonical_service, "unknown");
        assert_eq!(workload.canonical_revision, "latest");
        assert_eq!(workload.cluster, "unknown");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_broken_labels_variable_is_ignored() {
        let workload = Workload::resolve(
            lookup(&[("WORKLOAD_NAME", "gw")]),
            lookup(&[]),
            lookup(&[("ISTIO_METAJSON_LABELS", "{not json")]),
        );
        assert_eq!(workload.app, "unknown");
        assert_eq!(workload.canonical_service, "gw");
    }
}

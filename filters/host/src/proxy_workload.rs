//! The workload this Envoy runs as, for the Istio naming modes' `source_*` labels: read from
//! the node metadata and, failing that, the VM's environment ([`engine::metrics::workload`]).

use engine::metrics::Workload;

use crate::properties;

/// Reads the workload once; the node and the VM's environment do not change while it runs.
pub fn proxy_workload() -> Workload {
    Workload::resolve(
        // Envoy 1.40 serves the node as the attribute `xds.node` (the old top-level `node`
        // answers nothing there).
        |key| properties::get_nonempty_string(&["xds", "node", "metadata", key]),
        |key| properties::get_nonempty_string(&["xds", "node", "metadata", "LABELS", key]),
        // Only what `vm_config.environment_variables` passes in; nothing else reaches a VM.
        |name| std::env::var(name).ok(),
    )
}

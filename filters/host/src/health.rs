//! A module's own health as Envoy stats: VM starts, panics, configs loaded and rejected.
//!
//! Envoy keeps stats outside the VM, so they survive a VM that trapped: after a panic under
//! `FAIL_RELOAD`, `<module>.panics` and `<module>.vm_starts` both went up by one, and
//! `<module>.config_loaded` shows the reloaded VM was configured again. Scraped from
//! `/stats/prometheus` as `router_vm_starts`, `router_panics`, ...

use proxy_wasm::types::MetricType;

use crate::abi;

/// The health counters of one module (names are defined on use; Envoy returns the same id
/// for the same name).
pub struct ModuleHealth {
    module: &'static str,
}

impl ModuleHealth {
    pub fn of(module: &'static str) -> Self {
        Self { module }
    }

    pub fn vm_started(&self) {
        self.count("vm_starts");
    }

    pub fn panicked(&self) {
        self.count("panics");
    }

    pub fn config_loaded(&self) {
        self.count("config_loaded");
    }

    pub fn config_rejected(&self) {
        self.count("config_rejected");
    }

    /// Sets `<module>.<name>` (a gauge), e.g. the number of routes compiled.
    pub fn set_gauge(&self, name: &str, value: u64) {
        let name = format!("{}.{name}", self.module);
        if let Ok(id) = abi::define_metric(MetricType::Gauge, &name) {
            let _ = abi::record_metric(id, value);
        }
    }

    fn count(&self, name: &str) {
        let name = format!("{}.{name}", self.module);
        // Nothing to report a failure to: this runs in the panic hook too.
        if let Ok(id) = abi::define_metric(MetricType::Counter, &name) {
            let _ = abi::increment_metric(id, 1);
        }
    }
}

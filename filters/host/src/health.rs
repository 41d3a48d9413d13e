//! A module's own health as Envoy stats: VM starts, panics, configs loaded and rejected, the
//! generation of the configuration loaded, and what it compiled to (routes, rules).
//!
//! Envoy keeps stats outside the VM, so they survive a VM that trapped: after a panic under
//! `FAIL_RELOAD`, `<module>.panics` and `<module>.vm_starts` both went up by one, and
//! `<module>.config_loaded` shows the reloaded VM was configured again. Scraped from
//! `/stats/prometheus` as `router_vm_starts`, `router_panics`, ... The counters count VMs:
//! Envoy runs one per worker thread plus one on the main thread, and each is configured.

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

    /// Counts a VM start and defines the other counters at 0, so a dashboard shows "no
    /// panics, nothing rejected" rather than no data.
    pub fn vm_started(&self) {
        for name in ["panics", "config_loaded", "config_rejected"] {
            let _ = abi::define_metric(MetricType::Counter, &format!("{}.{name}", self.module));
        }
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

    /// Sets `<module>.config_generation`: the generation of the configuration just loaded
    /// (1 for the first distinct one, 2 for the next; see [`engine::config_generation`]).
    pub fn config_generation(&self, config: &[u8]) {
        let generation = crate::config_generation::generation_of(self.module, config);
        self.set_gauge("config_generation", generation);
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

//! Module metrics through proxy-wasm `define_metric`.
//!
//! Envoy files them under the `wasmcustom.` stat namespace, shared by every worker's VM (the
//! same name is the same stat), and `/stats/prometheus` lists them without that prefix:
//! `fault.delays_injected` is scraped as `fault_delays_injected`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};

/// A monotonically increasing counter.
#[derive(Debug, Clone, Copy)]
pub struct Counter(u32);

/// A gauge that goes up and down.
#[derive(Debug, Clone, Copy)]
pub struct Gauge(u32);

impl Counter {
    pub fn define(name: &str) -> Result<Self, Status> {
        hostcalls::define_metric(MetricType::Counter, name).map(Self)
    }

    pub fn increment(self, by: u64) {
        if by == 0 {
            return;
        }
        let by = i64::try_from(by).unwrap_or(i64::MAX);
        if let Err(status) = hostcalls::increment_metric(self.0, by) {
            log::warn!("cannot increment metric {}: {status:?}", self.0);
        }
    }
}

impl Gauge {
    pub fn define(name: &str) -> Result<Self, Status> {
        hostcalls::define_metric(MetricType::Gauge, name).map(Self)
    }

    /// Adds `delta` (negative to lower it).
    pub fn add(self, delta: i64) {
        if let Err(status) = hostcalls::increment_metric(self.0, delta) {
            log::warn!("cannot change gauge {}: {status:?}", self.0);
        }
    }
}

//! Envoy stats defined by a module through proxy-wasm `define_metric`.
//!
//! Envoy files them under the `wasmcustom.` stat namespace, shared by every worker's VM (the
//! same name is the same stat), and `/stats/prometheus` lists them without that prefix:
//! `fault.delays_injected` is scraped as `fault_delays_injected`. Fixed names are defined once
//! as [`Counter`] or [`Gauge`]; the metrics module's names, built per label set, are defined
//! through [`crate::VmHost::define_metric`] and cached by label set in that module.

use proxy_wasm::types::{MetricType, Status};

use crate::abi;

/// Adds `delta` to counter or gauge `id`.
pub fn increment(id: u32, delta: i64) {
    if let Err(status) = abi::increment_metric(id, delta) {
        log::warn!("cannot increment metric {id}: {status:?}");
    }
}

/// Records `value` in histogram `id` (or sets gauge `id`).
pub fn record(id: u32, value: u64) {
    if let Err(status) = abi::record_metric(id, value) {
        log::warn!("cannot record metric {id}: {status:?}");
    }
}

/// A monotonically increasing counter with a fixed name.
#[derive(Debug, Clone, Copy)]
pub struct Counter(u32);

/// A gauge with a fixed name, which goes up and down.
#[derive(Debug, Clone, Copy)]
pub struct Gauge(u32);

impl Counter {
    pub fn define(name: &str) -> Result<Self, Status> {
        abi::define_metric(MetricType::Counter, name).map(Self)
    }

    pub fn increment(self, by: u64) {
        if by > 0 {
            increment(self.0, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }
}

impl Gauge {
    pub fn define(name: &str) -> Result<Self, Status> {
        abi::define_metric(MetricType::Gauge, name).map(Self)
    }

    /// Adds `delta` (negative to lower it).
    pub fn add(self, delta: i64) {
        increment(self.0, delta);
    }

    /// Sets the value.
    pub fn set(self, value: u64) {
        record(self.0, value);
    }
}
